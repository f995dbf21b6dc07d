//! A generator of realistic inbound mail for benchmarks and load tests (feature `corpus`).
//!
//! [`generate`] makes complaints to a betting operator as players really send them: Russian,
//! Kazakh and English; UTF-8 (about 60%), windows-1251 and KOI8-R (Kazakh only in UTF-8,
//! which is the only common charset with its letters); plain text, `multipart/alternative`
//! with Gmail-, Outlook- or Yandex-style HTML, some HTML-only; base64, quoted-printable and
//! 8-bit bodies; about 10% with a small attachment (1–30 KB); replies quoting our earlier
//! message with the reference in the subject; a few out-of-office auto-replies. Sizes are
//! those of real mail, 1–40 KB. The output depends only on the arguments: a tiny xorshift
//! generator, no randomness from outside.

use crate::inbound::charset::Cyrillic;

/// `count` raw messages to `to`. About 40% are replies (subject `Re: [REF] …` with one of
/// `reply_refs` and a quoted earlier message) when `reply_refs` is not empty; the rest are new
/// complaints. Message-IDs are unique within one call and across seeds.
pub fn generate(seed: u64, count: usize, reply_refs: &[String], to: &str) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|i| one(&mut rng, seed, i, reply_refs, to))
        .collect()
}

/// xorshift64*: small, fast, good enough for test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
        if state == 0 {
            state = 0x2545_F491_4F6C_DD1D;
        }
        let mut rng = Rng(state);
        for _ in 0..4 {
            rng.next();
        }
        rng
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn pick_str(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    Ru,
    Kk,
    En,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Charset {
    Utf8,
    Cp1251,
    Koi8R,
}

impl Charset {
    fn label(self) -> &'static str {
        match self {
            Charset::Utf8 => "UTF-8",
            Charset::Cp1251 => "windows-1251",
            Charset::Koi8R => "koi8-r",
        }
    }

    fn encode(self, text: &str) -> Vec<u8> {
        let table = match self {
            Charset::Utf8 => return text.as_bytes().to_vec(),
            Charset::Cp1251 => Cyrillic::Cp1251,
            Charset::Koi8R => Cyrillic::Koi8R,
        };
        // Texts for single-byte charsets are written in their repertoire; anything else
        // (never expected) becomes '?'.
        text.chars()
            .flat_map(|c| {
                table
                    .encode(c.encode_utf8(&mut [0; 4]))
                    .unwrap_or_else(|| vec![b'?'])
            })
            .collect()
    }
}

#[derive(Clone, Copy)]
enum Style {
    Gmail,
    Outlook,
    Yandex,
    MailRu,
    Apple,
}

struct Person {
    name: &'static str,
    local: &'static str,
}

const RU_PEOPLE: &[Person] = &[
    Person {
        name: "Айдар Нурланов",
        local: "aidar.nurlanov",
    },
    Person {
        name: "Сергей Ким",
        local: "s.kim",
    },
    Person {
        name: "Ольга Петрова",
        local: "olga.petrova",
    },
    Person {
        name: "Марат Жумабаев",
        local: "marat.zh",
    },
    Person {
        name: "Гульнара Сапарова",
        local: "gulnara_s",
    },
    Person {
        name: "Иван Смирнов",
        local: "ivan.smirnov",
    },
    Person {
        name: "Тимур Ахметов",
        local: "timur.akhmetov",
    },
    Person {
        name: "Елена Ли",
        local: "elena.li",
    },
];

const KK_PEOPLE: &[Person] = &[
    Person {
        name: "Әсел Қасымова",
        local: "asel.kasymova",
    },
    Person {
        name: "Нұрлан Сейітов",
        local: "nurlan.seitov",
    },
    Person {
        name: "Ерлан Әбенов",
        local: "yerlan.abenov",
    },
    Person {
        name: "Айгүл Төлеуова",
        local: "aigul.toleuova",
    },
    Person {
        name: "Дәурен Құсайынов",
        local: "dauren.k",
    },
    Person {
        name: "Жанар Оспанова",
        local: "zhanar.ospanova",
    },
];

const EN_PEOPLE: &[Person] = &[
    Person {
        name: "John Carter",
        local: "john.carter",
    },
    Person {
        name: "Daniyar Seitkali",
        local: "daniyar.s",
    },
    Person {
        name: "Anna Lee",
        local: "anna.lee",
    },
    Person {
        name: "Michael Brown",
        local: "m.brown",
    },
];

const BANKS: &[&str] = &["Kaspi", "Halyk", "Jusan", "Freedom", "ForteBank", "BCC"];
const TEAMS: &[&str] = &[
    "Кайрат",
    "Астана",
    "Тобол",
    "Ордабасы",
    "Актобе",
    "Барыс",
    "Елимай",
];

fn people(lang: Lang) -> &'static [Person] {
    match lang {
        Lang::Ru => RU_PEOPLE,
        Lang::Kk => KK_PEOPLE,
        Lang::En => EN_PEOPLE,
    }
}

