//! The phone channel (CTI). A PBX reports call events (ringing, answered, hang-up, voicemail,
//! recording) to a webhook; each is decided against the call as it stands (`transition`, pure)
//! and stored with its side effects: the caller matched to a player by phone (or a new player),
//! a callback task for a missed call or a voicemail, callbacks closed by an answered call. The
//! agent who answers is told at once who is calling and what the player has open. Agents then
//! register a complaint from the call (the call is its first message) or add the call to an
//! existing complaint; either happens once per call.
//!
//! Events arrive duplicated and out of order. Rules: a call's status only moves forward
//! (ringing → answered → ended; ringing → missed → voicemail); an event that changes nothing is
//! answered with the call as it is; an event for an unknown call creates it when it names the
//! numbers (a hang-up before its ringing), otherwise it is refused; an event that contradicts
//! the call (an answer after an unanswered hang-up, another caller for the same call id) is
//! refused and changes nothing.

use crate::{ATTEMPTS, Desk, DeskError, Result};
use ombuds_core::command::{self, Ctx};
use ombuds_core::*;
use ombuds_store::cti::{CallApplied, CallChange, NewCallback};
use ombuds_store::{ChangeRequest, ComplaintFilter, Decide, IdempotencyKey, NewComplaint, Outcome, PageRequest, StoreError, WriteOp};
use std::time::Duration;
use uuid::Uuid;

pub use ombuds_store::cti::{Call, CallDirection, CallStatus, Callback, CallbackReason, CallbackStatus};

/// Settings of the phone channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtiConfig {
    /// How soon a player whose call was missed (or who left a voicemail) must be called back.
    pub callback_within: Duration,
}

impl Default for CtiConfig {
    fn default() -> Self {
        CtiConfig { callback_within: Duration::from_secs(2 * 3600) }
    }
}

/// What a PBX reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallEventKind {
    /// A new call: caller, called and direction.
    Ringing,
    /// An agent (by extension or login) picked it up.
    Answered,
    /// The call ended: cause and duration.
    Hangup,
    /// The caller left a message: its URL or file.
    Voicemail,
    /// The conversation's recording: its URL or file.
    Recording,
}

impl CallEventKind {
    pub const ALL: &'static [CallEventKind] =
        &[CallEventKind::Ringing, CallEventKind::Answered, CallEventKind::Hangup, CallEventKind::Voicemail, CallEventKind::Recording];

    pub fn as_str(self) -> &'static str {
        match self {
            CallEventKind::Ringing => "ringing",
            CallEventKind::Answered => "answered",
            CallEventKind::Hangup => "hangup",
            CallEventKind::Voicemail => "voicemail",
            CallEventKind::Recording => "recording",
        }
    }

    pub fn parse(raw: &str) -> Option<CallEventKind> {
        CallEventKind::ALL.iter().copied().find(|k| k.as_str() == raw)
    }
}

/// An event as it arrives, every field still text (from JSON or a form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawCallEvent {
    pub event: Option<String>,
    pub call_id: Option<String>,
    pub at: Option<String>,
    pub caller: Option<String>,
    pub called: Option<String>,
    pub direction: Option<String>,
    pub extension: Option<String>,
    pub agent: Option<String>,
    pub cause: Option<String>,
    pub duration_s: Option<String>,
    pub url: Option<String>,
}

/// An event, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEvent {
    pub kind: CallEventKind,
    /// The PBX's id for the call.
    pub call_id: String,
    /// When it happened at the PBX; when it arrived if not given.
    pub at: Option<jiff::Timestamp>,
    /// As the PBX shows them; an empty caller is a withheld number.
    pub caller: Option<String>,
    pub called: Option<String>,
    pub direction: Option<CallDirection>,
    pub extension: Option<String>,
    /// The answering agent's login, when the PBX knows it.
    pub agent: Option<String>,
    pub cause: Option<String>,
    pub duration_s: Option<i64>,
    pub url: Option<String>,
}

/// Events stamped this far ahead of our clock are refused (a PBX clock gone wrong).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);
/// The longest call we believe in.
pub const MAX_DURATION_S: i64 = 48 * 3600;

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// A line of text from the PBX: trimmed, at most `max` characters, no control characters.
fn line(field: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    let t = raw.trim();
    if t.chars().count() > max {
        return Err(FieldError::new(field, "too_long", format!("must be at most {max} characters")));
    }
    if has_control(t) {
        return Err(FieldError::new(field, "invalid_characters", "must not contain control characters"));
    }
    Ok(t.to_string())
}

fn call_id(raw: &str) -> Result<String, FieldError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(FieldError::new("call_id", "required", "must not be empty"));
    }
    if t.len() > 128 || !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FieldError::new("call_id", "invalid_call_id", "must be 1 to 128 visible ASCII characters"));
    }
    Ok(t.to_string())
}

/// An extension: what a PBX dials to reach an agent (`101`, `*77`, `sip-dana`).
pub fn parse_extension(raw: &str) -> Result<String, FieldError> {
    let t = raw.trim();
    let ok = (1..=32).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"*#+_.-".contains(&b));
    if ok { Ok(t.to_string()) } else { Err(FieldError::new("extension", "invalid_extension", "use 1 to 32 of a-z, 0-9, '*', '#', '+', '_', '.', '-'")) }
}

/// A recording or voicemail: an `http(s)` URL or an absolute file path on the PBX (nothing a
/// browser would run, such as `javascript:`).
fn url(raw: &str) -> Result<String, FieldError> {
    let t = line("url", raw, 2048)?;
    let lower = t.to_ascii_lowercase();
    let ok = (lower.starts_with("https://") || lower.starts_with("http://")) && t.len() > 8
        || t.starts_with('/') && !t.starts_with("//")
        || lower.starts_with("file:///");
    if ok { Ok(t) } else { Err(FieldError::new("url", "invalid_url", "use an http(s) URL or an absolute file path")) }
}

/// Checks a raw event, reporting every bad field at once.
pub fn parse_event(raw: &RawCallEvent, now: jiff::Timestamp) -> Result<CallEvent, Vec<FieldError>> {
    let mut errors = vec![];
    let mut take = |r: Result<String, FieldError>| r.map_err(|e| errors.push(e)).ok();
    // Optional text fields: empty counts as absent (a PBX template fills in empty variables).
    let present = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let kind = match raw.event.as_deref().map(str::trim) {
        None | Some("") => {
            take(Err(FieldError::new("event", "required", "is required")));
            None
        }
        Some(e) => match CallEventKind::parse(e) {
            Some(k) => Some(k),
            None => {
                let all: Vec<&str> = CallEventKind::ALL.iter().map(|k| k.as_str()).collect();
                take(Err(FieldError::new("event", "invalid_value", format!("'{e}' is not one of: {}", all.join(", ")))));
                None
            }
        },
    };
    let id = match &raw.call_id {
        None => take(Err(FieldError::new("call_id", "required", "is required"))),
        Some(s) => take(call_id(s)),
    };
    let at = present(&raw.at).and_then(|s| match s.parse::<jiff::Timestamp>() {
        Err(_) => take(Err(FieldError::new("at", "invalid_timestamp", "use RFC 3339, e.g. 2026-11-25T10:00:00Z"))).map(|_| now),
        Ok(t) if t > now + MAX_CLOCK_SKEW => take(Err(FieldError::new("at", "in_future", "is ahead of the desk's clock; check the PBX's time"))).map(|_| now),
        Ok(t) => Some(ombuds_core::from_micros(ombuds_core::to_micros(t))),
    });
    // A withheld caller may come as an empty string: kept, it is what the PBX knows.
    let caller = raw.caller.as_deref().and_then(|s| take(line("caller", s, 128)));
    let called = raw.called.as_deref().and_then(|s| take(line("called", s, 128)));
    let direction = present(&raw.direction).and_then(|d| match CallDirection::parse(&d) {
        Some(d) => Some(d),
        None => take(Err(FieldError::new("direction", "invalid_value", format!("'{d}' is not one of: inbound, outbound")))).map(|_| CallDirection::Inbound),
    });
    let extension = present(&raw.extension).and_then(|s| take(parse_extension(&s)));
    let agent = present(&raw.agent).and_then(|s| take(crate::auth::parse_login(&s).map_err(|_| FieldError::new("agent", "invalid_login", "is not an agent login"))));
    let cause = present(&raw.cause).and_then(|s| take(line("cause", &s, 200)));
    let duration_s = present(&raw.duration_s).and_then(|s| {
        let n = s.parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0 && *n <= MAX_DURATION_S as f64);
        match n {
            Some(n) => Some(n.round() as i64),
            None => take(Err(FieldError::new("duration_s", "out_of_range", format!("use a number of seconds from 0 to {MAX_DURATION_S}")))).map(|_| 0),
        }
    });
    let url = present(&raw.url).and_then(|s| take(url(&s)));
    match kind {
        Some(CallEventKind::Ringing) => {
            for (name, v) in [("caller", &caller), ("called", &called)] {
                if v.is_none() {
                    take(Err(FieldError::new(name, "required", "a ringing event names both numbers (an empty caller is a withheld number)")));
                }
            }
        }
        Some(k @ (CallEventKind::Voicemail | CallEventKind::Recording)) if url.is_none() && raw.url.as_deref().is_none_or(|u| u.trim().is_empty()) => {
            take(Err(FieldError::new("url", "required", format!("a {} event carries the file's URL or path", k.as_str()))));
        }
        _ => {}
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(CallEvent {
        kind: kind.expect("checked"),
        call_id: id.expect("checked"),
        at,
        caller,
        called,
        direction,
        extension,
        agent,
        cause,
        duration_s,
        url,
    })
}

