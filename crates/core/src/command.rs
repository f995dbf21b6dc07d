//! Commands → events. `register` starts a complaint; `decide` checks one command against the
//! lifecycle and returns the events it causes; `Complaint::apply` folds an event into the row.
//! Nothing here touches the outside world: ids and the clock come in through `Ctx`.

use crate::error::DomainError;
use crate::event::{Event, EventData};
use crate::fields::*;
use crate::model::*;
use crate::reference::ComplaintRef;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

/// Everything outside the complaint that a decision may look at, supplied by the desk.
pub struct Ctx<'a> {
    pub now: Timestamp,
    pub actor: Actor,
    pub departments: &'a [Department],
    /// Calendars and SLA policies.
    pub sla: &'a crate::sla::Sla,
    /// Fresh ids for events and messages (UUIDv7 in production, a counter in tests).
    pub new_id: &'a mut (dyn FnMut() -> Uuid + Send),
}

impl Ctx<'_> {
    fn department(&self, code: &DepartmentCode, field: &str) -> Result<(), DomainError> {
        match self.departments.iter().find(|d| &d.code == code) {
            Some(d) if d.active => Ok(()),
            Some(_) => Err(DomainError::invalid(field, "inactive_department", format!("department '{code}' is inactive"))),
            None => Err(DomainError::invalid(field, "unknown_department", format!("there is no department '{code}'"))),
        }
    }
}

/// A new complaint as it arrives, already parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub kind: Kind,
    pub channel: Channel,
    pub player: PlayerContact,
    pub subject: Subject,
    pub description: Body,
    pub language: Option<Language>,
    pub department: Option<DepartmentCode>,
    pub category: Option<Category>,
    pub priority: Option<Priority>,
    pub tags: BTreeSet<Tag>,
    /// The player's segments as the operator knows them (`vip`, `new`, …): routing rules may
    /// test them; they are not stored on the complaint.
    #[serde(default)]
    pub segments: BTreeSet<Tag>,
}

impl Registration {
    pub fn check(&self) -> Result<(), DomainError> {
        let p = &self.player;
        if p.external_id.is_none() && p.email.is_none() && p.phone.is_none() {
            return Err(DomainError::invalid(
                "player",
                "contact_required",
                "give at least one of external_id, email or phone so the player can be identified and answered",
            ));
        }
        if self.channel == Channel::Email && p.email.is_none() {
            return Err(DomainError::invalid("player.email", "required", "a complaint received by e-mail needs the player's e-mail"));
        }
        if self.category.is_some() && self.department.is_none() {
            return Err(DomainError::invalid("category", "department_required", "a category needs a department"));
        }
        Ok(())
    }
}

/// What a registration or a command decided: the complaint after it, the events to record,
/// the thread messages those events carry and the outbox jobs they call for.
#[derive(Debug, Clone)]
pub struct Decision {
    pub complaint: Complaint,
    pub events: Vec<Event>,
    pub messages: Vec<Message>,
    pub jobs: Vec<Job>,
}

impl Decision {
    /// Folds `events` into `complaint`, one version further on.
    fn new(mut complaint: Complaint, events: Vec<Event>) -> Decision {
        let timer_before = complaint.next_sla_instant();
        for e in &events {
            complaint.apply(e);
        }
        complaint.version += 1;
        let messages = events.iter().filter_map(|e| e.message(complaint.channel)).collect();
        let mut jobs: Vec<Job> = events.iter().filter_map(jobs_for).collect();
        // One timer per complaint at a time: at its next SLA instant, set again whenever that
        // instant changes. A timer made stale by a later change finds nothing due and records
        // nothing.
        if let Some(at) = complaint.next_sla_instant()
            && Some(at) != timer_before
        {
            jobs.push(Job::SlaTimer { complaint_id: complaint.id, at });
        }
        Decision { complaint, events, messages, jobs }
    }

    /// The version the complaint had when the decision was taken.
    pub fn base_version(&self) -> i64 {
        self.complaint.version - 1
    }
}

