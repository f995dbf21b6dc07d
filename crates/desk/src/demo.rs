//! Demo data: a realistic set of complaints from a betting operator's players, written in
//! Russian, Kazakh and English, spread over every status, with the agents who work them.
//! `ombuds serve --demo` loads it on first start.
//!
//! Everything goes through the desk's one write path: complaints are registered as the system
//! and then worked by an administrator with the same commands an agent would send, so the
//! event chain, the thread messages and the outbox jobs are all real.
//!
//! The data set is a pure function of the seed (and of today's date, which the texts mention),
//! drawn with a small SplitMix64 generator so it does not depend on any crate's algorithm.

use crate::{CommandInput, Desk, DeskError, NewAgent, PageRequest, Result};
use futures_util::StreamExt;
use ombuds_core::*;
use std::collections::{BTreeSet, HashSet};
use uuid::Uuid;

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "demo-password-1";

/// The jobs that mail a player or an agent; loading the demo settles them unsent.
pub const NOTICE_JOBS: &[&str] = &["acknowledge", "deliver_message", "notify_resolved", "notify_staff", ombuds_store::TRACK_ACCESS_JOB];

/// How many complaints are worked at once after registration.
const CONCURRENCY: usize = 8;

/// What `load` put into the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoSummary {
    /// Complaints registered.
    pub complaints: usize,
    /// Demo agents created by this call (existing logins are left alone and not counted).
    pub agents: usize,
}

/// Loads a realistic data set of `count` complaints. Idempotent-ish: when the store already
/// holds complaints it does nothing and returns `Ok(None)`.
///
/// Seeds the default departments, creates about eight demo agents (password
/// [`DEMO_PASSWORD`]), registers the complaints and then works them into every status with
/// an administrator's principal (the first active admin, or a new `demo.admin`).
pub async fn load(desk: &Desk, count: usize, seed: u64) -> Result<Option<DemoSummary>> {
    let first = PageRequest { after: None, limit: 1 };
    if !desk.store().list_complaints(&Default::default(), &Visibility::All, first).await?.items.is_empty() {
        return Ok(None);
    }
    desk.seed_departments().await?;
    let departments: BTreeSet<String> =
        desk.departments().await?.iter().filter(|d| d.active).map(|d| d.code.as_str().to_string()).collect();
    let created = create_agents(desk, &departments).await?;
    let admin = Principal::Agent(admin(desk).await?);
    let mut staff: Vec<Agent> = desk.agents().await?.into_iter().filter(|a| a.active && a.role != Role::Admin).collect();
    staff.sort_by(|a, b| a.login.cmp(&b.login));

    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(5))).date();
    let plans = Planner::new(seed, today, &departments, &staff).plan(count);

    // Registered one by one, so the list shows them in plan order; then worked concurrently
    // (each complaint's commands in order), which lets the store batch the commits.
    let mut registered = Vec::with_capacity(plans.len());
    for plan in plans {
        let c = desk.register_as(Actor::System, "demo".into(), plan.registration, None).await?.complaint;
        registered.push((c.reference, plan.script));
    }
    let complaints = registered.len();
    let mut work = futures_util::stream::iter(registered)
        .map(|(reference, script)| {
            let (desk, admin) = (desk.clone(), admin.clone());
            async move {
                for cmd in script {
                    desk.apply(&admin, &reference, cmd).await?;
                }
                Ok::<_, DeskError>(())
            }
        })
        .buffer_unordered(CONCURRENCY);
    while let Some(done) = work.next().await {
        done?;
    }
    // The demo's players and agents are made up: nothing it caused is mailed (SLA timers stay).
    desk.store().settle_pending_jobs(NOTICE_JOBS, "demo data: not sent").await?;
    Ok(Some(DemoSummary { complaints, agents: created }))
}

// ==================================================================== agents

struct DemoAgent {
    login: &'static str,
    name: &'static str,
    role: Role,
    departments: &'static [&'static str],
    languages: &'static [Language],
}

static AGENTS: &[DemoAgent] = &[
    DemoAgent {
        login: "a.nurlanova",
        name: "Айгерім Нұрланова",
        role: Role::Supervisor,
        departments: &["payments", "verification"],
        languages: &[Language::Ru, Language::Kk],
    },
    DemoAgent {
        login: "d.ivanov",
        name: "Дмитрий Иванов",
        role: Role::Supervisor,
        departments: &["bet_settlement", "bonuses"],
        languages: &[Language::Ru, Language::En],
    },
    DemoAgent {
        login: "e.zhaksylykov",
        name: "Ерлан Жақсылықов",
        role: Role::Agent,
        departments: &["payments"],
        languages: &[Language::Ru, Language::Kk],
    },
    DemoAgent {
        login: "m.kim",
        name: "Марина Ким",
        role: Role::Agent,
        departments: &["verification", "security"],
        languages: &[Language::Ru, Language::En],
    },
    DemoAgent {
        login: "a.bekov",
        name: "Арман Беков",
        role: Role::Agent,
        departments: &["bet_settlement"],
        languages: &[Language::Ru, Language::Kk, Language::En],
    },
    DemoAgent {
        login: "g.toktarova",
        name: "Гүлнұр Тоқтарова",
        role: Role::Agent,
        departments: &["bonuses", "responsible_gaming"],
        languages: &[Language::Kk, Language::Ru],
    },
    DemoAgent {
        login: "i.petrov",
        name: "Игорь Петров",
        role: Role::Agent,
        departments: &["technical", "security"],
        languages: &[Language::Ru, Language::En],
    },
    DemoAgent {
        login: "d.omarov",
        name: "Данияр Омаров",
        role: Role::Agent,
        departments: &["technical", "responsible_gaming", "payments"],
        languages: &[Language::Kk, Language::Ru, Language::En],
    },
];

fn agent_email(login: &str) -> Option<EmailAddress> {
    EmailAddress::parse(&format!("{login}@support.example")).ok()
}