fn domain_for(rng: &mut Rng, style: Style) -> &'static str {
    match style {
        Style::Gmail => "gmail.com",
        Style::Outlook => rng.pick_str(&["outlook.com", "hotmail.com", "corp.example.kz"]),
        Style::Yandex => rng.pick_str(&["yandex.kz", "yandex.ru", "ya.ru"]),
        Style::MailRu => rng.pick_str(&["mail.ru", "bk.ru", "inbox.ru", "list.ru"]),
        Style::Apple => rng.pick_str(&["icloud.com", "me.com"]),
    }
}

struct Fill {
    amount: String,
    num: u32,
    days: usize,
    date: String,
    bank: &'static str,
    team1: &'static str,
    team2: &'static str,
    score: String,
}

fn fill(rng: &mut Rng) -> Fill {
    let team1 = rng.pick_str(TEAMS);
    let mut team2 = rng.pick_str(TEAMS);
    if team2 == team1 {
        team2 = "Жетысу";
    }
    Fill {
        amount: format!("{} {:03}", rng.range(5, 900), rng.below(1000)),
        num: rng.range(10_000, 9_999_999) as u32,
        days: rng.range(3, 21),
        date: format!("{:02}.{:02}.2026", rng.range(1, 28), rng.range(1, 3)),
        bank: rng.pick_str(BANKS),
        team1,
        team2,
        score: format!("{}:{}", rng.range(0, 4), rng.range(0, 4)),
    }
}

/// The complaint itself: a subject and paragraphs.
fn complaint(rng: &mut Rng, lang: Lang) -> (String, Vec<String>) {
    let f = fill(rng);
    let topic = rng.below(5);
    let (subject, body): (String, String) = match (lang, topic) {
        (Lang::Ru, 0) => (
            format!("Задержка вывода средств, заявка №{}", f.num),
            format!(
                "{} я заказал вывод {} тенге на карту {}, заявка №{}. Прошло уже {} рабочих дней, а деньги так и не поступили. Статус заявки — «В обработке». Прошу ускорить выплату или объяснить причину задержки.",
                f.date, f.amount, f.bank, f.num, f.days
            ),
        ),
        (Lang::Ru, 1) => (
            "Неверный расчёт ставки".to_owned(),
            format!(
                "Ставка на матч «{}» – «{}» (купон {}) рассчитана как проигрыш, хотя итоговый счёт {} и я ставил на победу «{}». Прошу пересчитать ставку и начислить выигрыш.",
                f.team1, f.team2, f.num, f.score, f.team1
            ),
        ),
        (Lang::Ru, 2) => (
            "Блокировка аккаунта после верификации".to_owned(),
            format!(
                "Мой аккаунт заблокирован, служба безопасности требует документы. Я отправлял фото паспорта уже {} раз, ответа нет. ID клиента {}.",
                f.days, f.num
            ),
        ),
        (Lang::Ru, 3) => (
            "Не начислен бонус".to_owned(),
            format!(
                "Бонус {} тенге за регистрацию так и не начислили, хотя условия акции я выполнил: депозит сделан {}.",
                f.amount, f.date
            ),
        ),
        (Lang::Ru, _) => (
            "Депозит не зачислен".to_owned(),
            format!(
                "{} я пополнил счёт на {} тенге через {}, деньги списаны с карты, но на игровой счёт не поступили. Чек прилагаю.",
                f.date, f.amount, f.bank
            ),
        ),
        (Lang::Kk, 0) => (
            format!("Ақша шығару кешіктірілді, өтінім №{}", f.num),
            format!(
                "{} күні {} теңгені {} картасына шығаруға өтінім бердім (№{}). {} жұмыс күні өтті, ақша әлі түскен жоқ. Төлемді жеделдетуіңізді немесе кешігу себебін түсіндіруіңізді сұраймын.",
                f.date, f.amount, f.bank, f.num, f.days
            ),
        ),
        (Lang::Kk, 1) => (
            "Ставка қате есептелді".to_owned(),
            format!(
                "{} – {} матчына жасалған ставкам (купон {}) ұтылды деп есептелді, бірақ матч {} есебімен аяқталды және мен {} жеңісіне қойдым. Қайта есептеуді сұраймын.",
                f.team1, f.team2, f.num, f.score, f.team1
            ),
        ),
        (Lang::Kk, 2) => (
            "Аккаунт бұғатталды".to_owned(),
            format!(
                "Аккаунтым бұғатталды, верификация үшін құжаттарды {} рет жібердім, бірақ жауап жоқ. Клиент ID {}.",
                f.days, f.num
            ),
        ),
        (Lang::Kk, 3) => (
            "Бонус берілмеді".to_owned(),
            format!(
                "Тіркелгені үшін {} теңге бонус берілмеді, акция шарттарын толық орындадым, депозит {} күні жасалды.",
                f.amount, f.date
            ),
        ),
        (Lang::Kk, _) => (
            "Депозит түспеді".to_owned(),
            format!(
                "{} күні шотқа {} арқылы {} теңге салдым, бірақ ойын шотыма түспеді. Түбіртекті тіркеп отырмын.",
                f.date, f.bank, f.amount
            ),
        ),
        (Lang::En, 0) => (
            format!("Withdrawal delayed, request #{}", f.num),
            format!(
                "On {} I requested a withdrawal of {} KZT to my {} card (request #{}). It has been {} business days and the money has not arrived. The status still says \"Processing\". Please speed up the payout or explain the delay.",
                f.date, f.amount, f.bank, f.num, f.days
            ),
        ),
        (Lang::En, 1) => (
            "Bet settled wrongly".to_owned(),
            format!(
                "My bet on {} vs {} (ticket {}) was settled as lost, but the final score was {} and I backed {}. Please resettle it.",
                f.team1, f.team2, f.num, f.score, f.team1
            ),
        ),
        (Lang::En, 2) => (
            "Account blocked during verification".to_owned(),
            format!(
                "My account was blocked and security asks for documents. I have sent my ID {} times without any answer. Customer ID {}.",
                f.days, f.num
            ),
        ),
        (Lang::En, 3) => (
            "Welcome bonus not credited".to_owned(),
            format!(
                "The {} KZT welcome bonus was never credited although I met the terms with a deposit on {}.",
                f.amount, f.date
            ),
        ),
        (Lang::En, _) => (
            "Deposit not credited".to_owned(),
            format!(
                "On {} I deposited {} KZT via {}; the card was charged but my betting balance did not change. The receipt is attached.",
                f.date, f.amount, f.bank
            ),
        ),
    };
    let mut paragraphs = vec![greeting(rng, lang).to_owned(), body];
    for _ in 0..rng.range(0, 6) {
        paragraphs.push(filler(rng, lang));
    }
    paragraphs.push(closing(lang).to_owned());
    (subject, paragraphs)
}

