//! Passwords (argon2id), session tokens for agents, API tokens for integrations. Secrets are
//! random 32 bytes shown once; only their SHA-256 is stored. Authenticated principals are
//! cached briefly so the hot path (an integration registering complaints) does not read the
//! database per request. Every change that ends or narrows credentials (sign-out, password
//! change, an agent disabled or changed, a token revoked) sends `LiveSignal::CredentialsChanged`:
//! every node drops its cache at once (at worst within `AUTH_CACHE_TTL` if the signal is lost),
//! and the agent's live sockets check their session again and close if it ended.

use crate::{Desk, DeskError, Result};
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, PasswordHash};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ombuds_core::*;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub const SESSION_PREFIX: &str = "oms_";
pub const TOKEN_PREFIX: &str = "omt_";
pub const AUTH_CACHE_TTL: Duration = Duration::from_secs(5);
pub const MIN_PASSWORD_CHARS: usize = 10;

pub(crate) fn secret(prefix: &str) -> (String, [u8; 32]) {
    let bytes: [u8; 32] = rand::random();
    let s = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    let h = digest(&s);
    (s, h)
}

pub(crate) fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

pub fn random_password() -> String {
    // 16 characters from an alphabet without look-alikes: ~93 bits.
    const A: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    (0..16).map(|_| A[rand::random_range(0..A.len())] as char).collect()
}

pub(crate) async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt: [u8; 16] = rand::random();
        Argon2::default().hash_password_with_salt(password.as_bytes(), &salt).map(|h| h.to_string())
    })
    .await
    .expect("hashing does not panic")
    .map_err(|e| DeskError::Conflict(format!("cannot hash password: {e}")))
}

async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    })
    .await
    .unwrap_or(false)
}

pub fn check_password_rules(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(DomainError::invalid("password", "too_short", format!("must have at least {MIN_PASSWORD_CHARS} characters")).into());
    }
    if password.len() > 1024 {
        return Err(DomainError::invalid("password", "too_long", "must be at most 1024 bytes").into());
    }
    Ok(())
}

#[derive(Default)]
pub(crate) struct AuthCache {
    entries: Mutex<HashMap<[u8; 32], (Instant, Principal)>>,
}

impl AuthCache {
    fn get(&self, h: &[u8; 32]) -> Option<Principal> {
        let map = self.entries.lock().expect("cache lock");
        map.get(h).filter(|(at, _)| at.elapsed() < AUTH_CACHE_TTL).map(|(_, p)| p.clone())
    }
    fn put(&self, h: [u8; 32], p: Principal) {
        let mut map = self.entries.lock().expect("cache lock");
        if map.len() > 10_000 {
            map.retain(|_, (at, _)| at.elapsed() < AUTH_CACHE_TTL);
        }
        map.insert(h, (Instant::now(), p));
    }
    pub(crate) fn clear(&self) {
        self.entries.lock().expect("cache lock").clear();
    }
}

/// A signed-in agent's session.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Session {
    pub token: String,
    pub agent: Agent,
    pub expires_at: jiff::Timestamp,
}

/// A new API token; `secret` is shown once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewToken {
    pub id: Uuid,
    pub name: String,
    pub scopes: BTreeSet<Scope>,
    pub secret: String,
}

/// A new agent as an administrator describes it.
#[derive(Debug, Clone)]
pub struct NewAgent {
    pub login: String,
    pub name: PersonName,
    pub email: Option<EmailAddress>,
    pub role: Role,
    pub departments: BTreeSet<DepartmentCode>,
    pub languages: BTreeSet<Language>,
    /// `None`: a random password is made and returned.
    pub password: Option<String>,
    pub skills: BTreeSet<Tag>,
    /// `None`: the default capacity.
    pub capacity: Option<u32>,
}

/// Changes to an agent: who they are and what routing knows of them. `None` fields stay.
#[derive(Debug, Clone, Default)]
pub struct AgentUpdate {
    pub name: Option<PersonName>,
    /// `Some(None)` removes the address.
    pub email: Option<Option<EmailAddress>>,
    pub role: Option<Role>,
    pub departments: Option<BTreeSet<DepartmentCode>>,
    pub languages: Option<BTreeSet<Language>>,
    pub skills: Option<BTreeSet<Tag>>,
    pub capacity: Option<u32>,
}

