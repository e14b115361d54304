//! DMs, groups, channels, the channel directory and membership.

use parley_proto::v1::{ConversationKind, CreateConversationRequest, MembershipPatch};
use parley_proto::{ConversationId, UserId};
use parley_testkit::TestServer;

use crate::{assert_api_error, channel, conversation_request, dm, group};

#[tokio::test]
async fn a_dm_is_one_conversation_per_pair_whoever_asks() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let first = ann
        .client
        .create_conversation(&conversation_request(ConversationKind::Dm, &[bob.id]))
        .await;
    let first = first.expect("create");
    assert!(first.new);
    assert_eq!(
        (first.value.kind, first.value.member_count),
        (ConversationKind::Dm, 2)
    );
    let again = bob
        .client
        .create_conversation(&conversation_request(ConversationKind::Dm, &[ann.id]))
        .await;
    let again = again.expect("ask again from the other side");
    assert!(!again.new, "200, not 201");
    assert_eq!(again.value.id, first.value.id);

    let shown = ann.client.conversation(first.value.id).await.expect("show");
    let mut members = shown.members.expect("small conversations list members");
    members.sort();
    assert_eq!(members, vec![ann.id, bob.id]);

    let carol = server.user("Carol").await;
    let three = conversation_request(ConversationKind::Dm, &[bob.id, carol.id]);
    assert_api_error(
        ann.client.create_conversation(&three).await,
        400,
        "invalid_members",
    );
    let myself = conversation_request(ConversationKind::Dm, &[ann.id]);
    assert_api_error(
        ann.client.create_conversation(&myself).await,
        400,
        "invalid_members",
    );
    let named = CreateConversationRequest {
        name: Some("x".into()),
        ..conversation_request(ConversationKind::Dm, &[bob.id])
    };
    assert_api_error(
        ann.client.create_conversation(&named).await,
        400,
        "invalid_dm",
    );
    assert_api_error(
        ann.client.invite(first.value.id, &[carol.id]).await,
        403,
        "forbidden",
    );
}

#[tokio::test]
async fn groups_and_channels_validate_their_fields() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let stranger = server.user_in("Eve", Some("otherco")).await;

    let id = group(&ann.client, "Lunch", &[bob.id, bob.id, ann.id]).await;
    let shown = bob.client.conversation(id).await.expect("member sees it");
    assert_eq!(
        (shown.kind, shown.name.as_deref(), shown.member_count),
        (ConversationKind::Group, Some("Lunch"), 2)
    );

    let no_name = conversation_request(ConversationKind::Group, &[bob.id]);
    assert_api_error(
        ann.client.create_conversation(&no_name).await,
        400,
        "invalid_name",
    );
    let with_stranger = CreateConversationRequest {
        name: Some("x".into()),
        ..conversation_request(ConversationKind::Group, &[stranger.id])
    };
    assert_api_error(
        ann.client.create_conversation(&with_stranger).await,
        404,
        "not_found",
    );
    let no_handle = CreateConversationRequest {
        name: Some("x".into()),
        ..conversation_request(ConversationKind::Channel, &[])
    };
    assert_api_error(
        ann.client.create_conversation(&no_handle).await,
        400,
        "invalid_handle",
    );
    let bad_handle = CreateConversationRequest {
        handle: Some("Not OK".into()),
        ..no_handle.clone()
    };
    assert_api_error(
        ann.client.create_conversation(&bad_handle).await,
        400,
        "invalid_handle",
    );
    let long_topic = CreateConversationRequest {
        handle: Some("ok".into()),
        topic: Some("t".repeat(501)),
        ..no_handle.clone()
    };
    assert_api_error(
        ann.client.create_conversation(&long_topic).await,
        400,
        "invalid_topic",
    );

    let general = channel(&ann.client, "general", false).await;
    let shown = ann.client.conversation(general).await.expect("show");
    assert_eq!(shown.handle.as_deref(), Some("general"));
    assert_eq!(
        shown.join_url.as_deref(),
        Some(format!("{}/v1/join/general", server.url).as_str())
    );
    let taken = CreateConversationRequest {
        handle: Some("general".into()),
        ..no_handle.clone()
    };
    assert_api_error(
        ann.client.create_conversation(&taken).await,
        409,
        "handle_taken",
    );
    // Handles are unique per org only.
    channel(&stranger.client, "general", false).await;
}