fn greeting(rng: &mut Rng, lang: Lang) -> &'static str {
    match lang {
        Lang::Ru => rng.pick_str(&["Здравствуйте!", "Добрый день.", "Добрый вечер!"]),
        Lang::Kk => rng.pick_str(&["Сәлеметсіз бе!", "Қайырлы күн!"]),
        Lang::En => rng.pick_str(&["Hello,", "Dear support,", "Hi,"]),
    }
}

fn closing(lang: Lang) -> &'static str {
    match lang {
        Lang::Ru => "С уважением.",
        Lang::Kk => "Құрметпен.",
        Lang::En => "Regards.",
    }
}

fn filler(rng: &mut Rng, lang: Lang) -> String {
    let sentences: &[&str] = match lang {
        Lang::Ru => &[
            "Я уже писал в чат поддержки, но оператор ответил шаблонной фразой и закрыл диалог.",
            "Играю у вас больше двух лет и раньше никаких проблем с выплатами не было.",
            "Все документы загружены в личный кабинет, верификация пройдена.",
            "Если вопрос не будет решён, я буду вынужден обратиться к регулятору.",
            "Прошу рассмотреть обращение в установленный срок и сообщить результат письменно.",
            "По телефону горячей линии дозвониться невозможно, линия постоянно занята.",
        ],
        Lang::Kk => &[
            "Мен қолдау чатына жаздым, бірақ оператор үлгі жауап беріп, диалогты жапты.",
            "Сіздерде екі жылдан астам ойнаймын, бұрын төлемдермен ешқандай мәселе болған жоқ.",
            "Барлық құжаттар жеке кабинетке жүктелген, верификациядан өттім.",
            "Мәселе шешілмесе, реттеушіге жүгінуге мәжбүр боламын.",
            "Өтінішті белгіленген мерзімде қарап, нәтижесін жазбаша хабарлауыңызды сұраймын.",
        ],
        Lang::En => &[
            "I already wrote to the support chat, but the agent replied with a template and closed the dialogue.",
            "I have been playing with you for more than two years without any payout problems.",
            "All documents are uploaded to my account and the verification is complete.",
            "If this is not resolved I will have to contact the regulator.",
            "Please review this complaint within the required time and reply in writing.",
        ],
    };
    let n = rng.range(1, 3);
    (0..n)
        .map(|_| *rng.pick(sentences))
        .collect::<Vec<_>>()
        .join(" ")
}

fn reply_text(rng: &mut Rng, lang: Lang) -> Vec<String> {
    let f = fill(rng);
    let body = match lang {
        Lang::Ru => *rng.pick(&[
            "Прошло уже несколько дней, ответа так и нет. Прошу ускорить рассмотрение.",
            "Документы отправил повторно, проверьте, пожалуйста.",
            "Деньги до сих пор не пришли на карту. Сколько ещё ждать?",
            "Спасибо за ответ, но проблема не решена: ставка всё ещё рассчитана неверно.",
        ]),
        Lang::Kk => *rng.pick(&[
            "Бірнеше күн өтті, әлі жауап жоқ. Қарауды жеделдетуіңізді сұраймын.",
            "Құжаттарды қайта жібердім, тексеріп көріңізші.",
            "Ақша әлі картаға түскен жоқ. Тағы қанша күту керек?",
        ]),
        Lang::En => *rng.pick(&[
            "It has been several days and there is still no answer. Please speed this up.",
            "I have sent the documents again, please check.",
            "The money has still not arrived. How much longer do I have to wait?",
        ]),
    };
    let extra = match lang {
        Lang::Ru => format!("Номер заявки на всякий случай: {}.", f.num),
        Lang::Kk => format!("Өтінім нөмірі: {}.", f.num),
        Lang::En => format!("The request number, just in case: {}.", f.num),
    };
    vec![body.to_owned(), extra]
}