/// A second factor being set up: the secret to type or scan into an authenticator app.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TotpEnrolment {
    /// Base32, for typing in.
    pub secret: String,
    /// `otpauth://totp/…`, for a QR code.
    pub otpauth_url: String,
}

fn totp(secret: &[u8], account: &str) -> std::result::Result<totp_rs::Totp, totp_rs::TotpError> {
    totp_rs::Builder::new().with_secret(secret.to_vec()).with_issuer(Some("ombuds")).with_account_name(account).build()
}

impl Desk {
    /// Starts setting up a second factor for the signed-in agent; it is in force once a code
    /// from the app is confirmed.
    pub async fn start_totp(&self, who: &Principal) -> Result<TotpEnrolment> {
        let Principal::Agent(a) = who else { return Err(DomainError::Forbidden("only agents sign in".into()).into()) };
        let secret: [u8; 20] = rand::random();
        let t = totp(&secret, &a.login).map_err(|e| DeskError::Conflict(format!("the second factor cannot be set up: {e}")))?;
        self.store.set_totp_pending(a.id, &secret).await?;
        Ok(TotpEnrolment {
            secret: totp_rs::Secret::from(secret.to_vec()).to_base32(),
            otpauth_url: t.to_url().map_err(|e| DeskError::Conflict(format!("the second factor cannot be set up: {e}")))?,
        })
    }

    /// Whether the signed-in agent's second factor is on.
    pub async fn totp_enabled(&self, who: &Principal) -> Result<bool> {
        let Principal::Agent(a) = who else { return Ok(false) };
        Ok(self.store.agent_totp(a.id).await?.0.is_some())
    }

    /// Confirms the second factor being set up with a current code from the app.
    pub async fn confirm_totp(&self, who: &Principal, code: &str) -> Result<()> {
        let Principal::Agent(a) = who else { return Err(DomainError::Forbidden("only agents sign in".into()).into()) };
        let (_, pending, _) = self.store.agent_totp(a.id).await?;
        let Some(pending) = pending else {
            return Err(DomainError::invalid("code", "nothing_to_confirm", "start setting up the second factor first").into());
        };
        let step = totp(&pending, &a.login).ok().and_then(|t| t.check_current(code.trim()));
        let Some(step) = step else { return Err(DomainError::invalid("code", "wrong_code", "the code is wrong or too old").into()) };
        self.store.set_totp(a.id, Some(&pending), Some(step as i64)).await?;
        Ok(())
    }

    /// Turns the second factor off, with a current code.
    pub async fn disable_totp(&self, who: &Principal, code: &str) -> Result<()> {
        let Principal::Agent(a) = who else { return Err(DomainError::Forbidden("only agents sign in".into()).into()) };
        let (secret, _, _) = self.store.agent_totp(a.id).await?;
        let Some(secret) = secret else { return Err(DomainError::invalid("code", "not_enabled", "the second factor is not on").into()) };
        let fresh = match totp(&secret, &a.login).ok().and_then(|t| t.check_current(code.trim())) {
            // A code is good once: one already used (to sign in, say) is refused here too.
            Some(step) => self.store.use_totp_step(a.id, step as i64).await?,
            None => false,
        };
        if !fresh {
            return Err(DomainError::invalid("code", "wrong_code", "the code is wrong, too old or already used").into());
        }
        self.store.set_totp(a.id, None, None).await?;
        Ok(())
    }
}

pub fn parse_login(raw: &str) -> Result<String> {
    let t = raw.trim().to_lowercase();
    let ok = (2..=64).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if !ok {
        return Err(DomainError::invalid("login", "invalid_login", "use 2 to 64 letters, digits, '.', '_', '-' or '@'").into());
    }
    Ok(t)
}

impl Desk {
    /// Checks a bearer secret: an agent session (`oms_…`) or an API token (`omt_…`).
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal> {
        let h = digest(bearer);
        if let Some(p) = self.auth_cache.get(&h) {
            return Ok(p);
        }
        self.authenticate_fresh(bearer).await
    }

