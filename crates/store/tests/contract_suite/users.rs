//! Accounts: sign-up and organizations, credentials, sessions, people search, contacts, profile updates.

use parley_core::UserId;
use parley_core::store::{NewInvite, NewUser, OrgPolicy, Store, StoreError};

use super::{at, sorted, token, user, user_named};

fn new_user<'a>(org: &'a str, policy: OrgPolicy, username: &'a str, email: &'a str) -> NewUser<'a> {
    NewUser {
        org_handle: org,
        org_policy: policy,
        username,
        email,
        name: "Some Body",
        password_hash: "$argon2id$hash",
        now: at(7),
    }
}

/// `JoinOrCreate` creates the organization or joins it; `JoinOpen` refuses an unknown one.
pub async fn create_user_creates_org_only_when_allowed(store: &dyn Store) {
    let refused = store
        .create_user(new_user(
            "acme",
            OrgPolicy::JoinOpen,
            "ada",
            "ada@acme.example",
        ))
        .await;
    assert!(
        matches!(refused, Err(StoreError::NotFound("organization"))),
        "JoinOpen into a missing org: {refused:?}"
    );
    assert!(
        store
            .credentials_by_email("ada@acme.example")
            .await
            .expect("credentials_by_email")
            .is_none(),
        "a refused sign-up stored nothing"
    );

    let ada = store
        .create_user(new_user(
            "acme",
            OrgPolicy::JoinOrCreate,
            "ada",
            "ada@acme.example",
        ))
        .await
        .expect("JoinOrCreate creates the org");
    assert_eq!(ada.org_handle, "acme");
    assert_eq!(ada.username, "ada");
    assert_eq!(ada.email, "ada@acme.example");
    assert_eq!(ada.name, "Some Body");
    assert_eq!(ada.created_at, at(7));
    assert_eq!(ada.avatar_version, None);
    assert_eq!(ada.last_seen, None);
    assert_eq!(store.user(ada.id).await.expect("user"), Some(ada.clone()));

    let bob = store
        .create_user(new_user(
            "acme",
            OrgPolicy::JoinOrCreate,
            "bob",
            "bob@acme.example",
        ))
        .await
        .expect("JoinOrCreate joins an existing org");
    assert_eq!(bob.org_id, ada.org_id, "same org handle, same org");
    assert_ne!(bob.id, ada.id);

    let carol = store
        .create_user(new_user(
            "globex",
            OrgPolicy::JoinOrCreate,
            "carol",
            "carol@globex.example",
        ))
        .await
        .expect("a second org");
    assert_ne!(carol.org_id, ada.org_id, "another handle, another org");
    assert_eq!(carol.org_handle, "globex");
    assert_eq!(store.user(UserId(i64::MAX)).await.expect("user"), None);
}

/// Emails are unique server-wide, usernames within an org; a refused sign-up leaves nothing behind.
pub async fn create_user_refuses_taken_email_and_username(store: &dyn Store) {
    let ada = store
        .create_user(new_user(
            "acme",
            OrgPolicy::JoinOrCreate,
            "ada",
            "ada@example.com",
        ))
        .await
        .expect("first user");

    let same_email = store
        .create_user(new_user(
            "acme",
            OrgPolicy::JoinOrCreate,
            "ada2",
            "ada@example.com",
        ))
        .await;
    assert!(
        matches!(same_email, Err(StoreError::Conflict("email"))),
        "same email, same org: {same_email:?}"
    );
    // In a new org too, and the org the refused sign-up would have created is not left behind.
    let same_email_elsewhere = store
        .create_user(new_user(
            "initech",
            OrgPolicy::JoinOrCreate,
            "ada",
            "ada@example.com",
        ))
        .await;
    assert!(
        matches!(same_email_elsewhere, Err(StoreError::Conflict("email"))),
        "same email, other org: {same_email_elsewhere:?}"
    );
    let org_left_behind = store
        .create_user(new_user(
            "initech",
            OrgPolicy::JoinOpen,
            "zed",
            "zed@example.com",
        ))
        .await;
    assert!(
        matches!(org_left_behind, Err(StoreError::NotFound("organization"))),
        "the refused sign-up must not have created its org: {org_left_behind:?}"
    );

    let same_username = store
        .create_user(new_user(
            "acme",
            OrgPolicy::JoinOrCreate,
            "ada",
            "other@example.com",
        ))
        .await;
    assert!(
        matches!(same_username, Err(StoreError::Conflict("username"))),
        "same username, same org: {same_username:?}"
    );
    assert!(
        store
            .credentials_by_email("other@example.com")
            .await
            .expect("credentials_by_email")
            .is_none(),
        "a refused sign-up stored nothing"
    );

    let namesake = store
        .create_user(new_user(
            "globex",
            OrgPolicy::JoinOrCreate,
            "ada",
            "ada@globex.example",
        ))
        .await
        .expect("the same username in another org is fine");
    assert_ne!(namesake.id, ada.id);
    assert_ne!(namesake.org_id, ada.org_id);
}

