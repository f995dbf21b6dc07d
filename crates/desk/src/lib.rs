//! The ombuds desk: the use cases. `Desk` holds the store and is the ONE write path for
//! complaints: every adapter (HTTP, e-mail, chat, phone, CLI) parses its input into core types
//! and calls the desk; the core decides; the store commits events, rows and jobs together.

pub mod auth;
pub mod chat;
pub mod cti;
pub mod delivery;
pub mod demo;
pub mod faq;
mod error;
pub mod intake;
pub mod jobs;
pub mod live;
pub mod merge;
pub mod workspace;
pub mod routing;
pub mod sla;
pub mod templates;
pub mod tracking;

pub use auth::{AgentUpdate, NewAgent, NewToken, Session, TotpEnrolment};
pub use error::{DeskError, Result};
pub use delivery::{BounceNotice, DeliveryContext};
pub use intake::{Inbound, Received};
pub use jobs::{JobFailure, JobHandler, JobRunner};
pub use ombuds_store::{
    AttachmentInfo, AuthResult, Direction as MailDirection, DmarcPolicy, MailInfo, SenderAuth, NewAttachment, NewMail, OutboundMail,
    AssigneeFilter, ChainReport, ComplaintFilter, JobRecord, Location, Page, PageRequest, StoredEvent, TokenInfo,
};

use ombuds_core::command::{self, Ctx};
use ombuds_core::*;
use ombuds_store::{Build, ChangeRequest, DbOptions, Decide, IdempotencyKey, NewComplaint, Outcome, Store, StoreError, WriteOp};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct DeskConfig {
    pub session_ttl: Duration,
    /// Wrong passwords in a row that lock a login, and for how long.
    pub login_max_failures: u32,
    pub login_lockout: Duration,
    pub db: DbOptions,
    pub chat: chat::ChatConfig,
    pub cti: cti::CtiConfig,
    pub routing: routing::RoutingConfig,
    pub tracking: tracking::TrackConfig,
    pub anonymous: AnonymousLimits,
}

/// What one client address may file without proving anything, and how much mail that may
/// cause to an address that never wrote to the desk.
#[derive(Debug, Clone)]
pub struct AnonymousLimits {
    /// Complaints per client address and hour through the portal and the chat's offline form
    /// and anonymous chats (each source counted on its own).
    pub complaints_per_address_hour: i64,
    /// FAQ votes and "this answered me" clicks per client address and hour.
    pub votes_per_address_hour: i64,
    /// Acknowledgments per day to one e-mail address typed into a form; past it the complaint
    /// is still registered, and the agent sees that nothing was mailed.
    pub mails_per_typed_address_day: i64,
}

impl Default for AnonymousLimits {
    fn default() -> Self {
        AnonymousLimits { complaints_per_address_hour: 10, votes_per_address_hour: 30, mails_per_typed_address_day: 3 }
    }
}

/// How a registration came in, beyond its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntakeOptions {
    /// The contact details were proven (the operator's backend, a signed identity, an agent).
    /// Unproven ones (a form, an e-mail's From, an anonymous chat) never change a known
    /// player's record: what they say stays with the complaint.
    pub proven: bool,
    /// Queue the acknowledgment to the player.
    pub acknowledge: bool,
}

impl IntakeOptions {
    pub const PROVEN: IntakeOptions = IntakeOptions { proven: true, acknowledge: true };
    pub const CLAIMED: IntakeOptions = IntakeOptions { proven: false, acknowledge: true };
}

impl Default for DeskConfig {
    fn default() -> Self {
        DeskConfig { session_ttl: Duration::from_secs(12 * 3600), login_max_failures: 5, login_lockout: Duration::from_secs(15 * 60), db: DbOptions::default(), chat: chat::ChatConfig::default(), cti: cti::CtiConfig::default(), routing: routing::RoutingConfig::default(), tracking: tracking::TrackConfig::default(), anonymous: AnonymousLimits::default() }
    }
}

/// A command as an adapter states it: agents are named by id, the desk looks them up.
pub type CommandInput = Command<Uuid>;