/// What automatic routing (rules, then the classifier) decided for a new complaint. The
/// registration's own fields win over it; it fills what the registration left open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutoRoute {
    pub department: Option<DepartmentCode>,
    pub category: Option<Category>,
    pub priority: Option<Priority>,
    pub tags: BTreeSet<Tag>,
    /// An agent to assign: only when the complaint ends up in a department the agent works in.
    pub assignee: Option<Agent>,
    /// Recorded on the `routed` event: `rule:<name>` or `classifier:<confidence>`.
    pub by: Option<String>,
    /// The language detected in the text, used when neither the registration nor the player's
    /// contact names one.
    pub detected_language: Option<Language>,
}

/// Registers a complaint for a known player. The desk resolves `player_id` (matching or creating
/// the player) and draws the reference.
pub fn register(
    reg: &Registration,
    id: Uuid,
    reference: ComplaintRef,
    player_id: Uuid,
    ctx: &mut Ctx<'_>,
) -> Result<Decision, DomainError> {
    register_routed(reg, &AutoRoute::default(), id, reference, player_id, ctx)
}

/// Registers a complaint and applies what automatic routing decided where the registration is
/// silent. An automatic department that is unknown or inactive is ignored (rules are checked when
/// saved, but a department may be deactivated later): the complaint stays unrouted rather than
/// being refused.
pub fn register_routed(
    reg: &Registration,
    auto: &AutoRoute,
    id: Uuid,
    reference: ComplaintRef,
    player_id: Uuid,
    ctx: &mut Ctx<'_>,
) -> Result<Decision, DomainError> {
    reg.check()?;
    if let Some(d) = &reg.department {
        ctx.department(d, "department")?;
    }
    let language = reg.language.or(reg.player.language).or(auto.detected_language).unwrap_or(Language::Ru);
    let complaint = Complaint {
        id,
        reference,
        kind: reg.kind,
        status: Status::New,
        channel: reg.channel,
        player_id,
        subject: reg.subject.clone(),
        description: reg.description.clone(),
        language,
        department: None,
        category: None,
        priority: Priority::Normal,
        assignee: None,
        tags: BTreeSet::new(),
        escalation: None,
        resolution: None,
        created_at: ctx.now,
        updated_at: ctx.now,
        first_response_at: None,
        resolved_at: None,
        closed_at: None,
        version: 0,
        sla: None,
        rating: None,
        merged_into: None,
    };
    let mut tags = reg.tags.clone();
    for t in &auto.tags {
        if tags.len() >= MAX_TAGS {
            break;
        }
        tags.insert(t.clone());
    }
    let mut data = vec![EventData::Registered {
        reference,
        kind: reg.kind,
        channel: reg.channel,
        player_id,
        subject: reg.subject.clone(),
        description: reg.description.clone(),
        language,
        priority: reg.priority.or(auto.priority).unwrap_or(Priority::Normal),
        tags,
    }];
    let routed = match (&reg.department, &auto.department) {
        (Some(d), _) => Some((d.clone(), reg.category.clone(), None)),
        (None, Some(d)) if ctx.department(d, "department").is_ok() => Some((d.clone(), auto.category.clone(), auto.by.clone())),
        _ => None,
    };
    if let Some((department, category, by)) = routed {
        let assignee = auto
            .assignee
            .as_ref()
            .filter(|a| a.active && (a.role == Role::Admin || a.departments.contains(&department)))
            .map(|a| a.id);
        data.push(EventData::Routed { department, category, previous: None, by });
        if let Some(agent) = assignee {
            data.push(EventData::Assigned { agent, previous: None });
        }
    }
    // The clocks start now, in the calendar of the department it lands in, with the policy of
    // its priority and kind.
    let mut folded = complaint.clone();
    for e in stamp(data.clone(), id, ctx) {
        folded.apply(&e);
    }
    let targets = ctx.sla.targets(folded.department.as_ref(), folded.priority, folded.kind, folded.channel);
    data.push(EventData::SlaSet { clocks: ctx.sla.clocks(folded.department.as_ref(), targets, ctx.now, jiff::SignedDuration::ZERO, false) });
    Ok(Decision::new(complaint, stamp(data, id, ctx)))
}

