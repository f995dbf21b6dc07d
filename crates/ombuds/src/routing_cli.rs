//! `ombuds rules`, `ombuds train` and `ombuds classify`: the routing rules and the classifier
//! from the command line. Everything goes through the desk, as an administrator named `cli`.

use anyhow::{Context, bail};
use ombuds_core::rules::RuleSetSpec;
use ombuds_core::{Principal, Scope};
use ombuds_desk::Desk;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum RulesCmd {
    /// Print the rule set in force (TOML unless --format json), or write it to --output.
    Export {
        #[arg(long, default_value = "toml")]
        format: String,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Check a rule file (TOML, or JSON by its .json extension) and save it as the new version.
    /// With --check nothing is saved. Any mistake is printed with its rule and field; exit 1.
    Import {
        /// The file, or - for standard input (TOML).
        file: PathBuf,
        #[arg(long)]
        check: bool,
    },
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Do not save a model: train on a held-out split and print accuracy, macro-F1 and the
    /// confusion table.
    #[arg(long)]
    eval: bool,
    /// Share of each department held out for testing with --eval.
    #[arg(long, default_value_t = 0.2)]
    test_share: f64,
    /// Seed of the held-out split (and of the folds).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// With --eval: stratified K-fold cross-validation instead of one held-out split (every
    /// example is tested once, by a model trained on the other folds).
    #[arg(long, conflicts_with = "eval_file")]
    folds: Option<usize>,
    /// Learn from this file instead of the stored complaints: JSONL (`text`, `department`,
    /// optional `subject`) or CSV with those columns. Labels may be any text. Needs --eval (a
    /// held-out split of the file) or --eval-file; nothing is saved.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Test on this file (same format) after learning from --file; prints `accuracy 0.xxx`.
    #[arg(long, requires = "file")]
    eval_file: Option<PathBuf>,
    /// `jsonl` or `csv` for --file and --eval-file; by default from each file's extension.
    #[arg(long)]
    format: Option<String>,
}

/// The labelled examples of a file: subject and text as one text (the subject is not counted
/// twice when the text already starts with it), labelled by the `department` column.
fn examples_of(file: &Path, format: Option<&str>) -> anyhow::Result<Vec<ombuds_insight::Example>> {
    let rows = read_rows(file, format)?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, r) in rows.into_iter().enumerate() {
        let Some(label) = r.expected.filter(|l| !l.trim().is_empty()) else { bail!("{}: row {} has no department", file.display(), i + 1) };
        if r.text.trim().is_empty() {
            bail!("{}: row {} has an empty text", file.display(), i + 1);
        }
        let subject = r.subject.trim();
        let text = if subject.is_empty() || r.text.trim_start().starts_with(subject) { r.text } else { format!("{subject}\n{}", r.text) };
        out.push(ombuds_insight::Example::new(text, label.trim()));
    }
    Ok(out)
}

