//! Service levels: working calendars, SLA policies, and the clocks of one complaint.
//!
//! Every complaint gets three clocks when it is registered, counted in its department's
//! calendar (working hours, holidays, time zone):
//! - **first response**: until the first reply, proposed solution or information request;
//! - **resolution**: until it is resolved;
//! - **hard limit**: the outer bound (48 h by default) past which it must never stay open.
//!
//! While the complaint waits on the player, the clocks are paused; the player's reply resumes
//! them with their deadlines moved on by the working time spent waiting. Each clock has a
//! warning instant (a share of its time, 75 % by default) and its deadline; the desk schedules a
//! timer job for each, and when one fires the core decides here whether it still applies (the
//! deadline may have moved, the clock may have stopped), so a timer that fires twice, late, or
//! after the complaint moved on records nothing wrong.

use crate::fields::{DepartmentCode, FieldError};
use crate::model::{Channel, Complaint, Kind, Priority};
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

// ============================================================== calendars

/// A calendar as written: `timezone`, then either `always_open = true` or working `hours` per
/// weekday (`mon = ["09:00-13:00", "14:00-18:00"]`), and `holidays` (dates closed all day).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// An IANA zone (`Asia/Almaty`) or a fixed offset (`+05:00`).
    #[serde(default = "default_tz")]
    pub timezone: String,
    #[serde(default)]
    pub always_open: bool,
    /// Weekday (`mon` … `sun`) → intervals `HH:MM-HH:MM` (`24:00` ends a day).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hours: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<Date>,
}

fn default_tz() -> String {
    "UTC".into()
}

impl Default for CalendarSpec {
    /// Open around the clock, every day.
    fn default() -> Self {
        CalendarSpec { timezone: default_tz(), always_open: true, hours: BTreeMap::new(), holidays: vec![] }
    }
}

/// A checked calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    tz: TimeZone,
    always: bool,
    /// Minutes from midnight, per weekday from Monday; sorted, not overlapping.
    week: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<Date>,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// A deadline further than this many days of calendar search is treated as never (a calendar
/// whose every working day is a holiday for years).
const HORIZON_DAYS: i32 = 3 * 366;

/// `+05:00`, `-03:30`, `+5`.
fn parse_offset(s: &str) -> Option<jiff::tz::Offset> {
    let s = s.trim();
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    jiff::tz::Offset::from_seconds(sign * (h * 3600 + m * 60)).ok()
}

fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0)) && h.to_string().len() <= 2 && m.to_string().len() <= 2).then_some(h * 60 + m)
}

impl Calendar {
    /// Open around the clock in UTC.
    pub fn always() -> Calendar {
        Calendar { tz: TimeZone::UTC, always: true, week: Default::default(), holidays: BTreeSet::new() }
    }

    /// Checks a calendar; every mistake is named (`field`, message).
    pub fn compile(spec: &CalendarSpec) -> Result<Calendar, Vec<(String, String)>> {
        let mut errors = vec![];
        let tz = match TimeZone::get(&spec.timezone) {
            Ok(tz) => Some(tz),
            Err(_) => match parse_offset(&spec.timezone) {
                Some(o) => Some(TimeZone::fixed(o)),
                None => {
                    errors.push(("timezone".into(), format!("'{}' is neither a time zone (Asia/Almaty) nor an offset (+05:00)", spec.timezone)));
                    None
                }
            },
        };
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for (day, intervals) in &spec.hours {
            let Some(i) = DAYS.iter().position(|d| d == &day.trim().to_lowercase()) else {
                errors.push((format!("hours.{day}"), "a weekday is one of mon, tue, wed, thu, fri, sat, sun".into()));
                continue;
            };
            for iv in intervals {
                let parsed = iv.split_once('-').and_then(|(a, b)| Some((parse_hhmm(a)?, parse_hhmm(b)?)));
                match parsed {
                    Some((a, b)) if a < b => week[i].push((a, b)),
                    Some(_) => errors.push((format!("hours.{day}"), format!("'{iv}' ends before it starts"))),
                    None => errors.push((format!("hours.{day}"), format!("'{iv}' is not an interval like 09:00-18:00"))),
                }
            }
            week[i].sort();
            if week[i].windows(2).any(|w| w[1].0 < w[0].1) {
                errors.push((format!("hours.{day}"), "intervals overlap".into()));
            }
        }
        if spec.always_open && !spec.hours.is_empty() {
            errors.push(("hours".into(), "an always-open calendar has no hours; remove one or the other".into()));
        }
        if !spec.always_open && week.iter().all(Vec::is_empty) {
            errors.push(("hours".into(), "the calendar has no working hours: give hours for at least one weekday, or always_open = true".into()));
        }
        match (tz, errors.is_empty()) {
            (Some(tz), true) => Ok(Calendar { tz, always: spec.always_open, week, holidays: spec.holidays.iter().copied().collect() }),
            _ => Err(errors),
        }
    }

