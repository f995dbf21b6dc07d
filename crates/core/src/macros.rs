//! Macros (canned responses): texts an agent inserts into a reply, written once per language
//! and filled in for the complaint at hand. A macro may belong to one department (shown only on
//! its complaints) or to all.

use crate::error::DomainError;
use crate::fields::{Body, DepartmentCode, FieldError, Subject};
use crate::model::Language;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The placeholders a macro's text may use, and what each becomes.
pub const PLACEHOLDERS: [&str; 4] = ["reference", "player", "agent", "department"];

/// One canned response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Macro {
    pub id: Uuid,
    pub title: Subject,
    /// `None`: offered on every department's complaints.
    pub department: Option<DepartmentCode>,
    /// The text per language; at least one.
    pub texts: BTreeMap<Language, Body>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What the placeholders of a macro become on one complaint.
#[derive(Debug, Clone, Default)]
pub struct MacroValues {
    pub reference: String,
    /// The player's name, or the language's polite "player" when unknown.
    pub player: String,
    pub agent: String,
    pub department: String,
}

impl Macro {
    /// Whether the macro is offered on a complaint of `department`.
    pub fn applies_to(&self, department: Option<&DepartmentCode>) -> bool {
        self.department.is_none() || self.department.as_ref() == department
    }

    /// The text for a player of `language`: theirs when written, else Russian, Kazakh, English
    /// (the first the macro has), with the language it is in.
    pub fn text_for(&self, language: Language) -> (Language, &Body) {
        if let Some(t) = self.texts.get(&language) {
            return (language, t);
        }
        let (l, t) = [Language::Ru, Language::Kk, Language::En]
            .iter()
            .find_map(|l| self.texts.get(l).map(|t| (*l, t)))
            .expect("a macro has at least one text");
        (l, t)
    }

    /// The text for `language` with its placeholders filled in.
    pub fn render(&self, language: Language, values: &MacroValues) -> String {
        fill(self.text_for(language).1.as_str(), values)
    }
}

