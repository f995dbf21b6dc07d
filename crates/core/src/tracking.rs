//! How a player opens their complaint on the portal without an account: a link e-mailed to them,
//! or a six-digit code. Both, and the pass the browser keeps afterwards, are derived from the
//! desk's secret with HMAC-SHA256, so nothing a player could replay is stored; codes alone keep
//! a nonce and a count of wrong tries (in the store). Pure: the desk supplies secret and clock.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;
use uuid::Uuid;

/// MACs are cut to 128 bits: far beyond guessing over HTTP, and short enough for a link.
const MAC_BYTES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TrackKeyError {
    #[error("the key is malformed")]
    Malformed,
    #[error("the key does not belong to this complaint")]
    BadSignature,
    #[error("the key has expired")]
    Expired,
}

/// How a browser came to hold a pass, which decides how far it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassKind {
    /// The complaint's mailbox was proven: an e-mailed link or a code sent there. Reaches the
    /// complaint's whole thread, and follows a merge to the complaint it was merged into.
    Proven,
    /// Given to the browser that filed the complaint, which proved nothing about the address it
    /// typed: that one submission and the answers to it, never a merged thread.
    Submission,
}

/// The desk's tracking secret, borrowed.
#[derive(Clone, Copy)]
pub struct TrackKeys<'a> {
    secret: &'a [u8],
}

impl<'a> TrackKeys<'a> {
    pub fn new(secret: &'a [u8]) -> Self {
        TrackKeys { secret }
    }

    fn mac(&self, purpose: &str, complaint: Uuid, extra: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(b"|");
        mac.update(complaint.as_bytes());
        mac.update(b"|");
        mac.update(extra);
        mac
    }

    fn signed(&self, purpose: &str, complaint: Uuid, expires: Timestamp) -> String {
        let exp = expires.as_second();
        let tag = self.mac(purpose, complaint, exp.to_string().as_bytes()).finalize().into_bytes();
        format!("{exp}.{}", URL_SAFE_NO_PAD.encode(&tag[..MAC_BYTES]))
    }

    fn check(&self, purpose: &str, complaint: Uuid, key: &str, now: Timestamp) -> Result<Timestamp, TrackKeyError> {
        let (exp, tag) = key.trim().split_once('.').ok_or(TrackKeyError::Malformed)?;
        if exp.len() > 12 || tag.len() > 64 {
            return Err(TrackKeyError::Malformed);
        }
        let secs: i64 = exp.parse().map_err(|_| TrackKeyError::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| TrackKeyError::Malformed)?;
        if tag.len() != MAC_BYTES {
            return Err(TrackKeyError::Malformed);
        }
        // The expiry is checked only once the signature holds: a forged far-off date is refused
        // as forged.
        self.mac(purpose, complaint, exp.as_bytes()).verify_truncated_left(&tag).map_err(|_| TrackKeyError::BadSignature)?;
        let expires = Timestamp::from_second(secs).map_err(|_| TrackKeyError::Malformed)?;
        if expires <= now {
            return Err(TrackKeyError::Expired);
        }
        Ok(expires)
    }

    /// The key of a tracking link (`?key=…`) good until `expires`.
    pub fn link_key(&self, complaint: Uuid, expires: Timestamp) -> String {
        self.signed("link", complaint, expires)
    }

    /// The link key's expiry if it opens `complaint` at `now`.
    pub fn check_link_key(&self, complaint: Uuid, key: &str, now: Timestamp) -> Result<Timestamp, TrackKeyError> {
        self.check("link", complaint, key, now)
    }

    /// The pass a browser keeps once in (a cookie value). A [`PassKind::Submission`] pass is
    /// marked with a leading `s` and signed for another purpose, so one kind never passes for
    /// the other.
    pub fn pass(&self, complaint: Uuid, expires: Timestamp, kind: PassKind) -> String {
        match kind {
            PassKind::Proven => self.signed("pass", complaint, expires),
            PassKind::Submission => format!("s{}", self.signed("pass-submission", complaint, expires)),
        }
    }

    /// The pass's expiry and kind if it opens `complaint` at `now`.
    pub fn check_pass(&self, complaint: Uuid, pass: &str, now: Timestamp) -> Result<(Timestamp, PassKind), TrackKeyError> {
        match pass.trim().strip_prefix('s') {
            Some(rest) => self.check("pass-submission", complaint, rest, now).map(|t| (t, PassKind::Submission)),
            None => self.check("pass", complaint, pass, now).map(|t| (t, PassKind::Proven)),
        }
    }