    /// The working intervals of one local day, as instants.
    fn day(&self, date: Date) -> Vec<(Timestamp, Timestamp)> {
        if self.holidays.contains(&date) {
            return vec![];
        }
        let at = |minutes: u32| -> Option<Timestamp> {
            let (d, m) = if minutes == 24 * 60 { (date.tomorrow().ok()?, 0) } else { (date, minutes) };
            let t = Time::new((m / 60) as i8, (m % 60) as i8, 0, 0).ok()?;
            d.to_datetime(t).to_zoned(self.tz.clone()).ok().map(|z| z.timestamp())
        };
        let wd = match date.weekday() {
            Weekday::Monday => 0,
            Weekday::Tuesday => 1,
            Weekday::Wednesday => 2,
            Weekday::Thursday => 3,
            Weekday::Friday => 4,
            Weekday::Saturday => 5,
            Weekday::Sunday => 6,
        };
        self.week[wd].iter().filter_map(|(a, b)| Some((at(*a)?, at(*b)?))).filter(|(a, b)| a < b).collect()
    }

    /// The instant at which `work` of working time has passed since `from`. `None` past the
    /// search horizon.
    pub fn add_working(&self, from: Timestamp, work: SignedDuration) -> Option<Timestamp> {
        if work <= SignedDuration::ZERO {
            return Some(self.next_open(from).unwrap_or(from));
        }
        if self.always && self.holidays.is_empty() {
            return from.checked_add(work).ok();
        }
        let mut left = work;
        let mut date = from.to_zoned(self.tz.clone()).date().yesterday().ok()?;
        for _ in 0..HORIZON_DAYS {
            let intervals = if self.always {
                if self.holidays.contains(&date) { vec![] } else { self.whole_day(date) }
            } else {
                self.day(date)
            };
            for (a, b) in intervals {
                if b <= from {
                    continue;
                }
                let a = a.max(from);
                let len = b.duration_since(a);
                if len >= left {
                    return a.checked_add(left).ok();
                }
                left -= len;
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    fn whole_day(&self, date: Date) -> Vec<(Timestamp, Timestamp)> {
        let start = date.to_zoned(self.tz.clone()).ok().map(|z| z.timestamp());
        let end = date.tomorrow().ok().and_then(|d| d.to_zoned(self.tz.clone()).ok()).map(|z| z.timestamp());
        match (start, end) {
            (Some(a), Some(b)) => vec![(a, b)],
            _ => vec![],
        }
    }

    /// The first working instant at or after `t`.
    fn next_open(&self, t: Timestamp) -> Option<Timestamp> {
        if self.always && self.holidays.is_empty() {
            return Some(t);
        }
        let mut date = t.to_zoned(self.tz.clone()).date().yesterday().ok()?;
        for _ in 0..HORIZON_DAYS {
            let intervals = if self.always { if self.holidays.contains(&date) { vec![] } else { self.whole_day(date) } } else { self.day(date) };
            for (a, b) in intervals {
                if b > t {
                    return Some(a.max(t));
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// Working time between two instants (zero when `to` is not after `from`).
    pub fn working_between(&self, from: Timestamp, to: Timestamp) -> SignedDuration {
        if to <= from {
            return SignedDuration::ZERO;
        }
        if self.always && self.holidays.is_empty() {
            return to.duration_since(from);
        }
        let mut total = SignedDuration::ZERO;
        let Ok(mut date) = from.to_zoned(self.tz.clone()).date().yesterday() else { return total };
        let last = to.to_zoned(self.tz.clone()).date();
        while date <= last {
            let intervals = if self.always { if self.holidays.contains(&date) { vec![] } else { self.whole_day(date) } } else { self.day(date) };
            for (a, b) in intervals {
                let (a, b) = (a.max(from), b.min(to));
                if a < b {
                    total += b.duration_since(a);
                }
            }
            let Ok(next) = date.tomorrow() else { break };
            date = next;
        }
        total
    }
}

// ============================================================== policies

/// Targets for complaints matching every condition given (an empty condition matches all).
/// Policies apply in order: each matching one overrides the targets it sets, so put general
/// policies first and specific ones after.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<DepartmentCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channel: Vec<Channel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_hours: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_limit_hours: Option<u32>,
}

/// The SLA settings as written (TOML or JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaSpec {
    /// The share of a clock's time at which the assignee is warned (0.75: at 75 %).
    #[serde(default = "default_warn_at")]
    pub warn_at: f64,
    /// Weeks from receipt, for escalated complaints, before the player may take the dispute to an
    /// alternative dispute resolution body (`0`: not tracked).
    #[serde(default = "default_dispute_weeks")]
    pub dispute_weeks: u32,
    /// The calendar of departments without their own.
    #[serde(default)]
    pub default_calendar: CalendarSpec,
    /// Department code → its calendar.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub calendars: BTreeMap<String, CalendarSpec>,
    #[serde(default, rename = "policy", skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicySpec>,
}

fn default_warn_at() -> f64 {
    0.75
}
fn default_dispute_weeks() -> u32 {
    8
}

impl Default for SlaSpec {
    fn default() -> Self {
        SlaSpec {
            warn_at: default_warn_at(),
            dispute_weeks: default_dispute_weeks(),
            default_calendar: CalendarSpec::default(),
            calendars: BTreeMap::new(),
            policies: vec![],
        }
    }
}

impl SlaSpec {
    /// Reads SLA settings written in TOML (the `[sla]` section's body); syntax errors and
    /// unknown keys name their line.
    pub fn from_toml(text: &str) -> Result<SlaSpec, crate::rules::SpecError> {
        toml::from_str(text).map_err(|e| crate::rules::SpecError::from_toml(text, &e))
    }

    /// Reads the same settings as JSON.
    pub fn from_json(text: &[u8]) -> Result<SlaSpec, crate::rules::SpecError> {
        serde_json::from_slice(text).map_err(|e| crate::rules::SpecError(e.to_string()))
    }

    /// The settings as TOML that `from_toml` reads back to the same settings.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("SLA settings are representable in TOML")
    }
}

/// The targets of one complaint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Targets {
    pub first_response: SignedDuration,
    pub resolution: SignedDuration,
    pub hard_limit: SignedDuration,
}

impl Targets {
    /// The defaults: first response 1 h on chat and phone, 4 h otherwise; resolution 24 h;
    /// hard limit 48 h.
    pub fn defaults(channel: Channel) -> Targets {
        Targets {
            first_response: SignedDuration::from_hours(if matches!(channel, Channel::Chat | Channel::Phone) { 1 } else { 4 }),
            resolution: SignedDuration::from_hours(24),
            hard_limit: SignedDuration::from_hours(48),
        }
    }
}

/// Checked SLA settings.
#[derive(Debug, Clone)]
pub struct Sla {
    spec: SlaSpec,
    default_calendar: Calendar,
    calendars: BTreeMap<DepartmentCode, Calendar>,
}

impl Default for Sla {
    fn default() -> Self {
        Sla::compile(&SlaSpec::default(), &[]).expect("the defaults are valid")
    }
}

impl Sla {
    /// The defaults (every department around the clock, default targets), shared.
    pub fn shared_default() -> &'static Sla {
        static DEFAULT: std::sync::LazyLock<Sla> = std::sync::LazyLock::new(Sla::default);
        &DEFAULT
    }
}

impl Sla {
    /// Checks the settings against the departments that exist. Errors are (field, message).
    pub fn compile(spec: &SlaSpec, departments: &[DepartmentCode]) -> Result<Sla, Vec<(String, String)>> {
        let mut errors = vec![];
        if !(spec.warn_at > 0.0 && spec.warn_at < 1.0) {
            errors.push(("warn_at".into(), "must be strictly between 0 and 1 (0.75 warns at 75 % of the time)".into()));
        }
        if spec.dispute_weeks > 104 {
            errors.push(("dispute_weeks".into(), "at most 104 weeks".into()));
        }
        let default_calendar = match Calendar::compile(&spec.default_calendar) {
            Ok(c) => Some(c),
            Err(es) => {
                errors.extend(es.into_iter().map(|(f, m)| (format!("default_calendar.{f}"), m)));
                None
            }
        };
        let mut calendars = BTreeMap::new();
        for (code, c) in &spec.calendars {
            let Ok(d) = DepartmentCode::parse(code).map_err(|_| ()).and_then(|d| if departments.contains(&d) { Ok(d) } else { Err(()) }) else {
                errors.push((format!("calendars.{code}"), format!("there is no department '{code}'")));
                continue;
            };
            match Calendar::compile(c) {
                Ok(c) => {
                    calendars.insert(d, c);
                }
                Err(es) => errors.extend(es.into_iter().map(|(f, m)| (format!("calendars.{code}.{f}"), m))),
            }
        }
        for (i, p) in spec.policies.iter().enumerate() {
            let at = |f: &str| format!("policy[{}].{f}", i + 1);
            if let Some(d) = &p.department
                && !departments.contains(d)
            {
                errors.push((at("department"), format!("there is no department '{d}'")));
            }
            if p.first_response_minutes.is_none() && p.resolution_hours.is_none() && p.hard_limit_hours.is_none() {
                errors.push((at("targets"), "the policy sets no target: give first_response_minutes, resolution_hours or hard_limit_hours".into()));
            }
            for (f, v, max) in [
                ("first_response_minutes", p.first_response_minutes, 30 * 24 * 60),
                ("resolution_hours", p.resolution_hours, 365 * 24),
                ("hard_limit_hours", p.hard_limit_hours, 365 * 24),
            ] {
                if v.is_some_and(|v| v == 0 || v > max) {
                    errors.push((at(f), format!("must be between 1 and {max}")));
                }
            }
        }
        if spec.policies.len() > 500 {
            errors.push(("policy".into(), "at most 500 policies".into()));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Sla { spec: spec.clone(), default_calendar: default_calendar.expect("checked"), calendars })
    }

    pub fn spec(&self) -> &SlaSpec {
        &self.spec
    }

    pub fn calendar(&self, department: Option<&DepartmentCode>) -> &Calendar {
        department.and_then(|d| self.calendars.get(d)).unwrap_or(&self.default_calendar)
    }

    /// The targets for a complaint with these attributes, and whether the hard limit is checked
    /// (the resolution target must not exceed it).
    pub fn targets(&self, department: Option<&DepartmentCode>, priority: Priority, kind: Kind, channel: Channel) -> Targets {
        let mut t = Targets::defaults(channel);
        for p in &self.spec.policies {
            let matches = p.department.as_ref().is_none_or(|d| Some(d) == department)
                && p.priority.is_none_or(|x| x == priority)
                && p.kind.is_none_or(|x| x == kind)
                && (p.channel.is_empty() || p.channel.contains(&channel));
            if matches {
                if let Some(m) = p.first_response_minutes {
                    t.first_response = SignedDuration::from_mins(i64::from(m));
                }
                if let Some(h) = p.resolution_hours {
                    t.resolution = SignedDuration::from_hours(i64::from(h));
                }
                if let Some(h) = p.hard_limit_hours {
                    t.hard_limit = SignedDuration::from_hours(i64::from(h));
                }
            }
        }
        t.hard_limit = t.hard_limit.max(t.resolution);
        t
    }

    /// The clocks of a complaint started at `start`, with `paused` working time already spent
    /// waiting on the player (not counted).
    pub fn clocks(&self, department: Option<&DepartmentCode>, targets: Targets, start: Timestamp, paused: SignedDuration, first_response_done: bool) -> SlaClocks {
        let cal = self.calendar(department);
        let warn = |d: SignedDuration| SignedDuration::from_secs_f64(d.as_secs_f64() * self.spec.warn_at);
        let at = |d: SignedDuration| cal.add_working(start, d + paused);
        SlaClocks {
            first_response: if first_response_done { None } else { at(targets.first_response).map(|due| Clock { warn: at(warn(targets.first_response)), due }) },
            resolution: at(targets.resolution).map(|due| Clock { warn: at(warn(targets.resolution)), due }),
            hard_limit: at(targets.hard_limit).map(|due| Clock { warn: None, due }),
            started_at: Some(start),
            paused_since: None,
            paused: paused.as_secs(),
            alarms: BTreeSet::new(),
            dispute_deadline: None,
        }
    }

    /// The external-dispute deadline of a complaint received at `received` (calendar weeks).
    pub fn dispute_deadline(&self, received: Timestamp) -> Option<Timestamp> {
        (self.spec.dispute_weeks > 0)
            .then(|| received.checked_add(SignedDuration::from_hours(i64::from(self.spec.dispute_weeks) * 7 * 24)).ok())
            .flatten()
    }
}

// ============================================================== clocks

/// One clock: its warning instant (if it warns) and its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Clock {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub warn: Option<Timestamp>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub due: Timestamp,
}

crate::model::word_enum!(
    /// Which clock.
    ClockKind { FirstResponse = "first_response", Resolution = "resolution", HardLimit = "hard_limit" }
);
crate::model::word_enum!(
    /// How far a clock has run.
    AlarmLevel { Warning = "warning", Breach = "breach" }
);

/// A complaint's SLA state (the fold of its `sla_*` events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaClocks {
    /// When this cycle's clocks started: the registration, or the last reopening.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    /// `None` once the first response was given (or was never due).
    pub first_response: Option<Clock>,
    pub resolution: Option<Clock>,
    pub hard_limit: Option<Clock>,
    /// Set while the complaint waits on the player: the clocks are stopped.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub paused_since: Option<Timestamp>,
    /// Working seconds spent waiting on the player so far.
    pub paused: i64,
    /// Alarms raised, as `clock:level` (`resolution:breach`).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub alarms: BTreeSet<String>,
    /// For escalated complaints: when the player may go to an external dispute body.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub dispute_deadline: Option<Timestamp>,
}

