//! One test per fixture in `tests/mail/` (written by `tests/mail/make_fixtures.py`).

use ombuds_core::ComplaintRef;
use ombuds_mail::inbound::{Automatic, DropReason, Mailbox};

use crate::fixture;

const REF1: &str = "28T-5CY-4T8";
const REF2: &str = "NF6-YY0-93X";

fn r(s: &str) -> ComplaintRef {
    ComplaintRef::parse(s).unwrap()
}

fn mb(name: Option<&str>, address: &str) -> Mailbox {
    Mailbox {
        name: name.map(str::to_owned),
        address: address.to_owned(),
    }
}

fn ts(s: &str) -> Option<jiff::Timestamp> {
    Some(s.parse().unwrap())
}

#[test]
fn refs_match_the_generator() {
    assert_eq!(ComplaintRef::from_bits(0x12_3456_789A).to_string(), REF1);
    assert_eq!(ComplaintRef::from_bits(0xAB_CDEF_0123).to_string(), REF2);
}

#[test]
fn gmail_withdrawal_ru() {
    let m = fixture("gmail_withdrawal_ru.eml");
    assert_eq!(m.subject, "Задержка вывода средств, заявка №48213");
    assert_eq!(
        m.from,
        Some(mb(Some("Айдар Нурланов"), "Aidar.Nurlanov@gmail.com"))
    );
    assert_eq!(m.to, vec![mb(None, "complaints@bet.example.kz")]);
    assert_eq!(
        m.message_id.as_deref(),
        Some("CAF3k9x+Vq2m1LhZ@mail.gmail.com")
    );
    assert_eq!(m.date, ts("2026-01-19T04:41:07Z"));
    assert_eq!(
        m.text,
        "Здравствуйте!\n\n\
         12 января я заказал вывод 150 000 тенге на карту Kaspi, заявка №48213.\n\
         Прошло уже 5 рабочих дней, статус «В обработке». Верификацию я прошёл в декабре.\n\n\
         Прошу ускорить выплату или объяснить причину задержки."
    );
    assert!(
        m.full_text
            .ends_with("--\nАйдар Нурланов\n+7 701 555 12 34"),
        "{}",
        m.full_text
    );
    assert!(!m.html, "the text/plain alternative is good and preferred");
    assert!(m.attachments.is_empty() && m.dropped.is_empty());
    assert_eq!(m.automatic, None);
    assert!(
        m.subject_refs.is_empty(),
        "№48213 is not a complaint reference"
    );
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    assert!(m.thread_keys().is_empty());
}

#[test]
fn gmail_reply_verification_kk() {
    let m = fixture("gmail_reply_verification_kk.eml");
    assert_eq!(m.subject, format!("Re: [{REF1}] Верификация өтпеді"));
    assert_eq!(m.subject_refs, vec![r(REF1)]);
    assert_eq!(
        m.from,
        Some(mb(Some("Әсел Қасымова"), "asel.kasymova@gmail.com"))
    );
    assert_eq!(
        m.to,
        vec![mb(Some("Қолдау қызметі"), "support@bet.example.kz")]
    );
    assert_eq!(m.in_reply_to, vec!["ombuds.7f3a9c@bet.example.kz"]);
    assert_eq!(
        m.references,
        vec![
            "ombuds.1a2b3c@bet.example.kz",
            "ombuds.7f3a9c@bet.example.kz"
        ]
    );
    assert_eq!(
        m.thread_keys(),
        vec![
            "ombuds.7f3a9c@bet.example.kz",
            "ombuds.1a2b3c@bet.example.kz"
        ]
    );
    assert_eq!(
        m.text,
        "Сәлеметсіз бе!\n\n\
         Құжаттарды екінші рет жібердім, бірақ аккаунтым әлі де бұғатталған.\n\
         Неге верификация өтпеді? Жеке куәлігімнің екі жағы да анық көрінеді."
    );
    assert!(
        m.full_text.contains("жазды:\n\n> Құрметті ойыншы!"),
        "{}",
        m.full_text
    );
    assert_eq!(m.automatic, None);
}

#[test]
fn outlook_bet_settlement_cp1251() {
    let m = fixture("outlook_bet_settlement_cp1251.eml");
    assert_eq!(m.subject, format!("RE: Неверный расчёт ставки [{REF2}]"));
    assert_eq!(m.subject_refs, vec![r(REF2)]);
    assert_eq!(
        m.from,
        Some(mb(Some("Сергей Ким"), "s.kim@corp.example.kz")),
        "domain lower-cased"
    );
    assert_eq!(
        m.text,
        "Добрый день.\n\n\
         Ставка на матч «Кайрат» – «Астана» (купон 7734012) рассчитана как проигрыш,\n\
         хотя итоговый счёт 2:1 и я ставил на победу «Кайрата». Прошу пересчитать.\n\n\
         С уважением,\nСергей Ким"
    );
    assert!(
        m.full_text
            .contains("От: Служба поддержки <support@bet.example.kz>\nОтправлено: 14 января")
    );
    assert!(!m.html);
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
}

