//! Finding what the player wrote this time: quoted earlier messages and signatures removed.
//!
//! Works on lines of already decoded text (HTML has been turned into text with `<blockquote>`
//! as "> " lines), so one set of rules serves both. Cut points, first match wins:
//!
//! - an "original message" separator (`-----Original Message-----`, `-----Исходное
//!   сообщение-----`, …): everything from it on is cut;
//! - an Outlook header block: a `From:`/`От:`/`Кімнен:` line followed within a few lines by
//!   `Sent:`/`Date:`/`Отправлено:`/`Дата:`/`Жіберілді:`/`Күні:` and `To:`/`Subject:`/`Кому:`/
//!   `Тема:`/`Кімге:`/`Тақырып:` lines (with the `____`/`---` rule above it);
//! - an attribution line, possibly wrapped over two lines: ends in "wrote:", "написал(а):",
//!   "пишет:", "жазды:" … and mentions an address or a date, or is followed by quoted lines;
//!   or any line that ends in ':' and holds both an address and a time of day (Yandex,
//!   Mail.ru, Gmail in Russian: `12.01.2026, 10:00, "Имя" <x@y>:`).
//!
//! Before the cut, lines starting with '>' are dropped (answers written between quoted lines
//! stay), a "-- " signature near the end is cut, and "Sent from my iPhone"-style lines are
//! removed. A forwarded message (`---------- Forwarded message ---------`, `Пересылаемое
//! сообщение`, or an Outlook block when the subject says it is a forward) is not a quote: it
//! and everything after it are kept as they are. If nothing would be left, the whole text is
//! kept.

/// The visible part of `full`; `forward` says the subject marks the mail as a forward.
pub(crate) fn visible(full: &str, forward: bool) -> String {
    let lines: Vec<&str> = full.lines().collect();
    let mut forward_at = lines.iter().position(|l| is_forward_marker(l));
    let mut cut = None;
    let limit = forward_at.unwrap_or(lines.len());
    let mut i = 0;
    while i < limit {
        let line = lines[i];
        if is_quoted(line) {
            i += 1;
            continue;
        }
        let block = is_original_separator(line) || outlook_block(&lines[i..limit]);
        if block && forward && forward_at.is_none() {
            forward_at = Some(rule_above(&lines, i));
            break;
        }
        if block {
            cut = Some(rule_above(&lines, i));
            break;
        }
        if is_attribution(line, next_content(&lines[i + 1..limit])) {
            cut = Some(i);
            break;
        }
        if let Some(next) = lines.get(i + 1).filter(|_| i + 1 < limit)
            && !is_quoted(next)
            && next.chars().count() < 100
            && !is_attribution(next, next_content(&lines[i + 2..limit]))
        {
            let joined = format!("{} {}", line.trim_end(), next.trim());
            if line.chars().count() < 100
                && is_attribution(&joined, next_content(&lines[i + 2..limit]))
            {
                cut = Some(i);
                break;
            }
        }
        i += 1;
    }
    let own_end = cut.or(forward_at).unwrap_or(lines.len());
    let mut own: Vec<&str> = lines[..own_end]
        .iter()
        .copied()
        .filter(|l| !is_quoted(l))
        .collect();
    trim_signature(&mut own);
    while own.last().is_some_and(|l| l.trim().is_empty()) {
        own.pop();
    }
    let mut out = own.join("\n");
    if let Some(f) = forward_at.filter(|_| cut.is_none()) {
        if !out.is_empty() {
            out.push('\n');
            if f > 0 && lines[f - 1].trim().is_empty() {
                out.push('\n');
            }
        }
        out.push_str(&lines[f..].join("\n"));
    }
    let out = out.trim_matches('\n').to_owned();
    if out.trim().is_empty() {
        full.trim().to_owned()
    } else {
        out
    }
}

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// The first non-empty line after an attribution candidate.
fn next_content<'a>(rest: &[&'a str]) -> Option<&'a str> {
    rest.iter().copied().find(|l| !l.trim().is_empty())
}

/// If the line above `i` (skipping blanks) is a horizontal rule, returns its index.
fn rule_above(lines: &[&str], i: usize) -> usize {
    let mut j = i;
    while j > 0 && lines[j - 1].trim().is_empty() {
        j -= 1;
    }
    if j > 0 {
        let above = lines[j - 1].trim();
        if above.len() >= 3 && above.chars().all(|c| c == '_' || c == '-' || c == '—') {
            return j - 1;
        }
    }
    i
}

