//! Profiles, avatars, the people directory and contacts.

use parley_testkit::TestServer;

use crate::assert_api_error;

/// A valid 1x1 transparent PNG (what a strict decoder accepts, checksums and all).
pub(crate) const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0B, 0x49, 0x44, 0x41, 0x54, 0x78, 0xDA, 0x63, 0x60, 0x00, 0x02, 0x00,
    0x00, 0x05, 0x00, 0x01, 0xE9, 0xFA, 0xDC, 0xD8, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44,
    0xAE, 0x42, 0x60, 0x82,
];

#[tokio::test]
async fn rename_and_profile_with_presence() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let renamed = ann.client.rename("  Ann Lovelace ").await.expect("rename");
    assert_eq!(renamed.name, "Ann Lovelace");
    assert_api_error(ann.client.rename("").await, 400, "invalid_name");
    assert_api_error(
        ann.client.rename(&"x".repeat(101)).await,
        400,
        "invalid_name",
    );

    let profile = bob.client.user(ann.id).await.expect("profile");
    assert_eq!(profile.name, "Ann Lovelace");
    let presence = profile.presence.expect("profiles carry presence");
    assert!(
        !presence.online,
        "nobody is online before the gateway exists"
    );
    assert!(presence.last_seen.is_some(), "last_seen is the last login");
}

/// A picture of `width` × `height` in `format`, opaque or not.
fn picture(width: u32, height: u32, alpha: bool, format: image::ImageFormat) -> Vec<u8> {
    let picture = if alpha {
        image::DynamicImage::new_rgba8(width, height)
    } else {
        image::DynamicImage::new_rgb8(width, height)
    };
    let mut bytes = Vec::new();
    picture
        .write_to(&mut std::io::Cursor::new(&mut bytes), format)
        .expect("encode a test picture");
    bytes
}

#[tokio::test]
async fn avatars_are_recognised_by_content_and_served_within_the_org() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let stranger = server.user_in("Eve", Some("otherco")).await;

    assert_api_error(bob.client.avatar(ann.id).await, 404, "not_found");
    let user = ann
        .client
        .set_avatar("image/png", PNG.to_vec())
        .await
        .expect("upload");
    let url = user.avatar_url.expect("avatar_url once set");
    assert!(
        url.starts_with(&format!("/v1/users/{}/avatar", ann.id)),
        "{url}"
    );
    let (content_type, bytes) = bob.client.avatar(ann.id).await.expect("served");
    assert_eq!(
        content_type, "image/png",
        "a transparent picture stays a PNG"
    );
    let served = image::load_from_memory(&bytes).expect("an image");
    assert_eq!((served.width(), served.height()), (1, 1));
    assert_api_error(stranger.client.avatar(ann.id).await, 404, "not_found");

    // A claimed content type does not make a file an image.
    let fake = ann
        .client
        .set_avatar("image/png", b"<svg onload=alert(1)>".to_vec())
        .await;
    assert_api_error(fake, 400, "unsupported_image");
    let too_big = [PNG.to_vec(), vec![0; 5 * 1024 * 1024]].concat();
    assert_api_error(
        ann.client.set_avatar("image/png", too_big).await,
        413,
        "too_large",
    );
    let gif = picture(3, 2, false, image::ImageFormat::Gif);
    let second = ann
        .client
        .set_avatar("image/gif", gif)
        .await
        .expect("replace");
    assert_ne!(
        second.avatar_url.as_deref(),
        Some(url.as_str()),
        "a new upload gets a new URL"
    );
    let (content_type, bytes) = bob.client.avatar(ann.id).await.expect("served");
    assert_eq!(
        content_type, "image/jpeg",
        "an opaque picture is served as JPEG"
    );
    let served = image::load_from_memory(&bytes).expect("an image");
    assert_eq!((served.width(), served.height()), (3, 2));
}