/// One change to an existing complaint. `A` is how the command names an agent: adapters state
/// it by id (`Command<Uuid>`); the desk looks the agent up before the core decides (`Command`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<A = Agent> {
    Route { department: DepartmentCode, category: Option<Category> },
    /// The core checks the agent may work the complaint's department.
    Assign { agent: A },
    Unassign,
    AddMessage { kind: MessageKind, channel: Option<Channel>, body: Body },
    ProposeSolution { text: Body },
    RequestInformation { text: Body },
    RecordPlayerReply { channel: Option<Channel>, text: Body },
    Resolve { measures: Body, result: Body },
    Close,
    Reopen { reason: Body },
    Escalate { level: EscalationLevel, reason: Body },
    Deescalate { note: Option<Body> },
    ChangePriority { priority: Priority },
    Tag { add: BTreeSet<Tag>, remove: BTreeSet<Tag> },
    /// The outbox gave up delivering a notice (ombuds itself records this, never a person).
    RecordDeliveryFailure { notice: String, message_id: Option<Uuid>, recipient: Option<String>, reason: String },
    /// A timer fired: raise the SLA alarms that are due (ombuds itself, never a person).
    CheckSla,
    /// The player rates the resolution, once per resolution.
    Rate { score: CsatScore, comment: Option<Body> },
}

impl<A> Command<A> {
    /// The same command with its agent resolved by `f` (the only field that differs).
    pub fn resolve_agent<B, E>(self, f: impl FnOnce(A) -> Result<B, E>) -> Result<Command<B>, E> {
        use Command::*;
        Ok(match self {
            Assign { agent } => Assign { agent: f(agent)? },
            Route { department, category } => Route { department, category },
            Unassign => Unassign,
            AddMessage { kind, channel, body } => AddMessage { kind, channel, body },
            ProposeSolution { text } => ProposeSolution { text },
            RequestInformation { text } => RequestInformation { text },
            RecordPlayerReply { channel, text } => RecordPlayerReply { channel, text },
            Resolve { measures, result } => Resolve { measures, result },
            Close => Close,
            Reopen { reason } => Reopen { reason },
            Escalate { level, reason } => Escalate { level, reason },
            Deescalate { note } => Deescalate { note },
            ChangePriority { priority } => ChangePriority { priority },
            Tag { add, remove } => Tag { add, remove },
            RecordDeliveryFailure { notice, message_id, recipient, reason } => RecordDeliveryFailure { notice, message_id, recipient, reason },
            CheckSla => CheckSla,
            Rate { score, comment } => Rate { score, comment },
        })
    }
}

impl<A> Command<A> {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Route { .. } => "route",
            Command::Assign { .. } => "assign",
            Command::Unassign => "unassign",
            Command::AddMessage { .. } => "add a message to",
            Command::ProposeSolution { .. } => "propose a solution for",
            Command::RequestInformation { .. } => "request information on",
            Command::RecordPlayerReply { .. } => "record a player reply on",
            Command::Resolve { .. } => "resolve",
            Command::Close => "close",
            Command::Reopen { .. } => "reopen",
            Command::Escalate { .. } => "escalate",
            Command::Deescalate { .. } => "de-escalate",
            Command::ChangePriority { .. } => "change the priority of",
            Command::Tag { .. } => "tag",
            Command::RecordDeliveryFailure { .. } => "record a delivery failure on",
            Command::CheckSla => "check the SLA of",
            Command::Rate { .. } => "rate",
        }
    }
}

fn stamp(data: Vec<EventData>, complaint_id: Uuid, ctx: &mut Ctx<'_>) -> Vec<Event> {
    data.into_iter()
        .map(|data| Event { id: (ctx.new_id)(), complaint_id, at: ctx.now, actor: ctx.actor.clone(), data })
        .collect()
}

/// Decides `cmd` against the complaint and folds the result: `None` when it changes nothing.
pub fn change(c: &Complaint, cmd: &Command, ctx: &mut Ctx<'_>) -> Result<Option<Decision>, DomainError> {
    let mut events = decide(c, cmd, ctx)?;
    if events.is_empty() {
        return Ok(None);
    }
    let follow = sla_follow_up(c, &events, ctx);
    events.extend(stamp(follow, c.id, ctx));
    Ok(Some(Decision::new(c.clone(), events)))
}

