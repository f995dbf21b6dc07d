//! Character sets: decoding a text part's bytes to UTF-8, with the guesses real Russian and
//! Kazakh mail needs.
//!
//! What arrives in practice: UTF-8 (nearly all modern clients, and the only common encoding
//! that has the Kazakh letters ә ғ қ ң ө ұ ү һ), windows-1251 (older Outlook and Windows
//! software, Russian only: it has `і` but none of the other Kazakh letters), KOI8-R (old Unix
//! and some Russian providers' web mail), and rarely KZ-1048 (windows-1251 with sixteen
//! positions given to the Kazakh letters). Senders also lie: "us-ascii" or no charset at all
//! over 8-bit bytes, "utf-8" over windows-1251, "windows-1251" over UTF-8. The rules:
//!
//! - bytes that are all ASCII are taken as they are (for ASCII-compatible charsets);
//! - a declared single-byte charset over bytes that are valid UTF-8 with several multi-byte
//!   sequences is taken as UTF-8 (such sequences almost never occur in real single-byte text);
//! - declared UTF-8 that is not valid UTF-8: if most 8-bit sequences are broken it is guessed
//!   as a Cyrillic single-byte charset, otherwise decoded with replacement characters;
//! - no charset, `us-ascii`, or an unknown label over 8-bit bytes: UTF-8 if valid, otherwise
//!   windows-1251 or KOI8-R, whichever yields more lower-case Cyrillic letters (Russian text is
//!   mostly lower case and the two put lower and upper case at opposite halves), and KZ-1048
//!   instead of windows-1251 when bytes only KZ-1048 gives Kazakh letters are present.
//!
//! Every guess leaves a warning. Everything here is linear in the input and cannot panic.

/// windows-1251, bytes 0x80..=0xFF.
const CP1251: [u16; 128] = [
    0x0402, 0x0403, 0x201A, 0x0453, 0x201E, 0x2026, 0x2020, 0x2021, //
    0x20AC, 0x2030, 0x0409, 0x2039, 0x040A, 0x040C, 0x040B, 0x040F, //
    0x0452, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, //
    0xFFFD, 0x2122, 0x0459, 0x203A, 0x045A, 0x045C, 0x045B, 0x045F, //
    0x00A0, 0x040E, 0x045E, 0x0408, 0x00A4, 0x0490, 0x00A6, 0x00A7, //
    0x0401, 0x00A9, 0x0404, 0x00AB, 0x00AC, 0x00AD, 0x00AE, 0x0407, //
    0x00B0, 0x00B1, 0x0406, 0x0456, 0x0491, 0x00B5, 0x00B6, 0x00B7, //
    0x0451, 0x2116, 0x0454, 0x00BB, 0x0458, 0x0405, 0x0455, 0x0457, //
    0x0410, 0x0411, 0x0412, 0x0413, 0x0414, 0x0415, 0x0416, 0x0417, //
    0x0418, 0x0419, 0x041A, 0x041B, 0x041C, 0x041D, 0x041E, 0x041F, //
    0x0420, 0x0421, 0x0422, 0x0423, 0x0424, 0x0425, 0x0426, 0x0427, //
    0x0428, 0x0429, 0x042A, 0x042B, 0x042C, 0x042D, 0x042E, 0x042F, //
    0x0430, 0x0431, 0x0432, 0x0433, 0x0434, 0x0435, 0x0436, 0x0437, //
    0x0438, 0x0439, 0x043A, 0x043B, 0x043C, 0x043D, 0x043E, 0x043F, //
    0x0440, 0x0441, 0x0442, 0x0443, 0x0444, 0x0445, 0x0446, 0x0447, //
    0x0448, 0x0449, 0x044A, 0x044B, 0x044C, 0x044D, 0x044E, 0x044F, //
];