/// `train --file`: learning and testing from files, without the store.
fn train_from_files(args: &TrainArgs, file: &Path) -> anyhow::Result<ExitCode> {
    let train = examples_of(file, args.format.as_deref())?;
    let labels: std::collections::BTreeSet<&str> = train.iter().map(|e| e.label.as_str()).collect();
    if labels.len() < 2 {
        bail!("{}: {} examples in {} department(s); at least two departments are needed to learn anything", file.display(), train.len(), labels.len());
    }
    let started = std::time::Instant::now();
    let evaluation = match &args.eval_file {
        Some(test_file) => {
            let test = examples_of(test_file, args.format.as_deref())?;
            let unknown: std::collections::BTreeSet<&str> = test.iter().map(|e| e.label.as_str()).filter(|l| !labels.contains(l)).collect();
            if !unknown.is_empty() {
                eprintln!("{}: departments never seen in {} (counted as misses): {}", test_file.display(), file.display(), unknown.into_iter().collect::<Vec<_>>().join(", "));
            }
            ombuds_insight::evaluate_split(&train, &test)
        }
        None if args.eval => match args.folds {
            Some(k) => ombuds_insight::cross_validate(&train, k, args.seed),
            None => ombuds_insight::evaluate(&train, args.test_share, args.seed),
        },
        None => bail!("--file learns for measuring only: add --eval (a held-out split) or --eval-file TEST"),
    }
    .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    println!("== department\n{evaluation}");
    println!("accuracy {:.3}", evaluation.accuracy);
    eprintln!("({:.1} s)", started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct ClassifyArgs {
    /// JSONL (one object per line with `text`, and optionally `subject`, `id` and the expected
    /// `department`) or CSV with a header naming the same columns.
    #[arg(long)]
    file: PathBuf,
    /// `jsonl` or `csv`; by default from the file's extension.
    #[arg(long)]
    format: Option<String>,
    /// Where to write the labelled lines (JSONL); standard output by default.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

fn cli_admin() -> Principal {
    Principal::Token { id: uuid::Uuid::nil(), name: "cli".into(), scopes: [Scope::Admin].into() }
}

pub async fn rules(desk: &Desk, cmd: RulesCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        RulesCmd::Export { format, output } => {
            let view = desk.routing_rules(&cli_admin()).await?;
            let text = match format.as_str() {
                "toml" => format!("# ombuds routing rules, version {}\n\n{}", view.version, view.spec.to_toml()),
                "json" => serde_json::to_string_pretty(&view.spec)? + "\n",
                other => bail!("unknown format '{other}': use toml or json"),
            };
            match output {
                Some(p) => std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?,
                None => print!("{text}"),
            }
            eprintln!("version {} ({} rules)", view.version, view.rules);
        }
        RulesCmd::Import { file, check } => {
            let spec = read_spec(&file)?;
            if check {
                match desk.check_routing_rules(&cli_admin(), &spec).await {
                    Ok(n) => println!("{}: {} rules ({n} enabled), all correct (nothing saved)", file.display(), spec.rules.len()),
                    Err(e) => return Ok(refused(&file, e)),
                }
            } else {
                match desk.save_routing_rules(&cli_admin(), spec, None).await {
                    Ok(v) => println!("{}: saved as version {} ({} rules)", file.display(), v.version, v.rules),
                    Err(e) => return Ok(refused(&file, e)),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn refused(file: &Path, e: ombuds_desk::DeskError) -> ExitCode {
    match e {
        ombuds_desk::DeskError::Domain(ombuds_core::DomainError::Invalid(errors)) => {
            eprintln!("{}: refused, nothing saved:", file.display());
            for e in errors {
                eprintln!("  {}: {}", e.field, e.message);
            }
        }
        e => eprintln!("{}: {e}", file.display()),
    }
    ExitCode::from(1)
}

fn read_spec(file: &Path) -> anyhow::Result<RuleSetSpec> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    let json = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let spec = if json { RuleSetSpec::from_json(text.as_bytes()) } else { RuleSetSpec::from_toml(&text) };
    spec.map_err(|e| anyhow::anyhow!("{}: not a rule file: {e}", file.display()))
}

pub async fn train(desk: &Desk, args: TrainArgs) -> anyhow::Result<ExitCode> {
    if !(args.test_share > 0.0 && args.test_share < 1.0) {
        bail!("--test-share must be strictly between 0 and 1");
    }
    if args.folds.is_some_and(|k| k < 2) {
        bail!("--folds must be at least 2");
    }
    if args.folds.is_some() && !args.eval {
        bail!("--folds goes with --eval");
    }
    if let Some(file) = &args.file {
        return train_from_files(&args, file);
    }
    if let (true, Some(k)) = (args.eval, args.folds) {
        let departments = desk.cross_validate_classifier(k, args.seed).await.map_err(crate::user_error)?;
        println!("== department ({k}-fold cross-validation)\n{departments}");
        return Ok(ExitCode::SUCCESS);
    }
    if args.eval {
        let (departments, categories) = desk.evaluate_classifier(args.test_share, args.seed).await.map_err(crate::user_error)?;
        println!("== department\n{departments}");
        if let Some(c) = categories {
            println!("== category (department/category)\n{c}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let started = std::time::Instant::now();
    let r = desk.train(None).await.map_err(crate::user_error)?;
    if r.trained {
        println!(
            "trained on {} resolved complaints: {} departments, {} categories ({:.1} s); every node uses it for the next complaint",
            r.examples,
            r.departments,
            r.categories,
            started.elapsed().as_secs_f64()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "not trained: {} resolved complaints in {} departments (at least [routing] min_training_rows and two departments are needed)",
            r.examples, r.departments
        );
        Ok(ExitCode::from(1))
    }
}

/// One text to label, with what the file says it is.
struct Row {
    id: Option<String>,
    subject: String,
    text: String,
    expected: Option<String>,
}

fn read_rows(file: &Path, format: Option<&str>) -> anyhow::Result<Vec<Row>> {
    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let format = format.map(str::to_ascii_lowercase).unwrap_or(if ext == "csv" { "csv".into() } else { "jsonl".into() });
    let f = std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut rows = vec![];
    match format.as_str() {
        "jsonl" => {
            for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
                let line = line.with_context(|| format!("{}: line {} is not UTF-8 text", file.display(), i + 1))?;
                if line.trim().is_empty() {
                    continue;
                }
                let v: serde_json::Value =
                    serde_json::from_str(&line).with_context(|| format!("{}: line {} is not JSON", file.display(), i + 1))?;
                let field = |k: &str| v.get(k).and_then(|x| x.as_str().map(str::to_string).or_else(|| x.as_i64().map(|n| n.to_string())));
                let Some(text) = field("text") else { bail!("{}: line {} has no \"text\"", file.display(), i + 1) };
                rows.push(Row { id: field("id"), subject: field("subject").unwrap_or_default(), text, expected: field("department") });
            }
        }
        "csv" => {
            let mut r = csv::ReaderBuilder::new().flexible(false).from_reader(f);
            let headers = r.headers().with_context(|| format!("{}: no header line", file.display()))?.clone();
            let col = |name: &str| headers.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
            let Some(text_col) = col("text") else { bail!("{}: the header has no 'text' column", file.display()) };
            let (id, subject, expected) = (col("id"), col("subject"), col("department"));
            for (i, rec) in r.records().enumerate() {
                let rec = rec.with_context(|| format!("{}: record {} is malformed", file.display(), i + 1))?;
                let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).map(str::to_string).filter(|s| !s.is_empty());
                rows.push(Row { id: get(id), subject: get(subject).unwrap_or_default(), text: get(Some(text_col)).unwrap_or_default(), expected: get(expected) });
            }
        }
        other => bail!("unknown format '{other}': use jsonl or csv"),
    }
    Ok(rows)
}

pub async fn classify(desk: &Desk, args: ClassifyArgs) -> anyhow::Result<ExitCode> {
    let rows = read_rows(&args.file, args.format.as_deref())?;
    if desk.suggest("probe").await?.is_none() {
        bail!("no trained classifier: run `ombuds train` first");
    }
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let (mut labelled, mut right, mut unlabelled) = (0usize, 0usize, 0usize);
    for (i, row) in rows.iter().enumerate() {
        let s = desk.suggest(&format!("{}\n{}", row.subject, row.text)).await?;
        let department = s.as_ref().map(|s| s.department.as_str().to_string());
        if let Some(want) = &row.expected {
            labelled += 1;
            right += usize::from(department.as_deref() == Some(want.as_str()));
        }
        if s.is_none() {
            unlabelled += 1;
        }
        let line = serde_json::json!({
            "line": i + 1,
            "id": row.id,
            "department": department,
            "category": s.as_ref().and_then(|s| s.category.as_ref().map(|c| c.as_str().to_string())),
            "confidence": s.as_ref().map(|s| (s.confidence * 1000.0).round() / 1000.0),
            "expected": row.expected,
        });
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    eprintln!("labelled {} texts ({} with nothing to go on)", rows.len(), unlabelled);
    if labelled > 0 {
        eprintln!("accuracy against the file's departments: {:.3} ({right} of {labelled})", right as f64 / labelled as f64);
    }
    Ok(ExitCode::SUCCESS)
}
