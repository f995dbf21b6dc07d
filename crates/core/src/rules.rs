//! Routing rules: ordered rules with conditions on a complaint (channel, kind, language, words
//! or patterns in its subject and text, the player's segment, amounts it mentions, its tags) and
//! actions (department, category, priority, tags, an agent to assign).
//!
//! A rule set is written as data (`RuleSetSpec`: TOML, YAML or JSON through serde) and
//! *compiled* before it is saved: every mistake — a department that does not exist, a pattern
//! that does not parse or would be too big, a rule that tests a tag only a later rule adds (the
//! only way rules could depend on each other in a cycle), duplicate names — is refused then,
//! with the rule and field named, never discovered while routing.
//!
//! Evaluation is one pass in order. Each rule sees the tags earlier rules added. The first rule
//! that fires and sets a field (department, category, priority, assignee) decides that field;
//! tags accumulate; a rule with `stop = true` ends the pass when it fires. Words are found for
//! all rules at once with one Aho–Corasick scan of the text, patterns with one `RegexSet` scan
//! (the regex crate runs in linear time: no pattern can take catastrophic time), so routing
//! costs about one pass over the text whatever the number of rules.

use crate::fields::{Category, DepartmentCode, Tag};
use crate::model::{Channel, Kind, Language, Priority};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::{RegexSet, RegexSetBuilder};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// A rule set as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSetSpec {
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleSpec>,
}

/// A rule file that does not read as a rule set (before any rule is checked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

impl SpecError {
    /// A TOML error with the line it is on.
    pub(crate) fn from_toml(text: &str, e: &toml::de::Error) -> SpecError {
        let at = e.span().map(|s| format!(" (line {})", text[..s.start.min(text.len())].matches('\n').count() + 1));
        SpecError(format!("{}{}", e.message(), at.unwrap_or_default()))
    }
}

impl RuleSetSpec {
    /// Reads a rule file in TOML (`[[rule]]` tables). Syntax errors and unknown keys are
    /// reported with their line and column.
    pub fn from_toml(text: &str) -> Result<RuleSetSpec, SpecError> {
        toml::from_str(text).map_err(|e| SpecError::from_toml(text, &e))
    }

    /// Reads the same rule set as JSON (`{"rule": [...]}`).
    pub fn from_json(text: &[u8]) -> Result<RuleSetSpec, SpecError> {
        serde_json::from_slice(text).map_err(|e| SpecError(e.to_string()))
    }

    /// The rule set as a TOML file that `from_toml` reads back to the same set.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a rule set is representable in TOML")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub when: When,
    #[serde(default)]
    pub then: Then,
    /// End the pass when this rule fires.
    #[serde(default)]
    pub stop: bool,
}

fn yes() -> bool {
    true
}

/// Every condition given must hold (an empty `when` always holds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channel: Vec<Channel>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kind: Vec<Kind>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub language: Vec<Language>,
    /// At least one of these words or phrases is in the subject or text. A trailing `*` matches
    /// any ending (`вывод*` finds вывода, выводом): Russian and Kazakh inflect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any_words: Vec<String>,
    /// All of them are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all_words: Vec<String>,
    /// None of them is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub no_words: Vec<String>,
    /// A regular expression the subject matches (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_matches: Option<String>,
    /// A regular expression the subject or text matches (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_matches: Option<String>,
    /// The player is in one of these segments (`vip`, `vip_gold`, `new`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segment: Vec<String>,
    /// The text mentions an amount of at least / at most this much (any currency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_at_least: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_at_most: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub has_tag: Vec<Tag>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lacks_tag: Vec<Tag>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Then {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<DepartmentCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_tags: Vec<Tag>,
    /// An agent's login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assign: Option<String>,
    /// A skill the agent must have when the complaint is assigned automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<Tag>,
}

/// A mistake in a rule set, named by rule and field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleError {
    /// 0-based position in the set.
    pub index: usize,
    pub rule: String,
    pub field: String,
    pub message: String,
}

