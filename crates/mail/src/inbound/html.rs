//! HTML → readable text, written for e-mail.
//!
//! Why not `html2text` (or `ammonia` + a renderer): measured here, html2text's time grows with
//! the square of the nesting depth (16,000 nested `<ul><li>` took 5.6 s and then failed with
//! "output width not wide enough"; 16,000 nested `<div>`s took 1.1 s for 80 KB of input), it
//! wraps lines to a width, drops link targets unless they become footnotes, and pulls in
//! html5ever. Mail needs much less than a browser: a single pass over the tags that keeps
//! the text, turns blocks into line breaks, lists into "- " / "1. " items, links into
//! "text (url)", images into their alt text, `<blockquote>` into "> " lines (so the same quote
//! trimming works for HTML and plain text) and a marked signature block into a "-- " line,
//! and drops `<script>`, `<style>`, `<head>`'s `<title>`, Outlook's `<xml>`, and anything
//! hidden with `display:none` (preheaders, tracking text). Nothing is ever fetched: `src`
//! attributes are never even read.
//!
//! The pass is linear: every search moves forward and never rescans; nesting only changes
//! counters, and the per-line prefix is capped so deep `<blockquote>` nesting cannot blow up
//! the output. Output stops growing at `max_bytes`.

const MAX_QUOTE_PREFIX: usize = 16;
const MAX_LIST_INDENT: usize = 8;
const MAX_URL: usize = 2048;

/// Converts HTML to plain text, producing at most about `max_bytes` bytes.
pub(crate) fn to_text(html: &str, max_bytes: usize) -> String {
    let mut w = Writer::new(max_bytes);
    let bytes = html.as_bytes();
    let mut i = 0;
    let mut text_start = 0;
    while i < bytes.len() && !w.full() {
        match bytes[i] {
            b'<' => {
                w.text(&html[text_start..i]);
                i = tag(html, i, &mut w);
                text_start = i;
            }
            _ => {
                // Jump to the next '<'.
                i = match bytes[i..].iter().position(|&b| b == b'<') {
                    Some(p) => i + p,
                    None => bytes.len(),
                };
            }
        }
    }
    if !w.full() {
        w.text(&html[text_start.min(html.len())..]);
    }
    w.finish()
}

/// Handles the markup starting at `html[start] == '<'`; returns where text resumes.
fn tag(html: &str, start: usize, w: &mut Writer) -> usize {
    let bytes = html.as_bytes();
    let next = bytes.get(start + 1).copied();
    match next {
        Some(b'!') => {
            if bytes[start..].starts_with(b"<!--") {
                // A comment (Outlook's conditional comments included): up to "-->".
                find(bytes, start + 4, b"-->").map_or(bytes.len(), |p| p + 3)
            } else {
                // <!DOCTYPE …>, <![CDATA[ … ]]> and the like.
                find_byte(bytes, start + 2, b'>').map_or(bytes.len(), |p| p + 1)
            }
        }
        Some(b'?') => find_byte(bytes, start + 2, b'>').map_or(bytes.len(), |p| p + 1),
        Some(b'/') if bytes.get(start + 2).is_some_and(u8::is_ascii_alphabetic) => {
            let (name, end) = read_name(bytes, start + 2);
            let close = find_byte(bytes, end, b'>').map_or(bytes.len(), |p| p + 1);
            w.end_tag(&name);
            close
        }
        Some(c) if c.is_ascii_alphabetic() => {
            let (name, after_name) = read_name(bytes, start + 1);
            let (attrs, close) = read_attributes(html, after_name);
            let end = w.start_tag(&name, &attrs);
            if let Some(raw) = end {
                // Raw-text element: skip to its end tag.
                skip_raw(bytes, close, raw)
            } else {
                close
            }
        }
        _ => {
            // A lone '<' is text.
            w.text("<");
            start + 1
        }
    }
}

fn find_byte(bytes: &[u8], from: usize, needle: u8) -> Option<usize> {
    bytes
        .get(from..)?
        .iter()
        .position(|&b| b == needle)
        .map(|p| from + p)
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let hay = bytes.get(from..)?;
    let first = *needle.first()?;
    let mut i = 0;
    while let Some(p) = hay
        .get(i..)
        .and_then(|h| h.iter().position(|&b| b == first))
    {
        let at = i + p;
        if hay.get(at..at + needle.len()).is_some_and(|s| s == needle) {
            return Some(from + at);
        }
        i = at + 1;
    }
    None
}

