//! Live chat use cases. A chat is a complaint (channel `chat`): the player's first message
//! registers it, every later message is a command on it through the group-commit writer, so a
//! message is durable before anyone sees it, and the transcript is the complaint's thread.
//!
//! Messages reach the other side through the `ChatHub`: one task per node takes the store's
//! committed events (in `seq` order, from every node) and the live signals, and hands each to
//! the connections watching that complaint, agent, or the queue. A connection that falls behind
//! is told so and reads what it missed from the store, so nothing is lost or shown twice (each
//! side shows a `seq` once).

use crate::live::{LiveSignal, Party};
use crate::{ATTEMPTS, Desk, DeskError, Result};
use ombuds_core::chat::{Chat, ChatStatus, ClientMessageId, Identity, verify_identity};
use ombuds_core::command::{self, Ctx};
use ombuds_core::*;
use ombuds_store::{ChangeRequest, Decide, IdempotencyKey, Outcome, QueuedChat, StoreError, StoredEvent, WriteOp};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// The secret operators sign player identity tokens with; `None` refuses every token.
    pub identity_secret: Option<Vec<u8>>,
    /// How far ahead a token's `exp` may be.
    pub identity_max_age: jiff::SignedDuration,
    /// Where chats go when the widget names no department (`None`: the accepting agent's).
    pub default_department: Option<DepartmentCode>,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig { identity_secret: None, identity_max_age: jiff::SignedDuration::from_hours(24), default_department: None }
    }
}

/// Who starts a chat.
#[derive(Debug, Clone)]
pub enum ChatIdentity {
    Anonymous { name: PersonName, email: EmailAddress },
    /// A token the operator's backend signed (see `ombuds_core::chat::verify_identity`).
    Signed(String),
}

#[derive(Debug, Clone)]
pub struct StartChat {
    pub who: ChatIdentity,
    pub language: Language,
    pub department: Option<DepartmentCode>,
    pub text: Body,
}

#[derive(Debug, Clone)]
pub struct ChatStarted {
    pub chat: Chat,
    /// Shown once: the widget presents it to reconnect; only its hash is stored.
    pub secret: String,
    pub reference: ComplaintRef,
    pub seq: i64,
}

/// One line of a transcript, as either side sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    pub seq: i64,
    pub message_id: Option<Uuid>,
    pub from: Party,
    pub name: Option<String>,
    pub text: String,
    pub at: jiff::Timestamp,
}

/// What became of a message sent into a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Said {
    /// Stored now; its line (with the seq) follows through the hub.
    Stored { message_id: Uuid },
    /// Stored before (a resend): its seq.
    Again { message_id: Uuid, seq: i64 },
}

/// Whether someone can answer a chat now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Availability {
    pub online: bool,
    pub agents: usize,
}

/// Where a chat is handed.
#[derive(Debug, Clone)]
pub enum TransferTo {
    Agent(String),
    Department(DepartmentCode),
}

const PRESENCE_TTL: Duration = Duration::from_secs(60);
const HEARTBEAT: Duration = Duration::from_secs(20);

fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The id of the message `client_id` makes in `chat`: the same on a resend, on any node.
fn message_id_of(chat: Uuid, client_id: &ClientMessageId) -> Uuid {
    let d = Sha256::new().chain_update(chat.as_bytes()).chain_update(client_id.as_str().as_bytes()).finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_custom_bytes(b).into_uuid()
}

/// The transcript line an event makes, if any. Internal notes and e-mail-only messages are
/// not lines; `for_agent` adds nothing more today but keeps the rule in one place.
pub fn line_of(e: &StoredEvent, chat: &Chat, agent_names: &HashMap<Uuid, String>) -> Option<ChatLine> {
    let agent_name = |a: &Actor| match a {
        Actor::Agent { id } => agent_names.get(id).cloned(),
        _ => None,
    };
    let (message_id, from, name, text) = match &e.event.data {
        EventData::Registered { description, .. } => (None, Party::Player, chat.player_name.as_ref().map(|n| n.to_string()), description.to_string()),
        EventData::PlayerReplied { message_id, channel: Channel::Chat, text } => {
            (Some(*message_id), Party::Player, chat.player_name.as_ref().map(|n| n.to_string()), text.to_string())
        }
        EventData::MessageAdded { message_id, kind: MessageKind::Outbound, channel: Channel::Chat, body } => {
            (Some(*message_id), Party::Agent, agent_name(&e.event.actor), body.to_string())
        }
        EventData::SolutionProposed { message_id, text } | EventData::InformationRequested { message_id, text } => {
            (Some(*message_id), Party::Agent, agent_name(&e.event.actor), text.to_string())
        }
        _ => return None,
    };
    Some(ChatLine { seq: e.seq, message_id, from, name, text, at: e.event.at })
}