/// The player's number in E.164, from what the PBX shows: the caller of an inbound call, the
/// called of an outbound one. SIP and tel URIs are unwrapped (`sip:+7701…@pbx;user=phone`);
/// a withheld, internal or malformed number gives `None`.
pub fn player_phone(direction: CallDirection, caller: &str, called: &str) -> Option<PhoneNumber> {
    let raw = match direction {
        CallDirection::Inbound => caller,
        CallDirection::Outbound => called,
    };
    let t = raw.trim().trim_start_matches('<').trim_end_matches('>');
    let lower = t.to_ascii_lowercase();
    let t = ["tel:", "sips:", "sip:"].iter().find(|p| lower.starts_with(**p)).map_or(t, |p| &t[p.len()..]);
    let t = t.split(['@', ';']).next().unwrap_or("");
    PhoneNumber::parse(t).ok()
}

/// Whether two numbers as a PBX shows them are the same (`8 701 …` and `+7701…` are).
fn same_number(a: &str, b: &str) -> bool {
    let e164 = |s: &str| player_phone(CallDirection::Inbound, s, "");
    a.trim() == b.trim() || e164(a).is_some_and(|x| Some(x) == e164(b))
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The call is unknown and the event does not say enough to start it.
    UnknownCall(String),
    /// The event contradicts the call as it stands.
    Conflict(String),
}

/// Why an event for an unknown call was refused, in words for the PBX's administrator.
pub fn unknown_call_detail(ev: &CallEvent) -> String {
    let name = &ev.call_id;
    match ev.kind {
        CallEventKind::Recording => format!("no call '{name}' is known: a recording is for a call reported before"),
        _ => format!("no call '{name}' is known: report it with a ringing event first, or give caller and called with this one"),
    }
}

/// What a decision needs besides the call and the event.
#[derive(Debug, Clone)]
pub struct TransitionCtx {
    pub now: jiff::Timestamp,
    /// Ids for a call and a callback this event may create.
    pub new_call_id: Uuid,
    pub new_callback_id: Uuid,
    /// The agent the event's login or extension names, if any.
    pub agent_id: Option<Uuid>,
    pub callback_within: Duration,
}

/// Decides what `ev` makes of the call (`None`: unknown so far): `Ok(None)` when nothing
/// changes. Pure.
pub fn transition(current: Option<&Call>, ev: &CallEvent, ctx: &TransitionCtx) -> Result<Option<CallChange>, Refusal> {
    let at = ev.at.unwrap_or(ctx.now);
    let name = &ev.call_id;
    let (mut call, fresh) = match current {
        Some(c) => {
            for (field, given, known) in [("caller", &ev.caller, &c.caller), ("called", &ev.called, &c.called)] {
                if let Some(g) = given
                    && !same_number(g, known)
                {
                    return Err(Refusal::Conflict(format!("call '{name}' is known with {field} '{known}', not '{g}'")));
                }
            }
            if let Some(d) = ev.direction
                && d != c.direction
            {
                return Err(Refusal::Conflict(format!("call '{name}' is known as {}, not {d}", c.direction)));
            }
            (c.clone(), false)
        }
        None => {
            let (Some(caller), Some(called)) = (&ev.caller, &ev.called) else {
                return Err(Refusal::UnknownCall(unknown_call_detail(ev)));
            };
            if ev.kind == CallEventKind::Recording {
                return Err(Refusal::UnknownCall(unknown_call_detail(ev)));
            }
            let direction = ev.direction.unwrap_or(CallDirection::Inbound);
            let call = Call {
                id: ctx.new_call_id,
                call_id: name.clone(),
                direction,
                caller: caller.clone(),
                called: called.clone(),
                phone: player_phone(direction, caller, called).map(|p| p.as_str().to_string()),
                player_id: None,
                status: CallStatus::Ringing,
                agent_id: None,
                extension: None,
                started_at: at,
                answered_at: None,
                ended_at: None,
                duration_s: None,
                cause: None,
                recording_url: None,
                voicemail_url: None,
                complaint_id: None,
                callback_id: None,
                created_at: ctx.now,
                updated_at: ctx.now,
            };
            (call, true)
        }
    };
    let before = call.clone();
    let owes_callback = call.direction == CallDirection::Inbound && call.phone.is_some();
    let due = |reason| NewCallback {
        id: ctx.new_callback_id,
        reason,
        due_at: at + jiff::SignedDuration::try_from(ctx.callback_within).unwrap_or(jiff::SignedDuration::MAX),
    };
    // Whether the event names someone other than who has the call now.
    let someone_else = (ev.extension.is_some() && ev.extension != call.extension) || (ctx.agent_id.is_some() && ctx.agent_id != call.agent_id);
    let (mut callback, mut answered) = (None, false);
    let answer = |call: &mut Call| {
        call.answered_at = Some(at.max(call.started_at));
        call.agent_id = ctx.agent_id;
        call.extension = ev.extension.clone();
    };
    let end = |call: &mut Call| {
        let ended = at.max(call.answered_at.unwrap_or(call.started_at));
        call.ended_at = Some(ended);
        call.cause = ev.cause.clone();
        call.duration_s = ev.duration_s.or_else(|| call.answered_at.map(|a| ended.duration_since(a).as_secs()));
    };
    match ev.kind {
        CallEventKind::Ringing => {
            // Learnt late (the call was started by a later event): the true start.
            if !fresh && at < call.started_at {
                call.started_at = at;
            }
        }
        CallEventKind::Answered => match call.status {
            CallStatus::Ringing => {
                answer(&mut call);
                call.status = CallStatus::Answered;
                answered = true;
            }
            // Answered again by someone else: a transfer.
            CallStatus::Answered if someone_else => {
                call.agent_id = ctx.agent_id;
                call.extension = ev.extension.clone();
            }
            CallStatus::Answered => {}
            CallStatus::Ended if someone_else => {
                return Err(Refusal::Conflict(format!("call '{name}' has ended: it cannot be answered by someone else now")));
            }
            CallStatus::Ended => {}
            // The answer was sent before the hang-up but arrived after it.
            CallStatus::Missed if call.ended_at.is_some_and(|e| at <= e) => {
                answer(&mut call);
                call.status = CallStatus::Ended;
                if call.duration_s.is_none() || ev.at.is_some() {
                    let ended = call.ended_at.expect("missed calls have ended");
                    call.duration_s = call.answered_at.map(|a| ended.duration_since(a).as_secs());
                }
                answered = true;
            }
            CallStatus::Missed | CallStatus::Voicemail => {
                let ended = call.ended_at.map(|e| format!(" at {e}")).unwrap_or_default();
                return Err(Refusal::Conflict(format!("call '{name}' ended unanswered{ended}: an answer after the hang-up is refused")));
            }
        },
        CallEventKind::Hangup => match call.status {
            CallStatus::Ringing => {
                end(&mut call);
                call.status = CallStatus::Missed;
                if owes_callback {
                    callback = Some(due(CallbackReason::Missed));
                }
            }
            CallStatus::Answered => {
                end(&mut call);
                call.status = CallStatus::Ended;
            }
            // The voicemail was reported while the caller was still leaving it.
            CallStatus::Voicemail if call.ended_at.is_none() => end(&mut call),
            CallStatus::Ended | CallStatus::Missed | CallStatus::Voicemail => {}
        },
        CallEventKind::Voicemail => {
            let url = ev.url.clone().expect("checked: a voicemail has a url");
            match call.status {
                CallStatus::Ringing | CallStatus::Missed => {
                    call.status = CallStatus::Voicemail;
                    call.voicemail_url = Some(url);
                    if owes_callback {
                        callback = Some(due(CallbackReason::Voicemail));
                    }
                }
                CallStatus::Voicemail if call.voicemail_url.as_ref() == Some(&url) => {}
                CallStatus::Voicemail => return Err(Refusal::Conflict(format!("call '{name}' has another voicemail"))),
                CallStatus::Answered | CallStatus::Ended => {
                    return Err(Refusal::Conflict(format!("call '{name}' was answered: a voicemail is left on an unanswered call")));
                }
            }
        }
        CallEventKind::Recording => {
            let url = ev.url.clone().expect("checked: a recording has a url");
            match (call.status, &call.recording_url) {
                (CallStatus::Missed | CallStatus::Voicemail, _) => {
                    return Err(Refusal::Conflict(format!("call '{name}' was not answered: send a caller's message as a voicemail event")));
                }
                (_, None) => call.recording_url = Some(url),
                (_, Some(u)) if *u == url => {}
                (_, Some(_)) => return Err(Refusal::Conflict(format!("call '{name}' has another recording"))),
            }
        }
    }
    if !fresh && call == before {
        return Ok(None);
    }
    Ok(Some(CallChange { call, callback, answered }))
}