/// Logins find the account by email, or by org handle and username.
pub async fn credentials_are_found_by_email_and_username(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let ada_elsewhere = user(store, "globex", "ada").await;

    let by_email = store
        .credentials_by_email("ada@acme.example")
        .await
        .expect("credentials_by_email")
        .expect("ada's credentials");
    assert_eq!(by_email.user_id, ada.id);
    assert_eq!(by_email.password_hash, "$argon2id$test");

    let by_username = store
        .credentials_by_username("acme", "ada")
        .await
        .expect("credentials_by_username")
        .expect("ada's credentials");
    assert_eq!(by_username.user_id, ada.id);
    assert_eq!(by_username.password_hash, "$argon2id$test");

    let namesake = store
        .credentials_by_username("globex", "ada")
        .await
        .expect("credentials_by_username")
        .expect("the other ada");
    assert_eq!(namesake.user_id, ada_elsewhere.id);

    for (org, username) in [("acme", "bob"), ("initech", "ada"), ("", "ada")] {
        let missing = store
            .credentials_by_username(org, username)
            .await
            .expect("credentials_by_username");
        assert!(missing.is_none(), "{org}/{username}: {missing:?}");
    }
    let missing = store
        .credentials_by_email("nobody@acme.example")
        .await
        .expect("credentials_by_email");
    assert!(missing.is_none());
}