impl Desk {
    pub fn chat_config(&self) -> &ChatConfig {
        &self.config.chat
    }

    fn identity(&self, who: &ChatIdentity, language: Language) -> Result<(PlayerContact, Option<PersonName>)> {
        match who {
            ChatIdentity::Anonymous { name, email } => Ok((
                PlayerContact { external_id: None, name: Some(name.clone()), email: Some(email.clone()), phone: None, language: Some(language) },
                Some(name.clone()),
            )),
            ChatIdentity::Signed(token) => {
                let secret = self.config.chat.identity_secret.as_deref().ok_or(DeskError::InvalidIdentity(
                    "this desk accepts no signed identities (no [chat] identity_secret is set)".into(),
                ))?;
                let Identity { external_id, name, email, language: lang } =
                    verify_identity(token, secret, jiff::Timestamp::now(), self.config.chat.identity_max_age)
                        .map_err(|e| DeskError::InvalidIdentity(e.to_string()))?;
                Ok((
                    PlayerContact { external_id: Some(external_id), name: name.clone(), email, phone: None, language: Some(lang.unwrap_or(language)) },
                    name,
                ))
            }
        }
    }

    fn registration(&self, req: &StartChat, contact: PlayerContact, channel: Channel) -> Registration {
        let first_line = req.text.as_str().lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        Registration {
            kind: Kind::Complaint,
            channel,
            player: contact,
            subject: Subject::lossy(first_line).unwrap_or_else(|| Subject::parse("(chat)").expect("static text")),
            description: req.text.clone(),
            language: Some(req.language),
            department: req.department.clone().or_else(|| self.config.chat.default_department.clone()),
            category: None,
            priority: None,
            tags: Default::default(),
            segments: Default::default(),
        }
    }

    /// Starts a chat: registers the complaint, opens the session, and tells agents' consoles.
    pub async fn start_chat(&self, req: StartChat, client: Option<std::net::IpAddr>) -> Result<ChatStarted> {
        let (contact, name) = self.identity(&req.who, req.language)?;
        if let Some(d) = &req.department
            && !self.departments().await?.iter().any(|x| &x.code == d && x.active)
        {
            return Err(DomainError::invalid("department", "unknown_department", format!("there is no active department '{d}'")).into());
        }
        let reg = self.registration(&req, contact, Channel::Chat);
        reg.check()?;
        let complaint = self.register_once(&reg, self.chat_intake(&req, &reg, client).await?).await?;
        let seq = self.store.events_after(complaint.id, 0).await?.first().map_or(0, |e| e.seq);
        let (secret, _) = crate::auth::secret("omc_");
        let chat = Chat {
            id: Uuid::now_v7(),
            complaint_id: complaint.id,
            player_id: complaint.player_id,
            player_name: name,
            status: ChatStatus::Waiting,
            department: complaint.department.clone(),
            language: req.language,
            agent_id: None,
            created_at: now(),
            accepted_at: None,
            ended_at: None,
        };
        self.store.insert_chat(&chat, &secret_hash(&secret)).await?;
        metrics::counter!("ombuds_chats_started_total").increment(1);
        self.live().send(&LiveSignal::QueueChanged).await;
        Ok(ChatStarted { chat, secret, reference: complaint.reference, seq })
    }

    /// The offline form: a complaint answered by e-mail (channel `web`).
    pub async fn leave_message(&self, req: StartChat, client: Option<std::net::IpAddr>) -> Result<Complaint> {
        let (contact, _) = self.identity(&req.who, req.language)?;
        if contact.email.is_none() {
            return Err(DomainError::invalid("email", "required", "an e-mail address is needed to answer you").into());
        }
        let reg = self.registration(&req, contact, Channel::Web);
        reg.check()?;
        self.register_once(&reg, self.chat_intake(&req, &reg, client).await?).await
    }