/// Skips to just after `</name…>` (case-insensitive), or to the end.
fn skip_raw(bytes: &[u8], from: usize, name: &str) -> usize {
    let mut i = from;
    while let Some(p) = find(bytes, i, b"</") {
        let after = p + 2;
        let candidate = bytes.get(after..after + name.len());
        if candidate.is_some_and(|c| c.eq_ignore_ascii_case(name.as_bytes())) {
            return find_byte(bytes, after, b'>').map_or(bytes.len(), |q| q + 1);
        }
        i = after;
    }
    bytes.len()
}

fn read_name(bytes: &[u8], from: usize) -> (String, usize) {
    let mut end = from;
    while end < bytes.len()
        && (bytes[end].is_ascii_alphanumeric() || matches!(bytes[end], b':' | b'-' | b'_'))
    {
        end += 1;
    }
    let name = bytes[from..end]
        .iter()
        .take(32)
        .map(|b| b.to_ascii_lowercase() as char)
        .collect();
    (name, end)
}

#[derive(Default)]
struct Attrs {
    href: Option<String>,
    alt: Option<String>,
    class: String,
    id: String,
    hidden: bool,
    self_closing: bool,
}

/// Reads attributes up to the closing '>'; returns them and the index after '>'.
fn read_attributes(html: &str, from: usize) -> (Attrs, usize) {
    let bytes = html.as_bytes();
    let mut attrs = Attrs::default();
    let mut i = from;
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            attrs.self_closing = bytes[i] == b'/';
            i += 1;
        }
        if i >= bytes.len() {
            return (attrs, bytes.len());
        }
        if bytes[i] == b'>' {
            return (attrs, i + 1);
        }
        attrs.self_closing = false;
        let name_start = i;
        while i < bytes.len()
            && !bytes[i].is_ascii_whitespace()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
        {
            i += 1;
        }
        let name = &bytes[name_start..i];
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = "";
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            match bytes.get(i) {
                Some(&q @ (b'"' | b'\'')) => {
                    let vstart = i + 1;
                    // An unclosed quote ends at the next '>' rather than swallowing the rest.
                    let vend = find_byte(bytes, vstart, q)
                        .or_else(|| find_byte(bytes, vstart, b'>'))
                        .unwrap_or(bytes.len());
                    value = html.get(vstart..vend).unwrap_or("");
                    i = if bytes.get(vend) == Some(&q) {
                        vend + 1
                    } else {
                        vend
                    };
                }
                _ => {
                    let vstart = i;
                    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                        i += 1;
                    }
                    value = html.get(vstart..i).unwrap_or("");
                }
            }
        }
        if name.is_empty() {
            // A stray '=' or the like: step over it.
            i += 1;
            continue;
        }
        if name.eq_ignore_ascii_case(b"href") {
            attrs.href = Some(decode_entities(value));
        } else if name.eq_ignore_ascii_case(b"alt") {
            attrs.alt = Some(decode_entities(value));
        } else if name.eq_ignore_ascii_case(b"class") {
            attrs.class = value.to_ascii_lowercase();
        } else if name.eq_ignore_ascii_case(b"id") {
            attrs.id = value.to_ascii_lowercase();
        } else if name.eq_ignore_ascii_case(b"hidden") {
            attrs.hidden = true;
        } else if name.eq_ignore_ascii_case(b"style") {
            let compact: String = value
                .chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| c.to_ascii_lowercase())
                .collect();
            if compact.contains("display:none") || compact.contains("mso-hide:all") {
                attrs.hidden = true;
            }
        }
    }
}

fn is_void(name: &str) -> bool {
    matches!(
        name,
        "br" | "hr"
            | "img"
            | "input"
            | "meta"
            | "link"
            | "area"
            | "base"
            | "col"
            | "embed"
            | "param"
            | "source"
            | "track"
            | "wbr"
            | "keygen"
    )
}

/// Elements whose content is not text to show.
fn raw_skipped(name: &str) -> Option<&'static str> {
    Some(match name {
        "script" => "script",
        "style" => "style",
        "title" => "title",
        "xml" => "xml",
        "template" => "template",
        "iframe" => "iframe",
        "object" => "object",
        "svg" => "svg",
        "textarea" => "textarea",
        "noembed" => "noembed",
        "select" => "select",
        _ => return None,
    })
}