/// Creates the demo agents that do not exist yet; returns how many were created.
async fn create_agents(desk: &Desk, known: &BTreeSet<String>) -> Result<usize> {
    let mut created = 0;
    for a in AGENTS {
        let departments: BTreeSet<DepartmentCode> = a
            .departments
            .iter()
            .filter(|d| known.contains(**d))
            .map(|d| DepartmentCode::parse(d).expect("static department code"))
            .collect();
        let new = NewAgent {
            login: a.login.into(),
            name: PersonName::parse(a.name).expect("static name"),
            email: agent_email(a.login),
            role: a.role,
            departments,
            languages: a.languages.iter().copied().collect(),
            password: Some(DEMO_PASSWORD.into()),
            skills: Default::default(),
            capacity: None,
        };
        match desk.add_agent(None, new).await {
            Ok(_) => created += 1,
            Err(DeskError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(created)
}

/// The administrator the demo works complaints as: the first active one, or `demo.admin`.
async fn admin(desk: &Desk) -> Result<Agent> {
    let find = |agents: Vec<Agent>| {
        let mut admins: Vec<Agent> = agents.into_iter().filter(|a| a.active && a.role == Role::Admin).collect();
        admins.sort_by(|a, b| a.login.cmp(&b.login));
        admins.into_iter().next()
    };
    if let Some(a) = find(desk.agents().await?) {
        return Ok(a);
    }
    let new = NewAgent {
        login: "demo.admin".into(),
        name: PersonName::parse("Demo Administrator").expect("static name"),
        email: agent_email("demo.admin"),
        role: Role::Admin,
        departments: BTreeSet::new(),
        languages: Language::ALL.iter().copied().collect(),
        password: Some(DEMO_PASSWORD.into()),
        skills: Default::default(),
        capacity: None,
    };
    match desk.add_agent(None, new).await {
        Ok((a, _)) => Ok(a),
        Err(DeskError::Conflict(_)) => {
            find(desk.agents().await?).ok_or_else(|| DeskError::Conflict("no active administrator to load demo data with".into()))
        }
        Err(e) => Err(e),
    }
}

// ==================================================================== texts

/// One text in the three languages.
struct L3 {
    ru: &'static str,
    kk: &'static str,
    en: &'static str,
}

const fn l3(ru: &'static str, kk: &'static str, en: &'static str) -> L3 {
    L3 { ru, kk, en }
}

impl L3 {
    fn get(&self, lang: Language) -> &'static str {
        match lang {
            Language::Ru => self.ru,
            Language::Kk => self.kk,
            Language::En => self.en,
        }
    }
}

/// A kind of case players bring, with what the desk says and does about it.
///
/// Placeholders: `{amount}` `{half}` `{bonus}` `{limit}` (money in the player's currency),
/// `{date}` `{days}` (a recent day and how long ago), `{method}` `{card}` `{tx}` `{bet}`,
/// `{match}` `{team}` `{score}` `{odds}` `{big_odds}`, `{doc}` `{reason}` `{period}` `{city}`
/// `{device}` `{version}` `{spouse}`, and in Russian `{а}`, the feminine past-tense ending.
struct Scenario {
    department: &'static str,
    category: &'static str,
    kind: Kind,
    priority: Priority,
    /// How often it comes up, relative to the others.
    weight: u32,
    tag: &'static str,
    subject: L3,
    description: L3,
    /// The desk asks the player for something (RequestInformation), and the player answers.
    ask: L3,
    reply: L3,
    /// The desk proposes a way out (ProposeSolution).
    offer: L3,
    /// What the operator did, and the outcome as told to the player (Resolve).
    measures: L3,
    result: L3,
    /// What an agent writes in the internal notes.
    note: L3,
}

static SCENARIOS: &[Scenario] = &[
    Scenario {
        department: "payments",
        category: "withdrawal_delay",
        kind: Kind::Complaint,
        priority: Priority::High,
        weight: 12,
        tag: "withdrawal",
        subject: l3("Не пришёл вывод {amount}", "Шығарылған {amount} әлі түскен жоқ", "Withdrawal of {amount} still not received"),
        description: l3(
            "{date} заказал{а} вывод {amount} через {method}, заявка № {tx}. Прошло уже {days}, в личном кабинете статус «В обработке», а деньги так и не поступили. Верификацию прошёл{а} давно, раньше выводы приходили за пару часов.",
            "{date} күні {method} арқылы {amount} шығаруға өтінім бердім, өтінім нөмірі {tx}. Содан бері {days} өтті, жеке кабинетте «Өңделуде» деп тұр, ақша әлі түскен жоқ. Верификациядан баяғыда өткенмін, бұрын ақша бірнеше сағатта келетін.",
            "On {date} I requested a withdrawal of {amount} via {method} (request #{tx}). It has been {days} and my account still shows the status \"Processing\". I'm fully verified, and previous withdrawals arrived within a couple of hours.",
        ),
        ask: l3(
            "Уточните, пожалуйста, последние четыре цифры карты или номер кошелька, на который заказан вывод, и пришлите скриншот заявки из личного кабинета.",
            "Ақша шығарылатын картаның соңғы төрт санын немесе әмиян нөмірін көрсетіп, жеке кабинеттегі өтінімнің скриншотын жіберіңізші.",
            "Could you confirm the last four digits of the card or the wallet number the withdrawal was sent to, and send us a screenshot of the request from your account?",
        ),
        reply: l3(
            "Вывод шёл через {method}, скриншот заявки отправил{а} в чат.",
            "{method} арқылы шығардым, өтінімнің скриншотын чатқа жібердім.",
            "The withdrawal went via {method}; I've sent a screenshot of the request in the chat.",
        ),
        offer: l3(
            "Платёж завис на стороне провайдера. Можем отменить заявку и вернуть {amount} на игровой счёт, чтобы вы заказали вывод заново другим способом. Вам подходит такой вариант?",
            "Төлем провайдер жағында тұрып қалды. Өтінімді жойып, {amount} ойын шотыңызға қайтара аламыз, содан кейін басқа тәсілмен қайта шығаруға болады. Бұл нұсқа сізге ыңғайлы ма?",
            "The payment is stuck on the provider's side. We can cancel the request and return {amount} to your gaming balance so you can withdraw again using another method. Would that work for you?",
        ),
        measures: l3(
            "Заявка № {tx} повторно отправлена платёжному провайдеру вручную, провайдер подтвердил выплату.",
            "№ {tx} өтінім төлем провайдеріне қолмен қайта жіберілді, провайдер төлемді растады.",
            "Request #{tx} was resubmitted to the payment provider manually; the provider confirmed the payout.",
        ),
        result: l3(
            "Вывод {amount} выполнен, деньги поступят в течение 1–2 часов. Приносим извинения за задержку.",
            "{amount} шығарылды, ақша 1–2 сағат ішінде түседі. Кешіктіргеніміз үшін кешірім сұраймыз.",
            "Your withdrawal of {amount} has been paid out and should arrive within 1–2 hours. We apologise for the delay.",
        ),
        note: l3(
            "Проверил в бэк-офисе: выплата у провайдера в статусе pending, написал в их поддержку.",
            "Бэк-офисте тексердім: төлем провайдерде pending күйінде тұр, олардың қолдау қызметіне жаздым.",
            "Checked the back office: the payout is pending at the provider; I've written to their support.",
        ),
    },
    Scenario {
        department: "payments",
        category: "deposit_not_credited",
        kind: Kind::Complaint,
        priority: Priority::High,
        weight: 8,
        tag: "deposit",
        subject: l3(
            "Деньги списались, но не зачислились на баланс",
            "Ақша картадан алынды, бірақ балансқа түспеді",
            "Deposit taken from my card but not credited",
        ),
        description: l3(
            "{date} пополнил{а} счёт на {amount} через {method}. Деньги с карты списались, а на игровой баланс так и не пришли. Номер операции в банке — {tx}. Прошу зачислить депозит или вернуть деньги.",
            "{date} күні {method} арқылы шотыма {amount} салдым. Картадан ақша алынды, бірақ ойын балансына түспеді. Банктегі операция нөмірі — {tx}. Ақшаны балансқа түсіруіңізді немесе қайтаруыңызды сұраймын.",
            "On {date} I deposited {amount} via {method}. The money was taken from my card but never showed up in my betting balance. The bank's transaction reference is {tx}. Please credit the deposit or refund it.",
        ),
        ask: l3(
            "Пришлите, пожалуйста, квитанцию или выписку из банка, где видно списание {amount} и номер операции.",
            "{amount} алынғаны және операция нөмірі көрінетін түбіртекті немесе банк үзіндісін жіберіңізші.",
            "Please send us the receipt or a bank statement showing the {amount} charge and the transaction reference.",
        ),
        reply: l3(
            "Выписку из банка приложил{а}, там видно списание и номер операции {tx}.",
            "Банк үзіндісін тіркедім, онда ақшаның алынғаны және {tx} операция нөмірі көрінеді.",
            "I've attached the bank statement; it shows the charge and the transaction reference {tx}.",
        ),
        offer: l3(
            "Провайдер подтвердил, что платёж до нас не дошёл. Можем оформить возврат {amount} на карту (3–5 рабочих дней) или зачислить сумму на игровой баланс сразу после подтверждения. Как вам удобнее?",
            "Провайдер төлемнің бізге жетпегенін растады. {amount} картаңызға қайтаруды рәсімдей аламыз (3–5 жұмыс күні) немесе растау келген соң бірден ойын балансына түсіреміз. Сізге қайсысы ыңғайлы?",
            "The provider confirmed that the payment never reached us. We can refund {amount} to your card (3–5 business days) or credit it to your balance as soon as it is confirmed. Which do you prefer?",
        ),
        measures: l3(
            "Платёж {tx} найден в реестре провайдера и зачислен на игровой счёт вручную.",
            "{tx} төлемі провайдер тізілімінен табылып, ойын шотына қолмен түсірілді.",
            "Payment {tx} was found in the provider's register and credited to the gaming account manually.",
        ),
        result: l3(
            "Депозит {amount} зачислен на ваш баланс. Спасибо за терпение!",
            "{amount} депозит балансыңызға түсірілді. Шыдамдылығыңызға рақмет!",
            "Your deposit of {amount} has been credited to your balance. Thank you for your patience!",
        ),
        note: l3(
            "Платёж есть в выписке банка, но в нашем реестре его нет. Запросил сверку у провайдера.",
            "Төлем банк үзіндісінде бар, бірақ біздің тізілімде жоқ. Провайдерден салыстыру сұрадым.",
            "The payment is on the bank statement but not in our register. Asked the provider for a reconciliation.",
        ),
    },
    Scenario {
        department: "payments",
        category: "withdrawal_rejected",
        kind: Kind::Complaint,
        priority: Priority::Normal,
        weight: 5,
        tag: "withdrawal",
        subject: l3("Отклоняют вывод на новую карту", "Жаңа картаға шығаруды қабылдамай жатыр", "Withdrawal to my new card rejected"),
        description: l3(
            "Пытаюсь вывести {amount} на карту {card}, но заявку отклоняют с причиной «Вывод возможен только на реквизиты пополнения». Карту, с которой пополнял{а}, я закрыл{а} и перевыпустил{а}. Как мне теперь получить свои деньги?",
            "{card} картасына {amount} шығаруға тырысып жүрмін, бірақ өтінім «Ақшаны тек шот толтырылған реквизиттерге шығаруға болады» деген себеппен қабылданбайды. Шотты толтырған картамды жауып, жаңасын шығарттым. Енді ақшамды қалай аламын?",
            "I'm trying to withdraw {amount} to my card {card}, but the request keeps being rejected with \"Withdrawals are only possible to the deposit method\". The card I deposited with has been closed and reissued. How do I get my money now?",
        ),
        ask: l3(
            "Пришлите, пожалуйста, справку из банка о закрытии старой карты и фото новой карты, на котором видны только первые 6 и последние 4 цифры.",
            "Ескі картаның жабылғаны туралы банктен анықтама және жаңа картаның суретін жіберіңізші, суретте тек алғашқы 6 және соңғы 4 сан көрінсін.",
            "Please send a letter from your bank confirming the old card was closed and a photo of the new card showing only the first 6 and last 4 digits.",
        ),
        reply: l3(
            "Справку из банка и фото карты отправил{а} на почту.",
            "Банк анықтамасы мен картаның суретін поштаға жібердім.",
            "I've e-mailed the bank letter and a photo of the card.",
        ),
        offer: l3(
            "После подтверждения из банка можем привязать карту {card} как реквизиты для вывода, и вывод {amount} пройдёт в обычном порядке. Согласны?",
            "Банктен растау келген соң {card} картасын шығару реквизиті ретінде байлай аламыз, сонда {amount} әдеттегідей шығарылады. Келісесіз бе?",
            "Once the bank confirms, we can link the card {card} as your withdrawal method and the {amount} withdrawal will go through as usual. Is that OK?",
        ),
        measures: l3(
            "После проверки справки из банка карта {card} привязана как реквизиты для вывода, заявка проведена повторно.",
            "Банк анықтамасы тексерілгеннен кейін {card} картасы шығару реквизиті ретінде байланды, өтінім қайта өткізілді.",
            "After checking the bank letter, the card {card} was linked as the withdrawal method and the request was processed again.",
        ),
        result: l3(
            "Вывод {amount} на новую карту одобрен. Теперь вы можете выводить на неё средства без ограничений.",
            "{amount} жаңа картаға шығару мақұлданды. Енді ақшаны оған шектеусіз шығара аласыз.",
            "The withdrawal of {amount} to your new card has been approved. You can now withdraw to it without restrictions.",
        ),
        note: l3(
            "Старая карта действительно закрыта, новая оформлена на то же ФИО. Можно привязывать после справки.",
            "Ескі карта шынымен жабылған, жаңасы сол аты-жөнге рәсімделген. Анықтама келген соң байлауға болады.",
            "The old card is indeed closed and the new one is in the same name. OK to link once the bank letter arrives.",
        ),
    },
    Scenario {
        department: "verification",
        category: "document_rejected",
        kind: Kind::Complaint,
        priority: Priority::Normal,
        weight: 9,
        tag: "kyc",
        subject: l3(
            "Третий раз отклоняют документы на верификацию",
            "Құжаттарымды үшінші рет қабылдамай жатыр",
            "Verification documents rejected for the third time",
        ),
        description: l3(
            "Загрузил{а} {doc} уже три раза, и каждый раз верификацию отклоняют с причиной {reason}. Фото чёткое, все четыре угла видно, данные совпадают с профилем. Из-за этого не могу вывести выигрыш {amount}.",
            "Жеке басымды растау үшін {doc} суретін үш рет жүктедім, әр жолы верификация {reason} деген себеппен қабылданбайды. Сурет анық, төрт бұрышы да көрініп тұр, деректер профильмен сәйкес. Осының кесірінен {amount} ұтысымды шығара алмай отырмын.",
            "I have uploaded my {doc} three times now and every time verification is rejected with the reason {reason}. The photo is sharp, all four corners are visible and the details match my profile. Because of this I can't withdraw my winnings of {amount}.",
        ),
        ask: l3(
            "Пожалуйста, сделайте селфи с документом в руке при дневном свете и загрузите его вместе с фото документа в формате JPG или PDF.",
            "Құжатты қолыңызда ұстап, күндізгі жарықта селфи түсіріп, оны құжаттың суретімен бірге JPG немесе PDF форматында жүктеңізші.",
            "Please take a selfie holding the document in daylight and upload it together with a photo of the document as JPG or PDF.",
        ),
        reply: l3(
            "Загрузил{а} селфи с документом, как вы просили.",
            "Сұрағандарыңыздай, құжатпен селфи жүктедім.",
            "I've uploaded the selfie with the document as you asked.",
        ),
        offer: l3(
            "Можем провести верификацию по видеозвонку — это займёт около 5 минут. Подскажите удобное время, и специалист вам позвонит.",
            "Верификацияны бейнеқоңырау арқылы өткізе аламыз, бұл шамамен 5 минут алады. Ыңғайлы уақытты айтыңыз, маман сізге хабарласады.",
            "We can do the verification over a video call; it takes about 5 minutes. Let us know a convenient time and a specialist will call you.",
        ),
        measures: l3(
            "Документы проверены вручную старшим специалистом, отказ автоматической системы отменён.",
            "Құжаттарды аға маман қолмен тексерді, автоматты жүйенің бас тартуы күшін жойды.",
            "The documents were checked manually by a senior specialist and the automatic rejection was overturned.",
        ),
        result: l3(
            "Ваш аккаунт верифицирован, вывод средств доступен. Извините за неудобства.",
            "Аккаунтыңыз верификациядан өтті, ақша шығару қолжетімді. Қолайсыздық үшін кешірім сұраймыз.",
            "Your account is now verified and withdrawals are available. Sorry for the inconvenience.",
        ),
        note: l3(
            "Фото документа с бликом, но читаемо. ИИН сверил с профилем — совпадает.",
            "Құжат суретінде жарқыл бар, бірақ оқылады. ЖСН-ді профильмен салыстырдым — сәйкес.",
            "The document photo has glare but is readable. The IIN matches the profile.",
        ),
    },
    Scenario {
        department: "verification",
        category: "account_blocked",
        kind: Kind::Complaint,
        priority: Priority::Urgent,
        weight: 6,
        tag: "blocked",
        subject: l3(
            "Заблокировали аккаунт с деньгами на балансе",
            "Балансында ақшасы бар аккаунтымды бұғаттап тастады",
            "Account blocked with money on the balance",
        ),
        description: l3(
            "{date} мой аккаунт заблокировали без объяснения причин, на балансе осталось {amount}. В письме написано «нарушение правил, мультиаккаунтинг», но у меня только один аккаунт, а с этого же телефона иногда заходит {spouse} под своим. Прошу разблокировать.",
            "{date} күні аккаунтымды себебін түсіндірмей бұғаттап тастады, балансымда {amount} қалды. Хатта «ережені бұзу, мультиаккаунт» деп жазылған, бірақ менде бір ғана аккаунт бар, бұл телефоннан кейде {spouse} өз аккаунтына кіреді. Бұғаттан шығаруыңызды сұраймын.",
            "On {date} my account was blocked without any explanation, with {amount} left on the balance. The e-mail says \"breach of terms, multiple accounts\", but I only have one account; {spouse} sometimes logs into a separate account on the same phone. Please unblock it.",
        ),
        ask: l3(
            "Для проверки пришлите, пожалуйста, фото удостоверения личности и укажите логин второго аккаунта, который используется на этом устройстве.",
            "Тексеру үшін жеке куәлігіңіздің суретін жіберіп, осы құрылғыда қолданылатын екінші аккаунттың логинін көрсетіңізші.",
            "For the review, please send a photo of your ID and tell us the login of the second account used on this device.",
        ),
        reply: l3(
            "Фото удостоверения отправил{а}. Второй аккаунт принадлежит члену семьи, логин написал{а} в чат.",
            "Куәліктің суретін жібердім. Екінші аккаунт отбасы мүшесіне тиесілі, логинін чатқа жаздым.",
            "I've sent the ID photo. The second account belongs to a family member; I've put the login in the chat.",
        ),
        offer: l3(
            "Проверка не подтвердила нарушение. Готовы разблокировать аккаунт при условии, что второй аккаунт пройдёт отдельную верификацию. Подходит?",
            "Тексеріс ереже бұзылғанын растамады. Екінші аккаунт жеке верификациядан өтсе, сіздің аккаунтыңызды бұғаттан шығаруға дайынбыз. Келісесіз бе?",
            "The review found no breach. We are ready to unblock your account provided the second account passes its own verification. Is that acceptable?",
        ),
        measures: l3(
            "Служба безопасности проверила устройства и платёжные реквизиты: признаков мультиаккаунтинга нет, блокировка снята.",
            "Қауіпсіздік қызметі құрылғылар мен төлем реквизиттерін тексерді: мультиаккаунт белгілері жоқ, бұғат алынды.",
            "Security reviewed the devices and payment details and found no sign of multiple accounts; the block was lifted.",
        ),
        result: l3(
            "Аккаунт разблокирован, баланс {amount} доступен для игры и вывода.",
            "Аккаунт бұғаттан шығарылды, балансыңыздағы {amount} ойнауға және шығаруға қолжетімді.",
            "Your account has been unblocked and the balance of {amount} is available for betting and withdrawal.",
        ),
        note: l3(
            "На том же устройстве есть второй аккаунт, передал в СБ на проверку.",
            "Дәл сол құрылғыда екінші аккаунт бар, қауіпсіздік қызметіне тексеруге бердім.",
            "There is a second account on the same device; passed to security for review.",
        ),
    },
    Scenario {
        department: "bet_settlement",
        category: "wrong_settlement",
        kind: Kind::Complaint,
        priority: Priority::High,
        weight: 10,
        tag: "settlement",
        subject: l3("Ставка № {bet} рассчитана неверно", "№ {bet} бәс қате есептелді", "Bet #{bet} settled incorrectly"),
        description: l3(
            "Ставка № {bet}: {amount} на победу команды «{team}» в матче {match}, коэффициент {odds}. Итог матча — {score} в пользу команды «{team}», а ставка рассчитана как проигрышная. Прошу пересчитать и начислить выигрыш.",
            "№ {bet} бәс: {match} матчында «{team}» командасының жеңісіне {amount}, коэффициент {odds}. Матч {score} есебімен «{team}» пайдасына аяқталды, ал бәсім ұтылды деп есептелді. Қайта есептеп, ұтысымды беруіңізді сұраймын.",
            "Bet #{bet}: {amount} on {team} to win in {match} at odds of {odds}. The match ended {score} to {team}, but my bet was settled as lost. Please resettle it and pay out my winnings.",
        ),
        ask: l3(
            "Уточните, пожалуйста, ставка была на основное время или с учётом овертайма и серии пенальти? Если можете, пришлите скриншот купона.",
            "Бәс негізгі уақытқа қойылды ма, әлде овертайм мен пенальти сериясын қоса ма, нақтылап беріңізші. Мүмкін болса, купонның скриншотын жіберіңіз.",
            "Could you tell us whether the bet was on regular time or included overtime and penalties? If you can, please send a screenshot of the bet slip.",
        ),
        reply: l3(
            "Ставка была на основное время, скриншот купона прикрепил{а}.",
            "Бәс негізгі уақытқа қойылған, купонның скриншотын тіркедім.",
            "It was on regular time; the bet slip screenshot is attached.",
        ),
        offer: l3(
            "По данным провайдера статистики результат был внесён с ошибкой. Мы пересчитаем ставку № {bet} как выигрышную и начислим выигрыш в течение часа. Подтвердите, пожалуйста, что других вопросов по купону нет.",
            "Статистика провайдерінің деректері бойынша нәтиже қате енгізілген. № {bet} бәсті ұтыс ретінде қайта есептеп, бір сағат ішінде ұтысты түсіреміз. Купон бойынша басқа сұрағыңыз жоқ екенін растаңызшы.",
            "According to the data provider, the result was entered incorrectly. We will resettle bet #{bet} as a win and pay out within an hour. Please confirm you have no other questions about this slip.",
        ),
        measures: l3(
            "Результат матча {match} исправлен в линии, ставка № {bet} пересчитана как выигрышная.",
            "{match} матчының нәтижесі желіде түзетілді, № {bet} бәс ұтыс ретінде қайта есептелді.",
            "The result of {match} was corrected in the feed and bet #{bet} was resettled as a win.",
        ),
        result: l3(
            "Выигрыш по ставке № {bet} зачислен на ваш баланс. Приносим извинения за ошибку расчёта.",
            "№ {bet} бәс бойынша ұтыс балансыңызға түсірілді. Есептеудегі қате үшін кешірім сұраймыз.",
            "The winnings from bet #{bet} have been credited to your balance. We apologise for the settlement error.",
        ),
        note: l3(
            "Провайдер фида подтвердил, что результат был внесён с ошибкой и потом исправлен.",
            "Фид провайдері нәтиженің қате енгізіліп, кейін түзетілгенін растады.",
            "The feed provider confirmed the result was entered wrongly and corrected later.",
        ),
    },
    Scenario {
        department: "bet_settlement",
        category: "cashout_dispute",
        kind: Kind::Complaint,
        priority: Priority::Normal,
        weight: 6,
        tag: "cashout",
        subject: l3("Кэшаут не сработал, ставка сгорела", "Кэшаут өтпей, бәсім күйіп кетті", "Cash-out failed and the bet lost"),
        description: l3(
            "В матче {match} на 78-й минуте нажал{а} «Продать ставку» за {amount}. Приложение показало «Обработка», а через минуту продажа отменилась с ошибкой «Коэффициенты изменились». В итоге ставка № {bet} проиграла. Считаю, что продажа должна была пройти.",
            "{match} матчында 78-минутта «Бәсті сату» батырмасын {amount} сомасына бастым. Қосымша «Өңделуде» деп көрсетті, бір минуттан кейін сату «Коэффициенттер өзгерді» қатесімен тоқтатылды. Нәтижесінде № {bet} бәсім ұтылды. Сату өтуі керек еді деп санаймын.",
            "During {match} I pressed \"Cash out\" for {amount} in the 78th minute. The app showed \"Processing\", and a minute later the cash-out was cancelled with \"Odds have changed\". Bet #{bet} then lost. I believe the cash-out should have gone through.",
        ),
        ask: l3(
            "Подскажите, пожалуйста, точное время нажатия кнопки и откуда вы делали ставку: из приложения или с сайта?",
            "Батырманы нақты қай уақытта басқаныңызды және бәсті қайдан жасағаныңызды айтыңызшы: қосымшадан ба, әлде сайттан ба?",
            "Could you tell us the exact time you pressed the button and whether you used the app or the website?",
        ),
        reply: l3(
            "Нажимал{а} примерно на 78-й минуте, ставил{а} из приложения на Android.",
            "Шамамен 78-минутта бастым, бәсті Android-тағы қосымшадан жасадым.",
            "I pressed it around the 78th minute, in the Android app.",
        ),
        offer: l3(
            "По логам запрос на продажу пришёл в момент приостановки рынка, поэтому был отклонён. В качестве жеста доброй воли можем начислить фрибет {bonus}. Устроит ли вас такое решение?",
            "Логтар бойынша сату сұранысы нарық тоқтатылған сәтте келген, сондықтан қабылданбады. Ізгі ниет ретінде {bonus} фрибет бере аламыз. Бұл шешім сізге қолайлы ма?",
            "Our logs show the cash-out request arrived while the market was suspended, so it was declined. As a goodwill gesture we can give you a {bonus} free bet. Would that be acceptable?",
        ),
        measures: l3(
            "Проверены логи кэшаута: рынок был приостановлен из-за опасной атаки. В качестве компенсации начислен фрибет {bonus}.",
            "Кэшаут логтары тексерілді: қауіпті шабуылға байланысты нарық тоқтатылған. Өтемақы ретінде {bonus} фрибет берілді.",
            "Cash-out logs checked: the market was suspended because of a dangerous attack. A {bonus} free bet was granted as compensation.",
        ),
        result: l3(
            "Отказ в продаже ставки соответствует правилам, но мы начислили вам фрибет {bonus}. Он уже доступен в разделе «Бонусы».",
            "Бәсті сатудан бас тарту ережеге сай, дегенмен сізге {bonus} фрибет бердік. Ол «Бонустар» бөлімінде қолжетімді.",
            "Declining the cash-out was in line with the rules, but we have given you a {bonus} free bet. It is already available under \"Bonuses\".",
        ),
        note: l3(
            "По логам запрос на продажу пришёл через 2 секунды после приостановки рынка.",
            "Логтар бойынша сату сұранысы нарық тоқтатылғаннан кейін 2 секундтан соң келген.",
            "Logs show the cash-out request arrived 2 seconds after the market was suspended.",
        ),
    },
    Scenario {
        department: "bet_settlement",
        category: "bet_voided",
        kind: Kind::Complaint,
        priority: Priority::Normal,
        weight: 5,
        tag: "settlement",
        subject: l3("Ставку аннулировали после выигрыша", "Ұтқан бәсімді жойып жіберді", "Winning bet voided"),
        description: l3(
            "Ставка № {bet} на матч {match} с коэффициентом {big_odds} сыграла, но вместо выплаты её аннулировали с пометкой «ошибка в коэффициенте» и вернули только {amount}. Коэффициент был в линии, я ничего не нарушал{а}. Почему так?",
            "{match} матчына {big_odds} коэффициентпен қойылған № {bet} бәсім ұтты, бірақ ұтысты төлеудің орнына оны «коэффициенттегі қате» деп жойып, тек {amount} қайтарды. Коэффициент желіде тұрған, мен ештеңе бұзған жоқпын. Неге бұлай?",
            "Bet #{bet} on {match} at odds of {big_odds} won, but instead of paying out you voided it as an \"obvious odds error\" and only returned my stake of {amount}. Those odds were on the site and I broke no rules. Why?",
        ),
        ask: l3(
            "Пришлите, пожалуйста, скриншот купона с коэффициентом и временем ставки — проверим, какая линия была опубликована в тот момент.",
            "Коэффициент пен бәс уақыты көрінетін купонның скриншотын жіберіңізші — сол сәтте қандай желі жарияланғанын тексереміз.",
            "Please send a screenshot of the slip showing the odds and the time of the bet, so we can check which line was published at that moment.",
        ),
        reply: l3(
            "Скриншот купона отправил{а}, там видно коэффициент {big_odds} и время ставки.",
            "Купонның скриншотын жібердім, онда {big_odds} коэффициенті мен бәс уақыты көрінеді.",
            "I've sent the slip screenshot; it shows the odds of {big_odds} and the time of the bet.",
        ),
        offer: l3(
            "Коэффициент {big_odds} действительно был выставлен по ошибке трейдера. Предлагаем пересчитать ставку по рыночному коэффициенту на момент её принятия. Согласны?",
            "{big_odds} коэффициенті шынымен трейдердің қатесімен қойылған. Бәсті қабылданған сәттегі нарықтық коэффициент бойынша қайта есептеуді ұсынамыз. Келісесіз бе?",
            "The odds of {big_odds} were indeed set by a trader's mistake. We propose to resettle the bet at the market odds at the time it was accepted. Do you agree?",
        ),
        measures: l3(
            "Ставка № {bet} пересчитана по рыночному коэффициенту на момент принятия, разница выплачена.",
            "№ {bet} бәс қабылданған сәттегі нарықтық коэффициент бойынша қайта есептеліп, айырмасы төленді.",
            "Bet #{bet} was resettled at the market odds at the time of acceptance and the difference was paid.",
        ),
        result: l3(
            "Ставка пересчитана, выигрыш зачислен на баланс. Спасибо, что сообщили о проблеме.",
            "Бәс қайта есептелді, ұтыс балансқа түсірілді. Мәселені хабарлағаныңызға рақмет.",
            "The bet has been resettled and the winnings credited to your balance. Thank you for reporting this.",
        ),
        note: l3(
            "Запросил у трейдинга историю коэффициентов по этому рынку и причину аннулирования.",
            "Трейдинг бөлімінен осы нарықтағы коэффициенттер тарихын және бәстің күшін жою себебін сұрадым.",
            "Asked trading for the odds history of this market and the reason for voiding.",
        ),
    },
    Scenario {
        department: "bonuses",
        category: "wagering_terms",
        kind: Kind::Complaint,
        priority: Priority::Normal,
        weight: 7,
        tag: "bonus",
        subject: l3("Аннулировали выигрыш с бонуса", "Бонустан түскен ұтысымды алып тастады", "Bonus winnings cancelled"),
        description: l3(
            "Получил{а} приветственный бонус {bonus}, отыграл{а} его, а после этого выигрыш {amount} списали с формулировкой «нарушение условий отыгрыша». Какие условия я нарушил{а}? В правилах акции об этом ничего понятного не написано.",
            "{bonus} қарсы алу бонусын алып, оны талап етілген көлемде ойнап шықтым, кейін {amount} ұтысымды «бонус шарттарын бұзу» деп алып тастады. Қай шартты бұздым? Акция ережесінде бұл туралы түсінікті ештеңе жазылмаған.",
            "I got the {bonus} welcome bonus and completed the wagering, and then my winnings of {amount} were removed for a \"breach of wagering terms\". Which term did I break? The promotion rules don't explain anything clearly.",
        ),
        ask: l3(
            "Уточните, пожалуйста, делали ли вы в период отыгрыша ставки с коэффициентом ниже 1,60 или ставки на взаимоисключающие исходы?",
            "Бонусты ойнап шығу кезінде 1,60-тан төмен коэффициентпен немесе бір-бірін жоққа шығаратын нәтижелерге бәс жасадыңыз ба, нақтылаңызшы.",
            "Could you confirm whether, while wagering the bonus, you placed bets at odds below 1.60 or on mutually exclusive outcomes?",
        ),
        reply: l3(
            "Несколько ставок были по 1,40, но о таком ограничении я не знал{а}.",
            "Бірнеше бәс 1,40 коэффициентпен жасалды, бірақ мұндай шектеу туралы білмедім.",
            "A few bets were at 1.40, but I didn't know about that restriction.",
        ),
        offer: l3(
            "Часть ставок была сделана с коэффициентом ниже 1,60 и не должна была засчитываться, но в правилах это указано неочевидно. Предлагаем вернуть половину выигрыша, {half}, на реальный баланс. Вас устроит?",
            "Бәстердің бір бөлігі 1,60-тан төмен коэффициентпен жасалған және есептелмеуі керек еді, бірақ ережеде бұл анық көрсетілмеген. Ұтыстың жартысын, яғни {half}, нақты балансқа қайтаруды ұсынамыз. Сізге қолайлы ма?",
            "Some of the bets were at odds below 1.60 and should not have counted, but the rules did not make this clear. We propose to return half of the winnings, {half}, to your real-money balance. Would that suit you?",
        ),
        measures: l3(
            "Проверена история ставок в период отыгрыша; с учётом неясной формулировки правил на реальный баланс возвращено {half}.",
            "Бонусты ойнап шығу кезеңіндегі бәстер тарихы тексерілді; ереже анық жазылмағанын ескеріп, нақты балансқа {half} қайтарылды.",
            "The betting history during wagering was reviewed; given the unclear wording of the rules, {half} was returned to the real-money balance.",
        ),
        result: l3(
            "На ваш реальный баланс зачислено {half}. Условия акции мы переписали понятнее — спасибо за замечание.",
            "Нақты балансыңызға {half} түсірілді. Акция шарттарын түсініктірек етіп қайта жаздық — ескертуіңізге рақмет.",
            "We've credited {half} to your real-money balance and rewritten the promotion terms more clearly — thanks for pointing it out.",
        ),
        note: l3(
            "Посмотрел историю ставок: часть купонов ниже минимального коэффициента.",
            "Бәстер тарихын қарадым: купондардың бір бөлігі ең төменгі коэффициенттен төмен.",
            "Looked at the bet history: some slips are below the minimum odds.",
        ),
    },
    Scenario {
        department: "bonuses",
        category: "bonus_not_credited",
        kind: Kind::Complaint,
        priority: Priority::Low,
        weight: 5,
        tag: "bonus",
        subject: l3("Не начислили кэшбэк за неделю", "Апталық кэшбэк түспеді", "Weekly cashback not credited"),
        description: l3(
            "По акции «Кэшбэк 10%» мне должны были вернуть {bonus} за прошлую неделю, но в разделе «Бонусы» пусто. Условия выполнены: проигранных ставок на {amount}, все с коэффициентом выше 1,5.",
            "«Кэшбэк 10%» акциясы бойынша өткен апта үшін маған {bonus} қайтарылуы тиіс еді, бірақ «Бонустар» бөлімі бос. Шарттарды орындадым: ұтылған бәстер сомасы {amount}, барлығы 1,5-тен жоғары коэффициентпен.",
            "Under the \"10% Cashback\" promotion I should have received {bonus} for last week, but the Bonuses section is empty. I met the conditions: {amount} in lost bets, all at odds above 1.5.",
        ),
        ask: l3(
            "Подтвердите, пожалуйста, что вы нажали «Участвовать» в акции до начала расчётной недели.",
            "Есептік апта басталмай тұрып, акцияға «Қатысу» батырмасы арқылы қосылғаныңызды растаңызшы.",
            "Please confirm that you opted in to the promotion with the \"Join\" button before the qualifying week started.",
        ),
        reply: l3(
            "Кнопку «Участвовать» не нажимал{а} — не знал{а}, что это обязательно.",
            "«Қатысу» батырмасын баспадым — бұл міндетті екенін білмедім.",
            "I didn't press \"Join\" — I didn't know it was required.",
        ),
        offer: l3(
            "Участие в акции не было активировано, но мы видим, что условия вы выполнили. В порядке исключения можем начислить кэшбэк {bonus} с отыгрышем x1. Начисляем?",
            "Акцияға қатысу қосылмаған, бірақ шарттарды орындағаныңызды көріп отырмыз. Ерекше жағдай ретінде {bonus} кэшбэкті x1 вейджермен бере аламыз. Түсірейік пе?",
            "You hadn't opted in, but we can see you met the conditions. As an exception we can credit the {bonus} cashback with x1 wagering. Shall we go ahead?",
        ),
        measures: l3(
            "Кэшбэк {bonus} начислен вручную после проверки оборота за расчётную неделю.",
            "Есептік аптадағы айналым тексерілгеннен кейін {bonus} кэшбэк қолмен берілді.",
            "Cashback of {bonus} was credited manually after checking the turnover for the qualifying week.",
        ),
        result: l3(
            "Кэшбэк {bonus} начислен в раздел «Бонусы». Удачной игры!",
            "{bonus} кэшбэк «Бонустар» бөліміне түсті. Сәттілік тілейміз!",
            "The {bonus} cashback is now in your Bonuses section. Good luck!",
        ),
        note: l3(
            "Игрок не нажал «Участвовать», но оборот подходит. Согласовать исключение с маркетингом.",
            "Ойыншы «Қатысу» батырмасын баспаған, бірақ айналым сәйкес. Ерекшелікті маркетингпен келісу керек.",
            "Player didn't opt in but the turnover qualifies. Need marketing to approve an exception.",
        ),
    },
    Scenario {
        department: "technical",
        category: "app_crash",
        kind: Kind::Complaint,
        priority: Priority::Normal,
        weight: 7,
        tag: "mobile_app",
        subject: l3(
            "Приложение вылетает при оформлении ставки",
            "Бәс жасаған кезде қосымша жабылып қалады",
            "App crashes when placing a bet",
        ),
        description: l3(
            "После обновления до версии {version} приложение закрывается, как только открываю купон в лайве. Телефон {device}. Переустанавливал{а} приложение и чистил{а} кэш — не помогает. Из-за этого не успел{а} поставить на матч {match}.",
            "{version} нұсқасына жаңартқаннан кейін лайвта купонды ашқан бойда қосымша жабылып қалады. Телефоным — {device}. Қосымшаны қайта орнатып, кэшті тазаладым — көмектеспеді. Сол себепті {match} матчына бәс қоя алмай қалдым.",
            "Since updating to version {version}, the app closes as soon as I open the bet slip in live betting. Phone: {device}. Reinstalling and clearing the cache didn't help. Because of this I missed my bet on {match}.",
        ),
        ask: l3(
            "Пришлите, пожалуйста, запись экрана с моментом вылета и укажите версию операционной системы.",
            "Қосымша жабылатын сәттің экран жазбасын жіберіп, операциялық жүйенің нұсқасын көрсетіңізші.",
            "Please send us a screen recording of the crash and tell us your operating system version.",
        ),
        reply: l3(
            "Запись экрана отправил{а} в чат, система — {device}.",
            "Экран жазбасын чатқа жібердім, жүйе — {device}.",
            "I've sent the screen recording in the chat; the system is {device}.",
        ),
        offer: l3(
            "Мы нашли причину, исправление выйдет в ближайшем обновлении. Пока можно ставить через мобильную версию сайта — там купон работает. Подойдёт такой вариант на пару дней?",
            "Себебін таптық, түзету жақын арадағы жаңартуда шығады. Әзірге сайттың мобильді нұсқасы арқылы бәс жасауға болады — онда купон жұмыс істейді. Бірер күнге осы нұсқа жарай ма?",
            "We've found the cause and the fix will ship in the next update. Meanwhile you can bet on the mobile website, where the bet slip works fine. Would that do for a couple of days?",
        ),
        measures: l3(
            "Ошибка воспроизведена и исправлена в обновлении приложения; исправление проверено на модели телефона игрока.",
            "Қате қайталанып, қосымшаның жаңартуында түзетілді; түзету ойыншының телефон моделінде тексерілді.",
            "The bug was reproduced and fixed in an app update; the fix was verified on the player's phone model.",
        ),
        result: l3(
            "Обновите приложение из магазина приложений — вылеты исправлены. Спасибо, что помогли найти ошибку!",
            "Қосымшаны дүкеннен жаңартыңыз — жабылып қалу қатесі түзетілді. Қатені табуға көмектескеніңізге рақмет!",
            "Please update the app from the store — the crash is fixed. Thanks for helping us find the bug!",
        ),
        note: l3(
            "Воспроизвёл на тестовом устройстве, завёл баг в трекере.",
            "Тест құрылғысында қайталадым, трекерге баг аштым.",
            "Reproduced on a test device and filed a bug in the tracker.",
        ),
    },
    Scenario {
        department: "technical",
        category: "login_problem",
        kind: Kind::Complaint,
        priority: Priority::High,
        weight: 6,
        tag: "login",
        subject: l3("Не приходит СМС-код для входа", "Кіруге арналған СМС-код келмейді", "SMS login code never arrives"),
        description: l3(
            "Уже несколько дней не могу войти в аккаунт: код подтверждения по СМС не приходит, пробовал{а} и с телефона, и с компьютера. Номер мой, другие СМС приходят нормально. На балансе {amount}, хочу их вывести.",
            "Бірнеше күннен бері аккаунтқа кіре алмай жүрмін: СМС арқылы растау коды келмейді, телефоннан да, компьютерден де байқап көрдім. Нөмір өзімдікі, басқа СМС-тер қалыпты келеді. Балансымда {amount} бар, соны шығарғым келеді.",
            "For several days I haven't been able to log in: the SMS confirmation code never arrives, and I've tried from both my phone and my computer. The number is mine and other texts arrive fine. I have {amount} on my balance that I want to withdraw.",
        ),
        ask: l3(
            "Уточните, пожалуйста, номер телефона, привязанный к аккаунту, и вашего мобильного оператора (Beeline, Kcell, Tele2, Altel).",
            "Аккаунтқа байланған телефон нөмірін және ұялы байланыс операторыңызды (Beeline, Kcell, Tele2, Altel) көрсетіңізші.",
            "Please tell us the phone number linked to the account and your mobile carrier (Beeline, Kcell, Tele2, Altel).",
        ),
        reply: l3(
            "Номер тот же, что в профиле, оператор Kcell.",
            "Нөмір профильдегідей, операторым — Kcell.",
            "Same number as in my profile; the carrier is Kcell.",
        ),
        offer: l3(
            "СМС-шлюз вашего оператора временно не доставляет наши сообщения. Можем переключить подтверждение входа на код по e-mail. Включить?",
            "Операторыңыздың СМС-шлюзі біздің хабарламаларды уақытша жеткізбей тұр. Кіруді растауды e-mail-ге келетін кодқа ауыстыра аламыз. Қосайық па?",
            "Your carrier's SMS gateway is temporarily not delivering our messages. We can switch your login confirmation to an e-mail code. Shall we turn that on?",
        ),
        measures: l3(
            "СМС перенаправлены через резервного провайдера, код доставлен, вход подтверждён.",
            "СМС резервтік провайдер арқылы жіберілді, код жетті, кіру расталды.",
            "SMS was rerouted through a backup provider; the code was delivered and the login confirmed.",
        ),
        result: l3(
            "Доступ к аккаунту восстановлен, коды снова приходят. Если проблема повторится, напишите нам.",
            "Аккаунтқа кіру қалпына келтірілді, кодтар қайта келіп жатыр. Мәселе қайталанса, бізге жазыңыз.",
            "Access to your account is restored and codes are arriving again. If it happens again, let us know.",
        ),
        note: l3(
            "По логам СМС-шлюза доставка падает у одного оператора, написал провайдеру.",
            "СМС-шлюз логтары бойынша бір операторда жеткізу істен шығып жатыр, провайдерге жаздым.",
            "SMS gateway logs show delivery failing for one carrier; raised it with the provider.",
        ),
    },
    Scenario {
        department: "responsible_gaming",
        category: "self_exclusion",
        kind: Kind::Complaint,
        priority: Priority::Urgent,
        weight: 4,
        tag: "self_exclusion",
        subject: l3(
            "Оформил{а} самоисключение, а промо-рассылки продолжают приходить",
            "Өзіме шектеу қойдым, бірақ жарнама хабарламалары келе береді",
            "I self-excluded but still get promotional messages",
        ),
        description: l3(
            "{date} оформил{а} самоисключение на срок {period}, потому что проиграл{а} слишком много. Но мне продолжают приходить СМС и письма с бонусами и фрибетами, а вчера ещё и позвонил менеджер с предложением вернуться. Прошу немедленно это прекратить.",
            "{date} күні көп ұтылғандықтан {period} мерзімге өзімді ойыннан шектеу туралы өтініш бердім. Бірақ маған әлі де бонус пен фрибет туралы СМС пен хаттар келеді, кеше тіпті менеджер қоңырау шалып, қайта оралуды ұсынды. Мұны дереу тоқтатуыңызды сұраймын.",
            "On {date} I self-excluded for {period} because I had lost too much. But I keep getting texts and e-mails about bonuses and free bets, and yesterday a manager even called me offering to come back. Please stop this immediately.",
        ),
        ask: l3(
            "Подтвердите, пожалуйста, номер телефона и e-mail, на которые приходят рассылки, чтобы мы исключили их из всех списков.",
            "Барлық тізімнен алып тастау үшін хабарламалар келіп жатқан телефон нөмірі мен e-mail-ді растаңызшы.",
            "Please confirm the phone number and e-mail address receiving the messages so we can remove them from every list.",
        ),
        reply: l3(
            "Да, номер и почта те же, что в профиле. Пожалуйста, уберите их отовсюду.",
            "Иә, нөмір мен пошта профильдегідей. Өтінемін, оларды барлық жерден алып тастаңыз.",
            "Yes, the number and e-mail are the ones in my profile. Please remove them everywhere.",
        ),
        offer: l3(
            "Мы отключили все рассылки. Дополнительно можем полностью закрыть аккаунт без возможности восстановления до окончания срока. Закрыть?",
            "Барлық хабарламаны өшірдік. Қосымша аккаунтты мерзім біткенге дейін қалпына келтіру мүмкіндігінсіз толық жаба аламыз. Жабайық па?",
            "We have switched off all messages. We can also close the account completely, with no way to reopen it before the period ends. Shall we close it?",
        ),
        measures: l3(
            "Контакты игрока исключены из всех маркетинговых рассылок и базы обзвона, с менеджером проведена беседа, самоисключение проверено и действует.",
            "Ойыншының байланыс деректері барлық маркетингтік таратылымнан және қоңырау базасынан шығарылды, менеджермен әңгіме жүргізілді, шектеу тексеріліп, күшінде екені расталды.",
            "The player's contacts were removed from all marketing lists and the call list, the manager was spoken to, and the self-exclusion was checked and confirmed active.",
        ),
        result: l3(
            "Рассылки и звонки прекращены, самоисключение действует весь срок. Приносим извинения — такого не должно было случиться.",
            "Хабарламалар мен қоңыраулар тоқтатылды, шектеу бүкіл мерзім бойы күшінде. Кешірім сұраймыз — мұндай жағдай болмауы керек еді.",
            "The messages and calls have stopped and your self-exclusion stays in force for the whole period. We apologise — this should never have happened.",
        ),
        note: l3(
            "Проверил: самоисключение активно, но контакт остался в старом сегменте CRM.",
            "Тексердім: шектеу белсенді, бірақ байланыс CRM-нің ескі сегментінде қалып қойған.",
            "Checked: the self-exclusion is active, but the contact was left in an old CRM segment.",
        ),
    },
    Scenario {
        department: "responsible_gaming",
        category: "deposit_limit",
        kind: Kind::Question,
        priority: Priority::Normal,
        weight: 4,
        tag: "limits",
        subject: l3("Как установить лимит на депозиты?", "Депозитке лимит қалай қоюға болады?", "How do I set a deposit limit?"),
        description: l3(
            "Хочу ограничить себя: не больше {limit} пополнений в неделю. В настройках нашёл{а} только лимит на ставки. Можно ли поставить лимит на депозиты и как быстро его потом можно отменить?",
            "Өзіме шектеу қойғым келеді: аптасына ең көбі {limit} салу. Баптауларда тек бәске арналған лимитті таптым. Депозитке лимит қоюға бола ма және оны кейін қаншалықты тез алып тастауға болады?",
            "I'd like to limit myself to no more than {limit} in deposits per week. In the settings I only found a betting limit. Can I set a deposit limit, and how quickly could it be removed later?",
        ),
        ask: l3(
            "Подтвердите, пожалуйста, что недельный лимит {limit} нужно установить начиная с сегодняшнего дня.",
            "Апталық {limit} лимитті бүгіннен бастап қою керек екенін растаңызшы.",
            "Please confirm that we should set a weekly limit of {limit} starting today.",
        ),
        reply: l3("Да, с сегодняшнего дня, спасибо.", "Иә, бүгіннен бастап, рақмет.", "Yes, starting today, thank you."),
        offer: l3(
            "Лимит можно поставить в разделе «Профиль → Ответственная игра → Лимиты депозитов». Уменьшение действует сразу, а увеличение или отмена — только через 7 дней. Установить лимит {limit} за вас?",
            "Лимитті «Профиль → Жауапты ойын → Депозит лимиттері» бөлімінде қоюға болады. Азайту бірден күшіне енеді, ал көбейту немесе алып тастау тек 7 күннен кейін. {limit} лимитті сіздің атыңыздан қояйық па?",
            "You can set it under \"Profile → Responsible gaming → Deposit limits\". Lowering a limit takes effect at once; raising or removing it only after 7 days. Shall we set the {limit} limit for you?",
        ),
        measures: l3(
            "По просьбе игрока установлен недельный лимит депозитов {limit}; игроку отправлена памятка об инструментах ответственной игры.",
            "Ойыншының өтініші бойынша апталық депозит лимиті {limit} етіп қойылды; ойыншыға жауапты ойын құралдары туралы жадынама жіберілді.",
            "At the player's request a weekly deposit limit of {limit} was set; the player was sent a guide to the responsible gaming tools.",
        ),
        result: l3(
            "Недельный лимит депозитов {limit} установлен. Увеличить или снять его можно не раньше чем через 7 дней.",
            "Апталық депозит лимиті {limit} болып орнатылды. Оны көбейту немесе алып тастау 7 күннен кейін ғана мүмкін.",
            "A weekly deposit limit of {limit} is now in place. It can be raised or removed no sooner than 7 days from now.",
        ),
        note: l3(
            "Игроку предложены инструменты ответственной игры, в профиле стоит отметка.",
            "Ойыншыға жауапты ойын құралдары ұсынылды, профильге белгі қойылды.",
            "Offered the player the responsible gaming tools and flagged the profile.",
        ),
    },
    Scenario {
        department: "security",
        category: "suspicious_login",
        kind: Kind::Complaint,
        priority: Priority::Urgent,
        weight: 5,
        tag: "account_takeover",
        subject: l3(
            "Кто-то зашёл в мой аккаунт и сделал ставки",
            "Біреу аккаунтыма кіріп, бәс жасаған",
            "Someone logged into my account and placed bets",
        ),
        description: l3(
            "Пришло уведомление о входе из города {city} с неизвестного устройства, а я в это время был{а} дома. В истории появились ставки, которых я не делал{а}, с баланса пропало {amount}. Срочно закройте доступ посторонним!",
            "{city} қаласынан белгісіз құрылғымен кіру туралы хабарлама келді, ал мен ол кезде үйде болдым. Тарихта мен жасамаған бәстер пайда болды, баланстан {amount} жоғалды. Бөгде адамдардың кіруін тез арада жабыңыздар!",
            "I got a notification about a login from {city} on an unknown device while I was at home. There are bets in my history that I didn't place, and {amount} is gone from my balance. Please shut out whoever this is right away!",
        ),
        ask: l3(
            "Мы завершили все активные сессии. Подтвердите, пожалуйста, что вы никому не передавали пароль или код из СМС, и напишите, с каких устройств обычно заходите.",
            "Барлық белсенді сессияны аяқтадық. Құпиясөзді немесе СМС-кодты ешкімге бермегеніңізді растап, әдетте қай құрылғылардан кіретініңізді жазыңызшы.",
            "We have ended all active sessions. Please confirm you haven't shared your password or an SMS code with anyone, and tell us which devices you normally use.",
        ),
        reply: l3(
            "Пароль никому не давал{а}. Захожу только с телефона и домашнего ноутбука.",
            "Құпиясөзді ешкімге берген жоқпын. Тек телефон мен үйдегі ноутбуктан кіремін.",
            "I haven't shared my password with anyone. I only log in from my phone and my laptop at home.",
        ),
        offer: l3(
            "Вход выполнен с верным паролем. Предлагаем сменить пароль и включить двухфакторную аутентификацию; спорные ставки мы проверим и при подтверждении взлома вернём {amount}. Согласны?",
            "Кіру дұрыс құпиясөзбен жасалған. Құпиясөзді ауыстырып, екі факторлы аутентификацияны қосуды ұсынамыз; даулы бәстерді тексеріп, бұзу расталса, {amount} қайтарамыз. Келісесіз бе?",
            "The login used the correct password. We suggest changing your password and turning on two-factor authentication; we will review the disputed bets and refund {amount} if the break-in is confirmed. Do you agree?",
        ),
        measures: l3(
            "Все сессии завершены, пароль сброшен, включена двухфакторная аутентификация; ставки с чужого устройства аннулированы.",
            "Барлық сессия аяқталды, құпиясөз қалпына келтірілді, екі факторлы аутентификация қосылды; бөгде құрылғыдан жасалған бәстердің күші жойылды.",
            "All sessions were ended, the password was reset and two-factor authentication enabled; the bets from the foreign device were voided.",
        ),
        result: l3(
            "Аккаунт защищён, {amount} возвращены на баланс. Рекомендуем не использовать этот пароль на других сайтах.",
            "Аккаунтыңыз қорғалды, {amount} балансқа қайтарылды. Бұл құпиясөзді басқа сайттарда қолданбауға кеңес береміз.",
            "Your account is secured and {amount} has been returned to your balance. We recommend not using that password on other sites.",
        ),
        note: l3(
            "Вход с нового устройства и IP из другой страны, пароль верный. Похоже на утечку пароля.",
            "Жаңа құрылғыдан және басқа елдің IP-інен кіру, құпиясөз дұрыс. Құпиясөз тарап кеткенге ұқсайды.",
            "Login from a new device and a foreign IP with the right password. Looks like a leaked password.",
        ),
    },
    Scenario {
        department: "security",
        category: "password_reset",
        kind: Kind::Question,
        priority: Priority::Normal,
        weight: 4,
        tag: "login",
        subject: l3(
            "Не приходит письмо для сброса пароля",
            "Құпиясөзді қалпына келтіру хаты келмейді",
            "Password reset e-mail never arrives",
        ),
        description: l3(
            "Забыл{а} пароль, нажимаю «Восстановить», но письмо на почту не приходит, папку «Спам» проверил{а}. Как ещё можно восстановить доступ?",
            "Құпиясөзімді ұмытып қалдым, «Қалпына келтіру» батырмасын басамын, бірақ поштаға хат келмейді, «Спам» қалтасын да тексердім. Аккаунтқа кіруді тағы қалай қалпына келтіруге болады?",
            "I forgot my password and pressed \"Reset\", but the e-mail never arrives; I've checked the spam folder. How else can I get back into my account?",
        ),
        ask: l3(
            "Для проверки личности подтвердите, пожалуйста, дату рождения и последние 4 цифры карты, с которой вы пополняли счёт.",
            "Жеке басыңызды тексеру үшін туған күніңізді және шотты толтырған картаның соңғы 4 санын растаңызшы.",
            "To verify your identity, please confirm your date of birth and the last 4 digits of the card you deposited with.",
        ),
        reply: l3(
            "Данные отправил{а} в ответном письме.",
            "Деректерді жауап хатында жібердім.",
            "I've sent the details in my reply e-mail.",
        ),
        offer: l3(
            "Ваш почтовый сервис отклонял наши письма. Можем отправить ссылку для сброса по СМС на привязанный номер. Отправить?",
            "Пошта сервисіңіз біздің хаттарды қабылдамай келген. Құпиясөзді қалпына келтіру сілтемесін байланған нөмірге СМС арқылы жібере аламыз. Жіберейік пе?",
            "Your mail provider was rejecting our e-mails. We can send the reset link by SMS to your linked number instead. Shall we?",
        ),
        measures: l3(
            "Личность подтверждена, ссылка для сброса пароля отправлена по СМС; почтовый домен игрока добавлен в мониторинг доставки.",
            "Жеке басы расталды, құпиясөзді қалпына келтіру сілтемесі СМС арқылы жіберілді; ойыншының пошта домені жеткізу мониторингіне қосылды.",
            "Identity confirmed, the reset link was sent by SMS, and the player's mail domain was added to delivery monitoring.",
        ),
        result: l3(
            "Ссылка для смены пароля отправлена вам по СМС, она действует 30 минут.",
            "Құпиясөзді ауыстыру сілтемесі сізге СМС арқылы жіберілді, ол 30 минут жарамды.",
            "We've sent you a password reset link by SMS; it is valid for 30 minutes.",
        ),
        note: l3(
            "Письма на домен игрока возвращаются с ошибкой 550, передал в поддержку почтового сервиса.",
            "Ойыншының доменіне жіберілген хаттар 550 қатесімен қайтып келеді, пошта сервисінің қолдау қызметіне бердім.",
            "E-mails to the player's domain bounce with a 550 error; passed to the mail team.",
        ),
    },
    Scenario {
        department: "verification",
        category: "verification_time",
        kind: Kind::Question,
        priority: Priority::Low,
        weight: 3,
        tag: "kyc",
        subject: l3("Сколько длится верификация?", "Верификация қанша уақыт алады?", "How long does verification take?"),
        description: l3(
            "Загрузил{а} документы {date}. Подскажите, сколько обычно занимает проверка и можно ли пока выводить деньги? Хочу вывести {amount} через {method}.",
            "Құжаттарды {date} күні жүктедім. Тексеру әдетте қанша уақыт алады және әзірге ақша шығаруға бола ма? {method} арқылы {amount} шығарғым келеді.",
            "I uploaded my documents on {date}. How long does the check usually take, and can I withdraw in the meantime? I'd like to withdraw {amount} via {method}.",
        ),
        ask: l3(
            "Уточните, пожалуйста, какой документ вы загрузили — удостоверение личности или паспорт?",
            "Қандай құжат жүктедіңіз — жеке куәлік пе, әлде төлқұжат па, нақтылаңызшы.",
            "Could you tell us which document you uploaded — an ID card or a passport?",
        ),
        reply: l3("Загрузил{а} удостоверение личности.", "Жеке куәлік жүктедім.", "I uploaded my ID card."),
        offer: l3(
            "Проверка обычно занимает до 24 часов. Ваши документы в очереди; как только статус сменится на «Подтверждён», вывод станет доступен. Если загрузите ещё и селфи с документом, проверим быстрее. Загрузите?",
            "Тексеру әдетте 24 сағатқа дейін созылады. Құжаттарыңыз кезекте тұр; мәртебесі «Расталды» болып өзгерген бойда ақша шығару қолжетімді болады. Құжатпен селфи де жүктесеңіз, тезірек тексереміз. Жүктейсіз бе?",
            "Checks usually take up to 24 hours. Your documents are in the queue; once the status changes to \"Verified\", withdrawals will be available. If you also upload a selfie with the document, we can check it sooner. Would you?",
        ),
        measures: l3(
            "Игроку разъяснены сроки верификации, документы проверены вне очереди.",
            "Ойыншыға верификация мерзімі түсіндірілді, құжаттар кезектен тыс тексерілді.",
            "Verification timelines were explained to the player and the documents were checked out of turn.",
        ),
        result: l3(
            "Документы проверены, аккаунт верифицирован — вывод {amount} доступен.",
            "Құжаттар тексерілді, аккаунт верификациядан өтті — {amount} шығаруға болады.",
            "Your documents have been checked and the account is verified — you can withdraw {amount} now.",
        ),
        note: l3(
            "Документы в очереди на ручную проверку, очередь сейчас около 18 часов.",
            "Құжаттар қолмен тексеру кезегінде, қазір кезек шамамен 18 сағат.",
            "The documents are in the manual review queue, currently about 18 hours long.",
        ),
    },
    Scenario {
        department: "payments",
        category: "praise",
        kind: Kind::Feedback,
        priority: Priority::Low,
        weight: 3,
        tag: "praise",
        subject: l3("Спасибо за быстрый вывод", "Жылдам шығарғаныңызға рақмет", "Thanks for the fast payout"),
        description: l3(
            "Хочу поблагодарить: вывел{а} {amount} через {method}, деньги пришли за 10 минут. На других сайтах раньше ждал{а} сутками. Так держать!",
            "Алғыс айтқым келеді: {method} арқылы {amount} шығардым, ақша 10 минутта келді. Бұрын басқа сайттарда бір тәулік күтетінмін. Осылай жалғастыра беріңіздер!",
            "Just wanted to say thanks: I withdrew {amount} via {method} and the money arrived in 10 minutes. On other sites I used to wait for days. Keep it up!",
        ),
        ask: l3(
            "Спасибо за тёплые слова! Можно ли опубликовать ваш отзыв на сайте без указания имени?",
            "Жылы лебізіңізге рақмет! Пікіріңізді сайтта атыңызды көрсетпей жариялауға бола ма?",
            "Thank you for the kind words! May we publish your review on our website without your name?",
        ),
        reply: l3("Да, конечно, публикуйте.", "Иә, әрине, жариялай беріңіз.", "Yes, of course, go ahead."),
        offer: l3(
            "Спасибо за отзыв! В знак благодарности хотим начислить вам фрибет {bonus}. Активировать?",
            "Пікіріңізге рақмет! Алғыс ретінде сізге {bonus} фрибет бергіміз келеді. Белсендірейік пе?",
            "Thanks for the feedback! As a thank-you we'd like to give you a {bonus} free bet. Shall we activate it?",
        ),
        measures: l3(
            "Отзыв передан команде платежей и в отдел маркетинга.",
            "Пікір төлемдер командасына және маркетинг бөліміне жіберілді.",
            "The feedback was shared with the payments team and marketing.",
        ),
        result: l3(
            "Спасибо, что делитесь впечатлениями! Ваш отзыв передан команде.",
            "Әсеріңізбен бөліскеніңізге рақмет! Пікіріңіз командаға жеткізілді.",
            "Thank you for sharing! Your feedback has been passed on to the team.",
        ),
        note: l3(
            "Передать благодарность команде платежей в пятничном дайджесте.",
            "Алғысты төлемдер командасына жұма күнгі дайджестте жеткізу керек.",
            "Pass the thanks on to the payments team in the Friday digest.",
        ),
    },
    Scenario {
        department: "technical",
        category: "feature_request",
        kind: Kind::Suggestion,
        priority: Priority::Low,
        weight: 3,
        tag: "idea",
        subject: l3(
            "Предложение: добавить редактирование купона",
            "Ұсыныс: купонды өңдеу мүмкіндігін қосу",
            "Suggestion: let us edit a bet slip",
        ),
        description: l3(
            "Было бы удобно, если бы можно было добавить или убрать событие из экспресса уже после того, как ставка принята, как у некоторых конкурентов. Сейчас приходится продавать ставку и собирать экспресс заново.",
            "Бәс қабылданғаннан кейін де экспресске оқиға қосуға немесе одан алып тастауға болса, ыңғайлы болар еді, кейбір бәсекелестерде солай. Қазір бәсті сатып, экспрессті қайтадан жинауға тура келеді.",
            "It would be really handy to add or remove a selection from an accumulator after the bet has been accepted, like some competitors allow. Right now I have to cash out and build the accumulator again.",
        ),
        ask: l3(
            "Спасибо за идею! Подскажите, вы чаще ставите в лайве или до начала матчей? Это поможет нам с приоритетами.",
            "Идеяңызға рақмет! Көбіне лайвта бәс жасайсыз ба, әлде матч басталмай тұрып па? Бұл басымдықты анықтауға көмектеседі.",
            "Thanks for the idea! Do you mostly bet live or before matches start? It helps us prioritise.",
        ),
        reply: l3("Чаще в лайве, особенно на футбол.", "Көбіне лайвта, әсіресе футболға.", "Mostly live, especially football."),
        offer: l3(
            "Функция «Редактор купона» сейчас в тестировании. Хотите поучаствовать в бета-тесте?",
            "«Купон редакторы» функциясы қазір тестілеуде. Бета-тестке қатысқыңыз келе ме?",
            "A \"bet slip editor\" is currently in testing. Would you like to join the beta?",
        ),
        measures: l3(
            "Предложение добавлено в бэклог продукта с пометкой «запрос игроков».",
            "Ұсыныс өнім бэклогына «ойыншылардың сұранысы» белгісімен қосылды.",
            "The suggestion was added to the product backlog, tagged as a player request.",
        ),
        result: l3(
            "Спасибо за предложение! Мы передали его команде продукта — следите за обновлениями.",
            "Ұсынысыңызға рақмет! Оны өнім командасына жібердік — жаңартуларды қадағалаңыз.",
            "Thanks for the suggestion! We've passed it on to the product team — watch out for updates.",
        ),
        note: l3(
            "Похожий запрос уже есть в бэклоге, добавил голос и ссылку на обращение.",
            "Ұқсас сұраныс бэклогта бар, дауыс пен өтінішке сілтеме қостым.",
            "A similar request is already in the backlog; added a vote and a link to this case.",
        ),
    },
];

static GREETINGS: &[L3] = &[
    l3("Здравствуйте!", "Сәлеметсіз бе!", "Hello,"),
    l3("Добрый день.", "Қайырлы күн.", "Hi,"),
    l3("Добрый вечер!", "Қайырлы кеш!", "Good evening,"),
    l3("", "", ""),
];

static SIGNOFFS_COMPLAINT: &[L3] = &[
    l3("Прошу разобраться как можно скорее.", "Тезірек анықтап беруіңізді сұраймын.", "Please look into this as soon as possible."),
    l3("Жду ответа.", "Жауабыңызды күтемін.", "Waiting for your reply."),
    l3(
        "Очень неприятная ситуация, надеюсь на вашу помощь.",
        "Өте жағымсыз жағдай, көмектесесіздер деп үміттенемін.",
        "This is really frustrating, I hope you can help.",
    ),
    l3("", "", ""),
];

/// For questions, feedback and suggestions; "thanks in advance" (the last) only for questions.
static SIGNOFFS_OTHER: &[L3] =
    &[l3("Спасибо.", "Рақмет.", "Thanks."), l3("", "", ""), l3("Заранее спасибо!", "Алдын ала рақмет!", "Thanks in advance!")];

/// How an agent starts a complaint taken over the phone.
static PHONE_INTRO: L3 = l3(
    "Звонок на линию поддержки. Со слов игрока:",
    "Қолдау желісіне қоңырау. Ойыншының айтуынша:",
    "Call to the support line. In the player's words:",
);

/// The player answering a proposed solution.
static REPLIES_OFFER: &[L3] = &[
    l3("Да, такой вариант подходит.", "Иә, бұл нұсқа маған ыңғайлы.", "Yes, that works for me."),
    l3(
        "Хорошо, договорились. Только сделайте побыстрее.",
        "Жарайды, келістік. Тек тезірек жасаңыздар.",
        "OK, agreed. Just please do it quickly.",
    ),
    l3(
        "Не совсем то, чего я ждал{а}, но давайте так.",
        "Мен күткендей емес, бірақ солай болсын.",
        "Not quite what I hoped for, but let's do that.",
    ),
];

/// The player disputing a resolution (which reopens the complaint).
static DISPUTES: &[L3] = &[
    l3(
        "Проблема не решена, ответ меня не устраивает. Прошу пересмотреть.",
        "Мәселе шешілген жоқ, жауап мені қанағаттандырмайды. Қайта қарауыңызды сұраймын.",
        "The problem isn't solved and I don't accept this answer. Please review it again.",
    ),
    l3("Ничего не изменилось, всё то же самое.", "Ештеңе өзгерген жоқ, бәрі бұрынғыдай.", "Nothing has changed, it's exactly the same."),
];

/// Replies the desk sends while it works.
static OUTBOUND: &[L3] = &[
    l3(
        "Спасибо за обращение! Мы передали вопрос в профильный отдел и ответим в течение 24 часов.",
        "Өтінішіңізге рақмет! Сұрағыңызды тиісті бөлімге жібердік, 24 сағат ішінде жауап береміз.",
        "Thank you for contacting us! We've passed your case to the relevant team and will reply within 24 hours.",
    ),
    l3(
        "Проверка ещё идёт, приносим извинения за ожидание. Ваше обращение у нас на контроле.",
        "Тексеру әлі жүріп жатыр, күттіргеніміз үшін кешірім сұраймыз. Өтінішіңіз бақылауда.",
        "We're still looking into it — sorry for the wait. Your case is being tracked.",
    ),
    l3(
        "Мы запросили информацию у партнёра и вернёмся с ответом, как только её получим.",
        "Серіктестен ақпарат сұрадық, жауап келген бойда хабарласамыз.",
        "We've asked our partner for information and will get back to you as soon as we have it.",
    ),
];

/// Agents reopening a resolved complaint themselves.
static REOPEN_REASONS: &[L3] = &[
    l3(
        "Игрок прислал новые данные, нужна повторная проверка.",
        "Ойыншы жаңа деректер жіберді, қайта тексеру керек.",
        "The player sent new information; the case needs another look.",
    ),
    l3(
        "Повторное обращение по той же проблеме — решение не сработало.",
        "Сол мәселе бойынша қайта жүгінді — шешім көмектеспеді.",
        "The player came back with the same problem — the fix didn't work.",
    ),
];

static ESCALATE_SUPERVISOR: &[L3] = &[
    l3(
        "Игрок недоволен сроками рассмотрения, нужно решение руководителя.",
        "Ойыншы қарау мерзіміне наразы, жетекшінің шешімі қажет.",
        "The player is unhappy with how long this is taking; a supervisor decision is needed.",
    ),
    l3(
        "Сумма выше лимита специалиста, требуется согласование супервайзера.",
        "Сома маманның лимитінен жоғары, супервайзердің келісімі қажет.",
        "The amount exceeds the agent's limit; supervisor approval required.",
    ),
];

static ESCALATE_EXTERNAL: &[L3] = &[
    l3(
        "Игрок сообщил, что направил жалобу в уполномоченный орган.",
        "Ойыншы уәкілетті органға шағым жібергенін хабарлады.",
        "The player says they have filed a complaint with the regulator.",
    ),
    l3(
        "Игрок намерен обратиться в суд, подключаем юристов.",
        "Ойыншы сотқа жүгінбек, заңгерлерді қосамыз.",
        "The player intends to take legal action; bringing in the legal team.",
    ),
];

/// Internal notes that fit any case.
static GENERIC_NOTES: &[L3] = &[
    l3(
        "Игрок звонил повторно, просит ускорить.",
        "Ойыншы қайта қоңырау шалып, тездетуді сұрап отыр.",
        "The player called again asking us to speed things up.",
    ),
    l3(
        "Передал коллегам на вторую линию, жду ответа.",
        "Екінші желідегі әріптестерге бердім, жауап күтіп отырмын.",
        "Passed to second-line colleagues, waiting for their answer.",
    ),
];

// ==================================================================== the bits texts are filled with

/// Players' names: given names (as written, in Latin letters for e-mail addresses) and
/// surnames (male form, female form, and the same in Latin letters).
struct NameBank {
    men: &'static [(&'static str, &'static str)],
    women: &'static [(&'static str, &'static str)],
    surnames: &'static [(&'static str, &'static str, &'static str, &'static str)],
}

static NAMES_RU: NameBank = NameBank {
    men: &[
        ("Алексей", "alexey"),
        ("Дмитрий", "dmitry"),
        ("Сергей", "sergey"),
        ("Андрей", "andrey"),
        ("Виктор", "viktor"),
        ("Руслан", "ruslan"),
        ("Тимур", "timur"),
        ("Павел", "pavel"),
        ("Максим", "maxim"),
        ("Игорь", "igor"),
    ],
    women: &[
        ("Ирина", "irina"),
        ("Ольга", "olga"),
        ("Наталья", "natalya"),
        ("Екатерина", "ekaterina"),
        ("Марина", "marina"),
        ("Юлия", "yulia"),
        ("Алина", "alina"),
        ("Светлана", "svetlana"),
    ],
    surnames: &[
        ("Смирнов", "Смирнова", "smirnov", "smirnova"),
        ("Ковалёв", "Ковалёва", "kovalev", "kovaleva"),
        ("Волков", "Волкова", "volkov", "volkova"),
        ("Морозов", "Морозова", "morozov", "morozova"),
        ("Ахметов", "Ахметова", "akhmetov", "akhmetova"),
        ("Исмаилов", "Исмаилова", "ismailov", "ismailova"),
        ("Лебедев", "Лебедева", "lebedev", "lebedeva"),
        ("Григорьев", "Григорьева", "grigoriev", "grigorieva"),
        ("Садыков", "Садыкова", "sadykov", "sadykova"),
        ("Ким", "Ким", "kim", "kim"),
        ("Пак", "Пак", "pak", "pak"),
        ("Цой", "Цой", "tsoy", "tsoy"),
        ("Ткаченко", "Ткаченко", "tkachenko", "tkachenko"),
        ("Шевченко", "Шевченко", "shevchenko", "shevchenko"),
    ],
};

static NAMES_KK: NameBank = NameBank {
    men: &[
        ("Ерлан", "erlan"),
        ("Нұрлан", "nurlan"),
        ("Дәурен", "dauren"),
        ("Асқар", "askar"),
        ("Мейрамбек", "meirambek"),
        ("Бауыржан", "baurzhan"),
        ("Ғалымжан", "galymzhan"),
        ("Данияр", "daniyar"),
        ("Олжас", "olzhas"),
        ("Ерболат", "yerbolat"),
    ],
    women: &[
        ("Айгерім", "aigerim"),
        ("Гүлнұр", "gulnur"),
        ("Әсем", "asem"),
        ("Жанар", "zhanar"),
        ("Аружан", "aruzhan"),
        ("Ақбота", "akbota"),
        ("Динара", "dinara"),
        ("Мөлдір", "moldir"),
    ],
    surnames: &[
        ("Жақсылықов", "Жақсылықова", "zhaksylykov", "zhaksylykova"),
        ("Сәрсенбаев", "Сәрсенбаева", "sarsenbayev", "sarsenbayeva"),
        ("Қасымов", "Қасымова", "kasymov", "kasymova"),
        ("Әбдірахманов", "Әбдірахманова", "abdrakhmanov", "abdrakhmanova"),
        ("Тоқтаров", "Тоқтарова", "toktarov", "toktarova"),
        ("Бекмұханов", "Бекмұханова", "bekmukhanov", "bekmukhanova"),
        ("Оспанов", "Оспанова", "ospanov", "ospanova"),
        ("Жұмабеков", "Жұмабекова", "zhumabekov", "zhumabekova"),
        ("Мұқанов", "Мұқанова", "mukanov", "mukanova"),
        ("Төлеуов", "Төлеуова", "toleuov", "toleuova"),
        ("Өмірзақов", "Өмірзақова", "omirzakov", "omirzakova"),
        ("Нұрмағамбетов", "Нұрмағамбетова", "nurmagambetov", "nurmagambetova"),
        ("Есенов", "Есенова", "yessenov", "yessenova"),
        ("Серікұлы", "Серікқызы", "serikuly", "serikkyzy"),
    ],
};

static NAMES_EN: NameBank = NameBank {
    men: &[
        ("John", "john"),
        ("Daniel", "daniel"),
        ("Michael", "michael"),
        ("David", "david"),
        ("Tom", "tom"),
        ("James", "james"),
        ("Mehmet", "mehmet"),
        ("Arman", "arman"),
    ],
    women: &[("Emma", "emma"), ("Sophie", "sophie"), ("Sarah", "sarah"), ("Laura", "laura"), ("Anna", "anna"), ("Aliya", "aliya")],
    surnames: &[
        ("Miller", "Miller", "miller", "miller"),
        ("Clarke", "Clarke", "clarke", "clarke"),
        ("Novak", "Novak", "novak", "novak"),
        ("Laurent", "Laurent", "laurent", "laurent"),
        ("O'Brien", "O'Brien", "obrien", "obrien"),
        ("Chen", "Chen", "chen", "chen"),
        ("Walker", "Walker", "walker", "walker"),
        ("Johnson", "Johnson", "johnson", "johnson"),
        ("Yilmaz", "Yilmaz", "yilmaz", "yilmaz"),
        ("Evans", "Evans", "evans", "evans"),
    ],
};

/// Reserved example domains only (RFC 2606): demo players must never be real mailboxes, even on
/// a desk with a relay configured.
static EMAIL_DOMAINS_CIS: &[&str] = &["mail.example", "pochta.example", "inbox.example", "example.org"];
static EMAIL_DOMAINS_EN: &[&str] = &["example.com", "example.net", "mail.example", "post.example"];

/// Mobile prefixes after +7: Kazakhstan (7xx) and Russia (9xx).
static PHONE_PREFIXES_KZ: &[&str] = &["700", "701", "702", "705", "707", "708", "747", "771", "775", "776", "777", "778"];
static PHONE_PREFIXES_RU: &[&str] = &["903", "905", "915", "916", "925", "926", "977", "985"];

/// Payment methods; a trailing `*` gets the card's last four digits.
static METHODS_KZT: &[&str] = &["Kaspi Gold", "Kaspi Gold", "Halyk Bank", "Visa *", "Mastercard *", "Freedom Bank", "Jusan Bank"];
static METHODS_RUB: &[&str] = &["Qiwi", "ЮMoney", "СБП", "Visa *", "МИР *"];
static CARDS_KZT: &[&str] = &["Visa *", "Mastercard *", "Kaspi Gold *", "Halyk Visa *"];
static CARDS_RUB: &[&str] = &["Visa *", "МИР *", "Mastercard *"];

/// Fixtures: (home, away).
static MATCHES: &[(L3, L3)] = &[
    (l3("Кайрат", "Қайрат", "Kairat"), l3("Астана", "Астана", "Astana")),
    (l3("Тобол", "Тобыл", "Tobol"), l3("Ордабасы", "Ордабасы", "Ordabasy")),
    (l3("Актобе", "Ақтөбе", "Aktobe"), l3("Елимай", "Елімай", "Elimai")),
    (l3("Реал Мадрид", "Реал Мадрид", "Real Madrid"), l3("Барселона", "Барселона", "Barcelona")),
    (l3("Манчестер Сити", "Манчестер Сити", "Manchester City"), l3("Ливерпуль", "Ливерпуль", "Liverpool")),
    (l3("Бавария", "Бавария", "Bayern Munich"), l3("Боруссия Дортмунд", "Боруссия Дортмунд", "Borussia Dortmund")),
    (l3("Зенит", "Зенит", "Zenit"), l3("Спартак", "Спартак", "Spartak")),
    (l3("Барыс", "Барыс", "Barys"), l3("Авангард", "Авангард", "Avangard")),
    (l3("Интер", "Интер", "Inter"), l3("Милан", "Милан", "AC Milan")),
    (l3("Арсенал", "Арсенал", "Arsenal"), l3("Челси", "Челси", "Chelsea")),
];

static DOCS: &[L3] = &[l3("удостоверение личности", "жеке куәлік", "ID card"), l3("паспорт", "төлқұжат", "passport")];

static REJECT_REASONS: &[L3] = &[
    l3("«документ нечитаем»", "«құжат анық емес»", "\"document not readable\""),
    l3("«данные не совпадают с профилем»", "«деректер профильмен сәйкес келмейді»", "\"details do not match the profile\""),
    l3("«документ обрезан»", "«құжат толық көрінбейді»", "\"document is cropped\""),
];

static PERIODS: &[L3] = &[
    l3("3 месяца", "3 ай", "3 months"),
    l3("6 месяцев", "6 ай", "6 months"),
    l3("1 год", "1 жыл", "1 year"),
    l3("2 года", "2 жыл", "2 years"),
];

static CITIES: &[L3] = &[
    l3("Шымкент", "Шымкент", "Shymkent"),
    l3("Москва", "Мәскеу", "Moscow"),
    l3("Ташкент", "Ташкент", "Tashkent"),
    l3("Стамбул", "Стамбұл", "Istanbul"),
    l3("Бишкек", "Бішкек", "Bishkek"),
    l3("Актау", "Ақтау", "Aktau"),
];

static DEVICES: &[&str] = &[
    "Samsung Galaxy A54, Android 14",
    "iPhone 13, iOS 17.5",
    "Xiaomi Redmi Note 12, Android 13",
    "iPhone 15 Pro, iOS 18.1",
    "Honor X8, Android 12",
];

static SPOUSES: &[L3] = &[l3("жена", "әйелім", "my wife"), l3("муж", "күйеуім", "my husband")];

static MONTHS: [L3; 12] = [
    l3("января", "қаңтар", "January"),
    l3("февраля", "ақпан", "February"),
    l3("марта", "наурыз", "March"),
    l3("апреля", "сәуір", "April"),
    l3("мая", "мамыр", "May"),
    l3("июня", "маусым", "June"),
    l3("июля", "шілде", "July"),
    l3("августа", "тамыз", "August"),
    l3("сентября", "қыркүйек", "September"),
    l3("октября", "қазан", "October"),
    l3("ноября", "қараша", "November"),
    l3("декабря", "желтоқсан", "December"),
];

// ==================================================================== randomness

/// SplitMix64: tiny, fast, and the same sequence everywhere for a given seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0..n (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// lo..=hi.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    fn weighted<'a, T>(&mut self, xs: &'a [T], weight: impl Fn(&T) -> u64) -> &'a T {
        let total: u64 = xs.iter().map(&weight).sum();
        let mut r = self.next() % total;
        for x in xs {
            let w = weight(x);
            if r < w {
                return x;
            }
            r -= w;
        }
        unreachable!("r < total")
    }

    fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i + 1);
            xs.swap(i, j);
        }
    }
}