    /// A signed identity is proven; an anonymous player's typed name and address are not, and
    /// count against the client address's and the typed address's budgets.
    async fn chat_intake(&self, req: &StartChat, reg: &Registration, client: Option<std::net::IpAddr>) -> Result<crate::IntakeOptions> {
        Ok(match req.who {
            ChatIdentity::Signed(_) => crate::IntakeOptions::PROVEN,
            ChatIdentity::Anonymous { .. } => {
                let source = if reg.channel == Channel::Chat { "chat" } else { "offline" };
                crate::IntakeOptions { proven: false, acknowledge: self.anonymous_budget(source, reg, client).await? }
            }
        })
    }

    async fn register_once(&self, reg: &Registration, options: crate::IntakeOptions) -> Result<Complaint> {
        for _ in 0..ATTEMPTS {
            match self.write_registration(Actor::System, reg, None, None, options).await? {
                Outcome::Registered(c) => return Ok(*c),
                Outcome::Refused(e) => return Err(e.into()),
                Outcome::Retry(why) => tracing::debug!(why, "registration raced; drawing again"),
                other => unreachable!("a registration cannot answer {other:?}"),
            }
        }
        Err(DeskError::Contention)
    }

    /// The chat `id` if `secret` is its secret (a wrong secret and an unknown chat look alike).
    pub async fn open_chat(&self, id: Uuid, secret: &str) -> Result<Chat> {
        let (chat, hash) = match self.store.chat(id).await {
            Ok(x) => x,
            Err(StoreError::NotFound) => return Err(DeskError::NotFound("chat")),
            Err(e) => return Err(e.into()),
        };
        // Both are SHA-256 digests: comparing them leaks nothing about the secret.
        if secret_hash(secret) != hash {
            return Err(DeskError::NotFound("chat"));
        }
        Ok(chat)
    }

    /// A chat an agent may work: one they may see the complaint of.
    pub async fn chat_for_agent(&self, who: &Principal, id: Uuid) -> Result<(Chat, Complaint)> {
        let (chat, _) = match self.store.chat(id).await {
            Ok(x) => x,
            Err(StoreError::NotFound) => return Err(DeskError::NotFound("chat")),
            Err(e) => return Err(e.into()),
        };
        let complaint = self.store.complaint(chat.complaint_id).await?;
        // A waiting chat is visible to whoever may take it from the queue.
        if !(who.may_view(&complaint) || chat.status == ChatStatus::Waiting && self.may_take(who, &chat)) {
            return Err(DeskError::NotFound("chat"));
        }
        Ok((chat, complaint))
    }

    pub async fn chat_complaint(&self, chat: &Chat) -> Result<Complaint> {
        Ok(self.store.complaint(chat.complaint_id).await?)
    }

    /// The transcript after `after`.
    pub async fn chat_lines(&self, chat: &Chat, after: i64) -> Result<Vec<ChatLine>> {
        let events = self.store.events_after(chat.complaint_id, after).await?;
        let names = self.chat_hub().agent_names(self).await;
        Ok(events.iter().filter_map(|e| line_of(e, chat, &names)).collect())
    }

    async fn say(&self, chat: &Chat, client_id: &ClientMessageId, actor: Actor, text: &Body, cmd: Command, who: Option<Principal>) -> Result<Said> {
        if chat.status == ChatStatus::Ended {
            return Err(DeskError::ChatEnded);
        }
        let message_id = message_id_of(chat.id, client_id);
        let text_hash = Sha256::new().chain_update(serde_json::to_vec(&actor).expect("actors serialise")).chain_update(text.as_str()).finalize().to_vec();
        let key = IdempotencyKey { principal: format!("chat:{}", chat.id), key: client_id.as_str().to_string(), request_hash: text_hash };
        let departments = self.departments().await?;
        let sla = self.sla();
        let decide: Decide = Box::new(move |current: &Complaint| {
            if let Some(who) = &who {
                if !who.may_view(current) {
                    return Err(DomainError::Forbidden("the complaint has moved out of your reach meanwhile".into()));
                }
                who.may_apply(current, &cmd)?;
            }
            let mut first = Some(message_id);
            let mut new_id = move || first.take().unwrap_or_else(Uuid::now_v7);
            let mut ctx = Ctx { now: now(), actor: actor.clone(), departments: &departments, sla: &sla, new_id: &mut new_id };
            command::change(current, &cmd, &mut ctx)
        });
        let req = ChangeRequest { complaint_id: chat.complaint_id, decide, idempotency: Some(key), mail: None, uploads: vec![] };
        match self.store.write(WriteOp::Change(req)).await? {
            Outcome::Changed(_) | Outcome::Unchanged(_) => {
                metrics::counter!("ombuds_chat_messages_total").increment(1);
                self.jobs_ready.notify_waiters();
                Ok(Said::Stored { message_id })
            }
            Outcome::Replayed { .. } => {
                let seq = self.store.events_after(chat.complaint_id, 0).await?.iter().find(|e| line_message_id(e) == Some(message_id)).map(|e| e.seq);
                Ok(Said::Again { message_id, seq: seq.unwrap_or(0) })
            }
            Outcome::KeyReused => Err(DomainError::invalid("client_id", "client_id_reused", "this client_id was used for another message").into()),
            Outcome::Refused(DomainError::IllegalTransition { .. }) => Err(DeskError::ChatEnded),
            Outcome::Refused(e) => Err(e.into()),
            Outcome::Missing => Err(DeskError::NotFound("chat")),
            other => unreachable!("a change cannot answer {other:?}"),
        }
    }

