//! The OpenAPI document: info, tags and the bearer scheme here; the operations come from the `#[utoipa::path]`
//! attributes on the handlers, and the schemas from the wire types in `parley-proto`.

mod limits;
mod links;

use limits::Limits;
use links::Links;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToResponse};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Parley API",
        version = "1",
        description = "Parley's public REST API, version 1.\n\n\
            Every id is a 64-bit integer sent as a decimal string; times are RFC 3339 strings in UTC. \
            Authenticated operations take `Authorization: Bearer <token>`, the token that sign-up and login \
            answer. A non-2xx answer has the body `{\"error\": {\"code\", \"message\"}}`; besides the statuses \
            listed per operation, any route may answer 500 (`internal`) when the server fails.\n\n\
            Real-time events travel on the WebSocket at `GET /v1/ws` (see `docs/protocol.md`): \
            `ClientOp` is what a client sends on it, `EventFrame` the shape of its durable events and \
            `ServerFrame` every other frame the server sends."
    ),
    tags(
        (name = "accounts", description = "Sign-up, invitations, login (with a password, or through the \
            organization's OpenID provider) and logout, your sessions and password"),
        (name = "administration", description = "Running an organization: its people, their roles and \
            accounts, settings, single sign-on, retention and the purge job, and the audit log. Owners and \
            administrators only."),
        (name = "users", description = "Profiles, avatars, the people directory and contacts"),
        (name = "conversations", description = "DMs, groups and channels, and membership"),
        (name = "messages", description = "Messages, edits, mentions, pins, reactions, read checkpoints, \
            receipts and search"),
        (name = "threads", description = "Replies in threads, following them, and the threads you follow"),
        (name = "files", description = "Uploads, files on messages, their previews and signed links"),
        (name = "notifications", description = "Where your devices are told of what you missed (Web Push, webhooks), and quiet hours"),
        (name = "operations", description = "Health, readiness, metrics, the gateway and this document"),
        (name = "realtime", description = "The WebSocket: live events, resume by cursor, typing and presence. \
            The frames and their rules are in `docs/protocol.md`."),
    ),
    // No REST operation answers them, so they are listed by hand: the WebSocket's frames.
    components(responses(Unauthenticated, NotJoined, ConversationNotFound, Unavailable, RequestTimeout), schemas(
        parley_proto::v1::ClientOp,
        parley_proto::v1::EventFrame,
        parley_proto::v1::ServerFrame
    )),
    paths(
        crate::http::accounts::signup,
        crate::http::accounts::login,
        crate::http::accounts::logout,
        crate::http::sso::provider,
        crate::http::sso::start,
        crate::http::sso::provider_return,
        crate::http::sso::finish,
        crate::http::accounts::logout_everywhere,
        crate::http::accounts::change_password,
        crate::http::sessions::list,
        crate::http::sessions::end,
        crate::http::moderation::update,
        crate::http::moderation::archive,
        crate::http::moderation::unarchive,
        crate::http::moderation::roles,
        crate::http::moderation::set_role,
        crate::http::moderation::remove,
        crate::http::admin::people,
        crate::http::admin::set_role,
        crate::http::admin::deactivate,
        crate::http::admin::reactivate,
        crate::http::admin::audit,
        crate::http::org_settings::get,
        crate::http::org_settings::update,
        crate::http::retention::status,
        crate::http::retention::run,
        crate::http::retention::set_channel,
        crate::http::sso::settings,
        crate::http::sso::set_settings,
        crate::http::sso::remove_settings,
        crate::http::admin::export_audit,
        crate::http::admin::export_org,
        crate::http::admin::export_own,
        crate::http::invites::create,
        crate::http::invites::list,
        crate::http::invites::revoke,
        crate::http::invites::lookup,
        crate::http::users::me,
        crate::http::users::rename,
        crate::http::users::set_avatar,
        crate::http::users::search,
        crate::http::users::profile,
        crate::http::users::avatar,
        crate::http::users::contacts,
        crate::http::users::add_contact,
        crate::http::users::remove_contact,
        crate::http::conversations::create,
        crate::http::conversations::list,
        crate::http::conversations::show,
        crate::http::conversations::directory,
        crate::http::conversations::join,
        crate::http::conversations::join_by_handle,
        crate::web::join_page,
        crate::http::conversations::invite,
        crate::http::conversations::leave,
        crate::http::conversations::update_membership,
        crate::http::messages::send,
        crate::http::messages::history,
        crate::http::messages::show,
        crate::http::edits::edit,
        crate::http::edits::list,
        crate::http::messages::delete,
        crate::http::messages::react,
        crate::http::messages::unreact,
        crate::http::messages::read,
        crate::http::messages::receipts,
        crate::http::messages::search,
        crate::http::mentions::list,
        crate::http::pins::pin,
        crate::http::pins::unpin,
        crate::http::pins::list,
        crate::http::threads::replies,
        crate::http::threads::follow,
        crate::http::threads::unfollow,
        crate::http::threads::read,
        crate::http::threads::list,
        crate::http::uploads::create,
        crate::http::uploads::show,
        crate::http::uploads::part,
        crate::http::uploads::complete,
        crate::http::uploads::cancel,
        crate::http::files::file,
        crate::http::files::thumbnail,
        crate::http::files::links,
        crate::http::push::vapid,
        crate::http::push::create,
        crate::http::push::list,
        crate::http::push::delete,
        crate::http::push::settings,
        crate::http::push::set_settings,
        crate::http::operations::gateway,
        crate::http::operations::openapi,
        crate::http::operations::healthz,
        crate::http::operations::readyz,
        crate::http::operations::metrics,
        crate::gateway::upgrade
    ),
    modifiers(&BearerScheme, &Limits, &Links, &EveryOperation)
)]
struct ApiDoc;

/// An error answer shared by many operations, listed once under `components.responses`.
fn error_response(description: &str) -> RefOr<Response> {
    let body = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content("application/json", body)
        .build()
        .into()
}

macro_rules! error_responses {
    ($($name:ident: $description:literal,)*) => {$(
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), error_response($description))
            }
        }
    )*};
}

error_responses! {
    Unauthenticated: "Missing, invalid, revoked or expired token (`unauthenticated`)",
    Unavailable: "Not now, with `Retry-After`: the store or the bus is unreachable (`unavailable`), the server \
        is busy (`busy`), the request took too long (`timeout`), or the server or this address has as many \
        connections as it takes (`too_many_connections`)",
    RequestTimeout: "The request body stopped arriving (`request_timeout`)",
    NotJoined: "A public channel you have not joined (`forbidden`)",
    ConversationNotFound: "No such conversation, or not visible to you (`not_found`)",
}

/// The answers any operation may give whatever it does: 503 (an outage, a busy server, a deadline, a full
/// server), and 408 for one that takes a body.
struct EveryOperation;

impl Modify for EveryOperation {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let shared = |name: &str| RefOr::Ref(Ref::from_response_name(name));
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let takes_a_body = operation.request_body.is_some();
                let answers = &mut operation.responses.responses;
                answers
                    .entry("503".to_owned())
                    .or_insert_with(|| shared("Unavailable"));
                if takes_a_body {
                    answers
                        .entry("408".to_owned())
                        .or_insert_with(|| shared("RequestTimeout"));
                }
            }
        }
    }
}

/// Declares the `bearer` scheme that authenticated operations name.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("The token from sign-up or login; logout revokes it."))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document as pretty JSON with a final newline, exactly as committed in `docs/openapi.json`.
pub fn document() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned());
    json.push('\n');
    json
}
