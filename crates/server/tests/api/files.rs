//! Files: uploads on the local store (and on S3 in `files_s3.rs`), attachments on messages, downloads with
//! `Range`, signed links, previews of pictures, deletion, and everything a client may get wrong or try.

use std::io::Cursor;
use std::time::Duration;

use parley_client::proto::v1::{
    CreateUploadRequest, Message, SendMessageRequest, Upload, UploadState,
};
use parley_client::{Client, DeleteFor};
use parley_proto::{ConversationId, FileId};
use parley_testkit::{TestServer, TestUser};
use reqwest::Method;
use reqwest::header::{
    CONTENT_DISPOSITION, CONTENT_RANGE, CONTENT_SECURITY_POLICY, CONTENT_TYPE, RANGE,
    X_CONTENT_TYPE_OPTIONS,
};
use sha2::{Digest, Sha256};

use crate::bad_input::assert_error;
use crate::features::draft;
use crate::features::on_both_stores;
use crate::users::png_declaring;
use crate::{assert_api_error, dm, group};

/// A message carrying these uploads, with this text.
pub(crate) async fn attach(
    client: &Client,
    id: ConversationId,
    uploads: &[FileId],
    text: &str,
) -> parley_client::Result<Message> {
    let request = SendMessageRequest {
        attachments: uploads.to_vec(),
        ..draft(text)
    };
    Ok(client.send_draft(id, &request).await?.value.message)
}

pub(crate) async fn upload(client: &Client, name: &str, bytes: &[u8]) -> Upload {
    client.upload_file(name, bytes).await.expect("upload")
}

pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let picture =
        image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(picture)
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .expect("encode");
    bytes
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A request with headers the SDK does not send, as `user` (or nobody).
async fn get(url: &str, token: Option<&str>, range: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(range) = range {
        request = request.header(RANGE, range);
    }
    request.send().await.expect("request")
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The message as `client` reads it, once its first attachment has a preview (pictures are decoded off
/// the request path).
pub(crate) async fn once_previewed(
    client: &Client,
    id: ConversationId,
    message: &Message,
) -> Message {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = client.message(id, message.id).await.expect("message");
        if now.attachments.iter().all(|a| a.thumbnail.is_some()) {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no preview: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn file_url(server: &TestServer, id: FileId) -> String {
    format!("{}/v1/files/{id}", server.url)
}

fn token(user: &TestUser) -> Option<&str> {
    user.client.token()
}

on_both_stores!(
    a_file_goes_from_upload_to_message_to_download,
    a_file_goes_from_upload_to_message_to_download_on_postgres,
    file_round_trip
);

async fn file_round_trip(server: &TestServer) {
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let dave = server.user_in("Dave", Some("elsewhere")).await;
    let id = dm(&ann.client, bob.id).await;
    let notes = b"hello\nworld\n";

    let upload = upload(&ann.client, "notes.txt", notes).await;
    assert_eq!(upload.state, UploadState::Complete);
    assert_eq!(upload.size, notes.len() as u64);
    assert_eq!(
        upload.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(upload.sha256, Some(hex_sha256(notes)));
    assert!(upload.parts.is_empty());
    // Text is optional on a message that carries files.
    let message = attach(&ann.client, id, &[upload.id], "")
        .await
        .expect("send");
    assert_eq!(message.text.as_deref(), Some(""));
    let [attachment] = &message.attachments[..] else {
        panic!("one attachment: {message:?}");
    };
    assert_eq!(
        (attachment.id, attachment.name.as_str(), attachment.size),
        (upload.id, "notes.txt", 12)
    );
    assert_eq!(attachment.width, None);
    let history = bob
        .client
        .history(id, Default::default())
        .await
        .expect("history");
    assert_eq!(
        history.last().map(|m| &m.attachments),
        Some(&message.attachments)
    );
    assert_eq!(
        ann.client.upload(upload.id).await.expect("upload").state,
        UploadState::Attached
    );

    // A member downloads it, as a download that runs nothing.
    let file = get(&file_url(server, upload.id), token(&bob), None).await;
    assert_eq!(file.status(), 200);
    assert_eq!(header(&file, CONTENT_TYPE), "text/plain; charset=utf-8");
    assert_eq!(
        header(&file, CONTENT_DISPOSITION),
        "attachment; filename=\"notes.txt\"; filename*=UTF-8''notes.txt"
    );
    assert!(header(&file, CONTENT_SECURITY_POLICY).starts_with("sandbox"));
    assert_eq!(header(&file, X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(file.bytes().await.expect("body").as_ref(), notes);
    let part = get(&file_url(server, upload.id), token(&bob), Some("bytes=6-")).await;
    assert_eq!(part.status(), 206);
    assert_eq!(header(&part, CONTENT_RANGE), "bytes 6-11/12");
    assert_eq!(part.bytes().await.expect("body").as_ref(), b"world\n");
    let past = get(&file_url(server, upload.id), token(&bob), Some("bytes=12-")).await;
    assert_eq!(past.status(), 416);
    assert_eq!(header(&past, CONTENT_RANGE), "bytes */12");

    // Nobody else: not another member of the org, not another org, not anonymously.
    for outsider in [&carol, &dave] {
        let refused = get(&file_url(server, upload.id), token(outsider), None).await;
        assert_eq!(refused.status(), 404);
        assert_api_error(
            outsider.client.file_links(&[upload.id]).await,
            404,
            "not_found",
        );
    }
    assert_eq!(
        get(&file_url(server, upload.id), None, None).await.status(),
        401
    );
    assert_eq!(
        get(&file_url(server, FileId(i64::MAX)), token(&bob), None)
            .await
            .status(),
        404
    );

    // A signed link works for whoever holds it, as it was signed and no other way.
    let links = bob.client.file_links(&[upload.id]).await.expect("links");
    let link = &links.links[0];
    assert_eq!(link.thumbnail_url, None);
    let anonymous = get(&link.url, None, None).await;
    assert_eq!(anonymous.status(), 200);
    assert_eq!(anonymous.bytes().await.expect("body").as_ref(), notes);
    let mut tampered = link.url.clone();
    let last = tampered.pop().expect("a signature");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(get(&tampered, None, None).await.status(), 403);
    let later = link.url.replace("expires=", "expires=9");
    assert_eq!(get(&later, None, None).await.status(), 403);
    let other = link.url.replace(
        &format!("/files/{}", upload.id),
        &format!("/files/{}", upload.id.0 + 1_000),
    );
    assert_ne!(get(&other, None, None).await.status(), 200);

    // Search finds it by its name, for members only.
    let found = bob.client.search("notes", None).await.expect("search");
    assert_eq!(found.iter().map(|m| m.id).collect::<Vec<_>>(), [message.id]);
    assert!(
        carol
            .client
            .search("notes", None)
            .await
            .expect("search")
            .is_empty()
    );

    // Deleted for everyone: the file is gone, from the API and from the disk.
    ann.client
        .delete_message(id, message.id, DeleteFor::Everyone)
        .await
        .expect("delete");
    assert_eq!(
        get(&file_url(server, upload.id), token(&bob), None)
            .await
            .status(),
        404
    );
    assert_eq!(get(&link.url, None, None).await.status(), 404);
    let gone = bob.client.message(id, message.id).await.expect("tombstone");
    assert!(gone.attachments.is_empty());
    assert!(
        bob.client
            .search("notes", None)
            .await
            .expect("search")
            .is_empty()
    );
    if server.config.store.is_none() {
        let objects = server.config.data_dir.join("objects");
        assert!(!objects.join(format!("files/{}", upload.id)).exists());
    }
}

#[tokio::test]
async fn a_member_who_leaves_loses_the_files() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = group(&ann.client, "Shared", &[bob.id]).await;
    let upload = upload(&ann.client, "plan.pdf", b"%PDF-1.7\n...").await;
    assert_eq!(upload.content_type.as_deref(), Some("application/pdf"));
    attach(&ann.client, id, &[upload.id], "the plan")
        .await
        .expect("send");
    assert_eq!(
        get(&file_url(&server, upload.id), token(&bob), None)
            .await
            .status(),
        200
    );
    bob.client.leave(id).await.expect("leave");
    assert_eq!(
        get(&file_url(&server, upload.id), token(&bob), None)
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn pictures_get_their_size_and_a_preview() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let bomb = upload(&ann.client, "bomb.png", &png_declaring(100_000, 100_000)).await;
    assert_eq!(bomb.content_type.as_deref(), Some("image/png"));
    let photo = upload(&ann.client, "photo.png", &png(800, 600)).await;
    let message = attach(&ann.client, id, &[bomb.id, photo.id], "look")
        .await
        .expect("send");

    // Previews are made in order: once the photo has one, the bomb was seen and refused.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let message = loop {
        let now = bob.client.message(id, message.id).await.expect("message");
        if now.attachments[1].thumbnail.is_some() {
            break now;
        }
        assert!(tokio::time::Instant::now() < deadline, "no preview");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let [refused, shown] = &message.attachments[..] else {
        panic!("two attachments");
    };
    assert_eq!(
        (refused.width, refused.height, refused.thumbnail),
        (None, None, None)
    );
    assert_eq!((shown.width, shown.height), (Some(800), Some(600)));
    let thumbnail = shown.thumbnail.expect("a preview");
    assert_eq!((thumbnail.width, thumbnail.height), (400, 300));

    // The picture shows in place; its preview is a picture the server made; the bomb only downloads.
    let full = get(&file_url(&server, photo.id), token(&bob), None).await;
    assert!(header(&full, CONTENT_DISPOSITION).starts_with("inline; filename=\"photo.png\""));
    let preview = get(
        &format!("{}/thumbnail", file_url(&server, photo.id)),
        token(&bob),
        None,
    )
    .await;
    assert_eq!(preview.status(), 200);
    assert_eq!(header(&preview, CONTENT_TYPE), "image/jpeg");
    let decoded = image::load_from_memory(&preview.bytes().await.expect("body")).expect("decodes");
    assert_eq!((decoded.width(), decoded.height()), (400, 300));
    let bomb_file = get(&file_url(&server, bomb.id), token(&bob), None).await;
    assert!(header(&bomb_file, CONTENT_DISPOSITION).starts_with("attachment"));
    let no_preview = format!("{}/thumbnail", file_url(&server, bomb.id));
    assert_eq!(get(&no_preview, token(&bob), None).await.status(), 404);
    let links = bob
        .client
        .file_links(&[photo.id, bomb.id])
        .await
        .expect("links");
    let photo_link = links.links[0]
        .thumbnail_url
        .as_deref()
        .expect("a preview link");
    assert_eq!(get(photo_link, None, None).await.status(), 200);
    assert_eq!(links.links[1].thumbnail_url, None);
}

#[tokio::test]
async fn a_type_that_lies_is_served_as_what_it_is() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let page = b"<html><script>alert(document.cookie)</script></html>";
    let request = CreateUploadRequest {
        name: "cat.png".to_owned(),
        size: page.len() as u64,
        content_type: Some("image/png".to_owned()),
    };
    let pending = ann.client.create_upload(&request).await.expect("upload");
    ann.client
        .upload_part(&pending.parts[0], page.to_vec())
        .await
        .expect("part");
    let lie = ann
        .client
        .complete_upload(pending.id)
        .await
        .expect("complete");
    assert_eq!(
        lie.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    let svg = upload(
        &ann.client,
        "logo.svg",
        b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>",
    )
    .await;
    attach(&ann.client, id, &[lie.id, svg.id], "")
        .await
        .expect("send");
    for file in [lie.id, svg.id] {
        let served = get(&file_url(&server, file), token(&bob), None).await;
        assert_eq!(header(&served, CONTENT_TYPE), "text/plain; charset=utf-8");
        assert!(header(&served, CONTENT_DISPOSITION).starts_with("attachment"));
        assert!(header(&served, CONTENT_SECURITY_POLICY).starts_with("sandbox"));
    }
}

#[tokio::test]
async fn a_large_file_goes_in_parts() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let size = parley_core::limits::PART_BYTES as usize + 1_000_003;
    let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let request = CreateUploadRequest {
        name: "big.bin".to_owned(),
        size: size as u64,
        content_type: None,
    };
    let pending = ann.client.create_upload(&request).await.expect("upload");
    assert_eq!(pending.parts.len(), 2);
    assert_eq!(pending.parts[0].size, parley_core::limits::PART_BYTES);
    // In any order, and a part sent twice is simply replaced.
    let (first, second) = bytes.split_at(parley_core::limits::PART_BYTES as usize);
    ann.client
        .upload_part(&pending.parts[1], second.to_vec())
        .await
        .expect("part 2");
    assert_api_error(
        ann.client.complete_upload(pending.id).await,
        409,
        "upload_incomplete",
    );
    ann.client
        .upload_part(&pending.parts[0], first.to_vec())
        .await
        .expect("part 1");
    ann.client
        .upload_part(&pending.parts[1], second.to_vec())
        .await
        .expect("part 2 again");
    let upload = ann
        .client
        .complete_upload(pending.id)
        .await
        .expect("complete");
    assert_eq!(upload.sha256, Some(hex_sha256(&bytes)));
    assert_eq!(
        upload.content_type.as_deref(),
        Some("application/octet-stream")
    );
    attach(&ann.client, id, &[upload.id], "the dump")
        .await
        .expect("send");
    let file = bob.client.file(upload.id).await.expect("download");
    assert_eq!(file.body.len(), size);
    assert!(file.body == bytes);
    let parts_left = server
        .config
        .data_dir
        .join(format!("objects/uploads/{}", upload.id));
    assert!(!parts_left.join("1").exists() && !parts_left.join("2").exists());
}

#[tokio::test]
async fn bad_uploads_get_clear_errors() {
    let server = TestServer::spawn_with(|config| config.max_file_bytes = 1_000).await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let ask = |name: &str, size: u64| CreateUploadRequest {
        name: name.to_owned(),
        size,
        content_type: None,
    };

    assert_api_error(
        ann.client.create_upload(&ask("a.txt", 0)).await,
        400,
        "invalid_size",
    );
    assert_api_error(
        ann.client.create_upload(&ask("a.txt", 1_001)).await,
        413,
        "too_large",
    );
    assert_api_error(
        ann.client.create_upload(&ask(" ", 10)).await,
        400,
        "invalid_file_name",
    );
    let long = "n".repeat(256);
    assert_api_error(
        ann.client.create_upload(&ask(&long, 10)).await,
        400,
        "invalid_file_name",
    );
    let hint = CreateUploadRequest {
        content_type: Some("text/plain\r\nX: y".to_owned()),
        ..ask("a.txt", 10)
    };
    assert_api_error(
        ann.client.create_upload(&hint).await,
        400,
        "invalid_content_type",
    );
    let sneaky = ann
        .client
        .create_upload(&ask("../../etc/\u{202E}passwd\n", 10))
        .await
        .expect("a name made safe");
    assert_eq!(sneaky.name, ".._.._etc__passwd");
    assert_eq!(
        Client::new(&server.url)
            .expect("client")
            .create_upload(&ask("a.txt", 10))
            .await
            .map(|_| ())
            .err()
            .map(|e| e.to_string().starts_with("401")),
        Some(true)
    );

    // Parts: the size declared is the size taken, before and after the body is read.
    let pending = ann
        .client
        .create_upload(&ask("twelve.txt", 12))
        .await
        .expect("upload");
    let part = |n: &str| {
        vec![
            "v1".to_owned(),
            "uploads".to_owned(),
            pending.id.to_string(),
            "parts".to_owned(),
            n.to_owned(),
        ]
    };
    let put = |segments: Vec<String>, body: &[u8]| {
        let client = ann.client.clone();
        let body = body.to_vec();
        async move {
            let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
            client
                .raw(
                    Method::PUT,
                    &segments,
                    Some("application/octet-stream"),
                    body,
                )
                .await
                .expect("request")
        }
    };
    assert_error(&put(part("1"), b"thirteen byte").await, 413, "too_large");
    assert_error(&put(part("1"), b"eleven byte").await, 400, "size_mismatch");
    assert_error(&put(part("2"), b"twelve bytes").await, 404, "not_found");
    assert_error(&put(part("0"), b"twelve bytes").await, 404, "not_found");
    assert_error(&put(part("x"), b"twelve bytes").await, 400, "invalid_id");
    assert_api_error(
        ann.client.complete_upload(pending.id).await,
        409,
        "upload_incomplete",
    );
    assert_api_error(
        attach(&ann.client, id, &[pending.id], "").await,
        409,
        "upload_incomplete",
    );
    assert_eq!(put(part("1"), b"twelve bytes").await.status, 204);
    let complete = ann
        .client
        .complete_upload(pending.id)
        .await
        .expect("complete");
    assert_eq!(complete.state, UploadState::Complete);
    assert_error(
        &put(part("1"), b"twelve bytes").await,
        409,
        "upload_complete",
    );
    // Completing again answers the same.
    assert_eq!(
        ann.client.complete_upload(pending.id).await.expect("again"),
        complete
    );

    // Someone else's upload: not theirs to see, attach or cancel.
    let bobs = upload(&bob.client, "bobs.txt", b"mine").await;
    assert_api_error(
        attach(&ann.client, id, &[bobs.id], "").await,
        404,
        "not_found",
    );
    assert_api_error(ann.client.upload(bobs.id).await, 404, "not_found");
    assert_api_error(ann.client.cancel_upload(bobs.id).await, 404, "not_found");
    assert_eq!(
        get(&file_url(&server, bobs.id), token(&ann), None)
            .await
            .status(),
        404
    );

    // Attachments: each once, at most ten, and text is still needed without them.
    assert_api_error(
        attach(&ann.client, id, &[complete.id, complete.id], "").await,
        400,
        "invalid_attachments",
    );
    let eleven: Vec<FileId> = (1..=11).map(FileId).collect();
    assert_api_error(
        attach(&ann.client, id, &eleven, "").await,
        400,
        "too_many_attachments",
    );
    assert_api_error(attach(&ann.client, id, &[], "").await, 400, "invalid_text");
    attach(&ann.client, id, &[complete.id], "first")
        .await
        .expect("send");
    assert_api_error(
        attach(&ann.client, id, &[complete.id], "again").await,
        409,
        "upload_attached",
    );
    assert_api_error(
        ann.client.cancel_upload(complete.id).await,
        409,
        "upload_attached",
    );

    // A cancelled upload is gone, bytes and all.
    let cancelled = upload(&ann.client, "oops.txt", b"oops").await;
    ann.client
        .cancel_upload(cancelled.id)
        .await
        .expect("cancel");
    assert_api_error(ann.client.upload(cancelled.id).await, 404, "not_found");
    assert_api_error(
        attach(&ann.client, id, &[cancelled.id], "").await,
        404,
        "not_found",
    );
    let objects = server.config.data_dir.join("objects");
    assert!(!objects.join(format!("files/{}", cancelled.id)).exists());
}

#[tokio::test]
async fn an_organization_keeps_to_its_quota() {
    let server = TestServer::spawn_with(|config| config.org_storage_quota_bytes = 100).await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let other = server.user_in("Olga", Some("another")).await;
    let ask = CreateUploadRequest {
        name: "sixty.bin".to_owned(),
        size: 60,
        content_type: None,
    };
    let first = ann
        .client
        .create_upload(&ask)
        .await
        .expect("within the quota");
    // Pending uploads count at their declared size, so two at once cannot pass it.
    assert_api_error(bob.client.create_upload(&ask).await, 409, "quota_exceeded");
    other
        .client
        .create_upload(&ask)
        .await
        .expect("another org has its own");
    ann.client.cancel_upload(first.id).await.expect("cancel");
    bob.client.create_upload(&ask).await.expect("room again");
}

#[tokio::test]
async fn an_avatar_comes_through_an_upload_too() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let picture = upload(&ann.client, "me.png", &png(300, 200)).await;
    let me = ann
        .client
        .set_avatar_from_upload(picture.id)
        .await
        .expect("avatar");
    assert!(me.avatar_url.is_some());
    let (content_type, bytes) = bob.client.avatar(ann.id).await.expect("the avatar");
    assert_eq!(content_type, "image/jpeg");
    let decoded = image::load_from_memory(&bytes).expect("decodes");
    assert_eq!((decoded.width(), decoded.height()), (256, 171));
    // The upload is used up.
    assert_api_error(ann.client.upload(picture.id).await, 404, "not_found");
    assert_api_error(
        ann.client.set_avatar_from_upload(picture.id).await,
        404,
        "not_found",
    );

    let text = upload(&ann.client, "me.txt", b"not a picture").await;
    assert_api_error(
        ann.client.set_avatar_from_upload(text.id).await,
        400,
        "unsupported_image",
    );
    let bobs = upload(&bob.client, "bob.png", &png(10, 10)).await;
    assert_api_error(
        ann.client.set_avatar_from_upload(bobs.id).await,
        404,
        "not_found",
    );
    let id = dm(&bob.client, ann.id).await;
    attach(&bob.client, id, &[bobs.id], "").await.expect("send");
    assert_api_error(
        bob.client.set_avatar_from_upload(bobs.id).await,
        409,
        "upload_attached",
    );
    let pending = ann
        .client
        .create_upload(&CreateUploadRequest {
            name: "later.png".to_owned(),
            size: 10,
            content_type: None,
        })
        .await
        .expect("upload");
    assert_api_error(
        ann.client.set_avatar_from_upload(pending.id).await,
        409,
        "upload_incomplete",
    );
    let big = upload(
        &ann.client,
        "big.bin",
        &vec![7u8; parley_core::validate::MAX_AVATAR_BYTES + 1],
    )
    .await;
    assert_api_error(
        ann.client.set_avatar_from_upload(big.id).await,
        413,
        "too_large",
    );
    let unknown = crate::features::raw_json(
        &ann.client,
        Method::PUT,
        &["v1", "users", "me", "avatar"],
        "{\"upload_id\":\"1\",\"extra\":1}",
    )
    .await;
    assert_error(&unknown, 400, "invalid_input");
}

/// What nobody can reach any more is deleted: uploads left on no message past their lifetime, erased files
/// whose deletion a crash interrupted, and objects no record names (once old enough).
#[tokio::test]
async fn the_collector_deletes_what_nobody_can_reach() {
    use std::sync::Arc;

    use parley_core::model::Millis;
    use parley_core::storage::Storage;
    use parley_core::store::{FileRecords, NewUpload};

    let data = tempfile::tempdir().expect("a data directory");
    let store =
        Arc::new(parley_store::SqliteStore::open(&data.path().join("parley.db")).expect("store"));
    let objects = data.path().join("objects");
    let storage = Arc::new(parley_store::ObjectStorage::local(&objects).expect("storage"));
    let parley = parley_core::Parley::new(
        store.clone(),
        Arc::new(parley_bus::LocalBus::new()),
        storage.clone(),
        parley_server::Config::default()
            .settings(parley_core::signing::UrlSigner::new(vec![1; 32]).expect("a secret")),
    );
    let ann = crate::events::caller(&parley, "ann").await;
    let old = |name: &'static str| NewUpload {
        org_id: ann.user.org_id,
        owner_id: ann.user.id,
        name,
        size: 5,
        now: Millis(1_000),
    };
    let abandoned = store
        .create_upload(old("abandoned.txt"), u64::MAX)
        .await
        .expect("record");
    storage
        .put(
            &format!("uploads/{}/1", abandoned.id),
            bytes::Bytes::from_static(b"hello"),
        )
        .await
        .expect("its part");
    let interrupted = store
        .create_upload(old("interrupted.txt"), u64::MAX)
        .await
        .expect("record");
    storage
        .put(
            &format!("files/{}", interrupted.id),
            bytes::Bytes::from_static(b"hello"),
        )
        .await
        .expect("its file");
    assert!(store.erase_upload(interrupted.id).await.expect("erase"));
    let request = CreateUploadRequest {
        name: "fresh.txt".to_owned(),
        size: 5,
        content_type: None,
    };
    let fresh = parley
        .create_upload(&ann, &request)
        .await
        .expect("a fresh upload");
    let orphan = objects.join("files/9999999");
    std::fs::write(&orphan, b"nobody's").expect("an orphan");
    std::fs::File::options()
        .write(true)
        .open(&orphan)
        .and_then(|f| f.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(1_000)))
        .expect("made old");
    let young_orphan = objects.join("files/9999998");
    std::fs::write(&young_orphan, b"still being made").expect("a young orphan");

    assert_eq!(parley.collect_files().await.expect("collect"), 2);
    for gone in [abandoned.id, interrupted.id] {
        assert_eq!(store.file(gone).await.expect("read"), None);
    }
    assert!(store.file(fresh.id).await.expect("read").is_some());
    assert!(!objects.join(format!("uploads/{}/1", abandoned.id)).exists());
    assert!(!objects.join(format!("files/{}", interrupted.id)).exists());
    assert_eq!(parley.sweep_storage().await.expect("sweep"), 1);
    assert!(!orphan.exists());
    assert!(young_orphan.exists());
}

/// Over the socket too: a send carries files, and when a picture's preview is made after it, every member
/// hears a `message.updated` with its size.
#[tokio::test]
async fn the_socket_sends_files_and_tells_of_previews() {
    use parley_client::proto::v1::{ClientOp, Event, ServerFrame};

    use crate::realtime::{connect, next_event, reply_and_event};

    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let mut anns = connect(&ann).await;
    let mut bobs = connect(&bob).await;
    let photo = upload(&ann.client, "photo.png", &png(1000, 500)).await;
    anns.send(&ClientOp::Send {
        reference: Some("s1".to_owned()),
        conversation_id: id,
        text: String::new(),
        nonce: Some("n1".to_owned()),
        mentions: None,
        thread_root_id: None,
        also_to_conversation: None,
        quote: None,
        attachments: vec![photo.id],
    })
    .await
    .expect("op");
    let (ack, _) = reply_and_event(&mut anns).await;
    let ServerFrame::Ack { message: sent, .. } = ack else {
        panic!("expected an ack, got {ack:?}");
    };
    assert_eq!(sent.attachments[0].id, photo.id);
    // Bob hears the message, and then (unless the preview was made before the send) its preview.
    let created = next_event(&mut bobs).await;
    let Event::MessageCreated { message, .. } = created.event else {
        panic!("expected message.created, got {:?}", created.event);
    };
    let previewed = if message.attachments[0].thumbnail.is_some() {
        message
    } else {
        let updated = next_event(&mut bobs).await;
        let Event::MessageUpdated { message, .. } = updated.event else {
            panic!("expected message.updated, got {:?}", updated.event);
        };
        assert_eq!(message.edited_at, None, "a preview is no edit");
        message
    };
    let attachment = &previewed.attachments[0];
    assert_eq!(
        (attachment.width, attachment.height),
        (Some(1000), Some(500))
    );
    assert_eq!(
        attachment.thumbnail.map(|t| (t.width, t.height)),
        Some((400, 200))
    );
}

/// Two sends of one upload sent together on one socket: the second may pass core's check before the first is
/// stored (sends to a conversation are pipelined), and the store refuses it; either way the answer is the
/// same `upload_attached`, and the file is on one message.
#[tokio::test]
async fn two_sends_of_one_upload_at_once_attach_it_once() {
    use parley_client::proto::v1::{ClientOp, ServerFrame};

    use crate::realtime::{connect, next_reply};

    let server = TestServer::spawn().await;
    let (ann, bob) = (server.user("Ann").await, server.user("Bob").await);
    let id = dm(&ann.client, bob.id).await;
    let mut socket = connect(&ann).await;
    let file = upload(&ann.client, "notes.txt", b"twice?").await;
    for n in ["a", "b"] {
        let op = ClientOp::Send {
            reference: Some(n.to_owned()),
            conversation_id: id,
            text: format!("with the file ({n})"),
            nonce: Some(n.to_owned()),
            mentions: None,
            thread_root_id: None,
            also_to_conversation: None,
            quote: None,
            attachments: vec![file.id],
        };
        socket.send(&op).await.expect("op");
    }
    let (mut acks, mut refusals) = (0, Vec::new());
    while acks + refusals.len() < 2 {
        match next_reply(&mut socket).await {
            ServerFrame::Ack { message, .. } => {
                assert_eq!(message.attachments[0].id, file.id);
                acks += 1;
            }
            ServerFrame::Error { code, .. } => refusals.push(code),
            other => panic!("expected an ack or an error, got {other:?}"),
        }
    }
    assert_eq!((acks, refusals), (1, vec!["upload_attached".to_owned()]));
    let history = bob
        .client
        .history(id, Default::default())
        .await
        .expect("history");
    let carrying = history.iter().filter(|m| !m.attachments.is_empty()).count();
    assert_eq!(carrying, 1, "the file is on one message");
}

/// A preview is a picture the server encoded: nothing of the original's metadata (a location in its EXIF)
/// is in it.
#[tokio::test]
async fn a_preview_carries_no_metadata_of_the_original() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
        600,
        600,
        image::Rgb([10, 200, 30]),
    ))
    .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
    .expect("encode");
    // An APP1 segment with EXIF (and a made-up GPS tag's bytes) right after the start of image.
    let exif = b"Exif\0\0MM\0*\0\0\0\x08GPS 51.5007N 0.1246W";
    let length = u16::try_from(exif.len() + 2).expect("short").to_be_bytes();
    let with_exif = [
        &jpeg[..2],
        &[0xFF, 0xE1],
        &length[..],
        &exif[..],
        &jpeg[2..],
    ]
    .concat();
    image::load_from_memory(&with_exif).expect("still a JPEG");
    let photo = upload(&ann.client, "holiday.jpg", &with_exif).await;
    assert_eq!(photo.content_type.as_deref(), Some("image/jpeg"));
    let message = attach(&ann.client, id, &[photo.id], "")
        .await
        .expect("send");
    once_previewed(&bob.client, id, &message).await;
    let preview = get(
        &format!("{}/thumbnail", file_url(&server, photo.id)),
        token(&bob),
        None,
    )
    .await;
    let bytes = preview.bytes().await.expect("body");
    assert!(!bytes.windows(4).any(|w| w == b"Exif") && !bytes.windows(3).any(|w| w == b"GPS"));
    // The original is served as it was sent.
    let original = get(&file_url(&server, photo.id), token(&bob), None).await;
    assert_eq!(
        original.bytes().await.expect("body").as_ref(),
        &with_exif[..]
    );
}