/// KOI8-R, bytes 0x80..=0xFF.
const KOI8_R: [u16; 128] = [
    0x2500, 0x2502, 0x250C, 0x2510, 0x2514, 0x2518, 0x251C, 0x2524, //
    0x252C, 0x2534, 0x253C, 0x2580, 0x2584, 0x2588, 0x258C, 0x2590, //
    0x2591, 0x2592, 0x2593, 0x2320, 0x25A0, 0x2219, 0x221A, 0x2248, //
    0x2264, 0x2265, 0x00A0, 0x2321, 0x00B0, 0x00B2, 0x00B7, 0x00F7, //
    0x2550, 0x2551, 0x2552, 0x0451, 0x2553, 0x2554, 0x2555, 0x2556, //
    0x2557, 0x2558, 0x2559, 0x255A, 0x255B, 0x255C, 0x255D, 0x255E, //
    0x255F, 0x2560, 0x2561, 0x0401, 0x2562, 0x2563, 0x2564, 0x2565, //
    0x2566, 0x2567, 0x2568, 0x2569, 0x256A, 0x256B, 0x256C, 0x00A9, //
    0x044E, 0x0430, 0x0431, 0x0446, 0x0434, 0x0435, 0x0444, 0x0433, //
    0x0445, 0x0438, 0x0439, 0x043A, 0x043B, 0x043C, 0x043D, 0x043E, //
    0x043F, 0x044F, 0x0440, 0x0441, 0x0442, 0x0443, 0x0436, 0x0432, //
    0x044C, 0x044B, 0x0437, 0x0448, 0x044D, 0x0449, 0x0447, 0x044A, //
    0x042E, 0x0410, 0x0411, 0x0426, 0x0414, 0x0415, 0x0424, 0x0413, //
    0x0425, 0x0418, 0x0419, 0x041A, 0x041B, 0x041C, 0x041D, 0x041E, //
    0x041F, 0x042F, 0x0420, 0x0421, 0x0422, 0x0423, 0x0416, 0x0412, //
    0x042C, 0x042B, 0x0417, 0x0428, 0x042D, 0x0429, 0x0427, 0x042A, //
];

/// The sixteen positions where KZ-1048 differs from windows-1251 (all Kazakh letters).
const KZ1048_PATCH: [(u8, u16); 16] = [
    (0x8D, 0x049A), // Қ
    (0x8E, 0x04BA), // Һ
    (0x9D, 0x049B), // қ
    (0x9E, 0x04BB), // һ
    (0xA1, 0x04B0), // Ұ
    (0xA2, 0x04B1), // ұ
    (0xA3, 0x04D8), // Ә
    (0xA5, 0x04E8), // Ө
    (0xAA, 0x0492), // Ғ
    (0xAF, 0x04AE), // Ү
    (0xB4, 0x04E9), // ө
    (0xBA, 0x0493), // ғ
    (0xBC, 0x04D9), // ә
    (0xBD, 0x04A2), // Ң
    (0xBE, 0x04A3), // ң
    (0xBF, 0x04AF), // ү
];

/// A single-byte Cyrillic charset this module decodes itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cyrillic {
    Cp1251,
    Koi8R,
    Kz1048,
}

impl Cyrillic {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Cyrillic::Cp1251 => "windows-1251",
            Cyrillic::Koi8R => "KOI8-R",
            Cyrillic::Kz1048 => "KZ-1048",
        }
    }

    fn map(self, byte: u8) -> char {
        if byte < 0x80 {
            return byte as char;
        }
        let code = match self {
            Cyrillic::Cp1251 => CP1251[(byte - 0x80) as usize],
            Cyrillic::Koi8R => KOI8_R[(byte - 0x80) as usize],
            Cyrillic::Kz1048 => KZ1048_PATCH
                .iter()
                .find(|(b, _)| *b == byte)
                .map_or(CP1251[(byte - 0x80) as usize], |(_, c)| *c),
        };
        char::from_u32(u32::from(code)).unwrap_or(char::REPLACEMENT_CHARACTER)
    }

    /// Encodes text into this charset; `None` if a character has no place in it.
    #[cfg(any(test, feature = "corpus"))]
    pub(crate) fn encode(self, text: &str) -> Option<Vec<u8>> {
        text.chars()
            .map(|c| {
                if c.is_ascii() {
                    Some(c as u8)
                } else {
                    (0x80..=0xFFu8).find(|&b| self.map(b) == c)
                }
            })
            .collect()
    }

    pub(crate) fn decode(self, bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len() + bytes.len() / 2);
        out.extend(bytes.iter().map(|&b| self.map(b)));
        out
    }
}

