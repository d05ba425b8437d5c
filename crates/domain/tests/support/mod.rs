//! The service-test world: a `Services` on a real SQLite file in a temporary directory with the
//! hashing embedder and the system clock (no upkeep task runs, so nothing is flushed unless a
//! test flushes it), and helpers that create users, projects, memberships and keys.
#![allow(dead_code)] // each test binary uses part of it

use std::sync::Arc;

use tc_domain::services::{Pricing, default_prices};
use tc_domain::views::{
    AddContributorRequest, CreateApiKeyRequest, CreateProjectRequest, SaveContextRequest,
    UpdateProjectRequest,
};
use tc_domain::{
    AuthSettings, Caller, Credential, DomainError, EmailVerification, ErrorCode, Services,
    SystemClock,
};
use tc_embed::{Embedder, HashingEmbedder};
use tc_store::prelude::*;
use tc_store::{Scope, UserRecord};
use tc_store_sqlite::SqliteStore;
use uuid::Uuid;

pub struct World {
    pub services: Arc<Services>,
    pub store: SqliteStore,
    dir: tempfile::TempDir,
}

pub async fn world(email_verification: EmailVerification) -> World {
    world_with(email_verification, Arc::new(HashingEmbedder), |services| services).await
}

/// A world with another embedder, and whatever `configure` adds to its services.
pub async fn world_with(
    email_verification: EmailVerification,
    embedder: Arc<dyn Embedder>,
    configure: impl FnOnce(Services) -> Services,
) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("tc.db")).await.unwrap();
    let settings = AuthSettings { email_verification, ..AuthSettings::default() };
    let services = new_services(&store, embedder, settings);
    World { services: Arc::new(configure(services)), store, dir }
}

/// Services over `store` with the test secret and prices.
fn new_services(
    store: &SqliteStore,
    embedder: Arc<dyn Embedder>,
    settings: AuthSettings,
) -> Services {
    let pricing = Pricing {
        model: "claude-3-sonnet".into(),
        price_per_mtok: 3.0,
        prices: default_prices(),
        limits: Default::default(),
    };
    Services::new(
        Arc::new(store.clone()),
        Arc::new(SystemClock),
        embedder,
        b"a test secret of at least thirty-two bytes",
        settings,
        pricing,
    )
}

impl World {
    /// Another `Services` over the same store (another replica, or the server after a restart
    /// with other settings), with `embedder` and whatever `configure` adds.
    pub fn services_with(
        &self,
        embedder: Arc<dyn Embedder>,
        configure: impl FnOnce(Services) -> Services,
    ) -> Arc<Services> {
        Arc::new(configure(new_services(&self.store, embedder, AuthSettings::default())))
    }

    /// The directory of the world's database file (`tc.db`).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub async fn user(&self, email: &str, verified: bool) -> UserRecord {
        let mut user = tc_store_conformance::user(email);
        user.email_verified = verified;
        self.store.insert_user(&user).await.unwrap();
        user
    }

    pub async fn project(&self, owner: &Caller, name: &str, visibility: &str) -> Uuid {
        let req = CreateProjectRequest {
            name: Some(name.into()),
            description: Some(format!("{name}: notes about {name}")),
            visibility: Some(visibility.into()),
            settings: None,
        };
        self.services.create_project(owner, req).await.unwrap().id
    }

    /// `owner` invites `who` to `project` and `who` accepts.
    pub async fn join(&self, owner: &Caller, project: Uuid, who: &UserRecord) {
        let invitation = self.invite(owner, project, who).await;
        self.services.accept_invitation(&session(who), invitation).await.unwrap();
    }

    pub async fn invite(&self, owner: &Caller, project: Uuid, who: &UserRecord) -> Uuid {
        let req = AddContributorRequest { email: Some(who.email.clone()), user_id: None };
        self.services.add_contributor(owner, project, req).await.unwrap().id
    }

    pub async fn save(
        &self,
        caller: &Caller,
        project: Option<Uuid>,
        text: &str,
    ) -> Result<Uuid, DomainError> {
        let req =
            SaveContextRequest { content: Some(text.into()), project_id: project, metadata: None };
        self.services.save_context(caller, req, None).await.map(|r| r.project_id)
    }

    pub async fn key(
        &self,
        owner: &Caller,
        scopes: &[&str],
        project: Option<Uuid>,
    ) -> (Uuid, Caller) {
        let req = CreateApiKeyRequest {
            name: Some("test".into()),
            scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
            project_id: project,
        };
        let key = self.services.create_api_key(owner, req).await.unwrap();
        let scopes = scopes.iter().map(|s| Scope::parse(s).unwrap()).collect();
        let caller = Caller {
            user_id: owner.user_id,
            email_verified: owner.email_verified,
            credential: Credential::ApiKey { key_id: key.api_key.id, scopes, project_id: project },
        };
        (key.api_key.id, caller)
    }
}

/// A login session of `user`: the full rights of the account.
pub fn session(user: &UserRecord) -> Caller {
    Caller {
        user_id: user.id,
        email_verified: user.email_verified,
        credential: Credential::AccessToken,
    }
}

#[track_caller]
pub fn fails_with<T: std::fmt::Debug>(result: Result<T, DomainError>, code: ErrorCode) {
    match result {
        Ok(value) => panic!("expected {code:?}, got {value:?}"),
        Err(e) => assert_eq!(e.code, code, "{}", e.message),
    }
}

pub fn update(name: &str) -> UpdateProjectRequest {
    UpdateProjectRequest {
        name: Some(name.into()),
        description: None,
        visibility: None,
        settings: None,
    }
}
