//! The store conformance suite: scenarios every [`Store`] backend must pass, written once,
//! generic over the backend. A backend's test file invokes [`conformance_suite!`] with an async
//! function that returns a fresh, isolated store (and a guard that keeps its resources alive),
//! and gets one `#[tokio::test]` per scenario.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tc_store::*;
use uuid::Uuid;

/// Expands to one test per scenario for the backend made by `$make` (an async fn returning
/// `(impl Store, guard)`).
#[macro_export]
macro_rules! conformance_suite {
    ($make:path) => {
        $crate::conformance_suite!(@tests $make;
            users_are_unique_case_insensitively,
            user_flags_and_password_update,
            api_keys_lookup_revoke_and_touch,
            rotation_shortens_expiry_and_never_lengthens_it,
            refresh_tokens_are_spent_exactly_once,
            concurrent_refresh_has_one_winner,
            refresh_revocation_by_family_and_user,
            projects_carry_owner_membership,
            project_lists_page_and_filter,
            soft_delete_restore_and_purge,
            members_conflict_list_and_remove,
            invitations_grant_nothing_until_accepted,
            signup_invitations_are_used_once,
            mcp_sessions_keep_their_first_owner,
            readable_projects_are_members_and_team,
            contexts_round_trip_filter_and_cascade,
            vector_search_is_exact_within_the_filter,
            vector_search_over_a_large_set_keeps_recall,
            vectors_of_thousands_of_dimensions_are_searched,
            keyword_search_ranks_within_the_filter,
            purge_removes_contexts_from_search,
            access_counts_and_description_vectors,
            context_insights_sum_and_rank,
            event_totals_by_day_project_and_source,
            event_totals_split_partial_days,
            jobs_are_claimed_once_and_leased,
            jobs_retry_cancel_and_run_out_of_attempts,
            concurrent_claims_never_share_a_job,
            job_inputs_round_trip_and_orphans_go,
            scanned_files_are_replaced_whole,
        );
    };
    (@tests $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (store, _guard) = $make().await;
                $crate::$name(std::sync::Arc::new(store)).await;
            }
        )*
    };
}

/// A fixed instant, truncated to milliseconds (the coarsest precision a backend may keep).
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 10, 30, 0).single().expect("valid time")
}

/// A user record (not stored) with this email.
pub fn user(email: &str) -> UserRecord {
    UserRecord {
        id: Uuid::now_v7(),
        email: email.to_string(),
        name: "Test User".into(),
        password_hash: "$argon2id$dummy".into(),
        is_active: true,
        email_verified: false,
        created_at: t0(),
        updated_at: t0(),
    }
}

fn key(user_id: Uuid, hash: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        id: Uuid::now_v7(),
        user_id,
        name: "laptop".into(),
        prefix: "tc_abcdefgh".into(),
        hash: hash.to_string(),
        scopes: vec![Scope::Read, Scope::Write],
        project_id: None,
        created_at: t0(),
        last_used_at: None,
        expires_at: None,
        revoked_at: None,
    }
}

fn refresh(user_id: Uuid, family_id: Uuid, hash: &str) -> RefreshTokenRecord {
    RefreshTokenRecord {
        id: Uuid::now_v7(),
        user_id,
        family_id,
        hash: hash.to_string(),
        created_at: t0(),
        expires_at: t0() + Duration::days(7),
        used_at: None,
        revoked_at: None,
    }
}

/// A private project record (not stored) owned by `owner_id`.
pub fn project(owner_id: Uuid, name: &str) -> ProjectRecord {
    ProjectRecord {
        id: Uuid::now_v7(),
        name: name.to_string(),
        description: format!("{name} description"),
        owner_id,
        visibility: Visibility::Private,
        settings: ProjectSettings { auto_scan: false, embedding_model: "all-MiniLM-L6-v2".into() },
        deleted_at: None,
        created_at: t0(),
        updated_at: t0(),
    }
}

async fn new_user<S: Store>(s: &S, email: &str) -> UserRecord {
    let u = user(email);
    s.insert_user(&u).await.expect("insert user");
    u
}

pub async fn users_are_unique_case_insensitively<S: Store>(s: Arc<S>) {
    let ann = new_user(&*s, "Ann@Example.com").await;
    assert_eq!(s.user_by_email("ann@example.COM").await.unwrap(), Some(ann.clone()));
    assert_eq!(s.user_by_id(ann.id).await.unwrap(), Some(ann));
    assert!(s.user_by_id(Uuid::now_v7()).await.unwrap().is_none());
    assert!(s.user_by_email("nobody@example.com").await.unwrap().is_none());
    match s.insert_user(&user("ANN@example.com")).await {
        Err(StoreError::Conflict { constraint }) => assert_eq!(constraint, "users.email"),
        other => panic!("expected a conflict on users.email, got {other:?}"),
    }
}