#[tokio::test]
async fn public_channels_are_found_and_joined_private_ones_are_invisible() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let stranger = server.user_in("Eve", Some("otherco")).await;
    let general = channel(&ann.client, "general", false).await;
    let secret = channel(&ann.client, "secret", true).await;

    let directory = bob.client.channels("").await.expect("directory");
    assert_eq!(
        directory.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![general]
    );
    assert_eq!(bob.client.channels("gen").await.expect("search").len(), 1);
    assert!(
        bob.client
            .channels("nothing like it")
            .await
            .expect("search")
            .is_empty()
    );
    assert!(
        stranger
            .client
            .channels("")
            .await
            .expect("directory")
            .is_empty(),
        "other orgs see nothing"
    );

    // A public channel can be looked at before joining, but not written to.
    assert_eq!(
        bob.client
            .conversation(general)
            .await
            .expect("peek")
            .member_count,
        1
    );
    assert_api_error(
        bob.client.send_message(general, "hi", None).await,
        403,
        "forbidden",
    );
    let joined = bob.client.join(general).await.expect("join");
    assert_eq!(joined.member_count, 2);
    bob.client
        .join(general)
        .await
        .expect("joining twice is fine");
    assert_eq!(
        bob.client
            .conversation(general)
            .await
            .expect("show")
            .member_count,
        2
    );

    for result in [
        bob.client.join(secret).await,
        bob.client.conversation(secret).await,
    ] {
        assert_api_error(result, 404, "not_found");
    }
    assert_api_error(bob.client.join_by_handle("secret").await, 404, "not_found");
    assert_api_error(stranger.client.join(general).await, 404, "not_found");
    assert_api_error(
        stranger.client.join_by_handle("general").await,
        404,
        "not_found",
    );

    // Invited, Bob is in the private channel.
    ann.client.invite(secret, &[bob.id]).await.expect("invite");
    assert_eq!(
        bob.client
            .conversation(secret)
            .await
            .expect("member now")
            .member_count,
        2
    );
}

#[tokio::test]
async fn join_by_handle_follows_the_join_url() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let id = channel(&ann.client, "random", false).await;
    let join_url = ann
        .client
        .conversation(id)
        .await
        .expect("show")
        .join_url
        .expect("channels have one");
    let path: Vec<&str> = join_url
        .trim_start_matches(&server.url)
        .trim_start_matches('/')
        .split('/')
        .collect();
    let raw = bob
        .client
        .raw(reqwest::Method::POST, &path, None, Vec::new())
        .await
        .expect("post to join_url");
    assert_eq!(raw.status, 200);
    assert_eq!(
        bob.client
            .join_by_handle("random")
            .await
            .expect("join by handle")
            .id,
        id
    );
    assert_api_error(
        bob.client.join_by_handle("no-such-channel").await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn invite_leave_and_the_conversation_list() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let stranger = server.user_in("Eve", Some("otherco")).await;
    let id = group(&ann.client, "Project", &[bob.id]).await;

    assert_api_error(carol.client.invite(id, &[carol.id]).await, 404, "not_found");
    assert_api_error(
        ann.client.invite(id, &[stranger.id]).await,
        404,
        "not_found",
    );
    assert_api_error(ann.client.invite(id, &[]).await, 400, "invalid_members");
    let too_many: Vec<UserId> = (1..=1001).map(UserId).collect();
    assert_api_error(
        ann.client.invite(id, &too_many).await,
        400,
        "too_many_members",
    );
    ann.client.invite(id, &[carol.id]).await.expect("invite");
    ann.client
        .invite(id, &[carol.id])
        .await
        .expect("inviting a member again is fine");
    assert_eq!(
        carol
            .client
            .conversation(id)
            .await
            .expect("show")
            .member_count,
        3
    );

    let message = bob
        .client
        .send_message(id, "hello all", None)
        .await
        .expect("send")
        .value;
    let list = carol.client.conversations().await.expect("list");
    let entry = list
        .iter()
        .find(|c| c.id == id)
        .expect("the group is listed");
    assert_eq!(entry.unread_count, Some(1));
    assert_eq!(entry.last_message.as_ref().map(|m| m.id), Some(message.id));
    let mine = bob.client.conversations().await.expect("list");
    assert_eq!(
        mine.iter()
            .find(|c| c.id == id)
            .and_then(|c| c.unread_count),
        Some(0),
        "own messages are read"
    );

    carol.client.leave(id).await.expect("leave");
    assert!(
        carol
            .client
            .conversations()
            .await
            .expect("list")
            .iter()
            .all(|c| c.id != id)
    );
    assert_api_error(carol.client.conversation(id).await, 404, "not_found");
    assert_api_error(carol.client.leave(id).await, 404, "not_found");
    assert_eq!(
        ann.client
            .conversation(id)
            .await
            .expect("show")
            .member_count,
        2
    );
}

