//! Composing the e-mails ombuds sends to players: an RFC 5322 message with a plain-text and an
//! HTML part, in the complaint's language, threaded under the player's mail.
//!
//! The words live in templates (`crates/mail/templates/{en,ru,kk}/`, MiniJinja syntax), embedded
//! in the binary and replaceable one by one through [`Composer::with_template`] so operators can
//! edit them. The code keeps what must never depend on a template: the `[REF]` token at the head
//! of every subject, the `X-Ombuds-Ref` header, the headers that stop mail loops, and the
//! cleaning of every untrusted string before it reaches a header or the HTML.
//!
//! Nothing here does I/O: [`compose`] turns an [`Outgoing`] into bytes, the channel sends them.

use std::collections::HashSet;
use std::sync::OnceLock;

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, context};
use ombuds_core::{ComplaintRef, Language};

/// What a message tells the player. Text fields are shown as written (escaped in HTML).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice<'a> {
    /// The complaint is registered: its reference, when we answer, how to add information.
    Acknowledgment,
    /// An agent's own message.
    Reply { body: &'a str },
    /// A solution for the player to accept or refuse.
    SolutionProposed { text: &'a str },
    /// Questions the player should answer.
    InformationRequested { text: &'a str },
    /// The measures taken and the result; a reply disputes it and reopens the complaint.
    Resolved { measures: &'a str, result: &'a str },
    /// A one-time code (and the tracking link) the player asked for to open the complaint on
    /// the portal, good for `minutes`.
    TrackAccess { code: &'a str, minutes: u64 },
}

impl Notice<'_> {
    pub fn kind(&self) -> NoticeKind {
        match self {
            Notice::Acknowledgment => NoticeKind::Acknowledgment,
            Notice::Reply { .. } => NoticeKind::Reply,
            Notice::SolutionProposed { .. } => NoticeKind::SolutionProposed,
            Notice::InformationRequested { .. } => NoticeKind::InformationRequested,
            Notice::Resolved { .. } => NoticeKind::Resolved,
            Notice::TrackAccess { .. } => NoticeKind::TrackAccess,
        }
    }
}

/// A [`Notice`] without its text: picks the templates and the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    Acknowledgment,
    Reply,
    SolutionProposed,
    InformationRequested,
    Resolved,
    TrackAccess,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 6] = [
        NoticeKind::Acknowledgment,
        NoticeKind::Reply,
        NoticeKind::SolutionProposed,
        NoticeKind::InformationRequested,
        NoticeKind::Resolved,
        NoticeKind::TrackAccess,
    ];

    /// The templates' file stem (`en/<name>.txt`, `en/<name>.html`), also `notice` in them.
    pub fn name(self) -> &'static str {
        match self {
            NoticeKind::Acknowledgment => "acknowledgment",
            NoticeKind::Reply => "reply",
            NoticeKind::SolutionProposed => "solution_proposed",
            NoticeKind::InformationRequested => "information_requested",
            NoticeKind::Resolved => "resolved",
            NoticeKind::TrackAccess => "track_access",
        }
    }

    /// The `Auto-Submitted` value (RFC 3834), `None` for a message a person wrote. The
    /// acknowledgment answers the player's mail by itself (`auto-replied`); the resolution
    /// notice is generated from the desk's record (`auto-generated`). Replies, proposed
    /// solutions and requests for information carry an agent's words and expect the player's
    /// answer, so they go out as ordinary mail. Automatic ones also carry
    /// `X-Auto-Response-Suppress: All`, so out-of-office robots stay quiet.
    pub fn auto_submitted(self) -> Option<&'static str> {
        match self {
            NoticeKind::Acknowledgment => Some("auto-replied"),
            NoticeKind::Resolved | NoticeKind::TrackAccess => Some("auto-generated"),
            NoticeKind::Reply | NoticeKind::SolutionProposed | NoticeKind::InformationRequested => {
                None
            }
        }
    }
}

/// An address with an optional display name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mailbox<'a> {
    pub name: Option<&'a str>,
    pub address: &'a str,
}

/// Everything one outbound message needs.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// The operator's support address and display name, e.g. "Support — Operator".
    pub from: Mailbox<'a>,
    /// The player; the name is optional.
    pub to: Mailbox<'a>,
    pub language: Language,
    pub reference: ComplaintRef,
    /// The player's original subject (untrusted): cleaned to one line, "Re:" prefixes dropped.
    pub complaint_subject: &'a str,
    pub notice: Notice<'a>,
    /// Our Message-ID without `<>`, e.g. "0193…@operator.example".
    pub message_id: &'a str,
    /// The player's last Message-ID we know, without `<>`. A malformed one is left out.
    pub in_reply_to: Option<&'a str>,
    /// The thread's Message-IDs, oldest first, without `<>`. Malformed ones are left out; more
    /// than 20 are cut to the first and the last 19, as mail clients do.
    pub references: &'a [String],
    pub date: jiff::Timestamp,
    /// The brand shown in the text, e.g. "Operator".
    pub operator_name: &'a str,
    /// Where the player can follow the complaint (http or https), if anywhere.
    pub tracking_url: Option<&'a str>,
    /// The promised first response, in hours (shown in the acknowledgment).
    pub response_hours: u32,
}

