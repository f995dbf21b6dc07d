//! Properties over arbitrary bytes and over generated well-formed messages.

use ombuds_mail::inbound::{InboundMail, Limits, TRUNCATION_MARKER, parse};
use proptest::prelude::*;

pub fn b64(s: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, chunk) in s.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            out.push(if k <= chunk.len() {
                A[(n >> (18 - 6 * k) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

fn qp(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut line = 0;
    for &b in bytes {
        let piece = match b {
            b'\r' => continue,
            b'\n' => {
                out.push_str("\r\n");
                line = 0;
                continue;
            }
            b'=' | 0x80..=0xFF | 0..=0x1F => format!("={b:02X}"),
            _ => (b as char).to_string(),
        };
        if line + piece.len() > 72 {
            out.push_str("=\r\n");
            line = 0;
        }
        line += piece.len();
        out.push_str(&piece);
    }
    out
}

#[derive(Debug, Clone, Copy)]
enum Charset {
    Utf8,
    Cp1251,
    Koi8R,
}

impl Charset {
    fn label(self) -> &'static str {
        match self {
            Charset::Utf8 => "utf-8",
            Charset::Cp1251 => "windows-1251",
            Charset::Koi8R => "koi8-r",
        }
    }

    fn encode(self, s: &str) -> Vec<u8> {
        const KOI: &str = "юабцдефгхийклмнопярстужвьызшэщчъ";
        match self {
            Charset::Utf8 => s.as_bytes().to_vec(),
            Charset::Cp1251 => s
                .chars()
                .map(|c| match c {
                    'А'..='я' => (0xC0 + (c as u32 - 'А' as u32)) as u8,
                    'Ё' => 0xA8,
                    'ё' => 0xB8,
                    c => c as u8,
                })
                .collect(),
            Charset::Koi8R => s
                .chars()
                .map(|c| {
                    if let Some(p) = KOI.chars().position(|k| k == c) {
                        0xC0 + p as u8
                    } else if let Some(p) =
                        KOI.chars().position(|k| k.to_uppercase().next() == Some(c))
                    {
                        0xE0 + p as u8
                    } else {
                        match c {
                            'ё' => 0xA3,
                            'Ё' => 0xB3,
                            c => c as u8,
                        }
                    }
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Cte {
    EightBit,
    Base64,
    Qp,
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    Plain,
    Html,
    Alternative,
    MixedWithAttachment,
}

#[derive(Debug, Clone)]
struct Generated {
    lines: Vec<String>,
    subject: String,
    name: String,
    charset: Charset,
    cte: Cte,
    shape: Shape,
}

fn words(pattern: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(pattern, 1..9).prop_map(|w| w.join(" "))
}

fn generated() -> impl Strategy<Value = Generated> {
    let lang = prop_oneof![
        Just(("[a-zA-Z0-9]{1,10}", false)),
        Just(("[а-яА-ЯёЁ0-9]{1,10}", false)),
        Just(("[а-яәғқңөұүһіӘҒҚҢӨҰҮҺІ0-9]{1,10}", true)),
    ];
    lang.prop_flat_map(|(pattern, kazakh)| {
        let charset = if kazakh {
            Just(Charset::Utf8).boxed()
        } else {
            prop_oneof![
                Just(Charset::Utf8),
                Just(Charset::Cp1251),
                Just(Charset::Koi8R)
            ]
            .boxed()
        };
        (
            prop::collection::vec(words(pattern), 1..12),
            words(pattern),
            words(pattern),
            charset,
            prop_oneof![Just(Cte::EightBit), Just(Cte::Base64), Just(Cte::Qp)],
            prop_oneof![
                Just(Shape::Plain),
                Just(Shape::Html),
                Just(Shape::Alternative),
                Just(Shape::MixedWithAttachment)
            ],
        )
            .prop_map(|(lines, subject, name, charset, cte, shape)| Generated {
                lines,
                subject,
                name,
                charset,
                cte,
                shape,
            })
    })
}

impl Generated {
    fn text(&self) -> String {
        self.lines.join("\n")
    }

    fn body_part(&self, html: bool) -> Vec<u8> {
        let body = if html {
            let inner: String = self
                .lines
                .iter()
                .map(|l| format!("<div>{l}</div>\n"))
                .collect();
            format!("<html><head><style>p {{}}</style></head><body>{inner}</body></html>")
        } else {
            self.lines.join("\r\n")
        };
        let bytes = self.charset.encode(&body);
        let (cte, encoded) = match self.cte {
            Cte::EightBit => ("8bit", bytes),
            Cte::Base64 => ("base64", b64(&bytes).into_bytes()),
            Cte::Qp => ("quoted-printable", qp(&bytes).into_bytes()),
        };
        let mut part = format!(
            "Content-Type: text/{}; charset={}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n",
            if html { "html" } else { "plain" },
            self.charset.label()
        )
        .into_bytes();
        part.extend(encoded);
        part.extend(b"\r\n");
        part
    }

    fn raw(&self, id: u32) -> Vec<u8> {
        let ew = |s: &str| {
            format!(
                "=?{}?B?{}?=",
                self.charset.label(),
                b64(&self.charset.encode(s)).replace("\r\n", "")
            )
        };
        let mut raw = format!(
            "From: {} <player{id}@example.kz>\r\nTo: complaints@bet.example.kz\r\nSubject: {}\r\n\
             Message-ID: <gen-{id}@example.kz>\r\nDate: Mon, 12 Jan 2026 10:00:00 +0500\r\nMIME-Version: 1.0\r\n",
            ew(&self.name),
            ew(&self.subject)
        )
        .into_bytes();
        match self.shape {
            Shape::Plain => raw.extend(self.body_part(false)),
            Shape::Html => raw.extend(self.body_part(true)),
            Shape::Alternative => {
                raw.extend(
                    b"Content-Type: multipart/alternative; boundary=\"alt-b\"\r\n\r\n--alt-b\r\n",
                );
                raw.extend(self.body_part(false));
                raw.extend(b"--alt-b\r\n");
                raw.extend(self.body_part(true));
                raw.extend(b"--alt-b--\r\n");
            }
            Shape::MixedWithAttachment => {
                raw.extend(b"Content-Type: multipart/mixed; boundary=\"mix-b\"\r\n\r\n--mix-b\r\n");
                raw.extend(self.body_part(false));
                raw.extend(
                    b"--mix-b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"s.png\"\r\n\
                      Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--mix-b--\r\n",
                );
            }
        }
        raw
    }
}

/// What must hold for any parse result.
pub fn check_invariants(m: &InboundMail, limits: &Limits) {
    let marker = TRUNCATION_MARKER.chars().count();
    assert!(m.full_text.chars().count() <= limits.max_text_chars + marker);
    assert!(
        m.text.len() <= m.full_text.len(),
        "{:?} / {:?}",
        m.text,
        m.full_text
    );
    assert!(m.full_text.is_empty() || !m.text.trim().is_empty());
    assert!(m.attachments.len() <= limits.max_attachments);
    let total: usize = m.attachments.iter().map(|a| a.data.len()).sum();
    assert!(total <= limits.max_total_attachment_bytes);
    for a in &m.attachments {
        assert!(a.data.len() <= limits.max_attachment_bytes);
        assert!(!a.filename.is_empty() && a.filename.chars().count() <= 150);
        assert!(!a.filename.contains(['/', '\\']) && !a.filename.chars().any(char::is_control));
        assert!(!a.filename.starts_with('.'));
    }
    assert!(!m.subject.chars().any(char::is_control));
    for mb in m.from.iter().chain(&m.reply_to).chain(&m.to).chain(&m.cc) {
        assert!(
            !mb.address
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        );
        assert!(
            mb.name
                .as_deref()
                .is_none_or(|n| !n.chars().any(char::is_control))
        );
    }
    for id in m
        .message_id
        .iter()
        .chain(&m.in_reply_to)
        .chain(&m.references)
    {
        assert!(!id.is_empty() && !id.chars().any(|c| c.is_control() || c.is_whitespace()));
    }
    assert!(m.from.is_some());
}

fn small_limits() -> Limits {
    Limits {
        max_message_bytes: 1 << 20,
        max_attachments: 3,
        max_attachment_bytes: 2000,
        max_total_attachment_bytes: 3000,
        max_depth: 4,
        max_text_chars: 2000,
    }
}

fn parse_checked(raw: &[u8], limits: &Limits) {
    let first = parse(raw, limits);
    let second = parse(raw, limits);
    assert_eq!(first, second, "parse is deterministic");
    if let Ok(m) = &first {
        check_invariants(m, limits);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        parse_checked(&bytes, &small_limits());
        let mut with_header = b"From: a@example.kz\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n".to_vec();
        with_header.extend(&bytes);
        parse_checked(&with_header, &small_limits());
    }

    #[test]
    fn mime_shaped_noise_never_panics(pieces in prop::collection::vec(prop_oneof![
        Just("--b\r\n".to_owned()), Just("--b--\r\n".to_owned()), Just("\r\n".to_owned()),
        Just("Content-Type: multipart/mixed; boundary=b\r\n".to_owned()),
        Just("Content-Type: multipart/alternative; boundary=c\r\n".to_owned()),
        Just("--c\r\n".to_owned()),
        Just("Content-Type: message/rfc822\r\n".to_owned()),
        Just("Content-Type: text/html; charset=koi8-r\r\n".to_owned()),
        Just("Content-Transfer-Encoding: base64\r\n".to_owned()),
        Just("Content-Transfer-Encoding: quoted-printable\r\n".to_owned()),
        Just("Content-Disposition: attachment; filename*=utf-8''%2E%2E%2Fx\r\n".to_owned()),
        Just("From: x@y.kz\r\n".to_owned()),
        Just("<blockquote><a href='http://x'>".to_owned()),
        Just("=?utf-8?B?0J/RgA==?=".to_owned()),
        Just("=D0=9F=\r\n".to_owned()),
        "[ -~]{0,20}",
    ], 0..60)) {
        let raw = format!("From: a@example.kz\r\n{}", pieces.concat());
        parse_checked(raw.as_bytes(), &small_limits());
    }

    #[test]
    fn generated_messages_round_trip(g in generated(), id in 0u32..1_000_000) {
        let raw = g.raw(id);
        let m = parse(&raw, &Limits::default()).unwrap();
        check_invariants(&m, &Limits::default());
        prop_assert_eq!(&m.full_text, &g.text());
        prop_assert_eq!(&m.text, &g.text());
        prop_assert_eq!(&m.subject, &g.subject);
        let from = m.from.clone().unwrap();
        prop_assert_eq!(from.name.as_deref(), Some(g.name.as_str()));
        prop_assert_eq!(from.address, format!("player{id}@example.kz"));
        prop_assert_eq!(m.html, matches!(g.shape, Shape::Html));
        prop_assert_eq!(m.attachments.len(), usize::from(matches!(g.shape, Shape::MixedWithAttachment)));
        prop_assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        prop_assert_eq!(m.message_id, Some(format!("gen-{id}@example.kz")));
    }

    #[test]
    fn cut_or_spliced_messages_never_panic(g in generated(), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
        let raw = g.raw(7);
        let i = a.index(raw.len() + 1);
        let j = b.index(raw.len() + 1);
        parse_checked(&raw[..i], &small_limits());
        parse_checked(&raw[i.min(j)..], &small_limits());
        let mut spliced = raw[..i].to_vec();
        spliced.extend(&raw[j..]);
        parse_checked(&spliced, &small_limits());
    }
}
