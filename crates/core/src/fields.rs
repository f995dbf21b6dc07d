//! Parsed-not-validated input types. Each constructor is the only way in, so a value of one of
//! these types is known to be well-formed everywhere else in the code.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a field was refused: a stable machine code plus a human sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[error("{field}: {message}")]
pub struct FieldError {
    /// JSON pointer-like path of the offending field, e.g. `player.email`.
    pub field: String,
    /// Stable code: `required`, `too_long`, `invalid_email`, `invalid_phone`, …
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), code, message: message.into() }
    }

    /// The same error, reported under a parent field (`email` → `player.email`).
    pub fn under(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() { parent.to_string() } else { format!("{parent}.{}", self.field) };
        self
    }
}

fn has_control(s: &str, allow_newlines: bool) -> bool {
    s.chars().any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t')))
}

/// Trims, requires 1..=max characters, refuses control characters.
fn text(field: &str, raw: &str, max: usize, multiline: bool) -> Result<String, FieldError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(FieldError::new(field, "required", "must not be empty"));
    }
    let n = t.chars().count();
    if n > max {
        return Err(FieldError::new(field, "too_long", format!("must be at most {max} characters, got {n}")));
    }
    if has_control(t, multiline) {
        return Err(FieldError::new(field, "invalid_characters", "must not contain control characters"));
    }
    Ok(if multiline { t.replace("\r\n", "\n") } else { t.to_string() })
}

fn lossy_text(raw: &str, max: usize, multiline: bool) -> Option<String> {
    let cleaned: String = raw
        .replace("\r\n", "\n")
        .chars()
        .map(|c| if !multiline && matches!(c, '\n' | '\r' | '\t') { ' ' } else { c })
        .filter(|c| !c.is_control() || (multiline && matches!(c, '\n' | '\t')))
        .collect();
    let t = cleaned.trim();
    if t.is_empty() {
        return None;
    }
    if t.chars().count() <= max {
        return Some(t.to_string());
    }
    let mut cut: String = t.chars().take(max - 1).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    Some(cut)
}

/// `as_str`, `Display`, and a `Deserialize` that goes through `parse`, for a string newtype.
macro_rules! parsed_string {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(|e| serde::de::Error::custom(e.message))
            }
        }
    };
}

macro_rules! text_type {
    ($(#[$m:meta])* $name:ident, $max:expr, $multiline:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;
            pub fn parse(raw: &str) -> Result<Self, FieldError> {
                text("", raw, $max, $multiline).map($name)
            }
            /// Best effort for text from outside (an e-mail, a chat): control characters
            /// dropped, cut to `MAX_CHARS` (ending in "…"); `None` when nothing is left.
            pub fn lossy(raw: &str) -> Option<Self> {
                lossy_text(raw, $max, $multiline).map($name)
            }
        }

        parsed_string!($name);
    };
}

text_type!(
    /// A complaint's subject line: one line, at most 200 characters.
    Subject, 200, false
);
text_type!(
    /// Free text written by a player or an agent: a description, a message, a resolution.
    Body, 20_000, true
);
text_type!(
    /// A person's display name.
    PersonName, 200, false
);

/// The operator platform's own id for a player (account number, user id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct ExternalPlayerId(String);

impl ExternalPlayerId {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let t = raw.trim();
        if t.is_empty() {
            return Err(FieldError::new("", "required", "must not be empty"));
        }
        if t.len() > 128 {
            return Err(FieldError::new("", "too_long", "must be at most 128 bytes"));
        }
        if !t.chars().all(|c| c.is_ascii_graphic()) {
            return Err(FieldError::new("", "invalid_characters", "must be printable ASCII without spaces"));
        }
        Ok(ExternalPlayerId(t.to_string()))
    }
}

parsed_string!(ExternalPlayerId);

/// A lower-case identifier: departments, categories (`bet_settlement`, `withdrawal_delay`).
fn slug(raw: &str, max: usize) -> Result<String, FieldError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(FieldError::new("", "required", "must not be empty"));
    }
    if t.len() > max {
        return Err(FieldError::new("", "too_long", format!("must be at most {max} characters")));
    }
    let ok = t.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && t.as_bytes()[0].is_ascii_lowercase();
    if !ok {
        return Err(FieldError::new(
            "",
            "invalid_slug",
            "must start with a letter and use only a-z, 0-9, '_' and '-'",
        ));
    }
    Ok(t.to_string())
}

