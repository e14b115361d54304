//! Profiles, avatars, the people directory and contacts.

use axum::Json;
use axum::extract::{FromRequest, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use parley_core::UserId;
use parley_core::validate::MAX_AVATAR_BYTES;
use parley_proto::v1::{AvatarFromUpload, ContactList, ErrorBody, UpdateMeRequest, User, UserList};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{Auth, Body, Ids, Params};
use crate::app::AppState;
use crate::error::ApiResult;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The start of a username, name or word of a name, up to 100 characters; empty matches everyone.
    #[serde(default)]
    q: String,
}

/// Your own profile
#[utoipa::path(
    get,
    path = "/v1/users/me",
    operation_id = "get_me",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "You", body = User),
        (status = 401, response = crate::openapi::Unauthenticated),
    )
)]
pub async fn me(State(state): State<AppState>, Auth(caller): Auth) -> Json<User> {
    Json(state.parley.me(&caller))
}

/// Change your display name
#[utoipa::path(
    patch,
    path = "/v1/users/me",
    operation_id = "update_me",
    tag = "users",
    security(("bearer" = [])),
    request_body = UpdateMeRequest,
    responses(
        (status = 200, description = "You, renamed", body = User),
        (status = 400, description = "The name breaks its rule (`invalid_name`) or the body is malformed \
            (`invalid_input`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 413, description = "The body is too large (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
    )
)]
pub async fn rename(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Body(request): Body<UpdateMeRequest>,
) -> ApiResult<Json<User>> {
    Ok(Json(state.parley.rename(&caller, request).await?))
}

/// Set your avatar
///
/// The picture itself as the body, or (as JSON) a complete upload of yours, which is then used up. The
/// format is read from the bytes, not from `Content-Type`. `GET /v1/users/{user_id}/avatar` serves it, at
/// the `avatar_url` of your profile.
#[utoipa::path(
    put,
    path = "/v1/users/me/avatar",
    tag = "users",
    security(("bearer" = [])),
    request_body(
        description = "A PNG, JPEG, WebP or GIF image of at most 5 MiB, or an upload of one",
        content(
            ("image/png"), ("image/jpeg"), ("image/webp"), ("image/gif"),
            (AvatarFromUpload = "application/json")
        )
    ),
    responses(
        (status = 200, description = "You, with the new `avatar_url`", body = User),
        (status = 400, description = "Not a PNG, JPEG, WebP or GIF image (`unsupported_image`)",
            body = ErrorBody),
        (status = 400, description = "The image declares more than 40 megapixels or 12,000 pixels on a side \
            (`image_too_large`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, description = "No such upload of yours (`not_found`)", body = ErrorBody),
        (status = 409, description = "The upload is not complete (`upload_incomplete`) or is on a message \
            (`upload_attached`)", body = ErrorBody),
        (status = 413, description = "The image is over 5 MiB (`too_large`)", body = ErrorBody),
    )
)]
pub async fn set_avatar(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request: axum::extract::Request,
) -> ApiResult<Json<User>> {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if is_json {
        let Body(upload) = Body::<AvatarFromUpload>::from_request(request, &state).await?;
        let user = state
            .parley
            .set_avatar_from_upload(&caller, upload.upload_id)
            .await?;
        return Ok(Json(user));
    }
    // One byte over the limit is enough for core to refuse with its own 413.
    let body = request.into_body();
    let bytes = super::body::read(body, MAX_AVATAR_BYTES + 1, state.http.body_timeout).await?;
    Ok(Json(state.parley.set_avatar(&caller, bytes.into()).await?))
}

/// A user's avatar
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/avatar",
    operation_id = "get_avatar",
    tag = "users",
    security(("bearer" = [])),
    params(("user_id" = UserId, Path, description = "The user")),
    responses(
        (status = 200, description = "The image as the server encoded it: PNG if it has transparency, JPEG if \
            not (avatars uploaded before re-encoding keep their format)",
            content(("image/png"), ("image/jpeg"), ("image/webp"), ("image/gif")),
            headers(("Cache-Control" = String, description = "`private, max-age=86400`: the URL changes with \
                the avatar"))),
        (status = 400, description = "`user_id` is not an id (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, description = "No such user in your organization, or they have no avatar (`not_found`)",
            body = ErrorBody),
    )
)]
pub async fn avatar(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(user_id): Ids<UserId>,
) -> ApiResult<impl IntoResponse> {
    let (content_type, bytes) = state.parley.avatar(&caller, user_id).await?;
    // The URL carries the version, so a cached copy never goes stale; private because it is behind auth. A
    // browser opening it as a page runs nothing: a sandbox that allows no script, and (on every answer, see
    // `router`) no sniffing past the type. Avatars stored before they were re-encoded are served as they came.
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, "private, max-age=86400"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        ),
    ];
    Ok((headers, bytes))
}

/// Search people
///
/// People of your organization by the start of their username or name, at most 50, by username.
#[utoipa::path(
    get,
    path = "/v1/users",
    operation_id = "search_users",
    tag = "users",
    security(("bearer" = [])),
    params(SearchParams),
    responses(
        (status = 200, description = "The people found", body = UserList),
        (status = 400, description = "`q` is over 100 characters (`invalid_query`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Params(params): Params<SearchParams>,
) -> ApiResult<Json<UserList>> {
    Ok(Json(UserList {
        users: state.parley.search_users(&caller, &params.q).await?,
    }))
}

/// A user's profile
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}",
    operation_id = "get_user",
    tag = "users",
    security(("bearer" = [])),
    params(("user_id" = UserId, Path, description = "The user")),
    responses(
        (status = 200, description = "The user, with `presence`", body = User),
        (status = 400, description = "`user_id` is not an id (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, description = "No such user in your organization (`not_found`)", body = ErrorBody),
    )
)]
pub async fn profile(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(user_id): Ids<UserId>,
) -> ApiResult<Json<User>> {
    Ok(Json(state.parley.profile(&caller, user_id).await?))
}

/// Your contacts
#[utoipa::path(
    get,
    path = "/v1/contacts",
    operation_id = "list_contacts",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your contacts, each with `presence`", body = ContactList),
        (status = 401, response = crate::openapi::Unauthenticated),
    )
)]
pub async fn contacts(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<Json<ContactList>> {
    Ok(Json(ContactList {
        contacts: state.parley.contacts(&caller).await?,
    }))
}

/// Add a contact
#[utoipa::path(
    put,
    path = "/v1/contacts/{user_id}",
    tag = "users",
    security(("bearer" = [])),
    params(("user_id" = UserId, Path, description = "The user")),
    responses(
        (status = 204, description = "The user is among your contacts"),
        (status = 400, description = "`user_id` is not an id (`invalid_id`) or is yours (`invalid_contact`)",
            body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, description = "No such user in your organization (`not_found`)", body = ErrorBody),
    )
)]
pub async fn add_contact(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(user_id): Ids<UserId>,
) -> ApiResult<StatusCode> {
    state.parley.add_contact(&caller, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a contact
#[utoipa::path(
    delete,
    path = "/v1/contacts/{user_id}",
    tag = "users",
    security(("bearer" = [])),
    params(("user_id" = UserId, Path, description = "The user")),
    responses(
        (status = 204, description = "The user is not among your contacts"),
        (status = 400, description = "`user_id` is not an id (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, description = "No such user in your organization (`not_found`)", body = ErrorBody),
    )
)]
pub async fn remove_contact(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(user_id): Ids<UserId>,
) -> ApiResult<StatusCode> {
    state.parley.remove_contact(&caller, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
