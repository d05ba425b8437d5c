//! The storage boundary of TeamContext: the [`Store`] bound over one trait per storage area
//! ([`AccountStore`], [`ProjectStore`], [`ContextStore`], [`JobStore`], …), the records they read
//! and write, and [`StoreError`]. Every backend (SQLite and PostgreSQL) implements each area next
//! to its SQL and passes the shared conformance suite in `tc-store-conformance`.
//!
//! Nothing here knows about a database driver: backends translate their own errors into
//! [`StoreError`] (unique violations become [`StoreError::Conflict`] naming the constraint), and
//! times cross the boundary as `chrono::DateTime<Utc>`. Business rules (who may do what) live in
//! `tc-domain`; the store only does what it is told, atomically.

mod error;
mod records;

pub use error::{StoreError, StoreResult, error_chain};
pub use records::*;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The result of trying to spend a refresh token (see [`AccountStore::consume_refresh_token`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was live and is now marked used; the caller may issue a new pair in its family.
    Consumed(RefreshTokenRecord),
    /// No token has that hash.
    Unknown,
    /// The token exists but is not spendable; the record says why (used, revoked or expired).
    Rejected(RefreshTokenRecord),
}

/// A page request over a list ordered by id, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Only rows with an id strictly below this one (the previous page's last id).
    pub before: Option<Uuid>,
    /// Rows to return; the store returns at most this many.
    pub limit: u32,
}

/// Every storage area in one bound: what services hold (`Arc<dyn Store>`). Implemented for any
/// type that implements every area, so a backend implements the areas and nothing else.
/// Implementations must be safe to share between tasks and replicas: every method is atomic on
/// its own, and methods documented as conditional (for example
/// [`AccountStore::consume_refresh_token`]) must decide in a single statement or transaction so
/// that two concurrent callers cannot both succeed.
pub trait Store:
    StoreHealth
    + AccountStore
    + EmailTokenStore
    + ProjectStore
    + InvitationStore
    + McpSessionStore
    + ContextStore
    + SearchStore
    + EmbeddingStore
    + IndexedItemStore
    + ConnectionStore
    + McpServerStore
    + TaskStore
    + StoryStore
    + WebSessionStore
    + ChatStore
    + JobStore
    + AnalyticsStore
    + 'static
{
}

impl<T> Store for T where
    T: StoreHealth
        + AccountStore
        + EmailTokenStore
        + ProjectStore
        + InvitationStore
        + McpSessionStore
        + ContextStore
        + SearchStore
        + EmbeddingStore
        + IndexedItemStore
        + ConnectionStore
        + McpServerStore
        + TaskStore
        + StoryStore
        + StoryStore
        + WebSessionStore
        + ChatStore
        + JobStore
        + AnalyticsStore
        + 'static
{
}

/// Every area trait, for code that calls a concrete backend (`SqliteStore`, `PgStore`) rather
/// than `dyn Store` (whose methods need no import): `use tc_store::prelude::*;`.
pub mod prelude {
    pub use crate::{
        AccountStore, AnalyticsStore, ChatStore, ConnectionStore, ContextStore, EmailTokenStore,
        EmbeddingStore, IndexedItemStore, InvitationStore, JobStore, McpServerStore,
        McpSessionStore, ProjectStore, SearchStore, Store, StoreHealth, StoryStore, TaskStore,
        WebSessionStore,
    };
}

/// The backend's own state: reachability and connection use.
#[async_trait]
pub trait StoreHealth: Send + Sync {
    /// A cheap round trip used by the health check.
    async fn ping(&self) -> StoreResult<()>;
    /// Connection use right now, without touching the database (read at every metrics scrape).
    fn pool_status(&self) -> PoolStatus;
}