#[tokio::test]
async fn the_list_is_ordered_by_latest_activity() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let older = group(&ann.client, "Older", &[bob.id]).await;
    let newer = group(&ann.client, "Newer", &[bob.id]).await;
    let order = |list: Vec<parley_proto::v1::Conversation>| {
        list.iter().map(|c| c.id).collect::<Vec<ConversationId>>()
    };
    assert_eq!(
        order(ann.client.conversations().await.expect("list")),
        vec![newer, older]
    );
    ann.client
        .send_message(older, "bump", None)
        .await
        .expect("send");
    assert_eq!(
        order(ann.client.conversations().await.expect("list")),
        vec![older, newer]
    );
}

/// A DM in the list names its two members, so a client can show the other person without asking for each.
#[tokio::test]
async fn dms_in_the_list_carry_their_members() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let with_bob = crate::dm(&ann.client, bob.id).await;
    let with_carol = crate::dm(&ann.client, carol.id).await;
    let team = group(&ann.client, "Team", &[bob.id, carol.id]).await;
    let list = ann.client.conversations().await.expect("list");
    let members = |id: ConversationId| {
        let mut members = list
            .iter()
            .find(|c| c.id == id)
            .expect("listed")
            .members
            .clone();
        if let Some(members) = members.as_mut() {
            members.sort();
        }
        members
    };
    let sorted = |mut ids: Vec<parley_proto::UserId>| {
        ids.sort();
        Some(ids)
    };
    assert_eq!(members(with_bob), sorted(vec![ann.id, bob.id]));
    assert_eq!(members(with_carol), sorted(vec![ann.id, carol.id]));
    assert_eq!(
        members(team),
        None,
        "only DMs: a group's members are on its own page"
    );
}

#[tokio::test]
async fn membership_settings() {
    let server = TestServer::spawn().await;
    let ann = server.user("Ann").await;
    let bob = server.user("Bob").await;
    let carol = server.user("Carol").await;
    let id = dm(&ann.client, bob.id).await;
    let muted = ann
        .client
        .update_membership(
            id,
            &MembershipPatch {
                muted: Some(true),
                notify_always: None,
            },
        )
        .await;
    let muted = muted.expect("mute");
    assert!(muted.muted && !muted.notify_always);
    let both = ann
        .client
        .update_membership(
            id,
            &MembershipPatch {
                muted: None,
                notify_always: Some(true),
            },
        )
        .await;
    assert!(
        both.expect("notify").muted,
        "fields left out keep their value"
    );
    let listed = ann.client.conversations().await.expect("list");
    assert!(
        listed[0]
            .membership
            .as_ref()
            .is_some_and(|m| m.muted && m.notify_always)
    );
    let patch = MembershipPatch {
        muted: Some(true),
        notify_always: None,
    };
    assert_api_error(
        carol.client.update_membership(id, &patch).await,
        404,
        "not_found",
    );
}