    pub async fn player_says(&self, chat: &Chat, client_id: &ClientMessageId, text: Body) -> Result<Said> {
        let cmd = Command::RecordPlayerReply { channel: Some(Channel::Chat), text: text.clone() };
        self.say(chat, client_id, Actor::Player { id: chat.player_id }, &text, cmd, None).await
    }

    pub async fn agent_says(&self, who: &Principal, chat: &Chat, client_id: &ClientMessageId, text: Body) -> Result<Said> {
        let Principal::Agent(agent) = who else { return Err(DomainError::Forbidden("only agents chat with players".into()).into()) };
        if chat.agent_id != Some(agent.id) && agent.role == Role::Agent {
            return Err(DomainError::Forbidden("accept the chat before writing in it".into()).into());
        }
        let cmd = Command::AddMessage { kind: MessageKind::Outbound, channel: Some(Channel::Chat), body: text.clone() };
        self.say(chat, client_id, who.actor(), &text, cmd, Some(who.clone())).await
    }

    fn may_take(&self, who: &Principal, chat: &Chat) -> bool {
        let Principal::Agent(a) = who else { return false };
        a.active
            && (a.role == Role::Admin || chat.department.as_ref().is_none_or(|d| a.departments.contains(d)))
            && (a.languages.is_empty() || a.languages.contains(&chat.language))
    }

    /// The waiting chats `who` may take, oldest first.
    pub async fn chat_queue(&self, who: &Principal) -> Result<Vec<QueuedChat>> {
        Ok(self.store.waiting_chats(500).await?.into_iter().filter(|q| self.may_take(who, &q.chat)).collect())
    }

    pub async fn agent_chats(&self, who: &Principal) -> Result<Vec<Chat>> {
        let Principal::Agent(a) = who else { return Ok(vec![]) };
        Ok(self.store.active_chats_of(a.id).await?)
    }

    /// Takes a waiting chat: the complaint is routed (if it was not) and assigned to `who`.
    pub async fn accept_chat(&self, who: &Principal, id: Uuid) -> Result<Chat> {
        let Principal::Agent(agent) = who else { return Err(DomainError::Forbidden("only agents take chats".into()).into()) };
        let (chat, complaint) = self.chat_for_agent(who, id).await?;
        if !self.may_take(who, &chat) {
            return Err(DomainError::Forbidden("this chat is for another department or language".into()).into());
        }
        if !self.store.accept_chat(id, agent.id, now()).await? {
            return Err(DeskError::AlreadyTaken);
        }
        self.assign_chat(agent, &complaint).await;
        self.live().send(&LiveSignal::QueueChanged).await;
        self.live().send(&LiveSignal::ChatChanged { chat_id: id, complaint_id: chat.complaint_id }).await;
        Ok(self.store.chat(id).await?.0)
    }

    /// Routes (when unrouted) and assigns the chat's complaint; the chat works without it, so
    /// a refusal is logged, not returned.
    async fn assign_chat(&self, agent: &Agent, complaint: &Complaint) {
        if complaint.department.is_none()
            && let Some(d) = agent.departments.iter().next()
            && let Err(e) = self.apply_as_system(complaint.id, Command::Route { department: d.clone(), category: None }).await
        {
            tracing::info!(error = %e, complaint = %complaint.reference, "a chat's complaint could not be routed to the accepting agent's department");
        }
        if let Err(e) = self.apply_as_system(complaint.id, Command::Assign { agent: agent.clone() }).await {
            tracing::info!(error = %e, complaint = %complaint.reference, "a chat's complaint could not be assigned to the accepting agent");
        }
    }

