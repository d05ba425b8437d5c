//! Project invitations and sign-up invitations in SQLite.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use tc_store::{
    InvitationRecord, MemberRecord, ProjectRecord, SignupInvitationRecord, StoreError, StoreResult,
};
use uuid::Uuid;

use crate::convert::{self, PROJECT_COLS, ms, opt_ms};
use crate::db_err;

const INVITATION_COLS: &str = "i.id AS i_id, i.project_id AS i_project_id, i.email AS i_email, i.role AS i_role, \
     i.invited_by AS i_invited_by, i.created_at AS i_created_at";

fn invitation(r: &rusqlite::Row<'_>) -> StoreResult<InvitationRecord> {
    Ok(InvitationRecord {
        id: convert::get_uuid(r, "i_id")?,
        project_id: convert::get_uuid(r, "i_project_id")?,
        email: convert::get(r, "i_email")?,
        role: convert::get_role(r, "i_role")?
            .ok_or_else(|| convert::corrupt("an invitation without a role"))?,
        invited_by: convert::get_uuid(r, "i_invited_by")?,
        created_at: convert::get_time(r, "i_created_at")?,
    })
}

pub(crate) fn insert_invitation(c: &Connection, i: &InvitationRecord) -> StoreResult<()> {
    c.execute(
        "INSERT INTO project_invitations (id, project_id, email, role, invited_by, created_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
        params![
            i.id.to_string(),
            i.project_id.to_string(),
            i.email.to_lowercase(),
            i.role.as_str(),
            i.invited_by.to_string(),
            ms(i.created_at)
        ],
    )
    .map_err(db_err)?;
    Ok(())
}

pub(crate) fn invitation_by_id(c: &Connection, id: Uuid) -> StoreResult<Option<InvitationRecord>> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {INVITATION_COLS} FROM project_invitations i WHERE i.id = ?"
        ))
        .map_err(db_err)?;
    convert::first(stmt.query([id.to_string()]).map_err(db_err)?, invitation)
}

pub(crate) fn list_project_invitations(
    c: &Connection,
    project_id: Uuid,
) -> StoreResult<Vec<InvitationRecord>> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {INVITATION_COLS} FROM project_invitations i WHERE i.project_id = ? \
             ORDER BY i.created_at, i.id"
        ))
        .map_err(db_err)?;
    convert::collect(stmt.query([project_id.to_string()]).map_err(db_err)?, invitation)
}

pub(crate) fn list_invitations_for(
    c: &Connection,
    email: &str,
) -> StoreResult<Vec<(InvitationRecord, ProjectRecord)>> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {INVITATION_COLS}, {PROJECT_COLS} FROM project_invitations i \
             JOIN projects p ON p.id = i.project_id \
             WHERE i.email = ? AND p.deleted_at IS NULL ORDER BY i.created_at, i.id"
        ))
        .map_err(db_err)?;
    convert::collect(stmt.query([email.to_lowercase()]).map_err(db_err)?, |r| {
        Ok((invitation(r)?, convert::project(r)?))
    })
}

pub(crate) fn accept_invitation(c: &mut Connection, id: Uuid, m: &MemberRecord) -> StoreResult<()> {
    let tx = c.transaction().map_err(db_err)?;
    let removed = tx
        .execute("DELETE FROM project_invitations WHERE id = ?", [id.to_string()])
        .map_err(db_err)?;
    if removed == 0 {
        return Err(StoreError::NotFound);
    }
    tx.execute(
        "INSERT INTO project_members (project_id, user_id, role, added_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (project_id, user_id) DO NOTHING",
        params![m.project_id.to_string(), m.user_id.to_string(), m.role.as_str(), ms(m.added_at)],
    )
    .map_err(db_err)?;
    tx.commit().map_err(db_err)
}

