//! The public FAQ: supervisors write articles per language and category, players read and
//! search them and say whether they helped. Each node keeps the articles in memory; a save on
//! any node tells the others.

use crate::live::LiveSignal;
use crate::{Desk, DeskError, Result};
use ombuds_core::faq::{self, FaqArticle};
use ombuds_core::*;
use std::sync::{Arc, RwLock};
use uuid::Uuid;

/// The node's copy of the articles (`None`: read them again).
pub(crate) type FaqCache = Arc<RwLock<Option<Arc<Vec<FaqArticle>>>>>;

/// An article as an editor writes it; `id` `None` makes a new one.
#[derive(Debug, Clone)]
pub struct FaqDraft {
    pub id: Option<Uuid>,
    pub language: Language,
    pub category: Category,
    pub title: Subject,
    pub body: Body,
    pub published: bool,
}

impl Desk {
    async fn faq(&self) -> Result<Arc<Vec<FaqArticle>>> {
        if let Some(a) = self.faq_cache.read().expect("lock").clone() {
            return Ok(a);
        }
        let all = Arc::new(self.store.faq_articles().await?);
        *self.faq_cache.write().expect("lock") = Some(all.clone());
        Ok(all)
    }

    /// The published articles of a language, by category and title.
    pub async fn faq_published(&self, language: Language) -> Result<Vec<FaqArticle>> {
        Ok(self.faq().await?.iter().filter(|a| a.published && a.language == language).cloned().collect())
    }

    /// One published article.
    pub async fn faq_article(&self, id: Uuid) -> Result<FaqArticle> {
        self.faq().await?.iter().find(|a| a.id == id && a.published).cloned().ok_or(DeskError::NotFound("article"))
    }

    /// Every article, drafts included (supervisors and administrators).
    pub async fn faq_all(&self, who: &Principal) -> Result<Vec<FaqArticle>> {
        who.require_supervisor()?;
        Ok(self.faq().await?.as_ref().clone())
    }

    /// Published articles of `language` matching `query`, best first.
    pub async fn faq_search(&self, language: Language, query: &str, limit: usize) -> Result<Vec<FaqArticle>> {
        let all = self.faq().await?;
        let mine: Vec<FaqArticle> = all.iter().filter(|a| a.language == language).cloned().collect();
        Ok(faq::search(&mine, query, limit).into_iter().cloned().collect())
    }

    /// Published articles of the complaint's language an agent might answer it with, best first.
    pub async fn faq_for_complaint(&self, complaint: &Complaint, limit: usize) -> Result<Vec<FaqArticle>> {
        let all = self.faq().await?;
        let mine: Vec<FaqArticle> = all.iter().filter(|a| a.language == complaint.language).cloned().collect();
        let text = format!("{}\n{}", complaint.subject.as_str(), complaint.description.as_str());
        Ok(faq::suggest(&mine, &text, limit).into_iter().cloned().collect())
    }

    /// Creates or updates an article (supervisors and administrators).
    pub async fn save_faq(&self, who: &Principal, draft: FaqDraft) -> Result<FaqArticle> {
        who.require_supervisor()?;
        let now = now();
        let existing = match draft.id {
            Some(id) => Some(self.faq().await?.iter().find(|a| a.id == id).cloned().ok_or(DeskError::NotFound("article"))?),
            None => None,
        };
        let article = FaqArticle {
            id: draft.id.unwrap_or_else(Uuid::now_v7),
            language: draft.language,
            category: draft.category,
            title: draft.title,
            body: draft.body,
            published: draft.published,
            helpful_yes: existing.as_ref().map_or(0, |a| a.helpful_yes),
            helpful_no: existing.as_ref().map_or(0, |a| a.helpful_no),
            created_at: existing.as_ref().map_or(now, |a| a.created_at),
            updated_at: now,
        };
        self.store.save_faq_article(&article).await?;
        self.faq_changed().await;
        Ok(article)
    }

    /// A reader says whether an article helped.
    pub async fn faq_vote(&self, id: Uuid, helpful: bool, client: Option<std::net::IpAddr>) -> Result<()> {
        self.anonymous_vote("faq_vote", client).await?;
        self.store.vote_faq(id, helpful).await.map_err(|e| match e {
            ombuds_store::StoreError::NotFound => DeskError::NotFound("article"),
            e => e.into(),
        })?;
        self.faq_changed().await;
        Ok(())
    }

    async fn faq_changed(&self) {
        *self.faq_cache.write().expect("lock") = None;
        self.live().send(&LiveSignal::FaqChanged).await;
    }

    /// A player said an article answered the question: one complaint not sent.
    pub async fn record_deflection(&self, language: Language, client: Option<std::net::IpAddr>) -> Result<()> {
        self.anonymous_vote("deflection", client).await?;
        let day = now().to_zoned(jiff::tz::TimeZone::UTC).date().to_string();
        self.store.record_deflection(&day, language).await?;
        metrics::counter!("ombuds_faq_deflections_total", "language" => language.as_str()).increment(1);
        Ok(())
    }

    /// Deflections per day and language over the last `days` days (supervisors, admins).
    pub async fn deflections(&self, who: &Principal, days: i64) -> Result<Vec<(String, String, i64)>> {
        who.require_supervisor()?;
        Ok(self.store.deflections(days).await?)
    }
}