#[test]
fn outlook_html_alternative_gives_the_same_visible_text() {
    // Reading the HTML alternative alone must trim the same Outlook block.
    let raw = crate::fixture_bytes("outlook_bet_settlement_cp1251.eml");
    let raw = String::from_utf8_lossy(&raw).replacen(
        "Content-Type: text/plain",
        "Content-Type: text/x-ignored",
        1,
    );
    let m = ombuds_mail::inbound::parse(raw.as_bytes(), &crate::fixture_limits()).unwrap();
    assert!(m.html);
    assert_eq!(
        m.text,
        "Добрый день.\n\n\
         Ставка на матч «Кайрат» – «Астана» (купон 7734012) рассчитана как проигрыш, \
         хотя итоговый счёт 2:1 и я ставил на победу «Кайрата». Прошу пересчитать.\n\n\
         С уважением,\nСергей Ким"
    );
}

#[test]
fn koi8r_account_blocked() {
    let m = fixture("koi8r_account_blocked.eml");
    assert_eq!(m.subject, "Блокировка аккаунта");
    assert_eq!(
        m.from,
        Some(mb(Some("Петр Иванов"), "petr@ivanov.example.ru"))
    );
    assert_eq!(
        m.text,
        "Здравствуйте.\n\n\
         Мой аккаунт заблокирован после пополнения, служба безопасности требует\n\
         фото с паспортом в руке. Я отправил фото три раза, ответа нет.\n\
         Логин: ivanov_p, ID клиента 5520193.\n\nПетр Иванов"
    );
    assert_eq!(m.text, m.full_text);
    assert_eq!(m.date, ts("2026-01-15T05:00:00Z"));
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
}

#[test]
fn yandex_bonus_reply_html() {
    let m = fixture("yandex_bonus_reply_html.eml");
    assert_eq!(m.subject, format!("Re: [{REF1}] Бонус"));
    assert_eq!(m.subject_refs, vec![r(REF1)]);
    assert_eq!(m.from, Some(mb(Some("Тимур"), "timur.b@yandex.kz")));
    assert!(m.html);
    assert_eq!(
        m.text,
        "Бонус 20 000 ₸ за регистрацию так и не начислили, хотя условия акции я выполнил: \
         депозит 10 000 ₸ в течение суток.\nСкриншот личного кабинета могу прислать."
    );
    assert!(m.full_text.ends_with(&format!(
        "16.01.2026, 12:40, \"Служба поддержки\" <support@bet.example.kz>:\n\
         > Здравствуйте! Уточните, пожалуйста, дату регистрации.\n> Обращение {REF1}."
    )));
}

#[test]
fn mailru_mobile_withdrawal() {
    let m = fixture("mailru_mobile_withdrawal.eml");
    assert_eq!(m.subject, format!("Re: [{REF2}] Вывод средств"));
    assert_eq!(m.subject_refs, vec![r(REF2)]);
    assert_eq!(
        m.from,
        Some(mb(Some("Гульнара Сапарова"), "gulnara_s@mail.ru"))
    );
    assert_eq!(
        m.reply_address(),
        Some(&mb(Some("Гульнара Сапарова"), "gulnara_s@mail.ru"))
    );
    assert_eq!(
        m.text,
        "Деньги до сих пор не пришли на карту. Сколько ещё ждать?"
    );
    assert!(
        m.full_text
            .contains("Отправлено из мобильной Почты Mail.ru")
    );
    assert_eq!(m.in_reply_to, vec!["ombuds.ee55ff66@bet.example.kz"]);
}