/// The frame an agent's workspace gets when a call reaches them.
pub fn call_frame(call: &Call, player: Option<&Player>, open: &[Complaint]) -> serde_json::Value {
    let open: Vec<serde_json::Value> = open
        .iter()
        .map(|c| serde_json::json!({"reference": c.reference, "subject": c.subject, "status": c.status, "department": c.department}))
        .collect();
    serde_json::json!({
        "type": "call",
        "id": call.id,
        "call_id": call.call_id,
        "status": call.status,
        "direction": call.direction,
        "caller": call.phone.clone().unwrap_or_else(|| call.caller.clone()),
        "player": player,
        "open_complaints": open,
    })
}

/// How a call reads as a message on a complaint.
pub fn call_summary(call: &Call, agent: Option<&Agent>) -> String {
    let mut s = format!("Phone call ({}) from {} to {}\n", call.direction, shown(&call.caller), shown(&call.called));
    s.push_str(&format!("Started: {}\n", call.started_at));
    if let Some(a) = call.answered_at {
        s.push_str(&format!("Answered: {a}"));
        match (agent, &call.extension) {
            (Some(ag), Some(x)) => s.push_str(&format!(" by {} (extension {x})", ag.login)),
            (Some(ag), None) => s.push_str(&format!(" by {}", ag.login)),
            (None, Some(x)) => s.push_str(&format!(" on extension {x}")),
            (None, None) => {}
        }
        s.push('\n');
    }
    if let Some(e) = call.ended_at {
        s.push_str(&format!("Ended: {e}"));
        if let Some(d) = call.duration_s {
            s.push_str(&format!(", {d} s"));
        }
        if let Some(c) = &call.cause {
            s.push_str(&format!(" ({c})"));
        }
        s.push('\n');
    }
    s.push_str(&format!("Status: {}\n", call.status));
    if let Some(u) = &call.recording_url {
        s.push_str(&format!("Recording: {u}\n"));
    }
    if let Some(u) = &call.voicemail_url {
        s.push_str(&format!("Voicemail: {u}\n"));
    }
    s.push_str(&format!("PBX call id: {}", call.call_id));
    s
}

fn shown(number: &str) -> &str {
    if number.trim().is_empty() { "a withheld number" } else { number }
}

/// The answer to a call event.
#[derive(Debug, Clone)]
pub struct CallEventOutcome {
    pub call: Call,
    /// False when the event changed nothing (a repeat, or older news than the call has).
    pub changed: bool,
}

/// A complaint registered from a call, or a call added to a complaint.
#[derive(Debug, Clone)]
pub struct FromCall {
    pub complaint: Complaint,
    pub call: Call,
    /// True when the call had been added to this complaint already: nothing new was written.
    pub replayed: bool,
}

/// What an agent says when registering a complaint from a call.
#[derive(Debug, Clone)]
pub struct CallComplaint {
    pub kind: Kind,
    pub subject: Subject,
    /// What the player said.
    pub description: Body,
    pub language: Option<Language>,
    pub department: Option<DepartmentCode>,
    pub category: Option<Category>,
    pub priority: Option<Priority>,
    /// Who the player is, when the agent learnt it on the call (needed for a withheld number).
    pub player: Option<PlayerContact>,
}

/// Calls are keyed once per call: registering a complaint from it, or adding it to one.
const CALL_KEY_PRINCIPAL: &str = "cti";

fn call_key(call: &Call) -> IdempotencyKey {
    IdempotencyKey { principal: CALL_KEY_PRINCIPAL.into(), key: format!("call:{}", call.id), request_hash: vec![] }
}

fn forbidden(why: &str) -> DeskError {
    DomainError::Forbidden(why.to_string()).into()
}

fn token_has(who: &Principal, any: &[Scope]) -> bool {
    matches!(who, Principal::Token { scopes, .. } if any.iter().any(|s| scopes.contains(s)))
}

/// The CTI webhook: API tokens with the `cti` scope (or `admin`), nobody else.
pub fn may_post_call_events(who: &Principal) -> Result<()> {
    if token_has(who, &[Scope::Cti, Scope::Admin]) { Ok(()) } else { Err(forbidden("call events are posted with an API token that has the cti scope")) }
}

/// Reading calls and callbacks: agents, and tokens that may read complaints.
pub fn may_read_calls(who: &Principal) -> Result<()> {
    if matches!(who, Principal::Agent(_)) || token_has(who, &[Scope::ComplaintsRead, Scope::Admin]) {
        Ok(())
    } else {
        Err(forbidden("this token lacks the complaints:read scope"))
    }
}

/// Working calls (callbacks done): agents, and tokens that may write complaints.
pub fn may_work_calls(who: &Principal) -> Result<()> {
    if matches!(who, Principal::Agent(_)) || token_has(who, &[Scope::ComplaintsWrite, Scope::Admin]) {
        Ok(())
    } else {
        Err(forbidden("this token lacks the complaints:write scope"))
    }
}

fn not_found(e: StoreError, what: &'static str) -> DeskError {
    match e {
        StoreError::NotFound => DeskError::NotFound(what),
        e => e.into(),
    }
}

impl Desk {
    /// The phone channel's settings.
    pub fn cti_config(&self) -> CtiConfig {
        self.config.cti.clone()
    }

