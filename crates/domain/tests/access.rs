//! Every authorisation rule of `services/access.rs`, exercised through the public service
//! methods the front doors call, on a real SQLite file with the hashing embedder: no model, no
//! socket, a few milliseconds a test. The HTTP and MCP suites prove the same rules reach the
//! wire; these prove the rules themselves, one by one.

mod support;

use support::{fails_with, session, update, world};
use tc_domain::views::{CreateProjectRequest, RotateApiKeyRequest, SearchRequest};
use tc_domain::{Caller, EmailVerification, ErrorCode};
use uuid::Uuid;

#[tokio::test]
async fn reading_a_project_takes_membership_or_a_team_project() {
    let w = world(EmailVerification::Off).await;
    let ann = session(&w.user("ann@example.com", true).await);
    let bob = w.user("bob@example.com", true).await;
    let eve = session(&w.user("eve@example.com", true).await);
    let private = w.project(&ann, "private", "private").await;
    let team = w.project(&ann, "team", "team").await;
    w.join(&ann, private, &bob).await;

    w.services.get_project(&ann, private).await.unwrap();
    w.services.get_project(&session(&bob), private).await.unwrap();
    w.services.get_project(&eve, team).await.unwrap();
    // A private project of others is not found, never forbidden: ids cannot be probed.
    fails_with(w.services.get_project(&eve, private).await, ErrorCode::ProjectNotFound);
    fails_with(w.services.get_project(&eve, Uuid::now_v7()).await, ErrorCode::ProjectNotFound);
}

#[tokio::test]
async fn writing_takes_membership_and_owner_operations_take_the_owner() {
    let w = world(EmailVerification::Off).await;
    let ann = session(&w.user("ann@example.com", true).await);
    let bob = w.user("bob@example.com", true).await;
    let eve = session(&w.user("eve@example.com", true).await);
    let team = w.project(&ann, "team", "team").await;
    w.join(&ann, team, &bob).await;
    let bob = session(&bob);

    // Readable is not writable.
    fails_with(w.save(&eve, Some(team), "eve was here").await, ErrorCode::ProjectAccessDenied);
    assert_eq!(w.save(&bob, Some(team), "bob's decision").await.unwrap(), team);
    // A contributor writes context but does not run the project.
    fails_with(
        w.services.update_project(&bob, team, update("mine")).await,
        ErrorCode::ProjectAccessDenied,
    );
    fails_with(w.services.delete_project(&bob, team).await, ErrorCode::ProjectAccessDenied);
    w.services.update_project(&ann, team, update("renamed")).await.unwrap();

    // A deleted project is gone for everyone but its owner, who alone may restore it.
    w.services.delete_project(&ann, team).await.unwrap();
    fails_with(w.services.get_project(&bob, team).await, ErrorCode::ProjectNotFound);
    fails_with(w.services.get_project(&ann, team).await, ErrorCode::ProjectNotFound);
    fails_with(w.services.restore_project(&bob, team).await, ErrorCode::ProjectNotFound);
    w.services.restore_project(&ann, team).await.unwrap();
    w.services.get_project(&bob, team).await.unwrap();
}

#[tokio::test]
async fn a_contributor_may_leave_but_not_remove_others() {
    let w = world(EmailVerification::Off).await;
    let ann_user = w.user("ann@example.com", true).await;
    let ann = session(&ann_user);
    let bob = w.user("bob@example.com", true).await;
    let cid = w.user("cid@example.com", true).await;
    let project = w.project(&ann, "shared", "private").await;
    w.join(&ann, project, &bob).await;
    w.join(&ann, project, &cid).await;

    fails_with(
        w.services.remove_contributor(&session(&bob), project, cid.id).await,
        ErrorCode::ProjectAccessDenied,
    );
    w.services.remove_contributor(&session(&bob), project, bob.id).await.unwrap();
    fails_with(w.services.get_project(&session(&bob), project).await, ErrorCode::ProjectNotFound);
    w.services.remove_contributor(&ann, project, cid.id).await.unwrap();
    fails_with(
        w.services.remove_contributor(&ann, project, ann_user.id).await,
        ErrorCode::ValidationFailed,
    );
}

