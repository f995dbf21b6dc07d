//! Outbound e-mail templates an administrator replaced. Rare writes: plain transactions.

use crate::{Store, StoreError, params, with_read, with_tx};
use ombuds_core::{from_micros, now, to_micros};

/// One replaced template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTemplate {
    /// The template's name, e.g. `ru/acknowledgment.txt`.
    pub name: String,
    pub source: String,
    pub saved_by: String,
    pub saved_at: jiff::Timestamp,
}

impl Store {
    /// Every replaced template, by name.
    pub async fn mail_templates(&self) -> Result<Vec<StoredTemplate>, StoreError> {
        let rows = with_read!(self.db(), |conn| conn
            .fetch_all("SELECT name, source, saved_by, saved_at FROM mail_templates ORDER BY name", &[])
            .await)?;
        rows.iter()
            .map(|r| Ok(StoredTemplate { name: r.text("name")?, source: r.text("source")?, saved_by: r.text("saved_by")?, saved_at: from_micros(r.i64("saved_at")?) }))
            .collect()
    }

    /// Replaces a template (or replaces the replacement).
    pub async fn save_mail_template(&self, name: &str, source: &str, saved_by: &str) -> Result<(), StoreError> {
        let at = to_micros(now());
        with_tx!(self.db(), |conn| conn
            .execute(
                "INSERT INTO mail_templates (name, source, saved_by, saved_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO UPDATE SET source = excluded.source, saved_by = excluded.saved_by, saved_at = excluded.saved_at",
                &params![name, source, saved_by, at],
            )
            .await)?;
        Ok(())
    }

    /// Goes back to the built-in template; answers whether there was a replacement.
    pub async fn delete_mail_template(&self, name: &str) -> Result<bool, StoreError> {
        let n = with_tx!(self.db(), |conn| conn.execute("DELETE FROM mail_templates WHERE name = $1", &params![name]).await)?;
        Ok(n > 0)
    }
}
