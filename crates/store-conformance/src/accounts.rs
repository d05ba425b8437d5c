//! Conformance scenarios: Users, API keys, refresh tokens, email tokens, Jira or Confluence
//! connections and the MCP servers registered for the agent.

use std::sync::Arc;

use chrono::Duration;
use tc_store::*;
use uuid::Uuid;

use crate::fixtures::*;

/// This area's scenarios, listed beside them; `conformance_suite!` runs every area's list.
#[doc(hidden)]
#[macro_export]
macro_rules! accounts_scenarios {
    ($make:path) => {
        $crate::conformance_suite!(@tests $make; accounts;
            users_are_unique_case_insensitively,
            user_flags_and_password_update,
            api_keys_lookup_revoke_and_touch,
            rotation_shortens_expiry_and_never_lengthens_it,
            refresh_tokens_are_spent_exactly_once,
            concurrent_refresh_has_one_winner,
            refresh_revocation_by_family_and_user,
            web_sessions_are_found_touched_and_revoked,
            email_tokens_are_spent_once_with_their_siblings,
            concurrent_email_token_use_has_one_winner,
            connections_keep_sealed_secrets_and_swap_them_once,
            mcp_servers_are_per_user_with_their_tool_cache,
            a_users_own_language_model_is_replaced_whole,
        );
    };
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

fn web_session(user_id: Uuid, hash: &str) -> WebSessionRecord {
    WebSessionRecord {
        id: Uuid::now_v7(),
        user_id,
        hash: hash.to_string(),
        created_at: t0(),
        last_seen_at: t0(),
        expires_at: t0() + Duration::days(7),
        revoked_at: None,
    }
}

pub async fn web_sessions_are_found_touched_and_revoked<S: Store>(s: Arc<S>) {
    let ann = new_user(&*s, "browser@example.com").await;
    let bob = new_user(&*s, "other-browser@example.com").await;
    let (one, two, bobs) =
        (web_session(ann.id, "one"), web_session(ann.id, "two"), web_session(bob.id, "bob"));
    for session in [&one, &two, &bobs] {
        s.insert_web_session(session).await.unwrap();
    }
    assert_eq!(s.web_session("one").await.unwrap(), Some(one.clone()));
    assert_eq!(s.web_session("nope").await.unwrap(), None);
    // A hash is unique: a second session with it is a conflict, not a second row.
    assert!(matches!(
        s.insert_web_session(&web_session(ann.id, "one")).await,
        Err(StoreError::Conflict { .. })
    ));

    // Touching moves last_seen_at forward only.
    let later = t0() + Duration::minutes(5);
    s.touch_web_session(one.id, later).await.unwrap();
    s.touch_web_session(one.id, t0() + Duration::minutes(1)).await.unwrap();
    assert_eq!(s.web_session("one").await.unwrap().unwrap().last_seen_at, later);

    // Logout revokes one session; a second revocation keeps the first time.
    s.revoke_web_session(one.id, later).await.unwrap();
    s.revoke_web_session(one.id, later + Duration::minutes(1)).await.unwrap();
    assert_eq!(s.web_session("one").await.unwrap().unwrap().revoked_at, Some(later));
    assert_eq!(s.web_session("two").await.unwrap().unwrap().revoked_at, None);

    // Logout everywhere revokes the user's sessions and nobody else's.
    let end = later + Duration::minutes(2);
    s.revoke_user_web_sessions(ann.id, end).await.unwrap();
    assert_eq!(s.web_session("one").await.unwrap().unwrap().revoked_at, Some(later));
    assert_eq!(s.web_session("two").await.unwrap().unwrap().revoked_at, Some(end));
    assert_eq!(s.web_session("bob").await.unwrap().unwrap().revoked_at, None);
}

fn email_token(
    user_id: Uuid,
    purpose: EmailTokenPurpose,
    hash: &str,
    minutes: i64,
) -> EmailTokenRecord {
    EmailTokenRecord {
        id: Uuid::now_v7(),
        user_id,
        purpose,
        email: "Mail@Example.com".into(),
        token_hash: hash.to_string(),
        created_at: t0() + Duration::minutes(minutes),
        expires_at: t0() + Duration::minutes(minutes + 60),
        used_at: None,
    }
}

pub async fn email_tokens_are_spent_once_with_their_siblings<S: Store>(s: Arc<S>) {
    use EmailTokenPurpose::{ResetPassword, VerifyEmail};
    let u = new_user(&*s, "mail@example.com").await;
    let other = new_user(&*s, "other-mail@example.com").await;
    assert_eq!(s.latest_email_token_at(u.id, ResetPassword).await.unwrap(), None);
    for token in [
        email_token(u.id, ResetPassword, "old", 0),
        email_token(u.id, ResetPassword, "new", 5),
        email_token(u.id, VerifyEmail, "verify", 6),
        email_token(other.id, ResetPassword, "theirs", 1),
    ] {
        s.insert_email_token(&token).await.unwrap();
    }
    assert_eq!(
        s.latest_email_token_at(u.id, ResetPassword).await.unwrap(),
        Some(t0() + Duration::minutes(5))
    );
    let now = t0() + Duration::minutes(10);
    assert_eq!(
        s.consume_email_token(VerifyEmail, "new", now).await.unwrap(),
        None,
        "a token answers for its own purpose only"
    );
    let spent = s.consume_email_token(ResetPassword, "new", now).await.unwrap().unwrap();
    assert_eq!((spent.user_id, spent.used_at), (u.id, Some(now)));
    assert_eq!(spent.email, "mail@example.com", "stored lower-cased");
    assert_eq!(s.consume_email_token(ResetPassword, "new", now).await.unwrap(), None, "once");
    assert_eq!(
        s.consume_email_token(ResetPassword, "old", now).await.unwrap(),
        None,
        "an older link of the same purpose went with it"
    );
    assert!(s.consume_email_token(VerifyEmail, "verify", now).await.unwrap().is_some());
    assert!(
        s.consume_email_token(ResetPassword, "theirs", t0() + Duration::minutes(62))
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    assert!(s.consume_email_token(ResetPassword, "theirs", now).await.unwrap().is_some());
    assert_eq!(s.consume_email_token(ResetPassword, "unknown", now).await.unwrap(), None);
}

pub async fn concurrent_email_token_use_has_one_winner<S: Store>(s: Arc<S>) {
    let u = new_user(&*s, "mail-race@example.com").await;
    let token = email_token(u.id, EmailTokenPurpose::ResetPassword, "race", 0);
    s.insert_email_token(&token).await.unwrap();
    let now = t0() + Duration::minutes(1);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.consume_email_token(EmailTokenPurpose::ResetPassword, "race", now).await
        }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap().unwrap().is_some());
    }
    assert_eq!(winners, 1);
}