macro_rules! slug_type {
    ($(#[$m:meta])* $name:ident, $max:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, FieldError> {
                slug(raw, $max).map($name)
            }
        }

        parsed_string!($name);
    };
}

slug_type!(
    /// A department's code, e.g. `payments`.
    DepartmentCode, 40
);
slug_type!(
    /// A complaint category inside a department, e.g. `withdrawal_delay`.
    Category, 64
);

/// A tag: lower-cased letters (any script), digits, `-` and `_`, at most 50 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct Tag(String);

impl Tag {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let t = raw.trim().to_lowercase();
        if t.is_empty() {
            return Err(FieldError::new("", "required", "must not be empty"));
        }
        if t.chars().count() > 50 {
            return Err(FieldError::new("", "too_long", "must be at most 50 characters"));
        }
        if !t.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_') {
            return Err(FieldError::new("", "invalid_tag", "may contain only letters, digits, '-' and '_'"));
        }
        Ok(Tag(t))
    }
}

parsed_string!(Tag);

/// An e-mail address (addr-spec): the domain is lower-cased, internationalised domains and
/// local parts in UTF-8 are accepted, quoted local parts and IP literals are not.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let bad = |why: &str| FieldError::new("", "invalid_email", format!("is not a valid e-mail address: {why}"));
        let t = raw.trim();
        if t.is_empty() {
            return Err(FieldError::new("", "required", "must not be empty"));
        }
        if t.len() > 254 {
            return Err(bad("longer than 254 characters"));
        }
        let (local, domain) = t.rsplit_once('@').ok_or_else(|| bad("no '@'"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(bad("the part before '@' must have 1 to 64 characters"));
        }
        let local_ok = local.chars().all(|c| {
            c.is_alphanumeric() || (c.is_ascii_punctuation() && !"()<>[]:;@\\,\"".contains(c))
        }) && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok {
            return Err(bad("the part before '@' has characters that are not allowed"));
        }
        let domain = domain.to_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return Err(bad("the domain needs a dot"));
        }
        for label in &labels {
            let ok = !label.is_empty()
                && label.chars().count() <= 63
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(bad("the domain is malformed"));
            }
        }
        if labels.last().is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit())) {
            return Err(bad("the domain is malformed"));
        }
        Ok(EmailAddress(format!("{local}@{domain}")))
    }
}

parsed_string!(EmailAddress);

/// A phone number normalised to E.164 (`+77011234567`). Accepts spaces, dashes, dots and
/// brackets, a leading `00` for `+`, and the domestic forms used in Kazakhstan and Russia:
/// `8 701 123 45 67` and `7 701 123 45 67` both become `+77011234567`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let bad = |why: &str| FieldError::new("", "invalid_phone", format!("is not a valid phone number: {why}"));
        let t = raw.trim();
        if t.is_empty() {
            return Err(FieldError::new("", "required", "must not be empty"));
        }
        let mut digits = String::with_capacity(16);
        let mut plus = false;
        for (i, c) in t.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => plus = true,
                ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
                _ => return Err(bad("only digits, spaces, dashes, brackets and a leading '+' are allowed")),
            }
            if digits.len() > 20 {
                return Err(bad("too many digits"));
            }
        }
        let international = if plus {
            digits
        } else if let Some(rest) = digits.strip_prefix("00") {
            rest.to_string()
        } else if digits.len() == 11 && (digits.starts_with('8') || digits.starts_with('7')) {
            format!("7{}", &digits[1..])
        } else {
            return Err(bad("write it in international form, e.g. +7 701 123 45 67"));
        };
        if !(8..=15).contains(&international.len()) {
            return Err(bad("an international number has 8 to 15 digits"));
        }
        if international.starts_with('0') {
            return Err(bad("a country code never starts with 0"));
        }
        Ok(PhoneNumber(format!("+{international}")))
    }
}