    /// [`Desk::authenticate`] past the cache: what the store says now. A live socket asks
    /// this when it hears that its agent's credentials changed.
    pub async fn authenticate_fresh(&self, bearer: &str) -> Result<Principal> {
        let h = digest(bearer);
        let principal = if bearer.starts_with(SESSION_PREFIX) {
            let agent = self.store.session_agent(&h).await?.ok_or(DeskError::Unauthorized("the session has expired or was ended"))?;
            Principal::Agent(agent)
        } else if bearer.starts_with(TOKEN_PREFIX) {
            let t = self.store.token_by_hash(&h).await?.ok_or(DeskError::Unauthorized("the API token is unknown or revoked"))?;
            Principal::Token { id: t.id, name: t.name, scopes: t.scopes }
        } else {
            return Err(DeskError::Unauthorized("the credentials are not an ombuds session or API token"));
        };
        self.auth_cache.put(h, principal.clone());
        Ok(principal)
    }

    /// Signs an agent in without a second factor (see [`Desk::login_with_code`]).
    pub async fn login(&self, login: &str, password: &str) -> Result<Session> {
        self.login_with_code(login, password, None).await
    }

    /// Signs an agent in. After `login_max_failures` wrong passwords (or codes) in a row the
    /// login is locked for `login_lockout`: even the right password is refused until then, with
    /// [`DeskError::TooManyAttempts`]. A successful sign-in starts the count again. An agent
    /// with a second factor also gives the current code from their authenticator app
    /// ([`DeskError::CodeRequired`] without one); each code is good once.
    pub async fn login_with_code(&self, login: &str, password: &str, code: Option<&str>) -> Result<Session> {
        let denied = DeskError::Unauthorized("wrong login or password");
        let login = parse_login(login).ok();
        if let Some(l) = &login
            && let Some(until) = self.store.login_locked_until(l).await?
            && until > now()
        {
            return Err(DeskError::TooManyAttempts { until });
        }
        let found = match &login {
            Some(l) => self.store.agent_credentials(l).await?,
            None => None,
        };
        // Verify against a dummy hash when the login is unknown, so timing does not tell.
        let (agent, hash) = match found {
            Some((a, Some(h))) => (Some(a), h),
            _ => (None, self.dummy_hash.clone()),
        };
        let ok = verify_password(password.to_string(), hash).await;
        let agent = match agent {
            Some(a) if ok && a.active => a,
            Some(a) if !ok => {
                let until = now() + jiff::SignedDuration::try_from(self.config.login_lockout).expect("lock-out fits");
                let (failures, locked) = self.store.record_login_failure(&a.login, i64::from(self.config.login_max_failures), until).await?;
                if let Some(until) = locked.filter(|_| failures >= i64::from(self.config.login_max_failures)) {
                    tracing::warn!(login = %a.login, failures, "sign-in locked after repeated failures");
                    metrics::counter!("ombuds_login_lockouts_total").increment(1);
                    return Err(DeskError::TooManyAttempts { until });
                }
                return Err(denied);
            }
            _ => return Err(denied),
        };
        let (second_factor, _, _) = self.store.agent_totp(agent.id).await?;
        if let Some(key) = second_factor {
            let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else { return Err(DeskError::CodeRequired) };
            let step = totp(&key, &agent.login).ok().and_then(|t| t.check_current(code));
            let fresh = match step {
                Some(step) => self.store.use_totp_step(agent.id, step as i64).await?,
                None => false,
            };
            if !fresh {
                let until = now() + jiff::SignedDuration::try_from(self.config.login_lockout).expect("lock-out fits");
                let (failures, locked) = self.store.record_login_failure(&agent.login, i64::from(self.config.login_max_failures), until).await?;
                if let Some(until) = locked.filter(|_| failures >= i64::from(self.config.login_max_failures)) {
                    return Err(DeskError::TooManyAttempts { until });
                }
                return Err(DeskError::Unauthorized("wrong or already used code"));
            }
        }
        self.store.reset_login_failures(agent.id).await?;
        let (token, h) = secret(SESSION_PREFIX);
        let expires_at = now() + jiff::SignedDuration::try_from(self.config.session_ttl).expect("session ttl fits");
        self.store.insert_session(&h, agent.id, expires_at).await?;
        Ok(Session { token, agent, expires_at })
    }