fn lower_trim(line: &str) -> String {
    line.trim().to_lowercase()
}

fn is_forward_marker(line: &str) -> bool {
    let l = lower_trim(line);
    if l.chars().count() > 100 {
        return false;
    }
    let l = l.trim_matches(|c: char| c == '-' || c == ' ' || c == '—' || c == '=');
    [
        "forwarded message",
        "begin forwarded message:",
        "пересылаемое сообщение",
        "пересланное сообщение",
        "переадресованное сообщение",
        "начало переадресованного сообщения:",
        "қайта жіберілген хат",
        "қайта жіберілген хабарлама",
    ]
    .contains(&l)
}

fn is_original_separator(line: &str) -> bool {
    let l = lower_trim(line);
    if !l.starts_with("---") || l.chars().count() > 80 {
        return false;
    }
    let inner = l.trim_matches(|c: char| c == '-' || c == ' ');
    [
        "original message",
        "исходное сообщение",
        "исходное письмо",
        "оригинальное сообщение",
        "бастапқы хабар",
        "бастапқы хабарлама",
        "reply message",
        "ответное сообщение",
    ]
    .contains(&inner)
}

fn starts_with_label(line: &str, labels: &[&str]) -> bool {
    let l = line
        .trim_start()
        .trim_start_matches(['*', ' '])
        .to_lowercase();
    labels.iter().any(|p| l.starts_with(p))
}

const FROM: &[&str] = &["from:", "от:", "от кого:", "кімнен:", "кімден:"];
const SENT: &[&str] = &[
    "sent:",
    "date:",
    "отправлено:",
    "дата:",
    "жіберілді:",
    "күні:",
];
const TO: &[&str] = &[
    "to:",
    "subject:",
    "кому:",
    "тема:",
    "кімге:",
    "тақырып:",
    "cc:",
    "копия:",
];

/// An Outlook-style header block starting at `lines[0]`.
fn outlook_block(lines: &[&str]) -> bool {
    if lines.is_empty() || !starts_with_label(lines[0], FROM) {
        return false;
    }
    let window = &lines[1..lines.len().min(7)];
    window.iter().any(|l| starts_with_label(l, SENT))
        && window.iter().any(|l| starts_with_label(l, TO))
}

const WROTE: &[&str] = &[
    "wrote:",
    "writes:",
    "написал(а):",
    "написал:",
    "написала:",
    "пишет:",
    "жазды:",
    "жазады:",
    "деп жазды:",
];

fn has_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(4).any(|w| {
        w[0].is_ascii_digit() && w[1] == b':' && w[2].is_ascii_digit() && w[3].is_ascii_digit()
    })
}

fn is_attribution(line: &str, next: Option<&str>) -> bool {
    let l = lower_trim(line);
    if l.is_empty() || l.starts_with('>') || l.chars().count() > 300 || !l.ends_with(':') {
        return false;
    }
    let has_addr = l.contains('@');
    let has_digit = l.chars().any(|c| c.is_ascii_digit());
    let next_quoted = next.is_some_and(is_quoted);
    if WROTE.iter().any(|w| l.ends_with(w)) {
        return has_addr || has_digit || next_quoted;
    }
    has_addr && has_time(&l) && (l.ends_with(">:") || l.split_whitespace().count() >= 3)
}

fn is_mobile_signature(line: &str) -> bool {
    let l = lower_trim(line);
    if l.is_empty() || l.chars().count() > 80 || l.contains(':') {
        return false;
    }
    const STARTS: &[&str] = &[
        "sent from my ",
        "sent from mail for ",
        "sent from outlook",
        "sent from yahoo mail",
        "sent from samsung",
        "sent from the all new aol",
        "sent via ",
        "get outlook for ",
        "отправлено с ",
        "отправлено из ",
        "отправлено через ",
        "отправлено со ",
        "послано с ",
        "відправлено з ",
    ];
    STARTS.iter().any(|s| l.starts_with(s)) || l.contains("жіберілді") || l.contains("жіберілген")
}