/// A notice to an agent or supervisor: a new assignment, an SLA warning or a breach.
#[derive(Debug, Clone)]
pub struct StaffOutgoing<'a> {
    pub from: Mailbox<'a>,
    pub to: Mailbox<'a>,
    /// The agent's language.
    pub language: Language,
    pub reference: ComplaintRef,
    pub complaint_subject: &'a str,
    /// `assigned`, `sla_warning` or `sla_breach`.
    pub notice: &'a str,
    /// `first_response`, `resolution` or `hard_limit`, for SLA notices.
    pub clock: Option<&'a str>,
    /// The deadline, as the agent should read it (already in their time zone).
    pub due: Option<&'a str>,
    pub department: Option<&'a str>,
    pub message_id: &'a str,
    pub date: jiff::Timestamp,
    pub operator_name: &'a str,
    /// A link to the complaint in the workspace, if the desk has a public address.
    pub workspace_url: Option<&'a str>,
}

/// A composed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    /// The whole RFC 5322 message, CRLF line ends, ready for SMTP `DATA`.
    pub bytes: Vec<u8>,
    /// The subject as sent (before RFC 2047 encoding).
    pub subject: String,
    /// The text/plain part.
    pub text: String,
    /// The text/html part.
    pub html: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    #[error("the {field} address {address:?} cannot be used: {reason}")]
    Address {
        field: &'static str,
        address: String,
        reason: &'static str,
    },
    #[error(
        "our Message-ID {0:?} is not valid: it needs a left part, an @ and a domain, in printable ASCII without <>, spaces or quotes"
    )]
    MessageId(String),
    #[error(
        "the tracking URL {0:?} is not valid: it must be an http or https URL in ASCII without spaces, quotes or <>"
    )]
    TrackingUrl(String),
    #[error("no template is called {0:?}")]
    UnknownTemplate(String),
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
}

/// Composes `out` with the built-in templates.
pub fn compose(out: &Outgoing) -> Result<Composed, ComposeError> {
    Composer::builtin().compose(out)
}

/// The subject for a notice with the built-in templates, e.g. `[K7M-4QX-2PH] Re: Withdrawal
/// delayed`. It always starts with `[REF]`: inbound threading falls back to that token.
pub fn subject_line(
    language: Language,
    reference: ComplaintRef,
    kind: NoticeKind,
    complaint_subject: &str,
) -> String {
    Composer::builtin()
        .subject_line(language, reference, kind, complaint_subject)
        .expect("the built-in subject templates render (tested for every language and notice)")
}

/// One language's templates, named like `en/reply.txt`.
macro_rules! language_templates {
    ($lang:literal) => {
        language_templates!(@files $lang:
            "subject.txt", "base.txt", "base.html",
            "acknowledgment.txt", "acknowledgment.html",
            "reply.txt", "reply.html",
            "solution_proposed.txt", "solution_proposed.html",
            "information_requested.txt", "information_requested.html",
            "resolved.txt", "resolved.html",
            "track_access.txt", "track_access.html",
            "staff.txt", "staff.html", "staff_subject.txt")
    };
    (@files $lang:literal: $($file:literal),+) => {
        [$((concat!($lang, "/", $file), include_str!(concat!("../templates/", $lang, "/", $file)))),+]
    };
}

const SHARED_TEMPLATES: [(&str, &str); 2] = [
    ("layout.html", include_str!("../templates/layout.html")),
    (
        "components.html",
        include_str!("../templates/components.html"),
    ),
];
const EN_TEMPLATES: [(&str, &str); 18] = language_templates!("en");
const RU_TEMPLATES: [(&str, &str); 18] = language_templates!("ru");
const KK_TEMPLATES: [(&str, &str); 18] = language_templates!("kk");

fn builtin_templates() -> impl Iterator<Item = (&'static str, &'static str)> {
    SHARED_TEMPLATES
        .into_iter()
        .chain(EN_TEMPLATES)
        .chain(RU_TEMPLATES)
        .chain(KK_TEMPLATES)
}

/// The templates and the settings that are the operator's, not the message's.
///
/// [`compose`] uses [`Composer::builtin`]; an operator who edits templates or changes the
/// reopening window builds one and keeps it.
#[derive(Debug, Clone)]
pub struct Composer {
    env: Environment<'static>,
    reopen_days: Option<u32>,
}

impl Default for Composer {
    fn default() -> Self {
        Composer::new()
    }
}

/// Days a player has to dispute a resolution, shown in the resolution notice.
pub const DEFAULT_REOPEN_DAYS: u32 = 14;