/// Avatars kept as files in the data directory by earlier versions are moved onto the storage at start.
#[tokio::test]
async fn avatars_of_an_earlier_version_move_onto_the_storage() {
    let data = tempfile::tempdir().expect("a data directory");
    let server = TestServer::spawn_in(data.path(), |_| {}).await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    ann.client
        .set_avatar("image/png", png(64, 64))
        .await
        .expect("avatar");
    let (_, before) = bob.client.avatar(ann.id).await.expect("the avatar");
    server.stop().await;
    // Where an earlier version kept it.
    let old = data.path().join("avatars");
    std::fs::create_dir_all(&old).expect("the old directory");
    let kept = data.path().join(format!("objects/avatars/{}", ann.id));
    std::fs::rename(&kept, old.join(ann.id.to_string())).expect("moved back");

    // The same data directory on a new port.
    let server = TestServer::spawn_in(data.path(), |_| {}).await;
    let bob_again = parley_client::Client::new(&server.url)
        .expect("client")
        .with_token(bob.client.token().expect("token"));
    let (_, after) = bob_again.avatar(ann.id).await.expect("the avatar, moved");
    assert_eq!(after, before);
    assert!(kept.exists());
    assert!(!old.exists());
}

/// A completion whose client went away after the parts were joined but before it was recorded leaves the
/// joined file; asking again completes from it.
#[tokio::test]
async fn a_completion_cut_short_is_finished_by_asking_again() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let request = CreateUploadRequest {
        name: "notes.txt".to_owned(),
        size: 12,
        content_type: None,
    };
    let pending = ann.client.create_upload(&request).await.expect("upload");
    ann.client
        .upload_part(&pending.parts[0], b"hello\nworld\n".to_vec())
        .await
        .expect("part");
    // What the join left when its request was dropped: the file in place, the part gone.
    let objects = server.config.data_dir.join("objects");
    std::fs::create_dir_all(objects.join("files")).expect("a directory");
    std::fs::rename(
        objects.join(format!("uploads/{}/1", pending.id)),
        objects.join(format!("files/{}", pending.id)),
    )
    .expect("joined");
    let complete = ann
        .client
        .complete_upload(pending.id)
        .await
        .expect("complete");
    assert_eq!(complete.state, UploadState::Complete);
    assert_eq!(complete.sha256, Some(hex_sha256(b"hello\nworld\n")));
}