/// What the rules see of a complaint.
#[derive(Debug, Clone, Default)]
pub struct RoutingInput<'a> {
    pub channel: Option<Channel>,
    pub kind: Option<Kind>,
    pub language: Option<Language>,
    pub subject: &'a str,
    pub text: &'a str,
    pub segments: BTreeSet<String>,
    pub tags: BTreeSet<Tag>,
}

/// What the rules decided; `None` fields were left to others (the classifier, an agent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RoutingDecision {
    pub department: Option<DepartmentCode>,
    pub category: Option<Category>,
    pub priority: Option<Priority>,
    pub assign: Option<String>,
    pub skill: Option<Tag>,
    pub add_tags: BTreeSet<Tag>,
    /// The names of the rules that fired, in order.
    pub fired: Vec<String>,
    /// The rule that set the department.
    pub department_by: Option<String>,
}

/// Why each rule did or did not fire (the dry run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trace {
    pub rule: String,
    pub fired: bool,
    /// For a rule that fired, what matched; for one that did not, the first condition that failed.
    pub why: String,
}

const MAX_RULES: usize = 2_000;
const MAX_WORDS: usize = 200;
const MAX_PATTERN: usize = 500;
/// Text past this many characters is not looked at (a pasted log must not slow routing).
const MAX_TEXT: usize = 20_000;

struct Rule {
    name: String,
    when: When,
    then: Then,
    stop: bool,
    any: Vec<usize>,
    all: Vec<usize>,
    none: Vec<usize>,
    subject_re: Option<usize>,
    text_re: Option<usize>,
}

/// A compiled rule set, ready to route.
pub struct RuleSet {
    rules: Vec<Rule>,
    /// Word id → (prefix match?, text)
    words: Vec<(bool, String)>,
    scanner: Option<AhoCorasick>,
    subject_set: Option<RegexSet>,
    text_set: Option<RegexSet>,
    spec: RuleSetSpec,
    /// Whether any rule looks at the words, patterns or amounts of the text.
    reads_text: bool,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet").field("rules", &self.rules.len()).field("words", &self.words.len()).finish()
    }
}

fn normalize(s: &str) -> String {
    s.to_lowercase().replace('ё', "е")
}