/// The answer to a registration.
#[derive(Debug, Clone)]
pub struct Registered {
    pub complaint: Complaint,
    /// True when an `Idempotency-Key` matched an earlier request: this is that request's result.
    pub replayed: bool,
}

/// One complaint with what an agent needs beside it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComplaintView {
    #[serde(flatten)]
    pub complaint: Complaint,
    pub player: Player,
    pub messages: Vec<Message>,
    /// What the classifier thinks the complaint is about (`None` without a trained model).
    pub suggestion: Option<routing::Suggestion>,
    /// The duplicates merged into this complaint (their messages are in `messages`).
    pub duplicates: Vec<merge::Duplicate>,
}

#[doc(hidden)]
pub struct Inner {
    store: Store,
    config: DeskConfig,
    /// The node's copy of the departments (`None`: read them again).
    departments: Arc<RwLock<Option<Arc<Vec<Department>>>>>,
    auth_cache: Arc<auth::AuthCache>,
    dummy_hash: String,
    jobs_ready: tokio::sync::Notify,
    live: live::Live,
    chat_hub: chat::ChatHub,
    router_cache: routing::RouterCache,
    turns: routing::Turns,
    sla: Arc<RwLock<sla::InForce>>,
    faq_cache: faq::FaqCache,
    composer_cache: templates::ComposerCache,
    track_secret: tokio::sync::OnceCell<Vec<u8>>,
    /// Orders an agent's presence changes: the count and its write to the store happen
    /// together, so two sockets closing at once cannot store their counts out of order.
    presence_writes: tokio::sync::Mutex<()>,
}

/// Cheap to clone; all clones share one store and caches.
#[derive(Clone)]
pub struct Desk(Arc<Inner>);

impl std::ops::Deref for Desk {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

const ATTEMPTS: usize = 8;

/// The departments a betting operator starts with.
pub const DEFAULT_DEPARTMENTS: &[(&str, &str, &str, &str)] = &[
    ("payments", "Payments", "Платежи", "Төлемдер"),
    ("verification", "Verification (KYC)", "Верификация", "Верификация"),
    ("bet_settlement", "Bet settlement", "Расчёт ставок", "Бәс есептеу"),
    ("bonuses", "Bonuses and promotions", "Бонусы и акции", "Бонустар мен акциялар"),
    ("technical", "Technical support", "Техническая поддержка", "Техникалық қолдау"),
    ("responsible_gaming", "Responsible gaming", "Ответственная игра", "Жауапты ойын"),
    ("security", "Account security", "Безопасность аккаунта", "Аккаунт қауіпсіздігі"),
];

impl Desk {
    pub async fn open(location: &Location, config: DeskConfig) -> Result<Desk> {
        let store = Store::open(location, &config.db).await?;
        Ok(Desk::with_store(store, config).await)
    }