fn connection(user_id: Uuid, product: &str, secret: &[u8]) -> ConnectionRecord {
    ConnectionRecord {
        id: Uuid::now_v7(),
        user_id,
        product: product.into(),
        kind: "cloud_api_token".into(),
        base_url: "https://acme.atlassian.net".into(),
        site_url: "https://acme.atlassian.net".into(),
        cloud_id: None,
        email: Some("ana@acme.test".into()),
        account_name: Some("5b10ac8d".into()),
        account_display_name: Some("Ana Lima".into()),
        secrets: vec![SecretRecord {
            kind: "api_token".into(),
            key_version: 7,
            sealed: secret.to_vec(),
        }],
        token_expires_at: None,
        token_version: 0,
        status: "active".into(),
        error: None,
        last_sync_at: None,
        created_at: t0(),
        updated_at: t0(),
    }
}

pub async fn connections_keep_sealed_secrets_and_swap_them_once<S: Store>(s: Arc<S>) {
    let u = user("atlassian@example.com");
    s.insert_user(&u).await.unwrap();
    let jira = connection(u.id, "jira", &[1, 2, 3, 0, 255]);
    s.put_connection(&jira).await.unwrap();
    s.put_connection(&connection(u.id, "confluence", &[9])).await.unwrap();
    assert_eq!(s.connection(u.id, "jira").await.unwrap().unwrap(), jira);
    assert_eq!(s.connection_by_id(jira.id).await.unwrap().unwrap(), jira);
    assert!(s.connection(Uuid::now_v7(), "jira").await.unwrap().is_none());

    // Connecting again replaces the connection and its secrets.
    let again = connection(u.id, "jira", &[4]);
    s.put_connection(&again).await.unwrap();
    assert!(s.connection_by_id(jira.id).await.unwrap().is_none());
    assert_eq!(s.connection(u.id, "jira").await.unwrap().unwrap().secrets, again.secrets);

    // A refresh swaps the secrets only from the version it read: the second racer loses.
    let rotated = vec![
        SecretRecord { kind: "access_token".into(), key_version: 7, sealed: vec![5] },
        SecretRecord { kind: "refresh_token".into(), key_version: 7, sealed: vec![6] },
    ];
    let expires = Some(t0() + Duration::hours(1));
    assert!(s.replace_connection_secrets(again.id, 0, &rotated, expires, t0()).await.unwrap());
    assert!(!s.replace_connection_secrets(again.id, 0, &[], None, t0()).await.unwrap());
    let now = s.connection(u.id, "jira").await.unwrap().unwrap();
    assert_eq!((now.token_version, now.secrets, now.token_expires_at), (1, rotated, expires));

    let synced = t0() + Duration::minutes(5);
    s.set_connection_state(again.id, "disabled", Some("refresh failed"), Some(synced), t0())
        .await
        .unwrap();
    s.set_connection_state(again.id, "disabled", Some("still"), None, t0()).await.unwrap();
    let now = s.connection(u.id, "jira").await.unwrap().unwrap();
    assert_eq!((now.status.as_str(), now.error.as_deref()), ("disabled", Some("still")));
    assert_eq!(now.last_sync_at, Some(synced), "kept when not given");
    assert_eq!(s.list_connections().await.unwrap().len(), 2);

    assert!(s.delete_connection(u.id, "jira").await.unwrap());
    assert!(!s.delete_connection(u.id, "jira").await.unwrap());
    assert!(s.connection(u.id, "jira").await.unwrap().is_none());
    assert_eq!(s.list_connections().await.unwrap().len(), 1);
}