    /// Applies one PBX event. See the module's rules for duplicates and disorder.
    pub async fn call_event(&self, who: &Principal, ev: CallEvent) -> Result<CallEventOutcome> {
        may_post_call_events(who)?;
        let agent = match (&ev.agent, &ev.extension) {
            (Some(login), _) => match self.store.agent_credentials(login).await? {
                Some((a, _)) => Some(a),
                None => return Err(DomainError::invalid("agent", "unknown_agent", format!("there is no agent '{login}'")).into()),
            },
            (None, Some(ext)) => self.store.agent_by_extension(ext).await?,
            (None, None) => None,
        };
        let ctx = TransitionCtx {
            now: now(),
            new_call_id: Uuid::now_v7(),
            new_callback_id: Uuid::now_v7(),
            agent_id: agent.as_ref().map(|a| a.id),
            callback_within: self.cti_config().callback_within,
        };
        let kind = ev.kind.as_str();
        let applied = self.store.apply_call_event(&ev.call_id, |current| transition(current, &ev, &ctx)).await?;
        let count = |outcome: &'static str| metrics::counter!("ombuds_cti_events_total", "event" => kind, "outcome" => outcome).increment(1);
        let CallApplied { before, call, changed } = match applied {
            Ok(a) => a,
            Err(Refusal::UnknownCall(why)) => {
                count("unknown_call");
                tracing::debug!(why, "call event for an unknown call refused");
                return Err(DeskError::NotFound("call"));
            }
            Err(Refusal::Conflict(why)) => {
                count("refused");
                return Err(DeskError::Conflict(why));
            }
        };
        count(if changed { "changed" } else { "unchanged" });
        let reached = call.status == CallStatus::Answered
            && call.agent_id.is_some()
            && before.as_ref().is_none_or(|b| b.status != CallStatus::Answered || b.agent_id != call.agent_id);
        if changed && reached {
            self.tell_agent_about(&call).await;
        }
        Ok(CallEventOutcome { call, changed })
    }

    /// Tells the answering agent who is calling and what the player has open (best effort:
    /// a failure is logged, the call event stands).
    async fn tell_agent_about(&self, call: &Call) {
        let Some(agent_id) = call.agent_id else { return };
        let player = match call.player_id {
            Some(id) => self.store.player(id).await.map(Some),
            None => Ok(None),
        };
        let open = match call.player_id {
            Some(id) => {
                let filter = ComplaintFilter {
                    player_id: Some(id),
                    statuses: Status::ALL.iter().copied().filter(|s| s.is_open()).collect(),
                    ..ComplaintFilter::default()
                };
                self.store.list_complaints(&filter, &Visibility::All, PageRequest { after: None, limit: 20 }).await.map(|p| p.items)
            }
            None => Ok(vec![]),
        };
        match (player, open) {
            (Ok(player), Ok(open)) => self.live().to_agent(agent_id, call_frame(call, player.as_ref(), &open)).await,
            (Err(e), _) | (_, Err(e)) => tracing::warn!(error = %e, call = %call.call_id, "cannot tell the agent about the call"),
        }
    }

    pub async fn call(&self, who: &Principal, id: Uuid) -> Result<Call> {
        may_read_calls(who)?;
        self.store.call(id).await.map_err(|e| not_found(e, "call"))
    }

    /// A player's calls, newest first.
    pub async fn calls_of_player(&self, who: &Principal, player_id: Uuid, limit: u32) -> Result<Vec<Call>> {
        may_read_calls(who)?;
        self.store.player(player_id).await.map_err(|e| not_found(e, "player"))?;
        Ok(self.store.calls_of_player(player_id, limit).await?)
    }

    /// The calls added to a complaint `who` may see.
    pub async fn calls_of_complaint(&self, who: &Principal, reference: &ComplaintRef) -> Result<Vec<Call>> {
        let c = self.visible(who, reference).await?;
        Ok(self.store.calls_of_complaint(c.id).await?)
    }

    /// Registers a complaint from a call: the call's player (or the one the agent names), the
    /// phone channel, and the call as its first message. Once per call: a retry after a
    /// failure finishes the first attempt's work instead of registering twice.
    pub async fn register_from_call(&self, who: &Principal, call_id: Uuid, input: CallComplaint) -> Result<FromCall> {
        who.may_register()?;
        let call = self.store.call(call_id).await.map_err(|e| not_found(e, "call"))?;
        if let Some(id) = call.complaint_id {
            let c = self.store.complaint(id).await?;
            return Err(DeskError::Conflict(format!("the call is already part of complaint {}", c.reference)));
        }
        let known = match call.player_id {
            Some(id) => Some(self.store.player(id).await?),
            None => None,
        };
        let given = input.player.clone().unwrap_or(PlayerContact { external_id: None, name: None, email: None, phone: None, language: None });
        let names_someone = given.external_id.is_some() || given.email.is_some() || given.phone.is_some();
        let call_phone = call.phone.as_deref().and_then(|p| PhoneNumber::parse(p).ok());
        let contact = match (&known, names_someone) {
            // The agent knows better than the number: who they named, reached on this number.
            (_, true) => PlayerContact { phone: given.phone.clone().or(call_phone), ..given.clone() },
            (Some(p), false) => PlayerContact {
                external_id: p.external_id.clone(),
                name: given.name.clone().or_else(|| p.name.clone()),
                email: p.email.clone(),
                phone: p.phone.clone().or(call_phone),
                language: given.language.or(Some(p.language)),
            },
            (None, false) => {
                return Err(DomainError::invalid(
                    "player",
                    "contact_required",
                    "the call came from a withheld number: give the player's external_id, email or phone",
                )
                .into());
            }
        };
        let reg = Registration {
            kind: input.kind,
            channel: Channel::Phone,
            player: contact.clone(),
            subject: input.subject,
            description: input.description,
            language: input.language.or(contact.language),
            department: input.department,
            category: input.category,
            priority: input.priority,
            tags: Default::default(),
            segments: Default::default(),
        };
        reg.check()?;
        let agent = match call.agent_id {
            Some(id) => self.store.agent(id).await.ok(),
            None => None,
        };
        let body = Body::lossy(&call_summary(&call, agent.as_ref())).expect("a call summary is never empty");
        let departments = self.departments().await?;
        let sla = self.sla();
        let actor = who.actor();
        for _ in 0..ATTEMPTS {
            let (id, reference, at) = (Uuid::now_v7(), ComplaintRef::from_bits(rand::random::<u64>()), now());
            let (reg2, body2, departments2, actor2, sla2) = (reg.clone(), body.clone(), departments.clone(), actor.clone(), sla.clone());
            let build: ombuds_store::Build = Box::new(move |player_id| {
                let mut new_id = Uuid::now_v7;
                let mut ctx = Ctx { now: at, actor: actor2.clone(), departments: &departments2, sla: &sla2, new_id: &mut new_id };
                let registered = command::register(&reg2, id, reference, player_id, &mut ctx)?;
                let message = Command::AddMessage { kind: MessageKind::Inbound, channel: Some(Channel::Phone), body: body2.clone() };
                let Some(first) = command::change(&registered.complaint, &message, &mut ctx)? else { return Ok(registered) };
                Ok(Decision {
                    complaint: first.complaint,
                    events: [registered.events, first.events].concat(),
                    messages: [registered.messages, first.messages].concat(),
                    jobs: [registered.jobs, first.jobs].concat(),
                })
            });
            let language = reg.language.unwrap_or(Language::Ru);
            let op = NewComplaint { contact: contact.clone(), contact_proven: true, language, build, idempotency: Some(call_key(&call)), mail: None, uploads: vec![] };
            let (complaint, replayed) = match self.store.write(WriteOp::Register(Box::new(op))).await? {
                Outcome::Registered(c) => {
                    metrics::counter!("ombuds_complaints_registered_total", "channel" => Channel::Phone.as_str()).increment(1);
                    self.jobs_ready.notify_waiters();
                    (*c, false)
                }
                Outcome::Replayed { complaint_id } => (self.store.complaint(complaint_id).await?, true),
                Outcome::Refused(e) => return Err(e.into()),
                Outcome::Retry(why) => {
                    tracing::debug!(why, "registration raced; drawing again");
                    continue;
                }
                other => return Err(DeskError::Conflict(format!("unexpected outcome of a registration: {other:?}"))),
            };
            let call = self.store.link_call(call.id, complaint.id, complaint.player_id).await?;
            return Ok(FromCall { complaint, call, replayed });
        }
        Err(DeskError::Contention)
    }

