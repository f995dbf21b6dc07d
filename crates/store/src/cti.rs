//! The phone channel: calls as the PBX reports them, the agents' extensions, and the callbacks
//! owed to players whose call was missed. A call event is a decision taken against the call as
//! it stands inside the transaction (like the writer's `Decide`): the desk's state machine
//! says what the call becomes, this module writes it with its side effects (the player matched
//! or created by phone, a callback opened or joined, callbacks closed by an answered call).

use crate::db::{Backend, Conn, Row};
use crate::rows::{AGENT_COLS, PLAYER_COLS, agent_from, json, player_params};
use crate::{Store, StoreError, params, with_read, with_tx};
use ombuds_core::{Actor, Agent, Language, PhoneNumber, Player, PlayerContact, from_micros, now, to_micros};
use serde::Serialize;
use uuid::Uuid;

/// Declares a closed set of words stored as text, with `as_str` and `parse`.
macro_rules! words {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($word => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

words!(
    /// Where a call stands. It only moves forward: ringing → answered → ended, ringing → missed
    /// → voicemail (or ringing → voicemail).
    CallStatus { Ringing = "ringing", Answered = "answered", Ended = "ended", Missed = "missed", Voicemail = "voicemail" }
);
words!(CallDirection { Inbound = "inbound", Outbound = "outbound" });
words!(CallbackReason { Missed = "missed", Voicemail = "voicemail" });
words!(CallbackStatus { Open = "open", Done = "done" });

/// One phone call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    pub id: Uuid,
    /// The PBX's id for the call.
    pub call_id: String,
    pub direction: CallDirection,
    /// As the PBX sent them.
    pub caller: String,
    pub called: String,
    /// The player's side in E.164 (the caller of an inbound call, the called of an outbound
    /// one); `None` when withheld or not a phone number.
    pub phone: Option<String>,
    pub player_id: Option<Uuid>,
    pub status: CallStatus,
    pub agent_id: Option<Uuid>,
    pub extension: Option<String>,
    pub started_at: jiff::Timestamp,
    pub answered_at: Option<jiff::Timestamp>,
    pub ended_at: Option<jiff::Timestamp>,
    pub duration_s: Option<i64>,
    pub cause: Option<String>,
    pub recording_url: Option<String>,
    pub voicemail_url: Option<String>,
    pub complaint_id: Option<Uuid>,
    pub callback_id: Option<Uuid>,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
}

/// A call back owed to a player.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Callback {
    pub id: Uuid,
    /// The call that opened it (`calls.id`).
    pub call_id: Uuid,
    pub player_id: Option<Uuid>,
    pub phone: String,
    pub reason: CallbackReason,
    /// Missed calls from this number it answers.
    pub calls: i64,
    pub due_at: jiff::Timestamp,
    pub status: CallbackStatus,
    pub done_by: Option<Actor>,
    pub done_at: Option<jiff::Timestamp>,
    pub note: Option<String>,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
}

