//! The Store contract suite: one list of checks (`contract_suite`), run against every backend.
//!
//! A backend joins by adding a module that defines `async fn fresh() -> Option<(Guard, Arc<dyn Store>)>`, an
//! empty store plus whatever keeps it alive (a temporary directory, a scratch schema), or `None` when the
//! backend's server is not there and the run does not require it, and invoking `store_contract_tests!()`. Checks specific to one backend (durability across a reopen, say) live in that
//! backend's module.

mod contract_suite;

/// Generates one `#[tokio::test]` per contract check, each on a `fresh()` store of the calling module.
/// Checks that spawn tasks take the store as `Arc<dyn Store>` (`shared`), the rest as `&dyn Store`.
macro_rules! store_contract_tests {
    () => {
        store_contract_tests! {
            borrowed: [
                users::create_user_creates_org_only_when_allowed,
                users::create_user_refuses_taken_email_and_username,
                users::credentials_are_found_by_email_and_username,
                users::create_user_joins_open_orgs_and_by_invitation,
                users::sessions_live_until_deleted,
                users::sessions_keep_their_times_and_end_together,
                users::search_users_matches_prefixes_case_insensitively,
                users::search_users_takes_wildcards_literally,
                users::search_users_folds_case_beyond_ascii,
                users::users_are_found_in_one_lookup,
                users::contacts_are_a_set,
                users::rename_and_avatar_update_the_user,
                users::touch_last_seen_never_goes_backwards,
                conversations::create_conversation_with_members,
                conversations::channel_handles_are_unique_per_org,
                conversations::direct_message_is_one_per_pair,
                conversations::add_members_skips_existing_members,
                conversations::remove_member_only_removes_members,
                conversations::conversations_of_orders_by_recent_activity,
                conversations::conversations_of_counts_unread_and_shows_last_message,
                conversations::public_channels_lists_open_channels_of_the_org,
                conversations::update_membership_patches_only_given_fields,
                conversations::creation_announces_created_then_each_member_joined,
                conversations::member_conversations_snapshot_lists_the_users_conversations,
                messages::queue_message_stores_it_with_an_event,
                messages::messages_are_stored_in_the_order_queued,
                messages::same_nonce_is_stored_once,
                messages::retries_queued_among_other_sends_answer_the_earlier_message,
                messages::messages_pages_have_correct_bounds_and_limits,
                messages::hidden_messages_are_hidden_for_that_viewer_only,
                messages::reactions_are_grouped_by_emoji,
                messages::advance_read_only_moves_forward,
                messages::erase_message_leaves_a_tombstone,
                messages::search_messages_only_in_member_conversations,
                messages::search_messages_takes_query_as_plain_words,
                events::events_after_replays_own_conversations_in_order,
                events::events_after_shows_hidden_events_to_their_user_only,
                events::events_after_includes_own_leave_but_nothing_later,
                events::erased_message_replays_as_tombstone,
                events::latest_cursor_is_the_newest_event,
                events::private_read_marker_replays_to_its_reader_only,
                events::oldest_and_latest_cursor_start_at_zero_and_move,
                events::prune_events_drops_old_events_but_keeps_the_newest,
                events::event_at_is_the_time_of_the_write,
                feed::commit_feed_announces_what_each_write_returned,
                notify::subscriptions_are_replaced_limited_and_owned,
                notify::quiet_hours_and_previews_are_kept,
                notify::shards_are_shared_and_taken_over_after_the_lease,
                notify::log_after_lists_sends_and_reads,
                notify::sent_message_names_who_might_be_told,
                notify::decide_records_pending_and_is_fenced,
                notify::dispatch_queues_deliveries_that_settle,
                notify::ending_sessions_removes_their_subscriptions,
                notify::erasing_a_message_drops_its_notifications,
                notify::badge_counts_unread_conversations_and_mentions,
                notify::wrote_since_finds_the_users_own_messages,
                notify::pruning_spares_what_the_notifier_has_yet_to_read,
                admin::the_first_person_of_an_org_owns_it_and_it_keeps_an_owner,
                admin::deactivation_ends_sessions_and_subscriptions_and_hides_the_person,
                admin::people_are_paged_and_searched,
                admin::sessions_are_listed_and_a_password_change_keeps_one,
                admin::the_audit_log_is_filtered_and_paged_both_ways,
                retention::the_purge_goes_in_batches_and_keeps_threads_that_go_on,
                sso::flows_finish_once_and_identities_make_one_account,
            ],
            shared: [
                messages::message_ids_grow_in_commit_order_under_concurrency,
                messages::concurrent_retries_store_one_message,
                messages::failed_writes_leave_the_writes_beside_them,
                events::events_after_far_behind_replays_the_same,
                feed::commit_feed_orders_concurrent_commits,
                notify::concurrent_claims_never_share_a_shard,
            ],
        }
    };
    (
        borrowed: [$($module:ident :: $check:ident),* $(,)?],
        shared: [$($shared_module:ident :: $shared_check:ident),* $(,)?] $(,)?
    ) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let Some((_guard, store)) = fresh().await else {
                    return;
                };
                crate::contract_suite::$module::$check(store.as_ref()).await;
            }
        )*
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $shared_check() {
                let Some((_guard, store)) = fresh().await else {
                    return;
                };
                crate::contract_suite::$shared_module::$shared_check(store).await;
            }
        )*
    };
}

