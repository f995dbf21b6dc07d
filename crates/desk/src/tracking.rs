//! The player's side of a complaint on the portal: opening it with an e-mailed link or a
//! one-time code, reading the thread, replying with files, and rating the resolution.
//!
//! A player has no account. Whoever can read the mailbox the complaint was filed from may open
//! it: the link in every notice, or a code sent on request to that mailbox. Either gives the
//! browser a pass for that one complaint. Asking for a code answers the same whether or not
//! the reference and address match, so nobody learns which references exist.

use crate::{Desk, DeskError, Result};
use ombuds_core::command::{self, Ctx};
use ombuds_core::tracking::{PassKind, TrackKeyError, TrackKeys, clean_file_name, safe_file_name, sniff_file};
use ombuds_core::*;
use ombuds_store::{AttachmentInfo, ChangeRequest, Decide, NewAttachment, Outcome, StoreError};
pub use ombuds_store::TRACK_ACCESS_JOB;
use sha2::Digest;
use std::net::IpAddr;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct TrackConfig {
    /// How long a link in an e-mail opens the complaint.
    pub link_ttl: Duration,
    /// How long a one-time code is good for.
    pub code_ttl: Duration,
    /// Wrong tries before a code is spent.
    pub code_attempts: i64,
    /// A new code is sent at most this often per complaint.
    pub code_gap: Duration,
    /// How long the browser stays in once in.
    pub pass_ttl: Duration,
    /// Files per reply, and bytes per file.
    pub max_files: usize,
    pub max_file_bytes: usize,
    /// Codes e-mailed for one complaint per hour and per day, however often one is asked for
    /// (a new code does not reset them).
    pub codes_per_hour: i64,
    pub codes_per_day: i64,
    /// Wrong codes typed for one reference per day, over every code issued that day; past it
    /// no code opens the complaint until the next day, and only the e-mailed link does.
    pub wrong_codes_per_day: i64,
    /// Per client address and hour: codes asked for, and wrong codes typed.
    pub asks_per_address_hour: i64,
    pub wrong_codes_per_address_hour: i64,
}

impl Default for TrackConfig {
    fn default() -> Self {
        TrackConfig {
            link_ttl: Duration::from_secs(30 * 24 * 3600),
            code_ttl: Duration::from_secs(15 * 60),
            code_attempts: 5,
            code_gap: Duration::from_secs(60),
            pass_ttl: Duration::from_secs(12 * 3600),
            max_files: 5,
            max_file_bytes: 10 * 1024 * 1024,
            codes_per_hour: 3,
            codes_per_day: 6,
            wrong_codes_per_day: 10,
            asks_per_address_hour: 20,
            wrong_codes_per_address_hour: 30,
        }
    }
}

/// What a browser keeps once in: the value of a cookie scoped to the complaint's page.
#[derive(Debug, Clone)]
pub struct TrackPass {
    pub value: String,
    pub expires: jiff::Timestamp,
}

/// A file as the player's browser sent it.
#[derive(Debug, Clone)]
pub struct Upload {
    pub filename: String,
    pub data: Vec<u8>,
}

/// A complaint as its player sees it: no internal notes, no staff names.
#[derive(Debug, Clone)]
pub struct TrackedComplaint {
    pub complaint: Complaint,
    /// How the browser got in: a submission pass sees only its own complaint's messages and
    /// files, never those of complaints merged into it, and does not follow a merge.
    pub pass: PassKind,
    /// The player's messages and the replies sent to them, oldest first.
    pub messages: Vec<Message>,
    pub files: Vec<AttachmentInfo>,
    /// The department's name in the complaint's language, when routed.
    pub department: Option<String>,
}

const SECRET_NAME: &str = "tracking";

fn span(d: Duration) -> jiff::SignedDuration {
    jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::from_hours(1))
}

pub(crate) const HOUR: Duration = Duration::from_secs(3600);
pub(crate) const DAY: Duration = Duration::from_secs(24 * 3600);