impl SlaClocks {
    pub fn clock(&self, kind: ClockKind) -> Option<&Clock> {
        match kind {
            ClockKind::FirstResponse => self.first_response.as_ref(),
            ClockKind::Resolution => self.resolution.as_ref(),
            ClockKind::HardLimit => self.hard_limit.as_ref(),
        }
    }

    pub fn alarm_key(kind: ClockKind, level: AlarmLevel) -> String {
        format!("{}:{}", kind.as_str(), level.as_str())
    }

    pub fn breached(&self) -> bool {
        self.alarms.iter().any(|a| a.ends_with(":breach"))
    }

    /// Every (clock, level, instant) a timer must be set for.
    pub fn instants(&self) -> Vec<(ClockKind, AlarmLevel, Timestamp)> {
        let mut out = vec![];
        for kind in ClockKind::ALL {
            if let Some(c) = self.clock(*kind) {
                if let Some(w) = c.warn {
                    out.push((*kind, AlarmLevel::Warning, w));
                }
                out.push((*kind, AlarmLevel::Breach, c.due));
            }
        }
        out
    }

    /// The alarms not raised yet, with their instants.
    pub fn pending(&self) -> Vec<(ClockKind, AlarmLevel, Timestamp)> {
        self.instants().into_iter().filter(|(k, l, _)| !self.alarms.contains(&Self::alarm_key(*k, *l))).collect()
    }