    /// The six-digit code for the complaint's current nonce.
    pub fn code(&self, complaint: Uuid, nonce: &[u8]) -> String {
        let tag = self.mac("code", complaint, nonce).finalize().into_bytes();
        let n = u32::from_be_bytes([tag[0], tag[1], tag[2], tag[3]]) % 1_000_000;
        format!("{n:06}")
    }

    /// Whether `given` is the code (spaces and dashes a player may type are ignored), compared
    /// in constant time.
    pub fn code_matches(&self, complaint: Uuid, nonce: &[u8], given: &str) -> bool {
        let typed: String = given.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        if typed.len() != 6 || !typed.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        let want = self.code(complaint, nonce);
        want.bytes().zip(typed.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// The kinds of file a player may add on the portal, told by their first bytes (what the browser
/// claims is ignored): screenshots, PDFs and plain text.
pub fn sniff_file(data: &[u8]) -> Option<&'static str> {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"%PDF-", "application/pdf"),
    ];
    if let Some((_, t)) = MAGIC.iter().find(|(m, _)| data.starts_with(m)) {
        return Some(t);
    }
    if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    if !data.is_empty() && !data.contains(&0) && std::str::from_utf8(data).is_ok() {
        return Some("text/plain");
    }
    None
}

/// Characters that change how text is shown without being seen: bidirectional overrides and
/// isolates (U+202E turns `gpj.exe` into what reads as `exe.jpg`), zero-width characters, the
/// byte-order mark.
fn invisible(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}')
}

/// A file name safe to store and show: the last path part, no control or invisible formatting
/// characters, at most 120 characters; `None` when nothing is left.
pub fn clean_file_name(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let name: String = last.chars().filter(|c| !c.is_control() && !invisible(*c) && !matches!(c, '"' | '<' | '>')).take(120).collect();
    let name = name.trim().trim_start_matches('.').trim().to_string();
    (!name.is_empty()).then_some(name)
}

/// Endings that a desktop or a browser would run or render as a page.
const DANGEROUS: &[&str] = &[
    "htm", "html", "xhtml", "shtml", "svg", "svgz", "xml", "xsl", "js", "mjs", "jse", "vbs", "vbe", "wsf", "wsh", "hta", "exe", "com", "bat",
    "cmd", "scr", "pif", "msi", "msp", "cpl", "dll", "jar", "ps1", "psm1", "sh", "lnk", "reg", "url", "iso", "img", "app", "apk", "swf",
];

