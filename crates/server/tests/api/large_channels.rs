//! Joins and leaves in a channel of more than 1,000 members go to that member's own devices only; at 1,000
//! or fewer, every member hears them. The members are written into the store before the server starts
//! (signing up a thousand people would spend most of a minute hashing passwords), then everything else goes
//! through the real server and real sockets, on both stores.

use parley_client::proto::v1::{ConversationKind, Event};
use parley_client::{Client, Socket};
use parley_core::model::Millis;
use parley_core::store::{NewConversation, NewUser, OrgPolicy, Store};
use parley_proto::{ConversationId, UserId};
use parley_store::{PgStore, SqliteStore};
use parley_testkit::TestServer;
use parley_testkit::cluster::Schema;
use sha2::{Digest, Sha256};

use crate::features::heard_nothing_before_a_marker;
use crate::realtime::next_event;

/// The members of the large channel: one more than the most to whom joins and leaves go.
const LARGE: usize = 1_001;
/// The members of the channel at the edge: exactly as many as still hear every join.
const EDGE: usize = 1_000;

/// A session token of the right shape (43 characters) that the test knows.
fn token(name: &str) -> String {
    format!("{name:-<43}")
}

struct Seeded {
    /// More than 1,000 members.
    large: ConversationId,
    /// Exactly 1,000 members.
    edge: ConversationId,
}

/// Everyone's account, the two channels, and sessions for the four people the test acts as: `watcher` (a
/// member of both channels), and `joiner` and `invitee` (members of neither).
async fn seed(store: &dyn Store) -> Seeded {
    let mut ids: Vec<UserId> = Vec::with_capacity(LARGE + 2);
    for n in 0..LARGE + 2 {
        let user = store
            .create_user(NewUser {
                org_handle: "default",
                org_policy: OrgPolicy::JoinOrCreate,
                username: &format!("crowd{n}"),
                email: &format!("crowd{n}@example.org"),
                name: &format!("Crowd {n}"),
                password_hash: "not-a-hash: these accounts log in by session only",
                now: Millis::now(),
            })
            .await
            .expect("user");
        ids.push(user.id);
    }
    let (joiner, invitee) = (ids[LARGE], ids[LARGE + 1]);
    for (user_id, name) in [
        (ids[0], "watcher"),
        (joiner, "joiner"),
        (invitee, "invitee"),
    ] {
        let hash: [u8; 32] = Sha256::digest(token(name).as_bytes()).into();
        store
            .create_session(user_id, hash, None, Millis::now())
            .await
            .expect("session");
    }
    let org_id = store
        .user(ids[0])
        .await
        .expect("user")
        .expect("exists")
        .org_id;
    let channel = async |handle: &str, members: &[UserId]| {
        let (created, _) = store
            .create_conversation(NewConversation {
                org_id,
                kind: ConversationKind::Channel,
                name: Some(handle),
                handle: Some(handle),
                topic: None,
                private: false,
                created_by: ids[0],
                members,
                now: Millis::now(),
            })
            .await
            .expect("channel");
        created.id
    };
    Seeded {
        large: channel("large", &ids[..LARGE]).await,
        edge: channel("edge", &ids[..EDGE]).await,
    }
}

#[track_caller]
fn assert_membership(event: &Event, joined: bool, conversation: ConversationId, user: UserId) {
    let expected = if joined {
        Event::MemberJoined {
            conversation_id: conversation,
            user_id: user,
        }
    } else {
        Event::MemberLeft {
            conversation_id: conversation,
            user_id: user,
            removed: false,
        }
    };
    assert_eq!(*event, expected);
}