    /// Ends a session; the agent's live sockets on that session close, on every node.
    pub async fn logout(&self, bearer: &str) -> Result<()> {
        let h = digest(bearer);
        let agent = self.store.delete_session(&h).await?;
        self.credentials_changed(agent).await;
        Ok(())
    }

    /// Drops cached principals here and on every node, and tells `agent`'s live sockets to
    /// check their session again (they close if it ended).
    pub(crate) async fn credentials_changed(&self, agent: Option<Uuid>) {
        self.auth_cache.clear();
        self.live().send(&crate::live::LiveSignal::CredentialsChanged { agent_id: agent }).await;
    }

    /// Changes the signed-in agent's password. Every other session of the agent ends (and its
    /// live sockets close); `keep`, the session the change was made with, stays.
    pub async fn change_password(&self, who: &Principal, current: &str, new: &str, keep: Option<&str>) -> Result<()> {
        let Principal::Agent(a) = who else {
            return Err(DomainError::Forbidden("only agents have passwords".into()).into());
        };
        check_password_rules(new)?;
        let (_, hash) = self.store.agent_credentials(&a.login).await?.ok_or(DeskError::NotFound("agent"))?;
        if !verify_password(current.to_string(), hash.unwrap_or_else(|| self.dummy_hash.clone())).await {
            return Err(DomainError::invalid("current_password", "wrong_password", "the current password is wrong").into());
        }
        let keep = keep.filter(|k| k.starts_with(SESSION_PREFIX)).map(digest);
        let ended = self.store.set_password_ending_sessions(a.id, &hash_password(new.to_string()).await?, keep.as_ref().map(|k| &k[..])).await?;
        tracing::info!(agent = %a.login, sessions_ended = ended, "password changed");
        self.credentials_changed(Some(a.id)).await;
        Ok(())
    }

    /// Adds an agent; returns it with the password to hand over when one was generated.
    pub async fn add_agent(&self, who: Option<&Principal>, new: NewAgent) -> Result<(Agent, Option<String>)> {
        if let Some(p) = who {
            p.require_admin()?;
        }
        let login = parse_login(&new.login)?;
        let known = self.departments().await?;
        for d in &new.departments {
            if !known.iter().any(|k| &k.code == d) {
                return Err(DomainError::invalid("departments", "unknown_department", format!("there is no department '{d}'")).into());
            }
        }
        let (password, generated) = match new.password {
            Some(p) => {
                check_password_rules(&p)?;
                (p, None)
            }
            None => {
                let p = random_password();
                (p.clone(), Some(p))
            }
        };
        let agent = Agent {
            id: Uuid::now_v7(),
            login,
            name: new.name,
            email: new.email,
            role: new.role,
            departments: new.departments,
            languages: new.languages,
            active: true,
            skills: new.skills,
            capacity: new.capacity.unwrap_or(DEFAULT_CAPACITY),
        };
        self.store.insert_agent(&agent, Some(&hash_password(password).await?)).await?;
        Ok((agent, generated))
    }

    /// Changes an agent (administrators): name, e-mail, role and what routing knows of them;
    /// `None` fields stay as they are. The last active administrator keeps the role.
    pub async fn update_agent(&self, who: Option<&Principal>, login: &str, update: AgentUpdate) -> Result<Agent> {
        if let Some(p) = who {
            p.require_admin()?;
        }
        let login = parse_login(login)?;
        let Some((mut a, _)) = self.store.agent_credentials(&login).await? else { return Err(DeskError::NotFound("agent")) };
        if let Some(role) = update.role {
            if a.role == Role::Admin && role != Role::Admin && a.active {
                self.keep_an_admin(&a, "role").await?;
            }
            a.role = role;
        }
        if let Some(name) = update.name {
            a.name = name;
        }
        if let Some(email) = update.email {
            a.email = email;
        }
        if let Some(d) = update.departments {
            let known = self.departments().await?;
            if let Some(bad) = d.iter().find(|c| !known.iter().any(|k| &k.code == *c)) {
                return Err(DomainError::invalid("departments", "unknown_department", format!("there is no department '{bad}'")).into());
            }
            a.departments = d;
        }
        if let Some(l) = update.languages {
            a.languages = l;
        }
        if let Some(s) = update.skills {
            if s.len() > 50 {
                return Err(DomainError::invalid("skills", "too_many", "at most 50 skills").into());
            }
            a.skills = s;
        }
        if let Some(c) = update.capacity {
            if c > 10_000 {
                return Err(DomainError::invalid("capacity", "too_large", "at most 10000").into());
            }
            a.capacity = c;
        }
        let a = self.store.update_agent_routing(&a).await?;
        self.credentials_changed(Some(a.id)).await;
        Ok(a)
    }

