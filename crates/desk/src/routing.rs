//! Routing a new complaint: the operator's rules first, then the classifier trained on the
//! store's own resolved complaints, then nobody (the complaint waits unrouted, in the triage
//! queue, with the classifier's suggestion beside it).
//!
//! The rule set is saved as versions in the store and compiled when saved, so every mistake is
//! refused then and never met while routing. Each node keeps the compiled rules and the models
//! in memory (`Router`); a save or a retraining on any node tells the others through a live
//! signal, and they reload on the next complaint.

use crate::live::LiveSignal;
use crate::{Desk, DeskError, Result};
use ombuds_core::rules::{RoutingDecision, RoutingInput, RuleError, RuleSet, RuleSetSpec, Trace};
use ombuds_core::*;
use ombuds_insight::{Classifier, Evaluation, Example};
use ombuds_store::{StoredModel, TrainingRow};
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The `[routing]` settings.
#[derive(Debug, Clone)]
pub struct RoutingConfig {
    /// The classifier routes only when its confidence is at least this; below it the complaint
    /// waits in the triage queue (unrouted) with the suggestion shown.
    pub min_confidence: f32,
    /// Retrain on this schedule (`None`: only by `ombuds train` or the API).
    pub retrain_every: Option<Duration>,
    /// Train on at most this many of the newest resolved complaints.
    pub max_training_rows: i64,
    /// Fewer resolved complaints than this: no model (it would only guess).
    pub min_training_rows: usize,
    /// Auto-assignment of new complaints inside their department (chats are taken from the
    /// queue instead).
    pub auto_assign: ombuds_core::assign::AssignStrategy,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            min_confidence: 0.6,
            retrain_every: None,
            max_training_rows: 100_000,
            min_training_rows: 30,
            auto_assign: ombuds_core::assign::AssignStrategy::Off,
        }
    }
}

const DEPARTMENT: &str = "department";
const CATEGORY: &str = "category";
/// Category labels are `department/category`, so a suggestion's category belongs to its department.
const SEP: char = '/';

/// What a node holds to route: the compiled rule set in force and the trained models.
pub(crate) struct Router {
    version: i64,
    rules: RuleSet,
    department: Option<Classifier>,
    category: Option<Classifier>,
}

/// How often a node asks the store whether the rules or models changed behind its back (a
/// signal lost, or the CLI writing to a SQLite store the server has open).
const RECHECK: Duration = Duration::from_secs(3);

/// Each department's round-robin turn on this node.
#[derive(Default)]
pub(crate) struct Turns(std::sync::Mutex<std::collections::HashMap<DepartmentCode, usize>>);

/// The node's router, reloaded when its generation moves on (a save or retraining signalled
/// by any node) or when the store's stamp differs from the loaded one.
#[derive(Default)]
pub(crate) struct RouterCache {
    current: RwLock<Option<Loaded>>,
    generation: Arc<AtomicU64>,
}

struct Loaded {
    generation: u64,
    stamp: (i64, i64),
    checked: Instant,
    router: Arc<Router>,
}

impl RouterCache {
    pub(crate) fn generation(&self) -> Arc<AtomicU64> {
        self.generation.clone()
    }
    fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// The rule set as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RulesView {
    /// 0 when no rule set was ever saved.
    pub version: i64,
    pub rules: usize,
    pub saved_by: Option<String>,
    pub saved_at: Option<jiff::Timestamp>,
    pub spec: RuleSetSpec,
}

/// What the classifier thinks a complaint is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    pub department: DepartmentCode,
    pub confidence: f32,
    pub category: Option<Category>,
    /// The next most likely departments, with their confidence.
    pub alternatives: Vec<(String, f32)>,
}

/// A text to try the routing on.
#[derive(Debug, Clone, Default)]
pub struct DryRunInput {
    pub channel: Option<Channel>,
    pub kind: Option<Kind>,
    pub language: Option<Language>,
    pub subject: String,
    pub text: String,
    pub segments: BTreeSet<String>,
    pub tags: BTreeSet<Tag>,
}