pub async fn user_flags_and_password_update<S: Store>(s: Arc<S>) {
    let u = new_user(&*s, "flags@example.com").await;
    let later = t0() + Duration::hours(1);
    s.set_user_active(u.id, false, later).await.unwrap();
    s.set_user_email_verified(u.id, true, later).await.unwrap();
    s.update_user_password(u.id, "$argon2id$new", later).await.unwrap();
    let got = s.user_by_id(u.id).await.unwrap().unwrap();
    assert!(!got.is_active);
    assert!(got.email_verified);
    assert_eq!(got.password_hash, "$argon2id$new");
    assert_eq!(got.updated_at, later);
    assert!(matches!(
        s.set_user_active(Uuid::now_v7(), true, later).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn api_keys_lookup_revoke_and_touch<S: Store>(s: Arc<S>) {
    let u = new_user(&*s, "keys@example.com").await;
    let mut k = key(u.id, "hash-1");
    k.project_id = Some(Uuid::now_v7());
    k.scopes = vec![Scope::Read];
    s.insert_api_key(&k).await.unwrap();
    let (found, owner) = s.api_key_by_hash("hash-1").await.unwrap().unwrap();
    assert_eq!(found, k);
    assert_eq!(owner.id, u.id);
    assert!(s.api_key_by_hash("hash-2").await.unwrap().is_none());
    assert!(matches!(
        s.insert_api_key(&key(u.id, "hash-1")).await,
        Err(StoreError::Conflict { .. })
    ));

    // last_used_at only moves forward, and unknown ids are ignored.
    let used = t0() + Duration::minutes(5);
    s.touch_api_keys(&[(k.id, used), (Uuid::now_v7(), used)]).await.unwrap();
    s.touch_api_keys(&[(k.id, t0())]).await.unwrap();
    assert_eq!(s.api_key_by_id(u.id, k.id).await.unwrap().unwrap().last_used_at, Some(used));

    // Another user cannot see or revoke it.
    let other = new_user(&*s, "other@example.com").await;
    assert!(s.api_key_by_id(other.id, k.id).await.unwrap().is_none());
    assert!(matches!(s.revoke_api_key(other.id, k.id, used).await, Err(StoreError::NotFound)));

    s.revoke_api_key(u.id, k.id, used).await.unwrap();
    let (revoked, _) = s.api_key_by_hash("hash-1").await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(used));
    assert!(s.list_api_keys(u.id).await.unwrap().is_empty(), "revoked keys are not listed");
}

pub async fn rotation_shortens_expiry_and_never_lengthens_it<S: Store>(s: Arc<S>) {
    let u = new_user(&*s, "rotate@example.com").await;
    let old = key(u.id, "old");
    s.insert_api_key(&old).await.unwrap();
    let grace = t0() + Duration::hours(24);
    let first = key(u.id, "new-1");
    assert_eq!(s.rotate_api_key(old.id, grace, &first).await.unwrap(), grace);
    // Rotating again later must not extend the old key's life.
    let second = key(u.id, "new-2");
    assert_eq!(s.rotate_api_key(old.id, grace + Duration::hours(5), &second).await.unwrap(), grace);
    let listed: Vec<Uuid> = s.list_api_keys(u.id).await.unwrap().iter().map(|k| k.id).collect();
    assert_eq!(listed, vec![old.id, first.id, second.id], "oldest first");
    // A rotation of a missing key creates nothing.
    let orphan = key(u.id, "orphan");
    assert!(matches!(
        s.rotate_api_key(Uuid::now_v7(), grace, &orphan).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.api_key_by_hash("orphan").await.unwrap().is_none());
}

pub async fn refresh_tokens_are_spent_exactly_once<S: Store>(s: Arc<S>) {
    let u = new_user(&*s, "refresh@example.com").await;
    let family = Uuid::now_v7();
    let t = refresh(u.id, family, "r1");
    s.insert_refresh_token(&t).await.unwrap();
    let now = t0() + Duration::minutes(1);
    match s.consume_refresh_token("r1", now).await.unwrap() {
        RefreshOutcome::Consumed(r) => assert_eq!(r.used_at, Some(now)),
        other => panic!("expected consumed, got {other:?}"),
    }
    match s.consume_refresh_token("r1", now + Duration::seconds(1)).await.unwrap() {
        RefreshOutcome::Rejected(r) => assert_eq!(r.used_at, Some(now), "first use is kept"),
        other => panic!("expected rejected, got {other:?}"),
    }
    assert_eq!(s.consume_refresh_token("nope", now).await.unwrap(), RefreshOutcome::Unknown);

    let expired = refresh(u.id, family, "r2");
    s.insert_refresh_token(&expired).await.unwrap();
    match s.consume_refresh_token("r2", t0() + Duration::days(8)).await.unwrap() {
        RefreshOutcome::Rejected(r) => assert!(r.used_at.is_none()),
        other => panic!("expected an expired token to be rejected, got {other:?}"),
    }
}

pub async fn concurrent_refresh_has_one_winner<S: Store>(s: Arc<S>) {
    let u = new_user(&*s, "race@example.com").await;
    s.insert_refresh_token(&refresh(u.id, Uuid::now_v7(), "race")).await.unwrap();
    let now = t0() + Duration::minutes(1);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move { s.consume_refresh_token("race", now).await }));
    }
    let mut winners = 0;
    for t in tasks {
        if let RefreshOutcome::Consumed(_) = t.await.unwrap().unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

pub async fn refresh_revocation_by_family_and_user<S: Store>(s: Arc<S>) {
    let u = new_user(&*s, "family@example.com").await;
    let (f1, f2) = (Uuid::now_v7(), Uuid::now_v7());
    for (family, hash) in [(f1, "a"), (f1, "b"), (f2, "c")] {
        s.insert_refresh_token(&refresh(u.id, family, hash)).await.unwrap();
    }
    let now = t0() + Duration::minutes(1);
    s.revoke_refresh_family(f1, now).await.unwrap();
    for hash in ["a", "b"] {
        assert!(
            matches!(s.consume_refresh_token(hash, now).await.unwrap(), RefreshOutcome::Rejected(r) if r.revoked_at == Some(now))
        );
    }
    s.revoke_user_refresh_tokens(u.id, now).await.unwrap();
    assert!(matches!(
        s.consume_refresh_token("c", now).await.unwrap(),
        RefreshOutcome::Rejected(_)
    ));
}

pub async fn projects_carry_owner_membership<S: Store>(s: Arc<S>) {
    let owner = new_user(&*s, "owner@example.com").await;
    let stranger = new_user(&*s, "stranger@example.com").await;
    let p = project(owner.id, "alpha");
    s.insert_project(&p).await.unwrap();
    assert_eq!(s.project_by_id(p.id).await.unwrap(), Some(p.clone()));
    assert_eq!(
        s.project_with_role(p.id, owner.id).await.unwrap(),
        Some((p.clone(), Some(Role::Owner)))
    );
    assert_eq!(s.project_with_role(p.id, stranger.id).await.unwrap(), Some((p.clone(), None)));
    assert!(s.project_with_role(Uuid::now_v7(), owner.id).await.unwrap().is_none());

    let mut changed = p.clone();
    changed.name = "alpha 2".into();
    changed.visibility = Visibility::Team;
    changed.settings.auto_scan = true;
    changed.updated_at = t0() + Duration::hours(1);
    s.update_project(&changed).await.unwrap();
    assert_eq!(s.project_by_id(p.id).await.unwrap(), Some(changed));
}

pub async fn project_lists_page_and_filter<S: Store>(s: Arc<S>) {
    let ann = new_user(&*s, "ann@example.com").await;
    let bob = new_user(&*s, "bob@example.com").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let p = project(ann.id, &format!("p{i}"));
        s.insert_project(&p).await.unwrap();
        ids.push(p.id);
    }
    let bobs = project(bob.id, "bob's");
    s.insert_project(&bobs).await.unwrap();
    s.insert_member(&MemberRecord {
        project_id: bobs.id,
        user_id: ann.id,
        role: Role::Contributor,
        added_at: t0(),
    })
    .await
    .unwrap();
    s.set_project_deleted(ids[0], Some(t0()), t0()).await.unwrap();

    let live = |before, limit| {
        s.list_member_projects(ann.id, ProjectListFilter::Live, Page { before, limit })
    };
    let first = live(None, 3).await.unwrap();
    let got: Vec<Uuid> = first.iter().map(|(p, _)| p.id).collect();
    assert_eq!(got, vec![bobs.id, ids[4], ids[3]], "newest first, contributed included");
    assert_eq!(first[0].1, Role::Contributor);
    let rest = live(Some(ids[3]), 10).await.unwrap();
    let got: Vec<Uuid> = rest.iter().map(|(p, _)| p.id).collect();
    assert_eq!(got, vec![ids[2], ids[1]], "deleted project left out");

    let deleted = s
        .list_member_projects(
            ann.id,
            ProjectListFilter::DeletedOwned,
            Page { before: None, limit: 10 },
        )
        .await
        .unwrap();
    assert_eq!(deleted.iter().map(|(p, _)| p.id).collect::<Vec<_>>(), vec![ids[0]]);
    let bob_deleted = s
        .list_member_projects(
            bob.id,
            ProjectListFilter::DeletedOwned,
            Page { before: None, limit: 10 },
        )
        .await
        .unwrap();
    assert!(bob_deleted.is_empty());
}

pub async fn soft_delete_restore_and_purge<S: Store>(s: Arc<S>) {
    let owner = new_user(&*s, "purge@example.com").await;
    let old = project(owner.id, "old");
    let recent = project(owner.id, "recent");
    s.insert_project(&old).await.unwrap();
    s.insert_project(&recent).await.unwrap();
    s.set_project_deleted(old.id, Some(t0()), t0()).await.unwrap();
    s.set_project_deleted(recent.id, Some(t0() + Duration::days(20)), t0()).await.unwrap();
    assert_eq!(s.project_by_id(old.id).await.unwrap().unwrap().deleted_at, Some(t0()));

    assert_eq!(s.purge_deleted_projects(t0() + Duration::days(10)).await.unwrap(), 1);
    assert!(s.project_by_id(old.id).await.unwrap().is_none());
    assert!(s.list_members(old.id).await.unwrap().is_empty(), "membership purged with the project");

    s.set_project_deleted(recent.id, None, t0() + Duration::days(21)).await.unwrap();
    assert!(s.project_by_id(recent.id).await.unwrap().unwrap().deleted_at.is_none());
    assert_eq!(s.purge_deleted_projects(t0() + Duration::days(100)).await.unwrap(), 0);
    assert!(matches!(
        s.set_project_deleted(Uuid::now_v7(), None, t0()).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn members_conflict_list_and_remove<S: Store>(s: Arc<S>) {
    let owner = new_user(&*s, "own@example.com").await;
    let c1 = new_user(&*s, "c1@example.com").await;
    let c2 = new_user(&*s, "c2@example.com").await;
    let p = project(owner.id, "team");
    s.insert_project(&p).await.unwrap();
    for (u, mins) in [(&c2, 1), (&c1, 2)] {
        s.insert_member(&MemberRecord {
            project_id: p.id,
            user_id: u.id,
            role: Role::Contributor,
            added_at: t0() + Duration::minutes(mins),
        })
        .await
        .unwrap();
    }
    let dup =
        MemberRecord { project_id: p.id, user_id: c1.id, role: Role::Contributor, added_at: t0() };
    match s.insert_member(&dup).await {
        Err(StoreError::Conflict { constraint }) => assert_eq!(constraint, "project_members.pkey"),
        other => panic!("expected a membership conflict, got {other:?}"),
    }
    let members: Vec<(Uuid, Role)> =
        s.list_members(p.id).await.unwrap().iter().map(|(m, u)| (u.id, m.role)).collect();
    assert_eq!(
        members,
        vec![(owner.id, Role::Owner), (c2.id, Role::Contributor), (c1.id, Role::Contributor)]
    );

    s.delete_member(p.id, c2.id).await.unwrap();
    assert_eq!(s.project_with_role(p.id, c2.id).await.unwrap().unwrap().1, None);
    assert!(matches!(s.delete_member(p.id, c2.id).await, Err(StoreError::NotFound)));
    assert!(
        matches!(s.delete_member(p.id, owner.id).await, Err(StoreError::NotFound)),
        "owners are not removable"
    );
}

pub async fn invitations_grant_nothing_until_accepted<S: Store>(s: Arc<S>) {
    let owner = new_user(&*s, "inviter@example.com").await;
    let guest = new_user(&*s, "Guest@Example.com").await;
    let p = project(owner.id, "invited");
    s.insert_project(&p).await.unwrap();
    let invitation = |email: &str, mins: i64| InvitationRecord {
        id: Uuid::now_v7(),
        project_id: p.id,
        email: email.into(),
        role: Role::Contributor,
        invited_by: owner.id,
        created_at: t0() + Duration::minutes(mins),
    };
    let for_guest = invitation("guest@example.com", 1);
    let for_nobody = invitation("nobody@example.com", 2);
    s.insert_invitation(&for_guest).await.unwrap();
    s.insert_invitation(&for_nobody).await.unwrap();
    match s.insert_invitation(&invitation("GUEST@example.com", 3)).await {
        Err(StoreError::Conflict { constraint }) => {
            assert_eq!(constraint, "project_invitations.email")
        }
        other => panic!("expected an invitation conflict, got {other:?}"),
    }
    assert_eq!(s.invitation_by_id(for_guest.id).await.unwrap(), Some(for_guest.clone()));
    let listed: Vec<Uuid> =
        s.list_project_invitations(p.id).await.unwrap().iter().map(|i| i.id).collect();
    assert_eq!(listed, vec![for_guest.id, for_nobody.id]);
    let mine = s.list_invitations_for("GUEST@example.com").await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0].0.id, mine[0].1.id), (for_guest.id, p.id));

    // Pending, it counts nowhere.
    assert_eq!(s.project_with_role(p.id, guest.id).await.unwrap().unwrap().1, None);
    assert!(!s.readable_project_ids(guest.id).await.unwrap().contains(&p.id));
    let page = Page { before: None, limit: 10 };
    assert!(
        s.list_member_projects(guest.id, ProjectListFilter::Live, page).await.unwrap().is_empty()
    );

    let member = MemberRecord {
        project_id: p.id,
        user_id: guest.id,
        role: Role::Contributor,
        added_at: t0() + Duration::minutes(5),
    };
    s.accept_invitation(for_guest.id, &member).await.unwrap();
    assert_eq!(
        s.project_with_role(p.id, guest.id).await.unwrap().unwrap().1,
        Some(Role::Contributor)
    );
    assert_eq!(s.invitation_by_id(for_guest.id).await.unwrap(), None);
    assert!(matches!(s.accept_invitation(for_guest.id, &member).await, Err(StoreError::NotFound)));

    // An invitation for someone already a member is accepted without a conflict.
    let again = invitation("guest@example.com", 6);
    s.insert_invitation(&again).await.unwrap();
    s.accept_invitation(again.id, &member).await.unwrap();
    assert_eq!(s.list_members(p.id).await.unwrap().len(), 2);

    s.delete_invitation(for_nobody.id).await.unwrap();
    assert!(matches!(s.delete_invitation(for_nobody.id).await, Err(StoreError::NotFound)));
    assert!(s.list_project_invitations(p.id).await.unwrap().is_empty());

    // A deleted project's invitations are not offered; a purged project's go with it.
    let later = invitation("late@example.com", 7);
    s.insert_invitation(&later).await.unwrap();
    s.set_project_deleted(p.id, Some(t0()), t0()).await.unwrap();
    assert!(s.list_invitations_for("late@example.com").await.unwrap().is_empty());
    s.purge_deleted_projects(t0() + Duration::days(60)).await.unwrap();
    assert_eq!(s.invitation_by_id(later.id).await.unwrap(), None);
}

pub async fn signup_invitations_are_used_once<S: Store>(s: Arc<S>) {
    let invitation = SignupInvitationRecord {
        id: Uuid::now_v7(),
        email: "new@example.com".into(),
        token_hash: "ab".repeat(32),
        created_at: t0(),
        expires_at: t0() + Duration::days(7),
        used_at: None,
    };
    s.insert_signup_invitation(&invitation).await.unwrap();
    assert_eq!(
        s.signup_invitation_by_hash(&invitation.token_hash).await.unwrap(),
        Some(invitation.clone())
    );
    assert_eq!(s.signup_invitation_by_hash(&"cd".repeat(32)).await.unwrap(), None);
    let (a, b) = tokio::join!(
        s.use_signup_invitation(invitation.id, t0() + Duration::hours(1)),
        s.use_signup_invitation(invitation.id, t0() + Duration::hours(2)),
    );
    assert_eq!([a.unwrap(), b.unwrap()].iter().filter(|used| **used).count(), 1);
    let used = s.signup_invitation_by_hash(&invitation.token_hash).await.unwrap().unwrap();
    assert!(used.used_at.is_some());
}

pub async fn mcp_sessions_keep_their_first_owner<S: Store>(s: Arc<S>) {
    let ann = new_user(&*s, "mcp-ann@example.com").await;
    let bob = new_user(&*s, "mcp-bob@example.com").await;
    assert_eq!(s.mcp_session("nope").await.unwrap(), None);
    // The SDK may store the state before the owner is recorded, or after.
    s.set_mcp_session_state("s1", r#"{"v":1}"#, t0()).await.unwrap();
    s.claim_mcp_session("s1", ann.id, t0() + Duration::seconds(1)).await.unwrap();
    s.claim_mcp_session("s2", bob.id, t0()).await.unwrap();
    s.set_mcp_session_state("s2", r#"{"v":2}"#, t0() + Duration::seconds(5)).await.unwrap();
    // A later claim never changes the owner, only the time of use.
    s.claim_mcp_session("s1", bob.id, t0() + Duration::hours(2)).await.unwrap();
    let s1 = s.mcp_session("s1").await.unwrap().unwrap();
    assert_eq!(s1.user_id, Some(ann.id));
    assert_eq!(s1.state.as_deref(), Some(r#"{"v":1}"#));
    assert_eq!(s1.created_at, t0());
    assert_eq!(s1.last_used_at, t0() + Duration::hours(2));
    let s2 = s.mcp_session("s2").await.unwrap().unwrap();
    assert_eq!((s2.user_id, s2.state.as_deref()), (Some(bob.id), Some(r#"{"v":2}"#)));

    assert_eq!(s.purge_mcp_sessions(t0() + Duration::hours(1)).await.unwrap(), 1);
    assert_eq!(s.mcp_session("s2").await.unwrap(), None);
    s.delete_mcp_session("s1").await.unwrap();
    s.delete_mcp_session("s1").await.unwrap();
    assert_eq!(s.mcp_session("s1").await.unwrap(), None);
}

/// A context record (not stored) with this content.
pub fn context(project_id: Uuid, created_by: Uuid, content: &str) -> ContextRecord {
    ContextRecord {
        id: Uuid::now_v7(),
        project_id,
        content: content.to_string(),
        content_hash: format!("hash-of-{}", content.len()),
        token_count: content.split_whitespace().count() as i64,
        source: "manual".into(),
        file_path: None,
        parent_id: None,
        chunk_index: None,
        metadata: serde_json::json!({"tags": []}),
        created_by,
        accessed_count: 0,
        last_accessed: None,
        created_at: t0(),
        updated_at: t0(),
    }
}

/// A unit vector in 4 dimensions pointing mostly along `axis`, tilted by `tilt`.
fn unit(axis: usize, tilt: f32) -> Vec<f32> {
    let mut v = [tilt; 4];
    v[axis] = 1.0;
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

/// A passage of `c` over its whole content, made by `test-model`.
pub fn passage_for(c: &ContextRecord, vector: Vec<f32>) -> PassageRecord {
    PassageRecord {
        context_id: c.id,
        project_id: c.project_id,
        start: 0,
        end: c.content.len(),
        model: "test-model".into(),
        vector,
    }
}

async fn owned_project<S: Store>(s: &S, email: &str) -> (UserRecord, ProjectRecord) {
    let u = new_user(s, email).await;
    let p = project(u.id, "ctx");
    s.insert_project(&p).await.unwrap();
    (u, p)
}

pub async fn readable_projects_are_members_and_team<S: Store>(s: Arc<S>) {
    let ann = new_user(&*s, "r-ann@example.com").await;
    let bob = new_user(&*s, "r-bob@example.com").await;
    let mine = project(ann.id, "mine");
    let mut team = project(bob.id, "team");
    team.visibility = Visibility::Team;
    let private = project(bob.id, "bob only");
    let shared = project(bob.id, "shared");
    let gone = project(ann.id, "gone");
    for p in [&mine, &team, &private, &shared, &gone] {
        s.insert_project(p).await.unwrap();
    }
    s.insert_member(&MemberRecord {
        project_id: shared.id,
        user_id: ann.id,
        role: Role::Contributor,
        added_at: t0(),
    })
    .await
    .unwrap();
    s.set_project_deleted(gone.id, Some(t0()), t0()).await.unwrap();
    let mut got = s.readable_project_ids(ann.id).await.unwrap();
    got.sort();
    let mut want = vec![mine.id, team.id, shared.id];
    want.sort();
    assert_eq!(got, want);
}

pub async fn contexts_round_trip_filter_and_cascade<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "ctx@example.com").await;
    let mut parent = context(p.id, u.id, "the parent document about billing");
    parent.source = "api".into();
    parent.metadata = serde_json::json!({"tags": ["billing", "decision"], "language": "en"});
    let mut chunks = Vec::new();
    for i in 0..2 {
        let mut chunk = context(p.id, u.id, &format!("chunk {i} of the billing document"));
        chunk.parent_id = Some(parent.id);
        chunk.chunk_index = Some(i);
        chunks.push(chunk);
    }
    let mut code = context(p.id, u.id, "fn charge() {}");
    code.source = "codebase_scan".into();
    code.file_path = Some("src/pay_ments/charge.rs".into());
    let mut other = context(p.id, u.id, "fn other() {}");
    other.source = "codebase_scan".into();
    other.file_path = Some("src/payXments/other.rs".into());
    let mut rows = vec![(parent.clone(), vec![passage_for(&parent, unit(0, 0.1))])];
    rows.extend(chunks.iter().map(|c| (c.clone(), vec![passage_for(c, unit(1, 0.1))])));
    rows.push((code.clone(), vec![passage_for(&code, unit(2, 0.1))]));
    rows.push((other.clone(), vec![passage_for(&other, unit(3, 0.1))]));
    s.insert_contexts(&rows).await.unwrap();

    assert_eq!(s.context_by_id(parent.id).await.unwrap(), Some(parent.clone()));
    let keyword: Vec<Uuid> = s
        .keyword_search("billing", &[p.id], 10)
        .await
        .unwrap()
        .iter()
        .map(|h| h.context_id)
        .collect();
    assert_eq!(keyword.len(), 2, "the chunks match, their parent is not searched: {keyword:?}");
    assert!(!keyword.contains(&parent.id));
    assert!(s.context_by_id(Uuid::now_v7()).await.unwrap().is_none());
    let mut by_ids = s.contexts_by_ids(&[parent.id, code.id, Uuid::now_v7()]).await.unwrap();
    by_ids.sort_by_key(|c| c.id);
    assert_eq!(by_ids.iter().map(|c| c.id).collect::<Vec<_>>(), vec![parent.id, code.id]);

    let list = |filter: ContextFilter, limit| {
        let s = s.clone();
        async move {
            s.list_contexts(p.id, &filter, Page { before: None, limit })
                .await
                .unwrap()
                .iter()
                .map(|c| c.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(ContextFilter::default(), 2).await, vec![other.id, code.id], "newest first");
    assert_eq!(
        list(ContextFilter { source: Some("api".into()), ..Default::default() }, 10).await,
        vec![parent.id]
    );
    assert_eq!(
        list(ContextFilter { tag: Some("decision".into()), ..Default::default() }, 10).await,
        vec![parent.id]
    );
    // `_` and `%` in a prefix are literal characters, not wildcards.
    let prefix =
        ContextFilter { file_path_prefix: Some("src/pay_ments/".into()), ..Default::default() };
    assert_eq!(list(prefix, 10).await, vec![code.id]);

    let page2 = s
        .list_contexts(p.id, &ContextFilter::default(), Page { before: Some(code.id), limit: 10 })
        .await
        .unwrap();
    assert_eq!(page2.len(), 3, "the parent and its two chunks");

    assert_eq!(s.delete_context(parent.id).await.unwrap(), 3, "the parent and its chunks");
    assert!(s.context_by_id(chunks[0].id).await.unwrap().is_none());
    let hits = s.vector_search(&unit(1, 0.1), "test-model", &[p.id], 10).await.unwrap();
    assert!(hits.iter().all(|h| h.context_id != chunks[0].id), "deleted passages leave the index");
    assert_eq!(s.delete_context(parent.id).await.unwrap(), 0);
}

pub async fn vector_search_is_exact_within_the_filter<S: Store>(s: Arc<S>) {
    let (u, a) = owned_project(&*s, "vec-a@example.com").await;
    let b = project(u.id, "b");
    s.insert_project(&b).await.unwrap();
    // Project B holds the 40 closest contexts; project A 30 farther ones. A search limited to A
    // must still return 10 results from A.
    let mut rows = Vec::new();
    for i in 0..40 {
        let c = context(b.id, u.id, &format!("b{i}"));
        rows.push((c.clone(), vec![passage_for(&c, unit(0, 0.01 * i as f32))]));
    }
    let mut a_contexts = Vec::new();
    for i in 0..30 {
        let c = context(a.id, u.id, &format!("a{i}"));
        let mut far = passage_for(&c, unit(1, 0.02 * i as f32));
        far.start = 0;
        far.end = 1;
        let mut near = passage_for(&c, unit(0, 0.5 + 0.01 * i as f32));
        near.start = 1;
        near.end = 2;
        rows.push((c.clone(), vec![far, near]));
        a_contexts.push(c);
    }
    s.insert_contexts(&rows).await.unwrap();
    let query = unit(0, 0.0);
    let hits = s.vector_search(&query, "test-model", &[a.id], 10).await.unwrap();
    assert_eq!(hits.len(), 10);
    let a_ids: Vec<Uuid> = a_contexts.iter().map(|c| c.id).collect();
    assert!(hits.iter().all(|h| a_ids.contains(&h.context_id)), "never outside the filter");
    assert_eq!(hits[0].context_id, a_contexts[0].id, "closest first");
    assert_eq!((hits[0].start, hits[0].end), (1, 2), "the best passage is reported");
    assert!(hits.windows(2).all(|w| w[0].similarity >= w[1].similarity));
    let expected: f32 = unit(0, 0.5).iter().zip(&query).map(|(x, y)| x * y).sum();
    assert!((hits[0].similarity - expected).abs() < 1e-4);

    let all = s.vector_search(&query, "test-model", &[a.id, b.id], 100).await.unwrap();
    assert_eq!(all.len(), 70, "one hit per context, every context");
    assert!(s.vector_search(&query, "another-model", &[a.id], 10).await.unwrap().is_empty());
    assert!(s.vector_search(&query, "test-model", &[], 10).await.unwrap().is_empty());

    // The similarity of named contexts, whatever their rank: the best passage of each.
    let far_one = &a_contexts[29];
    let named = [far_one.id, a_contexts[0].id, Uuid::now_v7()];
    let mut sims = s.passage_similarities(&query, "test-model", &named).await.unwrap();
    sims.sort_by_key(|h| h.context_id);
    assert_eq!(sims.len(), 2, "an unknown context is left out");
    let far_hit = sims.iter().find(|h| h.context_id == far_one.id).unwrap();
    assert_eq!((far_hit.start, far_hit.end), (1, 2), "its best passage");
    let expected: f32 = unit(0, 0.5 + 0.29).iter().zip(&query).map(|(x, y)| x * y).sum();
    assert!((far_hit.similarity - expected).abs() < 1e-4);
    assert!(s.passage_similarities(&query, "another-model", &named).await.unwrap().is_empty());
    assert!(s.passage_similarities(&query, "test-model", &[]).await.unwrap().is_empty());
}

/// xorshift64*: reproducible, dependency-free pseudo-random numbers, for scenarios and the
/// vector benchmarks (which thereby all draw from one distribution).
pub struct Rng(pub u64);

impl Rng {
    /// The next number, uniform in [-1, 1).
    pub fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        bits as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    /// A unit vector near one of `centres` (each coordinate moved by up to `spread`), so that
    /// neighbourhoods exist as in real embeddings.
    pub fn vector(&mut self, centres: &[Vec<f32>], spread: f32) -> Vec<f32> {
        let centre =
            &centres[(self.next_f32().abs() * centres.len() as f32) as usize % centres.len()];
        let mut v: Vec<f32> = centre.iter().map(|c| c + spread * self.next_f32()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }

    /// A unit vector in any direction.
    fn direction(&mut self, dim: usize) -> Vec<f32> {
        self.vector(&[vec![0.0; dim]], 1.0)
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A filter too large to rank exactly (over 20,000 passages, where both backends switch to
/// their graphs): the results stay inside the filter, find the true nearest neighbours, and
/// report each one's similarity to within half-precision rounding (the graphs may hold their
/// vectors as f16).
pub async fn vector_search_over_a_large_set_keeps_recall<S: Store>(s: Arc<S>) {
    const DIM: usize = 32;
    let (u, big) = owned_project(&*s, "large-set@example.com").await;
    let small = project(u.id, "small");
    s.insert_project(&small).await.unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let centres: Vec<Vec<f32>> = (0..64).map(|_| rng.direction(DIM)).collect();
    let mut stored: Vec<(Uuid, Uuid, Vec<f32>)> = Vec::new();
    for batch in 0..24 {
        let mut rows = Vec::new();
        for i in 0..1000 {
            let p = if batch == 0 { &small } else { &big };
            let c = context(p.id, u.id, &format!("passage {batch}-{i}"));
            let v = rng.vector(&centres, 0.5);
            stored.push((c.id, p.id, v.clone()));
            rows.push((c.clone(), vec![passage_for(&c, v)]));
        }
        s.insert_contexts(&rows).await.unwrap();
    }
    let (mut found, mut wanted) = (0, 0);
    for _ in 0..20 {
        let query = rng.vector(&centres, 0.5);
        let hits = s.vector_search(&query, "test-model", &[big.id], 10).await.unwrap();
        assert_eq!(hits.len(), 10);
        let mut truth: Vec<(f32, Uuid)> = stored
            .iter()
            .filter(|(_, p, _)| *p == big.id)
            .map(|(id, _, v)| (dot(v, &query), *id))
            .collect();
        truth.sort_by(|a, b| b.0.total_cmp(&a.0));
        for h in &hits {
            let (_, p, v) = stored.iter().find(|(id, _, _)| *id == h.context_id).unwrap();
            assert_eq!(*p, big.id, "never outside the filter");
            let exact = dot(v, &query);
            assert!((h.similarity - exact).abs() < 2e-3, "{} against {exact}", h.similarity);
        }
        assert!(hits.windows(2).all(|w| w[0].similarity >= w[1].similarity), "best first");
        found += hits.iter().filter(|h| truth[..10].iter().any(|t| t.1 == h.context_id)).count();
        wanted += 10;
    }
    let recall = found as f64 / wanted as f64;
    assert!(recall >= 0.9, "recall@10 {recall} over 23,000 passages");
}

/// Embedding models with thousands of dimensions (3,072 for a large hosted model) are stored
/// and searched like small ones.
pub async fn vectors_of_thousands_of_dimensions_are_searched<S: Store>(s: Arc<S>) {
    const DIM: usize = 3072;
    let (u, p) = owned_project(&*s, "wide@example.com").await;
    let mut rng = Rng(7);
    let rows: Vec<_> = (0..20)
        .map(|i| {
            let c = context(p.id, u.id, &format!("wide {i}"));
            let v = rng.direction(DIM);
            (c.clone(), vec![passage_for(&c, v)])
        })
        .collect();
    s.insert_contexts(&rows).await.unwrap();
    let target = &rows[7];
    let hits = s.vector_search(&target.1[0].vector, "test-model", &[p.id], 3).await.unwrap();
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0].context_id, target.0.id);
    assert!((hits[0].similarity - 1.0).abs() < 1e-5);
}

pub async fn keyword_search_ranks_within_the_filter<S: Store>(s: Arc<S>) {
    let (u, a) = owned_project(&*s, "kw@example.com").await;
    let b = project(u.id, "b");
    s.insert_project(&b).await.unwrap();
    let strong =
        context(a.id, u.id, "Stripe webhook retries: webhook signatures and webhook replay");
    let weak = context(
        a.id,
        u.id,
        "a note that mentions a webhook once among many other words about lunch",
    );
    let unrelated = context(a.id, u.id, "the office coffee machine schedule");
    let elsewhere = context(b.id, u.id, "Stripe webhook retries webhook webhook");
    let rows: Vec<_> = [&strong, &weak, &unrelated, &elsewhere]
        .iter()
        .map(|c| ((*c).clone(), Vec::new()))
        .collect();
    s.insert_contexts(&rows).await.unwrap();

    let hits = s.keyword_search("stripe WEBHOOK", &[a.id], 10).await.unwrap();
    let ids: Vec<Uuid> = hits.iter().map(|h| h.context_id).collect();
    assert_eq!(ids, vec![strong.id, weak.id]);
    assert!(hits[0].score > hits[1].score && hits[1].score > 0.0);
    assert!(s.keyword_search("\" OR NEAR( *", &[a.id], 10).await.is_ok(), "operators are words");
    assert!(s.keyword_search("   ", &[a.id], 10).await.unwrap().is_empty());
    let stemmed: Vec<Uuid> = s
        .keyword_search("retry", &[a.id], 10)
        .await
        .unwrap()
        .iter()
        .map(|h| h.context_id)
        .collect();
    assert_eq!(stemmed, vec![strong.id], "English stemming: retry finds retries");
    let stop: Vec<Uuid> = s
        .keyword_search("the webhook", &[a.id], 10)
        .await
        .unwrap()
        .iter()
        .map(|h| h.context_id)
        .collect();
    assert_eq!(stop.len(), 2, "a stopword alone matches nothing extra");
    assert_eq!(s.keyword_search("webhook", &[a.id, b.id], 1).await.unwrap().len(), 1);
    assert_eq!(s.delete_context(strong.id).await.unwrap(), 1);
    let after: Vec<Uuid> = s
        .keyword_search("stripe webhook", &[a.id], 10)
        .await
        .unwrap()
        .iter()
        .map(|h| h.context_id)
        .collect();
    assert_eq!(after, vec![weak.id], "deleted contexts leave the keyword index");
}

pub async fn purge_removes_contexts_from_search<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "purge-ctx@example.com").await;
    let c = context(p.id, u.id, "purged webhook note");
    s.insert_contexts(&[(c.clone(), vec![passage_for(&c, unit(0, 0.0))])]).await.unwrap();
    s.set_project_deleted(p.id, Some(t0()), t0()).await.unwrap();
    assert_eq!(s.purge_deleted_projects(t0() + Duration::days(31)).await.unwrap(), 1);
    assert!(s.context_by_id(c.id).await.unwrap().is_none());
    assert!(s.vector_search(&unit(0, 0.0), "test-model", &[p.id], 10).await.unwrap().is_empty());
    assert!(s.keyword_search("webhook", &[p.id], 10).await.unwrap().is_empty());
}

pub async fn access_counts_and_description_vectors<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "acc@example.com").await;
    let c = context(p.id, u.id, "counted");
    s.insert_contexts(&[(c.clone(), Vec::new())]).await.unwrap();
    let later = t0() + Duration::hours(2);
    s.record_context_access(&[(c.id, t0()), (c.id, later), (Uuid::now_v7(), later)]).await.unwrap();
    let got = s.context_by_id(c.id).await.unwrap().unwrap();
    assert_eq!(got.accessed_count, 2);
    assert_eq!(got.last_accessed, Some(later));

    s.set_project_description_vector(p.id, Some(("test-model", &unit(2, 0.0)))).await.unwrap();
    let vectors =
        s.project_description_vectors(&[p.id, Uuid::now_v7()], "test-model").await.unwrap();
    assert_eq!(vectors, vec![(p.id, unit(2, 0.0))]);
    assert!(s.project_description_vectors(&[p.id], "other").await.unwrap().is_empty());
    s.set_project_description_vector(p.id, None).await.unwrap();
    assert!(s.project_description_vectors(&[p.id], "test-model").await.unwrap().is_empty());

    let event = AnalyticsEventRecord {
        id: Uuid::now_v7(),
        user_id: u.id,
        project_id: Some(p.id),
        event_type: "context_retrieve".into(),
        timestamp: later,
        tokens_saved: 120,
        tokens_avoided: 120,
        contexts_retrieved: 1,
        api_calls_made: 1,
        processing_time_ms: 3.5,
        model: Some("claude-3-sonnet".into()),
        price_per_mtok: Some(3.0),
        estimated_savings_usd: 0.00036,
        source: Some("claude".into()),
    };
    s.insert_analytics_events(&[event]).await.unwrap();
}

pub async fn context_insights_sum_and_rank<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "insights@example.com").await;
    let other = project(u.id, "other");
    s.insert_project(&other).await.unwrap();
    let empty = s.context_insights(&[p.id], 5).await.unwrap();
    assert_eq!((empty.contexts, empty.tokens, empty.storage_bytes), (0, 0, 0));
    assert!(empty.most_accessed.is_empty());

    let a = context(p.id, u.id, "alpha beta gamma");
    let b = context(p.id, u.id, "delta épsilon");
    let mut child = context(p.id, u.id, "delta");
    (child.parent_id, child.chunk_index) = (Some(b.id), Some(0));
    let elsewhere = context(other.id, u.id, "not counted here");
    s.insert_contexts(&[
        (a.clone(), vec![passage_for(&a, unit(0, 0.0))]),
        (b.clone(), Vec::new()),
        (child.clone(), vec![passage_for(&child, unit(1, 0.0))]),
        (elsewhere.clone(), vec![passage_for(&elsewhere, unit(2, 0.0))]),
    ])
    .await
    .unwrap();
    s.record_context_access(&[(a.id, t0()), (child.id, t0()), (child.id, t0())]).await.unwrap();

    let got = s.context_insights(&[p.id], 5).await.unwrap();
    // Chunks count with their parent; storage counts every stored text (UTF-8 bytes) and vector.
    assert_eq!(got.contexts, 2);
    assert_eq!(got.tokens, 3 + 2);
    let text = "alpha beta gamma".len() + "delta épsilon".len() + "delta".len();
    assert_eq!(got.storage_bytes, (text + 2 * 4 * 4) as i64);
    let ranked: Vec<(Uuid, i64)> =
        got.most_accessed.iter().map(|c| (c.id, c.accessed_count)).collect();
    assert_eq!(ranked, vec![(child.id, 2), (a.id, 1)]);
    assert_eq!(s.context_insights(&[p.id], 1).await.unwrap().most_accessed.len(), 1);
    let both = s.context_insights(&[p.id, other.id], 5).await.unwrap();
    assert_eq!(both.contexts, 3);
}

/// An analytics event of `kind` by `user` in `project` at `at`, worth `tokens`.
fn event(
    user: Uuid,
    project: Option<Uuid>,
    kind: &str,
    at: DateTime<Utc>,
    tokens: i64,
    source: Option<&str>,
) -> AnalyticsEventRecord {
    AnalyticsEventRecord {
        id: Uuid::now_v7(),
        user_id: user,
        project_id: project,
        event_type: kind.into(),
        timestamp: at,
        tokens_saved: tokens,
        tokens_avoided: tokens,
        contexts_retrieved: i64::from(kind == "context_retrieve"),
        api_calls_made: 1,
        processing_time_ms: 1.0,
        model: None,
        price_per_mtok: Some(3.0),
        estimated_savings_usd: tokens as f64 * 3.0 / 1e6,
        source: source.map(str::to_string),
    }
}

/// Midnight UTC of 2026-03-{day}, plus `ms` milliseconds.
fn march(day: u32, ms: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, 0, 0, 0).single().expect("valid date")
        + Duration::milliseconds(ms)
}

/// (key, event type) → (events, tokens saved), sorted, for comparing totals.
fn totals(rows: Vec<EventTotals>) -> Vec<(EventKey, String, i64, i64)> {
    let mut out: Vec<_> =
        rows.into_iter().map(|t| (t.key, t.event_type, t.events, t.tokens_saved)).collect();
    out.sort();
    out
}

const HOUR: i64 = 3_600_000;

pub async fn event_totals_by_day_project_and_source<S: Store>(s: Arc<S>) {
    let (u1, p1) = owned_project(&*s, "events1@example.com").await;
    let u2 = new_user(&*s, "events2@example.com").await;
    let p2 = project(u1.id, "second");
    s.insert_project(&p2).await.unwrap();
    let retrieve = "context_retrieve";
    s.insert_analytics_events(&[
        event(u1.id, Some(p1.id), retrieve, march(10, 10 * HOUR), 100, Some("claude")),
        event(u1.id, Some(p1.id), "context_save", march(11, -1), 40, Some("cursor")),
        event(u1.id, Some(p2.id), retrieve, march(11, 0), 50, Some("claude")),
        event(u1.id, None, retrieve, march(11, 8 * HOUR), 7, Some("claude")),
        event(u2.id, Some(p1.id), retrieve, march(12, 12 * HOUR), 10, None),
        event(u1.id, Some(p1.id), retrieve, march(15, 0), 1000, Some("claude")),
    ])
    .await
    .unwrap();
    // A second batch adds to the same day's groups.
    s.insert_analytics_events(&[event(
        u1.id,
        Some(p1.id),
        retrieve,
        march(10, 11 * HOUR),
        1,
        Some("claude"),
    )])
    .await
    .unwrap();

    let mine = EventScope {
        user_id: Some(u1.id),
        project_ids: vec![p1.id, p2.id],
        include_projectless: true,
        from: march(10, 0),
        until: march(13, 0),
    };
    let day = |d| EventKey::Day(march(d, 0));
    let r = retrieve.to_string();
    assert_eq!(
        totals(s.event_totals(&mine, EventGroup::Day).await.unwrap()),
        vec![
            (day(10), "context_retrieve".into(), 2, 101),
            (day(10), "context_save".into(), 1, 40),
            (day(11), r.clone(), 2, 57),
        ]
    );
    let all = s.event_totals(&mine, EventGroup::Day).await.unwrap();
    let savings: f64 = all.iter().map(|t| t.estimated_savings_usd).sum();
    assert!((savings - 198.0 * 3.0 / 1e6).abs() < 1e-12, "{savings}");
    assert_eq!(all.iter().map(|t| t.contexts_retrieved).sum::<i64>(), 4);

    let project_only = EventScope { include_projectless: false, ..mine.clone() };
    assert_eq!(
        totals(s.event_totals(&project_only, EventGroup::Project).await.unwrap()),
        vec![
            (EventKey::Project(Some(p1.id)), r.clone(), 2, 101),
            (EventKey::Project(Some(p1.id)), "context_save".into(), 1, 40),
            (EventKey::Project(Some(p2.id)), r.clone(), 1, 50),
        ]
    );

    // Everyone's events in p1 (a project report), by source.
    let team = EventScope {
        user_id: None,
        project_ids: vec![p1.id],
        include_projectless: false,
        from: march(1, 0),
        until: march(31, 0),
    };
    assert_eq!(
        totals(s.event_totals(&team, EventGroup::Source).await.unwrap()),
        vec![
            (EventKey::Source(None), r.clone(), 1, 10),
            (EventKey::Source(Some("claude".into())), r.clone(), 3, 1101),
            (EventKey::Source(Some("cursor".into())), "context_save".into(), 1, 40),
        ]
    );
    // A project outside the scope contributes nothing; an empty or reversed range is empty.
    let none = EventScope { project_ids: vec![Uuid::now_v7()], ..team.clone() };
    assert!(s.event_totals(&none, EventGroup::Day).await.unwrap().is_empty());
    let reversed = EventScope { from: team.until, until: team.from, ..team.clone() };
    assert!(s.event_totals(&reversed, EventGroup::Day).await.unwrap().is_empty());
}

pub async fn event_totals_split_partial_days<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "partial@example.com").await;
    let at = |d, h: i64| march(d, h * HOUR);
    let mut events = Vec::new();
    for d in 3..=6 {
        for h in [0, 6, 12, 18] {
            events.push(event(u.id, Some(p.id), "context_retrieve", at(d, h), d as i64, None));
        }
    }
    s.insert_analytics_events(&events).await.unwrap();
    let count = |from, until| {
        let s = s.clone();
        let scope = EventScope {
            user_id: Some(u.id),
            project_ids: vec![p.id],
            include_projectless: false,
            from,
            until,
        };
        async move {
            let rows = s.event_totals(&scope, EventGroup::Day).await.unwrap();
            let mut days: Vec<(EventKey, i64)> =
                rows.into_iter().map(|t| (t.key, t.events)).collect();
            days.sort();
            days
        }
    };
    let day = |d| EventKey::Day(march(d, 0));
    // Whole days only.
    assert_eq!(count(at(4, 0), at(6, 0)).await, vec![(day(4), 4), (day(5), 4)]);
    // Partial first and last days: from 06:00 on the 3rd (inclusive) to 12:00 on the 6th
    // (exclusive).
    assert_eq!(
        count(at(3, 6), at(6, 12)).await,
        vec![(day(3), 3), (day(4), 4), (day(5), 4), (day(6), 2)]
    );
    // Within one day, and one millisecond either side of an event.
    assert_eq!(count(at(4, 6), at(4, 18)).await, vec![(day(4), 2)]);
    assert_eq!(count(at(4, 6) + Duration::milliseconds(1), at(4, 12)).await, vec![]);
    assert_eq!(count(at(4, 5), at(4, 6) + Duration::milliseconds(1)).await, vec![(day(4), 1)]);
    // Starting just before midnight, ending just after the next one.
    assert_eq!(
        count(at(3, 18), at(5, 0) + Duration::milliseconds(1)).await,
        vec![(day(3), 1), (day(4), 4), (day(5), 1)]
    );
}

fn job(kind: &str, project_id: Option<Uuid>, created_by: Uuid, n: i64) -> JobRecord {
    JobRecord {
        id: Uuid::now_v7(),
        kind: kind.into(),
        project_id,
        created_by,
        payload: serde_json::json!({"n": n}),
        status: JobStatus::Queued,
        progress: serde_json::json!({}),
        result: None,
        error: None,
        attempts: 0,
        max_attempts: 3,
        run_after: t0(),
        lease_owner: None,
        lease_until: None,
        cancel_requested: false,
        created_at: t0() + Duration::milliseconds(n),
        started_at: None,
        finished_at: None,
    }
}

pub async fn jobs_are_claimed_once_and_leased<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "jobs@example.com").await;
    let first = job("scan", Some(p.id), u.id, 1);
    let other_kind = job("sync", Some(p.id), u.id, 2);
    s.insert_job(&first).await.unwrap();
    s.insert_job(&other_kind).await.unwrap();
    assert_eq!(s.job_by_id(first.id).await.unwrap().unwrap(), first);

    let now = t0() + Duration::seconds(1);
    let lease = now + Duration::seconds(30);
    let claimed = s.claim_job(&["scan"], "w1", now, lease).await.unwrap().unwrap();
    assert_eq!(claimed.id, first.id);
    assert_eq!((claimed.status, claimed.attempts), (JobStatus::Running, 1));
    assert_eq!((claimed.lease_owner.as_deref(), claimed.lease_until), (Some("w1"), Some(lease)));
    assert_eq!(claimed.started_at, Some(now));
    assert_eq!(s.claim_job(&["scan"], "w2", now, lease).await.unwrap(), None, "leased");

    let progress = serde_json::json!({"files_done": 3});
    assert_eq!(s.heartbeat_job(first.id, "w2", &progress, lease).await.unwrap(), None);
    let longer = lease + Duration::seconds(30);
    assert_eq!(s.heartbeat_job(first.id, "w1", &progress, longer).await.unwrap(), Some(false));
    let saved = s.job_by_id(first.id).await.unwrap().unwrap();
    assert_eq!((saved.progress, saved.lease_until), (progress, Some(longer)));

    // w1 dies: after its lease another worker takes the job over, and w1 can no longer end it.
    let later = longer + Duration::seconds(1);
    assert_eq!(s.claim_job(&["scan"], "w2", longer, later).await.unwrap(), None, "not expired");
    let taken = s.claim_job(&["scan"], "w2", later, later + Duration::seconds(30)).await;
    let taken = taken.unwrap().unwrap();
    assert_eq!((taken.id, taken.attempts, taken.started_at), (first.id, 2, Some(now)));
    let done = JobOutcome::Succeeded(serde_json::json!({"files_indexed": 7}));
    assert!(!s.finish_job(first.id, "w1", &done, later).await.unwrap());
    assert!(s.finish_job(first.id, "w2", &done, later).await.unwrap());
    let finished = s.job_by_id(first.id).await.unwrap().unwrap();
    assert_eq!(finished.status, JobStatus::Succeeded);
    assert_eq!(finished.result, Some(serde_json::json!({"files_indexed": 7})));
    assert_eq!((finished.finished_at, finished.lease_owner), (Some(later), None));
    assert!(!s.finish_job(first.id, "w2", &done, later).await.unwrap(), "already final");

    let mut counts = s.job_counts().await.unwrap();
    counts.sort_by_key(|(status, _)| status.as_str());
    assert_eq!(counts, vec![(JobStatus::Queued, 1), (JobStatus::Succeeded, 1)]);
    assert_eq!(s.job_by_id(Uuid::now_v7()).await.unwrap(), None);
}