    /// Adds the call to an existing complaint as an inbound phone message. Once per call:
    /// adding it again to the same complaint changes nothing; to another is a conflict.
    pub async fn attach_call(&self, who: &Principal, call_id: Uuid, reference: &ComplaintRef) -> Result<FromCall> {
        let target = self.reachable(who, reference).await?;
        let call = self.store.call(call_id).await.map_err(|e| not_found(e, "call"))?;
        match call.complaint_id {
            Some(id) if id == target.id => return Ok(FromCall { complaint: target, call, replayed: true }),
            Some(id) => {
                let c = self.store.complaint(id).await?;
                return Err(DeskError::Conflict(format!("the call is already part of complaint {}", c.reference)));
            }
            None => {}
        }
        let agent = match call.agent_id {
            Some(id) => self.store.agent(id).await.ok(),
            None => None,
        };
        let body = Body::lossy(&call_summary(&call, agent.as_ref())).expect("a call summary is never empty");
        let cmd = Command::AddMessage { kind: MessageKind::Inbound, channel: Some(Channel::Phone), body };
        who.may_apply(&target, &cmd)?;
        let departments = self.departments().await?;
        let sla = self.sla();
        let who2 = who.clone();
        let decide: Decide = Box::new(move |current: &Complaint| {
            if !who2.may_reach(current) {
                return Err(DomainError::Forbidden("the complaint has moved out of your reach meanwhile".into()));
            }
            who2.may_apply(current, &cmd)?;
            let mut new_id = Uuid::now_v7;
            let mut ctx = Ctx { now: now(), actor: who2.actor(), departments: &departments, sla: &sla, new_id: &mut new_id };
            command::change(current, &cmd, &mut ctx)
        });
        let req = ChangeRequest { complaint_id: target.id, decide, idempotency: Some(call_key(&call)), mail: None, uploads: vec![] };
        let (complaint, replayed) = match self.store.write(WriteOp::Change(req)).await? {
            Outcome::Changed(c) => {
                self.jobs_ready.notify_waiters();
                (*c, false)
            }
            Outcome::Unchanged(c) => (*c, false),
            Outcome::Replayed { complaint_id } if complaint_id == target.id => (self.store.complaint(complaint_id).await?, true),
            Outcome::Replayed { complaint_id } => {
                let c = self.store.complaint(complaint_id).await?;
                return Err(DeskError::Conflict(format!("the call is already part of complaint {}", c.reference)));
            }
            Outcome::Refused(e) => return Err(e.into()),
            Outcome::Missing => return Err(DeskError::NotFound("complaint")),
            other => return Err(DeskError::Conflict(format!("unexpected outcome of a change: {other:?}"))),
        };
        let call = self.store.link_call(call.id, complaint.id, complaint.player_id).await?;
        Ok(FromCall { complaint, call, replayed })
    }

    /// Callbacks, the earliest due first.
    pub async fn callbacks(&self, who: &Principal, status: Option<CallbackStatus>, limit: u32) -> Result<Vec<Callback>> {
        may_read_calls(who)?;
        Ok(self.store.callbacks(status, limit).await?)
    }

    /// Marks a callback done; one done already is returned as it is (`false`).
    pub async fn finish_callback(&self, who: &Principal, id: Uuid, note: Option<&str>) -> Result<(Callback, bool)> {
        may_work_calls(who)?;
        self.store.finish_callback(id, &who.actor(), note).await.map_err(|e| not_found(e, "callback"))
    }

    /// Gives an agent the extension calls reach them on, or takes it away (administrators).
    pub async fn set_agent_extension(&self, who: &Principal, login: &str, extension: Option<&str>) -> Result<Agent> {
        who.require_admin()?;
        let login = crate::auth::parse_login(login)?;
        let (agent, _) = self.store.agent_credentials(&login).await?.ok_or(DeskError::NotFound("agent"))?;
        let extension = extension.map(parse_extension).transpose().map_err(|e| DomainError::Invalid(vec![e]))?;
        self.store.set_agent_extension(agent.id, extension.as_deref()).await?;
        Ok(agent)
    }