/// Our acknowledgment as the player's client quotes it.
fn acknowledgment(lang: Lang, reference: &str) -> Vec<String> {
    match lang {
        Lang::Ru => vec![
            "Здравствуйте!".to_owned(),
            format!(
                "Ваше обращение {reference} зарегистрировано. Мы ответим в течение 3 рабочих дней."
            ),
            "С уважением, служба поддержки".to_owned(),
        ],
        Lang::Kk => vec![
            "Сәлеметсіз бе!".to_owned(),
            format!(
                "Сіздің өтінішіңіз {reference} тіркелді. Біз 3 жұмыс күні ішінде жауап береміз."
            ),
            "Құрметпен, қолдау қызметі".to_owned(),
        ],
        Lang::En => vec![
            "Hello,".to_owned(),
            format!(
                "Your complaint {reference} has been registered. We will reply within 3 business days."
            ),
            "Regards, support".to_owned(),
        ],
    }
}

fn attribution(style: Style, lang: Lang, to: &str) -> String {
    match (style, lang) {
        (Style::Outlook, Lang::En) => format!(
            "________________________________\nFrom: Support <{to}>\nSent: Monday, January 12, 2026 10:00 AM\nTo: player\nSubject: Complaint registered"
        ),
        (Style::Outlook, Lang::Ru) => format!(
            "-----Исходное сообщение-----\nОт: Служба поддержки <{to}>\nОтправлено: 12 января 2026 г. 10:00\nКому: player\nТема: Обращение зарегистрировано"
        ),
        (Style::Outlook, Lang::Kk) => format!(
            "Кімнен: Қолдау қызметі <{to}>\nЖіберілді: 12 қаңтар 2026 ж. 10:00\nКімге: player\nТақырып: Өтініш тіркелді"
        ),
        (Style::Yandex, _) => format!("12.01.2026, 10:00, \"Support\" <{to}>:"),
        (Style::MailRu, _) => {
            format!("Понедельник, 12 января 2026, 10:00 +05:00 от Support <{to}>:")
        }
        (Style::Apple, Lang::En) => format!("On 12 Jan 2026, at 10:00, Support <{to}> wrote:"),
        (_, Lang::Ru) => format!("пн, 12 янв. 2026 г. в 10:00, Support <{to}>:"),
        (_, Lang::Kk) => format!("дс, 12 қаң. 2026 ж. 10:00 Support <{to}> жазды:"),
        (_, Lang::En) => format!("On Mon, Jan 12, 2026 at 10:00 AM Support <{to}> wrote:"),
    }
}

