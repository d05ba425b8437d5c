//! Conformance scenarios: Projects, membership, invitations, sign-up invitations, MCP sessions and what a user may read.

use std::sync::Arc;

use chrono::Duration;
use tc_store::*;
use uuid::Uuid;

use crate::fixtures::*;

/// This area's scenarios, listed beside them; `conformance_suite!` runs every area's list.
#[doc(hidden)]
#[macro_export]
macro_rules! projects_scenarios {
    ($make:path) => {
        $crate::conformance_suite!(@tests $make; projects;
            projects_carry_owner_membership,
            project_lists_page_and_filter,
            soft_delete_restore_and_purge,
            members_conflict_list_and_remove,
            invitations_grant_nothing_until_accepted,
            signup_invitations_are_used_once,
            mcp_sessions_keep_their_first_owner,
            readable_projects_are_members_and_team,
        );
    };
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