/// An org that is not open to sign-up is joined only with an invitation; opening it lets `JoinOpen` and
/// `CreateOrJoinOpen` in. An invitation takes one of its uses per sign-up, none for a refused one, and is
/// refused once used up or expired.
pub async fn create_user_joins_open_orgs_and_by_invitation(store: &dyn Store) {
    let ada = store
        .create_user(new_user(
            "acme",
            OrgPolicy::JoinOrCreate,
            "ada",
            "ada@acme.example",
        ))
        .await
        .expect("the org's first user");
    for policy in [OrgPolicy::JoinOpen, OrgPolicy::CreateOrJoinOpen] {
        let refused = store
            .create_user(new_user("acme", policy, "bob", "bob@acme.example"))
            .await;
        assert!(
            matches!(refused, Err(StoreError::NotFound("organization"))),
            "{policy:?} into a closed org: {refused:?}"
        );
    }
    let globex = store
        .create_user(new_user(
            "globex",
            OrgPolicy::CreateOrJoinOpen,
            "gus",
            "gus@globex.example",
        ))
        .await
        .expect("CreateOrJoinOpen creates a new org");
    assert_eq!(globex.org_handle, "globex");

    store
        .set_org_open_signup("acme", true, at(7))
        .await
        .expect("open acme");
    let bob = store
        .create_user(new_user(
            "acme",
            OrgPolicy::JoinOpen,
            "bob",
            "bob@acme.example",
        ))
        .await
        .expect("JoinOpen into an open org");
    assert_eq!(bob.org_id, ada.org_id);
    store
        .set_org_open_signup("acme", false, at(7))
        .await
        .expect("close acme");
    store
        .set_org_open_signup("newco", true, at(7))
        .await
        .expect("an org made open");
    let first = store
        .create_user(new_user(
            "newco",
            OrgPolicy::JoinOpen,
            "nat",
            "nat@newco.example",
        ))
        .await
        .expect("JoinOpen into the org made open");
    assert_eq!(first.org_handle, "newco");

    let invite = store
        .create_invite(NewInvite {
            org_id: ada.org_id,
            created_by: ada.id,
            token_hash: token(50),
            max_uses: 2,
            expires_at: at(100),
            now: at(7),
        })
        .await
        .expect("create_invite");
    assert_eq!(
        (
            invite.org_handle.as_str(),
            invite.created_by,
            invite.max_uses,
            invite.uses
        ),
        ("acme", ada.id, 2, 0)
    );
    assert_eq!((invite.created_at, invite.expires_at), (at(7), at(100)));
    assert_eq!(
        store.invite(invite.id).await.expect("invite"),
        Some(invite.clone())
    );
    assert_eq!(
        store
            .invite_by_token(token(50))
            .await
            .expect("invite_by_token"),
        Some(invite.clone())
    );
    assert_eq!(
        store
            .invite_by_token(token(99))
            .await
            .expect("invite_by_token"),
        None
    );
    let invited = |username: &'static str, seed: u8| NewUser {
        org_handle: "ignored",
        org_policy: OrgPolicy::Invited {
            token_hash: token(seed),
        },
        username,
        email: match username {
            "ada" => "ada@acme.example",
            _ => "fresh@example.org",
        },
        name: "Some Body",
        password_hash: "$argon2id$hash",
        now: at(8),
    };
    let refused = store.create_user(invited("ada", 50)).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict("email"))),
        "{refused:?}"
    );
    let uses = store
        .invite(invite.id)
        .await
        .expect("invite")
        .map(|i| i.uses);
    assert_eq!(uses, Some(0), "a refused sign-up takes no use");
    let carol = store
        .create_user(NewUser {
            email: "carol@example.org",
            ..invited("carol", 50)
        })
        .await
        .expect("invited");
    assert_eq!(
        carol.org_id, ada.org_id,
        "the invitation's org, whatever the handle says"
    );
    store
        .create_user(NewUser {
            email: "dan@example.org",
            ..invited("dan", 50)
        })
        .await
        .expect("the second use");
    let used_up = store
        .create_user(NewUser {
            email: "eve@example.org",
            ..invited("eve", 50)
        })
        .await;
    assert!(
        matches!(used_up, Err(StoreError::NotFound("invite"))),
        "{used_up:?}"
    );
    assert_eq!(
        store
            .invite(invite.id)
            .await
            .expect("invite")
            .map(|i| i.uses),
        Some(2)
    );

    store
        .create_invite(NewInvite {
            org_id: ada.org_id,
            created_by: bob.id,
            token_hash: token(51),
            max_uses: 5,
            expires_at: at(8),
            now: at(7),
        })
        .await
        .expect("a short invitation");
    let expired = store
        .create_user(NewUser {
            email: "fay@example.org",
            ..invited("fay", 51)
        })
        .await;
    assert!(
        matches!(expired, Err(StoreError::NotFound("invite"))),
        "{expired:?}"
    );
    let unknown = store
        .create_user(NewUser {
            email: "fay@example.org",
            ..invited("fay", 77)
        })
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound("invite"))),
        "{unknown:?}"
    );

    let mine = store
        .invites_of(ada.org_id, Some(ada.id), 10)
        .await
        .expect("invites_of");
    assert_eq!(
        mine.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![invite.id]
    );
    let all = store
        .invites_of(ada.org_id, None, 10)
        .await
        .expect("invites_of");
    assert!(
        all.iter().any(|i| i.id == invite.id) && all.iter().any(|i| i.created_by != ada.id),
        "the org's, whoever made them: {all:?}"
    );
    let someone_else = UserId(ada.id.0 + 1_000_000);
    assert!(
        store
            .invites_of(ada.org_id, Some(someone_else), 10)
            .await
            .expect("invites_of")
            .is_empty()
    );
    store.delete_invite(invite.id).await.expect("delete_invite");
    assert_eq!(store.invite(invite.id).await.expect("invite"), None);
    assert!(
        store
            .invites_of(ada.org_id, Some(ada.id), 10)
            .await
            .expect("invites_of")
            .is_empty()
    );
}