fn mcp_server(user_id: Uuid, name: &str, token: Option<&[u8]>) -> McpServerRecord {
    McpServerRecord {
        id: Uuid::now_v7(),
        user_id,
        name: name.into(),
        url: "https://tools.example.com/mcp".into(),
        token: token.map(|t| SecretRecord {
            kind: "bearer_token".into(),
            key_version: 3,
            sealed: t.to_vec(),
        }),
        tools: serde_json::json!([{"name": "lookup", "input_schema": {"type": "object"}}]),
        tools_refreshed_at: Some(t0()),
        error: None,
        created_at: t0(),
        updated_at: t0(),
    }
}

pub async fn mcp_servers_are_per_user_with_their_tool_cache<S: Store>(s: Arc<S>) {
    let (ana, bo) = (user("mcp-ana@example.com"), user("mcp-bo@example.com"));
    s.insert_user(&ana).await.unwrap();
    s.insert_user(&bo).await.unwrap();
    let wiki = mcp_server(ana.id, "wiki", Some(&[1, 0, 255]));
    let crm = mcp_server(ana.id, "crm", None);
    s.insert_mcp_server(&wiki).await.unwrap();
    s.insert_mcp_server(&crm).await.unwrap();
    s.insert_mcp_server(&mcp_server(bo.id, "wiki", None)).await.unwrap();
    let err = s.insert_mcp_server(&mcp_server(ana.id, "wiki", None)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { constraint: "mcp_servers.name" }), "{err:?}");

    let mine = s.mcp_servers(ana.id).await.unwrap();
    assert_eq!(mine, vec![crm.clone(), wiki.clone()], "by name, token and tools intact");
    assert_eq!(s.mcp_server(wiki.id).await.unwrap().unwrap(), wiki);
    assert!(s.mcp_server(Uuid::now_v7()).await.unwrap().is_none());

    // A failed refresh keeps the cached tools; a good one replaces them and clears the error.
    let later = t0() + Duration::hours(7);
    s.set_mcp_server_error(wiki.id, "connection refused", later).await.unwrap();
    let now = s.mcp_server(wiki.id).await.unwrap().unwrap();
    assert_eq!((now.error.as_deref(), &now.tools), (Some("connection refused"), &wiki.tools));
    let fresh = serde_json::json!([{"name": "search"}, {"name": "page"}]);
    s.set_mcp_server_tools(wiki.id, &fresh, later).await.unwrap();
    let now = s.mcp_server(wiki.id).await.unwrap().unwrap();
    assert_eq!((now.error, now.tools, now.tools_refreshed_at), (None, fresh, Some(later)));

    let resealed = SecretRecord { kind: "bearer_token".into(), key_version: 4, sealed: vec![9] };
    s.replace_mcp_server_token(wiki.id, &resealed, later).await.unwrap();
    assert_eq!(s.mcp_server(wiki.id).await.unwrap().unwrap().token, Some(resealed));
    assert_eq!(s.list_all_mcp_servers().await.unwrap().len(), 3);

    // Only its owner deletes a server.
    assert!(!s.delete_mcp_server(bo.id, wiki.id).await.unwrap());
    assert!(s.delete_mcp_server(ana.id, wiki.id).await.unwrap());
    assert!(!s.delete_mcp_server(ana.id, wiki.id).await.unwrap());
    assert_eq!(s.mcp_servers(ana.id).await.unwrap(), vec![crm]);
}