#[test]
fn html_only_bonus_en() {
    let m = fixture("html_only_bonus_en.eml");
    assert_eq!(m.subject, "Welcome bonus wagering requirement is wrong");
    assert_eq!(
        m.from,
        Some(mb(Some("Daniyar Seitkali"), "daniyar@seitkali.example.com"))
    );
    assert!(m.html);
    let expected = "Hello,\n\n\
        The welcome bonus terms on your site say the wagering requirement is x5, but my account shows x35:\n\n\
        - Deposit: 50 000 KZT on 10 January\n\
        - Bonus credited: 50 000 KZT\n\
        - Wagering shown: x35 — see the promo page (https://bet.example.kz/promo/welcome)\n\n\
        Please correct it.\nThank you,\nDaniyar\n\n[Daniyar's logo]";
    assert_eq!(m.text, expected);
    assert_eq!(m.full_text, expected);
    for absent in [
        "document.location",
        "Preview text",
        "tracker.example.net",
        "cdn.example.net",
        "font-family",
        "Complaint",
    ] {
        assert!(!m.full_text.contains(absent), "{absent}");
    }
}

#[test]
fn apple_flowed_reply_en() {
    let m = fixture("apple_flowed_reply_en.eml");
    assert_eq!(m.subject, format!("Re: [{REF1}] Voided bet"));
    assert_eq!(m.subject_refs, vec![r(REF1)]);
    assert_eq!(
        m.from,
        Some(mb(Some("Yerlan Abenov"), "yerlan.abenov@icloud.com"))
    );
    assert_eq!(
        m.text,
        "My bet on Barys vs Ak Bars (ticket 99120) was voided, but the match was played and \
         finished 3:2. Why was it voided? I want it settled as a win."
    );
    assert_eq!(
        m.thread_keys(),
        vec!["ombuds.0101@bet.example.kz", "ombuds.0100@bet.example.kz"]
    );
}

#[test]
fn attachments_deposit_ru() {
    let m = fixture("attachments_deposit_ru.eml");
    assert_eq!(m.subject, "Депозит не зачислен");
    assert_eq!(
        m.text,
        "Добрый вечер. Прикладываю скриншот истории ставок, чек об оплате и выписку банка.\n\
         Депозит 25 000 тенге не зачислен на игровой счёт."
    );
    let names: Vec<(&str, &str, usize)> = m
        .attachments
        .iter()
        .map(|a| (a.filename.as_str(), a.content_type.as_str(), a.data.len()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("скриншот.png", "image/png", 66),
            ("receipt.pdf", "application/pdf", 125)
        ]
    );
    assert!(m.attachments[0].data.starts_with(b"\x89PNG"));
    assert!(m.attachments[1].data.starts_with(b"%PDF-1.4"));
    assert_eq!(m.dropped.len(), 1);
    assert_eq!(m.dropped[0].filename, "выписка.pdf");
    assert_eq!(m.dropped[0].size, 60_000);
    assert_eq!(m.dropped[0].reason, DropReason::TooLarge);
}

#[test]
fn autoreply_exchange_ru() {
    let m = fixture("autoreply_exchange_ru.eml");
    assert_eq!(m.automatic, Some(Automatic::AutoReply));
    assert_eq!(
        m.subject,
        format!("Автоматический ответ: [{REF2}] Ваше обращение зарегистрировано")
    );
    assert_eq!(m.subject_refs, vec![r(REF2)]);
    assert_eq!(
        m.text,
        "Я в отпуске до 2 февраля. По срочным вопросам пишите на office@corp.example.kz."
    );
}

#[test]
fn vacation_subject_alone_is_an_autoreply() {
    let raw = "From: a@b.kz\r\nSubject: Автоответ: Re: ставка\r\n\r\nНет на месте\r\n";
    let m = ombuds_mail::inbound::parse(raw.as_bytes(), &crate::fixture_limits()).unwrap();
    assert_eq!(m.automatic, Some(Automatic::AutoReply));
}

#[test]
fn dsn_bounce() {
    let m = fixture("dsn_bounce.eml");
    assert_eq!(m.automatic, Some(Automatic::Bounce));
    assert_eq!(
        m.from,
        Some(mb(
            Some("Mail Delivery System"),
            "MAILER-DAEMON@mx.bet.example.kz"
        ))
    );
    assert_eq!(
        m.own_ref.as_deref(),
        Some(REF2),
        "which of our messages bounced"
    );
    assert!(
        m.text
            .starts_with("This is the mail system at host mx.bet.example.kz.")
    );
    assert!(
        m.text.contains(
            "<no.such.player@example.kz>: host mx.example.kz[203.0.113.5] said: 550 5.1.1"
        )
    );
    let types: Vec<&str> = m
        .attachments
        .iter()
        .map(|a| a.content_type.as_str())
        .collect();
    assert_eq!(
        types,
        vec!["message/delivery-status", "text/rfc822-headers"]
    );
}