/// The budget key of a client address: its network ([`ombuds_core::clients::network`]).
pub fn client_key(ip: IpAddr) -> String {
    ombuds_core::clients::network(ip).to_string()
}

/// How long until the current window of length `window` ends.
fn rest_of(window: Duration) -> Duration {
    let len = window.as_secs().max(1);
    let now = now().as_second().max(0) as u64;
    Duration::from_secs(len - now % len)
}

impl Desk {
    /// Counts one use of `what` by the client's network in the current hour; past `per_hour`,
    /// [`DeskError::RateLimited`] until the hour ends. No client address (an in-process
    /// caller): nothing is counted.
    pub(crate) async fn spend_per_address(&self, what: &str, client: Option<IpAddr>, per_hour: i64) -> Result<()> {
        let Some(ip) = client else { return Ok(()) };
        if self.store.count_use(&format!("{what}:{}", client_key(ip)), HOUR).await? > per_hour {
            metrics::counter!("ombuds_rate_limited_total", "what" => what.to_owned()).increment(1);
            return Err(DeskError::RateLimited { retry_after: rest_of(HOUR) });
        }
        Ok(())
    }
}

fn bad_key(e: TrackKeyError) -> DeskError {
    DeskError::Unauthorized(match e {
        TrackKeyError::Expired => "the link has expired",
        TrackKeyError::Malformed | TrackKeyError::BadSignature => "the link is not valid",
    })
}

impl Desk {
    async fn track_secret(&self) -> Result<&[u8]> {
        let s = self
            .track_secret
            .get_or_try_init(|| async {
                let fresh: [u8; 32] = rand::random();
                self.store.desk_secret(SECRET_NAME, &fresh).await
            })
            .await?;
        Ok(s.as_slice())
    }

    async fn by_ref(&self, reference: &ComplaintRef) -> Result<Complaint> {
        match self.store.complaint_by_ref(reference).await {
            Ok(c) => Ok(c),
            Err(StoreError::NotFound) => Err(DeskError::NotFound("complaint")),
            Err(e) => Err(e.into()),
        }
    }

    /// The `key` for a tracking link to the complaint, good for the configured time (e-mails
    /// carry it).
    pub async fn track_link_key(&self, complaint_id: Uuid) -> Result<String> {
        let expires = now() + span(self.config.tracking.link_ttl);
        Ok(TrackKeys::new(self.track_secret().await?).link_key(complaint_id, expires))
    }