    pub async fn with_store(store: Store, config: DeskConfig) -> Desk {
        let dummy_hash = auth::hash_password(auth::random_password()).await.expect("argon2 works");
        let live = live::Live::start(&store);
        let chat_hub = chat::ChatHub::start(&store, live.subscribe());
        let router_cache = routing::RouterCache::default();
        let generation = router_cache.generation();
        let sla_in_force = Arc::new(RwLock::new(sla::InForce::default()));
        let (sla_shared, sla_store) = (sla_in_force.clone(), store.clone());
        let faq_cache: faq::FaqCache = Arc::default();
        let faq_shared = faq_cache.clone();
        let composer_cache: templates::ComposerCache = Arc::default();
        let composer_shared = composer_cache.clone();
        let departments: Arc<RwLock<Option<Arc<Vec<Department>>>>> = Arc::default();
        let departments_shared = departments.clone();
        let auth_cache: Arc<auth::AuthCache> = Arc::default();
        let auth_shared = auth_cache.clone();
        let mut signals = live.subscribe();
        // Another node saved rules or retrained: reload on the next complaint. The task ends
        // when the desk (and with it the live feed) is dropped.
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match signals.recv().await {
                    Ok(live::LiveSignal::RoutingChanged) => {
                        generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Ok(live::LiveSignal::SlaChanged) => sla::reload(&sla_store, &sla_shared).await,
                    Ok(live::LiveSignal::FaqChanged) => *faq_shared.write().expect("lock") = None,
                    Ok(live::LiveSignal::TemplatesChanged) => *composer_shared.write().expect("lock") = None,
                    Ok(live::LiveSignal::DepartmentsChanged) => *departments_shared.write().expect("lock") = None,
                    Ok(live::LiveSignal::CredentialsChanged { .. }) => auth_shared.clear(),
                    Err(RecvError::Lagged(_)) => {
                        auth_shared.clear();
                        generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        sla::reload(&sla_store, &sla_shared).await;
                        *faq_shared.write().expect("lock") = None;
                        *composer_shared.write().expect("lock") = None;
                        *departments_shared.write().expect("lock") = None;
                    }
                    Ok(_) => {}
                    Err(RecvError::Closed) => return,
                }
            }
        });
        Desk(Arc::new(Inner {
            router_cache,
            turns: routing::Turns::default(),
            sla: sla_in_force,
            faq_cache,
            composer_cache,
            live,
            chat_hub,
            store,
            config,
            departments,
            auth_cache,
            dummy_hash,
            jobs_ready: tokio::sync::Notify::new(),
            track_secret: tokio::sync::OnceCell::new(),
            presence_writes: tokio::sync::Mutex::new(()),
        }))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Signals to users on every node (pop-ups, typing, queue changes).
    pub fn live(&self) -> &live::Live {
        &self.live
    }

    pub fn chat_hub(&self) -> &chat::ChatHub {
        &self.chat_hub
    }

    pub async fn close(&self) {
        self.store.close().await;
    }

    // ---------------------------------------------------------------- departments

    pub async fn departments(&self) -> Result<Arc<Vec<Department>>> {
        if let Some(d) = self.departments.read().expect("lock").clone() {
            return Ok(d);
        }
        let d = Arc::new(self.store.departments().await?);
        *self.departments.write().expect("lock") = Some(d.clone());
        Ok(d)
    }

    /// Creates a department, or renames and (de)activates it (administrators). Each name is
    /// 1 to 100 characters on one line.
    pub async fn upsert_department(&self, who: Option<&Principal>, mut d: Department) -> Result<()> {
        if let Some(p) = who {
            p.require_admin()?;
        }
        for name in [&mut d.name_ru, &mut d.name_kk, &mut d.name_en] {
            *name = name.trim().to_string();
        }
        Desk::check_department(&d)?;
        self.store.upsert_department(&d).await?;
        *self.departments.write().expect("lock") = None;
        // Other nodes read them again too (names in the queues, routing's departments).
        self.live().send(&live::LiveSignal::DepartmentsChanged).await;
        Ok(())
    }