/// A session keeps when it began and when it was last used (which only moves forward); a user's sessions
/// end together; pruning drops the idle and the old.
pub async fn sessions_keep_their_times_and_end_together(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    for (seed, user, time) in [(1, &ada, 10), (2, &ada, 20), (3, &bob, 30), (4, &bob, 40)] {
        store
            .create_session(user.id, token(seed), None, at(time))
            .await
            .expect("create_session");
    }
    let times = |seed| async move {
        store
            .session(token(seed))
            .await
            .expect("session")
            .map(|s| (s.created_at, s.last_used))
    };
    assert_eq!(times(1).await, Some((at(10), at(10))));
    store.touch_session(token(1), at(50)).await.expect("touch");
    store
        .touch_session(token(1), at(45))
        .await
        .expect("touch back");
    assert_eq!(
        times(1).await,
        Some((at(10), at(50))),
        "last use only moves forward"
    );

    assert_eq!(
        store
            .delete_sessions_of(ada.id)
            .await
            .expect("delete_sessions_of"),
        2
    );
    assert_eq!(times(1).await, None);
    assert_eq!(times(2).await, None);
    assert!(times(3).await.is_some(), "bob's sessions stay");

    // Bob's first was created at 30 and unused since; his second was created at 40 and used at 90.
    store.touch_session(token(4), at(90)).await.expect("touch");
    assert_eq!(
        store
            .prune_sessions(at(35), at(0))
            .await
            .expect("prune idle"),
        1
    );
    assert_eq!(times(3).await, None, "idle since 30");
    assert!(times(4).await.is_some());
    assert_eq!(
        store
            .prune_sessions(at(0), at(41))
            .await
            .expect("prune old"),
        1
    );
    assert_eq!(times(4).await, None, "created at 40");
}

/// A session resolves to its user until it is deleted, and a deleted one is refused at once.
pub async fn sessions_live_until_deleted(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    store
        .create_session(ada.id, token(1), None, at(1))
        .await
        .expect("create_session");
    store
        .create_session(ada.id, token(2), None, at(2))
        .await
        .expect("second session");
    store
        .create_session(bob.id, token(3), None, at(3))
        .await
        .expect("bob's session");

    let session_user = move |seed| async move {
        store
            .session(token(seed))
            .await
            .expect("session")
            .map(|s| s.user)
    };
    assert_eq!(session_user(1).await.map(|u| u.id), Some(ada.id));
    assert_eq!(session_user(2).await.map(|u| u.id), Some(ada.id));
    assert_eq!(session_user(3).await, Some(bob.clone()));
    assert_eq!(session_user(9).await, None, "an unknown token");

    store
        .delete_session(token(1))
        .await
        .expect("delete_session");
    assert_eq!(session_user(1).await, None, "revoked at once");
    assert_eq!(
        session_user(2).await.map(|u| u.id),
        Some(ada.id),
        "other sessions stay"
    );
    store
        .delete_session(token(1))
        .await
        .expect("deleting twice is fine");
    store
        .delete_session(token(9))
        .await
        .expect("deleting an unknown session is fine");
}