    /// Sends a code (and a link) to the complaint's mailbox when `email` is the player's address.
    /// Answers the same in every case, so references cannot be probed.
    ///
    /// Budgets that re-issuing does not reset: per client address and hour (refused with
    /// [`DeskError::RateLimited`], which says nothing about the complaint), and per complaint
    /// per hour and per day (past them nothing is sent, and the answer is the same).
    pub async fn request_track_code(&self, reference: &ComplaintRef, email: &EmailAddress, client: Option<IpAddr>) -> Result<()> {
        let cfg = &self.config.tracking;
        self.spend_per_address("track-ask-ip", client, cfg.asks_per_address_hour).await?;
        let complaint = match self.by_ref(reference).await {
            Ok(c) => c,
            Err(DeskError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let player = self.store.player(complaint.player_id).await?;
        if player.email.as_ref().is_none_or(|e| !e.as_str().eq_ignore_ascii_case(email.as_str())) {
            tracing::info!(complaint = %reference, "tracking code asked for with another address; nothing sent");
            return Ok(());
        }
        let (hourly, daily) = (format!("track-codes-h:{}", complaint.id), format!("track-codes-d:{}", complaint.id));
        if self.store.uses(&hourly, HOUR).await? >= cfg.codes_per_hour || self.store.uses(&daily, DAY).await? >= cfg.codes_per_day {
            tracing::info!(complaint = %reference, "tracking code budget spent; nothing sent");
            return Ok(());
        }
        let nonce: [u8; 16] = rand::random();
        if self.store.issue_track_code(complaint.id, &nonce, cfg.code_gap).await? {
            self.store.count_use(&hourly, HOUR).await?;
            self.store.count_use(&daily, DAY).await?;
            self.jobs_ready.notify_waiters();
        }
        Ok(())
    }

    /// The code and link key an access e-mail carries; `None` when the code was spent or
    /// replaced meanwhile (a newer e-mail carries the newer code).
    pub async fn track_access_mail(&self, complaint_id: Uuid) -> Result<Option<(String, String)>> {
        let Some(code) = self.store.track_code(complaint_id).await? else { return Ok(None) };
        if code.issued_at + span(self.config.tracking.code_ttl) <= now() {
            return Ok(None);
        }
        let keys = TrackKeys::new(self.track_secret().await?);
        let link = keys.link_key(complaint_id, now() + span(self.config.tracking.link_ttl));
        Ok(Some((keys.code(complaint_id, &code.nonce), link)))
    }

    pub fn tracking_config(&self) -> &TrackConfig {
        &self.config.tracking
    }

    /// How many minutes a code is good for (the e-mail says so).
    pub fn track_code_minutes(&self) -> u64 {
        self.config.tracking.code_ttl.as_secs().div_ceil(60)
    }

    /// A pass for a complaint the browser itself just filed (the portal form): that submission
    /// only, since typing an address proves nothing about it.
    pub async fn submission_pass(&self, complaint_id: Uuid) -> Result<TrackPass> {
        self.pass_of(complaint_id, PassKind::Submission).await
    }

    async fn pass_of(&self, complaint_id: Uuid, kind: PassKind) -> Result<TrackPass> {
        let expires = now() + span(self.config.tracking.pass_ttl);
        Ok(TrackPass { value: TrackKeys::new(self.track_secret().await?).pass(complaint_id, expires, kind), expires })
    }

    /// Opens the complaint with the key of an e-mailed link.
    pub async fn open_with_link(&self, reference: &ComplaintRef, key: &str) -> Result<TrackPass> {
        let complaint = self.by_ref(reference).await.map_err(|_| DeskError::Unauthorized("the link is not valid"))?;
        TrackKeys::new(self.track_secret().await?).check_link_key(complaint.id, key, now()).map_err(bad_key)?;
        self.pass_of(complaint.id, PassKind::Proven).await
    }

    /// Opens the complaint with its one-time code. A wrong code counts; after too many, or once
    /// used, or once expired, the code is gone and the player asks for a new one.
    ///
    /// Wrong codes also count against the reference for the day and against the client address
    /// for the hour, over every code issued: past the reference's budget not even the right code
    /// opens it (only the e-mailed link does), so guessing gets nowhere however codes are
    /// re-issued; past the address's budget the answer is [`DeskError::RateLimited`].
    pub async fn open_with_code(&self, reference: &ComplaintRef, code: &str, client: Option<IpAddr>) -> Result<TrackPass> {
        const WRONG: DeskError = DeskError::Unauthorized("the code is wrong or has expired");
        const LOCKED: DeskError = DeskError::Unauthorized("too many wrong codes today: open the complaint with the link in the e-mail");
        let cfg = &self.config.tracking;
        let ip_key = client.map(|ip| format!("track-wrong-ip:{}", client_key(ip)));
        if let Some(k) = &ip_key
            && self.store.uses(k, HOUR).await? >= cfg.wrong_codes_per_address_hour
        {
            return Err(DeskError::RateLimited { retry_after: rest_of(HOUR) });
        }
        // By reference, not id: a reference that does not exist locks the same way.
        let ref_key = format!("track-wrong:{}", reference.compact());
        if self.store.uses(&ref_key, DAY).await? >= cfg.wrong_codes_per_day {
            return Err(LOCKED);
        }
        let wrong = async || -> Result<TrackPass> {
            self.store.count_use(&ref_key, DAY).await?;
            if let Some(k) = &ip_key {
                self.store.count_use(k, HOUR).await?;
            }
            Err(WRONG)
        };
        let complaint = match self.by_ref(reference).await {
            Ok(c) => c,
            Err(DeskError::NotFound(_)) => return wrong().await,
            Err(e) => return Err(e),
        };
        let Some(live) = self.store.track_code(complaint.id).await? else { return wrong().await };
        if live.issued_at + span(cfg.code_ttl) <= now() || live.attempts >= cfg.code_attempts {
            self.store.spend_track_code(complaint.id, &live.nonce).await?;
            return wrong().await;
        }
        if !TrackKeys::new(self.track_secret().await?).code_matches(complaint.id, &live.nonce, code) {
            if self.store.count_track_attempt(complaint.id).await? >= cfg.code_attempts {
                self.store.spend_track_code(complaint.id, &live.nonce).await?;
            }
            return wrong().await;
        }
        // Good once: a concurrent request with the same code loses.
        if !self.store.spend_track_code(complaint.id, &live.nonce).await? {
            return Err(WRONG);
        }
        self.pass_of(complaint.id, PassKind::Proven).await
    }

    /// The complaint behind a pass, or `Unauthorized` (the page then asks for a code).
    async fn passed(&self, reference: &ComplaintRef, pass: Option<&str>) -> Result<(Complaint, PassKind)> {
        let pass = pass.ok_or(DeskError::Unauthorized("open the complaint with the link or a code"))?;
        let complaint = self.by_ref(reference).await.map_err(|_| DeskError::Unauthorized("open the complaint with the link or a code"))?;
        let (_, kind) = TrackKeys::new(self.track_secret().await?).check_pass(complaint.id, pass, now()).map_err(bad_key)?;
        Ok((complaint, kind))
    }

    /// Where a player who opened a merged duplicate goes on: the complaint it was merged into,
    /// with a pass for it. Only a proven pass follows (the player proved the mailbox of the
    /// duplicate, and merged complaints are one player's); a submission pass proved nothing,
    /// and its holder is sent to ask for a code, which goes to the target's own mailbox.
    /// `None` when the complaint was not merged.
    pub async fn track_merge_target(&self, view: &TrackedComplaint) -> Result<Option<(ComplaintRef, Option<TrackPass>)>> {
        let complaint = &view.complaint;
        if complaint.merged_into.is_none() {
            return Ok(None);
        }
        let target = self.merge_target(complaint.clone()).await?;
        if target.id == complaint.id || target.player_id != complaint.player_id {
            return Ok(None);
        }
        let pass = match view.pass {
            PassKind::Proven => Some(self.pass_of(target.id, PassKind::Proven).await?),
            PassKind::Submission => None,
        };
        Ok(Some((target.reference, pass)))
    }

    /// Whether `pass` opens the complaint: checked before a reply's body is read, so nobody
    /// without one can make the desk read (and hold) an upload.
    pub async fn check_track_pass(&self, reference: &ComplaintRef, pass: Option<&str>) -> Result<()> {
        self.passed(reference, pass).await.map(|_| ())
    }

    /// The complaint as its player sees it.
    pub async fn tracked(&self, reference: &ComplaintRef, pass: Option<&str>) -> Result<TrackedComplaint> {
        let (complaint, kind) = self.passed(reference, pass).await?;
        let (messages, files) = tokio::try_join!(self.store.messages(complaint.id), self.store.attachments(complaint.id))?;
        let departments = self.departments().await?;
        let own = |id: Uuid| kind == PassKind::Proven || id == complaint.id;
        let messages: Vec<Message> = messages.into_iter().filter(|m| m.kind != MessageKind::Note && own(m.complaint_id)).collect();
        let files = files
            .into_iter()
            .filter(|f| own(f.complaint_id) && f.message_id.is_none_or(|id| messages.iter().any(|m| m.id == id)))
            .collect();
        let department = complaint.department.as_ref().and_then(|code| departments.iter().find(|d| &d.code == code)).map(|d| d.name(complaint.language).to_string());
        Ok(TrackedComplaint { complaint, pass: kind, messages, files, department })
    }

    /// One of the complaint's files the player may see.
    pub async fn tracked_file(&self, reference: &ComplaintRef, pass: Option<&str>, id: Uuid) -> Result<(AttachmentInfo, Vec<u8>)> {
        let view = self.tracked(reference, pass).await?;
        if !view.files.iter().any(|f| f.id == id) {
            return Err(DeskError::NotFound("file"));
        }
        Ok(self.store.attachment(id).await?)
    }

    /// Checks the player's files: how many, how big, of a kind the desk keeps.
    pub fn check_uploads(&self, uploads: Vec<Upload>) -> Result<Vec<NewAttachment>> {
        let cfg = &self.config.tracking;
        if uploads.len() > cfg.max_files {
            return Err(DomainError::invalid("files", "too_many_files", format!("at most {} files at a time", cfg.max_files)).into());
        }
        uploads
            .into_iter()
            .map(|u| {
                let name = clean_file_name(&u.filename).unwrap_or_else(|| "file".to_string());
                if u.data.is_empty() {
                    return Err(DomainError::invalid("files", "empty_file", format!("'{name}' is empty")).into());
                }
                if u.data.len() > cfg.max_file_bytes {
                    return Err(DomainError::invalid("files", "file_too_large", format!("'{name}' is larger than {} MB", cfg.max_file_bytes / (1024 * 1024))).into());
                }
                let Some(content_type) = sniff_file(&u.data) else {
                    return Err(DomainError::invalid("files", "file_type", format!("'{name}' is not a picture, a PDF or a text file")).into());
                };
                // Kept under a name that agrees with the bytes (`pic.png.exe` holding a PNG is
                // kept as `pic_png_exe.png`).
                let filename = safe_file_name(&u.filename, content_type);
                Ok(NewAttachment { sha256: sha2::Sha256::digest(&u.data).to_vec(), filename, content_type: content_type.to_string(), data: u.data })
            })
            .collect()
    }

    /// A player's command on their own complaint (a reply, a rating), with any files.
    async fn as_player(&self, complaint: &Complaint, cmd: Command, files: Vec<NewAttachment>) -> Result<Complaint> {
        let departments = self.departments().await?;
        let sla = self.sla();
        let actor = Actor::Player { id: complaint.player_id };
        let decide: Decide = Box::new(move |current: &Complaint| {
            let mut new_id = Uuid::now_v7;
            let mut ctx = Ctx { now: now(), actor: actor.clone(), departments: &departments, sla: &sla, new_id: &mut new_id };
            command::change(current, &cmd, &mut ctx)
        });
        let mut req = ChangeRequest::new(complaint.id, decide);
        req.uploads = files;
        match self.store.write(ombuds_store::WriteOp::Change(req)).await? {
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

    /// The player writes on the portal, with files already checked by [`Desk::check_uploads`].
    pub async fn player_reply(&self, reference: &ComplaintRef, pass: Option<&str>, text: Body, files: Vec<NewAttachment>) -> Result<Complaint> {
        let (complaint, _) = self.passed(reference, pass).await?;
        self.as_player(&complaint, Command::RecordPlayerReply { channel: Some(Channel::Web), text }, files).await
    }

    /// The player rates the resolution.
    pub async fn rate(&self, reference: &ComplaintRef, pass: Option<&str>, score: CsatScore, comment: Option<Body>) -> Result<Complaint> {
        let (complaint, _) = self.passed(reference, pass).await?;
        self.as_player(&complaint, Command::Rate { score, comment }, vec![]).await
    }
}