/// Users, API keys and refresh tokens.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn insert_user(&self, user: &UserRecord) -> StoreResult<()>;
    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<UserRecord>>;
    /// Looks the email up case-insensitively.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    async fn update_user_password(
        &self,
        id: Uuid,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn set_user_active(&self, id: Uuid, active: bool, at: DateTime<Utc>) -> StoreResult<()>;
    async fn set_user_email_verified(
        &self,
        id: Uuid,
        verified: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;

    // ---- API keys ----
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;
    /// The key with this SHA-256 hash and its owner, whatever their state (the caller decides
    /// whether a revoked or expired key is acceptable, so it can say why not).
    async fn api_key_by_hash(&self, hash: &str) -> StoreResult<Option<(ApiKeyRecord, UserRecord)>>;
    async fn api_key_by_id(&self, user_id: Uuid, id: Uuid) -> StoreResult<Option<ApiKeyRecord>>;
    /// The user's keys that are not revoked, oldest first (expired ones included so the user sees
    /// a rotated key's grace period end).
    async fn list_api_keys(&self, user_id: Uuid) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Sets `revoked_at` if not already set. [`StoreError::NotFound`] if the user has no such key.
    async fn revoke_api_key(&self, user_id: Uuid, id: Uuid, at: DateTime<Utc>) -> StoreResult<()>;
    /// Creates `new_key` and shortens `old_id`'s expiry to `old_expires_at` (never lengthens it)
    /// in one transaction; returns the old key's resulting expiry.
    async fn rotate_api_key(
        &self,
        old_id: Uuid,
        old_expires_at: DateTime<Utc>,
        new_key: &ApiKeyRecord,
    ) -> StoreResult<DateTime<Utc>>;
    /// Records when keys were last used, in one batch; ids that no longer exist are ignored.
    async fn touch_api_keys(&self, uses: &[(Uuid, DateTime<Utc>)]) -> StoreResult<()>;

    // ---- refresh tokens ----
    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> StoreResult<()>;
    /// Marks the token with this hash used, if and only if it is unused, unrevoked and unexpired
    /// at `now`. Of two concurrent calls with the same hash, at most one gets `Consumed`.
    async fn consume_refresh_token(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshOutcome>;
    /// Revokes every not-yet-revoked token of the family.
    async fn revoke_refresh_family(&self, family_id: Uuid, at: DateTime<Utc>) -> StoreResult<()>;
    /// Revokes every not-yet-revoked token of the user (password change, deactivation).
    async fn revoke_user_refresh_tokens(&self, user_id: Uuid, at: DateTime<Utc>)
    -> StoreResult<()>;
}

/// Single-use tokens mailed to an account's address: password reset and email verification.
#[async_trait]
pub trait EmailTokenStore: Send + Sync {
    async fn insert_email_token(&self, token: &EmailTokenRecord) -> StoreResult<()>;
    /// Spends the token of `purpose` with this hash if it is unused and unexpired at `now`, and
    /// with it every other unused token of that purpose its user holds (an older link stops
    /// working too), in one transaction. Of two concurrent calls with the same hash, at most one
    /// gets the record.
    async fn consume_email_token(
        &self,
        purpose: EmailTokenPurpose,
        hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<EmailTokenRecord>>;
    /// When the user was last sent a token of `purpose` (to throttle mail).
    async fn latest_email_token_at(
        &self,
        user_id: Uuid,
        purpose: EmailTokenPurpose,
    ) -> StoreResult<Option<DateTime<Utc>>>;
}

/// Projects, their members, and what a user may read.
#[async_trait]
pub trait ProjectStore: Send + Sync {
    /// Inserts the project and its owner's membership in one transaction.
    async fn insert_project(&self, project: &ProjectRecord) -> StoreResult<()>;
    /// The project, deleted or not.
    async fn project_by_id(&self, id: Uuid) -> StoreResult<Option<ProjectRecord>>;
    /// The project (deleted or not) and the user's role in it, if any.
    async fn project_with_role(
        &self,
        id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Option<(ProjectRecord, Option<Role>)>>;
    /// Projects the user owns or contributes to, newest first, paged.
    async fn list_member_projects(
        &self,
        user_id: Uuid,
        filter: ProjectListFilter,
        page: Page,
    ) -> StoreResult<Vec<(ProjectRecord, Role)>>;
    /// Writes name, description, visibility, settings and updated_at.
    async fn update_project(&self, project: &ProjectRecord) -> StoreResult<()>;
    /// Sets or clears `deleted_at`.
    async fn set_project_deleted(
        &self,
        id: Uuid,
        deleted_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Removes projects soft-deleted before `before` with everything that belongs to them;
    /// returns how many.
    async fn purge_deleted_projects(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    async fn insert_member(&self, member: &MemberRecord) -> StoreResult<()>;
    /// Members with their user records, owner first then by join time.
    async fn list_members(&self, project_id: Uuid) -> StoreResult<Vec<(MemberRecord, UserRecord)>>;
    /// Deletes a contributor's membership. [`StoreError::NotFound`] if there is none.
    async fn delete_member(&self, project_id: Uuid, user_id: Uuid) -> StoreResult<()>;
    /// Ids of the live projects a user may read: those they are a member of, and every `team`
    /// project. The candidate set of a search.
    async fn readable_project_ids(&self, user_id: Uuid) -> StoreResult<Vec<Uuid>>;
    /// Stores the embedding of a project's description (for two-level search) and the model
    /// that made it, or clears both (`None`, for an empty description).
    async fn set_project_description_vector(
        &self,
        project_id: Uuid,
        vector: Option<(&str, &[f32])>,
    ) -> StoreResult<()>;
    /// The description vectors of these projects made by `model` (projects without one are
    /// left out).
    async fn project_description_vectors(
        &self,
        project_ids: &[Uuid],
        model: &str,
    ) -> StoreResult<Vec<(Uuid, Vec<f32>)>>;
}

/// Invitations into a project, and sign-up invitations into the server.
#[async_trait]
pub trait InvitationStore: Send + Sync {
    /// Records an invitation; [`StoreError::Conflict`] on `project_invitations.email` when that
    /// email already has one to the project.
    async fn insert_invitation(&self, invitation: &InvitationRecord) -> StoreResult<()>;
    async fn invitation_by_id(&self, id: Uuid) -> StoreResult<Option<InvitationRecord>>;
    /// A project's pending invitations, oldest first.
    async fn list_project_invitations(
        &self,
        project_id: Uuid,
    ) -> StoreResult<Vec<InvitationRecord>>;
    /// The invitations addressed to `email` (case-insensitively) into live projects, oldest
    /// first, each with its project.
    async fn list_invitations_for(
        &self,
        email: &str,
    ) -> StoreResult<Vec<(InvitationRecord, ProjectRecord)>>;
    /// Turns an invitation into `member` in one transaction: the invitation goes, the membership
    /// comes (an existing membership is kept as it is). [`StoreError::NotFound`] if the
    /// invitation is gone, and then nothing changes.
    async fn accept_invitation(&self, id: Uuid, member: &MemberRecord) -> StoreResult<()>;
    /// [`StoreError::NotFound`] if there is no such invitation.
    async fn delete_invitation(&self, id: Uuid) -> StoreResult<()>;

    async fn insert_signup_invitation(
        &self,
        invitation: &SignupInvitationRecord,
    ) -> StoreResult<()>;
    async fn signup_invitation_by_hash(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<SignupInvitationRecord>>;
    /// Marks the invitation used at `at` if it is not yet; false if it already was (of two
    /// concurrent calls, one gets true).
    async fn use_signup_invitation(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool>;
}

/// MCP sessions: their owner and protocol state, shared by every replica.
#[async_trait]
pub trait McpSessionStore: Send + Sync {
    /// Records `user_id` as the session's owner unless one is recorded already, and marks the
    /// session used at `at` (creating it if needed).
    async fn claim_mcp_session(
        &self,
        id: &str,
        user_id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Stores the session's protocol state (creating the session if needed).
    async fn set_mcp_session_state(
        &self,
        id: &str,
        state: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn mcp_session(&self, id: &str) -> StoreResult<Option<McpSessionRecord>>;
    /// Removes the session; nothing happens if there is none.
    async fn delete_mcp_session(&self, id: &str) -> StoreResult<()>;
    /// Removes sessions last used before `before`; returns how many.
    async fn purge_mcp_sessions(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// Contexts and their passages: writes, reads, lists, access counts and insights.
#[async_trait]
pub trait ContextStore: Send + Sync {
    /// Inserts contexts with their passages, all or nothing.
    async fn insert_contexts(
        &self,
        contexts: &[(ContextRecord, Vec<PassageRecord>)],
    ) -> StoreResult<()>;
    async fn context_by_id(&self, id: Uuid) -> StoreResult<Option<ContextRecord>>;
    /// The contexts with these ids that still exist, in no particular order.
    async fn contexts_by_ids(&self, ids: &[Uuid]) -> StoreResult<Vec<ContextRecord>>;
    /// Deletes a context, its chunks and their passages; returns how many contexts went.
    async fn delete_context(&self, id: Uuid) -> StoreResult<u64>;
    /// A project's contexts, newest first, paged, narrowed by `filter`.
    async fn list_contexts(
        &self,
        project_id: Uuid,
        filter: &ContextFilter,
        page: Page,
    ) -> StoreResult<Vec<ContextRecord>>;
    /// Adds one access to each context at the given time (batched by the caller).
    async fn record_context_access(&self, accesses: &[(Uuid, DateTime<Utc>)]) -> StoreResult<()>;

    /// Size and access figures over the contexts of `project_ids`, with the `top` most
    /// accessed contexts.
    async fn context_insights(
        &self,
        project_ids: &[Uuid],
        top: usize,
    ) -> StoreResult<ContextInsights>;
}

/// Retrieval: vector and keyword search over passages and contexts.
#[async_trait]
pub trait SearchStore: Send + Sync {
    /// The best passage per context among `project_ids` by cosine similarity to `query`
    /// (vectors made by `model`), best first, at most `limit` contexts. Never outside the
    /// filter, and never fewer results than `limit` while more matching contexts exist; a
    /// backend may rank large filtered sets approximately (an ANN index).
    async fn vector_search(
        &self,
        query: &[f32],
        model: &str,
        project_ids: &[Uuid],
        limit: usize,
    ) -> StoreResult<Vec<VectorHit>>;
    /// The best passage (vectors made by `model`) of each of `context_ids` by cosine similarity
    /// to `query`, exactly, in no particular order; a context without such passages (or that
    /// does not exist) is left out. Gives keyword-only search hits their similarity.
    async fn passage_similarities(
        &self,
        query: &[f32],
        model: &str,
        context_ids: &[Uuid],
    ) -> StoreResult<Vec<VectorHit>>;
    /// Contexts among `project_ids` matching the words of `query` by BM25 (English stemming,
    /// stopwords ignored), best first. A context split into chunks is found through its chunks,
    /// never itself.
    async fn keyword_search(
        &self,
        query: &str,
        project_ids: &[Uuid],
        limit: usize,
    ) -> StoreResult<Vec<KeywordHit>>;
}

/// The embedding backlog: contexts and project descriptions without vectors from the current
/// model, because the model was down when they were saved or because the model changed. A
/// background job drains it; search serves from what is done meanwhile.
#[async_trait]
pub trait EmbeddingStore: Send + Sync {
    /// How many contexts lack passages made by `model`. A context split into chunks never has
    /// passages of its own (its chunks do) and is not counted.
    async fn embedding_backlog(&self, model: &str) -> StoreResult<u64>;
    /// Up to `limit` of the contexts [`embedding_backlog`](Self::embedding_backlog) counts,
    /// by id ascending, with ids above `after` when given.
    async fn contexts_to_embed(
        &self,
        model: &str,
        after: Option<Uuid>,
        limit: usize,
    ) -> StoreResult<Vec<ContextRecord>>;
    /// Adds passages, all or nothing, to the contexts they belong to that still exist and have
    /// no passages from the passages' model yet; the others' passages are skipped (so that two
    /// workers embedding the same context store its passages once). Returns how many contexts
    /// got passages.
    async fn add_passages(&self, passages: &[PassageRecord]) -> StoreResult<u64>;
    /// Removes every passage made by a model other than `model`; returns how many went.
    async fn delete_passages_of_other_models(&self, model: &str) -> StoreResult<u64>;
    /// Live projects with a description whose stored vector was not made by `model` (or that
    /// has none): id and description.
    async fn descriptions_to_embed(&self, model: &str) -> StoreResult<Vec<(Uuid, String)>>;
}

/// What scans and syncs indexed, one item (a file, a Jira issue, a Confluence page) replaced
/// whole at a time. An item is identified in a project by its `source` and its `file_path`
/// (the path of a file; `jira/{site}/{issue id}` for an issue); its contexts carry both.
#[async_trait]
pub trait IndexedItemStore: Send + Sync {
    /// The items of `source` indexed in a project, with their content hashes.
    async fn indexed_items(&self, project_id: Uuid, source: &str) -> StoreResult<Vec<IndexedItem>>;
    /// Atomically replaces an item's contexts (those of `project_id` with its `file_path` and
    /// `source`) by `contexts`, and records its hash. Returns how many contexts were removed.
    async fn replace_indexed_item(
        &self,
        project_id: Uuid,
        source: &str,
        item: &IndexedItem,
        contexts: &[(ContextRecord, Vec<PassageRecord>)],
    ) -> StoreResult<u64>;
    /// Removes items (their contexts and records) no longer found upstream; returns how many
    /// contexts were removed.
    async fn remove_indexed_items(
        &self,
        project_id: Uuid,
        source: &str,
        paths: &[String],
    ) -> StoreResult<u64>;
}

/// Jira and Confluence connections with their sealed secrets.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Stores a user's connection to a product, replacing (secrets included) the one they had.
    async fn put_connection(&self, connection: &ConnectionRecord) -> StoreResult<()>;
    async fn connection(
        &self,
        user_id: Uuid,
        product: &str,
    ) -> StoreResult<Option<ConnectionRecord>>;
    async fn connection_by_id(&self, id: Uuid) -> StoreResult<Option<ConnectionRecord>>;
    /// Removes a user's connection and its secrets; false when there was none.
    async fn delete_connection(&self, user_id: Uuid, product: &str) -> StoreResult<bool>;
    /// Records a connection's health: `status`, the `error` a person should read, and the time
    /// of the last successful sync when one just ended.
    async fn set_connection_state(
        &self,
        id: Uuid,
        status: &str,
        error: Option<&str>,
        last_sync_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Replaces a connection's secrets if its `token_version` is still `expected` (a refresh
    /// or a key rotation racing another one loses), bumping the version. False when it lost.
    async fn replace_connection_secrets(
        &self,
        id: Uuid,
        expected_token_version: i64,
        secrets: &[SecretRecord],
        token_expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Every connection (for `rotate-encryption-key`).
    async fn list_connections(&self) -> StoreResult<Vec<ConnectionRecord>>;
}

/// What users configured for the AI features themselves: the MCP servers registered for the
/// agent (sealed tokens, tool caches) and their own language models (sealed credentials).
#[async_trait]
pub trait McpServerStore: Send + Sync {
    /// Conflict `mcp_servers.name` when the user has a server of that name.
    async fn insert_mcp_server(&self, server: &McpServerRecord) -> StoreResult<()>;
    /// A user's servers by name.
    async fn mcp_servers(&self, user_id: Uuid) -> StoreResult<Vec<McpServerRecord>>;
    async fn mcp_server(&self, id: Uuid) -> StoreResult<Option<McpServerRecord>>;
    /// False when the user has no server with this id.
    async fn delete_mcp_server(&self, user_id: Uuid, id: Uuid) -> StoreResult<bool>;
    /// A fresh tool list: replaces the cache and clears the error.
    async fn set_mcp_server_tools(
        &self,
        id: Uuid,
        tools: &serde_json::Value,
        refreshed_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// A failed refresh: the cached tools stay.
    async fn set_mcp_server_error(
        &self,
        id: Uuid,
        error: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Replaces the sealed token (for `rotate-encryption-key`).
    async fn replace_mcp_server_token(
        &self,
        id: Uuid,
        token: &SecretRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Every user's servers (for `rotate-encryption-key`).
    async fn list_all_mcp_servers(&self) -> StoreResult<Vec<McpServerRecord>>;

    // ---- users' own language models ----
    /// Sets a user's language model, replacing the one they had.
    async fn put_user_llm(&self, llm: &UserLlmRecord) -> StoreResult<()>;
    async fn user_llm(&self, user_id: Uuid) -> StoreResult<Option<UserLlmRecord>>;
    /// False when the user had none.
    async fn delete_user_llm(&self, user_id: Uuid) -> StoreResult<bool>;
    /// Records a connection test.
    async fn set_user_llm_tested(
        &self,
        user_id: Uuid,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> StoreResult<()>;
    /// Every user's (for `rotate-encryption-key`).
    async fn list_user_llms(&self) -> StoreResult<Vec<UserLlmRecord>>;
}

/// Team tasks.
#[async_trait]
pub trait TaskStore: Send + Sync {
    async fn insert_task(&self, task: &TaskRecord) -> StoreResult<()>;
    async fn task(&self, id: Uuid) -> StoreResult<Option<TaskRecord>>;
    /// Replaces a task's fields (all but `id`, `created_by`, `created_at`); `NotFound` when it
    /// is gone.
    async fn update_task(&self, task: &TaskRecord) -> StoreResult<()>;
    /// False when there was no such task.
    async fn delete_task(&self, id: Uuid) -> StoreResult<bool>;
    /// Tasks matching `filter`, newest first; `page.before` is the previous page's last id.
    async fn list_tasks(&self, filter: &TaskFilter, page: Page) -> StoreResult<Vec<TaskRecord>>;
}

/// Jira story drafts (issue 19).
#[async_trait]
pub trait StoryStore: Send + Sync {
    async fn insert_story_draft(&self, draft: &StoryDraftRecord) -> StoreResult<()>;
    async fn story_draft(&self, id: Uuid) -> StoreResult<Option<StoryDraftRecord>>;
    /// Replaces a draft's changing fields (all but `id`, `project_id`, `created_by`,
    /// `created_at`) and sets `version` to `draft.version`, only if the stored version is
    /// still `expected_version`: false when it changed meanwhile or the draft is gone.
    async fn update_story_draft(
        &self,
        draft: &StoryDraftRecord,
        expected_version: i64,
    ) -> StoreResult<bool>;
    /// False when there was no such draft.
    async fn delete_story_draft(&self, id: Uuid) -> StoreResult<bool>;
    /// The drafts of these projects, newest first; `page.before` is the previous page's last id.
    async fn list_story_drafts(
        &self,
        project_ids: &[Uuid],
        page: Page,
    ) -> StoreResult<Vec<StoryDraftRecord>>;
}

/// Browser sessions of the web dashboard.
#[async_trait]
pub trait WebSessionStore: Send + Sync {
    async fn insert_web_session(&self, session: &WebSessionRecord) -> StoreResult<()>;
    /// The session with this token hash, whatever its state (the caller decides whether it is
    /// still good).
    async fn web_session(&self, hash: &str) -> StoreResult<Option<WebSessionRecord>>;
    /// Records a use: `last_seen_at` moves forward to `at`, never back.
    async fn touch_web_session(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<()>;
    /// Revokes one session (logout) if it is not revoked already.
    async fn revoke_web_session(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<()>;
    /// Revokes every session of the user (logout everywhere, password change, deactivation).
    async fn revoke_user_web_sessions(&self, user_id: Uuid, at: DateTime<Utc>) -> StoreResult<()>;
}

/// AI chat sessions and their messages.
#[async_trait]
pub trait ChatStore: Send + Sync {
    async fn insert_chat_session(&self, session: &ChatSessionRecord) -> StoreResult<()>;
    async fn chat_session(&self, id: Uuid) -> StoreResult<Option<ChatSessionRecord>>;
    /// A user's sessions, the most recently active first; `page.before` is the last session of
    /// the previous page.
    async fn list_chat_sessions(
        &self,
        user_id: Uuid,
        page: Page,
    ) -> StoreResult<Vec<ChatSessionRecord>>;
    /// Removes a session and its messages; false when there was none.
    async fn delete_chat_session(&self, id: Uuid) -> StoreResult<bool>;
    /// Appends `message` after the session's last one (its `seq` is assigned here and
    /// returned) with its tool calls, in one transaction, marks the session active at the
    /// message's time, and names an unnamed session `title` when given. Fails with `NotFound`
    /// when the session is gone.
    async fn append_chat_message(
        &self,
        message: &ChatMessageRecord,
        title: Option<&str>,
    ) -> StoreResult<i64>;
    /// A session's messages with their tool calls, the latest first; `page.before` is the last
    /// message of the previous page.
    async fn chat_messages(
        &self,
        session_id: Uuid,
        page: Page,
    ) -> StoreResult<Vec<ChatMessageRecord>>;
}

/// The job queue: claims with leases, progress, outcomes, and job inputs.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// [`StoreError::Conflict`] on `jobs.one_active` for an `embed` job while another is
    /// queued or running (there is one embedding backlog, drained by one job).
    async fn insert_job(&self, job: &JobRecord) -> StoreResult<()>;
    async fn job_by_id(&self, id: Uuid) -> StoreResult<Option<JobRecord>>;
    /// Claims the oldest runnable job of one of `kinds` for `worker` until `lease_until`: a
    /// queued job whose `run_after` has come, or a running job whose lease expired (its worker
    /// died). The claim counts an attempt. A job whose lease expired with no attempts left is
    /// failed instead of claimed. Two workers never claim the same job.
    async fn claim_job(
        &self,
        kinds: &[&str],
        worker: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<JobRecord>>;
    /// Saves a running job's progress and extends its lease, if `worker` still holds it.
    /// Returns `None` when the lease was lost, otherwise whether cancellation was requested.
    async fn heartbeat_job(
        &self,
        id: Uuid,
        worker: &str,
        progress: &serde_json::Value,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<Option<bool>>;
    /// Ends (or requeues, for [`JobOutcome::Retry`]) a job `worker` holds; false when the lease
    /// was lost and nothing changed.
    async fn finish_job(
        &self,
        id: Uuid,
        worker: &str,
        outcome: &JobOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Cancels a job: a queued one at once, a running one by asking its worker (which stops at
    /// its next heartbeat). Final jobs are left alone. Returns the job as it now is.
    async fn cancel_job(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<Option<JobRecord>>;
    /// The number of jobs in each status.
    async fn job_counts(&self) -> StoreResult<Vec<(JobStatus, i64)>>;
    /// Stores part `part` (from 0) of a job's input: data every replica's worker must be able
    /// to read, such as a scan's uploaded files. Written before the job row; replaces a part
    /// already stored.
    async fn put_job_input(
        &self,
        job_id: Uuid,
        part: i32,
        data: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Part `part` of a job's input, if stored.
    async fn job_input(&self, job_id: Uuid, part: i32) -> StoreResult<Option<Vec<u8>>>;
    /// Removes every part of a job's input.
    async fn delete_job_input(&self, job_id: Uuid) -> StoreResult<()>;
    /// Removes inputs written before `before` whose job does not exist (the job was never
    /// written); returns how many parts were removed.
    async fn delete_orphan_job_inputs(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// Analytics events and the sums reports are made of.
#[async_trait]
pub trait AnalyticsStore: Send + Sync {
    async fn insert_analytics_events(&self, events: &[AnalyticsEventRecord]) -> StoreResult<()>;
    /// Sums over the events in `scope`, one row per `group` key and event type, computed in the
    /// database (reports over millions of events must not load them). Rows come in no
    /// particular order; groups without events are absent.
    async fn event_totals(
        &self,
        scope: &EventScope,
        group: EventGroup,
    ) -> StoreResult<Vec<EventTotals>>;
}