/// What a call event makes of the call.
#[derive(Debug, Clone)]
pub struct CallChange {
    /// The call after the event. A call with a `phone` and no `player_id` gets the player
    /// with that phone (the first registered), or a new one.
    pub call: Call,
    /// Open a callback for the call's phone (or join the open one), or raise this call's
    /// callback from `missed` to `voicemail`.
    pub callback: Option<NewCallback>,
    /// The call was answered just now: callbacks open for its phone since before it are done.
    pub answered: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewCallback {
    pub id: Uuid,
    pub reason: CallbackReason,
    pub due_at: jiff::Timestamp,
}

/// The result of a call event: the call before and after it.
#[derive(Debug, Clone)]
pub struct CallApplied {
    pub before: Option<Call>,
    pub call: Call,
    pub changed: bool,
}

const CALL_COLS: &str = "id, call_id, direction, caller, called, phone, player_id, status, agent_id, extension, started_at, \
     answered_at, ended_at, duration_s, cause, recording_url, voicemail_url, complaint_id, callback_id, created_at, updated_at";
const CALLBACK_COLS: &str = "id, call_id, player_id, phone, reason, calls, due_at, status, done_by, done_at, note, created_at, updated_at";

fn corrupt(col: &str, v: &str) -> StoreError {
    StoreError::Corrupt(format!("column {col}: '{v}'"))
}

fn call_from(r: &Row) -> Result<Call, StoreError> {
    let word = |col: &str| r.text(col);
    let (direction, status) = (word("direction")?, word("status")?);
    Ok(Call {
        id: r.uuid("id")?,
        call_id: r.text("call_id")?,
        direction: CallDirection::parse(&direction).ok_or_else(|| corrupt("direction", &direction))?,
        caller: r.text("caller")?,
        called: r.text("called")?,
        phone: r.opt_text("phone")?,
        player_id: r.opt_uuid("player_id")?,
        status: CallStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        agent_id: r.opt_uuid("agent_id")?,
        extension: r.opt_text("extension")?,
        started_at: from_micros(r.i64("started_at")?),
        answered_at: r.opt_i64("answered_at")?.map(from_micros),
        ended_at: r.opt_i64("ended_at")?.map(from_micros),
        duration_s: r.opt_i64("duration_s")?,
        cause: r.opt_text("cause")?,
        recording_url: r.opt_text("recording_url")?,
        voicemail_url: r.opt_text("voicemail_url")?,
        complaint_id: r.opt_uuid("complaint_id")?,
        callback_id: r.opt_uuid("callback_id")?,
        created_at: from_micros(r.i64("created_at")?),
        updated_at: from_micros(r.i64("updated_at")?),
    })
}

fn call_params(c: &Call) -> Vec<crate::db::P> {
    params![
        c.id,
        c.call_id.as_str(),
        c.direction.as_str(),
        c.caller.as_str(),
        c.called.as_str(),
        c.phone.clone(),
        c.player_id,
        c.status.as_str(),
        c.agent_id,
        c.extension.clone(),
        to_micros(c.started_at),
        c.answered_at.map(to_micros),
        c.ended_at.map(to_micros),
        c.duration_s,
        c.cause.clone(),
        c.recording_url.clone(),
        c.voicemail_url.clone(),
        c.complaint_id,
        c.callback_id,
        to_micros(c.created_at),
        to_micros(c.updated_at),
    ]
}

fn callback_from(r: &Row) -> Result<Callback, StoreError> {
    let (reason, status) = (r.text("reason")?, r.text("status")?);
    let done_by = match r.opt_text("done_by")? {
        None => None,
        Some(s) => Some(serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("column done_by: {e}")))?),
    };
    Ok(Callback {
        id: r.uuid("id")?,
        call_id: r.uuid("call_id")?,
        player_id: r.opt_uuid("player_id")?,
        phone: r.text("phone")?,
        reason: CallbackReason::parse(&reason).ok_or_else(|| corrupt("reason", &reason))?,
        calls: r.i64("calls")?,
        due_at: from_micros(r.i64("due_at")?),
        status: CallbackStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        done_by,
        done_at: r.opt_i64("done_at")?.map(from_micros),
        note: r.opt_text("note")?,
        created_at: from_micros(r.i64("created_at")?),
        updated_at: from_micros(r.i64("updated_at")?),
    })
}

