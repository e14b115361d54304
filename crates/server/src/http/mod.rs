//! The REST API: one file per resource. Handlers extract, call one use case in core, and convert to wire;
//! rules live in core, error shapes in `error.rs`.

pub(crate) mod accounts;
pub(crate) mod admin;
pub(crate) mod body;
pub(crate) mod conversations;
pub(crate) mod deadline;
pub(crate) mod edits;
pub(crate) mod files;
pub(crate) mod invites;
pub(crate) mod mentions;
pub(crate) mod messages;
pub(crate) mod moderation;
pub(crate) mod ndjson;
pub(crate) mod operations;
pub(crate) mod org_settings;
pub(crate) mod pins;
pub(crate) mod push;
pub(crate) mod retention;
pub(crate) mod sessions;
pub(crate) mod sso;
pub(crate) mod threads;
pub(crate) mod uploads;
pub(crate) mod users;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::routing::{get, post, put};
use parley_core::Caller;

use crate::app::AppState;
use crate::error::ApiError;
pub use body::Body;

/// Path parameters (ids), with rejections in the API's error shape.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Ids<T>(pub T);

/// Query strings, with rejections in the API's error shape.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Params<T>(pub T);

/// The caller proven by `Authorization: Bearer <token>`.
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_token)
            .unwrap_or_default();
        Ok(Auth(state.parley.authenticate(token).await?))
    }
}