mod sqlite {
    use std::path::Path;
    use std::sync::Arc;

    use parley_core::model::Page;
    use parley_core::store::{NewMessage, Sent, Store};
    use parley_store::SqliteStore;
    use tempfile::TempDir;

    use crate::contract_suite::{at, group, token, user};

    fn open(path: &Path) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(path).expect("open the SQLite store"))
    }

    /// An empty store in a temporary directory, removed when the guard drops.
    async fn fresh() -> Option<(TempDir, Arc<dyn Store>)> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = open(&dir.path().join("parley.db"));
        Some((dir, store))
    }

    store_contract_tests!();

    /// Everything written is there after the store is dropped and opened again, nonces included.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn data_survives_a_reopen() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("parley.db");
        let send = |store: Arc<dyn Store>, conversation_id, author_id, text: &'static str| async move {
            store
                .queue_message(NewMessage {
                    conversation_id,
                    author_id,
                    text,
                    mentions: &Default::default(),
                    thread_root_id: None,
                    also_to_conversation: false,
                    quote: None,
                    attachments: &[],
                    nonce: Some("the-nonce"),
                    now: at(1),
                })
                .await
                .expect("queue_message")
        };

        let store = open(&path);
        let ada = user(store.as_ref(), "acme", "ada").await;
        store
            .create_session(ada.id, token(1), None, at(0))
            .await
            .expect("create_session");
        let group = group(store.as_ref(), &ada, &[]).await;
        let Sent::Stored(message, _) = send(Arc::clone(&store), group.id, ada.id, "kept").await
        else {
            panic!("the first send is stored");
        };
        let cursor = store.latest_cursor().await.expect("latest_cursor");
        drop(store);

        let store = open(&path);
        assert_eq!(store.user(ada.id).await.expect("user"), Some(ada.clone()));
        let session = store.session(token(1)).await.expect("session");
        assert_eq!(session.map(|s| s.user.id), Some(ada.id));
        assert_eq!(
            store.conversation(group.id).await.expect("conversation"),
            Some(group.clone())
        );
        let history = store
            .messages(group.id, ada.id, Page::Latest { limit: 10 })
            .await
            .expect("messages");
        assert_eq!(history, vec![message.clone()]);
        assert_eq!(store.latest_cursor().await.expect("latest_cursor"), cursor);

        match send(Arc::clone(&store), group.id, ada.id, "kept, retried").await {
            Sent::Duplicate(duplicate) => assert_eq!(duplicate, message),
            stored @ Sent::Stored(..) => panic!("the nonce was forgotten: {stored:?}"),
        }
        let later = crate::contract_suite::send(store.as_ref(), group.id, &ada, "later").await;
        assert!(later.id > message.id, "ids keep growing across a reopen");
        let found = store
            .search_messages(ada.id, "kept", None, 10)
            .await
            .expect("search_messages");
        assert_eq!(found, vec![message]);
    }

    /// The search index is brought up to date after the commits it follows, not in them, yet it catches up
    /// on its own within a moment, with no search to ask for it (a search asks, and finds a message as soon
    /// as its send answered: the contract's search checks).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_search_index_catches_up_without_a_search() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("parley.db");
        let store = open(&path);
        let ada = user(store.as_ref(), "acme", "ada").await;
        let group = group(store.as_ref(), &ada, &[]).await;
        let mut last = None;
        for text in ["one", "two", "three"] {
            last = Some(
                crate::contract_suite::send(store.as_ref(), group.id, &ada, text)
                    .await
                    .id,
            );
        }
        let last = last.expect("sent").0;
        let raw = rusqlite::Connection::open(&path).expect("open the database beside the store");
        raw.busy_timeout(std::time::Duration::from_secs(5))
            .expect("busy_timeout");
        let indexed = || -> i64 {
            raw.query_row("SELECT message_id FROM search_indexed", [], |row| {
                row.get(0)
            })
            .expect("search_indexed")
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while indexed() < last {
            assert!(
                std::time::Instant::now() < deadline,
                "the index stayed at {} below {last}",
                indexed()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let words: i64 = raw
            .query_row(
                "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'three'",
                [],
                |row| row.get(0),
            )
            .expect("match");
        assert_eq!(words, 1, "the message's words are in the index");
    }

    /// Checkpoints run beside the writer, yet the log still starts over under steady writes instead of
    /// growing without end: once it is long, the writer copies the last commits itself and the next
    /// transaction begins the log again. Writers that never pause write far more than the restart length.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_log_starts_over_under_steady_writes() {
        const WRITERS: usize = 32;
        const EACH: usize = 800;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("parley.db");
        let store = open(&path);
        let ada = user(store.as_ref(), "acme", "ada").await;
        let group = group(store.as_ref(), &ada, &[]).await;
        // Each message's text fills most of a 4 KiB page, so the log takes at least 100 MiB in all: a log
        // that never started over would be that long.
        let text = "x".repeat(3_500);
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (store, text, ada, group_id) =
                    (Arc::clone(&store), text.clone(), ada.clone(), group.id);
                tokio::spawn(async move {
                    for n in 0..EACH {
                        let text = format!("{writer} {n} {text}");
                        crate::contract_suite::send(store.as_ref(), group_id, &ada, &text).await;
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.expect("task");
        }
        let log = std::fs::metadata(dir.path().join("parley.db-wal"))
            .expect("the log")
            .len();
        assert!(
            log < 64 * 1024 * 1024,
            "the log is {} MiB: it did not start over",
            log / 1024 / 1024
        );
    }

    /// Deleting for everyone erases the text from storage: once the erase is answered, no word of the
    /// erased message is left in the database file (the full-text index included) nor in its write-ahead
    /// log, which held every version of the pages it was written to. Nothing else checkpoints here: the
    /// store does it for the erase.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn erased_text_is_gone_from_the_database_file_and_its_log() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("parley.db");
        let store = open(&path);
        let ada = user(store.as_ref(), "acme", "ada").await;
        let group = group(store.as_ref(), &ada, &[]).await;
        let send = |text| crate::contract_suite::send(store.as_ref(), group.id, &ada, text);
        let erased = send("zyxwvutsrq qwertyuiop").await;
        // Edited once: its first text is an earlier version, which the erase must take too.
        store
            .edit_message(
                group.id,
                erased.id,
                "plmoknijbu edited",
                None,
                parley_core::model::Millis(2),
            )
            .await
            .expect("edit_message")
            .expect("edited");
        send("kept mnbvcxzlkj").await;
        for filler in ["filler one", "filler two", "filler three"] {
            send(filler).await;
        }
        let log_path = dir.path().join("parley.db-wal");
        let before = std::fs::read(&log_path).expect("the log");
        let in_file = |bytes: &[u8], word: &str| {
            bytes
                .windows(word.len())
                .filter(|w| *w == word.as_bytes())
                .count()
        };
        assert!(
            in_file(&before, "zyxwvutsrq") > 0
                || in_file(&std::fs::read(&path).expect("db"), "zyxwvutsrq") > 0,
            "the scan sees the text before the erase"
        );
        store
            .erase_message(group.id, erased.id, false)
            .await
            .expect("erase_message")
            .expect("erased");

        let database = std::fs::read(&path).expect("read the database file");
        let log = std::fs::read(&log_path).unwrap_or_default();
        assert!(
            in_file(&database, "mnbvcxzlkj") + in_file(&log, "mnbvcxzlkj") > 0,
            "the scan sees text that was kept"
        );
        for word in ["zyxwvutsrq", "qwertyuiop", "plmoknijbu"] {
            assert_eq!(
                in_file(&database, word),
                0,
                "{word:?}, from an erased message, is still in the database file"
            );
            assert_eq!(
                in_file(&log, word),
                0,
                "{word:?}, from an erased message, is still in the write-ahead log"
            );
        }
    }
}

/// The same checks on PostgreSQL (`DATABASE_URL`, by default the machine's `test` database), each in a
/// schema of its own that is dropped afterwards. Without a server the checks are skipped, unless
/// `REQUIRE_SERVICES=1` (as in CI) makes that a failure.
mod postgres {
    use std::collections::BTreeSet;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use parley_core::model::{Event, EventKind, Millis};
    use parley_core::store::Store;
    use parley_core::{Cursor, MessageId};
    use parley_store::PgStore;

    use crate::contract_suite::{group, send, user};

    /// Drops its schema when the check ends.
    struct Scratch {
        admin_url: String,
        schema: String,
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let (url, schema) = (self.admin_url.clone(), self.schema.clone());
            // Drop runs inside the check's runtime, which cannot block on itself: a thread of its own does.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async {
                    let client = connect(&url).await?;
                    client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .await
                })
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("could not drop schema {}", self.schema);
            }
        }
    }

    async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    fn database_url() -> String {
        std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
    }

    /// An empty scratch schema, and the URL of a store in it.
    async fn scratch() -> Option<(Scratch, String)> {
        let admin_url = database_url();
        let client = match connect(&admin_url).await {
            Ok(client) => client,
            Err(error) if std::env::var("REQUIRE_SERVICES").as_deref() != Ok("1") => {
                eprintln!("skipped: no PostgreSQL at {admin_url} ({error})");
                return None;
            }
            Err(error) => panic!("PostgreSQL at {admin_url} is required: {error}"),
        };
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).expect("random bytes");
        let schema = format!("parley_test_{}", u64::from_le_bytes(random));
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create a scratch schema");
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{separator}options=-csearch_path%3D{schema}");
        Some((Scratch { admin_url, schema }, url))
    }

    async fn open(url: &str) -> Arc<dyn Store> {
        Arc::new(PgStore::open(url).await.expect("open the PostgreSQL store"))
    }

    async fn fresh() -> Option<(Scratch, Arc<dyn Store>)> {
        let (scratch, url) = scratch().await?;
        Some((scratch, open(&url).await))
    }

    store_contract_tests!();

    /// A shard's ids count by `ID_STEP` from its number, above `ID_BASE`, and so do its cursors; the
    /// directory places an organization once, claims an address once, binds an organization's first id
    /// only, and lists the claims nobody settled.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shards_take_their_own_ids_and_the_directory_keeps_what_it_was_told() {
        use parley_core::OrgId;
        use parley_core::store::{Directory, ID_BASE, ID_STEP};
        use parley_store::PgDirectory;

        let (Some((_first, first_url)), Some((_third, third_url))) =
            (scratch().await, scratch().await)
        else {
            return;
        };
        // Made before it was a shard, then opened as shard 0: what it made keeps its ids, what it makes
        // next is laid out.
        let before = open(&first_url).await;
        let old = user(before.as_ref(), "acme", "old").await;
        drop(before);
        let first: Arc<dyn Store> = Arc::new(
            PgStore::open_shard(&first_url, &[], Some(0))
                .await
                .expect("shard 0"),
        );
        let third: Arc<dyn Store> = Arc::new(
            PgStore::open_shard(&third_url, &[], Some(2))
                .await
                .expect("shard 2"),
        );
        assert_eq!(first.cursor_step(), ID_STEP);
        for (store, number) in [(&first, 0), (&third, 2)] {
            let ada = user(store.as_ref(), "globex", "ada").await;
            let bob = user(store.as_ref(), "globex", "bob").await;
            let group = group(store.as_ref(), &ada, &[&bob]).await;
            let sent = send(store.as_ref(), group.id, &ada, "hi").await;
            let cursor = store.latest_cursor().await.expect("latest").0;
            for id in [
                ada.id.0,
                bob.id.0,
                ada.org_id.0,
                group.id.0,
                sent.id.0,
                cursor,
            ] {
                assert!(id >= ID_BASE, "{id} is a shard's");
                assert_eq!(id.rem_euclid(ID_STEP), number, "{id} is shard {number}'s");
            }
            assert_eq!(bob.id.0 - ada.id.0, ID_STEP);
            // The notifier's follower crosses the jump to 2^40 in one read, not in windows of cursors.
            let (_, covered) = store.log_after(Cursor(0), 100).await.expect("log_after");
            assert!(covered.0 >= cursor, "{covered:?} stops short of {cursor}");
        }
        assert!(old.id.0 < ID_BASE);

        let limit = std::time::Duration::from_secs(10);
        let directory = PgDirectory::open(&first_url, 3, limit)
            .await
            .expect("directory");
        // What shard 0 held before is in the directory.
        assert_eq!(
            directory.shard_of_handle("acme").await.expect("find"),
            Some(0)
        );
        assert_eq!(
            directory.shard_of_org(old.org_id).await.expect("find"),
            Some(0)
        );
        let old_email = "old@acme.example".to_owned();
        assert_eq!(
            directory.shard_of_email(&old_email).await.expect("find"),
            Some(0)
        );
        assert!(
            !directory
                .claim_email(&old_email, "initech", Millis(1))
                .await
                .expect("claim")
        );

        // Shard 0 has acme now; 1 and 2 are emptiest, the lower first.
        assert_eq!(directory.emptiest().await.expect("emptiest"), 1);
        assert_eq!(directory.place("initech", 1).await.expect("place"), 1);
        assert_eq!(
            directory.place("initech", 2).await.expect("place"),
            1,
            "placed once"
        );
        assert!(
            directory
                .claim_email("ann@initech.example", "initech", Millis(5))
                .await
                .expect("claim")
        );
        assert!(
            !directory
                .claim_email("ann@initech.example", "umbrella", Millis(6))
                .await
                .expect("claim")
        );
        assert_eq!(
            directory
                .shard_of_email("ann@initech.example")
                .await
                .expect("find"),
            None,
            "a claim is no account yet"
        );
        let unsettled = directory
            .unsettled_claims(1, Millis(10))
            .await
            .expect("unsettled");
        assert_eq!(
            unsettled,
            vec![("ann@initech.example".to_owned(), "initech".to_owned())]
        );
        assert!(
            directory
                .unsettled_claims(1, Millis(5))
                .await
                .expect("unsettled")
                .is_empty()
        );
        assert!(
            directory
                .unsettled_claims(2, Millis(10))
                .await
                .expect("unsettled")
                .is_empty()
        );
        let initech = OrgId(ID_BASE + 1);
        directory
            .bind("ann@initech.example", "initech", initech)
            .await
            .expect("bind");
        assert_eq!(
            directory
                .shard_of_email("ann@initech.example")
                .await
                .expect("find"),
            Some(1)
        );
        assert_eq!(
            directory.shard_of_org(initech).await.expect("find"),
            Some(1)
        );
        // A second id for the handle does not take its place.
        directory
            .bind("ann@initech.example", "initech", OrgId(ID_BASE + 2049))
            .await
            .expect("bind");
        assert_eq!(
            directory.shard_of_org(initech).await.expect("find"),
            Some(1)
        );
        assert!(
            directory
                .unsettled_claims(1, Millis(10))
                .await
                .expect("unsettled")
                .is_empty()
        );
        assert_eq!(directory.emptiest().await.expect("emptiest"), 2);
        // A released claim frees the address.
        assert!(
            directory
                .claim_email("cy@initech.example", "initech", Millis(7))
                .await
                .expect("claim")
        );
        directory
            .release_email("cy@initech.example")
            .await
            .expect("release");
        assert!(
            directory
                .claim_email("cy@initech.example", "initech", Millis(8))
                .await
                .expect("claim")
        );
        // An id the directory does not know: one made on a shard says which; others, nothing.
        assert_eq!(
            directory
                .shard_of_org(OrgId(ID_BASE + 2 + ID_STEP * 9))
                .await
                .expect("find"),
            Some(2)
        );
        assert_eq!(
            directory
                .shard_of_org(OrgId(ID_BASE + 5))
                .await
                .expect("find"),
            None
        );
        assert_eq!(directory.shard_of_org(OrgId(77)).await.expect("find"), None);
    }

    /// A node that died between its commit and its publish leaves the `published` row behind the log; the
    /// next turn, on any node, publishes those events first, naming the cursor they come after.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_next_turn_publishes_what_a_dead_writer_did_not() {
        let Some((scratch, url)) = scratch().await else {
            return;
        };
        let dead = open(&url).await;
        let ada = user(dead.as_ref(), "acme", "ada").await;
        let group = group(dead.as_ref(), &ada, &[]).await;
        let before = dead.latest_cursor().await.expect("latest_cursor");
        let lost = send(dead.as_ref(), group.id, &ada, "committed, never published").await;
        drop(dead);
        // As if the node had died right after its commit: the row still names the cursor before it. The
        // dropped store's writer may still record its publish a moment later, so the row is set back until
        // it stays back.
        let admin = connect(&scratch.admin_url).await.expect("connect");
        for _ in 0..50 {
            admin
                .execute(
                    &format!("UPDATE {}.published SET cursor = $1", scratch.schema),
                    &[&before.0],
                )
                .await
                .expect("set published back");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let row = admin
                .query_one(
                    &format!("SELECT cursor FROM {}.published", scratch.schema),
                    &[],
                )
                .await
                .expect("read published");
            if row.get::<_, i64>(0) == before.0 {
                break;
            }
        }

        let next = open(&url).await;
        let mut feed = next.take_commit_feed().expect("the feed");
        // The turn waits for its republished commit to be taken, so the send runs beside the taking.
        let sending = {
            let (next, ada) = (Arc::clone(&next), ada.clone());
            tokio::spawn(
                async move { send(next.as_ref(), group.id, &ada, "the next turn's own").await },
            )
        };
        let first = feed.recv().await.expect("a commit");
        assert_eq!(
            first.after, before,
            "published again after the cursor the row names"
        );
        let texts: Vec<Option<String>> = first
            .events
            .iter()
            .map(|e| match &e.kind {
                EventKind::MessageCreated(m) => m.text.clone(),
                _ => None,
            })
            .collect();
        assert_eq!(
            texts,
            vec![lost.text.clone()],
            "the dead writer's event, rebuilt from the log"
        );
        let republished = first.events[0].cursor;
        // Taken: dropping the commit answers it, and the turn goes on.
        drop(first);
        let later = sending.await.expect("the send");
        let second = feed.recv().await.expect("the turn's own commit");
        assert_eq!(second.after, republished);
        assert!(matches!(&second.events[0].kind, EventKind::MessageCreated(m) if m.id == later.id));
    }

    /// Three stores on one database are three nodes. All of them write to one conversation at once, while
    /// a reader resumes again and again from the last cursor it saw. Every commit, on whichever node, must
    /// come `after` exactly the commit before it (so the bus carries one order), message ids must grow with
    /// cursors, and the reader must end with every event once, in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn three_nodes_commit_in_one_order() {
        const NODES: usize = 3;
        const WRITERS: usize = 4;
        const EACH: usize = 100;
        let Some((_scratch, url)) = scratch().await else {
            return;
        };
        let mut nodes = Vec::new();
        for _ in 0..NODES {
            nodes.push(open(&url).await);
        }
        let ada = user(nodes[0].as_ref(), "acme", "ada").await;
        let bob = user(nodes[1].as_ref(), "acme", "bob").await;
        let group = group(nodes[2].as_ref(), &ada, &[&bob]).await;
        let start = nodes[0].latest_cursor().await.expect("latest_cursor");

        // Each node's relay: takes its commits and lets its writer go on (dropping a commit answers it).
        let relays: Vec<_> = nodes
            .iter()
            .map(|node| {
                let mut feed = node.take_commit_feed().expect("the feed");
                tokio::spawn(async move {
                    let mut commits = Vec::new();
                    while let Some(commit) = feed.recv().await {
                        let cursors: Vec<Cursor> = commit.events.iter().map(|e| e.cursor).collect();
                        commits.push((commit.after, cursors));
                    }
                    commits
                })
            })
            .collect();
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (node, done) = (Arc::clone(&nodes[1]), Arc::clone(&done));
            tokio::spawn(async move {
                let mut seen: Vec<Event> = Vec::new();
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let from = seen.last().map_or(start, |e| e.cursor);
                    let page = node
                        .events_after(bob.id, from, 50)
                        .await
                        .expect("events_after");
                    let empty = page.is_empty();
                    seen.extend(page);
                    if finished && empty {
                        return seen;
                    }
                }
            })
        };
        let writers: Vec<_> = (0..NODES * WRITERS)
            .map(|n| {
                let (node, ada, group_id) = (Arc::clone(&nodes[n % NODES]), ada.clone(), group.id);
                tokio::spawn(async move {
                    for i in 0..EACH {
                        let text = format!("node {} writer {n} message {i}", n % NODES);
                        send(node.as_ref(), group_id, &ada, &text).await;
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.expect("a writer");
        }
        done.store(true, Ordering::Release);
        let seen = reader.await.expect("the reader");
        drop(nodes);

        let mut commits = Vec::new();
        for relay in relays {
            commits.extend(relay.await.expect("a relay"));
        }
        // The group's creation was committed before the relays started: its commit waited in the feed.
        commits.retain(|(after, _)| *after >= start);
        commits.sort_by_key(|(after, _)| *after);
        let mut last = start;
        for (after, cursors) in &commits {
            assert_eq!(
                *after, last,
                "each commit comes after the one before, whatever its node"
            );
            assert!(
                cursors.windows(2).all(|w| w[0] < w[1]),
                "a commit's events are in order"
            );
            last = *cursors.last().expect("a commit has events");
        }
        let announced: usize = commits.iter().map(|(_, cursors)| cursors.len()).sum();
        assert_eq!(announced, NODES * WRITERS * EACH);

        assert_eq!(
            seen.len(),
            NODES * WRITERS * EACH,
            "the reader saw each message once"
        );
        assert!(
            seen.windows(2).all(|w| w[0].cursor < w[1].cursor),
            "in cursor order"
        );
        let ids: Vec<MessageId> = seen
            .iter()
            .map(|e| match &e.kind {
                EventKind::MessageCreated(m) => m.id,
                other => panic!("only messages were sent: {other:?}"),
            })
            .collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "message ids grow in commit order"
        );
        let distinct: BTreeSet<&str> = seen
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::MessageCreated(m) => m.text.as_deref(),
                _ => None,
            })
            .collect();
        assert_eq!(distinct.len(), seen.len(), "no message twice");

        // Resuming from any cursor gives exactly what came after it.
        let reopened = open(&url).await;
        for k in (0..seen.len()).step_by(seen.len() / 25 + 1) {
            let from = seen[k].cursor;
            let replay = reopened
                .events_after(bob.id, from, 10_000)
                .await
                .expect("events_after");
            assert_eq!(replay, seen[k + 1..], "resuming after {from}");
        }
    }

    /// A message's words enter the index after its commit, outside the turn (`postgres/search_index.rs`),
    /// yet a search finds it as soon as its send has answered; an edit or an erase, before the indexer
    /// reached the message or after, leaves the index holding the current text only, and none of an
    /// erased one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_search_index_follows_commits_edits_and_erases() {
        let Some((scratch, url)) = scratch().await else {
            return;
        };
        let store = open(&url).await;
        let ada = user(store.as_ref(), "acme", "ada").await;
        let group = group(store.as_ref(), &ada, &[]).await;
        let admin = connect(&scratch.admin_url).await.expect("connect");
        let schema = &scratch.schema;
        let entry = async |id: MessageId| -> Option<String> {
            admin
                .query_opt(
                    &format!(
                        "SELECT search::text FROM {schema}.message_search WHERE message_id = $1"
                    ),
                    &[&id.0],
                )
                .await
                .expect("read an entry")
                .map(|row| row.get(0))
        };
        let found = async |words: &str| -> Vec<MessageId> {
            store
                .search_messages(ada.id, words, None, 10)
                .await
                .expect("search_messages")
                .iter()
                .map(|m| m.id)
                .collect()
        };
        let edit = async |id: MessageId, text: &str| {
            store
                .edit_message(group.id, id, text, None, Millis(2))
                .await
                .expect("edit_message")
                .expect("edited");
        };
        let erase = async |id: MessageId| {
            store
                .erase_message(group.id, id, false)
                .await
                .expect("erase_message")
                .expect("erased");
        };

        // Edited and erased before the indexer comes: the test holds the indexer's mark meanwhile.
        let mut holder = connect(&scratch.admin_url).await.expect("connect");
        let hold = holder.transaction().await.expect("begin");
        hold.execute(
            &format!("SELECT 1 FROM {schema}.search_indexed FOR UPDATE"),
            &[],
        )
        .await
        .expect("hold the mark");
        let kept = send(store.as_ref(), group.id, &ada, "alpha original")
            .await
            .id;
        let edited = send(store.as_ref(), group.id, &ada, "bravo original")
            .await
            .id;
        let erased = send(store.as_ref(), group.id, &ada, "charlie original")
            .await
            .id;
        edit(edited, "bravo changed").await;
        erase(erased).await;
        let expected = [
            ("original", vec![kept]),
            ("alpha", vec![kept]),
            ("changed", vec![edited]),
            ("bravo", vec![edited]),
            ("charlie", vec![]),
        ];
        for (words, ids) in &expected {
            assert_eq!(&found(words).await, ids, "{words:?} before the indexer");
        }
        let mark: i64 = admin
            .query_one(
                &format!("SELECT message_id FROM {schema}.search_indexed"),
                &[],
            )
            .await
            .expect("read the mark")
            .get(0);
        assert!(mark < kept.0, "the indexer waited for the mark");
        hold.commit().await.expect("let the mark go");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let mark: i64 = admin
                .query_one(
                    &format!("SELECT message_id FROM {schema}.search_indexed"),
                    &[],
                )
                .await
                .expect("read the mark")
                .get(0);
            if mark >= erased.0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the indexer stayed at {mark}, below {erased}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        for (words, ids) in &expected {
            assert_eq!(&found(words).await, ids, "{words:?} once indexed");
        }
        assert_eq!(entry(kept).await.as_deref(), Some("'alpha':1 'original':2"));
        assert_eq!(
            entry(edited).await.as_deref(),
            Some("'bravo':1 'changed':2")
        );
        assert_eq!(
            entry(erased).await.as_deref(),
            Some(""),
            "an erased message keeps no words"
        );

        // Edited and erased once indexed.
        edit(kept, "alpha revised").await;
        erase(edited).await;
        assert_eq!(entry(kept).await.as_deref(), Some("'alpha':1 'revised':2"));
        assert_eq!(entry(edited).await.as_deref(), Some(""));
        assert_eq!(found("original").await, vec![]);
        assert_eq!(found("revised").await, vec![kept]);
        assert_eq!(found("bravo").await, vec![]);
    }
}