    /// Enables or disables an agent (administrators); disabling ends their sessions. The last
    /// active administrator cannot be disabled.
    pub async fn set_agent_active(&self, who: Option<&Principal>, login: &str, active: bool) -> Result<Agent> {
        if let Some(p) = who {
            p.require_admin()?;
        }
        if !active
            && let Some((a, _)) = self.store.agent_credentials(&parse_login(login)?).await?
            && a.role == Role::Admin
            && a.active
        {
            self.keep_an_admin(&a, "active").await?;
        }
        let a = self.store.set_agent_active(&parse_login(login)?, active).await.map_err(|e| match e {
            ombuds_store::StoreError::NotFound => DeskError::NotFound("agent"),
            e => e.into(),
        })?;
        self.credentials_changed(Some(a.id)).await;
        Ok(a)
    }

    /// Refuses (on `field`) a change that would leave no active administrator but `a`.
    async fn keep_an_admin(&self, a: &Agent, field: &str) -> Result<()> {
        let others = self.store.agents().await?.into_iter().any(|o| o.id != a.id && o.active && o.role == Role::Admin);
        if others {
            Ok(())
        } else {
            Err(DomainError::invalid(field, "last_admin", "at least one active administrator must remain").into())
        }
    }

    /// Every agent with whether their second factor is on (administrators).
    pub async fn agents_with_totp(&self, who: &Principal) -> Result<Vec<(Agent, bool)>> {
        who.require_admin()?;
        let mut out = vec![];
        for a in self.store.agents().await? {
            let on = self.store.agent_totp(a.id).await?.0.is_some();
            out.push((a, on));
        }
        Ok(out)
    }

    pub async fn create_token(&self, who: Option<&Principal>, name: &str, scopes: BTreeSet<Scope>) -> Result<NewToken> {
        if let Some(p) = who {
            p.require_admin()?;
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(DomainError::invalid("name", "invalid_name", "give the token a name of 1 to 100 characters").into());
        }
        if scopes.is_empty() {
            return Err(DomainError::invalid("scopes", "required", "give at least one scope").into());
        }
        let (secret, h) = secret(TOKEN_PREFIX);
        let id = Uuid::now_v7();
        let created_by = match who {
            Some(Principal::Agent(a)) => Some(a.id),
            _ => None,
        };
        self.store.insert_token(id, name, &h, &scopes, created_by).await?;
        Ok(NewToken { id, name: name.to_string(), scopes, secret })
    }

    pub async fn revoke_token(&self, who: Option<&Principal>, id: Uuid) -> Result<()> {
        if let Some(p) = who {
            p.require_admin()?;
        }
        self.store.revoke_token(id).await.map_err(|e| match e {
            ombuds_store::StoreError::NotFound => DeskError::NotFound("active token"),
            e => e.into(),
        })?;
        self.credentials_changed(None).await;
        Ok(())
    }

    /// On first start: an `admin` account with a random password, returned to be printed once.
    pub async fn ensure_admin(&self) -> Result<Option<(String, String)>> {
        if !self.store.agents().await?.is_empty() {
            return Ok(None);
        }
        let (agent, password) = self
            .add_agent(
                None,
                NewAgent {
                    login: "admin".into(),
                    name: PersonName::parse("Administrator").expect("static"),
                    email: None,
                    role: Role::Admin,
                    departments: BTreeSet::new(),
                    languages: [Language::Ru, Language::Kk, Language::En].into(),
                    password: None,
                    skills: Default::default(),
                    capacity: None,
                },
            )
            .await?;
        Ok(Some((agent.login, password.expect("generated"))))
    }
}