impl RuleSet {
    /// Checks and compiles `spec`. `departments` are the codes that exist; `agents` the
    /// logins that exist (`None`: not checked).
    pub fn compile(spec: &RuleSetSpec, departments: &[DepartmentCode], agents: Option<&[String]>) -> Result<RuleSet, Vec<RuleError>> {
        let mut errors = vec![];
        let err = |errors: &mut Vec<RuleError>, index: usize, rule: &str, field: &str, message: String| {
            errors.push(RuleError { index, rule: rule.to_string(), field: field.to_string(), message })
        };
        if spec.rules.len() > MAX_RULES {
            err(&mut errors, 0, "", "rule", format!("a rule set holds at most {MAX_RULES} rules"));
            return Err(errors);
        }
        let mut names = HashMap::new();
        let mut word_ids: HashMap<(bool, String), usize> = HashMap::new();
        let mut words: Vec<(bool, String)> = vec![];
        let (mut subject_patterns, mut text_patterns) = (vec![], vec![]);
        let mut rules = vec![];
        // The tags each rule adds, by position: to refuse a test of a tag only a later rule adds.
        let added_by: Vec<BTreeSet<&Tag>> = spec.rules.iter().map(|r| r.then.add_tags.iter().collect()).collect();
        for (i, r) in spec.rules.iter().enumerate() {
            let name = r.name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                err(&mut errors, i, name, "name", "give every rule a name of 1 to 100 characters".into());
            } else if let Some(first) = names.insert(name.to_string(), i) {
                err(&mut errors, i, name, "name", format!("rule {} has this name already; names must be unique", first + 1));
            }
            let w = &r.when;
            let t = &r.then;
            if t.department.is_none() && t.category.is_none() && t.priority.is_none() && t.add_tags.is_empty() && t.assign.is_none() && t.skill.is_none() {
                err(&mut errors, i, name, "then", "the rule does nothing: set a department, category, priority, tags, a skill or an assignee".into());
            }
            if let Some(d) = &t.department
                && !departments.contains(d)
            {
                err(&mut errors, i, name, "then.department", format!("there is no department '{d}'"));
            }
            if let (Some(a), Some(known)) = (&t.assign, agents)
                && !known.iter().any(|k| k == a)
            {
                err(&mut errors, i, name, "then.assign", format!("there is no agent '{a}'"));
            }
            if let (Some(lo), Some(hi)) = (w.amount_at_least, w.amount_at_most)
                && lo > hi
            {
                err(&mut errors, i, name, "when.amount_at_least", format!("{lo} is more than amount_at_most {hi}: the rule can never fire"));
            }
            for (field, v) in [("when.amount_at_least", w.amount_at_least), ("when.amount_at_most", w.amount_at_most)] {
                if v.is_some_and(|x| !x.is_finite() || x < 0.0) {
                    err(&mut errors, i, name, field, "must be a number of 0 or more".into());
                }
            }
            for tag in w.has_tag.iter().chain(&w.lacks_tag) {
                if let Some(later) = (i..spec.rules.len()).find(|j| added_by[*j].contains(tag)) {
                    err(
                        &mut errors,
                        i,
                        name,
                        "when",
                        format!(
                            "tests tag '{tag}', which only rule {} ('{}') {} adds: rules see only earlier rules' tags, so move that rule before this one{}",
                            later + 1,
                            spec.rules[later].name,
                            if later == i { "itself" } else { "later" },
                            if later == i { "" } else { " (if it also depends on this one, the two form a cycle)" }
                        ),
                    );
                }
            }
            let mut ids = |list: &[String], field: &str, errors: &mut Vec<RuleError>| -> Vec<usize> {
                if list.len() > MAX_WORDS {
                    err(errors, i, name, field, format!("at most {MAX_WORDS} words per list"));
                }
                let mut out = vec![];
                for raw in list.iter().take(MAX_WORDS) {
                    let n = normalize(raw.trim());
                    let (prefix, word) = match n.strip_suffix('*') {
                        Some(p) => (true, p.trim().to_string()),
                        None => (false, n),
                    };
                    if word.chars().count() < 2 || word.chars().count() > 100 {
                        err(errors, i, name, field, format!("'{raw}': a word or phrase has 2 to 100 characters"));
                        continue;
                    }
                    let next = words.len();
                    let id = *word_ids.entry((prefix, word.clone())).or_insert_with(|| {
                        words.push((prefix, word));
                        next
                    });
                    out.push(id);
                }
                out
            };
            let any = ids(&w.any_words, "when.any_words", &mut errors);
            let all = ids(&w.all_words, "when.all_words", &mut errors);
            let none = ids(&w.no_words, "when.no_words", &mut errors);
            let pattern = |p: &Option<String>, field: &str, into: &mut Vec<String>, errors: &mut Vec<RuleError>| -> Option<usize> {
                let p = p.as_ref()?;
                if p.len() > MAX_PATTERN {
                    err(errors, i, name, field, format!("a pattern has at most {MAX_PATTERN} characters"));
                    return None;
                }
                match regex::RegexBuilder::new(p).case_insensitive(true).size_limit(256 * 1024).build() {
                    Ok(_) => {
                        into.push(p.clone());
                        Some(into.len() - 1)
                    }
                    Err(regex::Error::CompiledTooBig(_)) => {
                        err(errors, i, name, field, "the pattern is too complex (it would need too much memory); simplify it".into());
                        None
                    }
                    Err(e) => {
                        err(errors, i, name, field, format!("the pattern does not parse: {}", e.to_string().lines().last().unwrap_or("")));
                        None
                    }
                }
            };
            let subject_re = pattern(&w.subject_matches, "when.subject_matches", &mut subject_patterns, &mut errors);
            let text_re = pattern(&w.text_matches, "when.text_matches", &mut text_patterns, &mut errors);
            if r.enabled {
                rules.push(Rule { name: name.to_string(), when: w.clone(), then: t.clone(), stop: r.stop, any, all, none, subject_re, text_re });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let set = |ps: &[String]| -> Result<Option<RegexSet>, RuleError> {
            if ps.is_empty() {
                return Ok(None);
            }
            RegexSetBuilder::new(ps).case_insensitive(true).size_limit(16 << 20).dfa_size_limit(16 << 20).build().map(Some).map_err(|e| RuleError {
                index: 0,
                rule: String::new(),
                field: "when".into(),
                message: format!("the patterns together are too complex: {e}"),
            })
        };
        let subject_set = set(&subject_patterns).map_err(|e| vec![e])?;
        let text_set = set(&text_patterns).map_err(|e| vec![e])?;
        let scanner = if words.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::Standard)
                    .build(words.iter().map(|(_, w)| w.as_str()))
                    .map_err(|e| vec![RuleError { index: 0, rule: String::new(), field: "when".into(), message: format!("too many words: {e}") }])?,
            )
        };
        let reads_text = scanner.is_some()
            || subject_set.is_some()
            || text_set.is_some()
            || rules.iter().any(|r| r.when.amount_at_least.is_some() || r.when.amount_at_most.is_some());
        Ok(RuleSet { rules, words, scanner, subject_set, text_set, spec: spec.clone(), reads_text })
    }

    pub fn spec(&self) -> &RuleSetSpec {
        &self.spec
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Routes one complaint.
    pub fn route(&self, input: &RoutingInput<'_>) -> RoutingDecision {
        self.run(input, None)
    }

    /// Routes and says why each rule fired or not (the dry run).
    pub fn explain(&self, input: &RoutingInput<'_>) -> (RoutingDecision, Vec<Trace>) {
        let mut trace = vec![];
        let d = self.run(input, Some(&mut trace));
        (d, trace)
    }

    fn run(&self, input: &RoutingInput<'_>, mut trace: Option<&mut Vec<Trace>>) -> RoutingDecision {
        let cut = |s: &str| -> String {
            match s.char_indices().nth(MAX_TEXT) {
                Some((i, _)) => normalize(&s[..i]),
                None => normalize(s),
            }
        };
        // Lower-casing the text is the costly part of routing: skip it when no rule reads it.
        let haystack = if self.reads_text { format!("{}\n{}", cut(input.subject), cut(input.text)) } else { String::new() };
        let subject_len = haystack.find('\n').unwrap_or(0);
        // Which words occur (at word starts; whole words unless a prefix).
        let mut found = vec![false; self.words.len()];
        if let Some(ac) = &self.scanner {
            for m in ac.find_overlapping_iter(&haystack) {
                let id = m.pattern().as_usize();
                let before = haystack[..m.start()].chars().next_back();
                let after = haystack[m.end()..].chars().next();
                let starts = before.is_none_or(|c| !c.is_alphanumeric());
                let ends = self.words[id].0 || after.is_none_or(|c| !c.is_alphanumeric());
                if starts && ends {
                    found[id] = true;
                }
            }
        }
        let subject_hits: Vec<usize> = self.subject_set.as_ref().map(|s| s.matches(&haystack[..subject_len]).into_iter().collect()).unwrap_or_default();
        let text_hits: Vec<usize> = self.text_set.as_ref().map(|s| s.matches(&haystack).into_iter().collect()).unwrap_or_default();
        let amounts = if self.rules.iter().any(|r| r.when.amount_at_least.is_some() || r.when.amount_at_most.is_some()) {
            amounts_in(&haystack)
        } else {
            vec![]
        };
        let mut d = RoutingDecision::default();
        let mut tags = input.tags.clone();
        for r in &self.rules {
            let failed = self.first_failure(r, input, &found, &subject_hits, &text_hits, &amounts, &tags);
            if let Some(t) = trace.as_deref_mut() {
                t.push(Trace { rule: r.name.clone(), fired: failed.is_none(), why: failed.clone().unwrap_or_else(|| "all conditions hold".into()) });
            }
            if failed.is_some() {
                continue;
            }
            let th = &r.then;
            if d.department.is_none() && th.department.is_some() {
                d.department = th.department.clone();
                d.department_by = Some(r.name.clone());
            }
            if d.category.is_none() {
                d.category = th.category.clone();
            }
            if d.priority.is_none() {
                d.priority = th.priority;
            }
            if d.assign.is_none() {
                d.assign = th.assign.clone();
            }
            if d.skill.is_none() {
                d.skill = th.skill.clone();
            }
            for t in &th.add_tags {
                tags.insert(t.clone());
                d.add_tags.insert(t.clone());
            }
            d.fired.push(r.name.clone());
            if r.stop {
                break;
            }
        }
        d
    }

    /// The first condition of `r` that does not hold, in words; `None` when all hold.
    #[allow(clippy::too_many_arguments)]
    fn first_failure(
        &self,
        r: &Rule,
        input: &RoutingInput<'_>,
        found: &[bool],
        subject_hits: &[usize],
        text_hits: &[usize],
        amounts: &[f64],
        tags: &BTreeSet<Tag>,
    ) -> Option<String> {
        let w = &r.when;
        let word = |id: &usize| self.words[*id].1.clone() + if self.words[*id].0 { "*" } else { "" };
        if !w.channel.is_empty() && !input.channel.is_some_and(|c| w.channel.contains(&c)) {
            return Some("channel is not one of the rule's".into());
        }
        if !w.kind.is_empty() && !input.kind.is_some_and(|k| w.kind.contains(&k)) {
            return Some("kind is not one of the rule's".into());
        }
        if !w.language.is_empty() && !input.language.is_some_and(|l| w.language.contains(&l)) {
            return Some("language is not one of the rule's".into());
        }
        if !r.any.is_empty() && !r.any.iter().any(|id| found[*id]) {
            return Some("none of any_words occurs".into());
        }
        if let Some(id) = r.all.iter().find(|id| !found[**id]) {
            return Some(format!("'{}' (all_words) does not occur", word(id)));
        }
        if let Some(id) = r.none.iter().find(|id| found[**id]) {
            return Some(format!("'{}' (no_words) occurs", word(id)));
        }
        if let Some(p) = r.subject_re
            && !subject_hits.contains(&p)
        {
            return Some("the subject does not match subject_matches".into());
        }
        if let Some(p) = r.text_re
            && !text_hits.contains(&p)
        {
            return Some("the text does not match text_matches".into());
        }
        if !w.segment.is_empty() && !w.segment.iter().any(|s| input.segments.contains(s)) {
            return Some("the player is in none of the rule's segments".into());
        }
        if let Some(lo) = w.amount_at_least
            && !amounts.iter().any(|a| *a >= lo)
        {
            return Some(format!("no amount of at least {lo} is mentioned"));
        }
        if let Some(hi) = w.amount_at_most
            && !amounts.iter().any(|a| *a <= hi)
        {
            return Some(format!("no amount of at most {hi} is mentioned"));
        }
        if let Some(t) = w.has_tag.iter().find(|t| !tags.contains(*t)) {
            return Some(format!("the complaint lacks tag '{t}'"));
        }
        if let Some(t) = w.lacks_tag.iter().find(|t| tags.contains(*t)) {
            return Some(format!("the complaint has tag '{t}'"));
        }
        None
    }
}