fn user_llm(user_id: Uuid, model: &str, sealed: &[u8]) -> UserLlmRecord {
    UserLlmRecord {
        user_id,
        base_url: "https://llm.example.com/v1".into(),
        model: model.into(),
        credentials: SecretRecord {
            kind: "llm_credentials".into(),
            key_version: 5,
            sealed: sealed.to_vec(),
        },
        tested_at: None,
        test_error: None,
        created_at: t0(),
        updated_at: t0(),
    }
}

pub async fn a_users_own_language_model_is_replaced_whole<S: Store>(s: Arc<S>) {
    let (ana, bo) = (user("llm-ana@example.com"), user("llm-bo@example.com"));
    s.insert_user(&ana).await.unwrap();
    s.insert_user(&bo).await.unwrap();
    assert!(s.user_llm(ana.id).await.unwrap().is_none());
    let first = user_llm(ana.id, "small", &[1, 2, 0, 255]);
    s.put_user_llm(&first).await.unwrap();
    s.put_user_llm(&user_llm(bo.id, "other", &[7])).await.unwrap();
    assert_eq!(s.user_llm(ana.id).await.unwrap().unwrap(), first);

    let later = t0() + Duration::minutes(3);
    s.set_user_llm_tested(ana.id, later, Some("401 Unauthorized")).await.unwrap();
    let tested = s.user_llm(ana.id).await.unwrap().unwrap();
    assert_eq!(
        (tested.tested_at, tested.test_error.as_deref()),
        (Some(later), Some("401 Unauthorized"))
    );

    // Setting it again replaces everything, the test result included.
    let second = user_llm(ana.id, "large", &[9, 9]);
    s.put_user_llm(&second).await.unwrap();
    assert_eq!(s.user_llm(ana.id).await.unwrap().unwrap(), second);
    assert_eq!(s.list_user_llms().await.unwrap().len(), 2);

    assert!(s.delete_user_llm(ana.id).await.unwrap());
    assert!(!s.delete_user_llm(ana.id).await.unwrap());
    assert!(s.user_llm(ana.id).await.unwrap().is_none());
    assert_eq!(s.user_llm(bo.id).await.unwrap().unwrap().model, "other");
}
