//! Files on messages: downloads (with `Range` on the local store, a redirect to a presigned URL on S3) and
//! signed links for `<img src>`. Every answer carrying a file's bytes says how to treat them safely:
//! `nosniff` (set for every answer in `app.rs`), a sandboxing CSP, and `attachment` for anything but a
//! picture this server decoded.

use std::ops::Range;

use axum::Json;
use axum::body::Body as ResponseBody;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parley_core::service::Download;
use parley_core::signing::Variant;
use parley_core::{Caller, FileId};
use parley_proto::v1::{ErrorBody, FileLinkList, FileLinksRequest};
use serde::Deserialize;

use super::{Auth, Body, Ids, Params};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};

/// Whatever a file holds, it runs nothing: no script, no form, no plugin, in no origin.
const SANDBOX: &str =
    "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'";

/// A signed link's proof, in place of the `Authorization` header.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Signed {
    /// When the link stops working, in milliseconds since the Unix epoch.
    expires: Option<i64>,
    /// The link's signature.
    signature: Option<String>,
    /// The organization of whoever asked for the link: where a cluster of several shards finds the file.
    #[allow(
        dead_code,
        reason = "read by the shard router (`shards.rs`) before the handler runs"
    )]
    org: Option<parley_core::OrgId>,
}

/// A file
///
/// With the `Authorization` header, for a member of the conversation the file's message is in (or its
/// uploader before it is on one); or with a signed link from `POST /v1/files/links`. On the local store the
/// bytes come from here, with `Range` support; with a cluster's object store the answer redirects to a
/// presigned URL of the store.
#[utoipa::path(
    get,
    path = "/v1/files/{file_id}",
    operation_id = "get_file",
    tag = "files",
    security((), ("bearer" = [])),
    params(("file_id" = FileId, Path, description = "The file"), Signed),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream",
            headers(
                ("Content-Disposition" = String, description = "`inline` for a picture the server decoded, \
                    `attachment` otherwise, with the name as RFC 6266 puts it"),
                ("Content-Security-Policy" = String, description = "A sandbox"),
            )),
        (status = 206, description = "The part of the file `Range` asked for"),
        (status = 302, description = "The file is at this presigned URL of the object store",
            headers(("Location" = String, description = "Good for a few minutes"))),
        (status = 400, description = "`file_id` is not an id (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "A signed link that has expired or was changed (`forbidden`)",
            body = ErrorBody),
        (status = 404, description = "No such file, or not one you may see (`not_found`)", body = ErrorBody),
        (status = 416, description = "A `Range` outside the file (`range_not_satisfiable`)", body = ErrorBody),
    )
)]
pub async fn file(
    State(state): State<AppState>,
    Ids(id): Ids<FileId>,
    Params(signed): Params<Signed>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    serve(&state, id, Variant::File, signed, &headers).await
}

/// A picture's preview
///
/// At most 400 pixels a side, made by the server (no metadata of the original is in it). Asked for as a
/// file is.
#[utoipa::path(
    get,
    path = "/v1/files/{file_id}/thumbnail",
    operation_id = "get_thumbnail",
    tag = "files",
    security((), ("bearer" = [])),
    params(("file_id" = FileId, Path, description = "The file"), Signed),
    responses(
        (status = 200, description = "The preview", content(("image/jpeg"), ("image/png"))),
        (status = 302, description = "The preview is at this presigned URL of the object store",
            headers(("Location" = String, description = "Good for a few minutes"))),
        (status = 400, description = "`file_id` is not an id (`invalid_id`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 403, description = "A signed link that has expired or was changed (`forbidden`)",
            body = ErrorBody),
        (status = 404, description = "No such file or preview, or not one you may see (`not_found`)",
            body = ErrorBody),
    )
)]
pub async fn thumbnail(
    State(state): State<AppState>,
    Ids(id): Ids<FileId>,
    Params(signed): Params<Signed>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    serve(&state, id, Variant::Thumbnail, signed, &headers).await
}

/// Links to files
///
/// Signed links, good for a few minutes for whoever holds them, for places that cannot send the
/// `Authorization` header (`<img src>`, a download link). Nothing of them is stored.
#[utoipa::path(
    post,
    path = "/v1/files/links",
    operation_id = "file_links",
    tag = "files",
    security(("bearer" = [])),
    request_body = FileLinksRequest,
    responses(
        (status = 200, description = "A link for each file, in the order asked", body = FileLinkList),
        (status = 400, description = "None or more than 100 ids (`invalid_ids`)", body = ErrorBody),
        (status = 401, response = crate::openapi::Unauthenticated),
        (status = 404, description = "A file that does not exist or that you may not see (`not_found`)",
            body = ErrorBody),
        (status = 415, description = "The body is not JSON (`unsupported_media_type`)", body = ErrorBody),
    )
)]
pub async fn links(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Body(request): Body<FileLinksRequest>,
) -> ApiResult<Json<FileLinkList>> {
    Ok(Json(state.parley.file_links(&caller, &request.ids).await?))
}