#[test]
fn dsn_bounce_reports_what_failed() {
    let m = fixture("dsn_bounce.eml");
    let b = m.bounce.expect("a bounce carries its report");
    assert_eq!(b.failed, vec!["no.such.player@example.kz".to_string()]);
    assert_eq!(b.original_message_id.as_deref(), Some("ombuds.ab12@bet.example.kz"));
    assert_eq!(b.diagnostic.as_deref(), Some("5.1.1: 550 5.1.1 User unknown"));
    assert!(!b.delayed_only);
}

/// An Exchange NDR (written by hand after real ones; the file is not from make_fixtures.py):
/// multipart/report with a text and HTML alternative, the delivery-status fields and the
/// whole returned message.
#[test]
fn exchange_ndr() {
    let m = fixture("exchange_ndr.eml");
    assert_eq!(m.automatic, Some(Automatic::Bounce));
    assert_eq!(m.own_ref.as_deref(), Some(REF2));
    let b = m.bounce.expect("a bounce carries its report");
    assert_eq!(b.failed, vec!["aigerim.s@corp.example.kz".to_string()]);
    assert_eq!(b.original_message_id.as_deref(), Some("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b@bet.example.kz"));
    let d = b.diagnostic.unwrap();
    assert!(d.starts_with("5.1.10: 550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found"), "{d}");
    assert!(m.text.starts_with("Delivery has failed to these recipients or groups:"), "{}", m.text);
}

#[test]
fn delayed_dsn_is_not_a_failure() {
    let raw = "From: MAILER-DAEMON@mx.example\r\nTo: support@bet.example.kz\r\nSubject: Delayed Mail (still being retried)\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\nStill trying.\r\n\
        --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n\
        Final-Recipient: rfc822; slow@example.kz\r\nAction: delayed\r\nStatus: 4.4.1\r\n\r\n--b--\r\n";
    let m = ombuds_mail::inbound::parse(raw.as_bytes(), &crate::fixture_limits()).unwrap();
    let b = m.bounce.unwrap();
    assert!(b.delayed_only && b.failed.is_empty(), "{b:?}");
}

#[test]
fn person_mail_has_no_bounce() {
    assert_eq!(fixture("gmail_withdrawal_ru.eml").bounce, None);
}

#[test]
fn forwarded_rfc822_ru() {
    let m = fixture("forwarded_rfc822_ru.eml");
    assert_eq!(m.subject, "Fwd: Отказ в выплате");
    let expected = "Пересылаю ответ букмекера. Считаю отказ незаконным.\n\n\
        ---------- Forwarded message ----------\n\
        From: Служба безопасности <security@bookmaker.example.com>\n\
        Date: Tue, 20 Jan 2026 16:30:00 +0300\n\
        Subject: Отказ в выплате\n\
        To: yerlan.s@example.kz\n\n\
        Уважаемый клиент! В выплате отказано в связи с нарушением п. 4.2 правил.";
    assert_eq!(
        m.text, expected,
        "a forwarded message is evidence, not a quote"
    );
    assert_eq!(m.full_text, expected);
    assert!(m.attachments.is_empty());
}

#[test]
fn cp1251_undeclared() {
    let m = fixture("cp1251_undeclared.eml");
    assert_eq!(m.subject, "Жалоба на коэффициенты");
    assert_eq!(
        m.text,
        "Коэффициент изменили после того, как я сделал ставку.\nПрошу вернуть деньги."
    );
    assert_eq!(
        m.warnings,
        vec![
            "8-bit header bytes decoded as windows-1251",
            "8-bit text without a charset decoded as windows-1251"
        ]
    );
}

#[test]
fn kz1048_declared() {
    let m = fixture("kz1048_declared.eml");
    assert_eq!(m.subject, "Ұтыс төленбеді");
    assert_eq!(
        m.text,
        "Сәлеметсіз бе! Ұтысым әлі күнге дейін төленген жоқ, өтінемін көмектесіңіз."
    );
}

#[test]
fn bulk_newsletter() {
    let m = fixture("bulk_newsletter.eml");
    assert_eq!(m.automatic, Some(Automatic::Bulk));
    assert_eq!(m.text, "Win big this week!");
}

#[test]
fn own_message_back() {
    let raw = format!(
        "From: support@bet.example.kz\r\nTo: support@bet.example.kz\r\nX-Ombuds-Ref: {REF1}\r\n\
         Subject: [{REF1}] Your complaint is registered\r\n\r\nThank you.\r\n"
    );
    let m = ombuds_mail::inbound::parse(raw.as_bytes(), &crate::fixture_limits()).unwrap();
    assert_eq!(m.automatic, Some(Automatic::Own));
    assert_eq!(m.own_ref.as_deref(), Some(REF1));
}