    /// A command the chat queue itself takes (routing and assigning what an agent accepted or
    /// was handed); the core still checks it against the complaint as it stands.
    async fn apply_as_system(&self, complaint_id: Uuid, cmd: Command) -> Result<()> {
        let departments = self.departments().await?;
        let sla = self.sla();
        let decide: Decide = Box::new(move |current: &Complaint| {
            let mut new_id = Uuid::now_v7;
            let mut ctx = Ctx { now: now(), actor: Actor::System, departments: &departments, sla: &sla, new_id: &mut new_id };
            command::change(current, &cmd, &mut ctx)
        });
        match self.store.write(WriteOp::Change(ChangeRequest::new(complaint_id, decide))).await? {
            Outcome::Changed(_) | Outcome::Unchanged(_) => Ok(()),
            Outcome::Refused(e) => Err(e.into()),
            Outcome::Missing => Err(DeskError::NotFound("complaint")),
            other => unreachable!("a change cannot answer {other:?}"),
        }
    }

    /// Hands a chat to an agent or back to a department's queue. Only the agent holding it, or
    /// a supervisor or administrator, may (`Principal::may_hand_over_chat`); each step is
    /// conditional on the holder read here, so a chat that changed hands meanwhile is refused.
    pub async fn transfer_chat(&self, who: &Principal, id: Uuid, to: TransferTo) -> Result<Chat> {
        if !matches!(who, Principal::Agent(_)) {
            return Err(DomainError::Forbidden("only agents transfer chats".into()).into());
        }
        let (chat, complaint) = self.chat_for_agent(who, id).await?;
        if chat.status == ChatStatus::Ended {
            return Err(DeskError::ChatEnded);
        }
        who.may_hand_over_chat(chat.agent_id)?;
        match to {
            TransferTo::Agent(login) => {
                let (target, _) = self
                    .store
                    .agent_credentials(&login)
                    .await?
                    .ok_or_else(|| DeskError::Domain(DomainError::invalid("agent", "unknown_agent", format!("there is no agent '{login}'"))))?;
                let as_target = Principal::Agent(target.clone());
                if !target.active || !self.may_take(&as_target, &chat) {
                    return Err(DomainError::invalid("agent", "agent_cannot_take", format!("'{login}' does not work this chat's department or language")).into());
                }
                let holder = chat.agent_id.ok_or(DeskError::ChatNotActive)?;
                if !self.store.hand_chat_to_agent(id, holder, target.id, now()).await? {
                    return Err(DeskError::ChatNotActive);
                }
                self.assign_chat(&target, &complaint).await;
                self.live().to_agent(target.id, serde_json::json!({"type": "chat_assigned", "chat_id": id})).await;
            }
            TransferTo::Department(d) => {
                if !self.departments().await?.iter().any(|x| x.code == d && x.active) {
                    return Err(DomainError::invalid("department", "unknown_department", format!("there is no active department '{d}'")).into());
                }
                if !self.store.requeue_chat(id, chat.agent_id, &d, now()).await? {
                    return Err(match self.store.chat(id).await?.0.status {
                        ChatStatus::Ended => DeskError::ChatEnded,
                        _ => DeskError::Conflict("the chat changed hands meanwhile; look again".into()),
                    });
                }
                if let Err(e) = self.apply_as_system(complaint.id, Command::Route { department: d, category: None }).await {
                    tracing::info!(error = %e, complaint = %complaint.reference, "a transferred chat's complaint could not be routed");
                }
                self.live().send(&LiveSignal::QueueChanged).await;
            }
        }
        self.live().send(&LiveSignal::ChatChanged { chat_id: id, complaint_id: chat.complaint_id }).await;
        Ok(self.store.chat(id).await?.0)
    }

    /// Ends a chat (either side). The complaint stays open for the agent to resolve.
    pub async fn end_chat(&self, chat: &Chat) -> Result<Chat> {
        let was_waiting = chat.status == ChatStatus::Waiting;
        if !self.store.end_chat(chat.id, now()).await? {
            return Err(DeskError::ChatEnded);
        }
        if was_waiting {
            self.live().send(&LiveSignal::QueueChanged).await;
        }
        self.live().send(&LiveSignal::ChatChanged { chat_id: chat.id, complaint_id: chat.complaint_id }).await;
        Ok(self.store.chat(chat.id).await?.0)
    }

