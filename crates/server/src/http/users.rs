//! Profiles, avatars, the people directory and contacts.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use parley_core::UserId;
use parley_core::validate::MAX_AVATAR_BYTES;
use parley_proto::v1::{ContactList, UpdateMeRequest, User, UserList};
use serde::Deserialize;

use super::{Auth, Body, Ids, Params};
use crate::app::AppState;
use crate::error::ApiResult;

/// Avatars may be larger than JSON bodies; one byte over the limit is enough for core to refuse with 413.
pub fn avatar_body_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::max(MAX_AVATAR_BYTES + 1)
}

#[derive(Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
}

pub async fn me(State(state): State<AppState>, Auth(caller): Auth) -> Json<User> {
    Json(state.parley.me(&caller))
}

pub async fn rename(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Body(request): Body<UpdateMeRequest>,
) -> ApiResult<Json<User>> {
    Ok(Json(state.parley.rename(&caller, request).await?))
}

pub async fn set_avatar(
    State(state): State<AppState>,
    Auth(caller): Auth,
    bytes: Bytes,
) -> ApiResult<Json<User>> {
    Ok(Json(
        state.parley.set_avatar(&caller, bytes.to_vec()).await?,
    ))
}

pub async fn avatar(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(user_id): Ids<UserId>,
) -> ApiResult<impl IntoResponse> {
    let (content_type, bytes) = state.parley.avatar(&caller, user_id).await?;
    // The URL carries the version, so a cached copy never goes stale; private because it is behind auth.
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, "private, max-age=86400"),
    ];
    Ok((headers, bytes))
}

pub async fn search(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Params(params): Params<SearchParams>,
) -> ApiResult<Json<UserList>> {
    Ok(Json(UserList {
        users: state.parley.search_users(&caller, &params.q).await?,
    }))
}

pub async fn profile(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(user_id): Ids<UserId>,
) -> ApiResult<Json<User>> {
    Ok(Json(state.parley.profile(&caller, user_id).await?))
}

pub async fn contacts(
    State(state): State<AppState>,
    Auth(caller): Auth,
) -> ApiResult<Json<ContactList>> {
    Ok(Json(ContactList {
        contacts: state.parley.contacts(&caller).await?,
    }))
}

pub async fn add_contact(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(user_id): Ids<UserId>,
) -> ApiResult<StatusCode> {
    state.parley.add_contact(&caller, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove_contact(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(user_id): Ids<UserId>,
) -> ApiResult<StatusCode> {
    state.parley.remove_contact(&caller, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
