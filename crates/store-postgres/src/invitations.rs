//! Project invitations and sign-up invitations in PostgreSQL.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tc_store::{
    InvitationRecord, MemberRecord, ProjectRecord, SignupInvitationRecord, StoreError, StoreResult,
};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::db::{self, client};
use crate::rows::{self, PROJECT_COLS};
use crate::{db_err, expect_one};

const INVITATION_COLS: &str = "i.id AS i_id, i.project_id AS i_project_id, i.email AS i_email, i.role AS i_role, \
     i.invited_by AS i_invited_by, i.created_at AS i_created_at";
const SIGNUP_COLS: &str = "id, email, token_hash, created_at, expires_at, used_at";

fn invitation(r: &Row) -> StoreResult<InvitationRecord> {
    Ok(InvitationRecord {
        id: rows::get(r, "i_id")?,
        project_id: rows::get(r, "i_project_id")?,
        email: rows::get(r, "i_email")?,
        role: rows::role(r, "i_role")?
            .ok_or_else(|| StoreError::database("an invitation without a role"))?,
        invited_by: rows::get(r, "i_invited_by")?,
        created_at: rows::get(r, "i_created_at")?,
    })
}

fn signup(r: &Row) -> StoreResult<SignupInvitationRecord> {
    Ok(SignupInvitationRecord {
        id: rows::get(r, "id")?,
        email: rows::get(r, "email")?,
        token_hash: rows::get(r, "token_hash")?,
        created_at: rows::get(r, "created_at")?,
        expires_at: rows::get(r, "expires_at")?,
        used_at: rows::get(r, "used_at")?,
    })
}

pub(crate) async fn insert_invitation(pool: &Pool, i: &InvitationRecord) -> StoreResult<()> {
    db::execute(
        &client(pool).await?,
        "INSERT INTO project_invitations (id, project_id, email, role, invited_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &i.id,
            &i.project_id,
            &i.email.to_lowercase(),
            &i.role.as_str(),
            &i.invited_by,
            &i.created_at,
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn invitation_by_id(
    pool: &Pool,
    id: Uuid,
) -> StoreResult<Option<InvitationRecord>> {
    let sql = format!("SELECT {INVITATION_COLS} FROM project_invitations i WHERE i.id = $1");
    db::query_opt(&client(pool).await?, &sql, &[&id]).await?.as_ref().map(invitation).transpose()
}

pub(crate) async fn list_project_invitations(
    pool: &Pool,
    project_id: Uuid,
) -> StoreResult<Vec<InvitationRecord>> {
    let sql = format!(
        "SELECT {INVITATION_COLS} FROM project_invitations i WHERE i.project_id = $1 \
         ORDER BY i.created_at, i.id"
    );
    rows::all(db::query(&client(pool).await?, &sql, &[&project_id]).await?, invitation)
}

pub(crate) async fn list_invitations_for(
    pool: &Pool,
    email: &str,
) -> StoreResult<Vec<(InvitationRecord, ProjectRecord)>> {
    let sql = format!(
        "SELECT {INVITATION_COLS}, {PROJECT_COLS} FROM project_invitations i \
         JOIN projects p ON p.id = i.project_id \
         WHERE i.email = $1 AND p.deleted_at IS NULL ORDER BY i.created_at, i.id"
    );
    let found = db::query(&client(pool).await?, &sql, &[&email.to_lowercase()]).await?;
    rows::all(found, |r| Ok((invitation(r)?, rows::project(r)?)))
}

pub(crate) async fn accept_invitation(pool: &Pool, id: Uuid, m: &MemberRecord) -> StoreResult<()> {
    let mut c = client(pool).await?;
    let tx = c.transaction().await.map_err(db_err)?;
    let removed = db::execute(&tx, "DELETE FROM project_invitations WHERE id = $1", &[&id]).await?;
    expect_one(removed)?;
    db::execute(
        &tx,
        "INSERT INTO project_members (project_id, user_id, role, added_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (project_id, user_id) DO NOTHING",
        &[&m.project_id, &m.user_id, &m.role.as_str(), &m.added_at],
    )
    .await?;
    tx.commit().await.map_err(db_err)
}

pub(crate) async fn delete_invitation(pool: &Pool, id: Uuid) -> StoreResult<()> {
    let removed =
        db::execute(&client(pool).await?, "DELETE FROM project_invitations WHERE id = $1", &[&id])
            .await?;
    expect_one(removed)
}

pub(crate) async fn insert_signup_invitation(
    pool: &Pool,
    i: &SignupInvitationRecord,
) -> StoreResult<()> {
    db::execute(
        &client(pool).await?,
        "INSERT INTO signup_invitations (id, email, token_hash, created_at, expires_at, used_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[&i.id, &i.email.to_lowercase(), &i.token_hash, &i.created_at, &i.expires_at, &i.used_at],
    )
    .await?;
    Ok(())
}

pub(crate) async fn signup_invitation_by_hash(
    pool: &Pool,
    token_hash: &str,
) -> StoreResult<Option<SignupInvitationRecord>> {
    let sql = format!("SELECT {SIGNUP_COLS} FROM signup_invitations WHERE token_hash = $1");
    db::query_opt(&client(pool).await?, &sql, &[&token_hash])
        .await?
        .as_ref()
        .map(signup)
        .transpose()
}

pub(crate) async fn use_signup_invitation(
    pool: &Pool,
    id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<bool> {
    let changed = db::execute(
        &client(pool).await?,
        "UPDATE signup_invitations SET used_at = $2 WHERE id = $1 AND used_at IS NULL",
        &[&id, &at],
    )
    .await?;
    Ok(changed == 1)
}

#[async_trait::async_trait]
impl tc_store::InvitationStore for crate::PgStore {
    async fn insert_invitation(
        &self,
        invitation: &tc_store::InvitationRecord,
    ) -> tc_store::StoreResult<()> {
        insert_invitation(&self.pool, invitation).await
    }
    async fn invitation_by_id(
        &self,
        id: uuid::Uuid,
    ) -> tc_store::StoreResult<Option<tc_store::InvitationRecord>> {
        invitation_by_id(&self.pool, id).await
    }
    async fn list_project_invitations(
        &self,
        project_id: uuid::Uuid,
    ) -> tc_store::StoreResult<Vec<tc_store::InvitationRecord>> {
        list_project_invitations(&self.pool, project_id).await
    }
    async fn list_invitations_for(
        &self,
        email: &str,
    ) -> tc_store::StoreResult<Vec<(tc_store::InvitationRecord, tc_store::ProjectRecord)>> {
        list_invitations_for(&self.pool, email).await
    }
    async fn accept_invitation(
        &self,
        id: uuid::Uuid,
        member: &tc_store::MemberRecord,
    ) -> tc_store::StoreResult<()> {
        accept_invitation(&self.pool, id, member).await
    }
    async fn delete_invitation(&self, id: uuid::Uuid) -> tc_store::StoreResult<()> {
        delete_invitation(&self.pool, id).await
    }
    async fn insert_signup_invitation(
        &self,
        invitation: &tc_store::SignupInvitationRecord,
    ) -> tc_store::StoreResult<()> {
        insert_signup_invitation(&self.pool, invitation).await
    }
    async fn signup_invitation_by_hash(
        &self,
        token_hash: &str,
    ) -> tc_store::StoreResult<Option<tc_store::SignupInvitationRecord>> {
        signup_invitation_by_hash(&self.pool, token_hash).await
    }
    async fn use_signup_invitation(
        &self,
        id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<bool> {
        use_signup_invitation(&self.pool, id, at).await
    }
}