fn marks(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// How often a call event is tried again when a concurrent event for the same call (or a
/// callback for the same number) won a race on a unique key.
const ATTEMPTS: usize = 4;

impl Store {
    /// Applies one PBX event to the call `call_id`: `decide` sees the call as it stands inside
    /// the transaction (locked on PostgreSQL; SQLite has one writer) and says what it becomes:
    /// `Ok(None)` when nothing changes, `Err` to refuse (nothing is written).
    pub async fn apply_call_event<E>(
        &self,
        call_id: &str,
        decide: impl Fn(Option<&Call>) -> Result<Option<CallChange>, E>,
    ) -> Result<Result<CallApplied, E>, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let r = with_tx!(self.db(), |conn| apply_in_tx(&mut conn, call_id, &decide).await);
            match r {
                Err(StoreError::Conflict(why)) if attempt < ATTEMPTS => tracing::debug!(why, "call event raced; deciding again"),
                r => return r,
            }
        }
    }

    pub async fn call(&self, id: Uuid) -> Result<Call, StoreError> {
        let sql = format!("SELECT {CALL_COLS} FROM calls WHERE id = $1");
        let row = with_read!(self.db(), |conn| conn.fetch_optional(&sql, &params![id]).await)?;
        call_from(&row.ok_or(StoreError::NotFound)?)
    }

    pub async fn call_by_pbx_id(&self, call_id: &str) -> Result<Option<Call>, StoreError> {
        let sql = format!("SELECT {CALL_COLS} FROM calls WHERE call_id = $1");
        let row = with_read!(self.db(), |conn| conn.fetch_optional(&sql, &params![call_id]).await)?;
        row.as_ref().map(call_from).transpose()
    }

    /// A player's calls, newest first.
    pub async fn calls_of_player(&self, player_id: Uuid, limit: u32) -> Result<Vec<Call>, StoreError> {
        let sql = format!("SELECT {CALL_COLS} FROM calls WHERE player_id = $1 ORDER BY started_at DESC, id DESC LIMIT {}", limit.clamp(1, 500));
        let rows = with_read!(self.db(), |conn| conn.fetch_all(&sql, &params![player_id]).await)?;
        rows.iter().map(call_from).collect()
    }

    /// The calls added to a complaint, oldest first.
    pub async fn calls_of_complaint(&self, complaint_id: Uuid) -> Result<Vec<Call>, StoreError> {
        let sql = format!("SELECT {CALL_COLS} FROM calls WHERE complaint_id = $1 ORDER BY started_at, id");
        let rows = with_read!(self.db(), |conn| conn.fetch_all(&sql, &params![complaint_id]).await)?;
        rows.iter().map(call_from).collect()
    }

    /// Links the call to the complaint it was registered as or added to (and to that
    /// complaint's player). Linking it again to the same complaint changes nothing; a call
    /// linked to another complaint is a `Conflict`.
    pub async fn link_call(&self, id: Uuid, complaint_id: Uuid, player_id: Uuid) -> Result<Call, StoreError> {
        let now = to_micros(now());
        let sql = format!(
            "UPDATE calls SET complaint_id = $2, player_id = $3, updated_at = $4 \
             WHERE id = $1 AND (complaint_id IS NULL OR complaint_id = $2) RETURNING {CALL_COLS}"
        );
        let row = with_tx!(self.db(), |conn| conn.fetch_optional(&sql, &params![id, complaint_id, player_id, now]).await)?;
        match row {
            Some(r) => call_from(&r),
            None => {
                let c = self.call(id).await?;
                Err(StoreError::Conflict(format!("call {} belongs to another complaint", c.call_id)))
            }
        }
    }

    /// Callbacks, the earliest due first; all of them when `status` is `None`.
    pub async fn callbacks(&self, status: Option<CallbackStatus>, limit: u32) -> Result<Vec<Callback>, StoreError> {
        let limit = limit.clamp(1, 500);
        let (filter, p) = match status {
            Some(s) => ("WHERE status = $1", params![s.as_str()]),
            None => ("", params![]),
        };
        let sql = format!("SELECT {CALLBACK_COLS} FROM callbacks {filter} ORDER BY due_at, id LIMIT {limit}");
        let rows = with_read!(self.db(), |conn| conn.fetch_all(&sql, &p).await)?;
        rows.iter().map(callback_from).collect()
    }

    pub async fn callback(&self, id: Uuid) -> Result<Callback, StoreError> {
        let sql = format!("SELECT {CALLBACK_COLS} FROM callbacks WHERE id = $1");
        let row = with_read!(self.db(), |conn| conn.fetch_optional(&sql, &params![id]).await)?;
        callback_from(&row.ok_or(StoreError::NotFound)?)
    }

    /// Marks a callback done. One already done is returned as it is (`false`).
    pub async fn finish_callback(&self, id: Uuid, by: &Actor, note: Option<&str>) -> Result<(Callback, bool), StoreError> {
        let now = to_micros(now());
        let sql = format!(
            "UPDATE callbacks SET status = 'done', done_by = $2, done_at = $3, note = $4, updated_at = $3 \
             WHERE id = $1 AND status = 'open' RETURNING {CALLBACK_COLS}"
        );
        let row = with_tx!(self.db(), |conn| conn.fetch_optional(&sql, &params![id, json(by), now, note]).await)?;
        match row {
            Some(r) => Ok((callback_from(&r)?, true)),
            None => Ok((self.callback(id).await?, false)),
        }
    }

    /// Gives the agent this extension (taking it from nobody: an extension another agent has
    /// is a `Conflict`), or none.
    pub async fn set_agent_extension(&self, agent_id: Uuid, extension: Option<&str>) -> Result<(), StoreError> {
        let now = to_micros(now());
        with_tx!(self.db(), |conn| {
            conn.execute("DELETE FROM agent_extensions WHERE agent_id = $1", &params![agent_id]).await?;
            if let Some(ext) = extension {
                conn.execute("INSERT INTO agent_extensions (extension, agent_id, created_at) VALUES ($1, $2, $3)", &params![ext, agent_id, now])
                    .await
                    .map_err(|e| match e {
                        StoreError::Conflict(_) => StoreError::Conflict(format!("extension '{ext}' belongs to another agent")),
                        e => e,
                    })?;
            }
            Ok::<_, StoreError>(())
        })
    }

    /// The agent answering on this extension.
    pub async fn agent_by_extension(&self, extension: &str) -> Result<Option<Agent>, StoreError> {
        let cols = AGENT_COLS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!("SELECT {cols} FROM agent_extensions x JOIN agents a ON a.id = x.agent_id WHERE x.extension = $1");
        let row = with_read!(self.db(), |conn| conn.fetch_optional(&sql, &params![extension]).await)?;
        row.as_ref().map(agent_from).transpose()
    }

    /// Every extension with its agent, by extension.
    pub async fn agent_extensions(&self) -> Result<Vec<(String, Agent)>, StoreError> {
        let cols = AGENT_COLS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ");
        let sql = format!("SELECT x.extension, {cols} FROM agent_extensions x JOIN agents a ON a.id = x.agent_id ORDER BY x.extension");
        let rows = with_read!(self.db(), |conn| conn.fetch_all(&sql, &[]).await)?;
        rows.iter().map(|r| Ok((r.text("extension")?, agent_from(r)?))).collect()
    }
}