fn fill(text: &str, v: &MacroValues) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').map(|close| (&after[..close], close)) {
            Some((name, close)) if PLACEHOLDERS.contains(&name) => {
                out.push_str(match name {
                    "reference" => &v.reference,
                    "player" => &v.player,
                    "agent" => &v.agent,
                    _ => &v.department,
                });
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The placeholders a text names (`{word}` with a word of letters, digits or `_`).
fn named_placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices('{').filter_map(move |(i, _)| {
        let after = &text[i + 1..];
        let close = after.find('}')?;
        let name = &after[..close];
        (!name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')).then_some(name)
    })
}

/// A macro as an editor writes it: raw texts per language (empty ones are left out).
#[derive(Debug, Clone, Default)]
pub struct MacroDraft {
    pub id: Option<Uuid>,
    pub title: String,
    pub department: Option<String>,
    pub texts: BTreeMap<Language, String>,
}

impl MacroDraft {
    /// Checks every field and says what is wrong with each: a title, a department the desk
    /// has (`known`), at least one text, and no placeholder the desk cannot fill.
    pub fn parse(self, now: Timestamp, existing: Option<&Macro>, known: impl Fn(&DepartmentCode) -> bool) -> Result<Macro, DomainError> {
        let mut errors: Vec<FieldError> = vec![];
        let title = Subject::parse(&self.title).map_err(|e| errors.push(FieldError::new("title", e.code, e.message))).ok();
        let department = match self.department.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            None => None,
            Some(d) => match DepartmentCode::parse(d) {
                Ok(code) if known(&code) => Some(code),
                Ok(code) => {
                    errors.push(FieldError::new("department", "unknown_department", format!("there is no department '{code}'")));
                    None
                }
                Err(e) => {
                    errors.push(FieldError::new("department", e.code, e.message));
                    None
                }
            },
        };
        let mut texts = BTreeMap::new();
        for (language, raw) in self.texts {
            if raw.trim().is_empty() {
                continue;
            }
            let field = format!("text_{}", language.as_str());
            match Body::parse(&raw) {
                Ok(body) => {
                    if let Some(bad) = named_placeholders(body.as_str()).find(|n| !PLACEHOLDERS.contains(n)) {
                        errors.push(FieldError::new(
                            &field,
                            "unknown_placeholder",
                            format!("{{{bad}}} is not a placeholder; use {}", PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")),
                        ));
                    } else {
                        texts.insert(language, body);
                    }
                }
                Err(e) => errors.push(FieldError::new(field, e.code, e.message)),
            }
        }
        if texts.is_empty() && !errors.iter().any(|e| e.field.starts_with("text_")) {
            errors.push(FieldError::new("text_ru", "required", "write the text in at least one language"));
        }
        if !errors.is_empty() {
            return Err(DomainError::Invalid(errors));
        }
        Ok(Macro {
            id: existing.map_or_else(|| self.id.unwrap_or_else(Uuid::now_v7), |m| m.id),
            title: title.expect("checked"),
            department,
            texts,
            created_at: existing.map_or(now, |m| m.created_at),
            updated_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(texts: &[(Language, &str)]) -> MacroDraft {
        MacroDraft { id: None, title: "Вывод в обработке".into(), department: Some("payments".into()), texts: texts.iter().map(|(l, t)| (*l, t.to_string())).collect() }
    }

    fn values() -> MacroValues {
        MacroValues { reference: "K7Q-2MX-9TB".into(), player: "Айгерим".into(), agent: "Дана".into(), department: "Платежи".into() }
    }

    #[test]
    fn fills_placeholders_in_the_players_language() {
        let m = draft(&[(Language::Ru, "{player}, обращение {reference} у нас. {agent}"), (Language::En, "{player}, we have {reference}.")])
            .parse(Timestamp::UNIX_EPOCH, None, |_| true)
            .unwrap();
        assert_eq!(m.render(Language::Ru, &values()), "Айгерим, обращение K7Q-2MX-9TB у нас. Дана");
        assert_eq!(m.render(Language::En, &values()), "Айгерим, we have K7Q-2MX-9TB.");
        assert_eq!(m.text_for(Language::Kk).0, Language::Ru, "no Kazakh text: Russian");
        assert!(m.applies_to(DepartmentCode::parse("payments").ok().as_ref()));
        assert!(!m.applies_to(DepartmentCode::parse("security").ok().as_ref()));
        assert!(!m.applies_to(None));
    }

    #[test]
    fn braces_that_are_not_placeholders_stay() {
        assert_eq!(fill("{ } {x {reference}} {", &values()), "{ } {x K7Q-2MX-9TB} {");
    }

    #[test]
    fn bad_drafts_say_which_field() {
        let e = |d: MacroDraft| match d.parse(Timestamp::UNIX_EPOCH, None, |d| d.as_str() != "casino") {
            Err(DomainError::Invalid(v)) => v.into_iter().map(|e| (e.field, e.code)).collect::<Vec<_>>(),
            other => panic!("accepted: {other:?}"),
        };
        assert_eq!(e(draft(&[])), [("text_ru".to_string(), "required")]);
        assert_eq!(e(draft(&[(Language::Kk, "   ")])), [("text_ru".to_string(), "required")]);
        assert_eq!(e(draft(&[(Language::En, "Hi {name}")])), [("text_en".to_string(), "unknown_placeholder")]);
        let mut d = draft(&[(Language::Ru, "ok")]);
        d.title = " ".into();
        d.department = Some("Not A Code!".into());
        let fields: Vec<String> = e(d).into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["title", "department"]);
        let mut d = draft(&[(Language::Ru, "{agent}")]);
        d.department = Some("casino".into());
        assert_eq!(e(d), [("department".to_string(), "unknown_department")]);
    }
}
