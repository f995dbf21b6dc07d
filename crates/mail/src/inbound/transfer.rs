//! Content-Transfer-Encoding decoders, lenient and linear: junk is skipped, never fatal.

/// Decodes base64, skipping anything outside the alphabet (line breaks, spaces, junk) and
/// stopping at padding. Returns the bytes and whether junk other than whitespace was seen.
pub(crate) fn base64(input: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut junk = false;
    for &b in input {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                // Padding ends a quantum; a new one may follow (concatenated encodings).
                acc = 0;
                bits = 0;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => {
                junk = true;
                continue;
            }
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (out, junk)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Decodes quoted-printable: `=XX` escapes, soft line breaks (`=` at the end of a line, with
/// trailing blanks tolerated); a malformed `=` is kept as it is.
pub(crate) fn quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b != b'=' {
            out.push(b);
            i += 1;
            continue;
        }
        if let (Some(h), Some(l)) = (
            input.get(i + 1).copied().and_then(hex),
            input.get(i + 2).copied().and_then(hex),
        ) {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        // Soft line break: '=' [blanks] CRLF|LF, or '=' at the very end.
        let mut j = i + 1;
        while j < input.len() && (input[j] == b' ' || input[j] == b'\t') {
            j += 1;
        }
        match input.get(j) {
            None => i = j,
            Some(b'\n') => i = j + 1,
            Some(b'\r') => {
                i = if input.get(j + 1) == Some(&b'\n') {
                    j + 2
                } else {
                    j + 1
                }
            }
            Some(_) => {
                out.push(b'=');
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_lenient() {
        assert_eq!(base64(b"SGVs\r\nbG8=").0, b"Hello");
        assert_eq!(base64(b"SGVsbG8").0, b"Hello");
        let (bytes, junk) = base64(b"SGV*sbG8=!!");
        assert_eq!(bytes, b"Hello");
        assert!(junk);
        assert_eq!(base64(b"").0, b"");
        assert_eq!(base64(b"=====").0, b"");
    }

    #[test]
    fn qp() {
        assert_eq!(quoted_printable(b"a=3Db=\r\nc= \nd=zz=4"), b"a=bcd=zz=4");
        assert_eq!(quoted_printable(b"=D0=9F=D1=80"), "Пр".as_bytes());
        assert_eq!(quoted_printable(b"end="), b"end");
    }
}
