//! Sign-up, login and logout.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use parley_proto::v1::{AuthResponse, LoginRequest, SignupRequest};

use super::{Auth, Body};
use crate::app::AppState;
use crate::error::ApiResult;

pub async fn signup(
    State(state): State<AppState>,
    Body(request): Body<SignupRequest>,
) -> ApiResult<(StatusCode, Json<AuthResponse>)> {
    let session = state.parley.signup(request).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Body(request): Body<LoginRequest>,
) -> ApiResult<Json<AuthResponse>> {
    Ok(Json(state.parley.login(request, client.ip()).await?))
}

pub async fn logout(State(state): State<AppState>, Auth(caller): Auth) -> ApiResult<StatusCode> {
    state.parley.logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}
