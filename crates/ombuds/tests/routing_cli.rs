//! `ombuds rules`, `ombuds train` and `ombuds classify` on both stores: good files, bad files,
//! and a classifier trained on resolved complaints.

mod common;
use common::*;
use ombuds_core::{Body, Command, DepartmentCode, Principal, Scope};
use ombuds_desk::{Desk, DeskConfig};
use ombuds_store::testing::TestDb;

ombuds_store::both_backends! { rules_train_and_classify => rules_train_and_classify }

fn file(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

const RULES: &str = r#"
[[rule]]
name = "withdrawals"
when.any_words = ["вывод*", "withdrawal*"]
then.department = "payments"
"#;

/// The classifier's test set: (text, department).
fn examples() -> Vec<(String, String)> {
    include_str!("../../insight/tests/data/complaints.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["text"].as_str().unwrap().to_string(), v["department"].as_str().unwrap().to_string())
        })
        .collect()
}

async fn rules_train_and_classify(db: &TestDb) {
    let database = url(db);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = run(&database, &["migrate"]);
    assert!(o.status.success(), "{}", text(&o));
    // Departments exist once the desk seeds them (serve does it; here the test's desk).
    let desk = Desk::with_store(db.open().await, DeskConfig::default()).await;
    desk.seed_departments().await.unwrap();

    // Check only: nothing saved.
    let good = file(d, "rules.toml", RULES);
    let o = run(&database, &["rules", "import", &good, "--check"]);
    assert!(o.status.success() && text(&o).contains("all correct"), "{}", text(&o));
    let o = run(&database, &["rules", "export"]);
    assert!(o.status.success() && text(&o).contains("version 0"), "{}", text(&o));

    // Bad files: the rule and field named, exit 1, nothing saved; unreadable files exit 2.
    let bad = file(d, "bad.toml", "[[rule]]\nname = \"ghost\"\nthen.department = \"casino\"\n\n[[rule]]\nname = \"re\"\nwhen.text_matches = \"(\"\nthen.priority = \"high\"\n");
    let o = run(&database, &["rules", "import", &bad]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("rule[1] 'ghost' then.department: there is no department 'casino'"), "{}", text(&o));
    assert!(text(&o).contains("rule[2] 're' when.text_matches"), "{}", text(&o));
    let o = run(&database, &["rules", "import", &bad, "--check"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let garbled = file(d, "garbled.toml", "[[rule]\nname = 1\n");
    let o = run(&database, &["rules", "import", &garbled]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not a rule file") && text(&o).contains("line 1"), "{}", text(&o));
    let o = run(&database, &["rules", "import", "/nonexistent/rules.toml"]);
    assert!(o.status.code() == Some(2) && text(&o).contains("cannot read"), "{}", text(&o));

    // Save, then export as TOML and JSON; the export imports again.
    let o = run(&database, &["rules", "import", &good]);
    assert!(o.status.success() && text(&o).contains("saved as version 1 (1 rules)"), "{}", text(&o));
    let o = run(&database, &["rules", "export"]);
    let exported = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(exported.contains("version 1") && exported.contains("withdrawals"), "{exported}");
    let again = file(d, "again.toml", &exported);
    let o = run(&database, &["rules", "import", &again]);
    assert!(o.status.success() && text(&o).contains("version 2"), "{}", text(&o));
    let o = run(&database, &["rules", "export", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rule"][0]["name"], "withdrawals");
    let json = file(d, "rules.json", &String::from_utf8_lossy(&o.stdout));
    assert!(run(&database, &["rules", "import", &json]).status.success());
    let o = run(&database, &["rules", "export", "--format", "yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // No resolved complaints: nothing to train, nothing to classify with.
    let o = run(&database, &["train"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not trained"), "{}", text(&o));
    let texts = file(d, "texts.jsonl", "{\"id\": 1, \"text\": \"Вывод не пришёл на карту\", \"department\": \"payments\"}\n\n{\"id\": \"b\", \"subject\": \"Аккаунт\", \"text\": \"Мой аккаунт взломали\", \"department\": \"security\"}\n");
    let o = run(&database, &["classify", "--file", &texts]);
    assert!(o.status.code() == Some(2) && text(&o).contains("ombuds train"), "{}", text(&o));

    // History: complaints routed by people and resolved.
    let admin = Principal::Token { id: uuid::Uuid::nil(), name: "test".into(), scopes: [Scope::Admin].into() };
    for (text, department) in examples() {
        let mut reg = ombuds_core::Registration {
            kind: ombuds_core::Kind::Complaint,
            channel: ombuds_core::Channel::Web,
            player: ombuds_core::PlayerContact {
                external_id: None,
                name: None,
                email: Some(ombuds_core::EmailAddress::parse("p@mail.kz").unwrap()),
                phone: None,
                language: None,
            },
            subject: ombuds_core::Subject::parse("Обращение").unwrap(),
            description: Body::parse(&text).unwrap(),
            language: None,
            department: None,
            category: None,
            priority: None,
            tags: Default::default(),
            segments: Default::default(),
        };
        reg.department = Some(DepartmentCode::parse(&department).unwrap());
        let c = desk.register(&admin, reg, None).await.unwrap().complaint;
        let resolve = Command::Resolve { measures: Body::parse("checked").unwrap(), result: Body::parse("answered").unwrap() };
        desk.apply(&admin, &c.reference, resolve).await.unwrap();
    }

    let o = run(&database, &["train", "--eval"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    for want in ["== department", "accuracy", "macro-F1", "confusion", "responsible_gaming"] {
        assert!(out.contains(want), "{want}: {out}");
    }
    let o = run(&database, &["train", "--eval", "--folds", "5"]);
    let out = text(&o);
    assert!(o.status.success() && out.contains("5-fold cross-validation") && out.contains("tested on 112 held-out examples"), "{out}");
    let o = run(&database, &["train", "--eval", "--test-share", "1.5"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = run(&database, &["train"]);
    assert!(o.status.success() && text(&o).contains("trained on 112 resolved complaints: 7 departments"), "{}", text(&o));

    let o = run(&database, &["classify", "--file", &texts]);
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!((lines[0]["id"].as_str(), lines[0]["department"].as_str(), lines[0]["line"].as_i64()), (Some("1"), Some("payments"), Some(1)));
    assert_eq!((lines[1]["id"].as_str(), lines[1]["department"].as_str()), (Some("b"), Some("security")));
    assert!(lines[0]["confidence"].as_f64().unwrap() > 0.0);
    assert!(String::from_utf8_lossy(&o.stderr).contains("accuracy against the file's departments: 1.000 (2 of 2)"), "{}", text(&o));
    let csv = file(d, "texts.csv", "id,text,department\n7,\"Промокод на бонус не сработал, бонус не начислен\",bonuses\n");
    let out = d.join("labels.jsonl");
    let o = run(&database, &["classify", "--file", &csv, "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let labelled = std::fs::read_to_string(&out).unwrap();
    assert!(labelled.contains("\"department\":\"bonuses\"") && labelled.contains("\"id\":\"7\""), "{labelled}");
    // Bad files.
    for (name, body, says) in [
        ("notext.csv", "id,body\n1,x\n", "no 'text' column"),
        ("broken.jsonl", "{\"text\": \"ok\"}\n{not json\n", "line 2 is not JSON"),
        ("missing.jsonl", "{\"body\": \"x\"}\n", "line 1 has no \"text\""),
        ("ragged.csv", "id,text\n1,a,b\n", "record 1 is malformed"),
    ] {
        let f = file(d, name, body);
        let o = run(&database, &["classify", "--file", &f]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", text(&o));
        assert!(text(&o).contains(says), "{name} should say {says}: {}", text(&o));
    }
    let o = run(&database, &["classify", "--file", &texts, "--format", "xml"]);
    assert!(o.status.code() == Some(2) && text(&o).contains("unknown format"), "{}", text(&o));
    desk.close().await;
}

/// `train --file TRAIN --eval-file TEST`: learning and measuring from files alone, with labels
/// that are not department codes (spaces, case, punctuation, over 48 characters), JSONL and CSV;
/// bad files are refused with a message and a non-zero exit.
#[test]
fn train_and_evaluate_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let database = format!("sqlite://{}/o.db", d.display());
    let long = |dept: &str| format!("{} — Team \"{}\", 2nd line (KZ/RU/EN), since 2024!", dept.to_uppercase(), dept);
    let (mut train, mut test_csv) = (String::new(), String::from("subject,text,department\n"));
    for (i, (t, dept)) in examples().into_iter().enumerate() {
        if i % 4 == 0 {
            let quoted = t.replace('"', "\"\"");
            test_csv.push_str(&format!("\"\",\"{quoted}\",\"{}\"\n", long(&dept).replace('"', "\"\"")));
        } else {
            train.push_str(&serde_json::json!({"text": t, "department": long(&dept)}).to_string());
            train.push('\n');
        }
    }
    let train = file(d, "train.jsonl", &train);
    let test = file(d, "test.csv", &test_csv);
    let o = run(&database, &["train", "--file", &train, "--eval-file", &test]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let accuracy: f64 = out.lines().find_map(|l| l.strip_prefix("accuracy ")).and_then(|a| a.trim().parse().ok()).unwrap_or_else(|| panic!("{out}"));
    assert!(accuracy > 0.5, "{out}");
    assert!(out.contains(&long("payments")), "labels are kept as written: {out}");
    // A held-out split of one file.
    let o = run(&database, &["train", "--file", &train, "--eval", "--test-share", "0.25", "--seed", "3"]);
    assert!(o.status.success() && text(&o).contains("accuracy 0."), "{}", text(&o));

    // Stratified cross-validation: every example tested once.
    let o = run(&database, &["train", "--file", &train, "--eval", "--folds", "4"]);
    let out = text(&o);
    assert!(o.status.success() && out.contains("accuracy 0."), "{out}");
    let examples_in_train = std::fs::read_to_string(&train).unwrap().lines().count();
    assert!(out.contains(&format!("tested on {examples_in_train} held-out examples")), "{out}");

    // Bad inputs: clear messages, non-zero exits.
    let one = file(d, "one.jsonl", "{\"text\": \"вывод не пришёл\", \"department\": \"payments\"}\n{\"text\": \"деньги не пришли\", \"department\": \"payments\"}\n");
    let nolabel = file(d, "nolabel.jsonl", "{\"text\": \"вывод не пришёл\", \"department\": \"payments\"}\n{\"text\": \"пароль\"}\n");
    let garbage = file(d, "garbage.jsonl", "not json\n");
    for (args, says) in [
        (vec!["train", "--file", one.as_str(), "--eval"], "at least two departments"),
        (vec!["train", "--file", nolabel.as_str(), "--eval"], "row 2 has no department"),
        (vec!["train", "--file", garbage.as_str(), "--eval"], "line 1 is not JSON"),
        (vec!["train", "--file", train.as_str()], "add --eval"),
        (vec!["train", "--file", "/nonexistent/x.jsonl", "--eval"], "cannot read"),
        (vec!["train", "--file", train.as_str(), "--eval", "--folds", "1"], "--folds must be at least 2"),
        (vec!["train", "--file", train.as_str(), "--folds", "3"], "--folds goes with --eval"),
    ] {
        let o = run(&database, &args);
        assert!(!o.status.success() && text(&o).contains(says), "{args:?}: {}", text(&o));
    }
}
