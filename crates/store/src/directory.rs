//! Departments, agents, sessions and API tokens. Rare writes: plain transactions, no batching.

use crate::rows::*;
use crate::{Store, StoreError, params, with_read, with_tx};
use ombuds_core::*;
use std::collections::BTreeSet;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    pub id: Uuid,
    pub name: String,
    pub scopes: BTreeSet<Scope>,
    pub created_at: jiff::Timestamp,
    pub revoked_at: Option<jiff::Timestamp>,
}

fn scopes_from(s: &str) -> Result<BTreeSet<Scope>, StoreError> {
    s.split_whitespace().map(|x| Scope::parse(x).map_err(|e| StoreError::Corrupt(e.message))).collect()
}

fn token_from(r: &crate::db::Row) -> Result<TokenInfo, StoreError> {
    Ok(TokenInfo {
        id: r.uuid("id")?,
        name: r.text("name")?,
        scopes: scopes_from(&r.text("scopes")?)?,
        created_at: from_micros(r.i64("created_at")?),
        revoked_at: r.opt_i64("revoked_at")?.map(from_micros),
    })
}

impl Store {
    pub async fn departments(&self) -> Result<Vec<Department>, StoreError> {
        let rows = with_read!(self.db(), |conn| conn
            .fetch_all("SELECT code, name_en, name_ru, name_kk, active FROM departments ORDER BY code", &[])
            .await)?;
        rows.iter().map(department_from).collect()
    }

    /// Creates the department, or renames/(de)activates it when it exists.
    pub async fn upsert_department(&self, d: &Department) -> Result<(), StoreError> {
        let now = to_micros(now());
        with_tx!(self.db(), |conn| conn
            .execute(
                "INSERT INTO departments (code, name_en, name_ru, name_kk, active, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (code) DO UPDATE SET name_en = excluded.name_en, name_ru = excluded.name_ru, \
                 name_kk = excluded.name_kk, active = excluded.active",
                &params![d.code.as_str(), d.name_en.as_str(), d.name_ru.as_str(), d.name_kk.as_str(), d.active, now],
            )
            .await)?;
        Ok(())
    }

    pub async fn agents(&self) -> Result<Vec<Agent>, StoreError> {
        let sql = format!("SELECT {AGENT_COLS} FROM agents ORDER BY login");
        let rows = with_read!(self.db(), |conn| conn.fetch_all(&sql, &[]).await)?;
        rows.iter().map(agent_from).collect()
    }

    pub async fn agent(&self, id: Uuid) -> Result<Agent, StoreError> {
        let sql = format!("SELECT {AGENT_COLS} FROM agents WHERE id = $1");
        let row = with_read!(self.db(), |conn| conn.fetch_optional(&sql, &params![id]).await)?;
        agent_from(&row.ok_or(StoreError::NotFound)?)
    }

    /// The agent and its password hash, for signing in.
    pub async fn agent_credentials(&self, login: &str) -> Result<Option<(Agent, Option<String>)>, StoreError> {
        let sql = format!("SELECT {AGENT_COLS}, password_hash FROM agents WHERE login = $1");
        let row = with_read!(self.db(), |conn| conn.fetch_optional(&sql, &params![login]).await)?;
        row.map(|r| Ok((agent_from(&r)?, r.opt_text("password_hash")?))).transpose()
    }

    /// An agent's TOTP state: (confirmed secret, secret being set up, last step used).
    pub async fn agent_totp(&self, id: Uuid) -> Result<(Option<Vec<u8>>, Option<Vec<u8>>, Option<i64>), StoreError> {
        let row = with_read!(self.db(), |conn| conn
            .fetch_optional("SELECT totp_secret, totp_pending, totp_last_step FROM agents WHERE id = $1", &params![id])
            .await)?
        .ok_or(StoreError::NotFound)?;
        Ok((row.opt_bytes("totp_secret")?, row.opt_bytes("totp_pending")?, row.opt_i64("totp_last_step")?))
    }

    /// Starts setting up a second factor (the confirmed one, if any, stays until confirmed).
    pub async fn set_totp_pending(&self, id: Uuid, secret: &[u8]) -> Result<(), StoreError> {
        with_tx!(self.db(), |conn| conn.execute("UPDATE agents SET totp_pending = $2 WHERE id = $1", &params![id, secret.to_vec()]).await)?;
        Ok(())
    }

    /// Puts the pending secret in force (`None`: turns the second factor off).
    pub async fn set_totp(&self, id: Uuid, secret: Option<&[u8]>, step: Option<i64>) -> Result<(), StoreError> {
        with_tx!(self.db(), |conn| conn
            .execute(
                "UPDATE agents SET totp_secret = $2, totp_pending = NULL, totp_last_step = $3 WHERE id = $1",
                &params![id, secret.map(<[u8]>::to_vec), step],
            )
            .await)?;
        Ok(())
    }