/// Merges the duplicate `source` into `target`: the source is closed (its clocks stop) and
/// points at the target, whose thread now shows the source's; the target records where the
/// duplicate came from. `note`, when given, is said to the player on the source's thread first
/// (e-mail threads get it as a reply), so they know where their request went on.
///
/// Only one player's complaints merge: a merged thread is shown whole to the player on the
/// tracking page, so merging two players' complaints would show each the other's messages.
pub fn merge(source: &Complaint, target: &Complaint, note: Option<&Body>, ctx: &mut Ctx<'_>) -> Result<(Decision, Decision), DomainError> {
    if source.id == target.id {
        return Err(DomainError::invalid("target", "same_complaint", "a complaint cannot be merged into itself"));
    }
    let illegal = |why: String| DomainError::IllegalTransition { action: "merge", status: source.status, why };
    if let Some(m) = &source.merged_into {
        return Err(illegal(format!("it is already merged into {}", m.reference)));
    }
    if source.status == Status::Closed {
        return Err(illegal("a closed complaint stays as it is; reopen it first".into()));
    }
    if !target.status.is_open() {
        return Err(DomainError::invalid(
            "target",
            "target_not_open",
            format!("{} is {}: reopen it first, or merge it into this one instead", target.reference, target.status),
        ));
    }
    if source.player_id != target.player_id {
        return Err(DomainError::invalid(
            "target",
            "different_player",
            format!(
                "{} belongs to another player: only one player's complaints can be merged (each would see the other's thread)",
                target.reference
            ),
        ));
    }
    let mut data = vec![];
    if let Some(text) = note {
        data.push(EventData::MessageAdded { message_id: (ctx.new_id)(), kind: MessageKind::Outbound, channel: source.channel, body: text.clone() });
    }
    data.push(EventData::MergedInto { target: target.id, reference: target.reference });
    let from = stamp(data, source.id, ctx);
    let into = stamp(vec![EventData::MergedFrom { source: source.id, reference: source.reference }], target.id, ctx);
    Ok((Decision::new(source.clone(), from), Decision::new(target.clone(), into)))
}

/// What the SLA clocks do after `events`: pause when the complaint starts waiting on the player,
/// resume (deadlines moved on by the working time waited) when it stops, recount when its
/// department or priority changes, start afresh when it is reopened, and set the dispute
/// deadline when it is first escalated.
fn sla_follow_up(before: &Complaint, events: &[Event], ctx: &Ctx<'_>) -> Vec<EventData> {
    use Status::*;
    let mut after = before.clone();
    for e in events {
        after.apply(e);
    }
    let Some(clocks) = after.sla.clone() else { return vec![] };
    let sla = ctx.sla;
    let recount = |c: &Complaint, paused: jiff::SignedDuration, start: Timestamp, first_done: bool, keep: &crate::sla::SlaClocks| {
        let targets = sla.targets(c.department.as_ref(), c.priority, c.kind, c.channel);
        let mut n = sla.clocks(c.department.as_ref(), targets, start, paused, first_done);
        n.alarms = keep.alarms.clone();
        n.dispute_deadline = keep.dispute_deadline;
        n
    };
    let paused = jiff::SignedDuration::from_secs(clocks.paused);
    let mut out = vec![];
    let reopened = !before.status.is_open() && after.status.is_open();
    if reopened {
        // A new cycle: the resolution and hard-limit clocks start again from now.
        let mut n = recount(&after, jiff::SignedDuration::ZERO, ctx.now, true, &clocks);
        n.alarms.clear();
        out.push(EventData::SlaSet { clocks: n });
    } else if after.status == WaitingOnPlayer && clocks.paused_since.is_none() {
        out.push(EventData::SlaPaused);
    } else if after.status.is_open() && after.status != WaitingOnPlayer && let Some(since) = clocks.paused_since {
        let waited = sla.calendar(after.department.as_ref()).working_between(since, ctx.now);
        let n = recount(&after, paused + waited, clocks.started_at.unwrap_or(before.created_at), after.first_response_at.is_some(), &clocks);
        out.push(EventData::SlaSet { clocks: n });
    } else if after.status.is_open()
        && clocks.paused_since.is_none()
        && (after.department != before.department || after.priority != before.priority)
    {
        let n = recount(&after, paused, clocks.started_at.unwrap_or(before.created_at), after.first_response_at.is_some(), &clocks);
        if n != clocks {
            out.push(EventData::SlaSet { clocks: n });
        }
    }
    if after.escalation.is_some() && before.escalation.is_none() && clocks.dispute_deadline.is_none()
        && let Some(deadline) = sla.dispute_deadline(before.created_at)
    {
        let mut n = match out.last() {
            Some(EventData::SlaSet { clocks }) => clocks.clone(),
            _ => clocks.clone(),
        };
        n.dispute_deadline = Some(deadline);
        if let Some(EventData::SlaSet { clocks }) = out.last_mut() {
            *clocks = n;
        } else {
            // A pause in the same change keeps its place; the deadline follows it.
            if matches!(out.last(), Some(EventData::SlaPaused)) {
                n.paused_since = Some(ctx.now);
            }
            out.push(EventData::SlaSet { clocks: n });
        }
    }
    out
}