    pub async fn typing(&self, chat: &Chat, party: Party, on: bool) {
        self.live().send(&LiveSignal::Typing { chat_id: chat.id, complaint_id: chat.complaint_id, party, on }).await;
    }

    /// Whether an agent for `department` (any, when `None`) who speaks `language` is online.
    pub async fn chat_availability(&self, department: Option<&DepartmentCode>, language: Language) -> Result<Availability> {
        let online = self.store.online_agents(now() - PRESENCE_TTL).await?;
        let agents = self.agents().await?;
        let probe = Chat {
            id: Uuid::nil(),
            complaint_id: Uuid::nil(),
            player_id: Uuid::nil(),
            player_name: None,
            status: ChatStatus::Waiting,
            department: department.cloned().or_else(|| self.config.chat.default_department.clone()),
            language,
            agent_id: None,
            created_at: now(),
            accepted_at: None,
            ended_at: None,
        };
        let n = agents.into_iter().filter(|a| online.contains(&a.id) && self.may_take(&Principal::Agent(a.clone()), &probe)).count();
        Ok(Availability { online: n > 0, agents: n })
    }

    /// An agent's console connected (`+1`) or went away (`-1`) on this node.
    pub async fn agent_presence(&self, agent: Uuid, delta: i64) {
        {
            let _ordered = self.presence_writes.lock().await;
            let count = self.chat_hub().presence(agent, delta);
            if let Err(e) = self.store.set_presence(agent, &self.store.bus().node().to_string(), count, now()).await {
                tracing::warn!(error = %e, "agent presence could not be recorded");
            }
        }
        self.live().send(&LiveSignal::QueueChanged).await;
    }
}

fn line_message_id(e: &StoredEvent) -> Option<Uuid> {
    match &e.event.data {
        EventData::PlayerReplied { message_id, .. } | EventData::MessageAdded { message_id, .. } => Some(*message_id),
        _ => None,
    }
}

// ------------------------------------------------------------------------------ the hub