async fn apply_in_tx<E>(
    conn: &mut Conn<'_>,
    call_id: &str,
    decide: &impl Fn(Option<&Call>) -> Result<Option<CallChange>, E>,
) -> Result<Result<CallApplied, E>, StoreError> {
    let pg = conn.backend() == Backend::Postgres;
    let lock = if pg { " FOR UPDATE" } else { "" };
    let row = conn.fetch_optional(&format!("SELECT {CALL_COLS} FROM calls WHERE call_id = $1{lock}"), &params![call_id]).await?;
    let before = row.as_ref().map(call_from).transpose()?;
    let change = match decide(before.as_ref()) {
        Err(e) => return Ok(Err(e)),
        Ok(Some(change)) => change,
        Ok(None) => {
            let call = before.clone().ok_or_else(|| StoreError::Corrupt(format!("an event for the unknown call {call_id} changed nothing")))?;
            return Ok(Ok(CallApplied { before, call, changed: false }));
        }
    };
    let mut call = change.call;
    if call.call_id != call_id || before.as_ref().is_some_and(|b| b.id != call.id) {
        return Err(StoreError::Corrupt(format!("a change for call {call_id} was decided for another call")));
    }
    let now = ombuds_core::now();
    call.updated_at = now;
    if call.player_id.is_none()
        && let Some(phone) = &call.phone
    {
        call.player_id = Some(player_for_phone(conn, phone, now).await?);
    }
    // The callback this call opens or joins: decided before the call row is written (the
    // callback names the call), written after it.
    enum Cb {
        Raise(Uuid),
        Join(Uuid),
        Open(NewCallback),
    }
    let cb = match (&change.callback, &call.phone) {
        (Some(new), Some(phone)) => Some(match call.callback_id {
            Some(id) => Cb::Raise(id),
            None => {
                let open = conn.fetch_optional("SELECT id FROM callbacks WHERE phone = $1 AND status = 'open'", &params![phone.as_str()]).await?;
                match open {
                    Some(r) => Cb::Join(r.uuid("id")?),
                    None => Cb::Open(*new),
                }
            }
        }),
        _ => None,
    };
    match &cb {
        Some(Cb::Join(id)) => call.callback_id = Some(*id),
        Some(Cb::Open(new)) => call.callback_id = Some(new.id),
        _ => {}
    }
    let p = call_params(&call);
    if before.is_none() {
        conn.execute(&format!("INSERT INTO calls ({CALL_COLS}) VALUES ({})", marks(p.len())), &p).await?;
    } else {
        let sets: Vec<String> = CALL_COLS.split(", ").enumerate().skip(1).map(|(i, c)| format!("{c} = ${}", i + 1)).collect();
        conn.execute(&format!("UPDATE calls SET {} WHERE id = $1", sets.join(", ")), &p).await?;
    }
    let at = to_micros(now);
    let reason = change.callback.map(|c| c.reason.as_str());
    match cb {
        // Only ever from missed to voicemail: a voicemail says more than a missed call.
        Some(Cb::Raise(id)) if reason == Some("voicemail") => {
            conn.execute("UPDATE callbacks SET reason = 'voicemail', updated_at = $2 WHERE id = $1 AND status = 'open'", &params![id, at])
                .await?;
        }
        None | Some(Cb::Raise(_)) => {}
        Some(Cb::Join(id)) => {
            conn.execute(
                "UPDATE callbacks SET calls = calls + 1, reason = CASE WHEN $2 = 'voicemail' THEN 'voicemail' ELSE reason END, updated_at = $3 WHERE id = $1",
                &params![id, reason, at],
            )
            .await?;
        }
        Some(Cb::Open(new)) => {
            conn.execute(
                &format!("INSERT INTO callbacks ({CALLBACK_COLS}) VALUES ($1, $2, $3, $4, $5, 1, $6, 'open', NULL, NULL, NULL, $7, $7)"),
                &params![new.id, call.id, call.player_id, call.phone.clone(), new.reason.as_str(), to_micros(new.due_at), at],
            )
            .await?;
        }
    }
    if change.answered
        && let (Some(phone), Some(answered_at)) = (&call.phone, call.answered_at)
    {
        let by = call.agent_id.map_or(Actor::System, |id| Actor::Agent { id });
        conn.execute(
            "UPDATE callbacks SET status = 'done', done_by = $2, done_at = $3, note = $4, updated_at = $5 \
             WHERE phone = $1 AND status = 'open' AND call_id IN (SELECT id FROM calls WHERE started_at <= $3)",
            &params![phone.as_str(), json(&by), to_micros(answered_at), format!("call {} answered", call.call_id), at],
        )
        .await?;
    }
    Ok(Ok(CallApplied { before, call, changed: true }))
}

