//! `predict` on a ~300-character complaint, with a model trained on the test data.
//! Budget: ≤ 200 µs per prediction.

use criterion::{Criterion, criterion_group, criterion_main};
use ombuds_insight::{Classifier, Example};
use std::hint::black_box;

fn model() -> Classifier {
    let examples: Vec<Example> = include_str!("../tests/data/complaints.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("valid JSONL");
            Example::new(v["text"].as_str().unwrap_or_default(), v["department"].as_str().unwrap_or_default())
        })
        .collect();
    Classifier::train(&examples).expect("the test data trains")
}

fn predict(c: &mut Criterion) {
    let model = model();
    let text = "Здравствуйте! Три дня назад подал заявку на вывод средств на карту Kaspi, 85 000 тенге. \
                Статус всё ещё «в обработке», деньги не пришли. Верификацию прошёл давно, документы \
                одобрены. В поддержке отвечают шаблонно. Прошу срочно разобраться и вернуть деньги.";
    assert!((250..400).contains(&text.chars().count()));
    c.bench_function("predict 300 chars", |b| b.iter(|| model.predict(black_box(text))));
}

criterion_group!(benches, predict);
criterion_main!(benches);