/// Checks `cmd` against the complaint's state and returns the events it causes. An empty list
/// means the command changes nothing (assigning the current assignee, say): nothing is written.
pub fn decide(c: &Complaint, cmd: &Command, ctx: &mut Ctx<'_>) -> Result<Vec<Event>, DomainError> {
    use Status::*;
    let illegal = |why: &str| DomainError::IllegalTransition { action: cmd.name(), status: c.status, why: why.to_string() };
    let data = match cmd {
        Command::Route { department, category } => {
            if !c.status.is_open() {
                return Err(illegal("reopen it first"));
            }
            ctx.department(department, "department")?;
            if c.department.as_ref() == Some(department) && (category.is_none() || &c.category == category) {
                vec![]
            } else {
                vec![EventData::Routed {
                    department: department.clone(),
                    category: category.clone(),
                    previous: c.department.clone(),
                    by: None,
                }]
            }
        }
        Command::Assign { agent } => {
            if !c.status.is_open() {
                return Err(illegal("reopen it first"));
            }
            let Some(department) = &c.department else {
                return Err(illegal("route it to a department first"));
            };
            if !agent.active {
                return Err(DomainError::invalid("agent", "inactive_agent", format!("agent '{}' is disabled", agent.login)));
            }
            if agent.role != Role::Admin && !agent.departments.contains(department) {
                return Err(DomainError::invalid(
                    "agent",
                    "agent_not_in_department",
                    format!("agent '{}' does not work in department '{department}'", agent.login),
                ));
            }
            if c.assignee == Some(agent.id) {
                vec![]
            } else {
                vec![EventData::Assigned { agent: agent.id, previous: c.assignee }]
            }
        }
        Command::Unassign => match c.assignee {
            None => vec![],
            Some(_) if !c.status.is_open() => return Err(illegal("reopen it first")),
            Some(previous) => vec![EventData::Unassigned { previous }],
        },
        Command::AddMessage { kind, channel, body } => {
            if c.status == Closed && *kind != MessageKind::Note {
                return Err(illegal("a closed complaint takes only internal notes; reopen it to write to the player"));
            }
            vec![EventData::MessageAdded {
                message_id: (ctx.new_id)(),
                kind: *kind,
                channel: channel.unwrap_or(c.channel),
                body: body.clone(),
            }]
        }
        Command::ProposeSolution { text } => {
            if !matches!(c.status, Routed | InProgress | WaitingOnPlayer) {
                return Err(illegal(match c.status {
                    New => "route it to a department first",
                    _ => "reopen it first",
                }));
            }
            vec![EventData::SolutionProposed { message_id: (ctx.new_id)(), text: text.clone() }]
        }
        Command::RequestInformation { text } => {
            if !matches!(c.status, Routed | InProgress | WaitingOnPlayer) {
                return Err(illegal(match c.status {
                    New => "route it to a department first",
                    _ => "reopen it first",
                }));
            }
            vec![EventData::InformationRequested { message_id: (ctx.new_id)(), text: text.clone() }]
        }
        Command::RecordPlayerReply { channel, text } => {
            let reply = EventData::PlayerReplied {
                message_id: (ctx.new_id)(),
                channel: channel.unwrap_or(c.channel),
                text: text.clone(),
            };
            match c.status {
                Closed => return Err(illegal("a closed complaint cannot take replies; register a new complaint")),
                // A player answering a resolved complaint disputes the result: it reopens.
                Resolved => vec![
                    EventData::Reopened { reason: Body::parse("the player replied after the resolution").expect("static text") },
                    reply,
                ],
                _ => vec![reply],
            }
        }
        Command::Resolve { measures, result } => {
            if !matches!(c.status, Routed | InProgress | WaitingOnPlayer) {
                return Err(illegal(match c.status {
                    New => "route it to a department first",
                    _ => "it is not open",
                }));
            }
            vec![EventData::Resolved { measures: measures.clone(), result: result.clone() }]
        }
        Command::Close => {
            if c.status != Resolved {
                return Err(illegal("only a resolved complaint can be closed"));
            }
            vec![EventData::Closed]
        }
        Command::Reopen { reason } => {
            if c.status.is_open() {
                return Err(illegal("it is still open"));
            }
            if let Some(m) = &c.merged_into {
                return Err(illegal(&format!("it was merged into {}: the work goes on there", m.reference)));
            }
            vec![EventData::Reopened { reason: reason.clone() }]
        }
        Command::Escalate { level, reason } => {
            if !c.status.is_open() {
                return Err(illegal("reopen it first"));
            }
            match &c.escalation {
                Some(e) if e.level == *level => return Err(illegal(&format!("it is already escalated to {level}"))),
                Some(e) if e.level == EscalationLevel::External => {
                    return Err(illegal("it is already escalated to an external body"));
                }
                _ => vec![EventData::Escalated { level: *level, reason: reason.clone() }],
            }
        }
        Command::Deescalate { note } => {
            if c.escalation.is_none() {
                return Err(illegal("it is not escalated"));
            }
            vec![EventData::Deescalated { note: note.clone() }]
        }
        Command::ChangePriority { priority } => {
            if c.status == Closed {
                return Err(illegal("reopen it first"));
            }
            if c.priority == *priority {
                vec![]
            } else {
                vec![EventData::PriorityChanged { from: c.priority, to: *priority }]
            }
        }
        Command::Tag { add, remove } => {
            if let Some(both) = add.intersection(remove).next() {
                return Err(DomainError::invalid("add", "conflicting_tags", format!("tag '{}' is both added and removed", both.as_str())));
            }
            let added: BTreeSet<Tag> = add.difference(&c.tags).cloned().collect();
            let removed: BTreeSet<Tag> = remove.intersection(&c.tags).cloned().collect();
            if c.tags.len() + added.len() - removed.len() > MAX_TAGS {
                return Err(DomainError::invalid("add", "too_many_tags", format!("a complaint has at most {MAX_TAGS} tags")));
            }
            if added.is_empty() && removed.is_empty() { vec![] } else { vec![EventData::Tagged { added, removed }] }
        }
        Command::RecordDeliveryFailure { notice, message_id, recipient, reason } => vec![EventData::DeliveryFailed {
            notice: notice.clone(),
            message_id: *message_id,
            recipient: recipient.clone(),
            reason: reason.chars().take(2_000).collect(),
        }],
        Command::Rate { score, comment } => {
            if !matches!(c.status, Resolved | Closed) {
                return Err(illegal("only a resolved complaint can be rated"));
            }
            if c.rating.is_some() {
                return Err(illegal("this resolution is already rated"));
            }
            vec![EventData::Rated { score: *score, comment: comment.clone() }]
        }
        Command::CheckSla => {
            // A timer may fire late, twice, or after the complaint moved on: only alarms whose
            // instant has come and that were never raised are recorded.
            let Some(clocks) = c.sla.as_ref().filter(|s| c.status.is_open() && s.paused_since.is_none()) else {
                return Ok(vec![]);
            };
            let mut data: Vec<EventData> = clocks
                .pending()
                .into_iter()
                .filter(|(_, _, at)| *at <= ctx.now)
                .map(|(clock, level, _)| EventData::SlaAlarm { clock, level })
                .collect();
            let breach = data.iter().find_map(|e| match e {
                EventData::SlaAlarm { clock, level: crate::sla::AlarmLevel::Breach } => Some(*clock),
                _ => None,
            });
            if let Some(clock) = breach
                && c.escalation.is_none()
            {
                let reason = format!("SLA breached: the {} deadline passed", clock.as_str().replace('_', " "));
                data.push(EventData::Escalated { level: EscalationLevel::Supervisor, reason: Body::parse(&reason).expect("static text") });
            }
            data
        }
    };
    Ok(stamp(data, c.id, ctx))
}