#[tokio::test]
async fn a_pending_invitation_grants_nothing_and_save_inference_stays_home() {
    let w = world(EmailVerification::Off).await;
    let ann = session(&w.user("ann@example.com", true).await);
    let eve_user = w.user("eve@example.com", true).await;
    let eve = session(&eve_user);
    let trap = w.project(&ann, "trap", "private").await;
    w.project(&ann, "team", "team").await;
    let home = w.project(&eve, "home", "private").await;
    let invitation = w.invite(&ann, trap, &eve_user).await;

    fails_with(w.services.get_project(&eve, trap).await, ErrorCode::ProjectNotFound);
    // Neither the pending invitation nor someone else's team project is a place for eve's
    // notes: her only project of her own is chosen.
    assert_eq!(w.save(&eve, None, "my private notes about trap").await.unwrap(), home);
    // Another account cannot answer an invitation that is not addressed to it.
    let mal = session(&w.user("mal@example.com", true).await);
    fails_with(w.services.accept_invitation(&mal, invitation).await, ErrorCode::ResourceNotFound);
    w.services.decline_invitation(&eve, invitation).await.unwrap();
    fails_with(w.services.get_project(&eve, trap).await, ErrorCode::ProjectNotFound);
}

#[tokio::test]
async fn a_restricted_key_sees_its_project_alone() {
    let w = world(EmailVerification::Off).await;
    let ann = session(&w.user("ann@example.com", true).await);
    let alpha = w.project(&ann, "alpha", "private").await;
    let beta = w.project(&ann, "beta", "private").await;
    w.save(&ann, Some(alpha), "stripe webhook retries in alpha").await.unwrap();
    w.save(&ann, Some(beta), "stripe webhook retries in beta").await.unwrap();
    let (_, key) = w.key(&ann, &["read", "write"], Some(alpha)).await;

    fails_with(w.services.get_project(&key, beta).await, ErrorCode::ProjectNotFound);
    fails_with(w.save(&key, Some(beta), "into beta").await, ErrorCode::ProjectNotFound);
    assert_eq!(w.save(&key, None, "where does this go").await.unwrap(), alpha);
    let req = SearchRequest {
        query: Some("stripe webhook retries".into()),
        similarity_threshold: Some(0.0),
        ..SearchRequest::default()
    };
    let found = w.services.search(&key, req.clone()).await.unwrap().results;
    assert!(!found.is_empty());
    assert!(found.iter().all(|r| r.project_id == alpha), "{found:?}");
    let everything = w.services.search(&ann, req).await.unwrap().results;
    assert!(everything.iter().any(|r| r.project_id == beta));
    fails_with(
        w.services
            .create_project(
                &key,
                CreateProjectRequest {
                    name: Some("more".into()),
                    description: None,
                    visibility: None,
                    settings: None,
                },
            )
            .await,
        ErrorCode::InsufficientPermissions,
    );
}

#[tokio::test]
async fn a_key_never_manages_a_stronger_key() {
    let w = world(EmailVerification::Off).await;
    let ann = session(&w.user("ann@example.com", true).await);
    let alpha = w.project(&ann, "alpha", "private").await;
    let (strong, _) = w.key(&ann, &["read", "write"], None).await;
    let (_, write_only) = w.key(&ann, &["write"], None).await;
    let (_, restricted) = w.key(&ann, &["read", "write"], Some(alpha)).await;
    let (_, read_only) = w.key(&ann, &["read"], None).await;

    let rotate = |key_id| RotateApiKeyRequest { key_id: Some(key_id) };
    fails_with(
        w.services.rotate_api_key(&write_only, rotate(strong)).await,
        ErrorCode::InsufficientPermissions,
    );
    fails_with(
        w.services.rotate_api_key(&restricted, rotate(strong)).await,
        ErrorCode::ResourceNotFound,
    );
    fails_with(w.services.revoke_api_key(&restricted, strong).await, ErrorCode::ResourceNotFound);
    fails_with(
        w.save(&read_only, Some(alpha), "read keys do not write").await,
        ErrorCode::InsufficientPermissions,
    );
    w.services.rotate_api_key(&ann, rotate(strong)).await.unwrap();
}