impl Composer {
    /// The built-in templates, with a reopening window of [`DEFAULT_REOPEN_DAYS`].
    pub fn new() -> Composer {
        let mut env = Environment::new();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .expect("the default delimiters are valid"),
        );
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(format_value);
        env.add_filter("linebreaks", linebreaks);
        env.add_filter("plural", plural);
        env.add_filter("clock", clock_name);
        for (name, source) in builtin_templates() {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("built-in template {name} does not parse: {e}"));
        }
        Composer {
            env,
            reopen_days: Some(DEFAULT_REOPEN_DAYS),
        }
    }

    /// One shared instance of [`Composer::new`].
    pub fn builtin() -> &'static Composer {
        static BUILTIN: OnceLock<Composer> = OnceLock::new();
        BUILTIN.get_or_init(Composer::new)
    }

    /// How many days the resolution notice gives the player to dispute it (`None`: it names
    /// no limit). Keep it equal to the quiet period after which a resolved complaint closes.
    pub fn with_reopen_days(mut self, days: Option<u32>) -> Composer {
        self.reopen_days = days;
        self
    }

    /// The names of the templates an operator can replace, e.g. `ru/acknowledgment.html`.
    pub fn template_names() -> impl Iterator<Item = &'static str> {
        builtin_templates().map(|(name, _)| name)
    }

    /// The current source of a template.
    pub fn template_source(&self, name: &str) -> Option<String> {
        self.env
            .get_template(name)
            .ok()
            .map(|t| t.source().to_string())
    }

    /// Replaces one template. The result is checked with [`Composer::check`], so a template
    /// that does not parse, uses an unknown variable or drops the reference is refused and
    /// `self` stays as it was.
    pub fn with_template(
        &self,
        name: &str,
        source: impl Into<String>,
    ) -> Result<Composer, ComposeError> {
        if !Composer::template_names().any(|n| n == name) {
            return Err(ComposeError::UnknownTemplate(name.to_string()));
        }
        let mut next = self.clone();
        next.env
            .add_template_owned(name.to_string(), source.into())
            .map_err(|e| template_error(name, &e))?;
        next.check()?;
        Ok(next)
    }

    /// Renders every notice in every language with sample values: each must render, and show
    /// the reference in both parts.
    pub fn check(&self) -> Result<(), ComposeError> {
        let reference = ComplaintRef::from_bits(0x01_2345_6789);
        let references = vec!["first@player.example".to_string()];
        for &language in Language::ALL {
            for kind in NoticeKind::ALL {
                let notice = sample_notice(kind);
                for tracking_url in [None, Some("https://operator.example/track")] {
                    let out = Outgoing {
                        from: Mailbox {
                            name: Some("Support"),
                            address: "support@operator.example",
                        },
                        to: Mailbox {
                            name: Some("Player"),
                            address: "player@player.example",
                        },
                        language,
                        reference,
                        complaint_subject: "Sample subject",
                        notice,
                        message_id: "check@operator.example",
                        in_reply_to: Some("first@player.example"),
                        references: &references,
                        date: jiff::Timestamp::UNIX_EPOCH,
                        operator_name: "Operator",
                        tracking_url,
                        response_hours: 24,
                    };
                    let composed = self.compose(&out)?;
                    let shown = reference.to_string();
                    for (part, body) in [("txt", &composed.text), ("html", &composed.html)] {
                        if !body.contains(&shown) {
                            return Err(ComposeError::Template {
                                name: format!("{language}/{}.{part}", kind.name()),
                                message: "the message must show the complaint's reference".into(),
                            });
                        }
                    }
                }
            }
            for notice in ["assigned", "sla_warning", "sla_breach"] {
                let out = StaffOutgoing {
                    from: Mailbox { name: Some("Desk"), address: "desk@operator.example" },
                    to: Mailbox { name: Some("Agent"), address: "agent@operator.example" },
                    language,
                    reference,
                    complaint_subject: "Sample subject",
                    notice,
                    clock: Some("resolution"),
                    due: Some("2026-12-01 18:00"),
                    department: Some("payments"),
                    message_id: "check-staff@operator.example",
                    date: jiff::Timestamp::UNIX_EPOCH,
                    operator_name: "Operator",
                    workspace_url: Some("https://desk.operator.example/c/REF"),
                };
                let composed = self.compose_staff(&out)?;
                for (part, body) in [("txt", &composed.text), ("html", &composed.html)] {
                    if !body.contains(&reference.to_string()) {
                        return Err(ComposeError::Template {
                            name: format!("{language}/staff.{part}"),
                            message: "the message must show the complaint's reference".into(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// What template `name` produces, composed with sample values: the notice it belongs to
    /// (`staff*`: an assignment; `subject.txt`, `base.*` and the shared templates: the
    /// acknowledgment), in its language (Russian for the shared ones).
    pub fn preview(&self, name: &str) -> Result<Composed, ComposeError> {
        if !Composer::template_names().any(|n| n == name) {
            return Err(ComposeError::UnknownTemplate(name.to_string()));
        }
        let (language, file) = match name.split_once('/') {
            Some((l, file)) => (Language::parse(l).unwrap_or(Language::Ru), file),
            None => (Language::Ru, name),
        };
        let stem = file.split('.').next().unwrap_or(file);
        let reference = ComplaintRef::from_bits(0x01_2345_6789);
        if stem.starts_with("staff") {
            return self.compose_staff(&StaffOutgoing {
                from: Mailbox { name: Some("Desk"), address: "desk@operator.example" },
                to: Mailbox { name: Some("Aliya"), address: "agent@operator.example" },
                language,
                reference,
                complaint_subject: "Sample subject",
                notice: "assigned",
                clock: Some("resolution"),
                due: Some("2026-12-01 18:00 UTC"),
                department: Some("payments"),
                message_id: "preview-staff@operator.example",
                date: jiff::Timestamp::UNIX_EPOCH,
                operator_name: "Operator",
                workspace_url: Some("https://desk.operator.example/ui/complaints/REF"),
            });
        }
        let kind = NoticeKind::ALL.into_iter().find(|k| k.name() == stem).unwrap_or(NoticeKind::Acknowledgment);
        self.compose(&Outgoing {
            from: Mailbox { name: Some("Support"), address: "support@operator.example" },
            to: Mailbox { name: Some("Player"), address: "player@player.example" },
            language,
            reference,
            complaint_subject: "Sample subject",
            notice: sample_notice(kind),
            message_id: "preview@operator.example",
            in_reply_to: None,
            references: &[],
            date: jiff::Timestamp::UNIX_EPOCH,
            operator_name: "Operator",
            tracking_url: Some("https://operator.example/track"),
            response_hours: 24,
        })
    }

    /// The subject line: `[REF] ` and the language's `subject.txt`, on one line.
    pub fn subject_line(
        &self,
        language: Language,
        reference: ComplaintRef,
        kind: NoticeKind,
        complaint_subject: &str,
    ) -> Result<String, ComposeError> {
        let subject = clean_subject(complaint_subject, reference);
        self.subject_from(language, reference, kind, &subject)
    }

    fn subject_from(
        &self,
        language: Language,
        reference: ComplaintRef,
        kind: NoticeKind,
        subject: &str,
    ) -> Result<String, ComposeError> {
        let name = format!("{language}/subject.txt");
        let rendered = self.render(&name, context! { lang => language.as_str(), notice => kind.name(), subject, reference => reference.to_string() })?;
        let rendered = one_line(&rendered, MAX_SUBJECT_CHARS + 60);
        Ok(if rendered.is_empty() {
            format!("[{reference}]")
        } else {
            format!("[{reference}] {rendered}")
        })
    }

    /// Composes one message.
    pub fn compose(&self, out: &Outgoing) -> Result<Composed, ComposeError> {
        let from = mailbox("from", &out.from)?;
        let to = mailbox("to", &out.to)?;
        let message_id = clean_message_id(out.message_id)
            .filter(|id| id.contains('@'))
            .ok_or_else(|| ComposeError::MessageId(out.message_id.to_string()))?;
        let tracking_url = match out.tracking_url {
            Some(url) => {
                Some(check_url(url).ok_or_else(|| ComposeError::TrackingUrl(url.to_string()))?)
            }
            None => None,
        };
        let in_reply_to = out
            .in_reply_to
            .and_then(clean_message_id)
            .filter(|id| *id != message_id);
        let references = thread_references(out.references, in_reply_to, message_id);

        let kind = out.notice.kind();
        let language = out.language;
        let subject = clean_subject(out.complaint_subject, out.reference);
        let subject_line = self.subject_from(language, out.reference, kind, &subject)?;

        let mut ctx = context! {
            lang => language.as_str(),
            notice => kind.name(),
            reference => out.reference.to_string(),
            subject,
            subject_line => subject_line.clone(),
            name => to.name.clone(),
            operator => one_line(out.operator_name, 100),
            tracking_url,
            hours => out.response_hours,
            reopen_days => self.reopen_days,
        };
        let extra = match out.notice {
            Notice::Acknowledgment => context! {},
            Notice::Reply { body } => context! { body => clean_text(body) },
            Notice::SolutionProposed { text } | Notice::InformationRequested { text } => {
                context! { text => clean_text(text) }
            }
            Notice::Resolved { measures, result } => {
                context! { measures => clean_text(measures), result => clean_text(result) }
            }
            Notice::TrackAccess { code, minutes } => context! { code => one_line(code, 12), minutes },
        };
        ctx = context! { ..extra, ..ctx };

        let text =
            tidy_text(&self.render(&format!("{language}/{}.txt", kind.name()), ctx.clone())?);
        let html = self.render(&format!("{language}/{}.html", kind.name()), ctx)?;

        let mut builder = MessageBuilder::new()
            .from(Address::new_address(from.name, from.address))
            .to(Address::new_address(to.name, to.address))
            .subject(Text::new(subject_line.clone()))
            .date(Date::new(out.date.as_second()))
            .message_id(MessageId::new(message_id));
        if let Some(id) = in_reply_to {
            builder = builder.in_reply_to(MessageId::new(id));
        }
        if !references.is_empty() {
            builder = builder.references(MessageId::new_list(references.into_iter()));
        }
        builder = builder
            .header("MIME-Version", Raw::new("1.0"))
            .header("Content-Language", Raw::new(language.as_str()))
            .header("X-Ombuds-Ref", Raw::new(out.reference.to_string()));
        if let Some(auto) = kind.auto_submitted() {
            builder = builder
                .header("Auto-Submitted", Raw::new(auto))
                .header("X-Auto-Response-Suppress", Raw::new("All"));
        }
        let mut bytes = Vec::new();
        builder
            .text_body(text.clone())
            .html_body(html.clone())
            .serialize(&mut bytes);
        Ok(Composed {
            bytes,
            subject: subject_line,
            text,
            html,
        })
    }

    /// Composes a notice to staff (text and HTML, `Auto-Submitted: auto-generated`).
    pub fn compose_staff(&self, out: &StaffOutgoing) -> Result<Composed, ComposeError> {
        let from = mailbox("from", &out.from)?;
        let to = mailbox("to", &out.to)?;
        let message_id = clean_message_id(out.message_id)
            .filter(|id| id.contains('@'))
            .ok_or_else(|| ComposeError::MessageId(out.message_id.to_string()))?;
        let workspace_url = match out.workspace_url {
            Some(url) => Some(check_url(url).ok_or_else(|| ComposeError::TrackingUrl(url.to_string()))?),
            None => None,
        };
        let language = out.language;
        let notice = match out.notice {
            "assigned" | "sla_warning" | "sla_breach" => out.notice,
            _ => "sla_breach",
        };
        let subject = clean_subject(out.complaint_subject, out.reference);
        let base = context! {
            lang => language.as_str(),
            notice,
            clock => out.clock.map(|c| one_line(c, 40)),
            due => out.due.map(|d| one_line(d, 60)),
            department => out.department.map(|d| one_line(d, 100)),
            reference => out.reference.to_string(),
            subject => subject.clone(),
            operator => one_line(out.operator_name, 100),
            workspace_url,
        };
        let rendered = self.render(&format!("{language}/staff_subject.txt"), base.clone())?;
        let subject_line = format!("[{}] {}", out.reference, one_line(&rendered, MAX_SUBJECT_CHARS + 60));
        let ctx = context! { subject_line => subject_line.clone(), ..base };
        let text = tidy_text(&self.render(&format!("{language}/staff.txt"), ctx.clone())?);
        let html = self.render(&format!("{language}/staff.html"), ctx)?;
        let mut bytes = Vec::new();
        MessageBuilder::new()
            .from(Address::new_address(from.name, from.address))
            .to(Address::new_address(to.name, to.address))
            .subject(Text::new(subject_line.clone()))
            .date(Date::new(out.date.as_second()))
            .message_id(MessageId::new(message_id))
            .header("MIME-Version", Raw::new("1.0"))
            .header("Content-Language", Raw::new(language.as_str()))
            .header("X-Ombuds-Ref", Raw::new(out.reference.to_string()))
            .header("Auto-Submitted", Raw::new("auto-generated"))
            .header("X-Auto-Response-Suppress", Raw::new("All"))
            .text_body(text.clone())
            .html_body(html.clone())
            .serialize(&mut bytes);
        Ok(Composed { bytes, subject: subject_line, text, html })
    }

    fn render(&self, name: &str, ctx: Value) -> Result<String, ComposeError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| template_error(name, &e))
    }
}

/// A notice of `kind` with sample text, for checks and previews.
fn sample_notice(kind: NoticeKind) -> Notice<'static> {
    match kind {
        NoticeKind::Acknowledgment => Notice::Acknowledgment,
        NoticeKind::Reply => Notice::Reply { body: "Sample reply." },
        NoticeKind::SolutionProposed => Notice::SolutionProposed { text: "Sample solution." },
        NoticeKind::InformationRequested => Notice::InformationRequested { text: "Sample question?" },
        NoticeKind::Resolved => Notice::Resolved { measures: "Sample measures.", result: "Sample result." },
        NoticeKind::TrackAccess => Notice::TrackAccess { code: "123456", minutes: 15 },
    }
}

fn template_error(name: &str, e: &minijinja::Error) -> ComposeError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    ComposeError::Template {
        name: name.to_string(),
        message,
    }
}

// ---------------------------------------------------------------------------------------------
// Template filters

/// How `{{ value }}` is written: `none` as nothing (an optional value needs no `if` to be
/// left out), an undefined name as an error, and in HTML templates escaped by
/// [`escape_html_into`], which leaves `/` alone so links stay readable.
fn format_value(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    if value.is_undefined() {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::UndefinedError,
            "a template prints a name nobody defined",
        ));
    }
    if value.is_none() {
        return Ok(());
    }
    if matches!(state.auto_escape(), AutoEscape::Html) && !value.is_safe() {
        let mut escaped = String::new();
        escape_html_into(&value.to_string(), &mut escaped);
        out.write_str(&escaped)?;
        return Ok(());
    }
    minijinja::escape_formatter(out, state, value)
}

/// `{{ text|linebreaks }}`: HTML-escapes the text and turns its line breaks into `<br>`.
fn linebreaks(text: &str) -> Value {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push_str("<br>\n");
        }
        escape_html_into(line, &mut out);
    }
    Value::from_safe_string(out)
}

