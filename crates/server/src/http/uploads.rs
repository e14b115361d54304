//! Uploads: ask where to send a file, send its parts (to the object store, or here), complete, cancel.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use parley_core::FileId;
use parley_proto::v1::{CreateUploadRequest, ErrorBody, Upload};

use super::{Auth, Body, Ids};
use crate::app::AppState;
use crate::error::ApiResult;

/// Start an upload
///
/// Answers the upload's id and where to send its bytes, part by part (every part but the last is 32 MiB):
/// with a cluster's object store, `POST` forms that go straight to the store, whose policy takes exactly
/// the part's size; with the local store, `PUT`s to this server. Then complete it with
/// `POST /v1/uploads/{upload_id}/complete`, and attach it to a message within 24 hours.
#[utoipa::path(
    post,
    path = "/v1/uploads",
    operation_id = "create_upload",
    tag = "files",
    security(("bearer" = [])),
    request_body = CreateUploadRequest,
    responses(
        (status = 201, description = "Where to send the bytes", body = Upload),
        (status = 400, description = "A blank or too long name (`invalid_file_name`), a size of 0 \
            (`invalid_size`), or a content type with control characters (`invalid_content_type`)",
            body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 409, description = "The organization's file storage is full (`quota_exceeded`)",
            body = ErrorBody),
        (status = 413, description = "The file is larger than the server takes (`too_large`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
        (status = 429, description = "You made more changes than allowed for now (`rate_limited`)",
            body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Body(request): Body<CreateUploadRequest>,
) -> ApiResult<(StatusCode, Json<Upload>)> {
    let upload = state.parley.create_upload(&caller, &request).await?;
    Ok((StatusCode::CREATED, Json(upload)))
}

/// One of your uploads
#[utoipa::path(
    get,
    path = "/v1/uploads/{upload_id}",
    operation_id = "get_upload",
    tag = "files",
    security(("bearer" = [])),
    params(("upload_id" = FileId, Path, description = "The upload")),
    responses(
        (status = 200, description = "The upload, with fresh part targets while pending", body = Upload),
        (status = 400, description = "`upload_id` is not an id (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, description = "No such upload of yours (`not_found`)", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<FileId>,
) -> ApiResult<Json<Upload>> {
    Ok(Json(state.parley.upload(&caller, id).await?))
}

/// Send a part of an upload
///
/// For the local store: the body is the part's bytes, exactly its `size`. A declared `Content-Length` over
/// it is refused before the body is read; a body that turns out longer or shorter is not kept.
#[utoipa::path(
    put,
    path = "/v1/uploads/{upload_id}/parts/{part}",
    operation_id = "upload_part",
    tag = "files",
    security(("bearer" = [])),
    params(
        ("upload_id" = FileId, Path, description = "The upload"),
        ("part" = u32, Path, description = "The part's number, from 1", minimum = 1),
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The part's bytes"),
    responses(
        (status = 204, description = "The part is stored"),
        (status = 400, description = "An id that is not one (`invalid_id`), a body of another size than the \
            part's (`size_mismatch`), or one that broke off (`body_incomplete`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, description = "No such upload of yours, or no such part (`not_found`)", body = ErrorBody),
        (status = 409, description = "The upload is complete already (`upload_complete`)", body = ErrorBody),
        (status = 413, description = "The body is larger than the part (`too_large`)", body = ErrorBody),
    )
)]
pub async fn part(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids((id, number)): Ids<(FileId, u32)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<StatusCode> {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let body = super::body::stream(body, state.http.body_timeout);
    state
        .parley
        .receive_part(&caller, id, number, length, body)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Complete an upload
///
/// Once every part is in: the server joins them, counts the bytes, recognises the type by content and
/// records a SHA-256. A picture's size and preview follow shortly. Completing a complete upload answers it
/// again.
#[utoipa::path(
    post,
    path = "/v1/uploads/{upload_id}/complete",
    operation_id = "complete_upload",
    tag = "files",
    security(("bearer" = [])),
    params(("upload_id" = FileId, Path, description = "The upload")),
    responses(
        (status = 200, description = "The complete upload", body = Upload),
        (status = 400, description = "`upload_id` is not an id (`invalid_id`), or a part has another size than \
            it should (`size_mismatch`: send it again)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, description = "No such upload of yours (`not_found`)", body = ErrorBody),
        (status = 409, description = "A part has not arrived (`upload_incomplete`)", body = ErrorBody),
    )
)]
pub async fn complete(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<FileId>,
) -> ApiResult<Json<Upload>> {
    Ok(Json(state.parley.complete_upload(&caller, id).await?))
}

/// Cancel an upload
///
/// Of an upload on no message: its bytes are deleted.
#[utoipa::path(
    delete,
    path = "/v1/uploads/{upload_id}",
    operation_id = "cancel_upload",
    tag = "files",
    security(("bearer" = [])),
    params(("upload_id" = FileId, Path, description = "The upload")),
    responses(
        (status = 204, description = "The upload is gone"),
        (status = 400, description = "`upload_id` is not an id (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, description = "No such upload of yours (`not_found`)", body = ErrorBody),
        (status = 409, description = "The upload is on a message: delete the message (`upload_attached`)",
            body = ErrorBody),
    )
)]
pub async fn cancel(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Ids(id): Ids<FileId>,
) -> ApiResult<StatusCode> {
    state.parley.cancel_upload(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