struct Writer {
    out: String,
    max: usize,
    /// Line breaks wanted before the next text (0, 1 or 2).
    pending_newlines: usize,
    pending_space: bool,
    /// A list marker to write before the next text.
    pending_marker: Option<String>,
    quote_depth: usize,
    pre: usize,
    lists: Vec<Option<u32>>,
    link: Option<(String, usize)>,
    /// Inside a hidden element: its name and how many of the same name are open.
    hidden: Option<(String, usize)>,
    /// Outlook/Word HTML: every line is a `<p class=MsoNormal>` with no margin, so a
    /// paragraph is one line break, not a blank line.
    mso: bool,
}

impl Writer {
    fn new(max: usize) -> Self {
        Writer {
            out: String::new(),
            max,
            pending_newlines: 0,
            pending_space: false,
            pending_marker: None,
            quote_depth: 0,
            pre: 0,
            lists: Vec::new(),
            link: None,
            hidden: None,
            mso: false,
        }
    }

    fn full(&self) -> bool {
        self.out.len() > self.max
    }

    fn block(&mut self, newlines: usize) {
        if self.hidden.is_some() {
            return;
        }
        if !self.out.is_empty() {
            self.pending_newlines = self.pending_newlines.max(newlines);
        }
        self.pending_space = false;
    }

    fn line_break(&mut self) {
        if self.hidden.is_some() || self.out.is_empty() {
            return;
        }
        self.pending_newlines = (self.pending_newlines + 1).min(2);
        self.pending_space = false;
    }

    fn prefix(&mut self) {
        for _ in 0..self.quote_depth.min(MAX_QUOTE_PREFIX) {
            self.out.push_str("> ");
        }
        if let Some(marker) = self.pending_marker.take() {
            self.out.push_str(&marker);
        }
    }

    fn put_char(&mut self, c: char) {
        if self.pending_newlines > 0 {
            let have = self.out.bytes().rev().take_while(|&b| b == b'\n').count();
            for _ in have..self.pending_newlines {
                self.out.push('\n');
            }
            self.pending_newlines = 0;
            self.pending_space = false;
            self.prefix();
        } else if self.out.is_empty() || self.out.ends_with('\n') {
            self.pending_space = false;
            self.prefix();
        } else if self.pending_space {
            self.out.push(' ');
            self.pending_space = false;
        }
        self.out.push(c);
    }

    fn put_str(&mut self, s: &str) {
        for c in s.chars() {
            if c == ' ' {
                self.pending_space = true;
            } else {
                self.put_char(c);
            }
        }
    }

    /// Text between tags, with character references still in it.
    fn text(&mut self, raw: &str) {
        if raw.is_empty() || self.hidden.is_some() {
            return;
        }
        let decoded = if raw.contains('&') {
            decode_entities(raw)
        } else {
            raw.to_owned()
        };
        for c in decoded.chars() {
            if self.full() {
                return;
            }
            match c {
                '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
                | '\u{034F}' => {}
                '\n' if self.pre > 0 => {
                    self.pending_newlines += 1;
                    if self.out.is_empty() {
                        self.pending_newlines = 0;
                    }
                }
                '\r' => {}
                c if self.pre > 0 && (c == ' ' || c == '\t') => self.put_char(c),
                // A no-break space does not collapse: "<p>&nbsp;</p>" is an empty line.
                '\u{A0}' => {
                    self.pending_space = false;
                    self.put_char(' ');
                }
                c if c.is_whitespace() => self.pending_space = !self.out.is_empty(),
                c => self.put_char(c),
            }
        }
    }