pub(crate) fn delete_invitation(c: &Connection, id: Uuid) -> StoreResult<()> {
    let removed = c
        .execute("DELETE FROM project_invitations WHERE id = ?", [id.to_string()])
        .map_err(db_err)?;
    if removed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

pub(crate) fn insert_signup_invitation(
    c: &Connection,
    i: &SignupInvitationRecord,
) -> StoreResult<()> {
    c.execute(
        "INSERT INTO signup_invitations (id, email, token_hash, created_at, expires_at, used_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
        params![
            i.id.to_string(),
            i.email.to_lowercase(),
            i.token_hash,
            ms(i.created_at),
            ms(i.expires_at),
            opt_ms(i.used_at)
        ],
    )
    .map_err(db_err)?;
    Ok(())
}

pub(crate) fn signup_invitation_by_hash(
    c: &Connection,
    token_hash: &str,
) -> StoreResult<Option<SignupInvitationRecord>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT id, email, token_hash, created_at, expires_at, used_at \
             FROM signup_invitations WHERE token_hash = ?",
        )
        .map_err(db_err)?;
    convert::first(stmt.query([token_hash]).map_err(db_err)?, |r| {
        Ok(SignupInvitationRecord {
            id: convert::get_uuid(r, "id")?,
            email: convert::get(r, "email")?,
            token_hash: convert::get(r, "token_hash")?,
            created_at: convert::get_time(r, "created_at")?,
            expires_at: convert::get_time(r, "expires_at")?,
            used_at: convert::get_opt_time(r, "used_at")?,
        })
    })
}

pub(crate) fn use_signup_invitation(
    c: &Connection,
    id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<bool> {
    let changed = c
        .execute(
            "UPDATE signup_invitations SET used_at = ? WHERE id = ? AND used_at IS NULL",
            params![ms(at), id.to_string()],
        )
        .map_err(db_err)?;
    Ok(changed == 1)
}

#[async_trait::async_trait]
impl tc_store::InvitationStore for crate::SqliteStore {
    async fn insert_invitation(
        &self,
        invitation: &tc_store::InvitationRecord,
    ) -> tc_store::StoreResult<()> {
        let invitation = invitation.clone();
        self.write(move |c| insert_invitation(c, &invitation)).await
    }
    async fn invitation_by_id(
        &self,
        id: uuid::Uuid,
    ) -> tc_store::StoreResult<Option<tc_store::InvitationRecord>> {
        self.read(|c| invitation_by_id(c, id))
    }
    async fn list_project_invitations(
        &self,
        project_id: uuid::Uuid,
    ) -> tc_store::StoreResult<Vec<tc_store::InvitationRecord>> {
        self.read(|c| list_project_invitations(c, project_id))
    }
    async fn list_invitations_for(
        &self,
        email: &str,
    ) -> tc_store::StoreResult<Vec<(tc_store::InvitationRecord, tc_store::ProjectRecord)>> {
        self.read(|c| list_invitations_for(c, email))
    }
    async fn accept_invitation(
        &self,
        id: uuid::Uuid,
        member: &tc_store::MemberRecord,
    ) -> tc_store::StoreResult<()> {
        let member = member.clone();
        self.write(move |c| accept_invitation(c, id, &member)).await
    }
    async fn delete_invitation(&self, id: uuid::Uuid) -> tc_store::StoreResult<()> {
        self.write(move |c| delete_invitation(c, id)).await
    }
    async fn insert_signup_invitation(
        &self,
        invitation: &tc_store::SignupInvitationRecord,
    ) -> tc_store::StoreResult<()> {
        let invitation = invitation.clone();
        self.write(move |c| insert_signup_invitation(c, &invitation)).await
    }
    async fn signup_invitation_by_hash(
        &self,
        token_hash: &str,
    ) -> tc_store::StoreResult<Option<tc_store::SignupInvitationRecord>> {
        self.read(|c| signup_invitation_by_hash(c, token_hash))
    }
    async fn use_signup_invitation(
        &self,
        id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> tc_store::StoreResult<bool> {
        self.write(move |c| use_signup_invitation(c, id, at)).await
    }
}