pub const MAX_TAGS: usize = 30;

impl Complaint {
    /// Folds one event into the complaint. Only called with events `decide` or `register`
    /// produced for this complaint, so it never fails.
    pub fn apply(&mut self, event: &Event) {
        use Status::*;
        let at = event.at;
        let back_to_work = |c: &Complaint| if c.assignee.is_some() { InProgress } else { Routed };
        match &event.data {
            EventData::Registered { priority, tags, .. } => {
                self.priority = *priority;
                self.tags = tags.clone();
            }
            EventData::Routed { department, category, .. } => {
                if self.department.as_ref() != Some(department) {
                    // A new department picks it up afresh.
                    self.assignee = None;
                    if matches!(self.status, New | InProgress) {
                        self.status = Routed;
                    }
                }
                self.department = Some(department.clone());
                self.category = category.clone();
                if self.status == New {
                    self.status = Routed;
                }
            }
            EventData::Assigned { agent, .. } => {
                self.assignee = Some(*agent);
                if self.status == Routed {
                    self.status = InProgress;
                }
            }
            EventData::Unassigned { .. } => {
                self.assignee = None;
                if self.status == InProgress {
                    self.status = Routed;
                }
            }
            EventData::MessageAdded { kind, .. } => {
                if *kind == MessageKind::Outbound && self.first_response_at.is_none() {
                    self.first_response_at = Some(at);
                }
            }
            EventData::SolutionProposed { .. } | EventData::InformationRequested { .. } => {
                self.first_response_at.get_or_insert(at);
                self.status = WaitingOnPlayer;
            }
            EventData::PlayerReplied { .. } => {
                if self.status == WaitingOnPlayer {
                    self.status = back_to_work(self);
                }
            }
            EventData::Resolved { measures, result } => {
                self.status = Resolved;
                self.resolution = Some(Resolution { measures: measures.clone(), result: result.clone(), at });
                self.resolved_at = Some(at);
                self.first_response_at.get_or_insert(at);
                self.escalation = None;
            }
            EventData::Closed => {
                self.status = Closed;
                self.closed_at = Some(at);
            }
            EventData::Reopened { .. } => {
                self.status = back_to_work(self);
                self.resolved_at = None;
                self.closed_at = None;
                // The next resolution is rated afresh; this rating stays in the history.
                self.rating = None;
            }
            EventData::Rated { score, comment } => {
                self.rating = Some(Rating { score: *score, comment: comment.clone(), at });
            }
            EventData::Escalated { level, reason } => {
                self.escalation = Some(Escalation { level: *level, reason: reason.clone(), at });
            }
            EventData::Deescalated { .. } => self.escalation = None,
            EventData::SlaSet { clocks } => self.sla = Some(clocks.clone()),
            EventData::SlaPaused => {
                if let Some(s) = &mut self.sla {
                    s.paused_since = Some(at);
                }
            }
            EventData::SlaAlarm { clock, level } => {
                if let Some(s) = &mut self.sla {
                    s.alarms.insert(crate::sla::SlaClocks::alarm_key(*clock, *level));
                }
            }
            EventData::PriorityChanged { to, .. } => self.priority = *to,
            EventData::Tagged { added, removed } => {
                self.tags.extend(added.iter().cloned());
                self.tags.retain(|t| !removed.contains(t));
            }
            EventData::DeliveryFailed { .. } | EventData::MergedFrom { .. } => {}
            EventData::MergedInto { target, reference } => {
                self.status = Closed;
                self.closed_at = Some(at);
                self.merged_into = Some(MergeLink { id: *target, reference: *reference });
            }
        }
        // The first reply, solution or information request stops the first-response clock.
        if self.first_response_at.is_some()
            && let Some(s) = &mut self.sla
        {
            s.first_response = None;
        }
        self.updated_at = at;
    }