/// Amounts of money a text mentions: numbers next to a currency sign or word (₸, тг, тенге,
/// теңге, KZT, ₽, руб, RUB, $, USD, €, EUR), with spaces, thin spaces or dots as thousands
/// separators and a comma or dot before decimals.
pub fn amounts(text: &str) -> Vec<f64> {
    amounts_in(&text.to_lowercase())
}

/// `amounts` of an already lower-cased text.
fn amounts_in(text: &str) -> Vec<f64> {
    const UNITS: &[&str] = &["₸", "тг", "тенге", "теңге", "kzt", "₽", "руб", "р.", "rub", "$", "usd", "€", "eur", "доллар", "евро"];
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].1.is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = chars[i].0;
        let mut j = i;
        let mut number = String::new();
        while j < chars.len() {
            let c = chars[j].1;
            if c.is_ascii_digit() {
                number.push(c);
            } else if matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '.' | ',' | '\'')
                && chars.get(j + 1).is_some_and(|(_, n)| n.is_ascii_digit())
            {
                // A separator: decimals when 1–2 digits follow and end the number.
                let digits_after = chars[j + 1..].iter().take_while(|(_, n)| n.is_ascii_digit()).count();
                if matches!(c, ',' | '.') && digits_after <= 2 {
                    number.push('.');
                } else if digits_after != 3 {
                    break;
                }
            } else {
                break;
            }
            j += 1;
        }
        let end = chars.get(j).map_or(text.len(), |(b, _)| *b);
        let before = text[..start].trim_end();
        let mut rest = text[end..].trim_start();
        let is_unit = |r: &str| UNITS.iter().any(|u| r.starts_with(u));
        // "50 тыс тг", "1,5 млн тенге", "20k $": a multiplier, then the unit.
        let mut mult = 1.0;
        if !is_unit(rest) {
            for (word, m) in [("тысяч", 1e3), ("тыс", 1e3), ("мың", 1e3), ("k", 1e3), ("млн", 1e6), ("mln", 1e6), ("million", 1e6)] {
                if let Some(r) = rest.strip_prefix(word) {
                    mult = m;
                    rest = r.trim_start_matches(|c: char| c == '.' || c.is_whitespace());
                    break;
                }
            }
        }
        let unit_before = UNITS.iter().any(|u| before.ends_with(u));
        if (is_unit(rest) || unit_before)
            && let Ok(v) = number.parse::<f64>()
        {
            out.push(v * mult);
        }
        i = j.max(i + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depts() -> Vec<DepartmentCode> {
        ["payments", "verification", "bonuses", "security", "responsible_gaming"].iter().map(|d| DepartmentCode::parse(d).unwrap()).collect()
    }

    fn compile(toml_like: serde_json::Value) -> Result<RuleSet, Vec<RuleError>> {
        let spec: RuleSetSpec = serde_json::from_value(toml_like).unwrap();
        RuleSet::compile(&spec, &depts(), Some(&["aliya".to_string()]))
    }

    fn input<'a>(subject: &'a str, text: &'a str) -> RoutingInput<'a> {
        RoutingInput { channel: Some(Channel::Email), kind: Some(Kind::Complaint), language: Some(Language::Ru), subject, text, ..Default::default() }
    }

    #[test]
    fn words_phrases_prefixes_and_order() {
        let rs = compile(serde_json::json!({"rule": [
            {"name": "self-exclusion", "when": {"any_words": ["самоисключ*", "өзін-өзі шектеу", "self-exclusion"]}, "then": {"department": "responsible_gaming", "priority": "urgent", "add_tags": ["rg"]}, "stop": true},
            {"name": "withdrawals", "when": {"any_words": ["вывод*", "ақша шығару", "withdrawal*"], "no_words": ["бонус*"]}, "then": {"department": "payments", "category": "withdrawal_delay"}},
            {"name": "big money", "when": {"amount_at_least": 500000}, "then": {"priority": "high", "add_tags": ["large_amount"]}},
            {"name": "vip", "when": {"segment": ["vip"]}, "then": {"assign": "aliya"}},
        ]}))
        .unwrap();
        let d = rs.route(&input("Вывода нет", "Жду вывод средств третий день, сумма 750 000 ₸"));
        assert_eq!(d.department.unwrap().as_str(), "payments");
        assert_eq!(d.category.unwrap().as_str(), "withdrawal_delay");
        assert_eq!(d.priority, Some(Priority::High));
        assert_eq!(d.fired, ["withdrawals", "big money"]);
        // A word inside another word does not count ("вывод" is not in "привыводной").
        assert!(rs.route(&input("Вопрос", "привыводной режим")).department.is_none());
        // Kazakh phrase; an earlier stopping rule wins and ends the pass.
        let d = rs.route(&input("Өтініш", "Ақша шығару үшін өзін-өзі шектеу керек"));
        assert_eq!((d.department.unwrap().as_str(), d.priority, d.fired.len()), ("responsible_gaming", Some(Priority::Urgent), 1));
        // no_words keeps bonus withdrawals out.
        assert!(rs.route(&input("Бонус", "вывод бонуса")).department.is_none());
        let mut vip = input("Hi", "withdrawals are slow");
        vip.segments.insert("vip".into());
        let d = rs.route(&vip);
        assert_eq!((d.department.unwrap().as_str(), d.assign.as_deref()), ("payments", Some("aliya")));
    }

    #[test]
    fn rule_files_in_toml_read_back_and_bad_ones_are_named() {
        let text = r#"
[[rule]]
name = "withdrawals"
when.any_words = ["вывод*", "ақша шығару", "withdrawal*"]
when.amount_at_least = 1000
then.department = "payments"
then.category = "withdrawal_delay"

[[rule]]
name = "vip"
enabled = false
stop = true
[rule.when]
segment = ["vip"]
[rule.then]
priority = "high"
add_tags = ["vip"]
"#;
        let spec = RuleSetSpec::from_toml(text).unwrap();
        assert_eq!(spec.rules.len(), 2);
        assert_eq!(spec.rules[0].when.amount_at_least, Some(1000.0));
        assert!(!spec.rules[1].enabled && spec.rules[1].stop);
        assert_eq!(RuleSetSpec::from_toml(&spec.to_toml()).unwrap(), spec);
        assert!(RuleSet::compile(&spec, &depts(), None).is_ok());
        assert_eq!(RuleSetSpec::from_toml("").unwrap(), RuleSetSpec::default());
        // Syntax errors and unknown keys: the line is named.
        let e = RuleSetSpec::from_toml("[[rule]]\nname = \"x\"\nthen.department = \n").unwrap_err();
        assert!(e.0.contains("line 3"), "{e}");
        let e = RuleSetSpec::from_toml("[[rule]]\nname = \"x\"\nwhen.any_word = [\"a\"]\n").unwrap_err();
        assert!(e.0.contains("any_word") && e.0.contains("line 3"), "{e}");
        let e = RuleSetSpec::from_toml("[[rule]]\nname = \"x\"\nthen.priority = \"asap\"\n").unwrap_err();
        assert!(e.0.contains("asap"), "{e}");
        assert!(RuleSetSpec::from_json(b"{\"rule\": [{\"nam\": 1}]}").is_err());
    }

    #[test]
    fn the_dry_run_says_why() {
        let rs = compile(serde_json::json!({"rule": [
            {"name": "kyc", "when": {"all_words": ["документ*", "верификац*"], "channel": ["email"]}, "then": {"department": "verification"}},
            {"name": "phishing", "when": {"text_matches": "https?://\\S*(bet|casino)\\S*\\.(xyz|top)"}, "then": {"department": "security"}},
        ]}))
        .unwrap();
        let (d, trace) = rs.explain(&input("Документы", "Отправил документы, когда пройдет верификация? Ссылка http://win-bet.xyz/login"));
        assert_eq!(d.fired, ["kyc", "phishing"]);
        assert!(trace.iter().all(|t| t.fired));
        let (_, trace) = rs.explain(&input("Документы", "Отправил документы"));
        assert_eq!(trace[0].why, "'верификац*' (all_words) does not occur");
        assert_eq!(trace[1].why, "the text does not match text_matches");
    }

    #[test]
    fn mistakes_are_refused_at_compile_time_with_the_rule_named() {
        let errs = compile(serde_json::json!({"rule": [
            {"name": "a", "when": {"any_words": ["x"]}, "then": {"department": "nowhere"}},
            {"name": "a", "when": {"text_matches": "(unclosed"}, "then": {"priority": "high"}},
            {"name": "big", "when": {"text_matches": "\\w{1000}\\w{1000}\\w{1000}"}, "then": {"priority": "high"}},
            {"name": "nothing", "when": {}, "then": {}},
            {"name": "ghost", "then": {"assign": "nobody"}},
            {"name": "never", "when": {"amount_at_least": 10, "amount_at_most": 5}, "then": {"priority": "low"}},
        ]}))
        .unwrap_err();
        let got: Vec<(usize, &str)> = errs.iter().map(|e| (e.index, e.field.as_str())).collect();
        assert_eq!(
            got,
            [(0, "then.department"), (0, "when.any_words"), (1, "name"), (1, "when.text_matches"), (2, "when.text_matches"), (3, "then"), (4, "then.assign"), (5, "when.amount_at_least")]
        );
        assert!(errs[4].message.contains("too complex"), "{}", errs[4].message);
        // A cycle through tags: each rule tests the tag the other adds.
        let errs = compile(serde_json::json!({"rule": [
            {"name": "one", "when": {"has_tag": ["b"]}, "then": {"add_tags": ["a"]}},
            {"name": "two", "when": {"has_tag": ["a"]}, "then": {"add_tags": ["b"]}},
        ]}))
        .unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.contains("cycle") && errs[0].message.contains("'two'"), "{}", errs[0].message);
        // A rule testing its own tag.
        assert!(compile(serde_json::json!({"rule": [{"name": "self", "when": {"lacks_tag": ["x"]}, "then": {"add_tags": ["x"]}}]})).is_err());
        // Unknown fields and values are refused by the parser.
        assert!(serde_json::from_value::<RuleSetSpec>(serde_json::json!({"rule": [{"name": "a", "wen": {}}]})).is_err());
        assert!(serde_json::from_value::<RuleSetSpec>(serde_json::json!({"rule": [{"name": "a", "when": {"channel": ["fax"]}}]})).is_err());
    }

    #[test]
    fn tags_flow_forward() {
        let rs = compile(serde_json::json!({"rule": [
            {"name": "angry", "when": {"any_words": ["мошенники", "scam"]}, "then": {"add_tags": ["angry"]}},
            {"name": "escalate angry", "when": {"has_tag": ["angry"]}, "then": {"priority": "high"}},
        ]}))
        .unwrap();
        let d = rs.route(&input("!!!", "Вы мошенники"));
        assert_eq!((d.priority, d.fired.len()), (Some(Priority::High), 2));
    }

    #[test]
    fn amounts_in_the_ways_players_write_them() {
        assert_eq!(amounts("сумма 750 000 ₸ и 1 200,50 руб"), [750_000.0, 1_200.5]);
        assert_eq!(amounts("$1,500 and 20 EUR"), [1_500.0, 20.0]);
        assert_eq!(amounts("50 тыс тг, 1,5 млн тенге"), [50_000.0, 1_500_000.0]);
        assert_eq!(amounts("ставка 3 на 2.5 коэффициент, id 123456"), Vec::<f64>::new());
        assert_eq!(amounts("KZT 10000"), [10_000.0]);
    }

    #[test]
    fn huge_text_is_cut() {
        let rs = compile(serde_json::json!({"rule": [{"name": "w", "when": {"any_words": ["needle"]}, "then": {"priority": "high"}}]})).unwrap();
        let text = "a".repeat(5_000_000) + " needle";
        assert!(rs.route(&input("", &text)).fired.is_empty(), "past MAX_TEXT is not looked at");
    }
}
