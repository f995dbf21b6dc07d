//! Outbound composition seen from outside: every notice in every language parses back with
//! mail-parser with the headers threading and loop detection rely on; the texts read as
//! written; untrusted strings cannot add headers or markup; bad addresses are refused.

use mail_parser::{Message, MessageParser, MimeHeaders};
use ombuds_core::{ComplaintRef, Language};
use ombuds_mail::outbound::{
    ComposeError, Composed, Composer, MAX_REFERENCES, Mailbox, Notice, NoticeKind, Outgoing,
    compose, subject_line,
};

/// Shows as `28T-5CY-4T8`.
fn reference() -> ComplaintRef {
    ComplaintRef::from_bits(0x12_3456_789A)
}
const REF: &str = "28T-5CY-4T8";

fn thread() -> Vec<String> {
    vec![
        "p1@mail.kz".into(),
        "ack-1@desk.operator.example".into(),
        "p2@mail.kz".into(),
    ]
}

fn notice(kind: NoticeKind) -> Notice<'static> {
    match kind {
        NoticeKind::Acknowledgment => Notice::Acknowledgment,
        NoticeKind::Reply => Notice::Reply {
            body: "Hello Aigerim,\n\nThe payment was sent again today.\nBest regards, Dana",
        },
        NoticeKind::SolutionProposed => Notice::SolutionProposed {
            text: "We will return the 5 000 KZT stake to your balance.",
        },
        NoticeKind::InformationRequested => Notice::InformationRequested {
            text: "Which card did you use?\nPlease send the last four digits.",
        },
        NoticeKind::Resolved => Notice::Resolved {
            measures: "The bet was re-settled by hand.",
            result: "12 500 KZT were credited to your balance.",
        },
        NoticeKind::TrackAccess => Notice::TrackAccess {
            code: "042917",
            minutes: 15,
        },
    }
}

fn outgoing<'a>(language: Language, notice: Notice<'a>, references: &'a [String]) -> Outgoing<'a> {
    Outgoing {
        from: Mailbox {
            name: Some("Support — Operator"),
            address: "support@operator.example",
        },
        to: Mailbox {
            name: Some("Aigerim Nurlanqyzy"),
            address: "aigerim@mail.kz",
        },
        language,
        reference: reference(),
        complaint_subject: "Withdrawal delayed",
        notice,
        message_id: "0193a1b2-c3d4@desk.operator.example",
        in_reply_to: Some("p2@mail.kz"),
        references,
        date: "2026-11-24T10:15:30Z".parse().unwrap(),
        operator_name: "Operator",
        tracking_url: Some("https://operator.example/complaints/28T5CY4T8"),
        response_hours: 24,
    }
}

fn parse(composed: &Composed) -> Message<'_> {
    MessageParser::default()
        .parse(&composed.bytes)
        .expect("the composed message parses")
}

/// The header section as raw text (everything before the first empty line).
fn header_section(composed: &Composed) -> String {
    let raw = String::from_utf8(composed.bytes.clone()).expect("7-bit message");
    raw.split("\r\n\r\n").next().unwrap().to_string()
}

fn count_headers(message: &Message<'_>, name: &str) -> usize {
    message
        .headers()
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .count()
}

