//! Domain values ⇄ table rows.

use crate::StoreError;
use crate::db::{P, Row};
use ombuds_core::*;
use std::collections::BTreeSet;

pub(crate) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("domain values always serialise")
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(col: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("column {col}: {e}")))
}

fn corrupt<E: std::fmt::Display>(col: &str) -> impl FnOnce(E) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("column {col}: {e}"))
}

pub(crate) const COMPLAINT_COLS: &str = "id, ref, kind, status, channel, player_id, subject, description, language, department, \
     category, priority, assignee, tags, escalation, escalated, resolution, created_at, updated_at, first_response_at, \
     resolved_at, closed_at, version, search_text, sla, sla_next_at, sla_breached, rating, csat, sla_at_risk, merged_into, merged_into_ref";

pub(crate) fn complaint_params(c: &Complaint) -> Vec<P> {
    crate::params![
        c.id,
        c.reference.compact(),
        c.kind.as_str(),
        c.status.as_str(),
        c.channel.as_str(),
        c.player_id,
        c.subject.as_str(),
        c.description.as_str(),
        c.language.as_str(),
        c.department.as_ref().map(|d| d.as_str()),
        c.category.as_ref().map(|d| d.as_str()),
        c.priority.as_str(),
        c.assignee,
        json(&c.tags),
        c.escalation.as_ref().map(json),
        c.escalation.is_some(),
        c.resolution.as_ref().map(json),
        to_micros(c.created_at),
        to_micros(c.updated_at),
        c.first_response_at.map(to_micros),
        c.resolved_at.map(to_micros),
        c.closed_at.map(to_micros),
        c.version,
        search_text(c),
        c.sla.as_ref().map(json),
        c.next_sla_instant().map(to_micros),
        c.sla.as_ref().is_some_and(|s| s.breached()),
        c.rating.as_ref().map(json),
        c.rating.as_ref().map(|r| r.score.get() as i64),
        c.status.is_open() && c.sla.as_ref().is_some_and(|s| s.warned()),
        c.merged_into.as_ref().map(|m| m.id),
        c.merged_into.as_ref().map(|m| m.reference.compact()),
    ]
}

/// What the text filter matches: reference, subject and description, lower-cased in Rust so
/// that Cyrillic matches case-insensitively on both backends.
pub(crate) fn search_text(c: &Complaint) -> String {
    format!("{} {} {}", c.reference.compact(), c.subject, c.description).to_lowercase()
}

pub(crate) fn complaint_from(r: &Row) -> Result<Complaint, StoreError> {
    let opt_json = |col: &str| -> Result<Option<String>, StoreError> { r.opt_text(col) };
    Ok(Complaint {
        id: r.uuid("id")?,
        reference: ComplaintRef::parse(&r.text("ref")?).map_err(corrupt("ref"))?,
        kind: Kind::parse(&r.text("kind")?).map_err(corrupt("kind"))?,
        status: Status::parse(&r.text("status")?).map_err(corrupt("status"))?,
        channel: Channel::parse(&r.text("channel")?).map_err(corrupt("channel"))?,
        player_id: r.uuid("player_id")?,
        subject: Subject::parse(&r.text("subject")?).map_err(corrupt("subject"))?,
        description: Body::parse(&r.text("description")?).map_err(corrupt("description"))?,
        language: Language::parse(&r.text("language")?).map_err(corrupt("language"))?,
        department: r.opt_text("department")?.map(|d| DepartmentCode::parse(&d)).transpose().map_err(corrupt("department"))?,
        category: r.opt_text("category")?.map(|d| Category::parse(&d)).transpose().map_err(corrupt("category"))?,
        priority: Priority::parse(&r.text("priority")?).map_err(corrupt("priority"))?,
        assignee: r.opt_uuid("assignee")?,
        tags: parse_json::<BTreeSet<Tag>>("tags", &r.text("tags")?)?,
        escalation: opt_json("escalation")?.map(|s| parse_json("escalation", &s)).transpose()?,
        resolution: opt_json("resolution")?.map(|s| parse_json("resolution", &s)).transpose()?,
        created_at: from_micros(r.i64("created_at")?),
        updated_at: from_micros(r.i64("updated_at")?),
        first_response_at: r.opt_i64("first_response_at")?.map(from_micros),
        resolved_at: r.opt_i64("resolved_at")?.map(from_micros),
        closed_at: r.opt_i64("closed_at")?.map(from_micros),
        version: r.i64("version")?,
        sla: opt_json("sla")?.map(|s| parse_json("sla", &s)).transpose()?,
        rating: opt_json("rating")?.map(|s| parse_json("rating", &s)).transpose()?,
        merged_into: match (r.opt_uuid("merged_into")?, r.opt_text("merged_into_ref")?) {
            (Some(id), Some(reference)) => Some(MergeLink { id, reference: ComplaintRef::parse(&reference).map_err(corrupt("merged_into_ref"))? }),
            _ => None,
        },
    })
}

