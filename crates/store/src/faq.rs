//! The FAQ's articles. Rare writes: plain transactions.

use crate::{Store, StoreError, params, with_read, with_tx};
use ombuds_core::faq::FaqArticle;
use ombuds_core::*;
use uuid::Uuid;

const COLS: &str = "id, language, category, title, body, published, helpful_yes, helpful_no, created_at, updated_at";

fn article_from(r: &crate::db::Row) -> Result<FaqArticle, StoreError> {
    let bad = |col: &str, e: FieldError| StoreError::Corrupt(format!("faq column {col}: {}", e.message));
    Ok(FaqArticle {
        id: r.uuid("id")?,
        language: Language::parse(&r.text("language")?).map_err(|e| bad("language", e))?,
        category: Category::parse(&r.text("category")?).map_err(|e| bad("category", e))?,
        title: Subject::parse(&r.text("title")?).map_err(|e| bad("title", e))?,
        body: Body::parse(&r.text("body")?).map_err(|e| bad("body", e))?,
        published: r.boolean("published")?,
        helpful_yes: r.i64("helpful_yes")?,
        helpful_no: r.i64("helpful_no")?,
        created_at: from_micros(r.i64("created_at")?),
        updated_at: from_micros(r.i64("updated_at")?),
    })
}

impl Store {
    /// Every article (published or not), by language, category and title.
    pub async fn faq_articles(&self) -> Result<Vec<FaqArticle>, StoreError> {
        let sql = format!("SELECT {COLS} FROM faq_articles ORDER BY language, category, title");
        let rows = with_read!(self.db(), |conn| conn.fetch_all(&sql, &[]).await)?;
        rows.iter().map(article_from).collect()
    }

    /// Creates the article, or replaces its text and state when it exists (votes are kept).
    pub async fn save_faq_article(&self, a: &FaqArticle) -> Result<(), StoreError> {
        with_tx!(self.db(), |conn| conn
            .execute(
                "INSERT INTO faq_articles (id, language, category, title, body, published, helpful_yes, helpful_no, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $7, $8) ON CONFLICT (id) DO UPDATE SET language = excluded.language, \
                 category = excluded.category, title = excluded.title, body = excluded.body, published = excluded.published, \
                 updated_at = excluded.updated_at",
                &params![a.id, a.language.as_str(), a.category.as_str(), a.title.as_str(), a.body.as_str(), a.published, to_micros(a.created_at), to_micros(a.updated_at)],
            )
            .await)?;
        Ok(())
    }

    /// Counts a reader's "was this helpful?"; `NotFound` for an unknown article.
    pub async fn vote_faq(&self, id: Uuid, helpful: bool) -> Result<(), StoreError> {
        let col = if helpful { "helpful_yes" } else { "helpful_no" };
        let n = with_tx!(self.db(), |conn| conn
            .execute(&format!("UPDATE faq_articles SET {col} = {col} + 1 WHERE id = $1 AND published"), &params![id])
            .await)?;
        if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    /// Counts one complaint the FAQ answered before it was sent.
    pub async fn record_deflection(&self, day: &str, language: Language) -> Result<(), StoreError> {
        with_tx!(self.db(), |conn| conn
            .execute(
                "INSERT INTO faq_deflections (day, language, count) VALUES ($1, $2, 1) \
                 ON CONFLICT (day, language) DO UPDATE SET count = faq_deflections.count + 1",
                &params![day, language.as_str()],
            )
            .await)?;
        Ok(())
    }

    /// Deflections per day and language, newest day first.
    pub async fn deflections(&self, days: i64) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = with_read!(self.db(), |conn| conn
            .fetch_all("SELECT day, language, count FROM faq_deflections ORDER BY day DESC, language LIMIT $1", &params![days * 3])
            .await)?;
        rows.iter().map(|r| Ok((r.text("day")?, r.text("language")?, r.i64("count")?))).collect()
    }
}