#[test]
fn every_notice_in_every_language_parses_back_with_its_headers_and_parts() {
    let refs = thread();
    for &language in Language::ALL {
        for kind in NoticeKind::ALL {
            let what = format!("{language} {kind:?}");
            let out = outgoing(language, notice(kind), &refs);
            let composed = compose(&out).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(composed.bytes.is_ascii(), "{what}: the message is 7-bit");
            let m = parse(&composed);

            let from = m.from().and_then(|a| a.first()).unwrap();
            assert_eq!(
                (from.name(), from.address()),
                (Some("Support — Operator"), Some("support@operator.example")),
                "{what}"
            );
            let to = m.to().and_then(|a| a.first()).unwrap();
            assert_eq!(
                (to.name(), to.address()),
                (Some("Aigerim Nurlanqyzy"), Some("aigerim@mail.kz")),
                "{what}"
            );

            let subject = m.subject().unwrap();
            assert_eq!(subject, composed.subject, "{what}");
            assert!(
                subject.starts_with(&format!("[{REF}] ")),
                "{what}: {subject}"
            );
            assert!(subject.contains("Withdrawal delayed"), "{what}: {subject}");

            assert_eq!(
                m.message_id(),
                Some("0193a1b2-c3d4@desk.operator.example"),
                "{what}"
            );
            assert_eq!(m.in_reply_to().as_text(), Some("p2@mail.kz"), "{what}");
            let references: Vec<&str> = m
                .references()
                .as_text_list()
                .unwrap()
                .iter()
                .map(|r| r.as_ref())
                .collect();
            assert_eq!(
                references,
                ["p1@mail.kz", "ack-1@desk.operator.example", "p2@mail.kz"],
                "{what}"
            );
            assert_eq!(
                m.date().unwrap().to_timestamp(),
                out.date.as_second(),
                "{what}"
            );

            assert_eq!(
                m.header_raw("MIME-Version").map(str::trim),
                Some("1.0"),
                "{what}"
            );
            assert_eq!(
                m.header_raw("Content-Language").map(str::trim),
                Some(language.as_str()),
                "{what}"
            );
            assert_eq!(
                m.header_raw("X-Ombuds-Ref").map(str::trim),
                Some(REF),
                "{what}"
            );
            assert_eq!(
                m.header_raw("Auto-Submitted").map(str::trim),
                kind.auto_submitted(),
                "{what}"
            );
            let suppress = kind.auto_submitted().map(|_| "All");
            assert_eq!(
                m.header_raw("X-Auto-Response-Suppress").map(str::trim),
                suppress,
                "{what}"
            );
            for name in [
                "From",
                "To",
                "Subject",
                "Date",
                "Message-ID",
                "In-Reply-To",
                "References",
                "X-Ombuds-Ref",
            ] {
                assert_eq!(count_headers(&m, name), 1, "{what}: {name}");
            }

            let ct = m.content_type().unwrap();
            assert_eq!(
                (ct.ctype(), ct.subtype()),
                ("multipart", Some("alternative")),
                "{what}"
            );
            assert_eq!((m.text_body_count(), m.html_body_count()), (1, 1), "{what}");
            let text_part = m.text_bodies().next().unwrap();
            let html_part = m.html_bodies().next().unwrap();
            assert!(
                !text_part.is_text_html() && html_part.is_text_html(),
                "{what}"
            );
            for (part, subtype) in [(text_part, "plain"), (html_part, "html")] {
                let ct = part.content_type().unwrap();
                assert_eq!(
                    (ct.ctype(), ct.subtype(), ct.attribute("charset")),
                    ("text", Some(subtype), Some("utf-8")),
                    "{what}"
                );
            }
            let text = m.body_text(0).unwrap().replace("\r\n", "\n");
            assert_eq!(text, composed.text, "{what}");
            let html = m.body_html(0).unwrap().replace("\r\n", "\n");
            assert_eq!(html, composed.html, "{what}");

            assert!(
                text.contains(REF) && html.contains(REF),
                "{what}: the reference is in both parts"
            );
            assert!(
                html.contains(&format!("<html lang=\"{language}\">")),
                "{what}"
            );
            assert!(
                text.contains("https://operator.example/complaints/28T5CY4T8"),
                "{what}"
            );
            assert!(
                html.contains("href=\"https://operator.example/complaints/28T5CY4T8\""),
                "{what}"
            );
            match out.notice {
                Notice::Acknowledgment => {
                    assert!(text.contains("24"), "{what}: the promised hours")
                }
                Notice::Reply { body }
                | Notice::SolutionProposed { text: body }
                | Notice::InformationRequested { text: body } => {
                    assert!(text.contains(body), "{what}");
                    assert!(html.contains(&body.replace('\n', "<br>\n")), "{what}");
                }
                Notice::Resolved { measures, result } => {
                    assert!(text.contains(measures) && text.contains(result), "{what}");
                    assert!(html.contains(measures) && html.contains(result), "{what}");
                    assert!(text.contains("14"), "{what}: the days to dispute");
                }
                Notice::TrackAccess { code, minutes } => {
                    assert!(text.contains(code) && html.contains(code), "{what}");
                    assert!(text.contains(&format!("{minutes} ")), "{what}: how long");
                }
            }
            for forbidden in ["<script", "<link", "<img", "<style", "src=", "url("] {
                assert!(!html.contains(forbidden), "{what}: {forbidden}");
            }
            assert!(
                !text.contains("{{") && !text.contains("{%") && !html.contains("{{"),
                "{what}: template syntax leaked"
            );
        }
    }
}