/// The file name a file is kept and served under, made to agree with what its bytes are
/// (`content_type`, as told by [`sniff_file`] or a checked MIME type): a name whose ending
/// would make it something else (`pic.png.exe`, `receipt.html` holding text, `evil.svg`) gets
/// its dots turned into `_` and the right ending, so the name can never run or render.
pub fn safe_file_name(raw: &str, content_type: &str) -> String {
    let name = clean_file_name(raw).unwrap_or_else(|| "file".to_string());
    let endings: &[&str] = match content_type {
        "image/png" => &["png"],
        "image/jpeg" => &["jpg", "jpeg"],
        "image/gif" => &["gif"],
        "image/webp" => &["webp"],
        "application/pdf" => &["pdf"],
        "text/plain" => &["txt", "text", "log", "csv"],
        "message/rfc822" => &["eml"],
        _ => &[],
    };
    let ending = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    let fits = match (&ending, endings.is_empty()) {
        (Some(e), false) => endings.contains(&e.as_str()),
        // Another kind of file: any ending but one that runs or renders.
        (Some(e), true) => !DANGEROUS.contains(&e.as_str()),
        (None, _) => false,
    };
    if fits {
        return name;
    }
    let stem: String = name.replace('.', "_").chars().take(110).collect();
    format!("{stem}.{}", endings.first().copied().unwrap_or("bin"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_link_key_opens_its_complaint_until_it_expires() {
        let keys = TrackKeys::new(SECRET);
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let exp = now + SignedDuration::from_hours(24);
        let key = keys.link_key(a, exp);
        assert_eq!(keys.check_link_key(a, &key, now), Ok(exp));
        assert_eq!(keys.check_link_key(b, &key, now), Err(TrackKeyError::BadSignature), "another complaint");
        assert_eq!(keys.check_link_key(a, &key, exp), Err(TrackKeyError::Expired));
        // A pass is not a link key, nor the other way round.
        assert_eq!(keys.check_pass(a, &key, now), Err(TrackKeyError::BadSignature));
        // Another secret, a changed date, garbage.
        assert_eq!(TrackKeys::new(b"other").check_link_key(a, &key, now), Err(TrackKeyError::BadSignature));
        let later = key.replacen(&exp.as_second().to_string(), &(exp.as_second() + 86_400).to_string(), 1);
        assert_eq!(keys.check_link_key(a, &later, now), Err(TrackKeyError::BadSignature));
        for bad in ["", ".", "x.y", "1.", "99999999999999999.AAAA", &format!("{}.!!!", exp.as_second()), &"1".repeat(500)] {
            assert_eq!(keys.check_link_key(a, bad, now), Err(TrackKeyError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn codes_are_six_digits_per_nonce_and_typos_of_format_are_forgiven() {
        let keys = TrackKeys::new(SECRET);
        let c = Uuid::from_u128(7);
        let code = keys.code(c, b"nonce-1");
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(code, keys.code(c, b"nonce-1"), "deterministic");
        assert_ne!(code, keys.code(c, b"nonce-2"));
        assert!(keys.code_matches(c, b"nonce-1", &code));
        assert!(keys.code_matches(c, b"nonce-1", &format!(" {}-{} ", &code[..3], &code[3..])));
        assert!(!keys.code_matches(c, b"nonce-2", &code));
        assert!(!keys.code_matches(Uuid::from_u128(8), b"nonce-1", &code));
        for bad in ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦"] {
            assert!(!keys.code_matches(c, b"nonce-1", bad), "{bad}");
        }
    }

    #[test]
    fn files_are_told_by_their_bytes_and_names_are_cleaned() {
        assert_eq!(sniff_file(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff_file(b"%PDF-1.7 ..."), Some("application/pdf"));
        assert_eq!(sniff_file(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_file("чек №5".as_bytes()), Some("text/plain"));
        assert_eq!(sniff_file(b"MZ\x90\0\x03"), None, "a Windows program");
        assert_eq!(sniff_file(b"\xff\xfe\x00"), None);
        assert_eq!(sniff_file(b""), None);
        assert_eq!(clean_file_name("C:\\Users\\me\\скрин 1.png").as_deref(), Some("скрин 1.png"));
        assert_eq!(clean_file_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(clean_file_name(".htaccess").as_deref(), Some("htaccess"));
        assert_eq!(clean_file_name("a\u{0}b\"<c>.txt").as_deref(), Some("abc.txt"));
        assert_eq!(clean_file_name("  /  "), None);
        assert_eq!(clean_file_name(&"я".repeat(300)).map(|n| n.chars().count()), Some(120));
        assert_eq!(clean_file_name("invoice\u{202E}gpj.exe").as_deref(), Some("invoicegpj.exe"), "right-to-left override");
        assert_eq!(clean_file_name("\u{FEFF}a\u{200B}b\u{2066}.pdf").as_deref(), Some("ab.pdf"));
    }

    #[test]
    fn names_agree_with_the_bytes() {
        assert_eq!(safe_file_name("скрин 1.PNG", "image/png"), "скрин 1.PNG");
        assert_eq!(safe_file_name("photo.jpeg", "image/jpeg"), "photo.jpeg");
        assert_eq!(safe_file_name("report.v2.pdf", "application/pdf"), "report.v2.pdf");
        assert_eq!(safe_file_name("pic.png.exe", "image/png"), "pic_png_exe.png");
        assert_eq!(safe_file_name("receipt.html", "text/plain"), "receipt_html.txt");
        assert_eq!(safe_file_name("evil.svg", "text/plain"), "evil_svg.txt");
        assert_eq!(safe_file_name("evil.svg", "image/svg+xml"), "evil_svg.bin");
        assert_eq!(safe_file_name("invoice\u{202E}gpj.exe", "image/png"), "invoicegpj_exe.png");
        assert_eq!(safe_file_name("statement.docx", "application/octet-stream"), "statement.docx");
        assert_eq!(safe_file_name("README", "text/plain"), "README.txt");
        assert_eq!(safe_file_name("", "application/pdf"), "file.pdf");
    }

    #[test]
    fn a_submission_pass_is_not_a_proven_pass() {
        let keys = TrackKeys::new(SECRET);
        let a = Uuid::from_u128(1);
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let exp = now + SignedDuration::from_hours(12);
        let proven = keys.pass(a, exp, PassKind::Proven);
        let submitted = keys.pass(a, exp, PassKind::Submission);
        assert_eq!(keys.check_pass(a, &proven, now), Ok((exp, PassKind::Proven)));
        assert_eq!(keys.check_pass(a, &submitted, now), Ok((exp, PassKind::Submission)));
        // Re-labelling one kind as the other breaks its signature.
        assert_eq!(keys.check_pass(a, &format!("s{proven}"), now), Err(TrackKeyError::BadSignature));
        assert_eq!(keys.check_pass(a, &submitted[1..], now), Err(TrackKeyError::BadSignature));
    }
}