async fn serve(
    state: &AppState,
    id: FileId,
    variant: Variant,
    signed: Signed,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let download = match (signed.expires, signed.signature) {
        (Some(expires), Some(signature)) => {
            state
                .parley
                .download_signed(id, variant, expires, &signature)
                .await?
        }
        _ => {
            let caller = caller(state, headers).await?;
            state.parley.download(&caller, id, variant).await?
        }
    };
    match download {
        Download::Redirect(url) => {
            let location = HeaderValue::try_from(url).map_err(|_| ApiError::not_found())?;
            Ok((
                StatusCode::FOUND,
                [
                    (header::LOCATION, location),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
            )
                .into_response())
        }
        Download::Stream { key, served } => {
            let size = state
                .parley
                .object_size(&key)
                .await?
                .ok_or_else(ApiError::not_found)?;
            let range = match requested_range(headers, size) {
                Ok(range) => range,
                Err(()) => return Ok(unsatisfiable(size)),
            };
            let reading = state
                .parley
                .read_object(&key, range.clone())
                .await?
                .ok_or_else(ApiError::not_found)?;
            let mut response = Response::new(ResponseBody::from_stream(reading.body));
            let answer = response.headers_mut();
            let text = |value: &str| {
                HeaderValue::try_from(value)
                    .unwrap_or(HeaderValue::from_static("application/octet-stream"))
            };
            answer.insert(header::CONTENT_TYPE, text(&served.content_type));
            if let Ok(disposition) = HeaderValue::try_from(served.content_disposition) {
                answer.insert(header::CONTENT_DISPOSITION, disposition);
            }
            answer.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(SANDBOX),
            );
            answer.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            answer.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=3600"),
            );
            let served = reading.range;
            answer.insert(
                header::CONTENT_LENGTH,
                HeaderValue::from(served.end - served.start),
            );
            if range.is_some() {
                let content_range = format!(
                    "bytes {}-{}/{size}",
                    served.start,
                    served.end.saturating_sub(1)
                );
                answer.insert(header::CONTENT_RANGE, text(&content_range));
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            }
            Ok(response)
        }
    }
}

async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(super::bearer_token)
        .unwrap_or_default();
    Ok(state.parley.authenticate(token).await?)
}

/// The one range a `Range` header asks for, clipped to the file; `None` for the whole file (no header, one
/// this server does not take, or several ranges); `Err` for a range that starts past the end.
fn requested_range(headers: &HeaderMap, size: u64) -> Result<Option<Range<u64>>, ()> {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (start, end) = (start.trim(), end.trim());
    let range = match (start.parse::<u64>(), end.parse::<u64>()) {
        (Ok(start), Ok(end)) if start <= end => start..end.saturating_add(1).min(size),
        (Ok(start), Err(_)) if end.is_empty() => start..size,
        (Err(_), Ok(suffix)) if start.is_empty() && suffix > 0 => size.saturating_sub(suffix)..size,
        _ => return Ok(None),
    };
    if range.start >= size {
        return Err(());
    }
    Ok(Some(range))
}

fn unsatisfiable(size: u64) -> Response {
    let mut response = ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "range_not_satisfiable",
        "the range asked for is outside the file",
    )
    .into_response();
    if let Ok(value) = HeaderValue::try_from(format!("bytes */{size}")) {
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str, size: u64) -> Result<Option<Range<u64>>, ()> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::RANGE,
            HeaderValue::from_str(value).expect("a header"),
        );
        requested_range(&headers, size)
    }

    #[test]
    fn ranges_are_read_as_rfc_9110_puts_them() {
        assert_eq!(range("bytes=0-9", 100), Ok(Some(0..10)));
        assert_eq!(range("bytes=90-", 100), Ok(Some(90..100)));
        assert_eq!(range("bytes=-10", 100), Ok(Some(90..100)));
        assert_eq!(range("bytes=-500", 100), Ok(Some(0..100)));
        assert_eq!(range("bytes=50-500", 100), Ok(Some(50..100)));
        assert_eq!(range("bytes=100-", 100), Err(()));
        assert_eq!(range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(range("items=0-1", 100), Ok(None));
        assert_eq!(range("bytes=9-1", 100), Ok(None));
        assert_eq!(range("bytes=-0", 100), Ok(None));
        assert_eq!(range("bytes=x-y", 100), Ok(None));
    }
}