pub(crate) const PLAYER_COLS: &str = "id, external_id, name, email, phone, language, created_at, updated_at";

pub(crate) fn player_params(p: &Player, updated_at: i64) -> Vec<P> {
    crate::params![
        p.id,
        p.external_id.as_ref().map(|x| x.as_str()),
        p.name.as_ref().map(|x| x.as_str()),
        p.email.as_ref().map(|x| x.as_str()),
        p.phone.as_ref().map(|x| x.as_str()),
        p.language.as_str(),
        to_micros(p.created_at),
        updated_at,
    ]
}

pub(crate) fn player_from(r: &Row) -> Result<Player, StoreError> {
    Ok(Player {
        id: r.uuid("id")?,
        external_id: r.opt_text("external_id")?.map(|x| ExternalPlayerId::parse(&x)).transpose().map_err(corrupt("external_id"))?,
        name: r.opt_text("name")?.map(|x| PersonName::parse(&x)).transpose().map_err(corrupt("name"))?,
        email: r.opt_text("email")?.map(|x| EmailAddress::parse(&x)).transpose().map_err(corrupt("email"))?,
        phone: r.opt_text("phone")?.map(|x| PhoneNumber::parse(&x)).transpose().map_err(corrupt("phone"))?,
        language: Language::parse(&r.text("language")?).map_err(corrupt("language"))?,
        created_at: from_micros(r.i64("created_at")?),
    })
}

pub(crate) const MAIL_COLS: &str = "id, complaint_id, message_id, direction, header_id, sender, recipient, subject, size, raw, auth, created_at";
pub(crate) const MESSAGE_COLS: &str = "id, complaint_id, kind, channel, author, body, created_at";

pub(crate) fn message_params(m: &Message) -> Vec<P> {
    crate::params![m.id, m.complaint_id, m.kind.as_str(), m.channel.as_str(), json(&m.author), m.body.as_str(), to_micros(m.created_at)]
}

pub(crate) fn message_from(r: &Row) -> Result<Message, StoreError> {
    Ok(Message {
        id: r.uuid("id")?,
        complaint_id: r.uuid("complaint_id")?,
        kind: MessageKind::parse(&r.text("kind")?).map_err(corrupt("kind"))?,
        channel: Channel::parse(&r.text("channel")?).map_err(corrupt("channel"))?,
        author: parse_json("author", &r.text("author")?)?,
        body: Body::parse(&r.text("body")?).map_err(corrupt("body"))?,
        created_at: from_micros(r.i64("created_at")?),
    })
}

pub(crate) const AGENT_COLS: &str = "id, login, name, email, role, departments, languages, active, skills, capacity";

pub(crate) fn agent_from(r: &Row) -> Result<Agent, StoreError> {
    Ok(Agent {
        id: r.uuid("id")?,
        login: r.text("login")?,
        name: PersonName::parse(&r.text("name")?).map_err(corrupt("name"))?,
        email: r.opt_text("email")?.map(|x| EmailAddress::parse(&x)).transpose().map_err(corrupt("email"))?,
        role: Role::parse(&r.text("role")?).map_err(corrupt("role"))?,
        departments: parse_json("departments", &r.text("departments")?)?,
        languages: parse_json("languages", &r.text("languages")?)?,
        active: r.boolean("active")?,
        skills: parse_json("skills", &r.text("skills")?)?,
        capacity: u32::try_from(r.i64("capacity")?).map_err(corrupt("capacity"))?,
    })
}

pub(crate) fn department_from(r: &Row) -> Result<Department, StoreError> {
    Ok(Department {
        code: DepartmentCode::parse(&r.text("code")?).map_err(corrupt("code"))?,
        name_en: r.text("name_en")?,
        name_ru: r.text("name_ru")?,
        name_kk: r.text("name_kk")?,
        active: r.boolean("active")?,
    })
}