/// People search: a prefix of the username, of the name or of a later word of the name, in any case, within
/// the org only.
pub async fn search_users_matches_prefixes_case_insensitively(store: &dyn Store) {
    let ada = user_named(store, "acme", "ada", "Ada Lovelace").await;
    let grace = user_named(store, "acme", "grace", "Grace Brewster Hopper").await;
    let alan = user_named(store, "acme", "aturing", "Alan Turing").await;
    let _outsider = user_named(store, "globex", "adam", "Adam Smith").await;

    let org_id = ada.org_id;
    let search = move |prefix: &'static str| async move {
        let found = store
            .search_users(org_id, prefix, 50)
            .await
            .unwrap_or_else(|e| panic!("search_users({prefix:?}): {e:?}"));
        sorted(found.into_iter().map(|u| u.id).collect())
    };
    assert_eq!(
        search("ad").await,
        vec![ada.id],
        "username prefix, own org only"
    );
    assert_eq!(search("AD").await, vec![ada.id], "case-insensitive");
    assert_eq!(search("gra").await, vec![grace.id], "username prefix");
    assert_eq!(search("alan").await, vec![alan.id], "name prefix");
    assert_eq!(search("hop").await, vec![grace.id], "last word of the name");
    assert_eq!(
        search("brew").await,
        vec![grace.id],
        "middle word of the name"
    );
    assert_eq!(search("LOVE").await, vec![ada.id], "later word, other case");
    assert_eq!(
        search("ada love").await,
        vec![ada.id],
        "a prefix spanning words"
    );
    assert_eq!(search("a").await, sorted(vec![ada.id, alan.id]));
    assert!(search("uring").await.is_empty(), "not a prefix of any word");
    assert!(search("smith").await.is_empty(), "another org's people");

    let limited = store
        .search_users(ada.org_id, "a", 1)
        .await
        .expect("search_users");
    assert_eq!(limited.len(), 1, "limit");
    assert!([ada.id, alan.id].contains(&limited[0].id));
}

/// LIKE (or any pattern) syntax in the query is plain text.
pub async fn search_users_takes_wildcards_literally(store: &dyn Store) {
    let underscored = user_named(store, "acme", "a_cd", "Plain Name").await;
    let plain = user_named(store, "acme", "abcd", "Another Name").await;
    let percent = user_named(store, "acme", "pct", "100% Real").await;
    let backslash = user_named(store, "acme", "bs", "Back\\slash").await;
    let org_id = plain.org_id;

    let search = move |prefix: &'static str| async move {
        let found = store
            .search_users(org_id, prefix, 50)
            .await
            .unwrap_or_else(|e| panic!("search_users({prefix:?}): {e:?}"));
        sorted(found.into_iter().map(|u| u.id).collect())
    };
    assert_eq!(
        search("a_c").await,
        vec![underscored.id],
        "`_` is not a wildcard"
    );
    assert_eq!(search("100%").await, vec![percent.id]);
    assert!(search("%").await.is_empty(), "`%` is not a wildcard");
    assert!(search("_").await.is_empty(), "`_` is not a wildcard");
    assert!(search("%name").await.is_empty(), "`%` is not a wildcard");
    assert!(search("10_").await.is_empty(), "`_` is not a wildcard");
    assert_eq!(
        search("back\\").await,
        vec![backslash.id],
        "a backslash is plain"
    );
    assert!(search("\\").await.is_empty());
    assert!(search("'").await.is_empty());
}

/// Contacts: adding twice keeps one, removing removes, and they are one-way.
pub async fn contacts_are_a_set(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let carol = user(store, "acme", "carol").await;

    store
        .add_contact(ada.id, bob.id)
        .await
        .expect("add_contact");
    store
        .add_contact(ada.id, bob.id)
        .await
        .expect("adding twice is fine");
    let contacts = store.contacts(ada.id).await.expect("contacts");
    assert_eq!(contacts, vec![bob.clone()]);

    store
        .add_contact(ada.id, carol.id)
        .await
        .expect("add_contact");
    let contacts = store.contacts(ada.id).await.expect("contacts");
    assert_eq!(
        sorted(contacts.iter().map(|u| u.id).collect()),
        sorted(vec![bob.id, carol.id])
    );
    assert!(
        store.contacts(bob.id).await.expect("contacts").is_empty(),
        "contacts are one-way"
    );

    store
        .remove_contact(ada.id, bob.id)
        .await
        .expect("remove_contact");
    let contacts = store.contacts(ada.id).await.expect("contacts");
    assert_eq!(
        contacts.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![carol.id]
    );
    store
        .remove_contact(ada.id, bob.id)
        .await
        .expect("removing twice is fine");
}