/// `{{ clock|clock("ru") }}`: an SLA clock's name in a language.
fn clock_name(clock: Option<String>, language: String) -> String {
    let name = clock.unwrap_or_default();
    let pick = |en: &str, ru: &str, kk: &str| -> String {
        match language.as_str() {
            "ru" => ru,
            "kk" => kk,
            _ => en,
        }
        .to_string()
    };
    match name.as_str() {
        "first_response" => pick("first response", "первый ответ", "алғашқы жауап"),
        "resolution" => pick("resolution", "решение", "шешім"),
        "hard_limit" => pick("hard limit", "предельный срок", "соңғы мерзім"),
        _ => pick("SLA", "SLA", "SLA"),
    }
}

/// `{{ n|plural("hour", "hours") }}` (one, other: English) or
/// `{{ n|plural("часа", "часов", "часов") }}` (one, few, many: Russian rules, here in the
/// genitive that "в течение" asks for). Kazakh needs no plural after a numeral.
fn plural(n: i64, one: String, few: String, many: Option<String>) -> String {
    let n = n.unsigned_abs();
    match many {
        None => {
            if n == 1 {
                one
            } else {
                few
            }
        }
        Some(many) => {
            let (last, last_two) = (n % 10, n % 100);
            if last == 1 && last_two != 11 {
                one
            } else if (2..=4).contains(&last) && !(12..=14).contains(&last_two) {
                few
            } else {
                many
            }
        }
    }
}

