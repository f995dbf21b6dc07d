//! Routing with 200 rules (target: ≤ 50 µs per complaint): `cargo bench -p ombuds-core --bench routing`.

use criterion::{Criterion, criterion_group, criterion_main};
use ombuds_core::DepartmentCode;
use ombuds_core::model::{Channel, Kind, Language};
use ombuds_core::rules::{RoutingInput, RuleSet, RuleSetSpec};
use serde_json::json;
use std::hint::black_box;

const DEPARTMENTS: &[&str] = &["payments", "verification", "bet_settlement", "bonuses", "technical", "responsible_gaming", "security"];
const STEMS: &[&str] = &[
    "вывод", "депозит", "пополнен", "карт", "верификац", "документ", "паспорт", "ставк", "расчет", "коэффициент", "бонус", "фриспин",
    "промокод", "приложени", "ошибк", "вход", "пароль", "взлом", "самоисключ", "лимит", "ақша", "шығару", "құжат", "бәс", "withdraw",
    "deposit", "verify", "bet", "bonus", "login", "hacked", "limit", "refund", "cashback", "jackpot", "casino", "слот", "матч", "лайв", "чат",
];

fn rules(n: usize) -> RuleSetSpec {
    let rules: Vec<_> = (0..n)
        .map(|i| {
            let mut when = json!({"any_words": [format!("{}*", STEMS[i % STEMS.len()]), format!("{}{}*", STEMS[(i * 7) % STEMS.len()], i)]});
            match i % 5 {
                0 => when["no_words"] = json!([format!("тест{i}")]),
                1 => when["language"] = json!(["ru", "kk"]),
                2 => when["amount_at_least"] = json!(100_000 + i),
                3 => when["channel"] = json!(["email", "chat"]),
                _ => {}
            }
            if i % 40 == 0 {
                when["text_matches"] = json!(format!(r"(?:заявк|request)\w*\s+№?\s*\d{{{}}}", 4 + i % 3));
            }
            json!({"name": format!("rule {i}"), "when": when, "then": {"department": DEPARTMENTS[i % DEPARTMENTS.len()], "add_tags": [format!("t{}", i % 17)]}})
        })
        .collect();
    serde_json::from_value(json!({ "rule": rules })).unwrap()
}

fn bench(c: &mut Criterion) {
    let departments: Vec<DepartmentCode> = DEPARTMENTS.iter().map(|d| DepartmentCode::parse(d).unwrap()).collect();
    let set = RuleSet::compile(&rules(200), &departments, None).unwrap();
    let subject = "Не приходит вывод на карту";
    let text = "Здравствуйте! Третий день жду вывод средств на карту Kaspi, сумма 250 000 ₸. Заявка № 845512 висит в статусе \
                «в обработке», поддержка в чате отвечает шаблонами. Верификацию я прошёл ещё в прошлом месяце, документы \
                приняты. Прошу разобраться и ускорить выплату, иначе буду жаловаться регулятору.";
    let input = RoutingInput { channel: Some(Channel::Email), kind: Some(Kind::Complaint), language: Some(Language::Ru), subject, text, ..Default::default() };
    assert!(!set.route(&input).fired.is_empty());
    c.bench_function("route a 400-character complaint through 200 rules", |b| b.iter(|| black_box(set.route(black_box(&input)))));
}

criterion_group!(benches, bench);
criterion_main!(benches);