    /// Returns the name of a raw-text element to skip, if this start tag opens one.
    fn start_tag(&mut self, name: &str, attrs: &Attrs) -> Option<&'static str> {
        if let Some(raw) = raw_skipped(name) {
            return Some(raw);
        }
        if let Some((hidden, depth)) = &mut self.hidden {
            if hidden == name && !attrs.self_closing {
                *depth += 1;
            }
            return None;
        }
        if attrs.hidden && !is_void(name) && !attrs.self_closing {
            self.hidden = Some((name.to_owned(), 1));
            return None;
        }
        if name == "p" && attrs.class.contains("msonormal") {
            self.mso = true;
        }
        match name {
            "br" => self.line_break(),
            "p" if self.mso => self.block(1),
            "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "table" | "dl" | "address"
            | "figure" | "fieldset" | "form" => self.block(2),
            "ul" | "ol" => {
                self.block(if self.lists.is_empty() { 2 } else { 1 });
                self.lists.push(if name == "ol" { Some(0) } else { None });
            }
            "li" => {
                self.block(1);
                let depth = self.lists.len().clamp(1, MAX_LIST_INDENT);
                let indent = "  ".repeat(depth - 1);
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        *n = n.saturating_add(1);
                        format!("{indent}{n}. ")
                    }
                    _ => format!("{indent}- "),
                };
                self.pending_marker = Some(marker);
            }
            "pre" => {
                self.block(2);
                self.pre += 1;
            }
            "blockquote" => {
                self.block(1);
                self.quote_depth += 1;
            }
            "hr" => {
                self.block(1);
                self.put_str("---");
                self.block(1);
            }
            "div" | "tr" | "dt" | "dd" | "caption" | "center" | "section" | "article"
            | "header" | "footer" | "main" | "nav" | "aside" | "body" | "details" | "summary"
            | "legend" => {
                self.block(1);
                let signature = attrs.class.contains("gmail_signature")
                    || attrs.class.contains("moz-signature")
                    || attrs.id == "signature"
                    || attrs.class.split_whitespace().any(|c| c == "signature");
                if signature {
                    self.put_str("-- ");
                    self.out.push(' ');
                    self.block(1);
                    // "-- " must keep its trailing space: written directly above.
                    self.pending_space = false;
                }
            }
            "td" | "th" if !(self.out.is_empty() || self.out.ends_with('\n')) => {
                self.pending_space = true;
            }
            "a" => {
                self.finish_link();
                if let Some(href) = &attrs.href {
                    self.link = Some((href.trim().to_owned(), self.out.len()));
                }
            }
            "img" => {
                if let Some(alt) = attrs
                    .alt
                    .as_deref()
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                {
                    let alt: String = alt.chars().take(200).collect();
                    self.put_str(&format!("[{alt}]"));
                }
            }
            _ => {}
        }
        None
    }

    fn end_tag(&mut self, name: &str) {
        if let Some((hidden, depth)) = &mut self.hidden {
            if hidden == name {
                *depth -= 1;
                if *depth == 0 {
                    self.hidden = None;
                }
            }
            return;
        }
        match name {
            "p" if self.mso => self.block(1),
            "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "table" | "dl" | "address"
            | "figure" | "fieldset" | "form" => self.block(2),
            "ul" | "ol" => {
                self.lists.pop();
                self.block(if self.lists.is_empty() { 2 } else { 1 });
            }
            "pre" => {
                self.pre = self.pre.saturating_sub(1);
                self.block(2);
            }
            "blockquote" => {
                self.block(1);
                self.quote_depth = self.quote_depth.saturating_sub(1);
            }
            "li" | "div" | "tr" | "dt" | "dd" | "caption" | "center" | "section" | "article"
            | "header" | "footer" | "main" | "nav" | "aside" | "details" | "summary" | "legend" => {
                self.block(1)
            }
            "a" => self.finish_link(),
            _ => {}
        }
    }

    fn finish_link(&mut self) {
        let Some((href, start)) = self.link.take() else {
            return;
        };
        let lower = href.to_ascii_lowercase();
        let shown = if let Some(rest) = lower.strip_prefix("mailto:") {
            let addr = &href[href.len() - rest.len()..];
            addr.split('?').next().unwrap_or("").to_owned()
        } else if lower.starts_with("tel:") {
            href[4..].to_owned()
        } else if lower.starts_with("http://")
            || lower.starts_with("https://")
            || lower.starts_with("ftp://")
        {
            href.clone()
        } else {
            return;
        };
        if shown.is_empty() {
            return;
        }
        let visible = self.out.get(start..).unwrap_or("").trim();
        if visible.is_empty() {
            return;
        }
        let bare = |s: &str| {
            let s = s.trim().trim_end_matches('/').to_lowercase();
            let s = s
                .strip_prefix("https://")
                .or_else(|| s.strip_prefix("http://"))
                .map(str::to_owned)
                .unwrap_or(s);
            s.strip_prefix("www.").map(str::to_owned).unwrap_or(s)
        };
        let (v, u) = (bare(visible), bare(&shown));
        if v.contains(&u) || u == v {
            return;
        }
        let mut url: String = shown.chars().take(MAX_URL).collect();
        if url.len() < shown.len() {
            url.push('…');
        }
        self.pending_space = true;
        self.put_str(&format!("({url})"));
    }

    fn finish(mut self) -> String {
        self.finish_link();
        self.out
    }
}