pub async fn jobs_retry_cancel_and_run_out_of_attempts<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "retry@example.com").await;
    let mut flaky = job("scan", Some(p.id), u.id, 1);
    flaky.max_attempts = 2;
    s.insert_job(&flaky).await.unwrap();
    let now = t0() + Duration::seconds(1);
    let lease = |t: DateTime<Utc>| t + Duration::seconds(30);
    s.claim_job(&["scan"], "w", now, lease(now)).await.unwrap().unwrap();
    let backoff = now + Duration::seconds(10);
    let retry = JobOutcome::Retry { error: "clone timed out".into(), run_after: backoff };
    assert!(s.finish_job(flaky.id, "w", &retry, now).await.unwrap());
    let queued = s.job_by_id(flaky.id).await.unwrap().unwrap();
    assert_eq!(
        (queued.status, queued.error.as_deref()),
        (JobStatus::Queued, Some("clone timed out"))
    );
    assert_eq!(s.claim_job(&["scan"], "w", now, lease(now)).await.unwrap(), None, "backing off");
    let again = s.claim_job(&["scan"], "w", backoff, lease(backoff)).await.unwrap().unwrap();
    assert_eq!(again.attempts, 2);
    assert!(s.finish_job(flaky.id, "w", &retry, backoff).await.unwrap());
    let failed = s.job_by_id(flaky.id).await.unwrap().unwrap();
    assert_eq!((failed.status, failed.finished_at), (JobStatus::Failed, Some(backoff)));

    // A job whose workers keep dying is failed once its attempts are spent.
    let mut deadly = job("scan", Some(p.id), u.id, 2);
    deadly.max_attempts = 1;
    s.insert_job(&deadly).await.unwrap();
    s.claim_job(&["scan"], "w", now, lease(now)).await.unwrap().unwrap();
    let after = lease(now) + Duration::seconds(1);
    assert_eq!(s.claim_job(&["scan"], "w2", after, lease(after)).await.unwrap(), None);
    let dead = s.job_by_id(deadly.id).await.unwrap().unwrap();
    assert_eq!(dead.status, JobStatus::Failed);
    assert!(dead.error.unwrap().contains("stopped"), "says why");

    // Cancel: a queued job at once; a running one through its worker's next heartbeat.
    let waiting = job("scan", Some(p.id), u.id, 3);
    let running = job("scan", Some(p.id), u.id, 4);
    s.insert_job(&waiting).await.unwrap();
    s.insert_job(&running).await.unwrap();
    let got = s.cancel_job(waiting.id, now).await.unwrap().unwrap();
    assert_eq!((got.status, got.finished_at), (JobStatus::Cancelled, Some(now)));
    let held = s.claim_job(&["scan"], "w", now, lease(now)).await.unwrap().unwrap();
    assert_eq!(held.id, running.id, "the cancelled job is never claimed");
    let got = s.cancel_job(running.id, now).await.unwrap().unwrap();
    assert_eq!((got.status, got.cancel_requested), (JobStatus::Running, true));
    let progress = serde_json::json!({});
    assert_eq!(s.heartbeat_job(running.id, "w", &progress, lease(now)).await.unwrap(), Some(true));
    assert!(s.finish_job(running.id, "w", &JobOutcome::Cancelled, now).await.unwrap());
    assert_eq!(s.job_by_id(running.id).await.unwrap().unwrap().status, JobStatus::Cancelled);
    let unchanged = s.cancel_job(flaky.id, now).await.unwrap().unwrap();
    assert_eq!(unchanged.status, JobStatus::Failed, "final jobs stay as they are");
    assert_eq!(s.cancel_job(Uuid::now_v7(), now).await.unwrap(), None);

    // A running job asked to cancel whose worker died is cancelled, not run again.
    let orphan = job("scan", Some(p.id), u.id, 5);
    s.insert_job(&orphan).await.unwrap();
    s.claim_job(&["scan"], "w", now, lease(now)).await.unwrap().unwrap();
    s.cancel_job(orphan.id, now).await.unwrap();
    assert_eq!(s.claim_job(&["scan"], "w2", after, lease(after)).await.unwrap(), None);
    assert_eq!(s.job_by_id(orphan.id).await.unwrap().unwrap().status, JobStatus::Cancelled);
}