/// What a connection watching a chat, an agent or the queue receives.
#[derive(Debug, Clone)]
pub enum ChatFeed {
    Event(Arc<StoredEvent>),
    Signal(Arc<LiveSignal>),
    /// Something was dropped for this watcher: read again from the store.
    Lagged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Watch {
    Complaint(Uuid),
    Agent(Uuid),
    Queue,
}

struct Watcher {
    id: u64,
    tx: mpsc::Sender<ChatFeed>,
    lagged: Arc<AtomicBool>,
}

#[derive(Default)]
struct HubState {
    watchers: HashMap<Watch, Vec<Watcher>>,
    presence: HashMap<Uuid, i64>,
    names: HashMap<Uuid, String>,
}

pub struct ChatHub {
    state: Arc<Mutex<HubState>>,
    next: AtomicU64,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ChatHub {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Keeps a connection's watches; dropping it removes them.
pub struct Subscription {
    state: Arc<Mutex<HubState>>,
    id: u64,
    tx: mpsc::Sender<ChatFeed>,
    lagged: Arc<AtomicBool>,
    watches: Vec<Watch>,
}

impl Subscription {
    pub fn watch(&mut self, w: Watch) {
        if self.watches.contains(&w) {
            return;
        }
        self.watches.push(w);
        let mut s = self.state.lock().expect("hub lock");
        s.watchers.entry(w).or_default().push(Watcher { id: self.id, tx: self.tx.clone(), lagged: self.lagged.clone() });
    }

    pub fn unwatch(&mut self, w: Watch) {
        self.watches.retain(|x| *x != w);
        let mut s = self.state.lock().expect("hub lock");
        if let Some(v) = s.watchers.get_mut(&w) {
            v.retain(|x| x.id != self.id);
            if v.is_empty() {
                s.watchers.remove(&w);
            }
        }
    }

    /// True (once) when something was dropped since the last call: re-read from the store.
    pub fn take_lagged(&self) -> bool {
        self.lagged.swap(false, Ordering::AcqRel)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut s = self.state.lock().expect("hub lock");
        for w in &self.watches {
            if let Some(v) = s.watchers.get_mut(w) {
                v.retain(|x| x.id != self.id);
                if v.is_empty() {
                    s.watchers.remove(w);
                }
            }
        }
    }
}

/// Each watcher's queue; a watcher this far behind is told to catch up from the store.
pub const FEED_CAPACITY: usize = 256;

impl ChatHub {
    pub(crate) fn start(store: &ombuds_store::Store, live: broadcast::Receiver<LiveSignal>) -> ChatHub {
        let state = Arc::new(Mutex::new(HubState::default()));
        let mut events = store.bus().events();
        let mut live = live;
        let st = state.clone();
        let dispatch = tokio::spawn(async move {
            loop {
                tokio::select! {
                    e = events.recv() => match e {
                        Ok(e) => deliver(&st, Watch::Complaint(e.event.complaint_id), ChatFeed::Event(e)),
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "chat hub lagged behind the committed events; watchers catch up from the store");
                            lag_all(&st);
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    s = live.recv() => match s {
                        Ok(s) => {
                            let to = match &s {
                                LiveSignal::ToAgent { agent_id, .. } => Watch::Agent(*agent_id),
                                LiveSignal::Typing { complaint_id, .. } | LiveSignal::ChatChanged { complaint_id, .. } => Watch::Complaint(*complaint_id),
                                LiveSignal::QueueChanged => Watch::Queue,
                                LiveSignal::CredentialsChanged { agent_id: Some(a) } => Watch::Agent(*a),
                                LiveSignal::CredentialsChanged { agent_id: None } => continue,
                                LiveSignal::RoutingChanged | LiveSignal::SlaChanged | LiveSignal::FaqChanged | LiveSignal::TemplatesChanged | LiveSignal::DepartmentsChanged => continue,
                            };
                            deliver(&st, to, ChatFeed::Signal(Arc::new(s)));
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => lag_all(&st),
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        });
        // Keeps this node's presence rows fresh (a node that dies stops refreshing them).
        let st = state.clone();
        let store2 = store.clone();
        let heartbeat = tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            loop {
                tick.tick().await;
                let here: Vec<(Uuid, i64)> = st.lock().expect("hub lock").presence.iter().map(|(a, n)| (*a, *n)).collect();
                let node = store2.bus().node().to_string();
                for (agent, n) in here {
                    if let Err(e) = store2.set_presence(agent, &node, n, now()).await {
                        tracing::debug!(error = %e, "presence heartbeat failed");
                    }
                }
            }
        });
        ChatHub { state, next: AtomicU64::new(1), tasks: vec![dispatch, heartbeat] }
    }

    /// A new connection's subscription and the queue its feed arrives on.
    pub fn subscribe(&self) -> (Subscription, mpsc::Receiver<ChatFeed>) {
        let (tx, rx) = mpsc::channel(FEED_CAPACITY);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        (Subscription { state: self.state.clone(), id, tx, lagged: Arc::new(AtomicBool::new(false)), watches: vec![] }, rx)
    }

    fn presence(&self, agent: Uuid, delta: i64) -> i64 {
        let mut s = self.state.lock().expect("hub lock");
        let n = s.presence.entry(agent).or_insert(0);
        *n = (*n + delta).max(0);
        let n = *n;
        if n == 0 {
            s.presence.remove(&agent);
        }
        n
    }

    /// Agents' display names, read once and again when an unknown agent appears.
    pub async fn agent_names(&self, desk: &Desk) -> HashMap<Uuid, String> {
        let known = self.state.lock().expect("hub lock").names.clone();
        if !known.is_empty() {
            return known;
        }
        self.refresh_names(desk).await
    }

    pub async fn refresh_names(&self, desk: &Desk) -> HashMap<Uuid, String> {
        let names: HashMap<Uuid, String> = match desk.agents().await {
            Ok(list) => list.into_iter().map(|a| (a.id, a.name.to_string())).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "agent names could not be read");
                HashMap::new()
            }
        };
        self.state.lock().expect("hub lock").names = names.clone();
        names
    }
}

fn deliver(state: &Mutex<HubState>, to: Watch, feed: ChatFeed) {
    let s = state.lock().expect("hub lock");
    let Some(list) = s.watchers.get(&to) else { return };
    for w in list {
        if w.tx.try_send(feed.clone()).is_err() {
            // Full (or closing): the watcher catches up from the store when it drains.
            w.lagged.store(true, Ordering::Release);
        }
    }
}

fn lag_all(state: &Mutex<HubState>) {
    let s = state.lock().expect("hub lock");
    for list in s.watchers.values() {
        for w in list {
            w.lagged.store(true, Ordering::Release);
            let _ = w.tx.try_send(ChatFeed::Lagged);
        }
    }
}