    /// When the next SLA alarm is due: `None` when the complaint is not open, its clocks are
    /// paused, or every alarm was raised.
    pub fn next_sla_instant(&self) -> Option<Timestamp> {
        let s = self.sla.as_ref()?;
        if !self.status.is_open() || s.paused_since.is_some() {
            return None;
        }
        s.pending().into_iter().map(|(_, _, at)| at).min()
    }
}

/// Follow-up work the outbox must do after an event: the channels deliver these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Tell the player their complaint is registered, with its reference.
    Acknowledge { complaint_id: Uuid },
    /// Send an outbound thread message (a reply, a proposed solution, a request for information).
    DeliverMessage { complaint_id: Uuid, message_id: Uuid },
    /// Tell the player of the measures taken and the result.
    NotifyResolved { complaint_id: Uuid },
    /// Check the complaint's SLA clocks at `at` (a durable timer).
    SlaTimer {
        complaint_id: Uuid,
        at: Timestamp,
    },
    /// Tell staff (in the workspace, and by e-mail where configured): `assigned`,
    /// `sla_warning` or `sla_breach`, for the clock named.
    NotifyStaff { complaint_id: Uuid, notice: String, clock: Option<crate::sla::ClockKind> },
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Acknowledge { .. } => "acknowledge",
            Job::DeliverMessage { .. } => "deliver_message",
            Job::NotifyResolved { .. } => "notify_resolved",
            Job::SlaTimer { .. } => "sla_timer",
            Job::NotifyStaff { .. } => "notify_staff",
        }
    }
    /// When the job is due (`None`: at once).
    pub fn run_at(&self) -> Option<Timestamp> {
        match self {
            Job::SlaTimer { at, .. } => Some(*at),
            _ => None,
        }
    }
    pub fn complaint_id(&self) -> Uuid {
        match self {
            Job::Acknowledge { complaint_id }
            | Job::DeliverMessage { complaint_id, .. }
            | Job::NotifyResolved { complaint_id }
            | Job::SlaTimer { complaint_id, .. }
            | Job::NotifyStaff { complaint_id, .. } => *complaint_id,
        }
    }
}

/// The outbox jobs an event calls for.
pub fn jobs_for(event: &Event) -> Option<Job> {
    let complaint_id = event.complaint_id;
    match &event.data {
        EventData::Registered { .. } => Some(Job::Acknowledge { complaint_id }),
        // Said in a live chat or on the phone: the player has it already (the chat keeps its
        // transcript for a reconnect); nothing to send.
        EventData::MessageAdded { kind: MessageKind::Outbound, channel: Channel::Chat | Channel::Phone, .. } => None,
        EventData::MessageAdded { message_id, kind: MessageKind::Outbound, .. }
        | EventData::SolutionProposed { message_id, .. }
        | EventData::InformationRequested { message_id, .. } => Some(Job::DeliverMessage { complaint_id, message_id: *message_id }),
        EventData::Resolved { .. } => Some(Job::NotifyResolved { complaint_id }),
        EventData::Assigned { .. } => Some(Job::NotifyStaff { complaint_id, notice: "assigned".into(), clock: None }),
        EventData::SlaAlarm { clock, level } => Some(Job::NotifyStaff {
            complaint_id,
            notice: format!("sla_{}", level.as_str()),
            clock: Some(*clock),
        }),
        _ => None,
    }
}
