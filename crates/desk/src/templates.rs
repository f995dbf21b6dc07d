//! The outbound e-mail templates in force: the built-in ones with the replacements an
//! administrator saved (`mail_templates`). Every node keeps one composer built from them and
//! builds it again when any node saves or resets a template; the e-mail sender composes with it.

use crate::live::LiveSignal;
use crate::{Desk, DeskError, Result};
use ombuds_core::*;
use ombuds_mail::outbound::{ComposeError, Composed, Composer};
use std::sync::{Arc, RwLock};

/// The node's composer (`None`: build it again).
pub(crate) type ComposerCache = Arc<RwLock<Option<Arc<Composer>>>>;

/// One template as the settings screen lists it.
#[derive(Debug, Clone)]
pub struct TemplateInfo {
    /// `ru/acknowledgment.txt`, `layout.html`, …
    pub name: String,
    /// The source in force: the replacement when there is one, else the built-in one.
    pub source: String,
    /// Who replaced it and when (`None`: the built-in one).
    pub replaced: Option<(String, jiff::Timestamp)>,
}

fn invalid_template(e: ComposeError) -> DeskError {
    match e {
        ComposeError::UnknownTemplate(name) => DomainError::invalid("name", "unknown_template", format!("no template is called {name:?}")).into(),
        e => DomainError::invalid("source", "invalid_template", e.to_string()).into(),
    }
}

impl Desk {
    /// The composer with the saved templates, for every message the desk sends.
    pub async fn mail_composer(&self) -> Result<Arc<Composer>> {
        if let Some(c) = self.composer_cache.read().expect("lock").clone() {
            return Ok(c);
        }
        let mut composer = Composer::new();
        for t in self.store.mail_templates().await? {
            match composer.with_template(&t.name, t.source) {
                Ok(next) => composer = next,
                // Saved templates were checked, but a newer ombuds may expect more of them.
                Err(e) => tracing::error!(template = %t.name, error = %e, "a saved e-mail template is not usable; the built-in one is used"),
            }
        }
        let composer = Arc::new(composer);
        *self.composer_cache.write().expect("lock") = Some(composer.clone());
        Ok(composer)
    }

    /// Every template that can be replaced, with its source in force (administrators).
    pub async fn mail_templates(&self, who: &Principal) -> Result<Vec<TemplateInfo>> {
        who.require_admin()?;
        let saved = self.store.mail_templates().await?;
        let composer = self.mail_composer().await?;
        Ok(Composer::template_names()
            .map(|name| {
                let replaced = saved.iter().find(|t| t.name == name).map(|t| (t.saved_by.clone(), t.saved_at));
                TemplateInfo { name: name.to_string(), source: composer.template_source(name).unwrap_or_default(), replaced }
            })
            .collect())
    }

    /// What a template would produce with sample values, without saving it (administrators).
    /// A template that does not parse, or breaks any message, is refused on `source`.
    pub async fn preview_mail_template(&self, who: &Principal, name: &str, source: &str) -> Result<Composed> {
        who.require_admin()?;
        let composer = self.mail_composer().await?.with_template(name, source).map_err(invalid_template)?;
        composer.preview(name).map_err(invalid_template)
    }

    /// Replaces a template (administrators) once every message composes with it; every node
    /// uses it for the next message.
    pub async fn save_mail_template(&self, who: &Principal, name: &str, source: &str) -> Result<()> {
        who.require_admin()?;
        if source.len() > 256 * 1024 {
            return Err(DomainError::invalid("source", "too_long", "a template has at most 256 KiB").into());
        }
        self.mail_composer().await?.with_template(name, source).map_err(invalid_template)?;
        self.store.save_mail_template(name, source, &crate::routing::saved_by(who)).await?;
        self.templates_changed().await;
        Ok(())
    }

    /// Goes back to the built-in template (administrators); `NotFound` when it was not replaced.
    pub async fn reset_mail_template(&self, who: &Principal, name: &str) -> Result<()> {
        who.require_admin()?;
        if !self.store.delete_mail_template(name).await? {
            return Err(DeskError::NotFound("replaced template"));
        }
        self.templates_changed().await;
        Ok(())
    }

    async fn templates_changed(&self) {
        *self.composer_cache.write().expect("lock") = None;
        self.live().send(&LiveSignal::TemplatesChanged).await;
    }
}

/// The names of the templates that can be replaced, e.g. `ru/acknowledgment.html`.
pub fn template_names() -> impl Iterator<Item = String> {
    Composer::template_names().map(str::to_string)
}