/// The player with this phone number (the first registered, as the writer matches), or a new
/// one. A new player is created under the event-chain lock on PostgreSQL, the lock every
/// registration takes, so a complaint registering the same number meanwhile cannot make a
/// second player; SQLite has one writer anyway.
async fn player_for_phone(conn: &mut Conn<'_>, phone: &str, now: jiff::Timestamp) -> Result<Uuid, StoreError> {
    const FIND: &str = "SELECT id FROM players WHERE phone = $1 ORDER BY created_at, id LIMIT 1";
    if let Some(r) = conn.fetch_optional(FIND, &params![phone]).await? {
        return r.uuid("id");
    }
    if conn.backend() == Backend::Postgres {
        conn.fetch_optional("SELECT seq FROM event_chain WHERE id = 1 FOR UPDATE", &[]).await?;
        if let Some(r) = conn.fetch_optional(FIND, &params![phone]).await? {
            return r.uuid("id");
        }
    }
    let phone = PhoneNumber::parse(phone).map_err(|e| StoreError::Corrupt(format!("call phone: {e}")))?;
    let contact = PlayerContact { external_id: None, name: None, email: None, phone: Some(phone), language: None };
    let player = Player::from_contact(Uuid::now_v7(), &contact, Language::Ru, now);
    let p = player_params(&player, to_micros(now));
    conn.execute(&format!("INSERT INTO players ({PLAYER_COLS}) VALUES ({})", marks(p.len())), &p).await?;
    Ok(player.id)
}