fn trim_signature(own: &mut Vec<&str>) {
    // A "-- " separator with a short tail.
    if let Some(pos) = own.iter().rposition(|l| *l == "-- " || *l == "--") {
        let tail = own[pos + 1..]
            .iter()
            .filter(|l| !l.trim().is_empty())
            .count();
        if tail <= 20 {
            own.truncate(pos);
        }
    }
    own.retain(|l| !is_mobile_signature(l));
}

#[cfg(test)]
mod tests {
    use super::visible;

    #[test]
    fn gmail_reply() {
        let t = "Still nothing.\n\nOn Mon, Jan 12, 2026 at 10:00 AM Support <s@bet.kz> wrote:\n> We are checking.\n>\n> Regards";
        assert_eq!(visible(t, false), "Still nothing.");
    }

    #[test]
    fn wrapped_gmail_attribution() {
        let t = "Ok\n\nпн, 12 янв. 2026 г. в 10:00, Служба поддержки Очень Длинное Название <\nsupport@bet.kz>:\n\n> Текст";
        assert_eq!(visible(t, false), "Ok");
    }

    #[test]
    fn outlook_blocks_en_ru_kk() {
        let t = "Answer\n\n________________________________\nFrom: Support <s@bet.kz>\nSent: Monday, January 12, 2026 10:00 AM\nTo: me@x.kz\nSubject: Re: x\n\nold";
        assert_eq!(visible(t, false), "Answer");
        let t = "Ответ\n\nОт: Поддержка <s@bet.kz>\nОтправлено: 12 января 2026 г. 10:00\nКому: me@x.kz\nТема: x\n\nold";
        assert_eq!(visible(t, false), "Ответ");
        let t = "Жауап\n\nКімнен: Қолдау <s@bet.kz>\nЖіберілді: 12 қаңтар 2026 ж. 10:00\nКімге: me@x.kz\nТақырып: x\n\nold";
        assert_eq!(visible(t, false), "Жауап");
        let t = "Ответ\n-----Исходное сообщение-----\nold";
        assert_eq!(visible(t, false), "Ответ");
    }

    #[test]
    fn yandex_mailru_apple_kazakh() {
        for attribution in [
            "12.01.2026, 10:00, \"Поддержка\" <s@bet.kz>:",
            "Понедельник, 12 января 2026, 10:00 +05:00 от Поддержка <s@bet.kz>:",
            "On 12 Jan 2026, at 10:00, Support <s@bet.kz> wrote:",
            "2026 ж. 12 қаң., 10:00 уақытта Support <s@bet.kz> жазды:",
            "12 янв. 2026 г., в 10:00, Support <s@bet.kz> написал(а):",
        ] {
            let t = format!("Мой ответ\n\n{attribution}\n\nСтарый текст без угловых скобок");
            assert_eq!(visible(&t, false), "Мой ответ", "{attribution}");
        }
    }

    #[test]
    fn signatures() {
        let t = "Hello\n\n-- \nAidar Nurlanov\n+7 701 000 00 00";
        assert_eq!(visible(t, false), "Hello");
        let t = "Деньги не пришли\n\nОтправлено из мобильной Почты Mail.ru";
        assert_eq!(visible(t, false), "Деньги не пришли");
        let t = "Ақша келмеді\n\niPhone құрылғысынан жіберілді";
        assert_eq!(visible(t, false), "Ақша келмеді");
        let t = "Text\nSent from my iPhone\n\nOn 12 Jan 2026, at 10:00, S <s@b.kz> wrote:\n> q";
        assert_eq!(visible(t, false), "Text");
    }

    #[test]
    fn interleaved_answers_stay() {
        let t = "> Which bet?\nThe one from Monday.\n> Amount?\n5000 tenge";
        assert_eq!(visible(t, false), "The one from Monday.\n5000 tenge");
    }

    #[test]
    fn forwards_are_kept() {
        let t = "See below\n\n---------- Forwarded message ---------\nFrom: Support <s@bet.kz>\nDate: Mon\nSubject: x\nTo: me\n\nWe refuse.";
        assert_eq!(visible(t, false), t);
        let t = "See below\n\n-----Original Message-----\nFrom: Support\n\nWe refuse.";
        assert_eq!(visible(t, true), t);
        assert_eq!(visible(t, false), "See below");
    }

    #[test]
    fn never_empty() {
        let t = "> only quoted\n> lines";
        assert_eq!(visible(t, false), t);
        assert_eq!(visible("", false), "");
    }
}