    /// Every extension and its agent (administrators).
    pub async fn agent_extensions(&self, who: &Principal) -> Result<Vec<(String, Agent)>> {
        who.require_admin()?;
        Ok(self.store.agent_extensions().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::LiveSignal;
    use ombuds_store::testing::TestDb;
    use std::collections::BTreeSet;

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    fn raw(event: &str, call_id: &str) -> RawCallEvent {
        RawCallEvent { event: Some(event.into()), call_id: Some(call_id.into()), ..RawCallEvent::default() }
    }

    fn ev(kind: CallEventKind, at: &str) -> CallEvent {
        CallEvent {
            kind,
            call_id: "1714.42".into(),
            at: Some(ts(at)),
            caller: None,
            called: None,
            direction: None,
            extension: None,
            agent: None,
            cause: None,
            duration_s: None,
            url: None,
        }
    }

    fn ringing(at: &str) -> CallEvent {
        CallEvent { caller: Some("8 701 123 45 67".into()), called: Some("3300".into()), ..ev(CallEventKind::Ringing, at) }
    }

    fn ctx(agent: Option<Uuid>) -> TransitionCtx {
        TransitionCtx {
            now: ts("2026-11-25T10:10:00Z"),
            new_call_id: Uuid::from_u128(1),
            new_callback_id: Uuid::from_u128(2),
            agent_id: agent,
            callback_within: Duration::from_secs(7200),
        }
    }

    /// Runs events through `transition` as the store would (an unchanged call stays as it is).
    fn run(events: &[CallEvent], agent: Option<Uuid>) -> (Option<Call>, Vec<Result<Option<CallChange>, Refusal>>) {
        let mut call: Option<Call> = None;
        let mut out = vec![];
        for e in events {
            let r = transition(call.as_ref(), e, &ctx(agent));
            if let Ok(Some(c)) = &r {
                let mut next = c.call.clone();
                if let Some(cb) = c.callback {
                    next.callback_id.get_or_insert(cb.id);
                }
                call = Some(next);
            }
            out.push(r);
        }
        (call, out)
    }

    #[test]
    fn events_are_checked_field_by_field() {
        let now = ts("2026-11-25T10:00:00Z");
        let mut r = raw("ringing", " 1714.42 ");
        r.caller = Some("+7 701 123 45 67".into());
        r.called = Some("3300".into());
        r.at = Some("2026-11-25T09:59:58.1234567Z".into());
        r.duration_s = Some("".into());
        let e = parse_event(&r, now).unwrap();
        assert_eq!((e.kind, e.call_id.as_str(), e.duration_s), (CallEventKind::Ringing, "1714.42", None));
        assert_eq!(e.at, Some(ts("2026-11-25T09:59:58.123456Z")), "kept to the microsecond, as stored");
        // Everything wrong at once.
        let bad = RawCallEvent {
            event: Some("ring".into()),
            call_id: Some("a b".into()),
            at: Some("yesterday".into()),
            direction: Some("sideways".into()),
            extension: Some("1 01".into()),
            agent: Some("Not A Login!".into()),
            duration_s: Some("-3".into()),
            url: Some("javascript:alert(1)".into()),
            caller: Some("x\u{7}".into()),
            ..RawCallEvent::default()
        };
        let codes: Vec<(String, &str)> = parse_event(&bad, now).unwrap_err().into_iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            codes,
            [
                ("event".to_string(), "invalid_value"),
                ("call_id".into(), "invalid_call_id"),
                ("at".into(), "invalid_timestamp"),
                ("caller".into(), "invalid_characters"),
                ("direction".into(), "invalid_value"),
                ("extension".into(), "invalid_extension"),
                ("agent".into(), "invalid_login"),
                ("duration_s".into(), "out_of_range"),
                ("url".into(), "invalid_url"),
            ]
        );
        let codes = |r: &RawCallEvent| parse_event(r, now).unwrap_err().into_iter().map(|e| format!("{}:{}", e.field, e.code)).collect::<Vec<_>>();
        assert_eq!(codes(&RawCallEvent::default()), ["event:required", "call_id:required"]);
        assert_eq!(codes(&raw("ringing", "c1")), ["caller:required", "called:required"]);
        assert_eq!(codes(&raw("voicemail", "c1")), ["url:required"]);
        assert_eq!(codes(&raw("recording", "c1")), ["url:required"]);
        let mut future = raw("hangup", "c1");
        future.at = Some("2026-11-25T10:06:00Z".into());
        assert_eq!(codes(&future), ["at:in_future"]);
        let mut long = raw("hangup", "c1");
        long.duration_s = Some("172801".into());
        long.cause = Some("x".repeat(201));
        assert_eq!(codes(&long), ["cause:too_long", "duration_s:out_of_range"]);
        // Accepted shapes: fractional seconds, paths, a withheld (empty) caller.
        let mut ok = raw("voicemail", "c1");
        ok.url = Some("/var/spool/asterisk/voicemail/default/3300/INBOX/msg0001".into());
        ok.duration_s = Some("12.6".into());
        ok.caller = Some("".into());
        let e = parse_event(&ok, now).unwrap();
        assert_eq!((e.duration_s, e.caller.as_deref()), (Some(13), Some("")));
        for u in ["//evil.example/x", "ftp://x/y", "http://", "C:\\rec.wav"] {
            let mut r = raw("recording", "c1");
            r.url = Some(u.into());
            assert_eq!(codes(&r), ["url:invalid_url"], "{u}");
        }
    }

    #[test]
    fn the_players_number_is_found_in_what_pbxs_send() {
        let p = |d, a: &str, b: &str| player_phone(d, a, b).map(|p| p.as_str().to_string());
        let inb = CallDirection::Inbound;
        assert_eq!(p(inb, "8-701-123-45-67", "3300").as_deref(), Some("+77011234567"));
        assert_eq!(p(inb, "87011234567", "3300").as_deref(), Some("+77011234567"));
        assert_eq!(p(inb, "sip:+77011234567@pbx.example;user=phone", "3300").as_deref(), Some("+77011234567"));
        assert_eq!(p(inb, "<tel:+7-701-123-45-67>", "3300").as_deref(), Some("+77011234567"));
        assert_eq!(p(CallDirection::Outbound, "101", "8 (727) 250-00-00").as_deref(), Some("+77272500000"));
        for withheld in ["", "anonymous", "Restricted", "101", "sip:anonymous@anonymous.invalid"] {
            assert_eq!(p(inb, withheld, "3300"), None, "{withheld}");
        }
    }

    #[test]
    fn a_call_moves_forward_and_repeats_change_nothing() {
        let agent = Uuid::from_u128(9);
        let answered = CallEvent { extension: Some("101".into()), ..ev(CallEventKind::Answered, "2026-11-25T10:00:05Z") };
        let hangup = CallEvent { cause: Some("NORMAL_CLEARING".into()), ..ev(CallEventKind::Hangup, "2026-11-25T10:03:25Z") };
        let rec = CallEvent { url: Some("https://pbx.example/rec/1714.42.wav".into()), ..ev(CallEventKind::Recording, "2026-11-25T10:03:26Z") };
        let events = [ringing("2026-11-25T10:00:00Z"), ringing("2026-11-25T10:00:00Z"), answered.clone(), answered, hangup.clone(), hangup, rec.clone(), rec];
        let (call, out) = run(&events, Some(agent));
        let changed: Vec<bool> = out.iter().map(|r| matches!(r, Ok(Some(_)))).collect();
        assert_eq!(changed, [true, false, true, false, true, false, true, false]);
        let call = call.unwrap();
        assert_eq!((call.status, call.agent_id, call.extension.as_deref()), (CallStatus::Ended, Some(agent), Some("101")));
        assert_eq!((call.phone.as_deref(), call.duration_s, call.cause.as_deref()), (Some("+77011234567"), Some(200), Some("NORMAL_CLEARING")));
        assert!(matches!(&out[2], Ok(Some(c)) if c.answered && c.callback.is_none()));
        assert_eq!(call.callback_id, None, "an answered call owes no callback");
    }

    #[test]
    fn missed_calls_and_voicemails_owe_a_callback_with_its_own_deadline() {
        let hangup = CallEvent { duration_s: Some(25), ..ev(CallEventKind::Hangup, "2026-11-25T10:00:25Z") };
        let vm = CallEvent { url: Some("/var/spool/asterisk/voicemail/default/3300/INBOX/msg0001".into()), ..ev(CallEventKind::Voicemail, "2026-11-25T10:01:00Z") };
        let (call, out) = run(&[ringing("2026-11-25T10:00:00Z"), hangup, vm.clone(), vm], None);
        let call = call.unwrap();
        assert_eq!((call.status, call.voicemail_url.is_some(), call.ended_at), (CallStatus::Voicemail, true, Some(ts("2026-11-25T10:00:25Z"))));
        let Ok(Some(missed)) = &out[1] else { panic!("{:?}", out[1]) };
        assert_eq!(missed.callback.map(|c| (c.reason, c.due_at)), Some((CallbackReason::Missed, ts("2026-11-25T12:00:25Z"))));
        let Ok(Some(left)) = &out[2] else { panic!("{:?}", out[2]) };
        assert_eq!(left.callback.map(|c| c.reason), Some(CallbackReason::Voicemail));
        assert!(matches!(out[3], Ok(None)), "the same voicemail again");
        // No callback to a withheld number, nor for an outbound call nobody picked up.
        let withheld = CallEvent { caller: Some("".into()), ..ringing("2026-11-25T10:00:00Z") };
        let (_, out) = run(&[withheld, ev(CallEventKind::Hangup, "2026-11-25T10:00:20Z")], None);
        assert!(matches!(&out[1], Ok(Some(c)) if c.call.status == CallStatus::Missed && c.callback.is_none() && c.call.phone.is_none()));
        let outbound = CallEvent { direction: Some(CallDirection::Outbound), caller: Some("101".into()), called: Some("87011234567".into()), ..ringing("2026-11-25T10:00:00Z") };
        let (_, out) = run(&[outbound, ev(CallEventKind::Hangup, "2026-11-25T10:00:20Z")], None);
        assert!(matches!(&out[1], Ok(Some(c)) if c.call.status == CallStatus::Missed && c.callback.is_none() && c.call.phone.as_deref() == Some("+77011234567")));
    }

    #[test]
    fn out_of_order_events_are_placed_or_refused() {
        let agent = Uuid::from_u128(9);
        // A hang-up before its ringing starts the call from its own numbers.
        let early_hangup = CallEvent { caller: Some("87011234567".into()), called: Some("3300".into()), ..ev(CallEventKind::Hangup, "2026-11-25T10:00:30Z") };
        let late_ringing = ringing("2026-11-25T10:00:00Z");
        let (call, out) = run(&[early_hangup.clone(), late_ringing], None);
        let call = call.unwrap();
        assert_eq!((call.status, call.started_at), (CallStatus::Missed, ts("2026-11-25T10:00:00Z")), "the late ringing tells when it began");
        assert!(matches!(&out[0], Ok(Some(c)) if c.callback.is_some()));
        // An answer sent before that hang-up but delivered after it: answered after all.
        let answered = CallEvent { extension: Some("101".into()), ..ev(CallEventKind::Answered, "2026-11-25T10:00:10Z") };
        let (call, out) = run(&[ringing("2026-11-25T10:00:00Z"), early_hangup.clone(), answered], Some(agent));
        let call = call.unwrap();
        assert_eq!((call.status, call.agent_id, call.duration_s), (CallStatus::Ended, Some(agent), Some(20)));
        assert!(matches!(&out[2], Ok(Some(c)) if c.answered), "the callback it opened is closed by the answer");
        // An answer stamped after the hang-up: refused.
        let late = ev(CallEventKind::Answered, "2026-11-25T10:05:00Z");
        let (_, out) = run(&[ringing("2026-11-25T10:00:00Z"), early_hangup, late], Some(agent));
        assert!(matches!(&out[2], Err(Refusal::Conflict(m)) if m.contains("ended unanswered")), "{:?}", out[2]);
        // Unknown calls: without numbers, or a recording, nothing to start from.
        let (_, out) = run(&[ev(CallEventKind::Answered, "2026-11-25T10:00:00Z")], None);
        assert!(matches!(&out[0], Err(Refusal::UnknownCall(_))));
        let rec = CallEvent { url: Some("https://pbx/r.wav".into()), caller: Some("1".into()), called: Some("2".into()), ..ev(CallEventKind::Recording, "2026-11-25T10:00:00Z") };
        let (_, out) = run(&[rec], None);
        assert!(matches!(&out[0], Err(Refusal::UnknownCall(m)) if m.contains("recording")));
        // The same call id with another caller, direction, recording or voicemail.
        let other = CallEvent { caller: Some("87770000000".into()), ..ringing("2026-11-25T10:00:00Z") };
        let (_, out) = run(&[ringing("2026-11-25T10:00:00Z"), other], None);
        assert!(matches!(&out[1], Err(Refusal::Conflict(m)) if m.contains("caller")));
        let outbound = CallEvent { direction: Some(CallDirection::Outbound), ..ev(CallEventKind::Hangup, "2026-11-25T10:00:00Z") };
        let (_, out) = run(&[ringing("2026-11-25T10:00:00Z"), outbound], None);
        assert!(matches!(&out[1], Err(Refusal::Conflict(_))));
        let rec = |u: &str| CallEvent { url: Some(u.into()), ..ev(CallEventKind::Recording, "2026-11-25T10:01:00Z") };
        let (_, out) = run(&[ringing("2026-11-25T10:00:00Z"), ev(CallEventKind::Answered, "2026-11-25T10:00:01Z"), rec("https://a/1.wav"), rec("https://a/2.wav")], None);
        assert!(matches!(&out[3], Err(Refusal::Conflict(m)) if m.contains("another recording")));
        let vm = CallEvent { url: Some("/vm/1".into()), ..ev(CallEventKind::Voicemail, "2026-11-25T10:01:00Z") };
        let (_, out) = run(&[ringing("2026-11-25T10:00:00Z"), ev(CallEventKind::Answered, "2026-11-25T10:00:01Z"), vm.clone()], None);
        assert!(matches!(&out[2], Err(Refusal::Conflict(m)) if m.contains("was answered")));
        let (_, out) = run(&[ringing("2026-11-25T10:00:00Z"), ev(CallEventKind::Hangup, "2026-11-25T10:00:20Z"), rec("https://a/1.wav")], None);
        assert!(matches!(&out[2], Err(Refusal::Conflict(m)) if m.contains("not answered")));
        // A transfer: answered again by another extension; after the end, refused.
        let by = |x: &str, at: &str| CallEvent { extension: Some(x.into()), ..ev(CallEventKind::Answered, at) };
        let (call, out) = run(&[ringing("2026-11-25T10:00:00Z"), by("101", "2026-11-25T10:00:01Z"), by("102", "2026-11-25T10:01:00Z")], None);
        assert_eq!(call.unwrap().extension.as_deref(), Some("102"));
        assert!(matches!(&out[2], Ok(Some(c)) if !c.answered));
        let (_, out) = run(&[ringing("2026-11-25T10:00:00Z"), by("101", "2026-11-25T10:00:01Z"), ev(CallEventKind::Hangup, "2026-11-25T10:02:00Z"), by("102", "2026-11-25T10:03:00Z")], None);
        assert!(matches!(&out[3], Err(Refusal::Conflict(_))));
    }

    #[test]
    fn the_agents_frame_and_the_calls_message() {
        let (call, _) = run(&[ringing("2026-11-25T10:00:00Z"), CallEvent { extension: Some("101".into()), ..ev(CallEventKind::Answered, "2026-11-25T10:00:05Z") }], None);
        let call = call.unwrap();
        let frame = call_frame(&call, None, &[]);
        assert_eq!(frame["type"], "call");
        assert_eq!(frame["status"], "answered");
        assert_eq!(frame["caller"], "+77011234567");
        assert_eq!(frame["call_id"], "1714.42");
        assert!(frame["player"].is_null());
        assert_eq!(frame["open_complaints"], serde_json::json!([]));
        let text = call_summary(&call, None);
        assert_eq!(text, "Phone call (inbound) from 8 701 123 45 67 to 3300\nStarted: 2026-11-25T10:00:00Z\nAnswered: 2026-11-25T10:00:05Z on extension 101\nStatus: answered\nPBX call id: 1714.42");
    }

    // ---------------------------------------------------------------- on both stores

    ombuds_store::both_backends! {
        calls_find_players_owe_callbacks_and_reach_agents => calls_find_players_owe_callbacks_and_reach_agents,
        concurrent_events_make_one_call_one_player_one_callback => concurrent_events,
        calls_become_complaints_once => calls_become_complaints_once,
    }

    async fn desk(db: &TestDb) -> Desk {
        let d = Desk::with_store(db.open().await, crate::DeskConfig::default()).await;
        d.seed_departments().await.unwrap();
        d
    }

    fn pbx() -> Principal {
        Principal::Token { id: Uuid::nil(), name: "pbx".into(), scopes: [Scope::Cti].into() }
    }

    fn backend() -> Principal {
        Principal::Token { id: Uuid::nil(), name: "backend".into(), scopes: [Scope::ComplaintsRead, Scope::ComplaintsWrite].into() }
    }

    async fn post(d: &Desk, fields: &[(&str, &str)]) -> Result<CallEventOutcome> {
        let mut r = RawCallEvent::default();
        for (k, v) in fields {
            let v = Some(v.to_string());
            match *k {
                "event" => r.event = v,
                "call_id" => r.call_id = v,
                "at" => r.at = v,
                "caller" => r.caller = v,
                "called" => r.called = v,
                "extension" => r.extension = v,
                "agent" => r.agent = v,
                "url" => r.url = v,
                "duration_s" => r.duration_s = v,
                other => panic!("{other}"),
            }
        }
        d.call_event(&pbx(), parse_event(&r, now()).unwrap()).await
    }

    async fn agent(d: &Desk, login: &str) -> Agent {
        let new = crate::NewAgent {
            login: login.into(),
            name: PersonName::parse(login).unwrap(),
            email: None,
            role: Role::Agent,
            departments: BTreeSet::new(),
            languages: BTreeSet::new(),
            password: Some("correct horse battery".into()),
            skills: Default::default(),
            capacity: None,
        };
        d.add_agent(None, new).await.unwrap().0
    }

    async fn calls_find_players_owe_callbacks_and_reach_agents(db: &TestDb) {
        let d = desk(db).await;
        let dana = agent(&d, "dana").await;
        let admin = Principal::Agent(Agent { role: Role::Admin, ..dana.clone() });
        d.set_agent_extension(&admin, "dana", Some("101")).await.unwrap();
        // A player known by phone, with an open complaint.
        let reg = Registration {
            kind: Kind::Complaint,
            channel: Channel::Web,
            player: PlayerContact { external_id: Some(ExternalPlayerId::parse("P-1").unwrap()), name: None, email: None, phone: Some(PhoneNumber::parse("8 701 123 45 67").unwrap()), language: Some(Language::Kk) },
            subject: Subject::parse("Шығару кешікті").unwrap(),
            description: Body::parse("Ақша әлі жоқ").unwrap(),
            language: None,
            department: None,
            category: None,
            priority: None,
            tags: BTreeSet::new(),
            segments: Default::default(),
        };
        let open = d.register(&backend(), reg, None).await.unwrap().complaint;
        let mut live = d.live().subscribe();
        let rung = post(&d, &[("event", "ringing"), ("call_id", "c1"), ("caller", "8-701-123-45-67"), ("called", "3300")]).await.unwrap();
        assert_eq!(rung.call.player_id, Some(open.player_id), "matched by phone in E.164");
        let answered = post(&d, &[("event", "answered"), ("call_id", "c1"), ("extension", "101")]).await.unwrap();
        assert_eq!((answered.call.status, answered.call.agent_id), (CallStatus::Answered, Some(dana.id)));
        let frame = loop {
            match tokio::time::timeout(Duration::from_secs(10), live.recv()).await.expect("a live signal").unwrap() {
                LiveSignal::ToAgent { agent_id, frame } if agent_id == dana.id => break frame,
                _ => continue,
            }
        };
        assert_eq!(frame["player"]["external_id"], "P-1");
        assert_eq!(frame["open_complaints"][0]["reference"], open.reference.to_string());
        assert_eq!(frame["caller"], "+77011234567");
        // A repeat tells nobody again.
        assert!(!post(&d, &[("event", "answered"), ("call_id", "c1"), ("extension", "101")]).await.unwrap().changed);
        post(&d, &[("event", "hangup"), ("call_id", "c1"), ("duration_s", "200")]).await.unwrap();
        // An unknown number: a new player; its missed calls share one callback.
        let at = (now() - jiff::SignedDuration::from_hours(3)).to_string();
        let new = post(&d, &[("event", "hangup"), ("call_id", "c2"), ("caller", "+7 777 000 11 22"), ("called", "3300"), ("at", &at)]).await.unwrap();
        let stranger = d.store().player(new.call.player_id.unwrap()).await.unwrap();
        assert_eq!((stranger.phone.as_ref().map(|p| p.as_str()), stranger.external_id.as_ref()), (Some("+77770001122"), None));
        post(&d, &[("event", "ringing"), ("call_id", "c3"), ("caller", "87770001122"), ("called", "3300")]).await.unwrap();
        let third = post(&d, &[("event", "voicemail"), ("call_id", "c3"), ("url", "https://pbx.example/vm/c3.wav")]).await.unwrap();
        assert_eq!(third.call.player_id, Some(stranger.id));
        let open_cbs = d.callbacks(&backend(), Some(CallbackStatus::Open), 50).await.unwrap();
        assert_eq!(open_cbs.len(), 1);
        let cb = &open_cbs[0];
        assert_eq!((cb.calls, cb.reason, cb.phone.as_str(), cb.call_id), (2, CallbackReason::Voicemail, "+77770001122", new.call.id));
        assert!(cb.due_at < now(), "missed three hours ago, due within two: overdue");
        assert_eq!(d.calls_of_player(&backend(), stranger.id, 10).await.unwrap().len(), 2);
        // The player gets through: the callback is done.
        post(&d, &[("event", "ringing"), ("call_id", "c4"), ("caller", "87770001122"), ("called", "3300")]).await.unwrap();
        post(&d, &[("event", "answered"), ("call_id", "c4"), ("agent", "dana")]).await.unwrap();
        let done = d.store().callback(cb.id).await.unwrap();
        assert_eq!((done.status, done.done_by), (CallbackStatus::Done, Some(Actor::Agent { id: dana.id })));
        assert!(d.callbacks(&backend(), Some(CallbackStatus::Open), 50).await.unwrap().is_empty());
        // Who may post and read.
        let e = parse_event(&RawCallEvent { event: Some("hangup".into()), call_id: Some("c1".into()), ..Default::default() }, now()).unwrap();
        assert!(matches!(d.call_event(&backend(), e.clone()).await, Err(DeskError::Domain(DomainError::Forbidden(_)))));
        assert!(matches!(d.call_event(&Principal::Agent(dana.clone()), e).await, Err(DeskError::Domain(DomainError::Forbidden(_)))));
        assert!(matches!(d.callbacks(&pbx(), None, 10).await, Err(DeskError::Domain(DomainError::Forbidden(_)))));
    }

    async fn concurrent_events(db: &TestDb) {
        let d = desk(db).await;
        // The same hang-up delivered ten times at once, and five calls from one new number.
        let mut tasks = vec![];
        for i in 0..15 {
            let d = d.clone();
            let call = if i < 10 { "dup".to_string() } else { format!("burst-{i}") };
            tasks.push(tokio::spawn(async move {
                post(&d, &[("event", "hangup"), ("call_id", &call), ("caller", "+7 701 555 44 33"), ("called", "3300")]).await.unwrap()
            }));
        }
        let outs: Vec<CallEventOutcome> = futures_util::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(outs[..10].iter().filter(|o| o.changed).count(), 1, "one of the duplicates wrote");
        let players: BTreeSet<Uuid> = outs.iter().map(|o| o.call.player_id.unwrap()).collect();
        assert_eq!(players.len(), 1, "one player for one number");
        let cbs = d.callbacks(&backend(), None, 50).await.unwrap();
        assert_eq!((cbs.len(), cbs[0].calls), (1, 6), "one callback for the number, counting six missed calls");
        assert_eq!(d.calls_of_player(&backend(), *players.first().unwrap(), 50).await.unwrap().len(), 6);
    }

    async fn calls_become_complaints_once(db: &TestDb) {
        let d = desk(db).await;
        let dana = agent(&d, "dana").await;
        let me = Principal::Agent(dana.clone());
        let c1 = post(&d, &[("event", "ringing"), ("call_id", "c1"), ("caller", "87011234567"), ("called", "3300")]).await.unwrap().call;
        post(&d, &[("event", "answered"), ("call_id", "c1"), ("agent", "dana")]).await.unwrap();
        let ended = post(&d, &[("event", "hangup"), ("call_id", "c1"), ("duration_s", "95")]).await.unwrap().call;
        let input = CallComplaint {
            kind: Kind::Complaint,
            subject: Subject::parse("Ставка не рассчитана").unwrap(),
            description: Body::parse("Игрок звонил: ставка на матч висит третий день").unwrap(),
            language: Some(Language::Ru),
            department: None,
            category: None,
            priority: None,
            player: None,
        };
        let made = d.register_from_call(&me, c1.id, input.clone()).await.unwrap();
        assert!(!made.replayed);
        assert_eq!((made.complaint.channel, made.complaint.player_id), (Channel::Phone, c1.player_id.unwrap()));
        assert_eq!(made.call.complaint_id, Some(made.complaint.id));
        let msgs = d.store().messages(made.complaint.id).await.unwrap();
        assert_eq!(msgs.len(), 1, "the call is the first message");
        assert_eq!((msgs[0].kind, msgs[0].channel), (MessageKind::Inbound, Channel::Phone));
        assert_eq!(msgs[0].body.as_str(), call_summary(&ended, Some(&dana)));
        assert!(msgs[0].body.as_str().contains("by dana") && msgs[0].body.as_str().contains("95 s"));
        // Once: again, or to another complaint, is a conflict.
        assert!(matches!(d.register_from_call(&me, c1.id, input.clone()).await, Err(DeskError::Conflict(m)) if m.contains(&made.complaint.reference.to_string())));
        // A second call added to that complaint, once.
        let c2 = post(&d, &[("event", "hangup"), ("call_id", "c2"), ("caller", "87011234567"), ("called", "3300")]).await.unwrap().call;
        let sys = backend();
        let added = d.attach_call(&sys, c2.id, &made.complaint.reference).await.unwrap();
        assert!(!added.replayed);
        let again = d.attach_call(&sys, c2.id, &made.complaint.reference).await.unwrap();
        assert!(again.replayed);
        assert_eq!(d.store().messages(made.complaint.id).await.unwrap().len(), 2);
        assert_eq!(d.calls_of_complaint(&sys, &made.complaint.reference).await.unwrap().len(), 2);
        // A crash between the write and the link: the retry finishes the link, writes nothing.
        let c3 = post(&d, &[("event", "hangup"), ("call_id", "c3"), ("caller", "87011234567"), ("called", "3300")]).await.unwrap().call;
        let first = d.register_from_call(&sys, c3.id, input.clone()).await.unwrap();
        let unlink = async {
            ombuds_store::with_tx!(d.store().db(), |conn| conn
                .execute("UPDATE calls SET complaint_id = NULL WHERE id = $1", &ombuds_store::params![c3.id])
                .await)
        };
        let _: u64 = unlink.await.unwrap();
        let retried = d.register_from_call(&sys, c3.id, input.clone()).await.unwrap();
        assert!(retried.replayed);
        assert_eq!((retried.complaint.id, retried.call.complaint_id), (first.complaint.id, Some(first.complaint.id)));
        assert_eq!(d.store().messages(first.complaint.id).await.unwrap().len(), 1);
        // A withheld number needs the agent to say who called.
        let anon = post(&d, &[("event", "hangup"), ("call_id", "c4"), ("caller", ""), ("called", "3300")]).await.unwrap().call;
        assert!(matches!(d.register_from_call(&sys, anon.id, input.clone()).await, Err(DeskError::Domain(DomainError::Invalid(e))) if e[0].code == "contact_required"));
        let named = CallComplaint { player: Some(PlayerContact { external_id: Some(ExternalPlayerId::parse("P-42").unwrap()), name: None, email: None, phone: None, language: None }), ..input };
        let made = d.register_from_call(&sys, anon.id, named).await.unwrap();
        let p = d.store().player(made.complaint.player_id).await.unwrap();
        assert_eq!(p.external_id.unwrap().as_str(), "P-42");
        assert_eq!(d.store().call(anon.id).await.unwrap().player_id, Some(p.id), "the call now belongs to who the agent named");
        assert!(d.verify_chain().await.unwrap().broken.is_none());
    }
}
