//! `ComplaintRef`: the short reference a player quotes, e.g. `K7M-4QX-2PH`.
//!
//! Eight symbols of Crockford base32 (40 random bits) and one check symbol computed with the
//! Luhn mod N algorithm over the same alphabet, which catches every single wrong symbol and
//! every swap of two neighbours. The alphabet has no I, L, O or U, so the reference reads well
//! over the phone. Parsing is forgiving: case, spaces, dashes, dots, the confusable letters
//! O→0 and I/L→1, and Cyrillic letters that look like Latin ones (a player typing with a
//! Russian or Kazakh keyboard layout) are all accepted.

use std::fmt;
use std::str::FromStr;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const DATA_LEN: usize = 8;
const LEN: usize = DATA_LEN + 1;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComplaintRef([u8; LEN]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("a reference has {LEN} letters and digits, this one has {0}")]
    Length(usize),
    #[error("'{0}' cannot appear in a reference")]
    Symbol(char),
    #[error("the reference is mistyped: its check character does not match")]
    Check,
}

fn value_of(symbol: u8) -> Option<u32> {
    ALPHABET.iter().position(|&c| c == symbol).map(|p| p as u32)
}

/// Maps one typed character to a canonical alphabet symbol, if it stands for one.
fn canonical(c: char) -> Option<u8> {
    let c = match c {
        // Cyrillic letters that look like Latin letters or digits.
        'А' | 'а' => 'A',
        'В' | 'в' => 'B',
        'Е' | 'е' => 'E',
        'К' | 'к' => 'K',
        'М' | 'м' => 'M',
        'Н' | 'н' => 'H',
        'О' | 'о' | 'O' | 'o' => '0',
        'Р' | 'р' => 'P',
        'С' | 'с' => 'C',
        'Т' | 'т' => 'T',
        'Х' | 'х' => 'X',
        'У' | 'у' => 'Y',
        'З' | 'з' => '3',
        'I' | 'i' | 'L' | 'l' | 'І' | 'і' | '|' => '1',
        other => other.to_ascii_uppercase(),
    };
    if c.is_ascii() && value_of(c as u8).is_some() { Some(c as u8) } else { None }
}

fn check_symbol(data: &[u8]) -> u8 {
    // Luhn mod N: double every second value from the right, fold base-N digits, sum.
    let n = 32u32;
    let mut factor = 2;
    let mut sum = 0;
    for &symbol in data.iter().rev() {
        let v = value_of(symbol).expect("data symbols come from the alphabet") * factor;
        sum += v / n + v % n;
        factor = if factor == 2 { 1 } else { 2 };
    }
    ALPHABET[((n - sum % n) % n) as usize]
}

impl ComplaintRef {
    /// Builds a reference from 40 random bits (higher bits are ignored).
    pub fn from_bits(bits: u64) -> Self {
        let mut out = [0u8; LEN];
        for (i, slot) in out.iter_mut().take(DATA_LEN).enumerate() {
            let shift = 5 * (DATA_LEN - 1 - i);
            *slot = ALPHABET[((bits >> shift) & 31) as usize];
        }
        out[DATA_LEN] = check_symbol(&out[..DATA_LEN]);
        ComplaintRef(out)
    }

    pub fn parse(input: &str) -> Result<Self, RefError> {
        let mut out = [0u8; LEN];
        let mut len = 0usize;
        for c in input.chars() {
            if c.is_whitespace() || matches!(c, '-' | '–' | '—' | '.' | '_' | '#') {
                continue;
            }
            let symbol = canonical(c).ok_or(RefError::Symbol(c))?;
            if len < LEN {
                out[len] = symbol;
            }
            len += 1;
        }
        if len != LEN {
            return Err(RefError::Length(len));
        }
        if check_symbol(&out[..DATA_LEN]) != out[DATA_LEN] {
            return Err(RefError::Check);
        }
        Ok(ComplaintRef(out))
    }

    /// The canonical nine symbols without separators, as stored.
    pub fn compact(&self) -> &str {
        std::str::from_utf8(&self.0).expect("alphabet is ASCII")
    }
}

impl fmt::Display for ComplaintRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.compact();
        write!(f, "{}-{}-{}", &s[0..3], &s[3..6], &s[6..9])
    }
}

impl fmt::Debug for ComplaintRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ComplaintRef({self})")
    }
}