#[test]
fn english_acknowledgment_text() {
    let refs = thread();
    let composed = compose(&outgoing(Language::En, Notice::Acknowledgment, &refs)).unwrap();
    assert_eq!(
        composed.subject,
        "[28T-5CY-4T8] Complaint registered: Withdrawal delayed"
    );
    assert_eq!(
        composed.text,
        "\
Hello Aigerim Nurlanqyzy,

Thank you for contacting us. We have registered your complaint \"Withdrawal delayed\" under reference 28T-5CY-4T8.

A specialist will look into it and reply within 24 hours.

If you would like to add anything (details, screenshots, transaction numbers), simply reply to this e-mail and keep the reference in the subject.

Reference: 28T-5CY-4T8
Follow your complaint online: https://operator.example/complaints/28T5CY4T8

Kind regards,
Operator Support
"
    );
}

#[test]
fn english_reply_text_has_no_greeting_of_ours() {
    let refs = thread();
    let mut out = outgoing(
        Language::En,
        Notice::Reply {
            body: "Hello Aigerim,\r\n\r\nThe payment was sent again today.\r\n",
        },
        &refs,
    );
    out.tracking_url = None;
    out.response_hours = 1;
    let composed = compose(&out).unwrap();
    assert_eq!(composed.subject, "[28T-5CY-4T8] Re: Withdrawal delayed");
    assert_eq!(
        composed.text,
        "\
Hello Aigerim,

The payment was sent again today.

If you have any questions, just reply to this e-mail.

Reference: 28T-5CY-4T8

Kind regards,
Operator Support
"
    );
}

#[test]
fn russian_resolution_text() {
    let refs = thread();
    let mut out = outgoing(Language::Ru, notice(NoticeKind::Resolved), &refs);
    out.to.name = Some("Иван");
    out.complaint_subject = "Не пришла выплата";
    let composed = compose(&out).unwrap();
    assert_eq!(composed.subject, "[28T-5CY-4T8] Re: Не пришла выплата");
    assert_eq!(
        composed.text,
        "\
Здравствуйте, Иван!

Мы завершили рассмотрение вашего обращения.

Принятые меры:
The bet was re-settled by hand.

Результат:
12 500 KZT were credited to your balance.

Если вы не согласны с результатом, ответьте на это письмо в течение 14 дней — обращение будет возобновлено, и мы рассмотрим его повторно.

Расскажите, как мы справились: оцените ответ на странице обращения.

Номер обращения: 28T-5CY-4T8
Следить за рассмотрением обращения: https://operator.example/complaints/28T5CY4T8

С уважением,
служба поддержки Operator
"
    );
}

#[test]
fn russian_acknowledgment_counts_hours_in_russian() {
    let refs = thread();
    for (hours, words) in [
        (1, "1 часа"),
        (2, "2 часов"),
        (21, "21 часа"),
        (24, "24 часов"),
        (48, "48 часов"),
    ] {
        let mut out = outgoing(Language::Ru, Notice::Acknowledgment, &refs);
        out.response_hours = hours;
        let text = compose(&out).unwrap().text;
        assert!(
            text.contains(&format!("ответит вам в течение {words}.")),
            "{hours}: {text}"
        );
    }
    let mut out = outgoing(Language::En, Notice::Acknowledgment, &refs);
    out.response_hours = 1;
    assert!(compose(&out).unwrap().text.contains("reply within 1 hour."));
}

#[test]
fn kazakh_acknowledgment_text() {
    let refs = thread();
    let mut out = outgoing(Language::Kk, Notice::Acknowledgment, &refs);
    out.to.name = Some("Айгерім");
    out.complaint_subject = "Ұтыс шотқа түспеді";
    out.tracking_url = None;
    out.response_hours = 48;
    let composed = compose(&out).unwrap();
    assert_eq!(
        composed.subject,
        "[28T-5CY-4T8] Өтініш тіркелді: Ұтыс шотқа түспеді"
    );
    assert_eq!(
        composed.text,
        "\
Сәлеметсіз бе, Айгерім!

Бізге хабарласқаныңыз үшін рақмет. «Ұтыс шотқа түспеді» тақырыбындағы өтінішіңіз тіркелді, оның нөмірі — 28T-5CY-4T8.

Маман өтінішіңізді қарап, 48 сағат ішінде жауап береді.

Қосымша мәлімет (толық сипаттама, скриншоттар, транзакция нөмірлері) жібергіңіз келсе, хат тақырыбындағы өтініш нөмірін сақтап, осы хатқа жауап беріңіз.

Өтініш нөмірі: 28T-5CY-4T8

Құрметпен,
Operator қолдау қызметі
"
    );
}