    /// Records that the code of `step` was used; `false` when that step (or a later one) was
    /// used already: a code is good once.
    pub async fn use_totp_step(&self, id: Uuid, step: i64) -> Result<bool, StoreError> {
        let n = with_tx!(self.db(), |conn| conn
            .execute(
                "UPDATE agents SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
                &params![id, step],
            )
            .await)?;
        Ok(n == 1)
    }

    /// Until when a login is locked after too many failed sign-ins (`None`: not locked, or no
    /// such login).
    pub async fn login_locked_until(&self, login: &str) -> Result<Option<jiff::Timestamp>, StoreError> {
        let row = with_read!(self.db(), |conn| conn.fetch_optional("SELECT locked_until FROM agents WHERE login = $1", &params![login]).await)?;
        Ok(row.map(|r| r.opt_i64("locked_until")).transpose()?.flatten().map(from_micros))
    }

    /// Counts a failed sign-in; the `max`th in a row locks the login until `lock_until`.
    /// Answers the failures in a row and the lock, if one is set.
    pub async fn record_login_failure(&self, login: &str, max: i64, lock_until: jiff::Timestamp) -> Result<(i64, Option<jiff::Timestamp>), StoreError> {
        let row = with_tx!(self.db(), |conn| conn
            .fetch_optional(
                "UPDATE agents SET failed_logins = failed_logins + 1, \
                 locked_until = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END WHERE login = $1 \
                 RETURNING failed_logins, locked_until",
                &params![login, max, to_micros(lock_until)],
            )
            .await)?;
        match row {
            Some(r) => Ok((r.i64("failed_logins")?, r.opt_i64("locked_until")?.map(from_micros))),
            None => Ok((0, None)),
        }
    }

    /// A successful sign-in: the count starts again and any lock is lifted.
    pub async fn reset_login_failures(&self, id: Uuid) -> Result<(), StoreError> {
        with_tx!(self.db(), |conn| conn
            .execute("UPDATE agents SET failed_logins = 0, locked_until = NULL WHERE id = $1 AND (failed_logins <> 0 OR locked_until IS NOT NULL)", &params![id])
            .await)?;
        Ok(())
    }