parsed_string!(PhoneNumber);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_trim_and_bound() {
        assert_eq!(Subject::parse("  Withdrawal stuck  ").unwrap().as_str(), "Withdrawal stuck");
        assert_eq!(Subject::parse("   ").unwrap_err().code, "required");
        assert_eq!(Subject::parse(&"я".repeat(201)).unwrap_err().code, "too_long");
        assert!(Subject::parse(&"я".repeat(200)).is_ok());
        assert_eq!(Subject::parse("a\nb").unwrap_err().code, "invalid_characters");
        assert_eq!(Body::parse("line 1\r\nline 2").unwrap().as_str(), "line 1\nline 2");
        assert_eq!(Body::parse("bell \u{7}").unwrap_err().code, "invalid_characters");
    }

    #[test]
    fn emails() {
        assert_eq!(EmailAddress::parse(" Player@Mail.KZ ").unwrap().as_str(), "Player@mail.kz");
        assert!(EmailAddress::parse("игрок@почта.рф").is_ok());
        assert!(EmailAddress::parse("a.b+tag@x-y.example").is_ok());
        for bad in ["plainaddress", "@x.kz", "a@", "a@kz", "a@@x.kz", "a b@x.kz", "a@x..kz", ".a@x.kz", "a@-x.kz", "a@1.2"] {
            assert_eq!(EmailAddress::parse(bad).unwrap_err().code, "invalid_email", "{bad}");
        }
        assert_eq!(EmailAddress::parse("").unwrap_err().code, "required");
    }

    #[test]
    fn phones() {
        for (raw, want) in [
            ("+7 701 123-45-67", "+77011234567"),
            ("8 (701) 123 45 67", "+77011234567"),
            ("87011234567", "+77011234567"),
            ("7 701 123 45 67", "+77011234567"),
            ("0044 20 7946 0958", "+442079460958"),
            ("+44 20 7946 0958", "+442079460958"),
            // As PBXs and people write +7 numbers: the domestic 8, dashes, brackets, dots.
            ("8-701-123-45-67", "+77011234567"),
            ("8-727-250-00-00", "+77272500000"),
            ("+7 (701) 123-45-67", "+77011234567"),
            ("77011234567", "+77011234567"),
            ("8.701.123.45.67", "+77011234567"),
            ("007 701 123 45 67", "+77011234567"),
        ] {
            assert_eq!(PhoneNumber::parse(raw).unwrap().as_str(), want, "{raw}");
        }
        for bad in ["701 123", "+7 701 abc", "+0123456789", "+1234567", "12345678901234567890123", "7+7011234567", "8-701-123-45-6", "anonymous", "101"] {
            assert_eq!(PhoneNumber::parse(bad).unwrap_err().code, "invalid_phone", "{bad}");
        }
    }

    #[test]
    fn slugs_and_tags() {
        assert!(DepartmentCode::parse("bet_settlement").is_ok());
        assert_eq!(DepartmentCode::parse("Payments").unwrap_err().code, "invalid_slug");
        assert_eq!(DepartmentCode::parse("1st").unwrap_err().code, "invalid_slug");
        assert_eq!(Tag::parse(" VIP ").unwrap().as_str(), "vip");
        assert_eq!(Subject::lossy("  a\r\nb\u{0}c ").unwrap().as_str(), "a bc");
        assert_eq!(Subject::lossy(" \u{7} ").map(|s| s.as_str().to_string()), None);
        let long = Subject::lossy(&"я".repeat(500)).unwrap();
        assert_eq!(long.as_str().chars().count(), Subject::MAX_CHARS);
        assert!(long.as_str().ends_with('…'));
        assert_eq!(Body::lossy("line 1\r\nline 2\u{1b}").unwrap().as_str(), "line 1\nline 2");
        assert_eq!(Tag::parse("Кешбэк").unwrap().as_str(), "кешбэк");
        assert_eq!(Tag::parse("a b").unwrap_err().code, "invalid_tag");
        assert_eq!(ExternalPlayerId::parse("acc 1").unwrap_err().code, "invalid_characters");
    }
}