#[test]
fn kazakh_information_request_text_without_a_name() {
    let refs = thread();
    let mut out = outgoing(
        Language::Kk,
        notice(NoticeKind::InformationRequested),
        &refs,
    );
    out.to.name = None;
    let composed = compose(&out).unwrap();
    assert_eq!(
        composed.text,
        "\
Сәлеметсіз бе!

Өтінішіңізді қарауды жалғастыру үшін бізге қосымша мәлімет қажет:

Which card did you use?
Please send the last four digits.

Қажетті мәліметтерді осы хатқа жауап ретінде жіберіңіз. Жауабыңызды алған бойда өтінішіңізді қарауды жалғастырамыз.

Өтініш нөмірі: 28T-5CY-4T8
Өтінішіңіздің қаралу барысын мына жерден бақылай аласыз: https://operator.example/complaints/28T5CY4T8

Құрметпен,
Operator қолдау қызметі
"
    );
    let m = parse(&composed);
    let to = m.to().and_then(|a| a.first()).unwrap();
    assert_eq!((to.name(), to.address()), (None, Some("aigerim@mail.kz")));
}

#[test]
fn subject_lines() {
    let r = reference();
    assert_eq!(
        subject_line(Language::Ru, r, NoticeKind::Acknowledgment, "Вывод"),
        "[28T-5CY-4T8] Обращение зарегистрировано: Вывод"
    );
    assert_eq!(
        subject_line(Language::Kk, r, NoticeKind::Acknowledgment, "Ақша"),
        "[28T-5CY-4T8] Өтініш тіркелді: Ақша"
    );
    assert_eq!(
        subject_line(Language::En, r, NoticeKind::Acknowledgment, "Money"),
        "[28T-5CY-4T8] Complaint registered: Money"
    );
    assert_eq!(
        subject_line(Language::En, r, NoticeKind::Reply, "Withdrawal delayed"),
        "[28T-5CY-4T8] Re: Withdrawal delayed"
    );
    assert_eq!(
        subject_line(Language::Ru, r, NoticeKind::Resolved, "Re: RE: Fwd: Вывод"),
        "[28T-5CY-4T8] Re: Вывод"
    );
    // The player's reply to our mail carries our token: it is not repeated.
    let again = subject_line(
        Language::En,
        r,
        NoticeKind::SolutionProposed,
        "Re: [28T-5CY-4T8] Re: Withdrawal delayed",
    );
    assert_eq!(again, "[28T-5CY-4T8] Re: Withdrawal delayed");
    // No subject at all.
    assert_eq!(
        subject_line(Language::En, r, NoticeKind::Acknowledgment, ""),
        "[28T-5CY-4T8] Complaint registered"
    );
    assert_eq!(
        subject_line(Language::Ru, r, NoticeKind::Acknowledgment, " \r\n"),
        "[28T-5CY-4T8] Обращение зарегистрировано"
    );
    assert_eq!(
        subject_line(Language::En, r, NoticeKind::Reply, "Re:"),
        "[28T-5CY-4T8] Your complaint"
    );
    assert_eq!(
        subject_line(Language::Ru, r, NoticeKind::InformationRequested, ""),
        "[28T-5CY-4T8] Ваше обращение"
    );
    assert_eq!(
        subject_line(Language::Kk, r, NoticeKind::Resolved, ""),
        "[28T-5CY-4T8] Сіздің өтінішіңіз"
    );
    // Every subject, whatever the input, starts with the token and is one line.
    for &language in Language::ALL {
        for kind in NoticeKind::ALL {
            for raw in ["", "x", "Withdrawal\r\nBcc: evil@x", &"long ".repeat(200)] {
                let s = subject_line(language, r, kind, raw);
                assert!(s.starts_with("[28T-5CY-4T8]"), "{s}");
                assert!(!s.contains(['\r', '\n']), "{s:?}");
                assert!(s.chars().count() <= 240, "{s}");
            }
        }
    }
}

#[test]
fn non_ascii_subjects_are_encoded_words() {
    let refs = thread();
    let mut out = outgoing(Language::Ru, Notice::Acknowledgment, &refs);
    out.complaint_subject = "Не пришла выплата";
    let composed = compose(&out).unwrap();
    let headers = header_section(&composed);
    let subject_header = headers
        .lines()
        .skip_while(|l| !l.starts_with("Subject:"))
        .take_while(|l| l.starts_with("Subject:") || l.starts_with(' '))
        .collect::<Vec<_>>();
    assert!(
        subject_header[0].starts_with("Subject: =?utf-8?"),
        "{subject_header:?}"
    );
    assert!(headers.lines().all(|l| l.len() <= 78), "folded: {headers}");
    assert_eq!(
        parse(&composed).subject(),
        Some("[28T-5CY-4T8] Обращение зарегистрировано: Не пришла выплата")
    );
}

