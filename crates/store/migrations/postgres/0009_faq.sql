-- The public FAQ / knowledge base: articles per language and category, with readers' votes.
CREATE TABLE faq_articles (
    id           UUID PRIMARY KEY,
    language     TEXT NOT NULL,
    category     TEXT NOT NULL,
    title        TEXT NOT NULL,
    body         TEXT NOT NULL,
    published    BOOLEAN NOT NULL,
    helpful_yes  BIGINT NOT NULL DEFAULT 0,
    helpful_no   BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX faq_articles_language ON faq_articles(language, category);