fn signature(rng: &mut Rng, style: Style, lang: Lang, name: &str) -> Option<String> {
    match (style, lang) {
        (Style::Apple, Lang::En) => Some("Sent from my iPhone".to_owned()),
        (Style::Apple, Lang::Ru) => Some("Отправлено с iPhone".to_owned()),
        (Style::Apple, Lang::Kk) => Some("iPhone құрылғысынан жіберілді".to_owned()),
        (Style::MailRu, _) if rng.chance(50) => {
            Some("Отправлено из мобильной Почты Mail.ru".to_owned())
        }
        (Style::Gmail, _) if rng.chance(40) => Some(format!(
            "-- \n{name}\n+7 70{} {:03} {:02} {:02}",
            rng.below(10),
            rng.below(1000),
            rng.below(100),
            rng.below(100)
        )),
        _ => None,
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const OUTLOOK_STYLE: &str = "<style><!--\n/* Font Definitions */\n@font-face\n\t{font-family:\"Cambria Math\";\n\tpanose-1:2 4 5 3 5 4 6 3 2 4;}\n@font-face\n\t{font-family:Calibri;\n\tpanose-1:2 15 5 2 2 2 4 3 2 4;}\n/* Style Definitions */\np.MsoNormal, li.MsoNormal, div.MsoNormal\n\t{margin:0cm;\n\tfont-size:11.0pt;\n\tfont-family:\"Calibri\",sans-serif;\n\tmso-fareast-language:EN-US;}\na:link, span.MsoHyperlink\n\t{mso-style-priority:99;\n\tcolor:#0563C1;\n\ttext-decoration:underline;}\nspan.EmailStyle17\n\t{mso-style-type:personal-compose;\n\tfont-family:\"Calibri\",sans-serif;\n\tcolor:windowtext;}\n.MsoChpDefault\n\t{mso-style-type:export-only;\n\tfont-family:\"Calibri\",sans-serif;\n\tmso-fareast-language:EN-US;}\n@page WordSection1\n\t{size:612.0pt 792.0pt;\n\tmargin:2.0cm 42.5pt 2.0cm 3.0cm;}\ndiv.WordSection1\n\t{page:WordSection1;}\n--></style><!--[if gte mso 9]><xml>\n<o:shapedefaults v:ext=\"edit\" spidmax=\"1026\" />\n</xml><![endif]--><!--[if gte mso 9]><xml>\n<o:shapelayout v:ext=\"edit\">\n<o:idmap v:ext=\"edit\" data=\"1\" />\n</o:shapelayout></xml><![endif]-->";

/// The HTML alternative of a body made of the player's paragraphs, a signature and a quote.
fn html_body(
    style: Style,
    own: &[String],
    signature: Option<&str>,
    quote: Option<(&str, &[String])>,
) -> String {
    let mut html = String::new();
    match style {
        Style::Outlook => {
            html.push_str("<html xmlns:v=\"urn:schemas-microsoft-com:vml\" xmlns:o=\"urn:schemas-microsoft-com:office:office\"><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"><meta name=\"Generator\" content=\"Microsoft Word 15 (filtered medium)\">");
            html.push_str(OUTLOOK_STYLE);
            html.push_str("</head><body lang=\"RU\" link=\"#0563C1\" vlink=\"#954F72\" style=\"word-wrap:break-word\"><div class=\"WordSection1\">");
            for p in own {
                html.push_str(&format!("<p class=\"MsoNormal\">{}<o:p></o:p></p><p class=\"MsoNormal\"><o:p>&nbsp;</o:p></p>", escape_html(p)));
            }
            if let Some((attribution, lines)) = quote {
                html.push_str("<div style=\"border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm\"><p class=\"MsoNormal\">");
                let parts: Vec<String> = attribution
                    .lines()
                    .filter(|l| !l.starts_with("---") && !l.starts_with("___"))
                    .map(|l| match l.split_once(": ") {
                        Some((k, v)) => format!("<b>{}:</b> {}", escape_html(k), escape_html(v)),
                        None => escape_html(l),
                    })
                    .collect();
                html.push_str(&parts.join("<br>"));
                html.push_str("<o:p></o:p></p></div><p class=\"MsoNormal\"><o:p>&nbsp;</o:p></p>");
                for l in lines {
                    html.push_str(&format!(
                        "<p class=\"MsoNormal\">{}<o:p></o:p></p>",
                        escape_html(l)
                    ));
                }
            }
            html.push_str("</div></body></html>");
        }
        _ => {
            html.push_str("<div dir=\"ltr\">");
            for p in own {
                html.push_str(&format!("<div>{}</div><div><br></div>", escape_html(p)));
            }
            if let Some(sig) = signature {
                html.push_str("<div class=\"gmail_signature\" data-smartmail=\"gmail_signature\">");
                let lines: Vec<String> = sig
                    .lines()
                    .filter(|l| *l != "-- ")
                    .map(escape_html)
                    .collect();
                html.push_str(&lines.join("<br>"));
                html.push_str("</div>");
            }
            html.push_str("</div>");
            if let Some((attribution, lines)) = quote {
                html.push_str(&format!("<br><div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">{}<br></div><blockquote class=\"gmail_quote\" style=\"margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex\">", escape_html(attribution)));
                let quoted: Vec<String> = lines.iter().map(|l| escape_html(l)).collect();
                html.push_str(&quoted.join("<br>"));
                html.push_str("</blockquote></div>");
            }
        }
    }
    html.push('\n');
    html
}

fn plain_body(
    own: &[String],
    signature: Option<&str>,
    quote: Option<(&str, &[String])>,
    quote_prefix: bool,
) -> String {
    let mut text = own.join("\n\n");
    if let Some(sig) = signature {
        text.push_str("\n\n");
        text.push_str(sig);
    }
    if let Some((attribution, lines)) = quote {
        text.push_str("\n\n");
        text.push_str(attribution);
        text.push_str("\n\n");
        for l in lines {
            if quote_prefix {
                text.push_str("> ");
            }
            text.push_str(l);
            text.push('\n');
        }
    }
    text.push('\n');
    text.replace('\n', "\r\n")
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() * 4 / 3 + data.len() / 57 * 2 + 4);
    for (i, chunk) in data.chunks(3).enumerate() {
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
                A[((n >> (18 - 6 * k)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

fn quoted_printable(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 2);
    let mut line = 0;
    for (i, &b) in data.iter().enumerate() {
        if b == b'\r' {
            continue;
        }
        if b == b'\n' {
            out.push_str("\r\n");
            line = 0;
            continue;
        }
        let next_is_break = matches!(data.get(i + 1), Some(b'\r' | b'\n') | None);
        let piece =
            if b == b'=' || b >= 0x80 || b < 0x20 && b != b'\t' || (b == b' ' && next_is_break) {
                format!("={b:02X}")
            } else {
                (b as char).to_string()
            };
        if line + piece.len() > 73 {
            out.push_str("=\r\n");
            line = 0;
        }
        line += piece.len();
        out.push_str(&piece);
    }
    out
}

/// An RFC 2047 encoded word (B encoding) for a header value, split to keep lines short.
fn encoded_word(text: &str, charset: Charset) -> String {
    if text.is_ascii() {
        return text.to_owned();
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        chunk.push(c);
        if chunk.len() >= 30 {
            words.push(std::mem::take(&mut chunk));
        }
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| format!("=?{}?B?{}?=", charset.label(), base64(&charset.encode(w))))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

fn text_part(text: &str, subtype: &str, charset: Charset, rng: &mut Rng) -> Vec<u8> {
    let bytes = charset.encode(text);
    let cte = match charset {
        Charset::Utf8 if rng.chance(50) => "base64",
        Charset::Utf8 => "quoted-printable",
        Charset::Cp1251 if rng.chance(70) => "quoted-printable",
        Charset::Cp1251 | Charset::Koi8R => "8bit",
    };
    let mut part = format!(
        "Content-Type: text/{subtype}; charset=\"{}\"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n",
        charset.label()
    )
    .into_bytes();
    match cte {
        "base64" => part.extend(base64(&bytes).into_bytes()),
        "quoted-printable" => part.extend(quoted_printable(&bytes).into_bytes()),
        _ => part.extend(bytes),
    }
    part.extend(b"\r\n");
    part
}

fn date_header(rng: &mut Rng, i: usize) -> String {
    let base = 1_767_571_200i64; // 2026-01-05T00:00:00Z
    let seconds = base + (i as i64) * 41 + rng.below(3600) as i64;
    let offset_hours = *rng.pick(&[5i8, 5, 5, 6, 3]);
    let tz = jiff::tz::TimeZone::fixed(jiff::tz::Offset::constant(offset_hours));
    match jiff::Timestamp::from_second(seconds) {
        Ok(ts) => ts
            .to_zoned(tz)
            .strftime("%a, %d %b %Y %H:%M:%S %z")
            .to_string(),
        Err(_) => "Mon, 05 Jan 2026 10:00:00 +0500".to_owned(),
    }
}

fn attachment(rng: &mut Rng, lang: Lang, boundary: &str) -> String {
    let size = rng.range(1024, 30 * 1024);
    let (ctype, name, magic): (&str, &str, &[u8]) = match rng.below(3) {
        0 => (
            "image/png",
            if lang == Lang::En {
                "screenshot.png"
            } else {
                "скриншот.png"
            },
            b"\x89PNG\r\n\x1a\n",
        ),
        1 => ("image/jpeg", "IMG_2041.jpg", b"\xff\xd8\xff\xe0"),
        _ => (
            "application/pdf",
            if lang == Lang::En {
                "receipt.pdf"
            } else {
                "чек.pdf"
            },
            b"%PDF-1.4\n",
        ),
    };
    let mut data = magic.to_vec();
    while data.len() < size {
        data.extend_from_slice(&rng.next().to_le_bytes());
    }
    data.truncate(size);
    let disposition = if name.is_ascii() {
        format!("attachment; filename=\"{name}\"")
    } else {
        let encoded: String = name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'.' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!("attachment; filename*=utf-8''{encoded}")
    };
    format!(
        "--{boundary}\r\nContent-Type: {ctype}\r\nContent-Disposition: {disposition}\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64(&data)
    )
}

fn one(rng: &mut Rng, seed: u64, i: usize, reply_refs: &[String], to: &str) -> Vec<u8> {
    let lang = match rng.below(4) {
        0 | 1 => Lang::Ru,
        2 => Lang::Kk,
        _ => Lang::En,
    };
    let charset = match lang {
        Lang::Kk => Charset::Utf8,
        _ => match rng.below(100) {
            0..=46 => Charset::Utf8,
            47..=79 => Charset::Cp1251,
            _ => Charset::Koi8R,
        },
    };
    let style = match rng.below(10) {
        0..=3 => Style::Gmail,
        4 | 5 => Style::Outlook,
        6 => Style::Yandex,
        7 | 8 => Style::MailRu,
        _ => Style::Apple,
    };
    let person = rng.pick(people(lang));
    let domain = domain_for(rng, style);
    let from_address = format!(
        "{}{}@{domain}",
        person.local,
        if rng.chance(50) {
            rng.range(1, 99).to_string()
        } else {
            String::new()
        }
    );
    let reference =
        (!reply_refs.is_empty() && rng.chance(40)).then(|| rng.pick(reply_refs).clone());
    let auto_reply = reference.is_some() && rng.chance(5);

    let (subject, own, quote_lines) = match &reference {
        Some(r) => {
            let topic = complaint(rng, lang).0;
            let subject = if auto_reply {
                match lang {
                    Lang::Ru => format!("Автоматический ответ: [{r}] {topic}"),
                    Lang::Kk => format!("Автоматты жауап: [{r}] {topic}"),
                    Lang::En => format!("Automatic reply: [{r}] {topic}"),
                }
            } else {
                let re = if matches!(style, Style::Outlook) {
                    "RE"
                } else {
                    "Re"
                };
                format!("{re}: [{r}] {topic}")
            };
            let own = if auto_reply {
                vec![match lang {
                    Lang::Ru => "Я в отпуске до 2 февраля, отвечу по возвращении.".to_owned(),
                    Lang::Kk => "Мен 2 ақпанға дейін демалыстамын.".to_owned(),
                    Lang::En => "I am out of the office until 2 February.".to_owned(),
                }]
            } else {
                reply_text(rng, lang)
            };
            (subject, own, Some(acknowledgment(lang, r)))
        }
        None => {
            let (subject, paragraphs) = complaint(rng, lang);
            (subject, paragraphs, None)
        }
    };
    let signature = if auto_reply {
        None
    } else {
        signature(rng, style, lang, person.name)
    };
    let attribution_text = attribution(style, lang, to);
    let quote = quote_lines
        .as_ref()
        .filter(|_| !auto_reply)
        .map(|l| (attribution_text.as_str(), l.as_slice()));
    let quote_prefix = !matches!(style, Style::Outlook);
    let plain = plain_body(&own, signature.as_deref(), quote, quote_prefix);

    let shape = rng.below(100);
    let with_attachment = !auto_reply && rng.chance(10);
    let body_kind = if auto_reply || matches!(style, Style::Apple) && shape < 80 || shape < 40 {
        0 // plain only
    } else if shape < 88 {
        1 // multipart/alternative
    } else {
        2 // HTML only
    };
    let html_charset = if body_kind == 2 && charset == Charset::Koi8R {
        Charset::Cp1251
    } else {
        charset
    };
    let body = match body_kind {
        0 => text_part(&plain, "plain", charset, rng),
        1 => {
            let boundary = format!("000000000000{:012x}", rng.next() & 0xFFFF_FFFF_FFFF);
            let html = html_body(style, &own, signature.as_deref(), quote);
            let mut body =
                format!("Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n")
                    .into_bytes();
            body.extend(text_part(&plain, "plain", charset, rng));
            body.extend(format!("--{boundary}\r\n").into_bytes());
            body.extend(text_part(&html, "html", charset, rng));
            body.extend(format!("--{boundary}--\r\n").into_bytes());
            body
        }
        _ => text_part(
            &html_body(style, &own, signature.as_deref(), quote),
            "html",
            html_charset,
            rng,
        ),
    };
    let body = if with_attachment {
        let boundary = format!("mixed_{:016x}", rng.next());
        let mut mixed = format!(
            "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n"
        )
        .into_bytes();
        mixed.extend(body);
        mixed.extend(attachment(rng, lang, &boundary).into_bytes());
        mixed.extend(format!("--{boundary}--\r\n").into_bytes());
        mixed
    } else {
        body
    };

    let mut headers = String::new();
    headers.push_str(&format!("Received: from mail-{i}.{domain} ([203.0.113.{}])\r\n\tby mx.ombuds.local with ESMTPS; {}\r\n", rng.range(1, 254), date_header(rng, i)));
    headers.push_str(&format!(
        "Received: by mail-{i}.{domain} with SMTP id {:x}; {}\r\n",
        rng.next(),
        date_header(rng, i)
    ));
    // Every real sender signs: a DKIM signature alone is about 600 bytes of header.
    let mut signature_bytes = Vec::with_capacity(256);
    while signature_bytes.len() < 256 {
        signature_bytes.extend_from_slice(&rng.next().to_le_bytes());
    }
    let signature = base64(&signature_bytes).replace("\r\n", "");
    let body_hash = base64(&rng.next().to_le_bytes().repeat(4)).replace("\r\n", "");
    headers.push_str(&format!(
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s{}; t={};\r\n\th=from:to:subject:date:message-id:mime-version;\r\n\tbh={body_hash};\r\n\tb={}\r\n\t {}\r\n\t {}\r\n\t {}\r\n",
        rng.range(2020, 2026),
        1_767_571_200 + i * 41,
        &signature[..86],
        &signature[86..172],
        &signature[172..258],
        &signature[258..]
    ));
    headers.push_str(&format!(
        "From: {} <{from_address}>\r\n",
        encoded_word(
            person.name,
            if charset == Charset::Koi8R {
                Charset::Koi8R
            } else {
                charset
            }
        )
    ));
    headers.push_str(&format!("To: {to}\r\n"));
    headers.push_str(&format!("Subject: {}\r\n", encoded_word(&subject, charset)));
    headers.push_str(&format!("Date: {}\r\n", date_header(rng, i)));
    headers.push_str(&format!(
        "Message-ID: <{seed:x}.{i}.{:x}@{domain}>\r\n",
        rng.next() & 0xFFFF_FFFF
    ));
    if reference.is_some() {
        let earlier = format!("<ombuds.{:x}@ombuds.local>", rng.next() & 0xFF_FFFF);
        headers.push_str(&format!(
            "In-Reply-To: {earlier}\r\nReferences: {earlier}\r\n"
        ));
    }
    if auto_reply {
        headers.push_str("Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\n");
    }
    match style {
        Style::Outlook => headers.push_str("X-Mailer: Microsoft Outlook 16.0\r\nThread-Index: AQHcgT1p2m3nNwq4k0eKzJm3Yv8l0Q==\r\n"),
        Style::MailRu => headers.push_str("X-Mailer: Mail.Ru Mailer 1.0\r\n"),
        Style::Yandex => headers.push_str("X-Mailer: Yamail [ http://yandex.ru ] 5.0\r\n"),
        Style::Apple => headers.push_str("X-Mailer: iPhone Mail (22C152)\r\n"),
        Style::Gmail => {}
    }
    headers.push_str("MIME-Version: 1.0\r\n");
    let mut raw = headers.into_bytes();
    raw.extend(body);
    raw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::{Automatic, Limits, parse};

    fn refs() -> Vec<String> {
        (0..5u64)
            .map(|b| ombuds_core::ComplaintRef::from_bits(b * 0x1234_5678 + 99).to_string())
            .collect()
    }

    #[test]
    fn deterministic_and_unique() {
        let a = generate(7, 50, &refs(), "complaints@bet.example.kz");
        let b = generate(7, 50, &refs(), "complaints@bet.example.kz");
        assert_eq!(a, b);
        assert_ne!(a, generate(8, 50, &refs(), "complaints@bet.example.kz"));
        let limits = Limits::default();
        let mut ids: Vec<String> = a
            .iter()
            .map(|m| parse(m, &limits).unwrap().message_id.unwrap())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 50);
    }

    #[test]
    fn parses_into_what_was_meant() {
        let refs = refs();
        let mail = generate(42, 400, &refs, "complaints@bet.example.kz");
        let limits = Limits::default();
        let (mut replies, mut autos, mut attachments, mut html, mut utf8) = (0, 0, 0, 0, 0);
        let mut sizes: Vec<usize> = Vec::new();
        for raw in &mail {
            sizes.push(raw.len());
            let m = parse(raw, &limits).unwrap();
            assert!(
                m.warnings.is_empty(),
                "{:?}\n{}",
                m.warnings,
                String::from_utf8_lossy(raw)
            );
            assert!(m.from.is_some() && !m.subject.is_empty() && !m.text.is_empty());
            assert!(
                !m.text.contains("зарегистрировано. Мы ответим"),
                "quote not trimmed:\n{}",
                m.text
            );
            assert!(
                !m.text.contains("has been registered"),
                "quote not trimmed:\n{}",
                m.text
            );
            assert!(
                !m.text.contains("тіркелді. Біз"),
                "quote not trimmed:\n{}",
                m.text
            );
            if !m.subject_refs.is_empty() {
                replies += 1;
                assert!(refs.contains(&m.subject_refs[0].to_string()));
            }
            if m.automatic == Some(Automatic::AutoReply) {
                autos += 1;
            } else {
                assert_eq!(m.automatic, None);
            }
            attachments += usize::from(!m.attachments.is_empty());
            html += usize::from(m.html);
            utf8 += usize::from(
                !String::from_utf8_lossy(raw).contains("charset=\"windows-1251\"")
                    && !String::from_utf8_lossy(raw).contains("charset=\"koi8-r\""),
            );
        }
        let pct = |n: usize| n * 100 / mail.len();
        assert!(
            (30..=50).contains(&pct(replies)),
            "replies {}%",
            pct(replies)
        );
        assert!(autos > 0 && pct(autos) <= 5, "auto-replies {autos}");
        assert!(
            (5..=16).contains(&pct(attachments)),
            "attachments {}%",
            pct(attachments)
        );
        assert!((5..=40).contains(&pct(html)), "html {}%", pct(html));
        assert!((50..=72).contains(&pct(utf8)), "utf-8 {}%", pct(utf8));
        sizes.sort_unstable();
        eprintln!(
            "sizes: min {} median {} p90 {} max {}",
            sizes[0],
            sizes[sizes.len() / 2],
            sizes[sizes.len() * 9 / 10],
            sizes[sizes.len() - 1]
        );
        assert!(sizes[0] >= 700, "smallest {}", sizes[0]);
        assert!(
            *sizes.last().unwrap() <= 48 * 1024,
            "largest {}",
            sizes.last().unwrap()
        );
    }

    #[test]
    fn without_refs_only_new_complaints() {
        for raw in generate(3, 60, &[], "c@x.kz") {
            let m = parse(&raw, &Limits::default()).unwrap();
            assert!(m.subject_refs.is_empty() && m.in_reply_to.is_empty());
            assert_eq!(m.automatic, None);
        }
    }
}