#[test]
fn line_breaks_in_subjects_and_names_cannot_add_headers() {
    let refs = thread();
    let mut out = outgoing(Language::En, Notice::Acknowledgment, &refs);
    out.complaint_subject = "Withdrawal\r\nBcc: evil@x";
    out.to.name = Some("Aigerim\nBcc: evil2@x");
    out.from.name = Some("Support\r\n\r\n<b>body</b>");
    out.operator_name = "Operator\r\nX-Evil: 1";
    let composed = compose(&out).unwrap();
    let m = parse(&composed);
    assert_eq!(count_headers(&m, "Bcc"), 0);
    assert_eq!(count_headers(&m, "X-Evil"), 0);
    assert!(m.header("Bcc").is_none());
    let subject = m.subject().unwrap();
    assert_eq!(
        subject,
        "[28T-5CY-4T8] Complaint registered: Withdrawal Bcc: evil@x"
    );
    assert!(!subject.contains(['\r', '\n']));
    assert_eq!(
        m.to().and_then(|a| a.first()).and_then(|a| a.name()),
        Some("Aigerim Bcc: evil2@x")
    );
    assert_eq!(
        m.to().and_then(|a| a.first()).and_then(|a| a.address()),
        Some("aigerim@mail.kz")
    );
    assert_eq!(
        m.from().and_then(|a| a.first()).and_then(|a| a.name()),
        Some("Support <b>body</b>")
    );
    // Nothing in the raw header section starts a line with an injected name.
    let headers = header_section(&composed);
    for line in headers.split("\r\n") {
        assert!(
            !line.to_ascii_lowercase().starts_with("bcc") && !line.starts_with("X-Evil"),
            "{line:?}"
        );
    }
    assert!(
        !composed.text.contains("X-Evil: 1\n"),
        "the brand is one line in the text too"
    );
    assert!(composed.text.contains("Operator X-Evil: 1 Support"));
}

#[test]
fn other_control_characters_do_not_reach_the_headers() {
    let refs = thread();
    let mut out = outgoing(Language::En, Notice::Acknowledgment, &refs);
    out.complaint_subject = "Bonus\u{0}\u{7}\u{1b}[31m \u{202E}gnirts\u{2028}Bcc: x@y";
    let composed = compose(&out).unwrap();
    let headers = header_section(&composed);
    assert!(
        headers
            .bytes()
            .all(|b| b == b'\r' || b == b'\n' || b == b'\t' || (b' '..=b'~').contains(&b))
    );
    assert_eq!(
        parse(&composed).subject(),
        Some("[28T-5CY-4T8] Complaint registered: Bonus [31m gnirts Bcc: x@y")
    );
}