// ==================================================================== planning

/// Where a complaint's story ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    New,
    Routed,
    InProgress,
    /// In progress and escalated.
    Escalated,
    Waiting,
    Resolved,
    /// Resolved, then reopened: back in progress.
    Reopened,
    Closed,
}

/// The share of each fate, in percent.
const FATES: &[(Fate, usize)] = &[
    (Fate::New, 15),
    (Fate::Routed, 15),
    (Fate::InProgress, 17),
    (Fate::Escalated, 3),
    (Fate::Waiting, 10),
    (Fate::Resolved, 19),
    (Fate::Reopened, 5),
    (Fate::Closed, 16),
];

/// Exactly `count` fates in the shares above, in order (the caller shuffles).
fn fates(count: usize) -> Vec<Fate> {
    let mut out: Vec<Fate> = FATES.iter().flat_map(|&(f, pct)| std::iter::repeat_n(f, count * pct / 100)).collect();
    for &(f, _) in FATES.iter().cycle() {
        if out.len() >= count {
            break;
        }
        out.push(f);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Currency {
    Kzt,
    Rub,
}

struct DemoPlayer {
    contact: PlayerContact,
    language: Language,
    female: bool,
    currency: Currency,
    complaints: u32,
}

/// One complaint to register and the commands that then take it to its fate.
struct Plan {
    registration: Registration,
    script: Vec<CommandInput>,
}

/// Placeholder → text for one complaint.
struct Vars(Vec<(&'static str, String)>);

impl Vars {
    fn fill(&self, template: &str) -> String {
        self.0.iter().fold(template.to_string(), |s, (k, v)| s.replace(k, v))
    }
}

fn body(text: String) -> Body {
    Body::parse(&text).expect("demo texts are valid bodies")
}

fn department(sc: &Scenario) -> DepartmentCode {
    DepartmentCode::parse(sc.department).expect("static department")
}

fn category(sc: &Scenario) -> Category {
    Category::parse(sc.category).expect("static category")
}

fn tag(word: &str) -> Tag {
    Tag::parse(word).expect("static tag")
}

/// The non-empty parts, joined.
fn join(parts: &[String], sep: &str) -> String {
    parts.iter().filter(|s| !s.is_empty()).map(String::as_str).collect::<Vec<_>>().join(sep)
}

/// 1234567 → "1 234 567" (or "1,234,567").
fn grouped(v: u64, sep: char) -> String {
    let digits = v.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

fn money(kzt: u64, currency: Currency, lang: Language) -> String {
    let sep = if lang == Language::En { ',' } else { ' ' };
    match currency {
        Currency::Kzt if lang == Language::En => format!("{} KZT", grouped(kzt, sep)),
        Currency::Kzt => format!("{} ₸", grouped(kzt, sep)),
        Currency::Rub => {
            // Roughly five tenge to the rouble, in round hundreds.
            let rub = (kzt / 500).max(1) * 100;
            if lang == Language::En { format!("{} RUB", grouped(rub, sep)) } else { format!("{} ₽", grouped(rub, sep)) }
        }
    }
}

fn days_text(n: i64, lang: Language) -> String {
    match lang {
        Language::En => format!("{n} days"),
        Language::Kk => format!("{n} күн"),
        Language::Ru => {
            let word = match (n % 10, n % 100) {
                (1, r) if r != 11 => "день",
                (2..=4, r) if !(12..=14).contains(&r) => "дня",
                _ => "дней",
            };
            format!("{n} {word}")
        }
    }
}

fn odds_text(hundredths: u64, lang: Language) -> String {
    let sep = if lang == Language::En { '.' } else { ',' };
    format!("{}{sep}{:02}", hundredths / 100, hundredths % 100)
}

fn raise(p: Priority) -> Priority {
    match p {
        Priority::Low => Priority::Normal,
        Priority::Normal => Priority::High,
        Priority::High | Priority::Urgent => Priority::Urgent,
    }
}

fn lower(p: Priority) -> Priority {
    match p {
        Priority::Urgent => Priority::High,
        Priority::High => Priority::Normal,
        Priority::Normal | Priority::Low => Priority::Low,
    }
}

/// Draws the whole data set. Pure: the same seed, day, departments and staff give the same plans.
struct Planner<'a> {
    rng: Rng,
    today: jiff::civil::Date,
    departments: &'a BTreeSet<String>,
    staff: &'a [Agent],
    players: Vec<DemoPlayer>,
    emails: HashSet<String>,
    phones: HashSet<String>,
}

impl<'a> Planner<'a> {
    fn new(seed: u64, today: jiff::civil::Date, departments: &'a BTreeSet<String>, staff: &'a [Agent]) -> Self {
        Planner { rng: Rng::new(seed), today, departments, staff, players: vec![], emails: HashSet::new(), phones: HashSet::new() }
    }

    fn plan(mut self, count: usize) -> Vec<Plan> {
        let mut fates = fates(count);
        self.rng.shuffle(&mut fates);
        fates.into_iter().map(|f| self.complaint(f)).collect()
    }

    /// A new player, or now and then one who wrote before.
    fn player(&mut self) -> usize {
        if !self.players.is_empty() && self.rng.chance(22) {
            let i = self.rng.below(self.players.len());
            if self.players[i].complaints < 4 {
                return i;
            }
        }
        let rng = &mut self.rng;
        let language = rng.weighted(&[(Language::Ru, 50), (Language::Kk, 30), (Language::En, 20)], |x| x.1).0;
        let bank = match language {
            Language::Ru => &NAMES_RU,
            Language::Kk => &NAMES_KK,
            Language::En => &NAMES_EN,
        };
        let female = rng.chance(40);
        let (first, first_latin) = *rng.pick(if female { bank.women } else { bank.men });
        let &(his, hers, his_latin, hers_latin) = rng.pick(bank.surnames);
        let (last, last_latin) = if female { (hers, hers_latin) } else { (his, his_latin) };
        let local = match rng.below(4) {
            0 => format!("{first_latin}.{last_latin}"),
            1 => format!("{}.{last_latin}", &first_latin[..1]),
            2 => format!("{last_latin}.{first_latin}"),
            _ => format!("{first_latin}{last_latin}"),
        };
        let currency = if language == Language::Ru && rng.chance(30) { Currency::Rub } else { Currency::Kzt };
        let n = self.players.len() as u64;
        // Disjoint ranges per player keep the ids unique.
        let external_id = format!("P-{}", 104_000 + n * 17 + rng.range(0, 16));
        let (has_ext, has_email) = (rng.chance(85), rng.chance(75));
        let has_phone = rng.chance(60) || !(has_ext || has_email);

        let email = has_email.then(|| {
            let domains = if language == Language::En { EMAIL_DOMAINS_EN } else { EMAIL_DOMAINS_CIS };
            let domain = *rng.pick(domains);
            let mut candidate = if rng.chance(50) { format!("{local}@{domain}") } else { format!("{local}{}@{domain}", rng.range(70, 99)) };
            while self.emails.contains(&candidate) {
                candidate = format!("{local}{}@{domain}", rng.range(100, 9999));
            }
            self.emails.insert(candidate.clone());
            EmailAddress::parse(&candidate).expect("demo e-mail is valid")
        });
        let phone = has_phone.then(|| {
            loop {
                let prefixes = if currency == Currency::Rub { PHONE_PREFIXES_RU } else { PHONE_PREFIXES_KZ };
                let raw = format!("+7 {} {:03} {:02} {:02}", rng.pick(prefixes), rng.range(200, 999), rng.range(0, 99), rng.range(0, 99));
                let phone = PhoneNumber::parse(&raw).expect("demo phone is valid");
                if self.phones.insert(phone.as_str().to_string()) {
                    break phone;
                }
            }
        });
        self.players.push(DemoPlayer {
            contact: PlayerContact {
                external_id: has_ext.then(|| ExternalPlayerId::parse(&external_id).expect("demo id is valid")),
                name: Some(PersonName::parse(&format!("{first} {last}")).expect("demo name is valid")),
                email,
                phone,
                language: Some(language),
            },
            language,
            female,
            currency,
            complaints: 0,
        });
        self.players.len() - 1
    }

    fn vars(&mut self, lang: Language, female: bool, currency: Currency) -> Vars {
        let rng = &mut self.rng;
        let ago = rng.range(2, 12) as i64;
        let date = self.today.checked_sub(jiff::Span::new().days(ago)).unwrap_or(self.today);
        // Mostly everyday sums, now and then a big win.
        let amount = match rng.below(10) {
            0..=5 => rng.range(10, 100),
            6..=8 => rng.range(100, 400),
            _ => rng.range(400, 1_800),
        } * 500;
        let bonus = rng.range(2, 60) * 500;
        let limit = rng.range(2, 20) * 5_000;
        let (home, away) = rng.pick(MATCHES);
        let team = if rng.chance(60) { home } else { away };
        let won = rng.range(1, 4);
        let lost = rng.range(0, won - 1);
        let (methods, cards) = match currency {
            Currency::Kzt => (METHODS_KZT, CARDS_KZT),
            Currency::Rub => (METHODS_RUB, CARDS_RUB),
        };
        let (&method, &card) = (rng.pick(methods), rng.pick(cards));
        let (method, card) = (with_digits(method, rng), with_digits(card, rng));
        let m = |x: u64| money(x, currency, lang);
        let fixture = match lang {
            Language::En => format!("{} vs {}", home.en, away.en),
            _ => format!("«{}» — «{}»", home.get(lang), away.get(lang)),
        };
        Vars(vec![
            ("{amount}", m(amount)),
            ("{half}", m(amount / 1_000 * 500)),
            ("{bonus}", m(bonus)),
            ("{limit}", m(limit)),
            ("{date}", format!("{} {}", date.day(), MONTHS[date.month() as usize - 1].get(lang))),
            ("{days}", days_text(ago, lang)),
            ("{method}", method),
            ("{card}", card),
            ("{tx}", rng.range(1_000_000_000, 9_999_999_999).to_string()),
            ("{bet}", rng.range(100_000_000, 999_999_999).to_string()),
            ("{match}", fixture),
            ("{team}", team.get(lang).to_string()),
            ("{score}", if lang == Language::En { format!("{won}-{lost}") } else { format!("{won}:{lost}") }),
            ("{odds}", odds_text(rng.range(145, 380), lang)),
            ("{big_odds}", odds_text(rng.range(600, 1_500), lang)),
            ("{doc}", rng.pick(DOCS).get(lang).to_string()),
            ("{reason}", rng.pick(REJECT_REASONS).get(lang).to_string()),
            ("{period}", rng.pick(PERIODS).get(lang).to_string()),
            ("{city}", rng.pick(CITIES).get(lang).to_string()),
            ("{device}", rng.pick(DEVICES).to_string()),
            ("{version}", format!("5.{}.{}", rng.range(8, 14), rng.range(0, 6))),
            ("{spouse}", SPOUSES[female as usize].get(lang).to_string()),
            ("{а}", if female && lang == Language::Ru { "а" } else { "" }.to_string()),
        ])
    }

    /// An agent of the department, preferring one who speaks the complaint's language.
    fn assignee(&mut self, department: &str, lang: Language) -> Option<Uuid> {
        let of_department: Vec<&Agent> = self.staff.iter().filter(|a| a.departments.iter().any(|d| d.as_str() == department)).collect();
        let speaking: Vec<&Agent> = of_department.iter().copied().filter(|a| a.languages.contains(&lang)).collect();
        let pool = if speaking.is_empty() { of_department } else { speaking };
        (!pool.is_empty()).then(|| self.rng.pick(&pool).id)
    }

    fn complaint(&mut self, mut fate: Fate) -> Plan {
        let pi = self.player();
        let repeat = self.players[pi].complaints > 0;
        self.players[pi].complaints += 1;
        let p = &self.players[pi];
        let (lang, female, currency, contact) = (p.language, p.female, p.currency, p.contact.clone());
        let has_email = contact.email.is_some();
        let vars = self.vars(lang, female, currency);
        let rng = &mut self.rng;
        let sc = rng.weighted(SCENARIOS, |s| u64::from(s.weight));
        let t = |l: &L3| vars.fill(l.get(lang));

        let mut channel = rng
            .weighted(&[(Channel::Chat, 30), (Channel::Email, 25), (Channel::Web, 20), (Channel::Phone, 15), (Channel::Api, 10)], |x| x.1)
            .0;
        if channel == Channel::Email && !has_email {
            channel = Channel::Web;
        }
        let signoffs = match sc.kind {
            Kind::Complaint => SIGNOFFS_COMPLAINT,
            Kind::Question => SIGNOFFS_OTHER,
            Kind::Feedback | Kind::Suggestion => &SIGNOFFS_OTHER[..2],
        };
        let text = t(&sc.description);
        let signoff = t(rng.pick(signoffs));
        let description = match channel {
            Channel::Email => join(&[t(rng.pick(GREETINGS)), text, signoff], "\n\n"),
            Channel::Web | Channel::Api => join(&[text, signoff], "\n\n"),
            Channel::Chat => join(&[text, signoff], " "),
            Channel::Phone => format!("{}\n{text}", PHONE_INTRO.get(lang)),
        };
        let priority = match rng.below(10) {
            0 | 1 => raise(sc.priority),
            2 => lower(sc.priority),
            _ => sc.priority,
        };
        let mut tags: BTreeSet<Tag> = [tag(sc.tag)].into();
        if repeat {
            tags.insert(tag("repeat"));
        }
        if rng.chance(8) {
            tags.insert(tag("vip"));
        }

        let routable = self.departments.contains(sc.department);
        if !routable {
            fate = Fate::New;
        }
        // Web forms and integrations often arrive already classified.
        let pre_routed = fate != Fate::New && matches!(channel, Channel::Web | Channel::Api) && rng.chance(60);

        let mut registration = Registration {
            kind: sc.kind,
            channel,
            player: contact,
            subject: Subject::parse(&t(&sc.subject)).expect("demo subjects are valid"),
            description: body(description),
            language: Some(lang),
            department: None,
            category: None,
            priority: Some(priority),
            tags,
            segments: Default::default(),
        };
        if pre_routed {
            registration.department = Some(department(sc));
            registration.category = Some(category(sc));
        }

        let script = self.script(fate, sc, &vars, lang, pre_routed);
        Plan { registration, script }
    }

    /// The commands that take a registered complaint to its fate.
    fn script(&mut self, fate: Fate, sc: &Scenario, vars: &Vars, lang: Language, pre_routed: bool) -> Vec<CommandInput> {
        use CommandInput as C;
        let mut s = vec![];
        if fate == Fate::New {
            return s;
        }
        let t = |l: &L3| body(vars.fill(l.get(lang)));
        // Internal notes: English for English complaints; Kazakh ones get Kazakh or Russian.
        let note_lang = match lang {
            Language::Kk if self.rng.chance(50) => Language::Ru,
            other => other,
        };
        // The notes this complaint may get, each at most once: usually the case's own first.
        let mut notes: Vec<&L3> = std::iter::once(&sc.note).chain(GENERIC_NOTES).collect();
        if self.rng.chance(35) {
            notes.rotate_left(1 + self.rng.below(GENERIC_NOTES.len()));
        }
        let mut notes = notes.into_iter();
        let mut note = || match notes.next() {
            Some(text) => vec![C::AddMessage { kind: MessageKind::Note, channel: None, body: body(vars.fill(text.get(note_lang))) }],
            None => vec![],
        };

        if !pre_routed {
            s.push(C::Route { department: department(sc), category: Some(category(sc)) });
        }
        if fate == Fate::Routed {
            if self.rng.chance(30) {
                s.extend(note());
            }
            if self.rng.chance(25) {
                s.push(C::AddMessage { kind: MessageKind::Outbound, channel: None, body: t(self.rng.pick(OUTBOUND)) });
            }
            return s;
        }

        let skip_assign = match fate {
            Fate::Waiting | Fate::Resolved | Fate::Closed => self.rng.chance(10),
            _ => false,
        };
        if !skip_assign && let Some(agent_id) = self.assignee(sc.department, lang) {
            s.push(C::Assign { agent: agent_id });
        }
        if self.rng.chance(40) {
            s.push(C::AddMessage { kind: MessageKind::Outbound, channel: None, body: t(self.rng.pick(OUTBOUND)) });
        }
        match fate {
            Fate::InProgress | Fate::Escalated => {
                if self.rng.chance(40) {
                    s.extend(note());
                }
                if self.rng.chance(8) {
                    s.push(C::ChangePriority { priority: raise(sc.priority) });
                }
                if fate == Fate::Escalated {
                    let external = self.rng.chance(35);
                    s.push(self.escalation(lang, external));
                    if external {
                        s.push(C::Tag { add: [tag("regulator")].into(), remove: BTreeSet::new() });
                    }
                }
            }
            Fate::Waiting => {
                if self.rng.chance(25) {
                    // A first round already answered, then a proposal.
                    s.push(C::RequestInformation { text: t(&sc.ask) });
                    s.push(C::RecordPlayerReply { channel: None, text: t(&sc.reply) });
                    s.push(C::ProposeSolution { text: t(&sc.offer) });
                } else if self.rng.chance(60) {
                    s.push(C::RequestInformation { text: t(&sc.ask) });
                } else {
                    s.push(C::ProposeSolution { text: t(&sc.offer) });
                }
            }
            Fate::Resolved | Fate::Closed | Fate::Reopened => {
                if self.rng.chance(50) {
                    if self.rng.chance(50) {
                        s.push(C::RequestInformation { text: t(&sc.ask) });
                        s.push(C::RecordPlayerReply { channel: None, text: t(&sc.reply) });
                    } else {
                        s.push(C::ProposeSolution { text: t(&sc.offer) });
                        // Grudging acceptance only where there was a grudge.
                        let replies = if sc.kind == Kind::Complaint { REPLIES_OFFER } else { &REPLIES_OFFER[..2] };
                        s.push(C::RecordPlayerReply { channel: None, text: t(self.rng.pick(replies)) });
                    }
                }
                if self.rng.chance(30) {
                    s.extend(note());
                }
                s.push(C::Resolve { measures: t(&sc.measures), result: t(&sc.result) });
                match fate {
                    Fate::Closed => s.push(C::Close),
                    Fate::Reopened => {
                        if self.rng.chance(60) {
                            s.push(C::RecordPlayerReply { channel: None, text: t(self.rng.pick(DISPUTES)) });
                        } else {
                            s.push(C::Reopen { reason: t(self.rng.pick(REOPEN_REASONS)) });
                        }
                        if self.rng.chance(30) {
                            s.push(self.escalation(lang, false));
                        }
                        if self.rng.chance(40) {
                            s.extend(note());
                        }
                    }
                    _ => {}
                }
            }
            Fate::New | Fate::Routed => unreachable!("handled above"),
        }
        s
    }

    fn escalation(&mut self, lang: Language, external: bool) -> CommandInput {
        let (level, reasons) =
            if external { (EscalationLevel::External, ESCALATE_EXTERNAL) } else { (EscalationLevel::Supervisor, ESCALATE_SUPERVISOR) };
        CommandInput::Escalate { level, reason: body(self.rng.pick(reasons).get(lang).into()) }
    }
}

/// "Visa *" → "Visa *4417".
fn with_digits(method: &str, rng: &mut Rng) -> String {
    match method.strip_suffix('*') {
        Some(brand) => format!("{brand}*{:04}", rng.range(0, 9999)),
        None => method.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeskConfig;
    use ombuds_store::testing::TestDb;
    use std::collections::BTreeMap;

    /// The `{…}` placeholders of a template, without the Russian-only `{а}`.
    fn placeholders(s: &str) -> BTreeSet<&str> {
        s.match_indices('{').filter_map(|(i, _)| s[i..].find('}').map(|j| &s[i..=i + j])).filter(|p| *p != "{а}").collect()
    }

    fn all_texts(sc: &Scenario) -> [(&'static str, &L3); 8] {
        [
            ("subject", &sc.subject),
            ("description", &sc.description),
            ("ask", &sc.ask),
            ("reply", &sc.reply),
            ("offer", &sc.offer),
            ("measures", &sc.measures),
            ("result", &sc.result),
            ("note", &sc.note),
        ]
    }

    #[test]
    fn templates_agree_across_languages() {
        let known: BTreeSet<&str> = [
            "{amount}",
            "{half}",
            "{bonus}",
            "{limit}",
            "{date}",
            "{days}",
            "{method}",
            "{card}",
            "{tx}",
            "{bet}",
            "{match}",
            "{team}",
            "{score}",
            "{odds}",
            "{big_odds}",
            "{doc}",
            "{reason}",
            "{period}",
            "{city}",
            "{device}",
            "{version}",
            "{spouse}",
        ]
        .into();
        let kazakh = |s: &str| s.chars().any(|c| "әғқңөұүһіӘҒҚҢӨҰҮҺІ".contains(c));
        assert!(SCENARIOS.len() >= 12);
        for sc in SCENARIOS {
            for (field, l) in all_texts(sc) {
                let ru = placeholders(l.ru);
                assert_eq!(ru, placeholders(l.kk), "{} {field}: kk placeholders differ", sc.category);
                assert_eq!(ru, placeholders(l.en), "{} {field}: en placeholders differ", sc.category);
                assert!(ru.is_subset(&known), "{} {field}: unknown placeholder in {ru:?}", sc.category);
                assert!(!l.kk.contains("{а}") && !l.en.contains("{а}"), "{} {field}: {{а}} is for Russian only", sc.category);
            }
            assert!(kazakh(sc.description.kk), "{}: the Kazakh description has no Kazakh letters", sc.category);
        }
    }

    fn staff() -> Vec<Agent> {
        AGENTS
            .iter()
            .enumerate()
            .map(|(i, a)| Agent {
                id: Uuid::from_u128(i as u128 + 1),
                login: a.login.into(),
                name: PersonName::parse(a.name).unwrap(),
                email: None,
                role: a.role,
                departments: a.departments.iter().map(|d| DepartmentCode::parse(d).unwrap()).collect(),
                languages: a.languages.iter().copied().collect(),
                active: true,
                skills: Default::default(),
                capacity: DEFAULT_CAPACITY,
            })
            .collect()
    }

    #[test]
    fn plans_are_deterministic_and_fully_filled() {
        let departments: BTreeSet<String> = crate::DEFAULT_DEPARTMENTS.iter().map(|d| d.0.to_string()).collect();
        let staff = staff();
        let today = jiff::civil::date(2025, 3, 14);
        let draw = |seed| Planner::new(seed, today, &departments, &staff).plan(300);
        let (a, b) = (draw(7), draw(7));
        assert_eq!(a.len(), 300);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.registration, y.registration);
            assert_eq!(format!("{:?}", x.script), format!("{:?}", y.script));
        }
        assert_ne!(a[0].registration, draw(8)[0].registration, "another seed, another data set");
        for p in &a {
            let r = &p.registration;
            let mut texts = vec![r.subject.as_str(), r.description.as_str()];
            for cmd in &p.script {
                use CommandInput as C;
                match cmd {
                    C::AddMessage { body: t, .. }
                    | C::ProposeSolution { text: t }
                    | C::RequestInformation { text: t }
                    | C::RecordPlayerReply { text: t, .. }
                    | C::Reopen { reason: t }
                    | C::Escalate { reason: t, .. } => texts.push(t.as_str()),
                    C::Resolve { measures, result } => texts.extend([measures.as_str(), result.as_str()]),
                    _ => {}
                }
            }
            for t in texts {
                assert!(!t.contains('{') && !t.contains('}'), "unfilled placeholder: {t}");
            }
        }
        let languages: BTreeMap<Language, usize> = a.iter().fold(BTreeMap::new(), |mut m, p| {
            *m.entry(p.registration.language.unwrap()).or_default() += 1;
            m
        });
        assert!(
            languages[&Language::Ru] > languages[&Language::Kk] && languages[&Language::Kk] > languages[&Language::En],
            "{languages:?}"
        );
        let kinds: BTreeSet<Kind> = a.iter().map(|p| p.registration.kind).collect();
        assert_eq!(kinds.len(), Kind::ALL.len());
        let channels: BTreeSet<Channel> = a.iter().map(|p| p.registration.channel).collect();
        assert_eq!(channels.len(), Channel::ALL.len());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn loads_a_varied_data_set_once() {
        let db = TestDb::sqlite();
        let store = db.open().await;
        let desk = Desk::with_store(store, DeskConfig::default()).await;

        let summary = load(&desk, 60, 42).await.unwrap().expect("an empty store gets demo data");
        assert_eq!(summary, DemoSummary { complaints: 60, agents: AGENTS.len() });

        let page =
            desk.store().list_complaints(&Default::default(), &Visibility::All, PageRequest { after: None, limit: 500 }).await.unwrap();
        let all = page.items;
        assert_eq!(all.len(), 60);
        let statuses: BTreeSet<Status> = all.iter().map(|c| c.status).collect();
        assert_eq!(statuses, Status::ALL.iter().copied().collect(), "every status appears");
        let languages: BTreeSet<Language> = all.iter().map(|c| c.language).collect();
        assert_eq!(languages, Language::ALL.iter().copied().collect(), "every language appears");
        let departments: BTreeSet<&DepartmentCode> = all.iter().filter_map(|c| c.department.as_ref()).collect();
        assert!(departments.len() >= 5, "{departments:?}");
        assert!(all.iter().any(|c| c.escalation.is_some()), "some complaints are escalated");
        let players: BTreeSet<Uuid> = all.iter().map(|c| c.player_id).collect();
        assert!(players.len() < all.len(), "some players wrote more than once");

        // Unrouted complaints are new; assignees work in the complaint's department.
        let agents: BTreeMap<Uuid, Agent> = desk.agents().await.unwrap().into_iter().map(|a| (a.id, a)).collect();
        for c in &all {
            assert_eq!(c.department.is_none(), c.status == Status::New, "{c:?}");
            if let Some(a) = c.assignee {
                assert!(agents[&a].departments.contains(c.department.as_ref().unwrap()), "{c:?}");
            }
            if matches!(c.status, Status::Resolved | Status::Closed) {
                assert!(c.resolution.is_some());
            }
        }
        assert!(all.iter().any(|c| c.status == Status::InProgress && c.assignee.is_some()));

        // The demo accounts can sign in.
        desk.login("a.nurlanova", DEMO_PASSWORD).await.unwrap();

        // Threads hold notes, replies to the player and the player's answers.
        let mut kinds = BTreeSet::new();
        for c in &all {
            kinds.extend(desk.store().messages(c.id).await.unwrap().into_iter().map(|m| m.kind));
        }
        assert_eq!(kinds, MessageKind::ALL.iter().copied().collect());

        // Nobody real is written to: every address is on a reserved example domain, and no
        // notice is left to send (a desk with a relay mailed hundreds of them before).
        let reserved = |e: &EmailAddress| {
            let domain = e.as_str().rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
            ["example.com", "example.net", "example.org"].contains(&domain.as_str()) || domain.ends_with(".example") || domain == "example"
        };
        for c in &all {
            let player = desk.store().player(c.player_id).await.unwrap();
            assert!(player.email.as_ref().is_none_or(reserved), "{:?}", player.email);
        }
        for a in agents.values() {
            assert!(a.email.as_ref().is_none_or(reserved), "{:?}", a.email);
        }
        for kind in NOTICE_JOBS {
            assert_eq!(desk.store().job_count(kind, "pending").await.unwrap(), 0, "{kind} jobs left to send");
        }
        assert!(desk.store().job_count("acknowledge", "done").await.unwrap() >= 60, "acknowledgments settled, not lost");

        assert_eq!(load(&desk, 60, 42).await.unwrap(), None, "a second load leaves the store alone");
        desk.close().await;
    }
}