/// Which rule would fire and why, what the classifier suggests, and where the complaint would go.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    /// The rule set version tried (`None`: a draft sent with the request).
    pub version: Option<i64>,
    pub decision: RoutingDecision,
    pub trace: Vec<Trace>,
    pub suggestion: Option<Suggestion>,
    pub detected_language: Option<Language>,
    /// Where the complaint would go: the rules' department, else the classifier's when it is
    /// confident enough, else nowhere (the triage queue).
    pub department: Option<DepartmentCode>,
    /// `rule:<name>`, `classifier:<confidence>` or `triage`.
    pub routed_by: String,
}

/// What training produced.
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub examples: usize,
    pub departments: usize,
    pub categories: usize,
    /// `false` when there were too few resolved complaints: the old models (if any) stay.
    pub trained: bool,
}

/// Rule-set compile errors as the field errors every adapter already shows.
fn invalid_rules(errors: Vec<RuleError>) -> DeskError {
    DeskError::Domain(DomainError::Invalid(
        errors
            .into_iter()
            .map(|e| {
                // Errors of the whole set have no rule name and never concern a name.
                let field = if e.rule.is_empty() && e.field != "name" { e.field } else { format!("rule[{}] '{}' {}", e.index + 1, e.rule, e.field) };
                FieldError::new(field, "invalid_rule", e.message)
            })
            .collect(),
    ))
}

/// Who saved a version of the settings, as the history shows it: the agent's login, or
/// `token:<name>`.
pub(crate) fn saved_by(who: &Principal) -> String {
    match who {
        Principal::Agent(a) => a.login.clone(),
        Principal::Token { name, .. } => format!("token:{name}"),
    }
}

fn text_of(subject: &str, description: &str) -> String {
    format!("{subject}\n{description}")
}

fn examples(rows: &[TrainingRow]) -> (Vec<Example>, Vec<Example>) {
    let departments = rows.iter().map(|r| Example::new(text_of(&r.subject, &r.description), r.department.clone())).collect();
    let categories = rows
        .iter()
        .filter_map(|r| {
            r.category.as_ref().map(|c| Example::new(text_of(&r.subject, &r.description), format!("{}{SEP}{c}", r.department)))
        })
        .collect();
    (departments, categories)
}

impl Router {
    fn suggest(&self, text: &str) -> Option<Suggestion> {
        let p = self.department.as_ref()?.predict(text)?;
        let department = DepartmentCode::parse(&p.label).ok()?;
        let prefix = format!("{}{SEP}", p.label);
        let category = self.category.as_ref().and_then(|m| m.predict(text)).and_then(|c| {
            c.ranked.iter().find(|(l, _)| l.starts_with(&prefix)).and_then(|(l, _)| Category::parse(&l[prefix.len()..]).ok())
        });
        Some(Suggestion { department, confidence: p.confidence, category, alternatives: p.ranked.into_iter().skip(1).take(3).collect() })
    }
}

impl Desk {
    async fn router(&self) -> Result<Arc<Router>> {
        let generation = self.router_cache.generation.load(Ordering::SeqCst);
        let mut stale_stamp = None;
        if let Some(l) = self.router_cache.current.read().expect("lock").as_ref()
            && l.generation == generation
        {
            if l.checked.elapsed() < RECHECK {
                return Ok(l.router.clone());
            }
            stale_stamp = Some(l.stamp);
        }
        let stamp = self.store.routing_stamp().await?;
        if stale_stamp == Some(stamp) {
            let mut current = self.router_cache.current.write().expect("lock");
            if let Some(l) = current.as_mut() {
                l.checked = Instant::now();
                return Ok(l.router.clone());
            }
        }
        let departments = self.department_codes().await?;
        let (rules, version) = match self.store.current_rules().await? {
            None => (RuleSet::compile(&RuleSetSpec::default(), &departments, None).expect("an empty set compiles"), 0),
            Some(stored) => {
                let spec: RuleSetSpec = serde_json::from_str(&stored.spec)
                    .map_err(|e| DeskError::Store(ombuds_store::StoreError::Corrupt(format!("rule set {}: {e}", stored.version))))?;
                // Departments may have been removed since the save: routing then ignores that
                // department (the core refuses unknown ones) rather than failing every complaint.
                let all: Vec<DepartmentCode> =
                    spec.rules.iter().filter_map(|r| r.then.department.clone()).chain(departments.iter().cloned()).collect();
                let rules = RuleSet::compile(&spec, &all, None).map_err(|e| {
                    DeskError::Store(ombuds_store::StoreError::Corrupt(format!("rule set {} no longer compiles: {e:?}", stored.version)))
                })?;
                (rules, stored.version)
            }
        };
        let load = |m: Option<StoredModel>| -> Option<Classifier> {
            let m = m?;
            Classifier::from_bytes(&m.model).map_err(|e| tracing::error!(target = %m.target, error = %e, "a stored model is unreadable; not using it")).ok()
        };
        let department = load(self.store.model(DEPARTMENT).await?);
        let category = load(self.store.model(CATEGORY).await?);
        let router = Arc::new(Router { version, rules, department, category });
        *self.router_cache.current.write().expect("lock") =
            Some(Loaded { generation, stamp, checked: Instant::now(), router: router.clone() });
        Ok(router)
    }