pub async fn job_inputs_round_trip_and_orphans_go<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "inputs@example.com").await;
    let with_job = job("scan", Some(p.id), u.id, 1);
    // Parts are written before the job, and may hold any bytes (here, every byte value).
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 256) as u8).collect();
    s.put_job_input(with_job.id, 0, &big, t0()).await.unwrap();
    s.put_job_input(with_job.id, 1, b"", t0()).await.unwrap();
    s.insert_job(&with_job).await.unwrap();
    assert_eq!(s.job_input(with_job.id, 0).await.unwrap().as_deref(), Some(&big[..]));
    assert_eq!(s.job_input(with_job.id, 1).await.unwrap(), Some(Vec::new()));
    assert_eq!(s.job_input(with_job.id, 2).await.unwrap(), None);
    // Writing a part again replaces it.
    s.put_job_input(with_job.id, 1, b"again", t0()).await.unwrap();
    assert_eq!(s.job_input(with_job.id, 1).await.unwrap().as_deref(), Some(&b"again"[..]));

    // A part whose job never appeared goes once it is old enough; one with its job stays.
    let orphan = Uuid::now_v7();
    s.put_job_input(orphan, 0, b"lost", t0()).await.unwrap();
    assert_eq!(s.delete_orphan_job_inputs(t0()).await.unwrap(), 0, "not older than the cutoff");
    let later = t0() + Duration::hours(2);
    assert_eq!(s.delete_orphan_job_inputs(later).await.unwrap(), 1);
    assert_eq!(s.job_input(orphan, 0).await.unwrap(), None);
    assert!(s.job_input(with_job.id, 0).await.unwrap().is_some());

    s.delete_job_input(with_job.id).await.unwrap();
    assert_eq!(s.job_input(with_job.id, 0).await.unwrap(), None);
    assert_eq!(s.job_input(with_job.id, 1).await.unwrap(), None);
    s.delete_job_input(Uuid::now_v7()).await.unwrap();
}