#[test]
fn player_and_agent_text_is_escaped_in_html_and_keeps_its_lines() {
    let refs = thread();
    let mut out = outgoing(
        Language::En,
        Notice::Reply {
            body: "<script>alert('x')</script>\nLine two & \"three\"\n{{ reference }} {% if x %}",
        },
        &refs,
    );
    out.complaint_subject = "<script>steal()</script> <img src=x onerror=alert(1)>";
    out.to.name = Some("<b>Bold</b>");
    let composed = compose(&out).unwrap();
    let html = &composed.html;
    assert!(
        !html.contains("<script") && !html.contains("<img") && !html.contains("<b>Bold"),
        "{html}"
    );
    assert!(html.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;<br>\nLine two &amp; &quot;three&quot;<br>\n{{ reference }} {% if x %}"), "{html}");
    assert!(html.contains("<title>[28T-5CY-4T8] Re: &lt;script&gt;steal()&lt;/script&gt; &lt;img src=x onerror=alert(1)&gt;</title>"), "{html}");
    // The plain text shows the text as written, template syntax included.
    assert!(
        composed.text.starts_with(
            "<script>alert('x')</script>\nLine two & \"three\"\n{{ reference }} {% if x %}\n"
        ),
        "{}",
        composed.text
    );

    for kind in [
        NoticeKind::Acknowledgment,
        NoticeKind::SolutionProposed,
        NoticeKind::InformationRequested,
        NoticeKind::Resolved,
    ] {
        let n = match kind {
            NoticeKind::SolutionProposed => Notice::SolutionProposed {
                text: "<script>1</script>\nx",
            },
            NoticeKind::InformationRequested => Notice::InformationRequested {
                text: "<script>1</script>\nx",
            },
            NoticeKind::Resolved => Notice::Resolved {
                measures: "<script>1</script>\nx",
                result: "<i>r</i>",
            },
            _ => Notice::Acknowledgment,
        };
        for &language in Language::ALL {
            let mut out = outgoing(language, n, &refs);
            out.complaint_subject = "<script>steal()</script>";
            let html = compose(&out).unwrap().html;
            assert!(
                !html.contains("<script") && !html.contains("<i>"),
                "{language} {kind:?}: {html}"
            );
            if kind != NoticeKind::Acknowledgment {
                assert!(
                    html.contains("&lt;script&gt;1&lt;/script&gt;<br>\nx"),
                    "{language} {kind:?}: {html}"
                );
            } else {
                assert!(
                    html.contains("&lt;script&gt;steal()&lt;/script&gt;"),
                    "{language}: {html}"
                );
            }
        }
    }
}

#[test]
fn invalid_addresses_are_refused_with_a_clear_error() {
    let refs = thread();
    let cases = [
        ("player.mail.kz", "it has no @"),
        ("aigerim @mail.kz", "it contains a space"),
        (
            "aigerim@mail.kz\r\nBcc: evil@x",
            "it contains a line break or a control character",
        ),
        (
            "айгерім@mail.kz",
            "it contains non-ASCII characters, which need SMTPUTF8 (not supported)",
        ),
        ("a@b@mail.kz", "it has more than one @"),
        (
            "<aigerim@mail.kz>",
            "the part before @ has characters or dots that mail does not allow unquoted",
        ),
        ("", "it is empty"),
    ];
    for (address, reason) in cases {
        let mut out = outgoing(Language::En, Notice::Acknowledgment, &refs);
        out.to.address = address;
        let err = compose(&out).unwrap_err();
        assert_eq!(
            err,
            ComposeError::Address {
                field: "to",
                address: address.to_string(),
                reason
            },
            "{address:?}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("the to address {address:?} cannot be used: ")),
            "{err}"
        );
    }
    let mut out = outgoing(Language::En, Notice::Acknowledgment, &refs);
    out.from.address = "support";
    assert_eq!(
        compose(&out).unwrap_err().to_string(),
        "the from address \"support\" cannot be used: it has no @"
    );
}

#[test]
fn message_ids_are_checked_and_threading_is_kept_reasonable() {
    let refs = thread();
    for bad in ["", "no-at-sign", "two words@x", "a@b>\r\nBcc: x@y"] {
        let mut out = outgoing(Language::En, Notice::Acknowledgment, &refs);
        out.message_id = bad;
        assert_eq!(
            compose(&out).unwrap_err(),
            ComposeError::MessageId(bad.to_string()),
            "{bad:?}"
        );
    }
    // Angle brackets given by mistake are tolerated.
    let mut out = outgoing(Language::En, Notice::Acknowledgment, &refs);
    out.message_id = "<own@desk.operator.example>";
    out.in_reply_to = Some("<p2@mail.kz>");
    let composed = compose(&out).unwrap();
    let m = parse(&composed);
    assert_eq!(m.message_id(), Some("own@desk.operator.example"));
    assert_eq!(m.in_reply_to().as_text(), Some("p2@mail.kz"));

    // A long thread: the first and the last 19; the message answered is appended if missing;
    // malformed and repeated IDs are left out.
    let mut long: Vec<String> = (0..40).map(|i| format!("m{i}@mail.kz")).collect();
    long.insert(5, "not an id".into());
    long.insert(7, "m3@mail.kz".into());
    let mut out = outgoing(Language::En, Notice::Reply { body: "ok" }, &long);
    out.in_reply_to = Some("last@mail.kz");
    let composed = compose(&out).unwrap();
    let m = parse(&composed);
    let got: Vec<String> = m
        .references()
        .as_text_list()
        .unwrap()
        .iter()
        .map(|r| r.to_string())
        .collect();
    let mut want = vec!["m0@mail.kz".to_string()];
    want.extend((21..40).skip(1).map(|i| format!("m{i}@mail.kz")));
    want.push("last@mail.kz".into());
    assert_eq!(got.len(), MAX_REFERENCES);
    assert_eq!(got, want);
    assert!(
        header_section(&composed)
            .split("\r\n")
            .all(|l| l.len() <= 998)
    );

    // A malformed In-Reply-To is dropped, not sent.
    let mut out = outgoing(Language::En, Notice::Acknowledgment, &[]);
    out.in_reply_to = Some("bad id\r\nBcc: x@y");
    let composed = compose(&out).unwrap();
    let m = parse(&composed);
    assert_eq!(count_headers(&m, "In-Reply-To"), 0);
    assert_eq!(count_headers(&m, "References"), 0);
    assert_eq!(count_headers(&m, "Bcc"), 0);

    // A first message with nothing to answer has neither header.
    let mut out = outgoing(Language::En, Notice::Acknowledgment, &[]);
    out.in_reply_to = None;
    let m_bytes = compose(&out).unwrap();
    let m = parse(&m_bytes);
    assert_eq!(
        (
            count_headers(&m, "In-Reply-To"),
            count_headers(&m, "References")
        ),
        (0, 0)
    );
}

#[test]
fn tracking_links_must_be_web_links() {
    let refs = thread();
    for bad in [
        "javascript:alert(1)",
        "https://x.example/\"><script>",
        "track me",
        "ftp://x.example/",
    ] {
        let mut out = outgoing(Language::En, Notice::Acknowledgment, &refs);
        out.tracking_url = Some(bad);
        assert_eq!(
            compose(&out).unwrap_err(),
            ComposeError::TrackingUrl(bad.to_string()),
            "{bad}"
        );
    }
    let mut out = outgoing(Language::Ru, Notice::Acknowledgment, &refs);
    out.tracking_url = Some("https://operator.example/t?ref=28T5CY4T8&lang=ru");
    let html = compose(&out).unwrap().html;
    assert!(
        html.contains("href=\"https://operator.example/t?ref=28T5CY4T8&amp;lang=ru\""),
        "{html}"
    );
    out.tracking_url = None;
    let composed = compose(&out).unwrap();
    assert!(
        !composed.html.contains("href") && !composed.text.contains("http"),
        "no link, no line"
    );
}

#[test]
fn long_lines_are_encoded_so_no_line_exceeds_the_limit() {
    let refs = thread();
    let body = format!("{}\n{}", "x".repeat(5000), "длинная строка ".repeat(400));
    let composed = compose(&outgoing(
        Language::Ru,
        Notice::Reply { body: &body },
        &refs,
    ))
    .unwrap();
    let raw = String::from_utf8(composed.bytes.clone()).unwrap();
    assert!(raw.split("\r\n").all(|l| l.len() <= 998));
    assert!(
        !raw.replace("\r\n", "").contains('\n') && !raw.replace("\r\n", "").contains('\r'),
        "CRLF only"
    );
    let m = parse(&composed);
    assert!(m.body_text(0).unwrap().contains(&"x".repeat(5000)));
}

#[test]
fn automatic_and_personal_notices() {
    assert_eq!(
        NoticeKind::Acknowledgment.auto_submitted(),
        Some("auto-replied")
    );
    assert_eq!(
        NoticeKind::Resolved.auto_submitted(),
        Some("auto-generated")
    );
    for kind in [
        NoticeKind::Reply,
        NoticeKind::SolutionProposed,
        NoticeKind::InformationRequested,
    ] {
        assert_eq!(
            kind.auto_submitted(),
            None,
            "{kind:?} carries an agent's words"
        );
    }
}

#[test]
fn operators_can_replace_templates_and_broken_ones_are_refused() {
    let composer = Composer::new()
        .with_template(
            "en/acknowledgment.txt",
            "{% extends \"en/base.txt\" %}{% block body %}Got it: {{ reference }}.{% endblock %}",
        )
        .unwrap()
        .with_reopen_days(None);
    let refs = thread();
    let composed = composer
        .compose(&outgoing(Language::En, Notice::Acknowledgment, &refs))
        .unwrap();
    assert!(
        composed.text.contains("Got it: 28T-5CY-4T8."),
        "{}",
        composed.text
    );
    let resolved = composer
        .compose(&outgoing(Language::En, notice(NoticeKind::Resolved), &refs))
        .unwrap();
    assert!(
        resolved
            .text
            .contains("If you disagree with the outcome, reply to this e-mail: your complaint"),
        "{}",
        resolved.text
    );
    // The built-in composer is untouched.
    assert!(
        !compose(&outgoing(Language::En, Notice::Acknowledgment, &refs))
            .unwrap()
            .text
            .contains("Got it")
    );
    assert!(
        Composer::new()
            .template_source("kk/resolved.txt")
            .unwrap()
            .contains("күн ішінде")
    );
    assert!(Composer::template_names().any(|n| n == "layout.html"));
    assert_eq!(Composer::template_names().count(), 2 + 3 * 18);
    assert!(Composer::template_names().any(|n| n == "kk/staff.html"));

    let base = Composer::new();
    assert_eq!(
        base.with_template("en/nope.txt", "x").unwrap_err(),
        ComposeError::UnknownTemplate("en/nope.txt".into())
    );
    for (name, source) in [
        (
            "ru/reply.txt",
            "{% extends \"ru/base.txt\" %}{% block body %}{{ body }{% endblock %}",
        ),
        (
            "kk/resolved.html",
            "{% extends \"kk/base.html\" %}{% block body %}{{ no_such_value }}{% endblock %}",
        ),
        ("en/base.txt", "Hello, no reference here."),
    ] {
        let err = base.with_template(name, source).unwrap_err();
        assert!(
            matches!(err, ComposeError::Template { .. }),
            "{name}: {err}"
        );
    }
    // HTML templates escape what they print, even the ones an operator writes.
    let custom = base
        .with_template(
            "en/reply.html",
            "{% extends \"en/base.html\" %}{% block body %}<p>{{ body }}</p>{% endblock %}",
        )
        .unwrap();
    let html = custom
        .compose(&outgoing(
            Language::En,
            Notice::Reply {
                body: "<script>x</script>",
            },
            &refs,
        ))
        .unwrap()
        .html;
    assert!(
        html.contains("<p>&lt;script&gt;x&lt;/script&gt;</p>"),
        "{html}"
    );
}

#[test]
fn staff_notices_in_every_language() {
    use ombuds_mail::outbound::{Composer, StaffOutgoing};
    let composer = Composer::builtin();
    for (language, assigned, warning, breach, clock) in [
        (Language::En, "assigned to you", "close to its", "missed its", "resolution"),
        (Language::Ru, "Вам назначено обращение", "Подходит срок", "Срок обращения нарушен", "решение"),
        (Language::Kk, "Сізге өтініш тағайындалды", "мерзімі жақындап", "мерзімі бұзылды", "шешім"),
    ] {
        for (notice, says) in [("assigned", assigned), ("sla_warning", warning), ("sla_breach", breach)] {
            let out = StaffOutgoing {
                from: Mailbox { name: Some("Desk"), address: "desk@operator.example" },
                to: Mailbox { name: Some("Дана"), address: "dana@operator.example" },
                language,
                reference: reference(),
                complaint_subject: "Re: <script>alert(1)</script> вывод",
                notice,
                clock: (notice != "assigned").then_some("resolution"),
                due: Some("2026-12-01 18:00"),
                department: Some("payments"),
                message_id: "n1@operator.example",
                date: jiff::Timestamp::UNIX_EPOCH,
                operator_name: "Operator",
                workspace_url: Some("https://desk.operator.example/c/1"),
            };
            let c = composer.compose_staff(&out).unwrap();
            assert!(c.subject.starts_with(&format!("[{}] ", reference())), "{}", c.subject);
            assert!(c.text.contains(says), "{language} {notice}: {}", c.text);
            assert!(c.text.contains(&reference().to_string()) && c.html.contains(&reference().to_string()));
            if notice != "assigned" {
                assert!(c.text.contains(clock) && c.text.contains("2026-12-01 18:00"), "{}", c.text);
            }
            assert!(!c.html.contains("<script>"), "the subject is escaped in HTML: {}", c.html);
            let m = parse(&c);
            assert_eq!(m.header("Auto-Submitted").and_then(|h| h.as_text()), Some("auto-generated"));
            assert_eq!(m.to().and_then(|a| a.first()).and_then(|a| a.address()), Some("dana@operator.example"));
        }
    }
    // An unknown notice reads as a breach (never a silent empty mail); a bad link is refused.
    let mut out = StaffOutgoing {
        from: Mailbox { name: None, address: "desk@operator.example" },
        to: Mailbox { name: None, address: "dana@operator.example" },
        language: Language::En,
        reference: reference(),
        complaint_subject: "x",
        notice: "weird",
        clock: None,
        due: None,
        department: None,
        message_id: "n2@operator.example",
        date: jiff::Timestamp::UNIX_EPOCH,
        operator_name: "Operator",
        workspace_url: None,
    };
    assert!(composer.compose_staff(&out).unwrap().text.contains("missed"));
    out.workspace_url = Some("javascript:alert(1)");
    assert!(composer.compose_staff(&out).is_err());
    out.workspace_url = None;
    out.to.address = "not an address";
    assert!(composer.compose_staff(&out).is_err());
}