/// Decodes HTML character references (`&amp;`, `&#1078;`, `&#x416;`, the common named ones).
pub(crate) fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        match entity(rest) {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses one character reference at the start of `s` (which starts with '&').
fn entity(s: &str) -> Option<(char, usize)> {
    let b = s.as_bytes();
    if b.get(1) == Some(&b'#') {
        let (hex, start) = match b.get(2) {
            Some(b'x' | b'X') => (true, 3),
            _ => (false, 2),
        };
        let digits = b[start..]
            .iter()
            .take(9)
            .take_while(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count();
        if digits == 0 || digits > 8 {
            return None;
        }
        let text = &s[start..start + digits];
        let value = u32::from_str_radix(text, if hex { 16 } else { 10 }).ok()?;
        let mut len = start + digits;
        if b.get(len) == Some(&b';') {
            len += 1;
        }
        let c = match value {
            0x80..=0x9F => windows_1252_c1(value),
            0 => char::REPLACEMENT_CHARACTER,
            v => char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER),
        };
        return Some((c, len));
    }
    let name_len = b[1..]
        .iter()
        .take(32)
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    if name_len == 0 {
        return None;
    }
    let name = &s[1..1 + name_len];
    let has_semicolon = b.get(1 + name_len) == Some(&b';');
    let value = named(name)?;
    if has_semicolon {
        Some((value, name_len + 2))
    } else if matches!(name, "amp" | "lt" | "gt" | "quot" | "nbsp" | "copy" | "reg") {
        Some((value, name_len + 1))
    } else {
        None
    }
}

fn windows_1252_c1(v: u32) -> char {
    match v {
        0x80 => '€',
        0x82 => '‚',
        0x83 => 'ƒ',
        0x84 => '„',
        0x85 => '…',
        0x86 => '†',
        0x87 => '‡',
        0x88 => 'ˆ',
        0x89 => '‰',
        0x8A => 'Š',
        0x8B => '‹',
        0x8C => 'Œ',
        0x8E => 'Ž',
        0x91 => '‘',
        0x92 => '’',
        0x93 => '“',
        0x94 => '”',
        0x95 => '•',
        0x96 => '–',
        0x97 => '—',
        0x98 => '˜',
        0x99 => '™',
        0x9A => 'š',
        0x9B => '›',
        0x9C => 'œ',
        0x9E => 'ž',
        0x9F => 'Ÿ',
        _ => char::REPLACEMENT_CHARACTER,
    }
}

fn named(name: &str) -> Option<char> {
    Some(match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" => '\u{A0}',
        "ensp" | "emsp" | "thinsp" => ' ',
        "zwnj" => '\u{200C}',
        "zwj" => '\u{200D}',
        "shy" => '\u{AD}',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "laquo" => '«',
        "raquo" => '»',
        "lsaquo" => '‹',
        "rsaquo" => '›',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "lsquo" => '‘',
        "rsquo" => '’',
        "sbquo" => '‚',
        "ndash" => '–',
        "mdash" => '—',
        "minus" => '−',
        "hellip" => '…',
        "bull" => '•',
        "middot" => '·',
        "deg" => '°',
        "plusmn" => '±',
        "times" => '×',
        "divide" => '÷',
        "frac12" => '½',
        "frac14" => '¼',
        "frac34" => '¾',
        "sup2" => '²',
        "sup3" => '³',
        "micro" => 'µ',
        "para" => '¶',
        "sect" => '§',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "curren" => '¤',
        "dagger" => '†',
        "Dagger" => '‡',
        "permil" => '‰',
        "prime" => '′',
        "larr" => '←',
        "rarr" => '→',
        "uarr" => '↑',
        "darr" => '↓',
        "harr" => '↔',
        "check" => '✓',
        "iexcl" => '¡',
        "iquest" => '¿',
        "numero" => '№',
        "tenge" => '₸',
        "rub" => '₽',
        "agrave" => 'à',
        "aacute" => 'á',
        "acirc" => 'â',
        "auml" => 'ä',
        "ccedil" => 'ç',
        "egrave" => 'è',
        "eacute" => 'é',
        "ecirc" => 'ê',
        "euml" => 'ë',
        "iacute" => 'í',
        "ouml" => 'ö',
        "oacute" => 'ó',
        "uuml" => 'ü',
        "uacute" => 'ú',
        "ntilde" => 'ñ',
        "szlig" => 'ß',
        "Auml" => 'Ä',
        "Ouml" => 'Ö',
        "Uuml" => 'Ü',
        "Eacute" => 'É',
        "nbhy" => '\u{2011}',
        "NewLine" => '\n',
        "Tab" => '\t',
        "hearts" => '♥',
        "star" => '☆',
        "quest" => '?',
        "excl" => '!',
        "num" => '#',
        "percnt" => '%',
        "lpar" => '(',
        "rpar" => ')',
        "colon" => ':',
        "semi" => ';',
        "comma" => ',',
        "period" => '.',
        "sol" => '/',
        "bsol" => '\\',
        "equals" => '=',
        "lowbar" => '_',
        "hyphen" => '‐',
        "ast" => '*',
        "commat" => '@',
        "lsqb" => '[',
        "rsqb" => ']',
        "lcub" => '{',
        "rcub" => '}',
        "vert" => '|',
        "dollar" => '$',
        "plus" => '+',
        "fnof" => 'ƒ',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(html: &str) -> String {
        to_text(html, 1 << 20)
    }

    #[test]
    fn paragraphs_breaks_lists_links() {
        let html = "<html><head><title>T</title><style>p{color:red}</style></head><body>\
            <p>Hello <b>there</b>,</p><p>line one<br>line two</p>\
            <ul><li>one</li><li>two<ol><li>a</li><li>b</li></ol></li></ul>\
            <p>See <a href=\"https://bet.kz/rules?a=1&amp;b=2\">the rules</a> and \
            <a href=\"https://bet.kz\">bet.kz</a> or <a href=\"mailto:help@bet.kz\">help@bet.kz</a>.</p>\
            <script>alert('x')</script><img src=\"http://track.example/p.gif\" width=1 height=1>\
            <img src=\"cid:logo\" alt=\"Logo\"></body></html>";
        assert_eq!(
            t(html),
            "Hello there,\n\nline one\nline two\n\n- one\n- two\n  1. a\n  2. b\n\n\
             See the rules (https://bet.kz/rules?a=1&b=2) and bet.kz or help@bet.kz.\n\n[Logo]"
        );
    }

    #[test]
    fn blockquotes_become_quoted_lines() {
        let html = "<div>Thanks</div><div class=\"gmail_quote\"><div class=\"gmail_attr\">On Mon, Jan 12, 2026 at 10:00 AM Support &lt;s@bet.kz&gt; wrote:<br></div>\
            <blockquote class=\"gmail_quote\">We have <i>received</i> it.<br>Regards</blockquote></div>";
        assert_eq!(
            t(html),
            "Thanks\nOn Mon, Jan 12, 2026 at 10:00 AM Support <s@bet.kz> wrote:\n> We have received it.\n> Regards"
        );
    }

    #[test]
    fn hidden_and_comments_and_entities() {
        let html = "<!--[if mso]><p>mso only</p><![endif]--><div style=\"display: none; max-height:0\">preheader <div>nested</div> still</div>\
            <p>&laquo;Ставка&raquo; &#8212; &#x416; &#150; &nbsp;&zwnj;5&nbsp;000&nbsp;&#8376; &unknown; &amp</p>";
        assert_eq!(t(html), "«Ставка» — Ж – 5 000 ₸ &unknown; &");
    }

    #[test]
    fn signature_block_and_pre() {
        let html = "<div>Body</div><div class=\"gmail_signature\">Aidar<br>+7 701</div><pre>a  b\n c</pre>";
        assert_eq!(t(html), "Body\n-- \nAidar\n+7 701\n\na  b\n c");
    }

    #[test]
    fn malformed_input_does_not_hang_or_panic() {
        for html in [
            "<",
            "<a",
            "<a href=\"x",
            "<!--",
            "<script>",
            "</",
            "<<<>>>",
            "&#",
            "&#x;",
            "&#99999999999;",
            "<p class='unterminated>text",
            "<div style=\"display:none\">never closed",
            "<br/><br/>",
        ] {
            let _ = t(html);
        }
        let deep = "<blockquote>".repeat(50_000) + "x" + &"<ul><li>".repeat(50_000);
        let out = t(&deep);
        assert!(out.len() < 200, "{}", out.len());
    }

    #[test]
    fn output_is_bounded() {
        let html = "<p>word word word</p>".repeat(10_000);
        assert!(to_text(&html, 1000).len() < 1100);
    }
}