/// Renaming and new avatars show in the user from then on; an avatar version only grows.
pub async fn rename_and_avatar_update_the_user(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;

    let renamed = store
        .rename_user(ada.id, "Countess Lovelace")
        .await
        .expect("rename_user");
    assert_eq!(renamed.name, "Countess Lovelace");
    assert_eq!(renamed.username, "ada", "the username stays");
    let reread = store.user(ada.id).await.expect("user").expect("ada");
    assert_eq!(reread.name, "Countess Lovelace");

    let first = store.bump_avatar(ada.id).await.expect("bump_avatar");
    let first_version = first.avatar_version.expect("a version after an upload");
    let second = store.bump_avatar(ada.id).await.expect("bump_avatar");
    let second_version = second.avatar_version.expect("a version after an upload");
    assert!(
        second_version > first_version,
        "{second_version} after {first_version}"
    );
    let reread = store.user(ada.id).await.expect("user").expect("ada");
    assert_eq!(reread.avatar_version, Some(second_version));
    assert_eq!(reread.name, "Countess Lovelace");
}

/// Last seen only ever moves forward, whatever order the touches arrive in.
pub async fn touch_last_seen_never_goes_backwards(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let ada_id = ada.id;
    let last_seen = move || async move {
        let user = store.user(ada_id).await.expect("user");
        user.expect("ada").last_seen
    };

    store.touch_last_seen(ada.id, at(100)).await.expect("touch");
    assert_eq!(last_seen().await, Some(at(100)));
    store.touch_last_seen(ada.id, at(50)).await.expect("touch");
    assert_eq!(
        last_seen().await,
        Some(at(100)),
        "an older touch is ignored"
    );
    store.touch_last_seen(ada.id, at(200)).await.expect("touch");
    assert_eq!(last_seen().await, Some(at(200)));
}

/// Case-insensitive means for every letter, not only ASCII ones: "élo" finds "Élodie".
pub async fn search_users_folds_case_beyond_ascii(store: &dyn Store) {
    let elodie = user_named(store, "acme", "elodie", "Élodie Ørsted").await;
    let _other = user_named(store, "acme", "bob", "Bob Example").await;

    for prefix in ["Élo", "élo", "ÉLODIE", "ørs", "ØRS"] {
        let found = store
            .search_users(elodie.org_id, prefix, 50)
            .await
            .unwrap_or_else(|e| panic!("search_users({prefix:?}): {e:?}"));
        assert_eq!(
            found.iter().map(|u| u.id).collect::<Vec<_>>(),
            vec![elodie.id],
            "search_users({prefix:?}) should find \"Élodie Ørsted\""
        );
    }
}

/// `users` finds many users in one call: those that exist, each once, whatever the order or repeats asked.
pub async fn users_are_found_in_one_lookup(store: &dyn Store) {
    let ada = user(store, "acme", "ada").await;
    let bob = user(store, "acme", "bob").await;
    let eve = user(store, "other", "eve").await;
    let found = store
        .users(&[eve.id, UserId(999_999), ada.id, ada.id, bob.id])
        .await
        .expect("users");
    let mut ids: Vec<UserId> = found.iter().map(|u| u.id).collect();
    ids.sort();
    let mut expected = vec![ada.id, bob.id, eve.id];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(
        found
            .iter()
            .find(|u| u.id == eve.id)
            .map(|u| u.org_handle.as_str()),
        Some("other")
    );
    assert!(store.users(&[]).await.expect("users").is_empty());
}
