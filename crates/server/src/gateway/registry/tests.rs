//! The registry's rules, input by input, with the clock paused: what it follows, when it answers, who gets
//! what, and what waits for a catch-up.

use std::cell::Cell;
use std::time::Duration;

use parley_core::bus::{Ended, ProfileCopy, Signal, Topic};
use parley_core::model::{Audience, Event, EventKind, Millis, Profile};
use parley_core::proto::v1::Role;
use parley_core::{ConversationId, Cursor, MessageId, OrgId, UserId};

use super::*;

const GRACE: Duration = Duration::from_secs(5);
const ORG: OrgId = OrgId(1);
const ADA: UserId = UserId(10);
const BOB: UserId = UserId(11);
const GENERAL: ConversationId = ConversationId(100);
const RANDOM: ConversationId = ConversationId(101);

/// A connection's handle in these tests: the session it was opened with, by the first byte of its token's
/// hash.
struct TestSession(u8);

impl Session for TestSession {
    fn ended(&self, sessions: &Ended) -> bool {
        sessions.includes(&[self.0; 32])
    }
}

type TestRegistry = Registry<TestSession, &'static str>;

fn member(user_id: UserId, role: Role) -> Member {
    Member {
        user_id,
        org_id: ORG,
        role,
    }
}

/// Registers a connection, which the registry takes (the server is not shutting down).
fn register(
    registry: &mut TestRegistry,
    id: ConnId,
    member: Member,
    contacts: Vec<UserId>,
    reply: &'static str,
) {
    let taken = registry.register(id, member, contacts, TestSession(id as u8), reply);
    assert!(taken.is_ok(), "connection {id} refused");
}

/// Registers a connection and confirms every follow it asked for; its rooms are not set yet.
fn arrive(registry: &mut TestRegistry, id: ConnId, user_id: UserId) {
    register(
        registry,
        id,
        member(user_id, Role::Member),
        Vec::new(),
        "registered",
    );
    confirm_all(registry);
}

/// Registers a connection, confirms every follow it asked for, and puts it in `rooms`, confirming those too.
fn connect(registry: &mut TestRegistry, id: ConnId, user_id: UserId, rooms: &[ConversationId]) {
    arrive(registry, id, user_id);
    registry.set_rooms(id, rooms.to_vec(), Cursor(0), "rooms set");
    confirm_all(registry);
}

/// Confirms every follow asked for; returns the other effects, in order.
fn confirm_all(registry: &mut TestRegistry) -> Vec<Effect<&'static str>> {
    let mut others = Vec::new();
    loop {
        let effects = registry.take_effects();
        if effects.is_empty() {
            return others;
        }
        for effect in effects {
            match effect {
                Effect::Follow { topic, ticket } => registry.followed(topic, ticket, true),
                other => others.push(other),
            }
        }
    }
}

fn follows(effects: &[Effect<&'static str>]) -> Vec<(Topic, Ticket)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Follow { topic, ticket } => Some((*topic, *ticket)),
            _ => None,
        })
        .collect()
}

fn replies(effects: &[Effect<&'static str>]) -> Vec<&'static str> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Reply(reply) => Some(*reply),
            _ => None,
        })
        .collect()
}

/// Who got a frame, sorted, with the frame's text.
fn deliveries(effects: &[Effect<&'static str>]) -> Vec<(Vec<ConnId>, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Deliver { to, frame } => {
                let mut to = to.clone();
                to.sort_unstable();
                Some((to, frame.text.to_string()))
            }
            _ => None,
        })
        .collect()
}

fn catch_ups(effects: &[Effect<&'static str>]) -> Vec<ConnId> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Queue {
                to,
                item: Outbound::CatchUp,
            } => Some(*to),
            _ => None,
        })
        .collect()
}

fn closes(effects: &[Effect<&'static str>]) -> Vec<(ConnId, u16)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Close { to, why } => Some((*to, why.code)),
            Effect::Queue {
                to,
                item: Outbound::Close(why),
            } => Some((*to, why.code)),
            _ => None,
        })
        .collect()
}