    /// A running clock has passed its warning but not its deadline (the workspace's "at risk"
    /// queue; a paused complaint waits on the player and is not at risk).
    pub fn warned(&self) -> bool {
        self.paused_since.is_none()
            && ClockKind::ALL.iter().any(|k| {
                self.clock(*k).is_some()
                    && self.alarms.contains(&Self::alarm_key(*k, AlarmLevel::Warning))
                    && !self.alarms.contains(&Self::alarm_key(*k, AlarmLevel::Breach))
            })
    }

    /// The earliest deadline still running (for the at-risk list and sorting).
    pub fn next_due(&self) -> Option<Timestamp> {
        ClockKind::ALL.iter().filter_map(|k| self.clock(*k)).map(|c| c.due).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn business() -> Calendar {
        let spec: CalendarSpec = toml::from_str(
            r#"
timezone = "Asia/Almaty"
holidays = ["2026-12-16"]
[hours]
mon = ["09:00-13:00", "14:00-18:00"]
tue = ["09:00-13:00", "14:00-18:00"]
wed = ["09:00-13:00", "14:00-18:00"]
thu = ["09:00-13:00", "14:00-18:00"]
fri = ["09:00-13:00", "14:00-18:00"]
"#,
        )
        .unwrap();
        Calendar::compile(&spec).unwrap()
    }

    #[test]
    fn business_hours_skip_nights_lunch_weekends_and_holidays() {
        let cal = business();
        // Almaty is UTC+5. Monday 2026-11-30 10:00 local = 05:00Z; 4 working hours: 10–13, 14–15.
        assert_eq!(cal.add_working(ts("2026-11-30T05:00:00Z"), SignedDuration::from_hours(4)), Some(ts("2026-11-30T10:00:00Z")));
        // Friday 17:00 local + 2 h: 1 h on Friday, the next on Monday 09:00–10:00.
        assert_eq!(cal.add_working(ts("2026-12-04T12:00:00Z"), SignedDuration::from_hours(2)), Some(ts("2026-12-07T05:00:00Z")));
        // Registered on Saturday night: the clock starts Monday 09:00.
        assert_eq!(cal.add_working(ts("2026-12-05T18:00:00Z"), SignedDuration::from_hours(1)), Some(ts("2026-12-07T05:00:00Z")));
        // Tuesday 15 Dec 17:30 + 1 h: Wednesday 16 Dec is a holiday, so Thursday 09:30.
        assert_eq!(cal.add_working(ts("2026-12-15T12:30:00Z"), SignedDuration::from_hours(1)), Some(ts("2026-12-17T04:30:00Z")));
        // 24 working hours = three 8-hour days.
        assert_eq!(cal.add_working(ts("2026-11-30T04:00:00Z"), SignedDuration::from_hours(24)), Some(ts("2026-12-02T13:00:00Z")));
        // And back: working time between.
        assert_eq!(cal.working_between(ts("2026-12-04T12:00:00Z"), ts("2026-12-07T05:00:00Z")), SignedDuration::from_hours(2));
        assert_eq!(cal.working_between(ts("2026-12-07T05:00:00Z"), ts("2026-12-04T12:00:00Z")), SignedDuration::ZERO);
        assert_eq!(cal.working_between(ts("2026-11-30T04:00:00Z"), ts("2026-12-02T13:00:00Z")), SignedDuration::from_hours(24));
    }

    #[test]
    fn always_open_and_offsets() {
        let cal = Calendar::always();
        assert_eq!(cal.add_working(ts("2026-12-05T18:00:00Z"), SignedDuration::from_hours(48)), Some(ts("2026-12-07T18:00:00Z")));
        let spec = CalendarSpec { timezone: "+05:00".into(), holidays: vec![date(2026, 12, 16)], ..Default::default() };
        let cal = Calendar::compile(&spec).unwrap();
        // Around the clock, except the holiday (local day).
        assert_eq!(cal.add_working(ts("2026-12-15T18:00:00Z"), SignedDuration::from_hours(2)), Some(ts("2026-12-16T20:00:00Z")));
    }

    #[test]
    fn daylight_saving_is_counted_in_real_time() {
        let spec: CalendarSpec = toml::from_str("timezone = \"Europe/Berlin\"\n[hours]\nsun = [\"00:00-24:00\"]\n").unwrap();
        let cal = Calendar::compile(&spec).unwrap();
        // Sunday 2026-03-29 is 23 hours long in Berlin.
        assert_eq!(cal.working_between(ts("2026-03-28T00:00:00Z"), ts("2026-03-30T00:00:00Z")), SignedDuration::from_hours(23));
    }

    #[test]
    fn bad_calendars_and_policies_are_named() {
        let bad = |toml: &str| Calendar::compile(&toml::from_str::<CalendarSpec>(toml).unwrap()).unwrap_err();
        assert!(bad("timezone = \"Mars/Olympus\"\nalways_open = true")[0].1.contains("Mars/Olympus"));
        assert!(bad("timezone = \"UTC\"")[0].1.contains("no working hours"));
        assert!(bad("[hours]\nmon = []")[0].1.contains("no working hours"));
        assert!(bad("[hours]\nmonday = [\"09:00-18:00\"]")[0].0.contains("hours.monday"));
        assert!(bad("[hours]\nmon = [\"18:00-09:00\"]")[0].1.contains("ends before"));
        assert!(bad("[hours]\nmon = [\"9-18\"]")[0].1.contains("not an interval"));
        assert!(bad("[hours]\nmon = [\"09:00-25:00\"]")[0].1.contains("not an interval"));
        assert!(bad("[hours]\nmon = [\"09:00-13:00\", \"12:00-18:00\"]")[0].1.contains("overlap"));
        assert!(bad("always_open = true\n[hours]\nmon = [\"09:00-18:00\"]")[0].1.contains("always-open"));
        let payments = DepartmentCode::parse("payments").unwrap();
        let spec: SlaSpec = toml::from_str(
            "warn_at = 1.5\n[calendars.casino]\nalways_open = true\n[[policy]]\ndepartment = \"nowhere\"\n[[policy]]\nresolution_hours = 0\n",
        )
        .unwrap();
        let errors = Sla::compile(&spec, std::slice::from_ref(&payments)).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(fields, ["warn_at", "calendars.casino", "policy[1].department", "policy[1].targets", "policy[2].resolution_hours"]);
    }

    #[test]
    fn policies_override_in_order_and_clocks_follow_the_calendar() {
        let payments = DepartmentCode::parse("payments").unwrap();
        let spec: SlaSpec = toml::from_str(
            r#"
[calendars.payments]
timezone = "Asia/Almaty"
[calendars.payments.hours]
mon = ["09:00-18:00"]
tue = ["09:00-18:00"]
wed = ["09:00-18:00"]
thu = ["09:00-18:00"]
fri = ["09:00-18:00"]

[[policy]]
resolution_hours = 12

[[policy]]
department = "payments"
priority = "urgent"
first_response_minutes = 30
resolution_hours = 4
"#,
        )
        .unwrap();
        let sla = Sla::compile(&spec, std::slice::from_ref(&payments)).unwrap();
        let t = sla.targets(None, Priority::Normal, Kind::Complaint, Channel::Email);
        assert_eq!((t.first_response, t.resolution, t.hard_limit), (SignedDuration::from_hours(4), SignedDuration::from_hours(12), SignedDuration::from_hours(48)));
        assert_eq!(sla.targets(None, Priority::Normal, Kind::Complaint, Channel::Chat).first_response, SignedDuration::from_hours(1));
        let t = sla.targets(Some(&payments), Priority::Urgent, Kind::Complaint, Channel::Email);
        assert_eq!((t.first_response, t.resolution), (SignedDuration::from_mins(30), SignedDuration::from_hours(4)));

        // Friday 16:00 Almaty; urgent payments: 30 min first response (16:30, warn 16:22:30),
        // 4 h resolution (2 h Friday + 2 h Monday = Monday 11:00).
        let start = ts("2026-12-04T11:00:00Z");
        let c = sla.clocks(Some(&payments), t, start, SignedDuration::ZERO, false);
        assert_eq!(c.first_response.unwrap().due, ts("2026-12-04T11:30:00Z"));
        assert_eq!(c.first_response.unwrap().warn, Some(ts("2026-12-04T11:22:30Z")));
        assert_eq!(c.resolution.unwrap().due, ts("2026-12-07T06:00:00Z"));
        // One working hour spent waiting on the player moves the deadline an hour on.
        let c2 = sla.clocks(Some(&payments), t, start, SignedDuration::from_hours(1), true);
        assert_eq!((c2.first_response, c2.resolution.unwrap().due), (None, ts("2026-12-07T07:00:00Z")));
        assert_eq!(c.instants().len(), 5);
        assert_eq!(c.next_due(), Some(ts("2026-12-04T11:30:00Z")));
        assert_eq!(sla.dispute_deadline(start), Some(ts("2027-01-29T11:00:00Z")));
    }
}

// ============================================================== at risk

/// One complaint's outlook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Risk {
    pub complaint_id: uuid::Uuid,
    pub reference: crate::reference::ComplaintRef,
    pub department: Option<DepartmentCode>,
    /// The deadline that matters next (resolution, or the hard limit once that passed).
    pub clock: ClockKind,
    pub due: Timestamp,
    /// Seconds left (negative: overdue).
    pub remaining: i64,
    /// Its place in its department's open work, soonest deadline first (1-based).
    pub position: usize,
    /// Complaints the department resolved per hour over the last day.
    pub pace_per_hour: f64,
    /// When it would be resolved at that pace, taking the ones before it first (`None`: the
    /// department resolved nothing lately).
    pub expected_at: Option<Timestamp>,
    pub predicted_breach: bool,
    pub why: String,
}

