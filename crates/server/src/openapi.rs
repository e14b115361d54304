//! The OpenAPI document, generated from the wire types in `parley-proto`.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Parley API",
        version = "1",
        description = "Parley's public REST API, version 1. See shared/API.md."
    ),
    components(schemas(
        parley_proto::v1::ErrorBody,
        parley_proto::v1::SignupRequest,
        parley_proto::v1::LoginRequest,
        parley_proto::v1::AuthResponse,
        parley_proto::v1::User,
        parley_proto::v1::Conversation,
        parley_proto::v1::Message,
        parley_proto::v1::EventFrame,
    ))
)]
struct ApiDoc;

/// The document as pretty JSON with a final newline, exactly as committed in `docs/openapi.json`.
pub fn document() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned());
    json.push('\n');
    json
}