pub async fn concurrent_claims_never_share_a_job<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "claims@example.com").await;
    for n in 0..3 {
        s.insert_job(&job("scan", Some(p.id), u.id, n)).await.unwrap();
    }
    let now = t0() + Duration::seconds(1);
    let tasks: Vec<_> = (0..8)
        .map(|w| {
            let s = s.clone();
            tokio::spawn(async move {
                let worker = format!("w{w}");
                s.claim_job(&["scan"], &worker, now, now + Duration::seconds(30)).await.unwrap()
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for t in tasks {
        if let Some(j) = t.await.unwrap() {
            claimed.push(j.id);
        }
    }
    claimed.sort();
    claimed.dedup();
    assert_eq!(claimed.len(), 3, "each job claimed by exactly one worker");
}

pub async fn scanned_files_are_replaced_whole<S: Store>(s: Arc<S>) {
    let (u, p) = owned_project(&*s, "scans@example.com").await;
    let scan_chunk = |text: &str, path: &str, axis: usize| {
        let mut c = context(p.id, u.id, text);
        (c.source, c.file_path) = ("codebase_scan".into(), Some(path.into()));
        let passage = passage_for(&c, unit(axis, 0.0));
        (c, vec![passage])
    };
    let mut manual = context(p.id, u.id, "a note about src/a.py");
    manual.file_path = Some("src/a.py".into());
    s.insert_contexts(&[(manual.clone(), Vec::new())]).await.unwrap();

    let v1 = ScannedFile { file_path: "src/a.py".into(), content_hash: "h1".into() };
    let first = vec![
        scan_chunk("def a(): pass", "src/a.py", 0),
        scan_chunk("def b(): pass", "src/a.py", 1),
    ];
    assert_eq!(s.replace_scanned_file(p.id, &v1, &first).await.unwrap(), 0);
    let other = ScannedFile { file_path: "src/b.py".into(), content_hash: "hb".into() };
    s.replace_scanned_file(p.id, &other, &[scan_chunk("def c(): pass", "src/b.py", 2)])
        .await
        .unwrap();
    let mut files = s.scanned_files(p.id).await.unwrap();
    files.sort_by(|a, b| a.file_path.cmp(&b.file_path));
    assert_eq!(files, vec![v1.clone(), other.clone()]);
    let hits = s.vector_search(&unit(1, 0.0), "test-model", &[p.id], 10).await.unwrap();
    assert_eq!(hits[0].context_id, first[1].0.id);

    // A new version replaces every chunk of the file, in search too; other files stay.
    let v2 = ScannedFile { file_path: "src/a.py".into(), content_hash: "h2".into() };
    let second = vec![scan_chunk("def a2(): pass", "src/a.py", 3)];
    assert_eq!(s.replace_scanned_file(p.id, &v2, &second).await.unwrap(), 2);
    assert!(s.context_by_id(first[0].0.id).await.unwrap().is_none());
    let hits = s.vector_search(&unit(1, 0.0), "test-model", &[p.id], 10).await.unwrap();
    assert!(hits.iter().all(|h| h.context_id != first[1].0.id), "gone from the index");
    assert!(s.scanned_files(p.id).await.unwrap().contains(&v2));

    assert_eq!(s.remove_scanned_files(p.id, &["src/a.py".into(), "nope".into()]).await.unwrap(), 1);
    assert_eq!(s.scanned_files(p.id).await.unwrap(), vec![other]);
    let hits = s.vector_search(&unit(3, 0.0), "test-model", &[p.id], 10).await.unwrap();
    assert!(hits.iter().all(|h| h.context_id != second[0].0.id));
    assert!(s.context_by_id(manual.id).await.unwrap().is_some(), "saved notes are not scans");
}
