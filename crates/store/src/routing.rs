//! Routing's own tables: the saved versions of the rule set and the trained classifier models,
//! and the read of resolved complaints that training learns from. Rare writes: plain
//! transactions.

use crate::{Store, StoreError, params, with_read, with_tx};
use jiff::Timestamp;
use ombuds_core::{from_micros, now, to_micros};

/// One saved version of the rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRules {
    pub version: i64,
    /// The rule set as JSON.
    pub spec: String,
    pub rules: i64,
    pub saved_by: String,
    pub saved_at: Timestamp,
}

/// A trained model as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredModel {
    pub target: String,
    pub model: Vec<u8>,
    pub examples: i64,
    pub labels: i64,
    pub trained_at: Timestamp,
}

/// What training sees of one resolved complaint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingRow {
    pub subject: String,
    pub description: String,
    pub department: String,
    pub category: Option<String>,
}

/// The version a save into `table` (a history of versions) gets, inside the saving
/// transaction. `expected` is the version the editor started from (`Some(0)`: none saved yet):
/// when another save came first the answer is `Conflict` naming `what` was saved meanwhile.
pub(crate) async fn next_version(conn: &mut crate::db::Conn<'_>, table: &str, what: &str, expected: Option<i64>) -> Result<i64, StoreError> {
    let current = conn
        .fetch_optional(&format!("SELECT MAX(version) AS v FROM {table}"), &[])
        .await?
        .map(|r| r.opt_i64("v"))
        .transpose()?
        .flatten()
        .unwrap_or(0);
    if let Some(e) = expected
        && e != current
    {
        return Err(StoreError::Conflict(format!("the {what} were saved meanwhile (version {current}; this edit started from version {e})")));
    }
    Ok(current + 1)
}

fn rules_from(r: &crate::db::Row) -> Result<StoredRules, StoreError> {
    Ok(StoredRules {
        version: r.i64("version")?,
        spec: r.text("spec")?,
        rules: r.i64("rules")?,
        saved_by: r.text("saved_by")?,
        saved_at: from_micros(r.i64("saved_at")?),
    })
}

impl Store {
    /// The rule set in force: the newest saved version, if any was ever saved.
    pub async fn current_rules(&self) -> Result<Option<StoredRules>, StoreError> {
        let row = with_read!(self.db(), |conn| conn
            .fetch_optional(
                "SELECT version, spec, rules, saved_by, saved_at FROM routing_rules ORDER BY version DESC LIMIT 1",
                &[]
            )
            .await)?;
        row.as_ref().map(rules_from).transpose()
    }

    /// Saves a new version of the rule set. `expected` is the version the editor started from
    /// (`Some(0)` for "none saved yet"): when another save came first the answer is `Conflict`
    /// and nothing is written. `None` saves over whatever is there.
    pub async fn save_rules(&self, spec: &str, rules: i64, saved_by: &str, expected: Option<i64>) -> Result<StoredRules, StoreError> {
        let now = now();
        let saved_at = to_micros(now);
        let version = with_tx!(self.db(), |conn| {
            let version = next_version(&mut conn, "routing_rules", "rules", expected).await?;
            // The primary key refuses a second node saving the same version at once.
            conn.execute(
                "INSERT INTO routing_rules (version, spec, rules, saved_by, saved_at) VALUES ($1, $2, $3, $4, $5)",
                &params![version, spec, rules, saved_by, saved_at],
            )
            .await?;
            Ok::<_, StoreError>(version)
        })?;
        Ok(StoredRules { version, spec: spec.to_string(), rules, saved_by: saved_by.to_string(), saved_at: from_micros(saved_at) })
    }

    pub async fn save_model(&self, m: &StoredModel) -> Result<(), StoreError> {
        with_tx!(self.db(), |conn| conn
            .execute(
                "INSERT INTO classifier_models (target, model, examples, labels, trained_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (target) DO UPDATE SET model = excluded.model, examples = excluded.examples, \
                 labels = excluded.labels, trained_at = excluded.trained_at",
                &params![m.target.as_str(), m.model.clone(), m.examples, m.labels, to_micros(m.trained_at)],
            )
            .await)?;
        Ok(())
    }

    pub async fn model(&self, target: &str) -> Result<Option<StoredModel>, StoreError> {
        let row = with_read!(self.db(), |conn| conn
            .fetch_optional(
                "SELECT target, model, examples, labels, trained_at FROM classifier_models WHERE target = $1",
                &params![target]
            )
            .await)?;
        row.map(|r| {
            Ok(StoredModel {
                target: r.text("target")?,
                model: r.bytes("model")?,
                examples: r.i64("examples")?,
                labels: r.i64("labels")?,
                trained_at: from_micros(r.i64("trained_at")?),
            })
        })
        .transpose()
    }

    /// The newest rule-set version and model training time: a node compares it with what it
    /// loaded to notice a change made by another process (the CLI on a SQLite store, say).
    pub async fn routing_stamp(&self) -> Result<(i64, i64), StoreError> {
        let row = with_read!(self.db(), |conn| conn
            .fetch_optional(
                "SELECT (SELECT COALESCE(MAX(version), 0) FROM routing_rules) AS v, \
                 (SELECT COALESCE(MAX(trained_at), 0) FROM classifier_models) AS t",
                &[]
            )
            .await)?;
        let row = row.ok_or(StoreError::NotFound)?;
        Ok((row.i64("v")?, row.i64("t")?))
    }

    /// Up to `limit` resolved (or closed) complaints with a department, newest resolution first:
    /// what the classifier learns from.
    pub async fn training_rows(&self, limit: i64) -> Result<Vec<TrainingRow>, StoreError> {
        let rows = with_read!(self.db(), |conn| conn
            .fetch_all(
                "SELECT subject, description, department, category FROM complaints \
                 WHERE resolved_at IS NOT NULL AND department IS NOT NULL ORDER BY resolved_at DESC LIMIT $1",
                &params![limit]
            )
            .await)?;
        rows.iter()
            .map(|r| {
                Ok(TrainingRow {
                    subject: r.text("subject")?,
                    description: r.text("description")?,
                    department: r.text("department")?,
                    category: r.opt_text("category")?,
                })
            })
            .collect()
    }
}