/// The lower-cased, trimmed charset label with `_` for `-`, or `None` for an empty label.
fn normalise_label(label: &str) -> Option<String> {
    let label = label.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    if label.is_empty() {
        return None;
    }
    Some(
        label
            .chars()
            .take(64)
            .map(|c| {
                if c == '-' {
                    '_'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect(),
    )
}

enum Label {
    /// No information: guess.
    Unknown,
    Utf8,
    Cyrillic(Cyrillic),
    /// Something else mail-parser knows; `ascii_compatible` is false for UTF-16/32/7.
    Other {
        ascii_compatible: bool,
    },
    /// A label nobody knows.
    Unrecognised,
}

fn classify(label: Option<&str>) -> (Label, Option<String>) {
    let Some(norm) = label.and_then(normalise_label) else {
        return (Label::Unknown, None);
    };
    let kind = match norm.as_str() {
        "us_ascii" | "ascii" | "ansi_x3.4_1968" | "unknown_8bit" | "x_unknown" | "unknown"
        | "8bit" | "default" | "x_user_defined" => Label::Unknown,
        "utf_8" | "utf8" | "unicode_1_1_utf_8" | "x_unicode20utf8" => Label::Utf8,
        "windows_1251" | "cp1251" | "x_cp1251" | "win_1251" | "cswindows1251" | "ms_cyrl" => {
            Label::Cyrillic(Cyrillic::Cp1251)
        }
        "koi8_r" | "koi8r" | "koi8" | "koi" | "cskoi8r" => Label::Cyrillic(Cyrillic::Koi8R),
        "kz_1048" | "kz1048" | "strk1048_2002" | "rk1048" | "cskz1048" => {
            Label::Cyrillic(Cyrillic::Kz1048)
        }
        other => {
            if mail_parser::decoders::charsets::map::charset_decoder(other.as_bytes()).is_some() {
                let wide = [
                    "utf_16", "utf_32", "utf_7", "ucs_2", "ucs_4", "utf16", "utf32", "utf7",
                ];
                Label::Other {
                    ascii_compatible: !wide.iter().any(|w| other.starts_with(w)),
                }
            } else {
                Label::Unrecognised
            }
        }
    };
    (kind, Some(norm))
}

/// Counts (valid multi-byte sequences, invalid bytes) of UTF-8 in `bytes`.
fn utf8_stats(bytes: &[u8]) -> (usize, usize) {
    let mut valid = 0;
    let mut invalid = 0;
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                valid += s.bytes().filter(|b| *b >= 0xC0).count();
                return (valid, invalid);
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                valid += good.iter().filter(|b| **b >= 0xC0).count();
                invalid += 1;
                let skip = e.error_len().unwrap_or(bad.len()).max(1);
                rest = &bad[skip.min(bad.len())..];
                if rest.is_empty() {
                    return (valid, invalid);
                }
            }
        }
    }
}

fn cyrillic_score(charset: Cyrillic, bytes: &[u8]) -> i64 {
    let mut score = 0i64;
    for &b in bytes.iter().filter(|b| **b >= 0x80) {
        let c = charset.map(b);
        if ('а'..='я').contains(&c) || c == 'ё' {
            score += 2;
        } else if ('А'..='Я').contains(&c) || c == 'Ё' {
            score += 1;
        } else if c == char::REPLACEMENT_CHARACTER || ('\u{2500}'..='\u{25FF}').contains(&c) {
            // Box drawing (KOI8-R's upper half) never appears in mail text.
            score -= 2;
        }
    }
    score
}

/// Guesses the single-byte Cyrillic charset of 8-bit bytes that are not UTF-8.
pub(crate) fn guess_cyrillic(bytes: &[u8]) -> Cyrillic {
    let cp = cyrillic_score(Cyrillic::Cp1251, bytes);
    let koi = cyrillic_score(Cyrillic::Koi8R, bytes);
    if koi > cp {
        return Cyrillic::Koi8R;
    }
    if bytes
        .iter()
        .any(|b| KZ1048_PATCH.iter().any(|(p, _)| p == b))
    {
        Cyrillic::Kz1048
    } else {
        Cyrillic::Cp1251
    }
}

/// Decodes text whose charset is unknown: UTF-8 if valid, else a Cyrillic guess.
/// Returns the text and, if it had to guess, the name of the guessed charset.
pub(crate) fn decode_guess(bytes: &[u8]) -> (String, Option<&'static str>) {
    if bytes.is_ascii() {
        return (String::from_utf8_lossy(bytes).into_owned(), None);
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), None),
        Err(_) => {
            let (valid, invalid) = utf8_stats(bytes);
            if valid > invalid * 4 {
                // Mostly UTF-8 with a few broken bytes (a cut in the middle of a character).
                (
                    String::from_utf8_lossy(bytes).into_owned(),
                    Some("UTF-8 with replacements"),
                )
            } else {
                let guess = guess_cyrillic(bytes);
                (guess.decode(bytes), Some(guess.name()))
            }
        }
    }
}