/// An avatar is decoded, not only sniffed: a page behind a PNG signature is refused, a small file that
/// declares a huge picture is refused before anything that size is allocated, and what is served is the
/// server's own encoding of the picture, shrunk for an avatar, never to be sniffed into something else.
#[tokio::test]
async fn avatars_are_decoded_under_limits_and_served_as_the_server_encoded_them() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let page = b"\x89PNG\r\n\x1a\n<html><script>alert(document.cookie)</script></html>".to_vec();
    assert_api_error(
        ann.client.set_avatar("image/png", page).await,
        400,
        "unsupported_image",
    );
    let huge = png_declaring(100_000, 100_000);
    assert!(huge.len() < 100, "a tiny file");
    assert_api_error(
        ann.client.set_avatar("image/png", huge).await,
        400,
        "image_too_large",
    );
    let photo = picture(2_000, 1_000, false, image::ImageFormat::Png);
    ann.client
        .set_avatar("image/png", photo)
        .await
        .expect("a large photo");
    let answer = reqwest::Client::new()
        .get(format!("{}/v1/users/{}/avatar", server.url, ann.id))
        .bearer_auth(ann.client.token().unwrap_or_default())
        .send()
        .await
        .expect("request");
    assert_eq!(
        answer.headers()["x-content-type-options"],
        "nosniff",
        "never sniffed"
    );
    assert!(
        answer.headers()["content-security-policy"]
            .to_str()
            .is_ok_and(|csp| csp.contains("sandbox"))
    );
    let served = image::load_from_memory(&answer.bytes().await.expect("bytes")).expect("an image");
    assert_eq!(
        (served.width(), served.height()),
        (256, 128),
        "shrunk to fit an avatar"
    );
}

/// A PNG whose header declares `width` × `height` pixels, with a few bytes of data behind it.
pub(crate) fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
        let body = [kind, data].concat();
        let length = u32::try_from(data.len()).expect("a short chunk");
        [
            &length.to_be_bytes()[..],
            &body,
            &crc32(&body).to_be_bytes(),
        ]
        .concat()
    }
    let header = [
        &width.to_be_bytes()[..],
        &height.to_be_bytes(),
        &[8, 2, 0, 0, 0],
    ]
    .concat();
    [
        &b"\x89PNG\r\n\x1a\n"[..],
        &chunk(b"IHDR", &header),
        &chunk(b"IDAT", &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]),
        &chunk(b"IEND", &[]),
    ]
    .concat()
}

#[tokio::test]
async fn people_search_is_by_prefix_within_the_org() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann Smith").await;
    let annie = server.user("Annie").await;
    server.user("Bob Annson").await;
    server.user_in("Ann Elsewhere", Some("otherco")).await;

    let found = ann.client.search_users("ann").await.expect("search");
    let ids: Vec<_> = found.iter().map(|u| u.id).collect();
    assert!(
        ids.contains(&ann.id) && ids.contains(&annie.id),
        "{found:?}"
    );
    assert!(
        found.iter().all(|u| u.org == "default"),
        "never another org's people"
    );
    let by_word = ann
        .client
        .search_users("smi")
        .await
        .expect("search by a later word");
    assert_eq!(
        by_word.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![ann.id]
    );
    assert!(
        ann.client
            .search_users("%")
            .await
            .expect("wildcards are literal")
            .is_empty()
    );
    assert_api_error(
        ann.client.search_users(&"a".repeat(101)).await,
        400,
        "invalid_query",
    );
}

#[tokio::test]
async fn contacts_add_list_remove() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let stranger = server.user_in("Eve", Some("otherco")).await;

    ann.client.add_contact(bob.id).await.expect("add");
    ann.client
        .add_contact(bob.id)
        .await
        .expect("adding twice is fine");
    let contacts = ann.client.contacts().await.expect("list");
    assert_eq!(
        contacts.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![bob.id]
    );
    assert!(contacts[0].presence.is_some(), "contacts carry presence");
    assert!(
        bob.client.contacts().await.expect("list").is_empty(),
        "contacts are one-way"
    );

    assert_api_error(ann.client.add_contact(stranger.id).await, 404, "not_found");
    assert_api_error(ann.client.add_contact(ann.id).await, 400, "invalid_contact");
    assert_api_error(
        ann.client.add_contact(parley_proto::UserId(999_999)).await,
        404,
        "not_found",
    );
    ann.client.remove_contact(bob.id).await.expect("remove");
    assert!(ann.client.contacts().await.expect("list").is_empty());
}