    pub async fn insert_agent(&self, a: &Agent, password_hash: Option<&str>) -> Result<(), StoreError> {
        let now = to_micros(now());
        with_tx!(self.db(), |conn| conn
            .execute(
                "INSERT INTO agents (id, login, name, email, role, departments, languages, password_hash, active, created_at, updated_at, skills, capacity) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12)",
                &params![
                    a.id,
                    a.login.as_str(),
                    a.name.as_str(),
                    a.email.as_ref().map(|e| e.as_str()),
                    a.role.as_str(),
                    json(&a.departments),
                    json(&a.languages),
                    password_hash,
                    a.active,
                    now,
                    json(&a.skills),
                    i64::from(a.capacity)
                ],
            )
            .await)
        .map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Conflict(format!("an agent with login '{}' exists already", a.login)),
            e => e,
        })?;
        Ok(())
    }

    /// Sets what an administrator may change of an agent: name, e-mail, role, and what routing
    /// needs (departments, languages, skills, capacity). The login and the state stay.
    pub async fn update_agent_routing(&self, a: &Agent) -> Result<Agent, StoreError> {
        let now = to_micros(now());
        let id = with_tx!(self.db(), |conn| {
            let row = conn
                .fetch_optional(
                    "UPDATE agents SET departments = $2, languages = $3, skills = $4, capacity = $5, updated_at = $6, \
                     name = $7, email = $8, role = $9 WHERE id = $1 RETURNING id",
                    &params![
                        a.id,
                        json(&a.departments),
                        json(&a.languages),
                        json(&a.skills),
                        i64::from(a.capacity),
                        now,
                        a.name.as_str(),
                        a.email.as_ref().map(|e| e.as_str()),
                        a.role.as_str()
                    ],
                )
                .await?
                .ok_or(StoreError::NotFound)?;
            row.uuid("id")
        })?;
        self.agent(id).await
    }

    /// Open complaints assigned to each of `agents` (those with none are absent).
    pub async fn open_load(&self, agents: &[Uuid]) -> Result<Vec<(Uuid, i64)>, StoreError> {
        if agents.is_empty() {
            return Ok(vec![]);
        }
        let marks: Vec<String> = (1..=agents.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT assignee, COUNT(*) AS n FROM complaints WHERE assignee IN ({}) \
             AND status IN ('routed', 'in_progress', 'waiting_on_player') GROUP BY assignee",
            marks.join(", ")
        );
        let p: Vec<crate::db::P> = agents.iter().map(|a| crate::db::P::from(*a)).collect();
        let rows = with_read!(self.db(), |conn| conn.fetch_all(&sql, &p).await)?;
        rows.iter().map(|r| Ok((r.uuid("assignee")?, r.i64("n")?))).collect()
    }

    /// Enables or disables an agent; disabling also ends its sessions.
    pub async fn set_agent_active(&self, login: &str, active: bool) -> Result<Agent, StoreError> {
        let now = to_micros(now());
        let id = with_tx!(self.db(), |conn| {
            let row = conn
                .fetch_optional("UPDATE agents SET active = $2, updated_at = $3 WHERE login = $1 RETURNING id", &params![login, active, now])
                .await?
                .ok_or(StoreError::NotFound)?;
            let id = row.uuid("id")?;
            if !active {
                conn.execute("DELETE FROM sessions WHERE agent_id = $1", &params![id]).await?;
            }
            Ok::<_, StoreError>(id)
        })?;
        self.agent(id).await
    }

    pub async fn set_password(&self, id: Uuid, password_hash: &str) -> Result<(), StoreError> {
        self.set_password_ending_sessions(id, password_hash, None).await.map(|_| ())
    }

    /// Sets the password and, in the same transaction, ends every session of the agent but
    /// `keep` (the one that changed it); answers how many ended.
    pub async fn set_password_ending_sessions(&self, id: Uuid, password_hash: &str, keep: Option<&[u8]>) -> Result<u64, StoreError> {
        let now = to_micros(now());
        let keep = keep.map(<[u8]>::to_vec).unwrap_or_default();
        let ended = with_tx!(self.db(), |conn| {
            let n = conn.execute("UPDATE agents SET password_hash = $2, updated_at = $3 WHERE id = $1", &params![id, password_hash, now]).await?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            conn.execute("DELETE FROM sessions WHERE agent_id = $1 AND token_hash <> $2", &params![id, keep.clone()]).await
        })?;
        Ok(ended)
    }

    pub async fn insert_session(&self, token_hash: &[u8], agent_id: Uuid, expires_at: jiff::Timestamp) -> Result<(), StoreError> {
        let now = to_micros(now());
        with_tx!(self.db(), |conn| {
            // Sweep expired sessions while we hold the write lock anyway.
            conn.execute("DELETE FROM sessions WHERE expires_at < $1", &params![now]).await?;
            conn.execute(
                "INSERT INTO sessions (token_hash, agent_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                &params![token_hash.to_vec(), agent_id, now, to_micros(expires_at)],
            )
            .await
        })?;
        Ok(())
    }

    /// The active agent a live session belongs to.
    pub async fn session_agent(&self, token_hash: &[u8]) -> Result<Option<Agent>, StoreError> {
        let cols = AGENT_COLS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {cols} FROM sessions s JOIN agents a ON a.id = s.agent_id WHERE s.token_hash = $1 AND s.expires_at > $2 AND a.active"
        );
        let now = to_micros(now());
        let row = with_read!(self.db(), |conn| conn.fetch_optional(&sql, &params![token_hash.to_vec(), now]).await)?;
        row.as_ref().map(agent_from).transpose()
    }

    /// Ends a session; answers the agent it belonged to (`None`: there was none).
    pub async fn delete_session(&self, token_hash: &[u8]) -> Result<Option<Uuid>, StoreError> {
        let row = with_tx!(self.db(), |conn| conn
            .fetch_optional("DELETE FROM sessions WHERE token_hash = $1 RETURNING agent_id", &params![token_hash.to_vec()])
            .await)?;
        row.map(|r| r.uuid("agent_id")).transpose()
    }

    pub async fn insert_token(
        &self,
        id: Uuid,
        name: &str,
        token_hash: &[u8],
        scopes: &BTreeSet<Scope>,
        created_by: Option<Uuid>,
    ) -> Result<(), StoreError> {
        let scopes = scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
        let now = to_micros(now());
        with_tx!(self.db(), |conn| conn
            .execute(
                "INSERT INTO api_tokens (id, name, token_hash, scopes, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &params![id, name, token_hash.to_vec(), scopes, created_by, now],
            )
            .await)?;
        Ok(())
    }

    /// A token that exists and is not revoked.
    pub async fn token_by_hash(&self, token_hash: &[u8]) -> Result<Option<TokenInfo>, StoreError> {
        let row = with_read!(self.db(), |conn| conn
            .fetch_optional(
                "SELECT id, name, scopes, created_at, revoked_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
                &params![token_hash.to_vec()]
            )
            .await)?;
        row.as_ref().map(token_from).transpose()
    }

    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = with_read!(self.db(), |conn| conn
            .fetch_all("SELECT id, name, scopes, created_at, revoked_at FROM api_tokens ORDER BY created_at", &[])
            .await)?;
        rows.iter().map(token_from).collect()
    }

    pub async fn revoke_token(&self, id: Uuid) -> Result<(), StoreError> {
        let now = to_micros(now());
        let n = with_tx!(self.db(), |conn| conn
            .execute("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", &params![id, now])
            .await)?;
        if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }
}