fn escape_html_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cleaning untrusted strings

const MAX_SUBJECT_CHARS: usize = 150;
const MAX_NAME_CHARS: usize = 100;
/// A References header longer than this keeps the first and the last `MAX_REFERENCES - 1`.
pub const MAX_REFERENCES: usize = 20;

/// Characters that must never reach a header or a line of text as they are: controls (CR, LF,
/// NUL…), Unicode line and paragraph separators, and bidirectional overrides that could make
/// a subject read differently from what it is.
fn is_hazard(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// One line: hazards and runs of whitespace become one space, trimmed, at most `max` chars
/// (an ellipsis marks a cut).
fn one_line(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    let mut count = 0;
    let mut pending_space = false;
    for c in s.chars() {
        if c.is_whitespace() || is_hazard(c) {
            pending_space = !out.is_empty();
            continue;
        }
        if count + usize::from(pending_space) >= max {
            out.push('…');
            return out;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        out.push(c);
        count += 1;
    }
    out
}

/// Multi-line text an agent or a player wrote: LF line ends, no controls but tab, no trailing
/// spaces, no blank lines at the start or the end.
fn clean_text(s: &str) -> String {
    let s = s
        .replace("\r\n", "\n")
        .replace(['\r', '\u{2028}', '\u{2029}', '\u{85}'], "\n");
    let lines: Vec<String> = s
        .split('\n')
        .map(|line| {
            line.chars()
                .filter(|&c| c == '\t' || !is_hazard(c))
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect();
    let first = lines
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(lines.len());
    let last = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(first, |p| p + 1);
    lines[first..last].join("\n")
}

/// The rendered text part: no trailing spaces, at most one blank line in a row, one final
/// newline. Templates can then be written for readability, not for exact whitespace.
fn tidy_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank = 0;
    for line in s.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() && blank > 0 {
            out.push('\n');
        }
        blank = 0;
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The player's subject for ours: one line, without our `[REF]` token and without the "Re:",
/// "Fwd:", "Ответ:"… prefixes mail clients stack up.
fn clean_subject(raw: &str, reference: ComplaintRef) -> String {
    let mut s = one_line(raw, 1000);
    for token in [
        format!("[{reference}]"),
        format!("[{}]", reference.compact()),
    ] {
        while let Some(at) = find_ascii_ignore_case(&s, &token) {
            s.replace_range(at..at + token.len(), " ");
        }
    }
    let mut rest = s.trim();
    while let Some(stripped) = strip_reply_prefix(rest) {
        rest = stripped.trim_start();
    }
    one_line(rest, MAX_SUBJECT_CHARS)
}

/// Where the ASCII `needle` first occurs in `haystack`, ignoring ASCII case.
fn find_ascii_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack.char_indices().map(|(i, _)| i).find(|&i| {
        haystack
            .get(i..i + needle.len())
            .is_some_and(|t| t.eq_ignore_ascii_case(needle))
    })
}

fn strip_reply_prefix(s: &str) -> Option<&str> {
    const PREFIXES: [&str; 12] = [
        "re",
        "fw",
        "fwd",
        "aw",
        "wg",
        "sv",
        "vs",
        "tr",
        "отв",
        "ответ",
        "пересл",
        "жауап",
    ];
    let colon = s.find(':').filter(|&i| i <= 16)?;
    let head = s[..colon].trim();
    // "Re[2]", "Re(3)", "RE^2".
    let word = head
        .trim_end_matches(|c: char| c.is_ascii_digit() || matches!(c, '[' | ']' | '(' | ')' | '^'))
        .trim();
    PREFIXES
        .iter()
        .any(|p| word.to_lowercase() == *p)
        .then(|| &s[colon + 1..])
}

struct CleanMailbox<'a> {
    name: Option<String>,
    address: &'a str,
}

fn mailbox<'a>(field: &'static str, m: &Mailbox<'a>) -> Result<CleanMailbox<'a>, ComposeError> {
    check_address(m.address).map_err(|reason| ComposeError::Address {
        field,
        address: m.address.to_string(),
        reason,
    })?;
    let name = m
        .name
        .map(|n| one_line(n, MAX_NAME_CHARS))
        .filter(|n| !n.is_empty());
    Ok(CleanMailbox {
        name,
        address: m.address,
    })
}

/// A plain `local@domain` address in ASCII (no quoted local parts, no address literals, no
/// SMTPUTF8): anything else is refused rather than guessed at.
fn check_address(address: &str) -> Result<(), &'static str> {
    if address.is_empty() {
        return Err("it is empty");
    }
    if address
        .chars()
        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
    {
        return Err("it contains a line break or a control character");
    }
    if address.chars().any(char::is_whitespace) {
        return Err("it contains a space");
    }
    if !address.is_ascii() {
        return Err("it contains non-ASCII characters, which need SMTPUTF8 (not supported)");
    }
    if address.len() > 254 {
        return Err("it is longer than 254 characters");
    }
    let Some((local, domain)) = address.split_once('@') else {
        return Err("it has no @");
    };
    if domain.contains('@') {
        return Err("it has more than one @");
    }
    if local.is_empty() || local.len() > 64 {
        return Err("the part before @ must have 1 to 64 characters");
    }
    const ATEXT_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";
    if local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
        || !local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || ATEXT_SPECIALS.contains(c))
    {
        return Err("the part before @ has characters or dots that mail does not allow unquoted");
    }
    if domain.is_empty() || domain.len() > 253 {
        return Err("the domain after @ must have 1 to 253 characters");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if !domain.split('.').all(label_ok) {
        return Err("the domain after @ is not a valid host name");
    }
    Ok(())
}

/// A Message-ID without its `<>` (tolerated if given), printable ASCII only.
fn clean_message_id(raw: &str) -> Option<&str> {
    let id = raw.trim();
    let id = id
        .strip_prefix('<')
        .and_then(|i| i.strip_suffix('>'))
        .unwrap_or(id);
    let ok = !id.is_empty()
        && id.len() <= 250
        && id.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(b, b'<' | b'>' | b'"' | b'\\' | b'(' | b')' | b',' | b';')
        });
    ok.then_some(id)
}