/// The complaints predicted to miss their deadline, or within `near` of it, most urgent first.
///
/// Each department's running complaints are queued by deadline; at the department's pace over
/// the last day (resolved in 24 h / 24), the complaint at place `k` is expected done in `k / pace`
/// hours. It is at risk when that is after its deadline, when the deadline is within `near`, or
/// when it is overdue already. A department that resolved nothing lately puts every complaint with
/// less than a day left at risk. Wall-clock hours: an estimate, not a calendar computation.
pub fn at_risk(now: Timestamp, running: &[Complaint], resolved_last_day: &BTreeMap<String, i64>, near: SignedDuration) -> Vec<Risk> {
    let mut by_department: BTreeMap<Option<&DepartmentCode>, Vec<(&Complaint, ClockKind, Timestamp)>> = BTreeMap::new();
    for c in running {
        let Some(s) = c.sla.as_ref() else { continue };
        let next = [ClockKind::Resolution, ClockKind::HardLimit]
            .into_iter()
            .filter_map(|k| s.clock(k).map(|cl| (k, cl.due)))
            .find(|(k, _)| !s.alarms.contains(&SlaClocks::alarm_key(*k, AlarmLevel::Breach)));
        if let Some((kind, due)) = next {
            by_department.entry(c.department.as_ref()).or_default().push((c, kind, due));
        }
    }
    let mut out = vec![];
    for (department, mut items) in by_department {
        items.sort_by_key(|(c, _, due)| (*due, c.id));
        let resolved = department.and_then(|d| resolved_last_day.get(d.as_str())).copied().unwrap_or(0);
        let pace = resolved as f64 / 24.0;
        for (i, (c, clock, due)) in items.into_iter().enumerate() {
            let position = i + 1;
            let remaining = due.duration_since(now).as_secs();
            let expected_at = (pace > 0.0)
                .then(|| now.checked_add(SignedDuration::from_secs_f64(position as f64 / pace * 3600.0)).ok())
                .flatten();
            let (predicted_breach, why) = if remaining < 0 {
                (true, "overdue".to_string())
            } else if let Some(at) = expected_at {
                if at > due {
                    (true, format!("place {position} in the queue at {pace:.1} resolved per hour: done about {} h after the deadline", at.duration_since(due).as_secs() / 3600))
                } else if SignedDuration::from_secs(remaining) <= near {
                    (false, format!("{} min left", remaining / 60))
                } else {
                    continue;
                }
            } else if remaining < 24 * 3600 {
                (true, "the department resolved nothing in the last day".to_string())
            } else {
                continue;
            };
            out.push(Risk {
                complaint_id: c.id,
                reference: c.reference,
                department: department.cloned(),
                clock,
                due,
                remaining,
                position,
                pace_per_hour: pace,
                expected_at,
                predicted_breach,
                why,
            });
        }
    }
    out.sort_by_key(|r| (r.remaining, r.complaint_id));
    out
}