#[tokio::test]
async fn required_verification_stops_an_unverified_account() {
    let w = world(EmailVerification::Required).await;
    let ann = session(&w.user("ann@example.com", true).await);
    let bob = session(&w.user("bob@example.com", false).await);
    let project = w.project(&ann, "alpha", "team").await;

    fails_with(w.services.get_project(&bob, project).await, ErrorCode::EmailNotVerified);
    fails_with(w.save(&bob, None, "a note").await, ErrorCode::EmailNotVerified);
    let req = CreateProjectRequest {
        name: Some("b".into()),
        description: None,
        visibility: None,
        settings: None,
    };
    fails_with(w.services.create_project(&bob, req).await, ErrorCode::EmailNotVerified);
    w.services.get_project(&ann, project).await.unwrap();
}

#[tokio::test]
async fn limited_verification_saves_but_does_not_retrieve_or_accept() {
    let w = world(EmailVerification::Limited).await;
    let ann = session(&w.user("ann@example.com", true).await);
    let bob_user = w.user("bob@example.com", false).await;
    let bob = session(&bob_user);
    let own = w.project(&bob, "own", "private").await;
    let shared = w.project(&ann, "shared", "private").await;
    let invitation = w.invite(&ann, shared, &bob_user).await;

    assert_eq!(w.save(&bob, None, "saved while unverified").await.unwrap(), own);
    let req = SearchRequest { query: Some("saved".into()), ..SearchRequest::default() };
    fails_with(w.services.search(&bob, req).await, ErrorCode::EmailNotVerified);
    // Anyone could register someone else's address: only its verified holder may accept.
    fails_with(w.services.accept_invitation(&bob, invitation).await, ErrorCode::EmailNotVerified);
    let verified = Caller { email_verified: true, ..bob.clone() };
    w.services.accept_invitation(&verified, invitation).await.unwrap();
}

/// `GET /jobs/{id}`: a project's jobs are seen by whoever reads the project; a job outside any
/// project by the account that started it, with a credential not tied to a project; the jobs
/// the server runs for itself by nobody.
#[tokio::test]
async fn a_job_is_seen_by_its_project_readers_or_its_starter() {
    use serde_json::json;
    use tc_store::prelude::*;
    let w = world(EmailVerification::Off).await;
    let ann = session(&w.user("ann@example.com", true).await);
    let eve = session(&w.user("eve@example.com", true).await);
    let project = w.project(&ann, "scanned", "private").await;
    let (_, restricted) = w.key(&ann, &["read"], Some(project)).await;
    let mut ids = Vec::new();
    for (kind, project_id, by) in [
        ("scan_codebase", Some(project), ann.user_id),
        ("export", None, ann.user_id),
        (tc_domain::services::EMBED_KIND, None, Uuid::nil()),
    ] {
        let job = w.services.queued_job(Uuid::now_v7(), kind, project_id, by, json!({}), json!({}));
        w.store.insert_job(&job).await.unwrap();
        ids.push(job.id);
    }
    let [in_project, own, system] = ids[..] else { unreachable!() };

    assert_eq!(w.services.job(&ann, in_project).await.unwrap().job_id, in_project);
    assert_eq!(w.services.job(&restricted, in_project).await.unwrap().job_id, in_project);
    assert_eq!(w.services.job(&ann, own).await.unwrap().kind, "export");
    fails_with(w.services.job(&restricted, own).await, ErrorCode::ResourceNotFound);
    for caller in [&ann, &eve] {
        fails_with(w.services.job(caller, system).await, ErrorCode::ResourceNotFound);
    }
    fails_with(w.services.job(&eve, in_project).await, ErrorCode::ResourceNotFound);
    fails_with(w.services.job(&eve, own).await, ErrorCode::ResourceNotFound);
    fails_with(w.services.job(&ann, Uuid::now_v7()).await, ErrorCode::ResourceNotFound);
}