fn created_id(event: &Event) -> Option<parley_proto::MessageId> {
    match event {
        Event::MessageCreated { message, .. } => Some(message.id),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_and_leaves_in_a_channel_of_over_a_thousand_go_to_the_members_own_devices() {
    let data = tempfile::tempdir().expect("temporary directory");
    let seeded = {
        let store = SqliteStore::open(&data.path().join("parley.db")).expect("store");
        seed(&store).await
    };
    let server = TestServer::spawn_in(data.path(), |_| {}).await;
    only_their_own_devices_hear(&server, &seeded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_and_leaves_in_a_channel_of_over_a_thousand_go_to_the_members_own_devices_on_postgres()
 {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let url = schema.store_url();
    let seeded = {
        let store = PgStore::open(&url).await.expect("store");
        seed(&store).await
    };
    let server = TestServer::spawn_with(|config| config.store = Some(url)).await;
    only_their_own_devices_hear(&server, &seeded).await;
    drop(server);
    drop(schema);
}

async fn only_their_own_devices_hear(server: &TestServer, seeded: &Seeded) {
    let (large, edge) = (seeded.large, seeded.edge);
    let base = Client::new(&server.url).expect("client");
    let (watcher, joiner, invitee) = (
        base.with_token(token("watcher")),
        base.with_token(token("joiner")),
        base.with_token(token("invitee")),
    );
    let mut watchers = watcher.connect(None).await.expect("connect");
    let mut joiners: Vec<Socket> = vec![
        joiner.connect(None).await.expect("connect"),
        joiner.connect(None).await.expect("connect"),
    ];
    let joiner_id = joiners[0].user_id;
    let before = watchers.ready_cursor;

    // Over 1,000 members: the joiner's two devices hear of the join, the watcher does not; then the joiner's
    // devices are in the room and hear its messages.
    let joined = joiner.join(large).await.expect("join");
    assert_eq!(joined.member_count, (LARGE + 1) as u64);
    for socket in &mut joiners {
        assert_membership(&next_event(socket).await.event, true, large, joiner_id);
    }
    let first = heard_nothing_before_a_marker(&mut watchers, &watcher, large).await;
    for socket in &mut joiners {
        assert_eq!(created_id(&next_event(socket).await.event), Some(first.id));
    }
    joiner.leave(large).await.expect("leave");
    for socket in &mut joiners {
        assert_membership(&next_event(socket).await.event, false, large, joiner_id);
    }
    let second = heard_nothing_before_a_marker(&mut watchers, &watcher, large).await;

    // At exactly 1,000 members everyone hears the join (and the joiner's devices hear nothing of the large
    // channel before it: they are out of its room). With the joiner the channel is over 1,000, so the
    // leave is the leaver's own business again.
    let joined = joiner.join(edge).await.expect("join");
    assert_eq!(joined.member_count, (EDGE + 1) as u64);
    assert_membership(
        &next_event(&mut watchers).await.event,
        true,
        edge,
        joiner_id,
    );
    for socket in &mut joiners {
        assert_membership(&next_event(socket).await.event, true, edge, joiner_id);
    }
    joiner.leave(edge).await.expect("leave");
    for socket in &mut joiners {
        assert_membership(&next_event(socket).await.event, false, edge, joiner_id);
    }
    let third = heard_nothing_before_a_marker(&mut watchers, &watcher, edge).await;

    // Invited into the large channel: the invitee's device hears of it, the inviter's does not.
    let mut invitees = invitee.connect(None).await.expect("connect");
    let invitee_id = invitees.user_id;
    watcher.invite(large, &[invitee_id]).await.expect("invite");
    assert_membership(
        &next_event(&mut invitees).await.event,
        true,
        large,
        invitee_id,
    );
    let fourth = heard_nothing_before_a_marker(&mut watchers, &watcher, large).await;
    assert_eq!(
        created_id(&next_event(&mut invitees).await.event),
        Some(fourth.id)
    );

    // A watcher who was away gets the same on resume: the markers and the one join at the edge, nothing of
    // the large channel's comings and goings.
    watchers.drop_without_close();
    let mut resumed = watcher.connect(Some(before)).await.expect("resume");
    let mut replayed = Vec::new();
    while replayed.last().and_then(created_id) != Some(fourth.id) {
        replayed.push(next_event(&mut resumed).await.event);
    }
    assert_eq!(replayed.len(), 5, "{replayed:?}");
    assert_eq!(created_id(&replayed[0]), Some(first.id));
    assert_eq!(created_id(&replayed[1]), Some(second.id));
    assert_membership(&replayed[2], true, edge, joiner_id);
    assert_eq!(created_id(&replayed[3]), Some(third.id));
    // The joiner, resuming from before it all, replays what was told to its devices alone (what happened in
    // channels it has since left is not replayed to it, as for anyone).
    let mut joiner_again = joiner.connect(Some(before)).await.expect("resume");
    assert_membership(
        &next_event(&mut joiner_again).await.event,
        true,
        large,
        joiner_id,
    );
    assert_membership(
        &next_event(&mut joiner_again).await.event,
        false,
        large,
        joiner_id,
    );
    assert_membership(
        &next_event(&mut joiner_again).await.event,
        false,
        edge,
        joiner_id,
    );
}