/// The token of an `Authorization` value in the bearer scheme, whose name is case-insensitive (RFC 9110
/// section 11.1): `Bearer`, `bearer` and `BEARER` all work.
pub(crate) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Routes whose request body may take longer than a request's deadline to arrive: each pause in it is
/// bounded instead (`body::stream`).
pub fn streamed_routes() -> Router<AppState> {
    Router::new().route("/v1/uploads/{upload_id}/parts/{part}", put(uploads::part))
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/signup", post(accounts::signup))
        .route("/v1/auth/login", post(accounts::login))
        .route("/v1/auth/logout", post(accounts::logout))
        .route("/v1/auth/sso", get(sso::provider))
        .route("/v1/auth/sso/start", post(sso::start))
        .route(parley_core::sso::CALLBACK_PATH, post(sso::finish))
        .route("/v1/auth/sso/callback/{org}", get(sso::provider_return))
        .route("/v1/invites", post(invites::create).get(invites::list))
        .route("/v1/invites/lookup", post(invites::lookup))
        .route(
            "/v1/invites/{invite_id}",
            axum::routing::delete(invites::revoke),
        )
        .route(
            "/v1/users/me/sessions",
            get(sessions::list).delete(accounts::logout_everywhere),
        )
        .route(
            "/v1/users/me/sessions/{session_id}",
            axum::routing::delete(sessions::end),
        )
        .route("/v1/users/me/password", put(accounts::change_password))
        .route("/v1/admin/people", get(admin::people))
        .route("/v1/admin/people/{user_id}/role", put(admin::set_role))
        .route(
            "/v1/admin/people/{user_id}/deactivate",
            post(admin::deactivate),
        )
        .route(
            "/v1/admin/people/{user_id}/reactivate",
            post(admin::reactivate),
        )
        .route(
            "/v1/org/settings",
            get(org_settings::get).patch(org_settings::update),
        )
        .route("/v1/admin/retention", get(retention::status))
        .route("/v1/admin/retention/run", post(retention::run))
        .route(
            "/v1/admin/sso",
            get(sso::settings)
                .put(sso::set_settings)
                .delete(sso::remove_settings),
        )
        .route("/v1/admin/audit", get(admin::audit))
        .route("/v1/admin/audit/export", get(admin::export_audit))
        .route("/v1/admin/export", get(admin::export_org))
        .route("/v1/users/me/export", get(admin::export_own))
        .route("/v1/users/me", get(users::me).patch(users::rename))
        .route("/v1/users/me/avatar", put(users::set_avatar))
        .route("/v1/users", get(users::search))
        .route("/v1/users/{user_id}", get(users::profile))
        .route("/v1/users/{user_id}/avatar", get(users::avatar))
        .route("/v1/contacts", get(users::contacts))
        .route(
            "/v1/contacts/{user_id}",
            put(users::add_contact).delete(users::remove_contact),
        )
        .route(
            "/v1/conversations",
            post(conversations::create).get(conversations::list),
        )
        .route(
            "/v1/conversations/{conversation_id}",
            get(conversations::show).patch(moderation::update),
        )
        .route(
            "/v1/conversations/{conversation_id}/archive",
            post(moderation::archive),
        )
        .route(
            "/v1/conversations/{conversation_id}/unarchive",
            post(moderation::unarchive),
        )
        .route(
            "/v1/conversations/{conversation_id}/retention",
            put(retention::set_channel),
        )
        .route(
            "/v1/conversations/{conversation_id}/roles",
            get(moderation::roles),
        )
        .route(
            "/v1/conversations/{conversation_id}/members/{user_id}/role",
            put(moderation::set_role),
        )
        .route(
            "/v1/conversations/{conversation_id}/members/{user_id}",
            axum::routing::delete(moderation::remove),
        )
        .route("/v1/channels", get(conversations::directory))
        .route(
            "/v1/conversations/{conversation_id}/join",
            post(conversations::join),
        )
        .route(
            "/v1/join/{handle}",
            post(conversations::join_by_handle).get(crate::web::join_page),
        )
        .route(
            "/v1/conversations/{conversation_id}/members",
            post(conversations::invite),
        )
        .route(
            "/v1/conversations/{conversation_id}/leave",
            post(conversations::leave),
        )
        .route(
            "/v1/conversations/{conversation_id}/membership",
            axum::routing::patch(conversations::update_membership),
        )
        .route(
            "/v1/conversations/{conversation_id}/messages",
            post(messages::send).get(messages::history),
        )
        .route(
            "/v1/conversations/{conversation_id}/messages/{message_id}",
            get(messages::show)
                .patch(edits::edit)
                .delete(messages::delete),
        )
        .route(
            "/v1/conversations/{conversation_id}/messages/{message_id}/edits",
            get(edits::list),
        )
        .route(
            "/v1/conversations/{conversation_id}/messages/{message_id}/pin",
            put(pins::pin).delete(pins::unpin),
        )
        .route("/v1/conversations/{conversation_id}/pins", get(pins::list))
        .route(
            "/v1/conversations/{conversation_id}/messages/{message_id}/thread",
            get(threads::replies),
        )
        .route(
            "/v1/conversations/{conversation_id}/messages/{message_id}/thread/read",
            post(threads::read),
        )
        .route(
            "/v1/conversations/{conversation_id}/messages/{message_id}/follow",
            put(threads::follow).delete(threads::unfollow),
        )
        .route("/v1/threads", get(threads::list))
        .route("/v1/mentions", get(mentions::list))
        .route(
            "/v1/conversations/{conversation_id}/messages/{message_id}/reactions/{emoji}",
            put(messages::react).delete(messages::unreact),
        )
        .route(
            "/v1/conversations/{conversation_id}/read",
            post(messages::read),
        )
        .route(
            "/v1/conversations/{conversation_id}/receipts",
            get(messages::receipts),
        )
        .route("/v1/search", get(messages::search))
        .route("/v1/push/vapid", get(push::vapid))
        .route("/v1/push/subscriptions", post(push::create).get(push::list))
        .route(
            "/v1/push/subscriptions/{subscription_id}",
            axum::routing::delete(push::delete),
        )
        .route(
            "/v1/me/notifications",
            get(push::settings).put(push::set_settings),
        )
        .route("/v1/uploads", post(uploads::create))
        .route(
            "/v1/uploads/{upload_id}",
            get(uploads::show).delete(uploads::cancel),
        )
        .route("/v1/uploads/{upload_id}/complete", post(uploads::complete))
        .route("/v1/files/links", post(files::links))
        .route("/v1/files/{file_id}", get(files::file))
        .route("/v1/files/{file_id}/thumbnail", get(files::thumbnail))
        .route("/v1/gateway", get(operations::gateway))
        .route("/v1/ws", get(crate::gateway::upgrade))
        .route("/v1/openapi.json", get(operations::openapi))
        .route("/healthz", get(operations::healthz))
        .route("/readyz", get(operations::readyz))
        .route("/metrics", get(operations::metrics))
}