    async fn department_codes(&self) -> Result<Vec<DepartmentCode>> {
        Ok(self.departments().await?.iter().filter(|d| d.active).map(|d| d.code.clone()).collect())
    }

    async fn routing_changed(&self) {
        self.router_cache.invalidate();
        self.live().send(&LiveSignal::RoutingChanged).await;
    }

    /// What automatic routing decides for a new complaint (the core applies it where the
    /// registration is silent).
    pub(crate) async fn auto_route(&self, reg: &Registration) -> Result<AutoRoute> {
        let detected = Language::guess(&text_of(reg.subject.as_str(), reg.description.as_str()));
        let router = self.router().await?;
        let input_language = reg.language.or(reg.player.language).or(detected);
        let input = RoutingInput {
            channel: Some(reg.channel),
            kind: Some(reg.kind),
            language: input_language,
            subject: reg.subject.as_str(),
            text: reg.description.as_str(),
            segments: reg.segments.iter().map(|s| s.as_str().to_string()).collect(),
            tags: reg.tags.clone(),
        };
        let d = router.rules.route(&input);
        let mut auto = AutoRoute {
            by: d.department_by.as_ref().map(|r| format!("rule:{r}")),
            department: d.department.clone(),
            category: d.category.clone(),
            priority: d.priority,
            tags: d.add_tags.clone(),
            assignee: None,
            detected_language: detected,
        };
        if let Some(login) = &d.assign {
            match self.store.agent_credentials(login).await? {
                Some((agent, _)) => auto.assignee = Some(agent),
                None => tracing::warn!(%login, "a routing rule assigns an agent who no longer exists"),
            }
        }
        if auto.department.is_none()
            && reg.department.is_none()
            && let Some(s) = router.suggest(&text_of(reg.subject.as_str(), reg.description.as_str()))
            && s.confidence >= self.config.routing.min_confidence
        {
            auto.by = Some(format!("classifier:{:.2}", s.confidence));
            auto.category = auto.category.or(s.category);
            auto.department = Some(s.department);
        }
        let strategy = self.config.routing.auto_assign;
        if auto.assignee.is_none()
            && strategy != ombuds_core::assign::AssignStrategy::Off
            && reg.channel != Channel::Chat
            && let Some(department) = reg.department.as_ref().or(auto.department.as_ref())
        {
            let language = input_language.unwrap_or(Language::Ru);
            auto.assignee = self.pick_agent(strategy, department, language, d.skill.as_ref()).await?;
        }
        Ok(auto)
    }

    /// The agent auto-assignment gives a new complaint of `department`, if any is free.
    async fn pick_agent(
        &self,
        strategy: ombuds_core::assign::AssignStrategy,
        department: &DepartmentCode,
        language: Language,
        skill: Option<&Tag>,
    ) -> Result<Option<Agent>> {
        let agents: Vec<Agent> = self.store.agents().await?.into_iter().filter(|a| a.active && a.departments.contains(department)).collect();
        if agents.is_empty() {
            return Ok(None);
        }
        let online: BTreeSet<uuid::Uuid> =
            self.store.online_agents(now() - jiff::SignedDuration::from_secs(60)).await?.into_iter().collect();
        let ids: Vec<uuid::Uuid> = agents.iter().filter(|a| online.contains(&a.id)).map(|a| a.id).collect();
        let load: std::collections::HashMap<uuid::Uuid, i64> = self.store.open_load(&ids).await?.into_iter().collect();
        let turn = {
            let mut turns = self.turns.0.lock().expect("lock");
            let t = turns.entry(department.clone()).or_default();
            *t += 1;
            *t - 1
        };
        let need = ombuds_core::assign::Need { department, language, skill };
        match ombuds_core::assign::pick(strategy, &need, &agents, &|id| online.contains(&id), &load, turn) {
            Ok(a) => Ok(Some(a.clone())),
            Err(why) => {
                tracing::debug!(%department, ?why, "nobody to auto-assign");
                Ok(None)
            }
        }
    }

