//! Auto-assignment inside a department: which agent takes a new complaint.
//!
//! An agent is eligible when they are active, an agent (not a supervisor or administrator),
//! work in the department, are online (their workspace is connected), speak the complaint's
//! language (an agent with no languages listed takes any), have the required skill if the
//! rules asked for one, and hold fewer open complaints than their capacity. Among those,
//! `least_loaded` picks the one with the fewest open complaints (then the most spare capacity,
//! then by login); `round_robin` takes them in turn by login.

use crate::fields::{DepartmentCode, FieldError, Tag};
use crate::model::{Agent, Language, Role};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

crate::model::word_enum!(
    /// How auto-assignment picks among eligible agents (`off`: it does not assign).
    AssignStrategy { Off = "off", LeastLoaded = "least_loaded", RoundRobin = "round_robin" }
);

/// What the complaint needs of its agent.
#[derive(Debug, Clone, Copy)]
pub struct Need<'a> {
    pub department: &'a DepartmentCode,
    pub language: Language,
    pub skill: Option<&'a Tag>,
}

/// Why no agent was picked, for the log and the dry run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoPick {
    Off,
    NobodyInDepartment,
    NobodyOnline,
    NobodyWithLanguageOrSkill,
    EveryoneFull,
}

fn can_work(a: &Agent, need: &Need<'_>) -> bool {
    a.active && a.role == Role::Agent && a.departments.contains(need.department)
}

/// Picks the agent for a complaint. `load` is each agent's count of open complaints (absent:
/// none), `online` whether their workspace is connected, `turn` the department's round-robin
/// counter.
pub fn pick<'a>(
    strategy: AssignStrategy,
    need: &Need<'_>,
    agents: &'a [Agent],
    online: &dyn Fn(Uuid) -> bool,
    load: &HashMap<Uuid, i64>,
    turn: usize,
) -> Result<&'a Agent, NoPick> {
    if strategy == AssignStrategy::Off {
        return Err(NoPick::Off);
    }
    let mut staff: Vec<&Agent> = agents.iter().filter(|a| can_work(a, need)).collect();
    if staff.is_empty() {
        return Err(NoPick::NobodyInDepartment);
    }
    staff.retain(|a| online(a.id));
    if staff.is_empty() {
        return Err(NoPick::NobodyOnline);
    }
    staff.retain(|a| (a.languages.is_empty() || a.languages.contains(&need.language)) && need.skill.is_none_or(|s| a.skills.contains(s)));
    if staff.is_empty() {
        return Err(NoPick::NobodyWithLanguageOrSkill);
    }
    let held = |a: &Agent| load.get(&a.id).copied().unwrap_or(0);
    staff.retain(|a| held(a) < i64::from(a.capacity));
    if staff.is_empty() {
        return Err(NoPick::EveryoneFull);
    }
    staff.sort_by(|a, b| a.login.cmp(&b.login));
    Ok(match strategy {
        AssignStrategy::RoundRobin => staff[turn % staff.len()],
        _ => staff
            .into_iter()
            .min_by_key(|a| (held(a), std::cmp::Reverse(i64::from(a.capacity) - held(a)), a.login.clone()))
            .expect("not empty"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::PersonName;

    fn agent(n: u128, login: &str, role: Role, languages: &[Language], skills: &[&str], capacity: u32) -> Agent {
        Agent {
            id: Uuid::from_u128(n),
            login: login.into(),
            name: PersonName::parse(login).unwrap(),
            email: None,
            role,
            departments: [DepartmentCode::parse("payments").unwrap()].into(),
            languages: languages.iter().copied().collect(),
            active: true,
            skills: skills.iter().map(|s| Tag::parse(s).unwrap()).collect(),
            capacity,
        }
    }

    #[test]
    fn least_loaded_online_agent_with_the_language_and_skill_within_capacity() {
        let payments = DepartmentCode::parse("payments").unwrap();
        let crypto = Tag::parse("crypto").unwrap();
        let agents = vec![
            agent(1, "aigerim", Role::Agent, &[Language::Kk, Language::Ru], &["crypto"], 5),
            agent(2, "boris", Role::Agent, &[Language::Ru], &[], 5),
            agent(3, "chen", Role::Agent, &[], &["crypto"], 2),
            agent(4, "sup", Role::Supervisor, &[], &["crypto"], 50),
            agent(5, "offline", Role::Agent, &[], &["crypto"], 50),
        ];
        let online = |id: Uuid| id != Uuid::from_u128(5);
        let mut load: HashMap<Uuid, i64> = [(Uuid::from_u128(1), 3), (Uuid::from_u128(2), 1), (Uuid::from_u128(3), 1)].into();
        let need = |language, skill| Need { department: &payments, language, skill };
        let pick_login = |n: &Need<'_>, load: &HashMap<Uuid, i64>, s| pick(s, n, &agents, &online, load, 0).map(|a| a.login.as_str());
        // Russian, no skill: boris and chen hold one each; chen has less room (1 of 2): boris.
        assert_eq!(pick_login(&need(Language::Ru, None), &load, AssignStrategy::LeastLoaded), Ok("boris"));
        // Kazakh: boris does not speak it; chen (any language) holds fewer than aigerim.
        assert_eq!(pick_login(&need(Language::Kk, None), &load, AssignStrategy::LeastLoaded), Ok("chen"));
        // Crypto: not boris; the supervisor and the offline agent never.
        assert_eq!(pick_login(&need(Language::Ru, Some(&crypto)), &load, AssignStrategy::LeastLoaded), Ok("chen"));
        load.insert(Uuid::from_u128(3), 2);
        assert_eq!(pick_login(&need(Language::Ru, Some(&crypto)), &load, AssignStrategy::LeastLoaded), Ok("aigerim"), "chen is full");
        load.insert(Uuid::from_u128(1), 5);
        assert_eq!(pick_login(&need(Language::Ru, Some(&crypto)), &load, AssignStrategy::LeastLoaded), Err(NoPick::EveryoneFull));
        let vip = Tag::parse("vip").unwrap();
        assert_eq!(pick_login(&need(Language::En, Some(&vip)), &load, AssignStrategy::LeastLoaded), Err(NoPick::NobodyWithLanguageOrSkill));
        assert_eq!(pick_login(&need(Language::Ru, None), &load, AssignStrategy::Off), Err(NoPick::Off));
        let security = DepartmentCode::parse("security").unwrap();
        let n = Need { department: &security, language: Language::Ru, skill: None };
        assert_eq!(pick(AssignStrategy::LeastLoaded, &n, &agents, &online, &load, 0).map(|a| a.id), Err(NoPick::NobodyInDepartment));
        let nobody_online = |_: Uuid| false;
        assert_eq!(pick(AssignStrategy::LeastLoaded, &need(Language::Ru, None), &agents, &nobody_online, &load, 0).map(|a| a.id), Err(NoPick::NobodyOnline));
    }

    #[test]
    fn round_robin_takes_turns_by_login() {
        let payments = DepartmentCode::parse("payments").unwrap();
        let agents = vec![agent(2, "boris", Role::Agent, &[], &[], 5), agent(1, "aigerim", Role::Agent, &[], &[], 5), agent(3, "chen", Role::Agent, &[], &[], 5)];
        let need = Need { department: &payments, language: Language::Ru, skill: None };
        let logins: Vec<&str> = (0..4).map(|t| pick(AssignStrategy::RoundRobin, &need, &agents, &|_| true, &HashMap::new(), t).unwrap().login.as_str()).collect();
        assert_eq!(logins, ["aigerim", "boris", "chen", "aigerim"]);
    }
}