fn event(cursor: i64, conversation_id: ConversationId, kind: EventKind) -> Signal {
    Signal::Event(Event {
        cursor: Cursor(cursor),
        conversation_id,
        kind,
        audience: Audience::Members,
        at: Millis(0),
    })
}

fn pin(cursor: i64, conversation_id: ConversationId) -> Signal {
    event(
        cursor,
        conversation_id,
        EventKind::PinAdded {
            message_id: MessageId(1),
            user_id: ADA,
        },
    )
}

/// The frame a signal encodes to: its name and, for an event, its cursor.
fn frame(text: &str, signal: &Signal) -> Option<Arc<Frame>> {
    let cursor = match signal {
        Signal::Event(event) => Some(event.cursor),
        _ => None,
    };
    Some(Arc::new(Frame {
        text: format!("{text}{}", cursor.map_or(0, |c| c.0)).into(),
        cursor,
        committed_at: None,
    }))
}

fn route(registry: &mut TestRegistry, signal: &Signal, text: &str) -> Vec<Effect<&'static str>> {
    registry.route(signal, || frame(text, signal));
    registry.take_effects()
}

#[tokio::test(start_paused = true)]
async fn a_registration_is_answered_once_every_topic_it_needs_is_followed() {
    let mut registry = TestRegistry::new(GRACE);
    register(
        &mut registry,
        1,
        member(ADA, Role::Member),
        vec![BOB],
        "ada",
    );
    let effects = registry.take_effects();
    let asked = follows(&effects);
    let topics: Vec<Topic> = asked.iter().map(|(topic, _)| *topic).collect();
    assert_eq!(
        topics,
        [Topic::User(ADA), Topic::Org(ORG), Topic::Presence(BOB)]
    );
    assert!(replies(&effects).is_empty(), "answered before following");
    assert!(matches!(
        effects.last(),
        Some(Effect::Presence {
            user_id: ADA,
            online: true
        })
    ));
    for (i, (topic, ticket)) in asked.iter().enumerate() {
        registry.followed(*topic, *ticket, true);
        let effects = registry.take_effects();
        let expected: &[&str] = if i == asked.len() - 1 { &["ada"] } else { &[] };
        assert_eq!(replies(&effects), expected, "after confirming {topic:?}");
    }

    // A second device of the same user needs nothing new: answered at once, no second "online".
    register(
        &mut registry,
        2,
        member(ADA, Role::Member),
        vec![BOB],
        "ada again",
    );
    let effects = registry.take_effects();
    assert!(follows(&effects).is_empty());
    assert_eq!(replies(&effects), ["ada again"]);
    assert!(!effects.iter().any(|e| matches!(e, Effect::Presence { .. })));
    assert_eq!(registry.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_connection_waiting_for_a_follow_another_asked_for_waits_for_the_same_confirmation() {
    let mut registry = TestRegistry::new(GRACE);
    register(&mut registry, 1, member(ADA, Role::Member), vec![], "first");
    let asked = follows(&registry.take_effects());
    // Bob's registration needs Ada's organization too, whose follow is not confirmed yet.
    register(
        &mut registry,
        2,
        member(BOB, Role::Member),
        vec![],
        "second",
    );
    let bob_asked = follows(&registry.take_effects());
    assert_eq!(bob_asked.len(), 1, "only Bob's own topic is new");
    registry.followed(bob_asked[0].0, bob_asked[0].1, true);
    assert!(
        replies(&registry.take_effects()).is_empty(),
        "the organization is not followed yet"
    );
    for (topic, ticket) in asked {
        registry.followed(topic, ticket, true);
    }
    let mut answered = replies(&registry.take_effects());
    answered.sort_unstable();
    assert_eq!(answered, ["first", "second"]);
}

#[tokio::test(start_paused = true)]
async fn the_confirmation_of_an_older_follow_of_a_topic_does_not_count_for_a_newer_one() {
    let mut registry = TestRegistry::new(GRACE);
    connect(&mut registry, 1, ADA, &[]);
    // Ada's connection enters a room, leaves it (its follow still unconfirmed), and enters it again.
    let join = |cursor| event(cursor, GENERAL, EventKind::MemberJoined { user_id: ADA });
    let effects = route(&mut registry, &join(1), "joined");
    let [(topic, first)] = follows(&effects)[..] else {
        panic!("one follow: {effects:?}");
    };
    assert_eq!(topic, Topic::Conversation(GENERAL));
    let left = event(
        2,
        GENERAL,
        EventKind::MemberLeft {
            user_id: ADA,
            removed: false,
        },
    );
    let effects = route(&mut registry, &left, "left");
    assert!(effects.iter().any(
        |e| matches!(e, Effect::Unfollow { topic } if *topic == Topic::Conversation(GENERAL))
    ));
    let effects = route(&mut registry, &join(3), "joined");
    let [(_, second)] = follows(&effects)[..] else {
        panic!("a new follow: {effects:?}");
    };
    assert_ne!(first, second);
    // The first follow's confirmation comes in: the catch-up must still wait for the second.
    registry.followed(topic, first, true);
    assert!(catch_ups(&registry.take_effects()).is_empty());
    registry.followed(topic, second, true);
    assert_eq!(catch_ups(&registry.take_effects()), [1]);
}

#[tokio::test(start_paused = true)]
async fn rooms_are_what_was_read_with_the_joinings_and_leavings_seen_after_it() {
    let mut registry = TestRegistry::new(GRACE);
    arrive(&mut registry, 1, ADA);
    // While Ada's rooms are being read: she joins "random" (after the read) and leaves "general" (before).
    let joined = event(7, RANDOM, EventKind::MemberJoined { user_id: ADA });
    let left = event(
        4,
        GENERAL,
        EventKind::MemberLeft {
            user_id: ADA,
            removed: false,
        },
    );
    route(&mut registry, &left, "left");
    let effects = route(&mut registry, &joined, "joined");
    assert!(
        deliveries(&effects).is_empty(),
        "nothing for a connection whose rooms are not set"
    );
    registry.set_rooms(1, vec![GENERAL], Cursor(5), "rooms set");
    let effects = confirm_all(&mut registry);
    assert_eq!(replies(&effects), ["rooms set"]);
    // In "general" (the leaving came before the read) and in "random" (the joining after it).
    let message = pin(8, GENERAL);
    assert_eq!(deliveries(&route(&mut registry, &message, "pin"))[0].0, [1]);
    let message = pin(9, RANDOM);
    assert_eq!(deliveries(&route(&mut registry, &message, "pin"))[0].0, [1]);
}

#[tokio::test(start_paused = true)]
async fn an_event_goes_to_its_room_once_encoded_once_and_never_twice() {
    let mut registry = TestRegistry::new(GRACE);
    connect(&mut registry, 1, ADA, &[GENERAL]);
    connect(&mut registry, 2, ADA, &[GENERAL]);
    connect(&mut registry, 3, BOB, &[RANDOM]);
    let encoded = Cell::new(0);
    let signal = pin(5, GENERAL);
    registry.route(&signal, || {
        encoded.set(encoded.get() + 1);
        frame("pin", &signal)
    });
    assert_eq!(
        deliveries(&registry.take_effects()),
        [(vec![1, 2], "pin5".into())]
    );
    assert_eq!(encoded.get(), 1);
    // The same event again (published on two topics): not routed, not encoded.
    registry.route(&signal, || {
        encoded.set(encoded.get() + 1);
        frame("pin", &signal)
    });
    assert!(registry.take_effects().is_empty());
    assert_eq!(encoded.get(), 1);
    // An event for a room nobody here is in: nothing encoded.
    let elsewhere = pin(6, ConversationId(999));
    registry.route(&elsewhere, || {
        encoded.set(encoded.get() + 1);
        frame("pin", &elsewhere)
    });
    assert!(registry.take_effects().is_empty());
    assert_eq!(encoded.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_joiner_catches_up_once_the_room_is_followed_and_gets_no_durable_event_before() {
    let mut registry = TestRegistry::new(GRACE);
    connect(&mut registry, 1, ADA, &[RANDOM]);
    connect(&mut registry, 2, BOB, &[GENERAL]);
    let joined = event(5, GENERAL, EventKind::MemberJoined { user_id: ADA });
    let effects = route(&mut registry, &joined, "joined");
    // Bob hears of the joining; Ada will read it in her catch-up.
    assert_eq!(deliveries(&effects), [(vec![2], "joined5".into())]);
    // "general" is followed already (Bob is in it): Ada catches up at once.
    assert_eq!(catch_ups(&effects), [1]);

    // Ada joins "lobby", a room nobody here is in: her catch-up waits for its follow, and meanwhile a later
    // event in "random" is not queued for her (her writer would pass the ones before it), but typing is.
    let lobby = ConversationId(102);
    let effects = route(
        &mut registry,
        &event(6, lobby, EventKind::MemberJoined { user_id: ADA }),
        "joined",
    );
    let [(topic, ticket)] = follows(&effects)[..] else {
        panic!("one follow: {effects:?}");
    };
    assert!(catch_ups(&effects).is_empty());
    assert!(deliveries(&route(&mut registry, &pin(7, RANDOM), "pin")).is_empty());
    let typing = Signal::Typing {
        conversation_id: RANDOM,
        user_id: BOB,
    };
    assert_eq!(
        deliveries(&route(&mut registry, &typing, "typing"))[0].0,
        [1]
    );
    registry.followed(topic, ticket, true);
    assert_eq!(catch_ups(&registry.take_effects()), [1]);
    assert_eq!(
        deliveries(&route(&mut registry, &pin(8, RANDOM), "pin"))[0].0,
        [1]
    );
}

#[tokio::test(start_paused = true)]
async fn a_leaver_hears_of_its_leaving_and_the_last_one_out_unfollows_the_room() {
    let mut registry = TestRegistry::new(GRACE);
    connect(&mut registry, 1, ADA, &[GENERAL]);
    let left = event(
        5,
        GENERAL,
        EventKind::MemberLeft {
            user_id: ADA,
            removed: true,
        },
    );
    let effects = route(&mut registry, &left, "left");
    assert_eq!(deliveries(&effects), [(vec![1], "left5".into())]);
    let unfollowed = effects
        .iter()
        .any(|e| matches!(e, Effect::Unfollow { topic } if *topic == Topic::Conversation(GENERAL)));
    assert!(unfollowed);
    assert!(deliveries(&route(&mut registry, &pin(6, GENERAL), "pin")).is_empty());
}

#[tokio::test(start_paused = true)]
async fn typing_goes_to_the_room_but_not_to_the_typists_own_devices() {
    let mut registry = TestRegistry::new(GRACE);
    connect(&mut registry, 1, ADA, &[GENERAL]);
    connect(&mut registry, 2, ADA, &[GENERAL]);
    connect(&mut registry, 3, BOB, &[GENERAL]);
    let typing = Signal::Typing {
        conversation_id: GENERAL,
        user_id: ADA,
    };
    assert_eq!(
        deliveries(&route(&mut registry, &typing, "typing"))[0].0,
        [3]
    );
}

#[tokio::test(start_paused = true)]
async fn a_logout_closes_only_the_connections_of_the_sessions_that_ended() {
    let mut registry = TestRegistry::new(GRACE);
    connect(&mut registry, 1, ADA, &[]);
    connect(&mut registry, 2, ADA, &[]);
    connect(&mut registry, 3, BOB, &[]);
    let one = Signal::Revoked {
        user_id: ADA,
        sessions: Ended::One([2; 32]),
    };
    assert_eq!(
        closes(&route(&mut registry, &one, "")),
        [(2, close::LOGGED_OUT)]
    );
    let all = Signal::Revoked {
        user_id: ADA,
        sessions: Ended::All,
    };
    let mut closed = closes(&route(&mut registry, &all, ""));
    closed.sort_unstable();
    assert_eq!(closed, [(1, close::LOGGED_OUT), (2, close::LOGGED_OUT)]);
}

fn profile(user_id: UserId, role: Role) -> Profile {
    Profile {
        id: user_id,
        org_id: ORG,
        org_handle: "acme".into(),
        username: "ada".into(),
        name: "Ada".into(),
        role,
        deactivated: false,
        avatar_version: None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_role_change_is_told_then_closes_the_users_connections_with_4006() {
    let mut registry = TestRegistry::new(GRACE);
    connect(&mut registry, 1, ADA, &[]);
    connect(&mut registry, 3, BOB, &[]);
    registry.watch(3, vec![ADA], "watching");
    confirm_all(&mut registry);
    let updated = Signal::UserUpdated {
        profile: profile(ADA, Role::Admin),
        to: ProfileCopy::OwnDevices,
    };
    let effects = route(&mut registry, &updated, "updated");
    assert_eq!(deliveries(&effects), [(vec![1], "updated0".into())]);
    assert_eq!(closes(&effects), [(1, close::ROLE_CHANGED)]);
    let position = |f: fn(&Effect<&str>) -> bool| effects.iter().position(f);
    assert!(
        position(|e| matches!(e, Effect::Deliver { .. }))
            < position(|e| matches!(e, Effect::Queue { .. }))
    );
    // The copy for watchers goes to Bob, and closes nothing.
    let watchers = Signal::UserUpdated {
        profile: profile(ADA, Role::Admin),
        to: ProfileCopy::Watchers,
    };
    let effects = route(&mut registry, &watchers, "updated");
    assert_eq!(deliveries(&effects)[0].0, [3]);
    assert!(closes(&effects).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_user_goes_offline_a_grace_after_the_last_connection_unless_one_comes_back() {
    let mut registry = TestRegistry::new(GRACE);
    connect(&mut registry, 1, ADA, &[]);
    let offline = |effects: &[Effect<&str>]| {
        effects.iter().any(|e| {
            matches!(
                e,
                Effect::Presence {
                    user_id: ADA,
                    online: false
                }
            )
        })
    };
    let online = |effects: &[Effect<&str>]| {
        effects.iter().any(|e| {
            matches!(
                e,
                Effect::Presence {
                    user_id: ADA,
                    online: true
                }
            )
        })
    };
    registry.unregister(1, Instant::now());
    assert!(
        registry
            .take_effects()
            .iter()
            .any(|e| matches!(e, Effect::Unfollow { .. }))
    );
    assert_eq!(registry.next_deadline(), Some(Instant::now() + GRACE));
    tokio::time::advance(GRACE / 2).await;
    registry.expire(Instant::now());
    assert!(!offline(&registry.take_effects()));
    // Back within the grace: no "online" again, and the "offline" is off.
    register(&mut registry, 2, member(ADA, Role::Member), vec![], "back");
    assert!(!online(&confirm_all(&mut registry)));
    tokio::time::advance(GRACE).await;
    registry.expire(Instant::now());
    assert!(!offline(&registry.take_effects()));
    assert_eq!(registry.next_deadline(), None);
    // Gone for good: offline once the grace is over, once.
    registry.unregister(2, Instant::now());
    registry.take_effects();
    tokio::time::advance(GRACE).await;
    registry.expire(Instant::now());
    assert!(offline(&registry.take_effects()));
    registry.expire(Instant::now() + GRACE);
    assert!(registry.take_effects().is_empty());
}

#[tokio::test(start_paused = true)]
async fn after_a_lag_each_user_is_read_again_once_and_their_connections_catch_up_before_more_events()
 {
    let mut registry = TestRegistry::new(GRACE);
    connect(&mut registry, 1, ADA, &[GENERAL]);
    connect(&mut registry, 2, ADA, &[GENERAL]);
    connect(&mut registry, 3, BOB, &[GENERAL]);
    registry.lagged();
    let rereads: Vec<ConnId> = registry
        .take_effects()
        .iter()
        .filter_map(|e| match e {
            Effect::Resettle { via, .. } => Some(*via),
            _ => None,
        })
        .collect();
    assert_eq!(rereads.len(), 2, "one re-read per user: {rereads:?}");
    // Until they are read again, no durable event is queued for them; typing still is.
    assert!(deliveries(&route(&mut registry, &pin(5, GENERAL), "pin")).is_empty());
    let typing = Signal::Typing {
        conversation_id: GENERAL,
        user_id: BOB,
    };
    assert_eq!(
        deliveries(&route(&mut registry, &typing, "typing"))[0].0,
        [1, 2]
    );
    // Ada was added to "random" meanwhile and made an administrator.
    let settings = Some(Arc::new(Frame::control(&"settings")));
    registry.resettled(
        ADA,
        1,
        vec![GENERAL, RANDOM],
        Cursor(6),
        Role::Admin,
        settings,
    );
    let effects = confirm_all(&mut registry);
    let mut caught_up = catch_ups(&effects);
    caught_up.sort_unstable();
    assert_eq!(caught_up, [1, 2]);
    assert_eq!(deliveries(&effects), [(vec![1, 2], "\"settings\"".into())]);
    let mut closed = closes(&effects);
    closed.sort_unstable();
    assert_eq!(closed, [(1, close::ROLE_CHANGED), (2, close::ROLE_CHANGED)]);
    assert_eq!(
        deliveries(&route(&mut registry, &pin(7, RANDOM), "pin"))[0].0,
        [1, 2]
    );
    // Bob's re-read failed: his connection closes (1011) to reconnect and resume.
    registry.resettle_failed(BOB, 1);
    assert_eq!(closes(&registry.take_effects()), [(3, close::INTERNAL)]);
}

#[tokio::test(start_paused = true)]
async fn closing_all_closes_every_connection_and_every_later_one() {
    let mut registry = TestRegistry::new(GRACE);
    connect(&mut registry, 1, ADA, &[]);
    registry.close_all();
    assert_eq!(closes(&registry.take_effects()), [(1, close::RESTART)]);
    let late = registry.register(2, member(BOB, Role::Member), vec![], TestSession(2), "late");
    assert!(matches!(late, Err(Refused { why, .. }) if why.code == close::RESTART));
    let effects = registry.take_effects();
    assert_eq!(
        replies(&effects),
        ["late"],
        "answered, to find the connection closed"
    );
    assert!(follows(&effects).is_empty());
    assert_eq!(registry.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_leaves_while_waiting_leaves_nothing_behind() {
    let mut registry = TestRegistry::new(GRACE);
    register(
        &mut registry,
        1,
        member(ADA, Role::Member),
        vec![BOB],
        "never",
    );
    let asked = follows(&registry.take_effects());
    registry.unregister(1, Instant::now());
    let effects = registry.take_effects();
    let unfollowed = effects
        .iter()
        .filter(|e| matches!(e, Effect::Unfollow { .. }))
        .count();
    assert_eq!(unfollowed, asked.len());
    assert!(replies(&effects).is_empty());
    for (topic, ticket) in asked {
        registry.followed(topic, ticket, true);
    }
    assert!(registry.take_effects().is_empty());
    assert_eq!(registry.len(), 0);
    assert!(registry.topics.is_empty());
}

fn rereads(effects: &[Effect<&'static str>]) -> Vec<(ConnId, Lag)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Resettle { via, lag } => Some((*via, *lag)),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_reread_made_for_an_earlier_lag_is_not_taken_for_the_latest() {
    let mut registry = TestRegistry::new(GRACE);
    connect(&mut registry, 1, ADA, &[GENERAL]);
    registry.lagged();
    let [(_, first)] = rereads(&registry.take_effects())[..] else {
        panic!("one re-read");
    };
    // The bus lags again while the first re-read runs; Ada was removed from "general" in between, and the
    // bus dropped that too.
    registry.lagged();
    let [(_, second)] = rereads(&registry.take_effects())[..] else {
        panic!("one re-read");
    };
    registry.resettled(ADA, first, vec![GENERAL], Cursor(5), Role::Member, None);
    assert!(
        registry.take_effects().is_empty(),
        "the older re-read changes nothing"
    );
    assert!(deliveries(&route(&mut registry, &pin(11, GENERAL), "pin")).is_empty());
    registry.resettled(ADA, second, vec![], Cursor(10), Role::Member, None);
    let effects = confirm_all(&mut registry);
    assert_eq!(catch_ups(&effects), [1]);
    assert!(
        deliveries(&route(&mut registry, &pin(12, GENERAL), "pin")).is_empty(),
        "out of the room the latest re-read says she left"
    );
    // A failure reported for the older lag closes nothing either.
    registry.lagged();
    let [(_, third)] = rereads(&registry.take_effects())[..] else {
        panic!("one re-read");
    };
    registry.resettle_failed(ADA, second);
    assert!(closes(&registry.take_effects()).is_empty());
    registry.resettle_failed(ADA, third);
    assert_eq!(closes(&registry.take_effects()), [(1, close::INTERNAL)]);
}

#[tokio::test(start_paused = true)]
async fn rooms_set_while_a_reread_is_due_leave_its_log_to_it() {
    let mut registry = TestRegistry::new(GRACE);
    arrive(&mut registry, 1, ADA);
    registry.lagged();
    let [(_, lag)] = rereads(&registry.take_effects())[..] else {
        panic!("one re-read");
    };
    // Her rooms, read before the lag, come after it: they still say "general", though the bus dropped her
    // leaving it (cursor 7).
    registry.set_rooms(1, vec![GENERAL], Cursor(5), "rooms set");
    assert_eq!(replies(&confirm_all(&mut registry)), ["rooms set"]);
    // The re-read, made after the lag, knows better, and is not refused for the rooms set meanwhile.
    registry.resettled(ADA, lag, vec![], Cursor(10), Role::Member, None);
    confirm_all(&mut registry);
    assert!(deliveries(&route(&mut registry, &pin(8, GENERAL), "pin")).is_empty());
    assert_eq!(
        registry
            .topics
            .get(&Topic::Conversation(GENERAL))
            .map(|f| f.conns.len()),
        None
    );
}

#[tokio::test(start_paused = true)]
async fn a_catch_up_waits_only_for_the_follows_asked_for_before_it() {
    let mut registry = TestRegistry::new(GRACE);
    connect(&mut registry, 1, ADA, &[GENERAL]);
    let lobby = ConversationId(102);
    let joined = |cursor, room| event(cursor, room, EventKind::MemberJoined { user_id: ADA });
    let first = follows(&route(&mut registry, &joined(5, RANDOM), "joined"));
    let second = follows(&route(&mut registry, &joined(6, lobby), "joined"));
    let ([(random, t1)], [(lobby_topic, t2)]) = (&first[..], &second[..]) else {
        panic!("one follow each: {first:?} {second:?}");
    };
    registry.followed(*random, *t1, true);
    assert_eq!(
        catch_ups(&registry.take_effects()),
        [1],
        "the first join's catch-up does not wait for the second room"
    );
    // Still held: the second catch-up is to come.
    assert!(deliveries(&route(&mut registry, &pin(7, GENERAL), "pin")).is_empty());
    registry.followed(*lobby_topic, *t2, true);
    assert_eq!(catch_ups(&registry.take_effects()), [1]);
    assert_eq!(
        deliveries(&route(&mut registry, &pin(8, GENERAL), "pin"))[0].0,
        [1]
    );
}

#[tokio::test(start_paused = true)]
async fn a_new_connection_gets_no_durable_event_until_its_rooms_are_set() {
    let mut registry = TestRegistry::new(GRACE);
    arrive(&mut registry, 1, ADA);
    let mine = Signal::Event(Event {
        cursor: Cursor(3),
        conversation_id: GENERAL,
        kind: EventKind::ReadUpdated {
            user_id: ADA,
            message_id: MessageId(1),
        },
        audience: Audience::User(ADA),
        at: Millis(0),
    });
    // Its writer starts with a catch-up that will read this one.
    assert!(deliveries(&route(&mut registry, &mine, "read")).is_empty());
    registry.set_rooms(1, vec![GENERAL], Cursor(2), "rooms set");
    assert_eq!(replies(&confirm_all(&mut registry)), ["rooms set"]);
    assert_eq!(
        deliveries(&route(&mut registry, &pin(4, GENERAL), "pin"))[0].0,
        [1]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_follow_lets_its_waiters_go_on_and_catch_up() {
    let mut registry = TestRegistry::new(GRACE);
    connect(&mut registry, 1, ADA, &[]);
    registry.watch(1, vec![BOB], "watching");
    let [(topic, ticket)] = follows(&registry.take_effects())[..] else {
        panic!("one follow");
    };
    registry.followed(topic, ticket, false);
    let effects = registry.take_effects();
    assert_eq!(replies(&effects), ["watching"]);
    assert_eq!(catch_ups(&effects), [1]);
}