/// Decodes a text part's bytes given its declared charset, pushing a warning for every guess.
pub(crate) fn decode(bytes: &[u8], declared: Option<&str>, warnings: &mut Vec<String>) -> String {
    let (label, norm) = classify(declared);
    let shown = declared
        .map(|d| crate::inbound::clean_line(d, 40))
        .unwrap_or_default();
    if bytes.is_ascii()
        && !matches!(
            label,
            Label::Other {
                ascii_compatible: false
            }
        )
    {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    match label {
        Label::Unknown | Label::Unrecognised => {
            let (text, guessed) = decode_guess(bytes);
            let what = if matches!(label, Label::Unrecognised) {
                format!("unknown charset {shown}")
            } else if norm.is_some() {
                format!("8-bit text declared as {shown}")
            } else {
                "8-bit text without a charset".to_owned()
            };
            let as_what = guessed.unwrap_or("UTF-8");
            if guessed.is_some() || matches!(label, Label::Unrecognised) {
                crate::inbound::warn(warnings, format!("{what} decoded as {as_what}"));
            }
            text
        }
        Label::Utf8 => match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => {
                let (text, guessed) = decode_guess(bytes);
                crate::inbound::warn(
                    warnings,
                    format!(
                        "text declared as UTF-8 is not valid UTF-8; decoded as {}",
                        guessed.unwrap_or("UTF-8")
                    ),
                );
                text
            }
        },
        Label::Cyrillic(_) | Label::Other { .. } if looks_like_utf8(bytes) => {
            crate::inbound::warn(
                warnings,
                format!("text declared as {shown} is valid UTF-8; decoded as UTF-8"),
            );
            String::from_utf8_lossy(bytes).into_owned()
        }
        Label::Cyrillic(charset) => charset.decode(bytes),
        Label::Other { .. } => {
            let norm = norm.unwrap_or_default();
            match mail_parser::decoders::charsets::map::charset_decoder(norm.as_bytes()) {
                Some(decoder) => decoder(bytes),
                None => String::from_utf8_lossy(bytes).into_owned(),
            }
        }
    }
}

/// Valid UTF-8 with at least two multi-byte sequences (or one when the text is short).
fn looks_like_utf8(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            let multi = s.chars().filter(|c| !c.is_ascii()).count();
            multi >= 2 || (multi == 1 && s.len() < 16)
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_round_trip_the_alphabets() {
        let ru = "Съешь же ещё этих мягких французских булок";
        let cp: Vec<u8> = ru.chars().map(|c| encode(Cyrillic::Cp1251, c)).collect();
        assert_eq!(Cyrillic::Cp1251.decode(&cp), ru);
        let koi: Vec<u8> = ru.chars().map(|c| encode(Cyrillic::Koi8R, c)).collect();
        assert_eq!(Cyrillic::Koi8R.decode(&koi), ru);
        let kk = "Әлемнің ғажайып қаңқасы өңір ұлы үйі һәм";
        let kz: Vec<u8> = kk.chars().map(|c| encode(Cyrillic::Kz1048, c)).collect();
        assert_eq!(Cyrillic::Kz1048.decode(&kz), kk);
    }

    fn encode(cs: Cyrillic, c: char) -> u8 {
        if c.is_ascii() {
            return c as u8;
        }
        (0x80..=0xFFu8)
            .find(|b| cs.map(*b) == c)
            .expect("char in charset")
    }

    #[test]
    fn guesses_follow_letter_case() {
        let ru = "Здравствуйте, прошу вернуть деньги за ставку";
        let cp: Vec<u8> = ru.chars().map(|c| encode(Cyrillic::Cp1251, c)).collect();
        let koi: Vec<u8> = ru.chars().map(|c| encode(Cyrillic::Koi8R, c)).collect();
        assert_eq!(decode_guess(&cp), (ru.to_owned(), Some("windows-1251")));
        assert_eq!(decode_guess(&koi), (ru.to_owned(), Some("KOI8-R")));
        assert_eq!(decode_guess(ru.as_bytes()), (ru.to_owned(), None));
        let kk = "Сәлеметсіз бе, ақшам қайда?";
        let kz: Vec<u8> = kk.chars().map(|c| encode(Cyrillic::Kz1048, c)).collect();
        assert_eq!(decode_guess(&kz), (kk.to_owned(), Some("KZ-1048")));
    }

    #[test]
    fn lying_labels_are_caught() {
        let mut w = Vec::new();
        let ru = "Привет, мир";
        assert_eq!(decode(ru.as_bytes(), Some("windows-1251"), &mut w), ru);
        assert_eq!(w.len(), 1);
        let cp: Vec<u8> = ru.chars().map(|c| encode(Cyrillic::Cp1251, c)).collect();
        assert_eq!(decode(&cp, Some("utf-8"), &mut w), ru);
        assert_eq!(decode(&cp, Some("us-ascii"), &mut w), ru);
        assert_eq!(decode(&cp, Some("x-unknown"), &mut w), ru);
        assert!(
            w.iter().any(|m| m.contains("declared as x-unknown")),
            "{w:?}"
        );
        assert_eq!(decode(&cp, Some("x-nonsense"), &mut w), ru);
        assert!(
            w.iter()
                .any(|m| m == "unknown charset x-nonsense decoded as windows-1251"),
            "{w:?}"
        );
        assert_eq!(decode(b"plain", Some("x-nonsense"), &mut w), "plain");
    }

    #[test]
    fn utf16_is_not_taken_for_ascii() {
        let mut w = Vec::new();
        let bytes: Vec<u8> = "Hi".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        assert_eq!(decode(&bytes, Some("utf-16le"), &mut w), "Hi");
    }
}