    /// The classifier's suggestion for a text (`None` without a trained model).
    pub async fn suggest(&self, text: &str) -> Result<Option<Suggestion>> {
        Ok(self.router().await?.suggest(text))
    }

    /// The rule set in force.
    pub async fn routing_rules(&self, who: &Principal) -> Result<RulesView> {
        who.require_supervisor()?;
        Ok(match self.store.current_rules().await? {
            None => RulesView { version: 0, rules: 0, saved_by: None, saved_at: None, spec: RuleSetSpec::default() },
            Some(s) => RulesView {
                version: s.version,
                rules: s.rules as usize,
                saved_by: Some(s.saved_by),
                saved_at: Some(s.saved_at),
                spec: serde_json::from_str(&s.spec)
                    .map_err(|e| DeskError::Store(ombuds_store::StoreError::Corrupt(format!("rule set {}: {e}", s.version))))?,
            },
        })
    }

    /// Checks a rule set exactly as saving would, without saving it; answers how many rules are
    /// in force once saved (disabled ones are not).
    pub async fn check_routing_rules(&self, who: &Principal, spec: &RuleSetSpec) -> Result<usize> {
        who.require_admin()?;
        let departments = self.department_codes().await?;
        let logins: Vec<String> = self.store.agents().await?.into_iter().filter(|a| a.active).map(|a| a.login).collect();
        Ok(RuleSet::compile(spec, &departments, Some(&logins)).map_err(invalid_rules)?.len())
    }

    /// Checks and saves a new version of the rule set (administrators). Every mistake is
    /// refused here, with the rule and field named. `expected_version` guards against two
    /// editors overwriting each other (`Conflict` when someone saved meanwhile).
    pub async fn save_routing_rules(&self, who: &Principal, spec: RuleSetSpec, expected_version: Option<i64>) -> Result<RulesView> {
        let in_force = self.check_routing_rules(who, &spec).await?;
        let json = serde_json::to_string(&spec).expect("a rule set serialises");
        let by = saved_by(who);
        let saved = self.store.save_rules(&json, in_force as i64, &by, expected_version).await?;
        self.routing_changed().await;
        Ok(RulesView { version: saved.version, rules: in_force, saved_by: Some(saved.saved_by), saved_at: Some(saved.saved_at), spec })
    }

    /// Shows which rule would fire for a text and why, against the rules in force or a draft.
    pub async fn routing_dry_run(&self, who: &Principal, input: DryRunInput, draft: Option<RuleSetSpec>) -> Result<DryRun> {
        who.require_supervisor()?;
        let router = self.router().await?;
        let draft = match draft {
            Some(spec) => Some(RuleSet::compile(&spec, &self.department_codes().await?, None).map_err(invalid_rules)?),
            None => None,
        };
        let detected = Language::guess(&text_of(&input.subject, &input.text));
        let routing_input = RoutingInput {
            channel: input.channel,
            kind: input.kind,
            language: input.language.or(detected),
            subject: &input.subject,
            text: &input.text,
            segments: input.segments,
            tags: input.tags,
        };
        let (decision, trace) = draft.as_ref().unwrap_or(&router.rules).explain(&routing_input);
        let suggestion = router.suggest(&text_of(&input.subject, &input.text));
        let (department, routed_by) = match (&decision.department, &suggestion) {
            (Some(d), _) => (Some(d.clone()), format!("rule:{}", decision.department_by.clone().unwrap_or_default())),
            (None, Some(s)) if s.confidence >= self.config.routing.min_confidence => {
                (Some(s.department.clone()), format!("classifier:{:.2}", s.confidence))
            }
            _ => (None, "triage".to_string()),
        };
        Ok(DryRun {
            version: draft.is_none().then_some(router.version),
            decision,
            trace,
            suggestion,
            detected_language: detected,
            department,
            routed_by,
        })
    }

