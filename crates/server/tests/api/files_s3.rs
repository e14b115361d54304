//! Files on an S3-compatible store (SeaweedFS, a real one): the bytes go from the client straight to the
//! store through a presigned form that takes exactly the part's size, and downloads redirect to presigned
//! URLs that the store refuses once expired or changed.

use std::time::Duration;

use parley_client::DeleteFor;
use parley_client::proto::v1::{CreateUploadRequest, UploadState};
use parley_testkit::TestServer;
use parley_testkit::seaweedfs::SeaweedFs;
use reqwest::header::{CONTENT_DISPOSITION, LOCATION};

use crate::dm;
use crate::files::{attach, once_previewed, png, upload};

/// A client that does not follow redirects, to see where they go.
fn not_following() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

async fn redirect(url: &str, token: Option<&str>) -> String {
    let mut request = not_following().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    assert_eq!(response.status(), 302, "{url}");
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("a location")
        .to_owned()
}

#[tokio::test]
async fn uploads_go_straight_to_the_store_and_downloads_redirect() {
    let Some(weed) = SeaweedFs::start().await else {
        return;
    };
    let server = TestServer::spawn_with(|config| {
        weed.configure(config);
        config.file_link_seconds = 3;
    })
    .await;
    // The web client may load pictures from the store and post uploads to it, and from nowhere else.
    let page = reqwest::get(&server.url).await.expect("the web client");
    let policy = page
        .headers()
        .get(reqwest::header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        policy.contains(&format!("img-src 'self' data: blob: {};", weed.endpoint))
            && policy.contains(&format!("connect-src 'self' ws: wss: {};", weed.endpoint)),
        "{policy}"
    );
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = dm(&ann.client, bob.id).await;
    let notes = b"hello\nworld\n";

    let request = CreateUploadRequest {
        name: "notes.txt".to_owned(),
        size: notes.len() as u64,
        content_type: None,
    };
    let pending = ann.client.create_upload(&request).await.expect("upload");
    let part = &pending.parts[0];
    assert_eq!(part.method, "POST");
    assert!(part.url.starts_with(&weed.endpoint), "{}", part.url);
    assert!(part.fields.contains_key("policy") && part.fields.contains_key("x-amz-signature"));
    // The store itself refuses a body of another size than the part's.
    let refused = ann
        .client
        .upload_part(part, b"thirteen byte".to_vec())
        .await;
    assert!(
        matches!(refused, Err(parley_client::Error::Api { status: 400, .. })),
        "{refused:?}"
    );
    let refused = ann.client.upload_part(part, b"eleven byte".to_vec()).await;
    assert!(matches!(
        refused,
        Err(parley_client::Error::Api { status: 400, .. })
    ));
    let incomplete = ann.client.complete_upload(pending.id).await;
    assert!(matches!(
        incomplete,
        Err(parley_client::Error::Api { status: 409, .. })
    ));
    ann.client
        .upload_part(part, notes.to_vec())
        .await
        .expect("the part");
    let complete = ann
        .client
        .complete_upload(pending.id)
        .await
        .expect("complete");
    assert_eq!(complete.state, UploadState::Complete);
    assert_eq!(
        complete.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    let message = attach(&ann.client, id, &[complete.id], "notes")
        .await
        .expect("send");

    // A download redirects to the store, which serves it as a download.
    let file_url = format!("{}/v1/files/{}", server.url, complete.id);
    let location = redirect(&file_url, bob.client.token()).await;
    assert!(location.starts_with(&weed.endpoint), "{location}");
    let served = reqwest::get(&location).await.expect("the store");
    assert_eq!(served.status(), 200);
    let disposition = served
        .headers()
        .get(CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert_eq!(served.bytes().await.expect("body").as_ref(), notes);
    assert_eq!(
        bob.client.file(complete.id).await.expect("followed").body,
        notes
    );
    // A changed presigned URL is refused by the store.
    let tampered = location.replace("X-Amz-Signature=", "X-Amz-Signature=0");
    assert_eq!(
        reqwest::get(&tampered).await.expect("the store").status(),
        403
    );
    // So is one for another object.
    let elsewhere = location.replace(&format!("files/{}", complete.id), "files/999999");
    assert_eq!(
        reqwest::get(&elsewhere).await.expect("the store").status(),
        403
    );
    // A signed link of this server redirects too.
    let link = bob
        .client
        .file_links(&[complete.id])
        .await
        .expect("links")
        .links[0]
        .url
        .clone();
    let through_link = redirect(&link, None).await;
    assert_eq!(
        reqwest::get(&through_link).await.expect("store").status(),
        200
    );

    // Pictures get their preview on the store as well.
    let photo = upload(&ann.client, "photo.png", &png(640, 480)).await;
    let pictured = attach(&ann.client, id, &[photo.id], "")
        .await
        .expect("send");
    once_previewed(&bob.client, id, &pictured).await;
    let preview = redirect(
        &format!("{}/v1/files/{}/thumbnail", server.url, photo.id),
        bob.client.token(),
    )
    .await;
    let preview = reqwest::get(&preview).await.expect("the store");
    assert_eq!(preview.status(), 200);
    let decoded =
        image::load_from_memory(&preview.bytes().await.expect("body")).expect("a picture");
    assert_eq!((decoded.width(), decoded.height()), (400, 300));

    // Past their lifetime, the store's URL and this server's link are refused.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert_eq!(
        reqwest::get(&location).await.expect("the store").status(),
        403
    );
    assert_eq!(
        not_following()
            .get(&link)
            .send()
            .await
            .expect("link")
            .status(),
        403
    );

    // Deleted for everyone: gone from the store.
    ann.client
        .delete_message(id, message.id, DeleteFor::Everyone)
        .await
        .expect("delete");
    let storage = parley_store::ObjectStorage::s3(&weed.settings()).expect("storage");
    use parley_core::storage::Storage;
    assert_eq!(
        storage
            .size(&format!("files/{}", complete.id))
            .await
            .expect("head"),
        None
    );
}
