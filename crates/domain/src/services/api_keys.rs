//! API keys: create (shown once), list, rotate with a grace period, revoke, and the batched
//! `last_used_at` bookkeeping that keeps authentication free of writes.

use chrono::{DateTime, Duration, Utc};
use tc_store::{ApiKeyRecord, Scope};
use tracing::{instrument, warn};
use uuid::Uuid;

use super::access::Access;
use super::{Services, validate};
use crate::caller::Caller;
use crate::error::{DomainError, DomainResult};
use crate::secrets;
use crate::views::{
    ApiKeyView, CreateApiKeyRequest, NewApiKeyView, RotateApiKeyRequest, RotatedApiKeyView,
};

impl Services {
    pub(crate) fn record_key_use(&self, key_id: Uuid, at: DateTime<Utc>) {
        let mut usage = self.key_usage.lock();
        usage.insert(key_id, at);
    }

    /// Writes the key uses recorded since the last flush in one batch. Called periodically by
    /// the server and once at shutdown; on failure the uses are kept for the next attempt.
    pub async fn flush_key_usage(&self) {
        let batch: Vec<(Uuid, DateTime<Utc>)> = {
            let mut usage = self.key_usage.lock();
            usage.drain().collect()
        };
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.store.touch_api_keys(&batch).await {
            warn!(error = %e, keys = batch.len(), "could not record API key use; will retry");
            let mut usage = self.key_usage.lock();
            for (id, at) in batch {
                let entry = usage.entry(id).or_insert(at);
                *entry = (*entry).max(at);
            }
        }
    }

    /// The caller's keys. A key restricted to one project sees itself alone: it must not learn
    /// of the user's other keys, let alone manage them.
    pub async fn list_api_keys(&self, caller: &Caller) -> DomainResult<Vec<ApiKeyView>> {
        self.require_verified(caller)?;
        let mut keys = self.store.list_api_keys(caller.user_id).await?;
        if caller.project_restriction().is_some() {
            keys.retain(|k| Some(k.id) == caller.api_key_id());
        }
        Ok(keys.into_iter().map(ApiKeyView::from).collect())
    }

    /// Creates a key. A key can only mint keys no stronger than itself: scopes within its own,
    /// and, if it is restricted to a project, restricted to the same project.
    #[instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn create_api_key(
        &self,
        caller: &Caller,
        req: CreateApiKeyRequest,
    ) -> DomainResult<NewApiKeyView> {
        self.require_verified(caller)?;
        caller.require_scope(Scope::Write)?;
        let name = validate::required_text("name", req.name.as_deref(), 100)?;
        let scopes = parse_scopes(req.scopes)?;
        for scope in &scopes {
            caller.require_scope(*scope)?;
        }
        if let Some(restricted) = caller.project_restriction()
            && req.project_id != Some(restricted)
        {
            caller.require_unrestricted()?;
        }
        if let Some(project_id) = req.project_id {
            // The caller must be a member: a key for a project you cannot write to is useless,
            // and one for a project you cannot see must not confirm that it exists.
            let (_, role) = self.project_for(caller, project_id, Access::Read).await?;
            if role.is_none() {
                return Err(DomainError::project_not_found());
            }
        }
        self.insert_new_key(caller.user_id, name, scopes, req.project_id).await
    }

    pub(crate) async fn insert_new_key(
        &self,
        user_id: Uuid,
        name: String,
        scopes: Vec<Scope>,
        project_id: Option<Uuid>,
    ) -> DomainResult<NewApiKeyView> {
        let (record, key) = self.new_key_record(user_id, name, scopes, project_id);
        self.store.insert_api_key(&record).await?;
        Ok(NewApiKeyView::new(record, key))
    }

    fn new_key_record(
        &self,
        user_id: Uuid,
        name: String,
        scopes: Vec<Scope>,
        project_id: Option<Uuid>,
    ) -> (ApiKeyRecord, String) {
        let (key, prefix) = secrets::new_api_key();
        let record = ApiKeyRecord {
            id: Uuid::now_v7(),
            user_id,
            name,
            prefix,
            hash: secrets::sha256_hex(&key),
            scopes,
            project_id,
            created_at: self.now(),
            last_used_at: None,
            expires_at: None,
            revoked_at: None,
        };
        (record, key)
    }

    /// Replaces a key with a new one of the same name, scopes and project; the old key keeps
    /// working for the grace period so clients can be updated without downtime.
    #[instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn rotate_api_key(
        &self,
        caller: &Caller,
        req: RotateApiKeyRequest,
    ) -> DomainResult<RotatedApiKeyView> {
        self.require_verified(caller)?;
        caller.require_scope(Scope::Write)?;
        let now = self.now();
        let old = match req.key_id.or(caller.api_key_id()) {
            Some(id) => self.store.api_key_by_id(caller.user_id, id).await?,
            None => self
                .store
                .list_api_keys(caller.user_id)
                .await?
                .into_iter()
                .find(|k| k.expires_at.is_none_or(|e| e > now)),
        };
        let old = old
            .filter(|k| k.revoked_at.is_none() && k.expires_at.is_none_or(|e| e > now))
            .ok_or_else(|| DomainError::not_found("API key"))?;
        self.require_not_weaker(caller, &old)?;
        let (new, key) = self.new_key_record(
            caller.user_id,
            old.name.clone(),
            old.scopes.clone(),
            old.project_id,
        );
        let grace_end = now + Duration::seconds(self.settings.rotation_grace_secs);
        let previous_expires_at = self.store.rotate_api_key(old.id, grace_end, &new).await?;
        self.credentials_changed().await;
        Ok(RotatedApiKeyView { api_key: new.into(), key, previous_id: old.id, previous_expires_at })
    }

    #[instrument(skip_all, fields(user_id = %caller.user_id))]
    pub async fn revoke_api_key(&self, caller: &Caller, key_id: Uuid) -> DomainResult<()> {
        self.require_verified(caller)?;
        caller.require_scope(Scope::Write)?;
        let key = self
            .store
            .api_key_by_id(caller.user_id, key_id)
            .await?
            .filter(|k| k.revoked_at.is_none())
            .ok_or_else(|| DomainError::not_found("API key"))?;
        self.require_not_weaker(caller, &key)?;
        self.store.revoke_api_key(caller.user_id, key_id, self.now()).await?;
        self.credentials_changed().await;
        Ok(())
    }
}

fn parse_scopes(scopes: Option<Vec<String>>) -> DomainResult<Vec<Scope>> {
    let Some(names) = scopes else {
        return Ok(vec![Scope::Read, Scope::Write]);
    };
    let mut scopes = Vec::new();
    for name in &names {
        let scope = Scope::parse(name).ok_or_else(|| {
            DomainError::validation("scopes", format!("unknown scope {name:?}; use read or write"))
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err(DomainError::validation("scopes", "a key needs at least one scope"));
    }
    scopes.sort();
    Ok(scopes)
}