    /// The labelled examples training would use: the newest resolved complaints.
    pub async fn training_examples(&self) -> Result<(Vec<Example>, Vec<Example>)> {
        let rows = self.store.training_rows(self.config.routing.max_training_rows).await?;
        Ok(examples(&rows))
    }

    /// (Re)trains the department and category models on the store's resolved complaints and
    /// puts them in force on every node. `who`: `None` for the scheduler and the CLI.
    pub async fn train(&self, who: Option<&Principal>) -> Result<TrainReport> {
        if let Some(p) = who {
            p.require_admin()?;
        }
        let (departments, categories) = self.training_examples().await?;
        let labels = |e: &[Example]| e.iter().map(|x| x.label.as_str()).collect::<BTreeSet<_>>().len();
        let mut report =
            TrainReport { examples: departments.len(), departments: labels(&departments), categories: labels(&categories), trained: false };
        if departments.len() < self.config.routing.min_training_rows || report.departments < 2 {
            return Ok(report);
        }
        // Training is CPU work (seconds for 100k complaints): off the async threads.
        let (dept_model, cat_model) = tokio::task::spawn_blocking(move || {
            (Classifier::train(&departments), Classifier::train(&categories).ok())
        })
        .await
        .map_err(|e| DeskError::Conflict(format!("training failed: {e}")))?;
        let dept_model = dept_model.map_err(|e| DeskError::Domain(DomainError::invalid("examples", "untrainable", e.to_string())))?;
        let now = now();
        let models = [(DEPARTMENT, Some(dept_model), report.departments), (CATEGORY, cat_model, report.categories)];
        for (target, model, labels) in models {
            let Some(model) = model else { continue };
            let stored = StoredModel {
                target: target.into(),
                model: model.to_bytes(),
                examples: report.examples as i64,
                labels: labels as i64,
                trained_at: now,
            };
            self.store.save_model(&stored).await?;
        }
        report.trained = true;
        self.routing_changed().await;
        Ok(report)
    }

    /// Trains on a stratified split of the resolved complaints and tests on the held-out rest
    /// (nothing is saved): department and, when complaints carry categories, category.
    pub async fn evaluate_classifier(&self, test_share: f64, seed: u64) -> Result<(Evaluation, Option<Evaluation>)> {
        let (departments, categories) = self.training_examples().await?;
        tokio::task::spawn_blocking(move || {
            let d = ombuds_insight::evaluate(&departments, test_share, seed)
                .map_err(|e| DeskError::Domain(DomainError::invalid("examples", "untrainable", e.to_string())))?;
            let c = ombuds_insight::evaluate(&categories, test_share, seed).ok();
            Ok((d, c))
        })
        .await
        .map_err(|e| DeskError::Conflict(format!("evaluation failed: {e}")))?
    }

    /// Stratified `folds`-fold cross-validation of the department classifier on the training
    /// data `train` would use (nothing saved).
    pub async fn cross_validate_classifier(&self, folds: usize, seed: u64) -> Result<Evaluation> {
        let (departments, _) = self.training_examples().await?;
        tokio::task::spawn_blocking(move || {
            ombuds_insight::cross_validate(&departments, folds, seed).map_err(|e| DeskError::Domain(DomainError::invalid("examples", "untrainable", e.to_string())))
        })
        .await
        .map_err(|e| DeskError::Conflict(format!("evaluation failed: {e}")))?
    }

    /// Retrains on `config.routing.retrain_every` until the desk is dropped. One node's
    /// retraining reaches the others through the live signal.
    pub fn spawn_retraining(&self) -> Option<tokio::task::JoinHandle<()>> {
        let every = self.config.routing.retrain_every?;
        let weak = Arc::downgrade(&self.0);
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let desk = Desk(inner);
                match desk.train(None).await {
                    Ok(r) => tracing::info!(examples = r.examples, trained = r.trained, "scheduled retraining"),
                    Err(e) => tracing::error!(error = %e, "scheduled retraining failed"),
                }
            }
        }))
    }
}
