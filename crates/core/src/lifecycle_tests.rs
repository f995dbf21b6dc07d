//! The lifecycle, command by command: legal paths, illegal transitions, no-op commands.

use crate::access::Principal;
use crate::command::*;
use crate::*;
use std::collections::BTreeSet;
use uuid::Uuid;

struct World {
    departments: Vec<Department>,
    next: u128,
}

impl World {
    fn new() -> Self {
        let dept = |code: &str, active| Department {
            code: DepartmentCode::parse(code).unwrap(),
            name_en: code.into(),
            name_ru: code.into(),
            name_kk: code.into(),
            active,
        };
        World { departments: vec![dept("payments", true), dept("security", true), dept("legacy", false)], next: 100 }
    }

    fn run<T>(&mut self, f: impl FnOnce(&mut Ctx<'_>) -> T) -> T {
        self.run_at(now(), f)
    }

    fn run_at<T>(&mut self, at: jiff::Timestamp, f: impl FnOnce(&mut Ctx<'_>) -> T) -> T {
        let mut next = self.next;
        let mut new_id = || {
            next += 1;
            Uuid::from_u128(next)
        };
        let mut ctx = Ctx { now: at, actor: Actor::System, departments: &self.departments, sla: crate::sla::Sla::shared_default(), new_id: &mut new_id };
        let out = f(&mut ctx);
        self.next = next;
        out
    }

    fn register(&mut self, department: Option<&str>) -> Complaint {
        let reg = registration(department);
        self.run(|ctx| command::register(&reg, Uuid::from_u128(1), ComplaintRef::from_bits(1), Uuid::from_u128(2), ctx))
            .unwrap()
            .complaint
    }

    /// Applies a command and returns the new state, failing the test on error.
    fn step(&mut self, c: &Complaint, cmd: Command) -> Complaint {
        self.try_step(c, cmd).unwrap()
    }

    fn try_step(&mut self, c: &Complaint, cmd: Command) -> Result<Complaint, DomainError> {
        let decided = self.run(|ctx| change(c, &cmd, ctx))?;
        if let Some(d) = &decided {
            assert_eq!(d.base_version(), c.version, "a decision is one version on");
        }
        Ok(decided.map_or_else(|| c.clone(), |d| d.complaint))
    }
}

fn registration(department: Option<&str>) -> Registration {
    Registration {
        kind: Kind::Complaint,
        channel: Channel::Email,
        player: PlayerContact {
            external_id: Some(ExternalPlayerId::parse("P-1001").unwrap()),
            name: Some(PersonName::parse("Айгерим").unwrap()),
            email: Some(EmailAddress::parse("aigerim@mail.kz").unwrap()),
            phone: None,
            language: Some(Language::Kk),
        },
        subject: Subject::parse("Ақша шығару кешігіп жатыр").unwrap(),
        description: Body::parse("Үш күн бұрын ақша шығаруға өтінім бердім.").unwrap(),
        language: None,
        department: department.map(|d| DepartmentCode::parse(d).unwrap()),
        category: None,
        priority: None,
        tags: BTreeSet::new(),
        segments: Default::default(),
    }
}

fn body(s: &str) -> Body {
    Body::parse(s).unwrap()
}

fn agent(id: u128, role: Role, departments: &[&str]) -> Agent {
    Agent {
        id: Uuid::from_u128(id),
        login: format!("agent{id}"),
        name: PersonName::parse("Agent").unwrap(),
        email: None,
        role,
        departments: departments.iter().map(|d| DepartmentCode::parse(d).unwrap()).collect(),
        languages: BTreeSet::new(),
        active: true,
        skills: Default::default(),
        capacity: crate::DEFAULT_CAPACITY,
    }
}

fn route(d: &str) -> Command {
    Command::Route { department: DepartmentCode::parse(d).unwrap(), category: None }
}

#[test]
fn registration_starts_new_or_routed_with_the_players_language() {
    let mut w = World::new();
    let c = w.register(None);
    assert_eq!(c.status, Status::New);
    assert_eq!(c.language, Language::Kk);
    assert_eq!(c.version, 1);
    let c = w.register(Some("payments"));
    assert_eq!(c.status, Status::Routed);
    assert_eq!(c.department.unwrap().as_str(), "payments");
}

#[test]
fn registration_refuses_unknown_or_inactive_departments_and_missing_contacts() {
    let mut w = World::new();
    for (d, code) in [("nowhere", "unknown_department"), ("legacy", "inactive_department")] {
        let reg = registration(Some(d));
        let err = w.run(|ctx| command::register(&reg, Uuid::nil(), ComplaintRef::from_bits(1), Uuid::nil(), ctx)).err().unwrap();
        assert!(matches!(&err, DomainError::Invalid(v) if v[0].code == code), "{err:?}");
    }
    let mut reg = registration(None);
    reg.player.email = None;
    reg.player.external_id = None;
    reg.channel = Channel::Web;
    let err = w.run(|ctx| command::register(&reg, Uuid::nil(), ComplaintRef::from_bits(1), Uuid::nil(), ctx)).err().unwrap();
    assert!(matches!(&err, DomainError::Invalid(v) if v[0].code == "contact_required"));
}

#[test]
fn the_whole_happy_path() {
    let mut w = World::new();
    let a = agent(9, Role::Agent, &["payments"]);
    let c = w.register(None);
    let c = w.step(&c, route("payments"));
    assert_eq!(c.status, Status::Routed);
    let c = w.step(&c, Command::Assign { agent: a.clone() });
    assert_eq!((c.status, c.assignee), (Status::InProgress, Some(a.id)));
    let c = w.step(&c, Command::RequestInformation { text: body("Send a bank statement") });
    assert_eq!(c.status, Status::WaitingOnPlayer);
    assert!(c.first_response_at.is_some());
    let c = w.step(&c, Command::RecordPlayerReply { channel: None, text: body("Attached") });
    assert_eq!(c.status, Status::InProgress);
    let c = w.step(&c, Command::ProposeSolution { text: body("We will re-send the payout") });
    assert_eq!(c.status, Status::WaitingOnPlayer);
    let c = w.step(&c, Command::Resolve { measures: body("Payout re-sent"), result: body("Funds credited") });
    assert_eq!(c.status, Status::Resolved);
    assert_eq!(c.resolution.as_ref().unwrap().result.as_str(), "Funds credited");
    let c = w.step(&c, Command::Close);
    assert_eq!(c.status, Status::Closed);
    assert!(c.closed_at.is_some());
    let c = w.step(&c, Command::Reopen { reason: body("Funds vanished again") });
    assert_eq!(c.status, Status::InProgress, "reopened with its assignee, back to work");
    assert!(c.closed_at.is_none() && c.resolved_at.is_none());
}

#[test]
fn illegal_transitions_are_errors() {
    let mut w = World::new();
    let a = agent(9, Role::Agent, &["payments"]);
    let new = w.register(None);
    let illegal = |r: Result<Complaint, DomainError>| matches!(r, Err(DomainError::IllegalTransition { .. }));
    assert!(illegal(w.try_step(&new, Command::Assign { agent: a.clone() })), "assign before routing");
    assert!(illegal(w.try_step(&new, Command::Resolve { measures: body("x"), result: body("y") })));
    assert!(illegal(w.try_step(&new, Command::ProposeSolution { text: body("x") })));
    assert!(illegal(w.try_step(&new, Command::Close)), "close an open complaint");
    assert!(illegal(w.try_step(&new, Command::Reopen { reason: body("x") })), "reopen an open complaint");
    assert!(illegal(w.try_step(&new, Command::Deescalate { note: None })));

    let routed = w.step(&new, route("payments"));
    let resolved = w.step(&routed, Command::Resolve { measures: body("x"), result: body("y") });
    assert!(illegal(w.try_step(&resolved, Command::Resolve { measures: body("x"), result: body("y") })));
    assert!(illegal(w.try_step(&resolved, route("security"))));
    assert!(illegal(w.try_step(&resolved, Command::Escalate { level: EscalationLevel::Supervisor, reason: body("x") })));
    let closed = w.step(&resolved, Command::Close);
    assert!(illegal(w.try_step(&closed, Command::AddMessage { kind: MessageKind::Outbound, channel: None, body: body("x") })));
    assert!(illegal(w.try_step(&closed, Command::RecordPlayerReply { channel: None, text: body("x") })));
    assert!(illegal(w.try_step(&closed, Command::ChangePriority { priority: Priority::High })));
    // Internal notes are always welcome.
    let noted = w.step(&closed, Command::AddMessage { kind: MessageKind::Note, channel: None, body: body("x") });
    assert_eq!(noted.status, Status::Closed);
}

#[test]
fn a_player_reply_to_a_resolved_complaint_reopens_it() {
    let mut w = World::new();
    let c = w.register(Some("payments"));
    let c = w.step(&c, Command::Resolve { measures: body("x"), result: body("y") });
    let events = w.run(|ctx| decide(&c, &Command::RecordPlayerReply { channel: None, text: body("Not fixed!") }, ctx)).unwrap();
    assert_eq!(events.iter().map(|e| e.data.name()).collect::<Vec<_>>(), ["reopened", "player_replied"]);
    let c = w.step(&c, Command::RecordPlayerReply { channel: None, text: body("Not fixed!") });
    assert_eq!(c.status, Status::Routed);
}

#[test]
fn assignment_rules() {
    let mut w = World::new();
    let c = w.register(Some("payments"));
    let outsider = agent(5, Role::Agent, &["security"]);
    let err = w.try_step(&c, Command::Assign { agent: outsider }).unwrap_err();
    assert!(matches!(&err, DomainError::Invalid(v) if v[0].code == "agent_not_in_department"));
    let mut off = agent(6, Role::Agent, &["payments"]);
    off.active = false;
    let err = w.try_step(&c, Command::Assign { agent: off }).unwrap_err();
    assert!(matches!(&err, DomainError::Invalid(v) if v[0].code == "inactive_agent"));
    let a = agent(7, Role::Agent, &["payments"]);
    let c = w.step(&c, Command::Assign { agent: a.clone() });
    // Re-routing hands it to the new department's queue.
    let c2 = w.step(&c, route("security"));
    assert_eq!((c2.status, c2.assignee), (Status::Routed, None));
    let c3 = w.step(&c, Command::Unassign);
    assert_eq!((c3.status, c3.assignee), (Status::Routed, None));
}

#[test]
fn no_op_commands_record_nothing() {
    let mut w = World::new();
    let c = w.register(Some("payments"));
    let none = |w: &mut World, cmd: Command| w.run(|ctx| decide(&c, &cmd, ctx)).unwrap().is_empty();
    assert!(none(&mut w, route("payments")));
    assert!(none(&mut w, Command::ChangePriority { priority: Priority::Normal }));
    assert!(none(&mut w, Command::Unassign));
    assert!(none(&mut w, Command::Tag { add: BTreeSet::new(), remove: [Tag::parse("absent").unwrap()].into() }));
}

#[test]
fn escalation_and_tags() {
    let mut w = World::new();
    let c = w.register(Some("payments"));
    let c = w.step(&c, Command::Escalate { level: EscalationLevel::Supervisor, reason: body("VIP") });
    assert!(w.try_step(&c, Command::Escalate { level: EscalationLevel::Supervisor, reason: body("again") }).is_err());
    let c = w.step(&c, Command::Escalate { level: EscalationLevel::External, reason: body("Regulator") });
    assert_eq!(c.escalation.as_ref().unwrap().level, EscalationLevel::External);
    let c = w.step(&c, Command::Deescalate { note: None });
    assert!(c.escalation.is_none());
    let vip = Tag::parse("vip").unwrap();
    let c = w.step(&c, Command::Tag { add: [vip.clone()].into(), remove: BTreeSet::new() });
    assert!(c.tags.contains(&vip));
    let err = w.try_step(&c, Command::Tag { add: [vip.clone()].into(), remove: [vip].into() }).unwrap_err();
    assert!(matches!(&err, DomainError::Invalid(v) if v[0].code == "conflicting_tags"));
}

#[test]
fn jobs_follow_events() {
    let mut w = World::new();
    let reg = registration(None);
    let r = w.run(|ctx| command::register(&reg, Uuid::from_u128(1), ComplaintRef::from_bits(1), Uuid::from_u128(2), ctx)).unwrap();
    // The acknowledgment, and the SLA timer at the first-response warning (75 % of 4 h).
    let warn = r.complaint.sla.as_ref().unwrap().first_response.unwrap().warn.unwrap();
    assert_eq!(warn.duration_since(r.complaint.created_at), jiff::SignedDuration::from_hours(3));
    assert_eq!(r.jobs, vec![Job::Acknowledge { complaint_id: Uuid::from_u128(1) }, Job::SlaTimer { complaint_id: Uuid::from_u128(1), at: warn }]);
    assert!(r.messages.is_empty());
    let c = w.step(&r.complaint, route("payments"));
    let events = w.run(|ctx| decide(&c, &Command::AddMessage { kind: MessageKind::Note, channel: None, body: body("n") }, ctx)).unwrap();
    assert!(events.iter().filter_map(jobs_for).next().is_none(), "internal notes are never sent");
    let events = w.run(|ctx| decide(&c, &Command::Resolve { measures: body("m"), result: body("r") }, ctx)).unwrap();
    assert_eq!(events.iter().filter_map(jobs_for).next().unwrap().kind(), "notify_resolved");
}

#[test]
fn who_may_do_what() {
    let mut w = World::new();
    let c = w.register(Some("payments"));
    let unrouted = w.register(None);
    let me = agent(1, Role::Agent, &["payments"]);
    let other = agent(2, Role::Agent, &["payments"]);
    let sup = agent(3, Role::Supervisor, &["payments"]);
    let stranger = Principal::Agent(agent(4, Role::Agent, &["security"]));
    let p_me = Principal::Agent(me.clone());
    let p_sup = Principal::Agent(sup);
    assert!(p_me.may_view(&c) && !stranger.may_view(&c));
    assert!(!p_me.may_view(&unrouted) && p_sup.may_view(&unrouted), "triage is for supervisors");
    assert!(p_me.may_apply(&c, &Command::Assign { agent: me.clone() }).is_ok());
    assert!(p_me.may_apply(&c, &Command::Assign { agent: other.clone() }).is_err());
    assert!(p_sup.may_apply(&c, &Command::Assign { agent: other }).is_ok());
    assert!(p_me.may_apply(&c, &Command::Deescalate { note: None }).is_err());
    let assigned = w.step(&c, Command::Assign { agent: me.clone() });
    let rerouted = w.step(&assigned, route("security"));
    assert!(!p_me.may_view(&rerouted));
    let read_only = Principal::Token { id: Uuid::nil(), name: "bi".into(), scopes: [Scope::ComplaintsRead].into() };
    assert!(read_only.may_view(&c));
    assert!(read_only.may_apply(&c, &Command::Close).is_err());
    assert!(read_only.may_register().is_err());
}

#[test]
fn language_guess_by_script() {
    assert_eq!(Language::guess("Здравствуйте, не пришла выплата на карту"), Some(Language::Ru));
    assert_eq!(Language::guess("Сәлеметсіз бе, ақшам шотқа түспеді, көмектесіңізші"), Some(Language::Kk));
    assert_eq!(Language::guess("Hello, my withdrawal has not arrived yet"), Some(Language::En));
    assert_eq!(Language::guess("ok 123"), None);
    // A Russian letter quoting an English subject stays Russian.
    assert_eq!(Language::guess("Re: Withdrawal — добрый день, деньги так и не пришли"), Some(Language::Ru));
}

fn routed(w: &mut World, reg: &Registration, auto: &AutoRoute) -> Decision {
    w.run(|ctx| command::register_routed(reg, auto, Uuid::from_u128(1), ComplaintRef::from_bits(1), Uuid::from_u128(2), ctx)).unwrap()
}

fn specialist(departments: &[&str]) -> Agent {
    Agent {
        id: Uuid::from_u128(77),
        login: "dana".into(),
        name: PersonName::parse("Dana").unwrap(),
        email: None,
        role: Role::Agent,
        departments: departments.iter().map(|d| DepartmentCode::parse(d).unwrap()).collect(),
        languages: BTreeSet::new(),
        active: true,
        skills: Default::default(),
        capacity: crate::DEFAULT_CAPACITY,
    }
}

#[test]
fn automatic_routing_fills_what_the_registration_leaves_open() {
    let mut w = World::new();
    let tag = |t: &str| Tag::parse(t).unwrap();
    let auto = AutoRoute {
        department: Some(DepartmentCode::parse("payments").unwrap()),
        category: Some(Category::parse("withdrawal").unwrap()),
        priority: Some(Priority::High),
        tags: [tag("vip")].into(),
        assignee: Some(specialist(&["payments"])),
        by: Some("rule:big withdrawals".into()),
        detected_language: Some(Language::En),
    };
    let d = routed(&mut w, &registration(None), &auto);
    let c = &d.complaint;
    assert_eq!(c.department.as_ref().map(|d| d.as_str()), Some("payments"));
    assert_eq!(c.category.as_ref().map(|c| c.as_str()), Some("withdrawal"));
    assert_eq!((c.priority, c.status, c.assignee), (Priority::High, Status::InProgress, Some(Uuid::from_u128(77))));
    assert!(c.tags.contains(&tag("vip")));
    // The contact's language wins over the detected one.
    assert_eq!(c.language, Language::Kk);
    assert!(d.events.iter().any(|e| matches!(&e.data, EventData::Routed { by: Some(b), .. } if b == "rule:big withdrawals")));

    // The registration's own department and priority win; the agent of another department is not assigned.
    let mut reg = registration(Some("security"));
    reg.priority = Some(Priority::Low);
    reg.player.language = None;
    let d = routed(&mut w, &reg, &auto);
    assert_eq!(d.complaint.department.as_ref().map(|d| d.as_str()), Some("security"));
    assert_eq!((d.complaint.priority, d.complaint.assignee, d.complaint.language), (Priority::Low, None, Language::En));
    assert!(d.events.iter().any(|e| matches!(&e.data, EventData::Routed { by: None, .. })));

    // An inactive or unknown automatic department leaves the complaint new, not refused.
    for code in ["legacy", "nowhere"] {
        let auto = AutoRoute { department: Some(DepartmentCode::parse(code).unwrap()), ..auto.clone() };
        let d = routed(&mut w, &registration(None), &auto);
        assert_eq!((d.complaint.status, d.complaint.department.clone(), d.complaint.assignee), (Status::New, None, None));
        assert_eq!(d.complaint.priority, Priority::High);
    }
}

#[test]
fn a_routed_event_without_a_reason_hashes_as_before() {
    // Events stored before `by` existed must serialize to the same bytes (the hash chain).
    let data = EventData::Routed { department: DepartmentCode::parse("payments").unwrap(), category: None, previous: None, by: None };
    assert_eq!(serde_json::to_string(&data).unwrap(), r#"{"type":"routed","department":"payments","category":null,"previous":null}"#);
}

#[test]
fn sla_clocks_warn_breach_pause_resume_and_restart() {
    use crate::sla::{AlarmLevel, ClockKind};
    let mut w = World::new();
    let h = jiff::SignedDuration::from_hours;
    let c = w.register(Some("payments"));
    let t0 = c.created_at;
    let s = c.sla.clone().unwrap();
    assert_eq!((s.first_response.unwrap().due, s.resolution.unwrap().due, s.hard_limit.unwrap().due), (t0 + h(4), t0 + h(24), t0 + h(48)));
    assert_eq!(c.next_sla_instant(), Some(t0 + h(3)));
    let check = |w: &mut World, c: &Complaint, at| w.run_at(at, |ctx| change(c, &Command::CheckSla, ctx)).unwrap();

    // Too early: nothing. At the warning: one alarm, a staff notice, the next timer.
    assert!(check(&mut w, &c, t0 + h(2)).is_none());
    let d = check(&mut w, &c, t0 + h(3)).unwrap();
    assert!(matches!(d.events[..], [Event { data: EventData::SlaAlarm { clock: ClockKind::FirstResponse, level: AlarmLevel::Warning }, .. }]));
    assert!(d.jobs.contains(&Job::NotifyStaff { complaint_id: c.id, notice: "sla_warning".into(), clock: Some(ClockKind::FirstResponse) }));
    assert!(d.jobs.contains(&Job::SlaTimer { complaint_id: c.id, at: t0 + h(4) }));
    let c = d.complaint;
    // The same timer again (two runners, a retry): nothing more.
    assert!(check(&mut w, &c, t0 + h(3)).is_none());

    // Late by hours (the desk was down): every alarm due is raised at once; the breach escalates
    // to the supervisor and sets the dispute deadline.
    let d = check(&mut w, &c, t0 + h(19)).unwrap();
    let alarms: Vec<_> = d.events.iter().filter_map(|e| match &e.data { EventData::SlaAlarm { clock, level } => Some((*clock, *level)), _ => None }).collect();
    assert_eq!(alarms, [(ClockKind::FirstResponse, AlarmLevel::Breach), (ClockKind::Resolution, AlarmLevel::Warning)]);
    let c = d.complaint;
    assert_eq!(c.escalation.as_ref().map(|e| e.level), Some(EscalationLevel::Supervisor));
    assert_eq!(c.sla.as_ref().unwrap().dispute_deadline, Some(t0 + h(8 * 7 * 24)));
    assert!(c.sla.as_ref().unwrap().breached());
    assert_eq!(c.next_sla_instant(), Some(t0 + h(24)));

    // Waiting on the player (5 h): the clocks stop; the reply resumes them 5 h later.
    let d = w.run_at(t0 + h(20), |ctx| change(&c, &Command::RequestInformation { text: body("your card number?") }, ctx)).unwrap().unwrap();
    let c = d.complaint;
    assert_eq!((c.status, c.next_sla_instant()), (Status::WaitingOnPlayer, None));
    assert!(c.sla.as_ref().unwrap().first_response.is_none(), "the request was a first response");
    assert!(check(&mut w, &c, t0 + h(24)).is_none(), "paused clocks do not fire");
    let d = w.run_at(t0 + h(25), |ctx| change(&c, &Command::RecordPlayerReply { channel: None, text: body("4400…") }, ctx)).unwrap().unwrap();
    let c = d.complaint;
    let s = c.sla.clone().unwrap();
    assert_eq!((s.resolution.unwrap().due, s.hard_limit.unwrap().due, s.paused), (t0 + h(29), t0 + h(53), 5 * 3600));
    assert!(s.paused_since.is_none() && s.dispute_deadline.is_some() && s.alarms.len() == 3);
    assert!(d.jobs.contains(&Job::SlaTimer { complaint_id: c.id, at: t0 + h(29) }));

    // Resolved: nothing more fires. Reopened: new clocks from the reopening, alarms cleared.
    let c = w.run_at(t0 + h(26), |ctx| change(&c, &Command::Resolve { measures: body("m"), result: body("r") }, ctx)).unwrap().unwrap().complaint;
    assert_eq!(c.next_sla_instant(), None);
    assert!(check(&mut w, &c, t0 + h(60)).is_none());
    let c = w.run_at(t0 + h(30), |ctx| change(&c, &Command::Reopen { reason: body("not fixed") }, ctx)).unwrap().unwrap().complaint;
    let s = c.sla.clone().unwrap();
    assert_eq!((s.resolution.unwrap().due, s.alarms.len(), s.first_response), (t0 + h(54), 0, None));

    // A new priority recounts from the registration: urgent has no policy of its own here, so
    // nothing changes and no event is written for the clocks.
    let d = w.run(|ctx| change(&c, &Command::ChangePriority { priority: Priority::Urgent }, ctx)).unwrap().unwrap();
    assert!(!d.events.iter().any(|e| matches!(e.data, EventData::SlaSet { .. })));

    // Only ombuds checks clocks.
    let admin = Principal::Agent(agent(9, Role::Admin, &[]));
    assert!(admin.may_apply(&c, &Command::CheckSla).is_err());
}

#[test]
fn a_resolution_is_rated_once_and_a_reopening_clears_the_rating() {
    let mut w = World::new();
    let c = w.register(Some("payments"));
    let rate = |n: u8| Command::Rate { score: CsatScore::try_from(n).unwrap(), comment: Some(body("быстро")) };
    // Not before it is resolved.
    assert!(matches!(w.try_step(&c, rate(5)), Err(DomainError::IllegalTransition { .. })));
    let c = w.step(&c, Command::Resolve { measures: body("refunded"), result: body("money back") });
    let rated = w.step(&c, rate(4));
    assert_eq!(rated.rating.as_ref().map(|r| r.score.get()), Some(4));
    assert_eq!(rated.rating.as_ref().and_then(|r| r.comment.as_ref()).map(|b| b.as_str()), Some("быстро"));
    // Once per resolution, also after closing.
    assert!(matches!(w.try_step(&rated, rate(1)), Err(DomainError::IllegalTransition { .. })));
    let closed = w.step(&rated, Command::Close);
    assert!(matches!(w.try_step(&closed, rate(1)), Err(DomainError::IllegalTransition { .. })));
    // A reopening starts a new cycle: its resolution is rated afresh.
    let reopened = w.step(&closed, Command::Reopen { reason: body("still no money") });
    assert!(reopened.rating.is_none());
    let again = w.step(&reopened, Command::Resolve { measures: body("paid"), result: body("done") });
    assert_eq!(w.step(&again, rate(2)).rating.map(|r| r.score.get()), Some(2));
}

#[test]
fn scores_are_one_to_five() {
    assert_eq!(CsatScore::parse(" 3 ").unwrap().get(), 3);
    for bad in ["0", "6", "", "x", "-1", "3.5"] {
        assert_eq!(CsatScore::parse(bad).unwrap_err().code, "invalid_score", "{bad}");
    }
    assert!(serde_json::from_str::<CsatScore>("9").is_err());
    assert_eq!(serde_json::to_string(&CsatScore::try_from(5).unwrap()).unwrap(), "5");
}

#[test]
fn merging_a_duplicate_closes_it_and_points_at_the_other() {
    let mut w = World::new();
    let target = w.register(Some("payments"));
    let mut source = w.register(Some("payments"));
    source.id = Uuid::from_u128(9);
    source.reference = ComplaintRef::from_bits(9);
    assert!(source.next_sla_instant().is_some(), "the duplicate's clocks run before the merge");
    let note = Body::parse("We continue with your request under the other reference.").unwrap();
    let (from, into) = w.run(|ctx| merge(&source, &target, Some(&note), ctx)).unwrap();
    assert_eq!(from.complaint.status, Status::Closed);
    assert_eq!(from.complaint.merged_into, Some(MergeLink { id: target.id, reference: target.reference }));
    assert!(from.complaint.closed_at.is_some());
    assert_eq!(from.complaint.next_sla_instant(), None, "a merged duplicate's clocks stop");
    assert_eq!(from.base_version(), source.version);
    let kinds: Vec<&str> = from.events.iter().map(|e| e.data.name()).collect();
    assert_eq!(kinds, ["message_added", "merged_into"]);
    assert_eq!(from.messages.len(), 1, "the note to the player is a thread message");
    assert_eq!(from.jobs.iter().map(Job::kind).collect::<Vec<_>>(), ["deliver_message"], "and it is sent");
    assert_eq!(into.complaint.status, target.status, "the target's work goes on");
    assert_eq!(into.base_version(), target.version);
    assert!(matches!(into.events[0].data, EventData::MergedFrom { source: s, .. } if s == source.id));

    // Without a note nothing is sent.
    let (quiet, _) = w.run(|ctx| merge(&source, &target, None, ctx)).unwrap();
    assert!(quiet.jobs.is_empty() && quiet.messages.is_empty());

    // A merged complaint cannot be merged again, nor reopened.
    let merged = from.complaint;
    let err = w.run(|ctx| merge(&merged, &target, None, ctx)).unwrap_err();
    assert!(err.to_string().contains("already merged"), "{err}");
    let err = w.try_step(&merged, Command::Reopen { reason: Body::parse("again").unwrap() }).unwrap_err();
    assert!(err.to_string().contains("merged into"), "{err}");
}

#[test]
fn merging_refuses_itself_closed_targets_and_other_players() {
    let mut w = World::new();
    let target = w.register(Some("payments"));
    let mut source = w.register(Some("payments"));
    source.id = Uuid::from_u128(9);
    let field = |e: DomainError| match e {
        DomainError::Invalid(f) => f[0].code,
        other => panic!("expected a field error, got {other:?}"),
    };
    let e = w.run(|ctx| merge(&target, &target, None, ctx)).unwrap_err();
    assert_eq!(field(e), "same_complaint");
    let mut other = target.clone();
    other.player_id = Uuid::from_u128(77);
    let e = w.run(|ctx| merge(&source, &other, None, ctx)).unwrap_err();
    assert_eq!(field(e), "different_player");
    let resolved = w.step(&target, Command::Resolve { measures: Body::parse("paid").unwrap(), result: Body::parse("done").unwrap() });
    let e = w.run(|ctx| merge(&source, &resolved, None, ctx)).unwrap_err();
    assert_eq!(field(e), "target_not_open");
    let resolved_source = w.step(&source, Command::Resolve { measures: Body::parse("x").unwrap(), result: Body::parse("y").unwrap() });
    let closed = w.step(&resolved_source, Command::Close);
    let e = w.run(|ctx| merge(&closed, &target, None, ctx)).unwrap_err();
    assert!(matches!(e, DomainError::IllegalTransition { .. }), "{e:?}");
}