    /// Checks a department's names: each 1 to 100 characters on one line (surrounding spaces
    /// do not count). Every mistake is named (`name_ru`, `name_kk`, `name_en`).
    pub fn check_department(d: &Department) -> Result<()> {
        let mut errors = vec![];
        for (field, name) in [("name_ru", &d.name_ru), ("name_kk", &d.name_kk), ("name_en", &d.name_en)] {
            let name = name.trim();
            if name.is_empty() {
                errors.push(FieldError::new(field, "required", "is required"));
            } else if name.chars().count() > 100 {
                errors.push(FieldError::new(field, "too_long", "must be at most 100 characters"));
            } else if name.chars().any(char::is_control) {
                errors.push(FieldError::new(field, "invalid_characters", "must be one line without control characters"));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(DomainError::Invalid(errors).into()) }
    }

    /// Creates a new department (administrators); a code that exists already is refused on
    /// `code` (renaming is [`Desk::upsert_department`]).
    pub async fn add_department(&self, who: &Principal, d: Department) -> Result<()> {
        who.require_admin()?;
        if self.store.departments().await?.iter().any(|k| k.code == d.code) {
            return Err(DomainError::invalid("code", "taken", format!("there is a department '{}' already", d.code)).into());
        }
        self.upsert_department(Some(who), d).await
    }

    /// Creates the default departments when there are none.
    pub async fn seed_departments(&self) -> Result<bool> {
        if !self.departments().await?.is_empty() {
            return Ok(false);
        }
        for (code, en, ru, kk) in DEFAULT_DEPARTMENTS {
            let d = Department {
                code: DepartmentCode::parse(code).expect("static"),
                name_en: en.to_string(),
                name_ru: ru.to_string(),
                name_kk: kk.to_string(),
                active: true,
            };
            self.upsert_department(None, d).await?;
        }
        Ok(true)
    }

    pub async fn agents(&self) -> Result<Vec<Agent>> {
        Ok(self.store.agents().await?)
    }

    /// Every agent with e-mail and role, for a caller of the API: supervisors and
    /// administrators only (the workspace's own pages read [`Desk::agents`] on the server).
    pub async fn agent_directory(&self, who: &Principal) -> Result<Vec<Agent>> {
        who.may_list_agents()?;
        self.agents().await
    }

    // ---------------------------------------------------------------- the write path

    /// Registers a complaint, with its acknowledgment job, in one durable transaction.
    /// `idempotency` is the caller's key and a hash of the request: a retry gets the first result.
    pub async fn register(&self, who: &Principal, reg: Registration, idempotency: Option<(String, Vec<u8>)>) -> Result<Registered> {
        who.may_register()?;
        self.register_as(who.actor(), principal_key(who), reg, idempotency).await
    }

    /// Registration on behalf of the system (demo data, imports): trusted contact details.
    pub async fn register_as(
        &self,
        actor: Actor,
        principal: String,
        reg: Registration,
        idempotency: Option<(String, Vec<u8>)>,
    ) -> Result<Registered> {
        self.register_with(actor, principal, reg, idempotency, IntakeOptions::PROVEN).await
    }

    /// Registration from someone who proved nothing about the contact details they typed (the
    /// portal's form): limited per client address and `source`, never changes a known player,
    /// and mails an acknowledgment to a typed address a few times a day at most.
    pub async fn register_anonymous(&self, source: &'static str, reg: Registration, client: Option<std::net::IpAddr>) -> Result<Registered> {
        reg.check()?;
        let acknowledge = self.anonymous_budget(source, &reg, client).await?;
        self.register_with(Actor::System, source.to_string(), reg, None, IntakeOptions { proven: false, acknowledge }).await
    }

    /// Counts an anonymous submission against the client address's budget (refused past it)
    /// and against the typed address's mail budget; whether an acknowledgment may be mailed.
    pub(crate) async fn anonymous_budget(&self, source: &'static str, reg: &Registration, client: Option<std::net::IpAddr>) -> Result<bool> {
        let limits = &self.config.anonymous;
        self.spend_per_address(&format!("anon-intake:{source}"), client, limits.complaints_per_address_hour).await?;
        let Some(email) = &reg.player.email else { return Ok(true) };
        let key = format!("typed-address-mail:{}", email.as_str().to_lowercase());
        let ok = self.store.count_use(&key, tracking::DAY).await? <= limits.mails_per_typed_address_day;
        if !ok {
            tracing::info!(source, "acknowledgment budget of a typed address spent; registered without mailing it");
        }
        Ok(ok)
    }

    /// Forgets budget windows older than a week, every hour, for as long as the desk lives.
    pub fn spawn_housekeeping(&self) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                match Desk(inner).store.sweep_counts().await {
                    Ok(n) => tracing::debug!(rows = n, "old budget windows swept"),
                    Err(e) => tracing::warn!(error = %e, "budget windows could not be swept"),
                }
            }
        })
    }

    /// Counts a vote or a click of an anonymous client; refused past the hour's budget.
    pub async fn anonymous_vote(&self, what: &str, client: Option<std::net::IpAddr>) -> Result<()> {
        self.spend_per_address(&format!("anon-vote:{what}"), client, self.config.anonymous.votes_per_address_hour).await
    }

    async fn register_with(
        &self,
        actor: Actor,
        principal: String,
        reg: Registration,
        idempotency: Option<(String, Vec<u8>)>,
        options: IntakeOptions,
    ) -> Result<Registered> {
        reg.check()?;
        let idempotency = idempotency.map(|(key, request_hash)| IdempotencyKey { principal, key, request_hash });
        for _ in 0..ATTEMPTS {
            match self.write_registration(actor.clone(), &reg, idempotency.clone(), None, options).await? {
                Outcome::Registered(complaint) => return Ok(Registered { complaint: *complaint, replayed: false }),
                Outcome::Replayed { complaint_id } => {
                    return Ok(Registered { complaint: self.store.complaint(complaint_id).await?, replayed: true });
                }
                Outcome::KeyReused => return Err(DeskError::IdempotencyKeyReused),
                Outcome::Refused(e) => return Err(e.into()),
                Outcome::Retry(why) => tracing::debug!(why, "registration raced; drawing again"),
                other => unreachable!("a registration cannot answer {other:?}"),
            }
        }
        Err(DeskError::Contention)
    }

    /// One attempt at registering `reg` with a freshly drawn id and reference.
    pub(crate) async fn write_registration(
        &self,
        actor: Actor,
        reg: &Registration,
        idempotency: Option<IdempotencyKey>,
        mail: Option<NewMail>,
        options: IntakeOptions,
    ) -> Result<Outcome> {
        let departments = self.departments().await?;
        let sla = self.sla();
        let auto = self.auto_route(reg).await?;
        let (id, reference, now) = (Uuid::now_v7(), ComplaintRef::from_bits(rand::random::<u64>()), now());
        // A new player without a stated language gets the one detected in the text.
        let language = reg.language.or(auto.detected_language).unwrap_or(Language::Ru);
        let reg2 = reg.clone();
        let build: Build = Box::new(move |player_id| {
            let mut new_id = Uuid::now_v7;
            let mut ctx = Ctx { now, actor: actor.clone(), departments: &departments, sla: &sla, new_id: &mut new_id };
            let mut decision = command::register_routed(&reg2, &auto, id, reference, player_id, &mut ctx)?;
            if !options.acknowledge {
                decision.jobs.retain(|j| !matches!(j, ombuds_core::Job::Acknowledge { .. }));
            }
            Ok(decision)
        });
        let op = NewComplaint {
            contact: reg.player.clone(),
            contact_proven: options.proven,
            language,
            build,
            idempotency,
            mail: mail.map(Box::new),
            uploads: vec![],
        };
        let outcome = self.store.write(WriteOp::Register(Box::new(op))).await?;
        if let Outcome::Registered(c) = &outcome {
            metrics::counter!("ombuds_complaints_registered_total", "channel" => c.channel.as_str()).increment(1);
            self.jobs_ready.notify_waiters();
        }
        Ok(outcome)
    }

    /// Applies one command to the complaint `reference`, as `who`. The core decides against
    /// the complaint as it stands when the write is committed (see the store's writer), so
    /// concurrent commands to one complaint are applied one after the other, never lost. A
    /// command that changes nothing returns the complaint unchanged and records nothing.
    pub async fn apply(&self, who: &Principal, reference: &ComplaintRef, input: CommandInput) -> Result<Complaint> {
        let cmd = self.resolve(input).await?;
        let departments = self.departments().await?;
        let sla = self.sla();
        let target = self.reachable(who, reference).await?;
        who.may_apply(&target, &cmd)?;
        let who = who.clone();
        let decide: Decide = Box::new(move |current: &Complaint| {
            if !who.may_reach(current) {
                return Err(DomainError::Forbidden("the complaint has moved out of your reach meanwhile".into()));
            }
            who.may_apply(current, &cmd)?;
            let mut new_id = Uuid::now_v7;
            let mut ctx = Ctx { now: now(), actor: who.actor(), departments: &departments, sla: &sla, new_id: &mut new_id };
            command::change(current, &cmd, &mut ctx)
        });
        match self.store.write(WriteOp::Change(ChangeRequest::new(target.id, decide))).await? {
            Outcome::Changed(c) => {
                self.jobs_ready.notify_waiters();
                Ok(*c)
            }
            Outcome::Unchanged(c) => Ok(*c),
            Outcome::Refused(e) => Err(e.into()),
            Outcome::Missing => Err(DeskError::NotFound("complaint")),
            other => unreachable!("a change cannot answer {other:?}"),
        }
    }

    async fn resolve(&self, input: CommandInput) -> Result<Command> {
        let agent_id = match &input {
            Command::Assign { agent } => Some(*agent),
            _ => None,
        };
        let agent = match agent_id {
            None => None,
            Some(id) => Some(self.store.agent(id).await.map_err(|e| match e {
                StoreError::NotFound => DeskError::Domain(DomainError::invalid("agent_id", "unknown_agent", format!("there is no agent {id}"))),
                e => e.into(),
            })?),
        };
        input.resolve_agent(|_| agent.ok_or(DeskError::NotFound("agent")))
    }

    // ---------------------------------------------------------------- reads

    /// The complaint if `who` may read it; "not found" otherwise, so references cannot be
    /// probed. A token without `complaints:read` is refused outright (403).
    pub async fn visible(&self, who: &Principal, reference: &ComplaintRef) -> Result<Complaint> {
        who.require(Scope::ComplaintsRead)?;
        match self.store.complaint_by_ref(reference).await {
            Ok(c) if who.may_view(&c) => Ok(c),
            Ok(_) | Err(StoreError::NotFound) => Err(DeskError::NotFound("complaint")),
            Err(e) => Err(e.into()),
        }
    }

    /// The complaint if `who` may send commands to it ("not found" otherwise). A token
    /// without `complaints:write` is refused outright (403); one with it reaches every
    /// complaint without being able to read them.
    pub async fn reachable(&self, who: &Principal, reference: &ComplaintRef) -> Result<Complaint> {
        who.require(Scope::ComplaintsWrite)?;
        match self.store.complaint_by_ref(reference).await {
            Ok(c) if who.may_reach(&c) => Ok(c),
            Ok(_) | Err(StoreError::NotFound) => Err(DeskError::NotFound("complaint")),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn complaint(&self, who: &Principal, reference: &ComplaintRef) -> Result<ComplaintView> {
        let complaint = self.visible(who, reference).await?;
        let (player, messages, duplicates) =
            tokio::try_join!(self.store.player(complaint.player_id), self.store.messages(complaint.id), self.store.merged_into(complaint.id))?;
        let duplicates = duplicates.iter().map(merge::Duplicate::of).collect();
        let suggestion = self.suggest(&format!("{}\n{}", complaint.subject.as_str(), complaint.description.as_str())).await?;
        Ok(ComplaintView { complaint, player, messages, suggestion, duplicates })
    }

    pub async fn history(&self, who: &Principal, reference: &ComplaintRef) -> Result<Vec<StoredEvent>> {
        let c = self.visible(who, reference).await?;
        Ok(self.store.events(c.id).await?)
    }

    pub async fn jobs_of(&self, who: &Principal, reference: &ComplaintRef) -> Result<Vec<JobRecord>> {
        let c = self.visible(who, reference).await?;
        Ok(self.store.jobs_for_complaint(c.id).await?)
    }

    pub async fn list(&self, who: &Principal, filter: &ComplaintFilter, page: PageRequest) -> Result<Page<Complaint>> {
        who.require(Scope::ComplaintsRead)?;
        Ok(self.store.list_complaints(filter, &who.visibility(), page).await?)
    }

    /// How many complaints `who` may see match `filter`, counting at most `cap`.
    pub async fn count(&self, who: &Principal, filter: &ComplaintFilter, cap: u32) -> Result<i64> {
        who.require(Scope::ComplaintsRead)?;
        Ok(self.store.count_complaints(filter, &who.visibility(), cap).await?)
    }

    pub async fn verify_chain(&self) -> Result<ChainReport> {
        Ok(self.store.verify_chain().await?)
    }
}

/// The caller an idempotency key belongs to.
fn principal_key(who: &Principal) -> String {
    match who {
        Principal::Agent(a) => format!("agent:{}", a.id),
        Principal::Token { id, .. } => format!("token:{id}"),
    }
}