/// The References header: the thread's valid IDs once each, oldest first, ending with the
/// one we answer; over [`MAX_REFERENCES`], the first and the last `MAX_REFERENCES - 1`.
fn thread_references<'a>(
    thread: &'a [String],
    in_reply_to: Option<&'a str>,
    own: &str,
) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    let mut ids: Vec<&str> = thread
        .iter()
        .filter_map(|r| clean_message_id(r))
        .chain(in_reply_to)
        .filter(|id| *id != own && seen.insert(*id))
        .collect();
    if ids.len() > MAX_REFERENCES {
        ids.drain(1..ids.len() - (MAX_REFERENCES - 1));
    }
    ids
}

fn check_url(url: &str) -> Option<&str> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
    let host_ok = url
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
    let chars_ok = url.len() <= 2000
        && url.bytes().all(|b| {
            b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'<' | b'>' | b'`' | b'\\')
        });
    (scheme_ok && host_ok && chars_ok).then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plural_rules() {
        let ru = |n| plural(n, "часа".into(), "часов".into(), Some("часов".into()));
        assert_eq!(
            [1, 2, 5, 11, 21, 24, 111, 0].map(ru),
            [
                "часа",
                "часов",
                "часов",
                "часов",
                "часа",
                "часов",
                "часов",
                "часов"
            ]
        );
        let few = |n| plural(n, "one".into(), "few".into(), Some("many".into()));
        assert_eq!(
            [1, 2, 4, 5, 12, 14, 22, 101, 112].map(few),
            [
                "one", "few", "few", "many", "many", "many", "few", "one", "many"
            ]
        );
        let en = |n| plural(n, "hour".into(), "hours".into(), None);
        assert_eq!([0, 1, 2, 24].map(en), ["hours", "hour", "hours", "hours"]);
    }

    #[test]
    fn one_line_flattens_and_cuts() {
        assert_eq!(
            one_line("  a\r\nBcc: x\u{2028}\u{202E}y \t z ", 100),
            "a Bcc: x y z"
        );
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(one_line("ab cd", 3), "ab…");
        assert_eq!(one_line("\r\n\u{7}", 10), "");
    }

    #[test]
    fn clean_text_keeps_lines_drops_controls() {
        assert_eq!(
            clean_text("\r\n\r\nHello\r\nworld \u{7}\r\rbye\u{0}\n\n"),
            "Hello\nworld\n\nbye"
        );
        assert_eq!(clean_text("a\tb"), "a\tb");
    }

    #[test]
    fn tidy_text_squeezes_blank_lines() {
        assert_eq!(
            tidy_text("\n\nHello,  \n\n\n\nText\n \nBye\n\n"),
            "Hello,\n\nText\n\nBye\n"
        );
    }

    #[test]
    fn subjects_lose_stacked_prefixes_and_our_token() {
        let r = ComplaintRef::from_bits(0x12_3456_789A);
        let cases = [
            ("Withdrawal delayed", "Withdrawal delayed"),
            ("Re: RE: Fwd: Withdrawal delayed", "Withdrawal delayed"),
            ("Re[2]: Ответ: Вывод средств", "Вывод средств"),
            (
                &*format!("Re: [{r}] Complaint registered: Withdrawal"),
                "Complaint registered: Withdrawal",
            ),
            (
                &*format!("[{}] Жауап: Ақша", r.compact().to_lowercase()),
                "Ақша",
            ),
            ("Regarding: my bet", "Regarding: my bet"),
            ("Re:", ""),
            ("  ", ""),
        ];
        for (raw, want) in cases {
            assert_eq!(clean_subject(raw, r), want, "{raw:?}");
        }
        let long = "x".repeat(400);
        assert_eq!(
            clean_subject(&long, r).chars().count(),
            MAX_SUBJECT_CHARS + 1
        );
    }

    #[test]
    fn addresses() {
        for good in [
            "player@mail.kz",
            "a.b+tag@sub.example.com",
            "o'neil@x.io",
            "support@localhost",
        ] {
            assert_eq!(check_address(good), Ok(()), "{good}");
        }
        let bad = [
            ("", "it is empty"),
            ("player", "it has no @"),
            ("a@b@c.d", "it has more than one @"),
            ("a b@c.d", "it contains a space"),
            (
                "a@c.d\r\nBcc: x@y.z",
                "it contains a line break or a control character",
            ),
            (
                "иван@mail.kz",
                "it contains non-ASCII characters, which need SMTPUTF8 (not supported)",
            ),
            (
                "ivan@почта.рф",
                "it contains non-ASCII characters, which need SMTPUTF8 (not supported)",
            ),
            ("@mail.kz", "the part before @ must have 1 to 64 characters"),
            (
                ".a@mail.kz",
                "the part before @ has characters or dots that mail does not allow unquoted",
            ),
            (
                "a..b@mail.kz",
                "the part before @ has characters or dots that mail does not allow unquoted",
            ),
            (
                "\"a\"@mail.kz",
                "the part before @ has characters or dots that mail does not allow unquoted",
            ),
            (
                "a<b>@mail.kz",
                "the part before @ has characters or dots that mail does not allow unquoted",
            ),
            ("a@", "the domain after @ must have 1 to 253 characters"),
            ("a@-x.kz", "the domain after @ is not a valid host name"),
            ("a@x..kz", "the domain after @ is not a valid host name"),
            (
                "a@[127.0.0.1]",
                "the domain after @ is not a valid host name",
            ),
            ("a@x.kz>", "the domain after @ is not a valid host name"),
        ];
        for (address, reason) in bad {
            assert_eq!(check_address(address), Err(reason), "{address:?}");
        }
    }

    #[test]
    fn message_ids_and_references() {
        assert_eq!(clean_message_id("<a@b>"), Some("a@b"));
        assert_eq!(clean_message_id(" a@b "), Some("a@b"));
        assert_eq!(clean_message_id("a b@c"), None);
        assert_eq!(clean_message_id("a@b>\r\nBcc: x"), None);
        assert_eq!(clean_message_id(""), None);

        let thread: Vec<String> = (0..30).map(|i| format!("m{i}@x")).collect();
        let refs = thread_references(&thread, Some("m29@x"), "own@x");
        assert_eq!(refs.len(), MAX_REFERENCES);
        assert_eq!(refs[0], "m0@x");
        assert_eq!(refs[1], "m11@x");
        assert_eq!(refs[19], "m29@x");

        let thread = vec![
            "a@x".to_string(),
            "bad id".to_string(),
            "a@x".to_string(),
            "own@x".to_string(),
        ];
        assert_eq!(
            thread_references(&thread, Some("b@x"), "own@x"),
            ["a@x", "b@x"]
        );
        assert_eq!(thread_references(&[], None, "own@x"), Vec::<&str>::new());
    }

    #[test]
    fn urls() {
        assert!(check_url("https://desk.example/track/K7M4QX2PH?x=1&y=2").is_some());
        assert!(check_url("HTTP://desk.example").is_some());
        for bad in [
            "javascript:alert(1)",
            "https://",
            "https:///path",
            "ftp://x",
            "https://x/\"onmouseover=",
            "https://x/ y",
            "https://ж.kz",
        ] {
            assert!(check_url(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn linebreaks_escapes() {
        let v = linebreaks("<b>\"x\" & 'y'</b>\nline 2");
        assert!(v.is_safe());
        assert_eq!(
            v.as_str(),
            Some("&lt;b&gt;&quot;x&quot; &amp; &#x27;y&#x27;&lt;/b&gt;<br>\nline 2")
        );
    }

    #[test]
    fn builtin_templates_pass_their_own_check() {
        Composer::new().check().unwrap();
    }
}
