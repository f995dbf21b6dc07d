//! Live chat: a chat is a complaint (channel `chat`) with a session in the agents' queue.
//!
//! The queue is a small state machine, `waiting → active → ended`, with `active → waiting` when
//! an agent hands the chat to another department. The store applies each step as one
//! conditional UPDATE (`… WHERE status = 'waiting'`), so two agents accepting the same chat on
//! two nodes cannot both win; `ChatStatus::may` is the rule those UPDATEs encode.
//!
//! Also here: the identity token an operator's backend signs for a logged-in player, and the
//! widget's client message ids.

use crate::fields::{DepartmentCode, EmailAddress, ExternalPlayerId, FieldError, PersonName};
use crate::model::Language;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

crate::model::word_enum!(ChatStatus { Waiting = "waiting", Active = "active", Ended = "ended" });

/// A step of a chat's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatStep {
    /// An agent takes a waiting chat.
    Accept,
    /// The chat goes to another agent, staying active.
    TransferToAgent,
    /// The chat goes back to the queue, for another department.
    TransferToDepartment,
    End,
}

impl ChatStatus {
    /// Whether `step` may be taken from this status.
    pub fn may(self, step: ChatStep) -> bool {
        use ChatStatus::*;
        use ChatStep::*;
        matches!(
            (self, step),
            (Waiting, Accept) | (Active, TransferToAgent) | (Waiting | Active, TransferToDepartment) | (Waiting | Active, End)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chat {
    pub id: Uuid,
    pub complaint_id: Uuid,
    pub player_id: Uuid,
    pub player_name: Option<PersonName>,
    pub status: ChatStatus,
    pub department: Option<DepartmentCode>,
    pub language: Language,
    pub agent_id: Option<Uuid>,
    pub created_at: Timestamp,
    pub accepted_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
}

/// The id a widget gives a message so that a resend after a dropped connection is stored once:
/// 1 to 64 characters of `A-Z a-z 0-9 - _ . :`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ClientMessageId(String);

impl ClientMessageId {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.is_empty() || raw.len() > 64 {
            return Err(FieldError::new("client_id", "invalid_length", "must be 1 to 64 characters"));
        }
        if !raw.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')) {
            return Err(FieldError::new("client_id", "invalid_characters", "may hold only letters, digits and - _ . :"));
        }
        Ok(ClientMessageId(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who a signed token says the player is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub external_id: ExternalPlayerId,
    pub name: Option<PersonName>,
    pub email: Option<EmailAddress>,
    pub language: Option<Language>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("the identity token is malformed: {0}")]
    Malformed(&'static str),
    #[error("the identity token's signature does not match")]
    BadSignature,
    #[error("the identity token has expired")]
    Expired,
    #[error("the identity token is valid for longer than this desk accepts")]
    TooLong,
    #[error("the identity token's claims are invalid: {0}")]
    BadClaims(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    iat: Option<i64>,
}

/// Clock skew tolerated between the operator's servers and ours.
pub const SKEW: SignedDuration = SignedDuration::from_secs(60);
const VERSION: &str = "v1";

/// Checks a token `v1.<base64url(claims)>.<base64url(HMAC-SHA256(secret, "v1.<claims>"))>`:
/// the signature (in constant time), then `exp` (not past, and not further than `max_age`
/// away), then each claim. Nothing in a token is believed before its signature is.
pub fn verify_identity(token: &str, secret: &[u8], now: Timestamp, max_age: SignedDuration) -> Result<Identity, IdentityError> {
    if token.len() > 4096 {
        return Err(IdentityError::Malformed("longer than 4096 characters"));
    }
    let mut parts = token.trim().split('.');
    let (Some(version), Some(claims_b64), Some(sig_b64), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(IdentityError::Malformed("expected three dot-separated parts"));
    };
    if version != VERSION {
        return Err(IdentityError::Malformed("unknown version (expected v1)"));
    }
    let sig = URL_SAFE_NO_PAD.decode(sig_b64).map_err(|_| IdentityError::Malformed("the signature is not base64url"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(VERSION.as_bytes());
    mac.update(b".");
    mac.update(claims_b64.as_bytes());
    mac.verify_slice(&sig).map_err(|_| IdentityError::BadSignature)?;
    let json = URL_SAFE_NO_PAD.decode(claims_b64).map_err(|_| IdentityError::Malformed("the claims are not base64url"))?;
    let c: Claims = serde_json::from_slice(&json).map_err(|e| IdentityError::BadClaims(e.to_string()))?;
    let exp = Timestamp::from_second(c.exp).map_err(|_| IdentityError::BadClaims("exp is out of range".into()))?;
    if exp + SKEW < now {
        return Err(IdentityError::Expired);
    }
    if exp > now + max_age + SKEW {
        return Err(IdentityError::TooLong);
    }
    if let Some(iat) = c.iat
        && Timestamp::from_second(iat).map_or(true, |t| t > now + SKEW)
    {
        return Err(IdentityError::BadClaims("iat is in the future".into()));
    }
    let claim = |field: &str, e: FieldError| IdentityError::BadClaims(format!("{field}: {}", e.message));
    Ok(Identity {
        external_id: ExternalPlayerId::parse(&c.sub).map_err(|e| claim("sub", e))?,
        name: c.name.as_deref().map(PersonName::parse).transpose().map_err(|e| claim("name", e))?,
        email: c.email.as_deref().map(EmailAddress::parse).transpose().map_err(|e| claim("email", e))?,
        language: c.lang.as_deref().map(Language::parse).transpose().map_err(|e| claim("lang", e))?,
    })
}

/// Signs claims the way an operator's backend does (for tests, benchmarks and the docs' example).
pub fn sign_identity(claims: &serde_json::Value, secret: &[u8]) -> String {
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("JSON value"));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{VERSION}.{body}").as_bytes());
    format!("{VERSION}.{body}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"operator-shared-secret";
    const DAY: SignedDuration = SignedDuration::from_hours(24);

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    #[test]
    fn a_good_token_names_the_player() {
        let t = sign_identity(&json!({"sub": "p-42", "name": "Айгуль", "email": "a@example.kz", "lang": "kk", "exp": 1_800_000_600}), SECRET);
        let id = verify_identity(&t, SECRET, now(), DAY).unwrap();
        assert_eq!(id.external_id.as_str(), "p-42");
        assert_eq!(id.name.unwrap().as_str(), "Айгуль");
        assert_eq!(id.language, Some(Language::Kk));
    }

    #[test]
    fn forged_expired_and_malformed_tokens_are_refused() {
        let good = sign_identity(&json!({"sub": "p-42", "exp": 1_800_000_600}), SECRET);
        assert_eq!(verify_identity(&good, b"another secret", now(), DAY), Err(IdentityError::BadSignature));
        // Claims swapped under a valid signature.
        let other = sign_identity(&json!({"sub": "admin", "exp": 1_800_000_600}), b"x");
        let parts: Vec<&str> = good.split('.').collect();
        let forged = format!("v1.{}.{}", other.split('.').nth(1).unwrap(), parts[2]);
        assert_eq!(verify_identity(&forged, SECRET, now(), DAY), Err(IdentityError::BadSignature));
        let old = sign_identity(&json!({"sub": "p-42", "exp": 1_799_999_000}), SECRET);
        assert_eq!(verify_identity(&old, SECRET, now(), DAY), Err(IdentityError::Expired));
        let forever = sign_identity(&json!({"sub": "p-42", "exp": 1_900_000_000}), SECRET);
        assert_eq!(verify_identity(&forever, SECRET, now(), DAY), Err(IdentityError::TooLong));
        for bad in ["", "v1", "v1.a", "v2.a.b", "v1.a.b.c", "v1.!!!.abc", &"v1.".repeat(2000)] {
            assert!(matches!(verify_identity(bad, SECRET, now(), DAY), Err(IdentityError::Malformed(_) | IdentityError::BadSignature)), "{bad:.20}");
        }
        let no_sub = sign_identity(&json!({"exp": 1_800_000_600}), SECRET);
        assert!(matches!(verify_identity(&no_sub, SECRET, now(), DAY), Err(IdentityError::BadClaims(_))));
        let bad_mail = sign_identity(&json!({"sub": "p", "email": "not mail", "exp": 1_800_000_600}), SECRET);
        assert!(matches!(verify_identity(&bad_mail, SECRET, now(), DAY), Err(IdentityError::BadClaims(_))));
    }

    #[test]
    fn the_queue_moves_forward_only() {
        use ChatStatus::*;
        use ChatStep::*;
        assert!(Waiting.may(Accept) && !Active.may(Accept) && !Ended.may(Accept));
        assert!(Active.may(TransferToAgent) && !Waiting.may(TransferToAgent));
        assert!(!Ended.may(End) && !Ended.may(TransferToDepartment));
    }

    #[test]
    fn client_ids() {
        assert!(ClientMessageId::parse("c-1.2:x_Y").is_ok());
        for bad in ["", "a b", "ю", &"x".repeat(65), "<script>"] {
            assert!(ClientMessageId::parse(bad).is_err(), "{bad}");
        }
    }
}