impl FromStr for ComplaintRef {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for ComplaintRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ComplaintRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ComplaintRef::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ComplaintRef {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[0-9A-HJKMNP-TV-Z]{3}-[0-9A-HJKMNP-TV-Z]{3}-[0-9A-HJKMNP-TV-Z]{3}$"))
            .examples(["K7M-4QX-2PH"])
            .description(Some("Short complaint reference with a check character"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ComplaintRef {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn displays_in_three_groups_and_round_trips() {
        let r = ComplaintRef::from_bits(0x12_3456_789A);
        let shown = r.to_string();
        assert_eq!(shown.len(), 11);
        assert_eq!(ComplaintRef::parse(&shown), Ok(r));
        assert_eq!(ComplaintRef::parse(r.compact()), Ok(r));
    }

    #[test]
    fn forgives_case_separators_and_confusables() {
        let r = ComplaintRef::from_bits(0);
        assert_eq!(r.compact(), "000000000");
        assert_eq!(ComplaintRef::parse("ooo-OOO 0o0"), Ok(r));
        let r = ComplaintRef::from_bits(0b00001_00001_00001_00001_00001_00001_00001_00001);
        let lower_with_l = r.compact().to_lowercase().replace('1', "l");
        assert_eq!(ComplaintRef::parse(&lower_with_l), Ok(r));
        assert_eq!(ComplaintRef::parse(&format!(" {} ", r.compact().replace('1', "I"))), Ok(r));
    }

    #[test]
    fn accepts_cyrillic_lookalikes() {
        // 'A', 'B', 'C', 'E', 'H', 'K', 'M', 'P', 'T', 'X' typed on a Cyrillic layout.
        let latin = "ABC-EHK-MPT";
        let data: String = latin.chars().filter(|c| *c != '-').take(8).collect();
        let r = ComplaintRef::parse(&format!("{data}{}", check_symbol(data.as_bytes()) as char)).unwrap();
        let cyr: String = r
            .to_string()
            .chars()
            .map(|c| match c {
                'A' => 'А',
                'B' => 'В',
                'C' => 'С',
                'E' => 'Е',
                'H' => 'Н',
                'K' => 'К',
                'M' => 'М',
                'P' => 'Р',
                'T' => 'Т',
                other => other,
            })
            .collect();
        assert_eq!(ComplaintRef::parse(&cyr), Ok(r));
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        assert_eq!(ComplaintRef::parse(""), Err(RefError::Length(0)));
        assert_eq!(ComplaintRef::parse("ABC-DEF"), Err(RefError::Length(6)));
        assert_eq!(ComplaintRef::parse("ABC-DEF-GHJK"), Err(RefError::Length(10)));
        assert_eq!(ComplaintRef::parse("ABC-DEF-GHU"), Err(RefError::Symbol('U')));
        assert_eq!(ComplaintRef::parse("ABC/DEF/GHJ"), Err(RefError::Symbol('/')));
        let good = ComplaintRef::from_bits(42).to_string();
        let mut bad: Vec<char> = good.chars().collect();
        bad[10] = if bad[10] == 'Z' { 'Y' } else { 'Z' };
        assert_eq!(ComplaintRef::parse(&bad.into_iter().collect::<String>()), Err(RefError::Check));
    }

    proptest! {
        #[test]
        fn any_single_symbol_change_is_caught(bits in 0u64..(1 << 40), pos in 0usize..9, sym in 0usize..32) {
            let r = ComplaintRef::from_bits(bits);
            let mut s = r.compact().as_bytes().to_vec();
            prop_assume!(s[pos] != ALPHABET[sym]);
            s[pos] = ALPHABET[sym];
            let typed = String::from_utf8(s).unwrap();
            prop_assert_eq!(ComplaintRef::parse(&typed), Err(RefError::Check));
        }

        #[test]
        fn any_adjacent_swap_is_caught(bits in 0u64..(1 << 40), pos in 0usize..8) {
            let r = ComplaintRef::from_bits(bits);
            let mut s = r.compact().as_bytes().to_vec();
            prop_assume!(s[pos] != s[pos + 1]);
            s.swap(pos, pos + 1);
            let typed = String::from_utf8(s).unwrap();
            // Luhn mod N misses only the swap of the two symbols whose values sum to N-1 (the
            // "09/90" case of decimal Luhn); everything else must be caught.
            let a = value_of(r.compact().as_bytes()[pos]).unwrap();
            let b = value_of(r.compact().as_bytes()[pos + 1]).unwrap();
            prop_assume!(a + b != 31);
            prop_assert_eq!(ComplaintRef::parse(&typed), Err(RefError::Check));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = ComplaintRef::parse(&s);
        }
    }
}
