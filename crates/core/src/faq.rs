//! The public FAQ / knowledge base: articles per language and category, and a search that
//! copes with Russian and Kazakh endings without a stemmer per language (words compared by
//! their first letters).

use crate::fields::{Body, Category, Subject};
use crate::model::Language;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

/// One article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaqArticle {
    pub id: Uuid,
    pub language: Language,
    pub category: Category,
    pub title: Subject,
    pub body: Body,
    /// Only published articles are shown to players.
    pub published: bool,
    pub helpful_yes: i64,
    pub helpful_no: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// How many leading letters of a word are compared: enough to tell words apart, few enough
/// that `вывод`, `вывода`, `выводом` (and `шығару`, `шығарғым`) meet.
const STEM: usize = 5;

/// The search terms of a text: lower-cased words of three letters or more, `ё` as `е`, cut to
/// their first [`STEM`] letters.
pub fn terms(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .map(|w| w.to_lowercase().replace('ё', "е").chars().take(STEM).collect())
        .collect()
}

/// Articles matching `query`, best first: a term in the title counts three, in the body one;
/// ties go to the more helpful article. Unpublished articles never match.
pub fn search<'a>(articles: &'a [FaqArticle], query: &str, limit: usize) -> Vec<&'a FaqArticle> {
    let wanted = terms(query);
    if wanted.is_empty() {
        return vec![];
    }
    let mut scored: Vec<(u32, i64, &FaqArticle)> = articles
        .iter()
        .filter(|a| a.published)
        .filter_map(|a| {
            let (title, body) = (terms(a.title.as_str()), terms(a.body.as_str()));
            let score: u32 = wanted.iter().map(|t| if title.contains(t) { 3 } else if body.contains(t) { 1 } else { 0 }).sum();
            (score > 0).then_some((score, a.helpful_yes - a.helpful_no, a))
        })
        .collect();
    scored.sort_by(|x, y| y.0.cmp(&x.0).then(y.1.cmp(&x.1)).then(x.2.id.cmp(&y.2.id)));
    scored.into_iter().take(limit).map(|(_, _, a)| a).collect()
}

/// Articles worth suggesting to an agent for a complaint's text: at least one of the text's
/// words in the title (a long complaint shares common words with many bodies), best first.
pub fn suggest<'a>(articles: &'a [FaqArticle], text: &str, limit: usize) -> Vec<&'a FaqArticle> {
    let wanted = terms(text);
    let mut scored: Vec<(usize, usize, i64, &FaqArticle)> = articles
        .iter()
        .filter(|a| a.published)
        .filter_map(|a| {
            let (title, body) = (terms(a.title.as_str()), terms(a.body.as_str()));
            let in_title = wanted.intersection(&title).count();
            let in_body = wanted.iter().filter(|t| !title.contains(*t) && body.contains(*t)).count();
            (in_title > 0).then_some((in_title, in_body, a.helpful_yes - a.helpful_no, a))
        })
        .collect();
    scored.sort_by(|x, y| (y.0, y.1, y.2).cmp(&(x.0, x.1, x.2)).then(x.3.id.cmp(&y.3.id)));
    scored.into_iter().take(limit).map(|(_, _, _, a)| a).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(n: u128, language: Language, title: &str, body: &str, yes: i64) -> FaqArticle {
        FaqArticle {
            id: Uuid::from_u128(n),
            language,
            category: Category::parse("payments").unwrap(),
            title: Subject::parse(title).unwrap(),
            body: Body::parse(body).unwrap(),
            published: true,
            helpful_yes: yes,
            helpful_no: 0,
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn inflected_words_find_their_articles_in_each_language() {
        let a = [
            article(1, Language::Ru, "Сколько идёт вывод средств", "Вывод на карту занимает до трёх рабочих дней.", 0),
            article(2, Language::Ru, "Как пройти верификацию", "Загрузите документы в личном кабинете.", 0),
            article(3, Language::Kk, "Ақша шығару қанша уақыт алады", "Картаға шығару үш жұмыс күніне дейін.", 0),
            article(4, Language::En, "How long does a withdrawal take", "Withdrawals to a card take up to three business days.", 0),
        ];
        assert_eq!(search(&a, "где мой вывод? выводом недоволен", 5).first().map(|x| x.id), Some(Uuid::from_u128(1)));
        assert_eq!(search(&a, "верификации документов", 5).first().map(|x| x.id), Some(Uuid::from_u128(2)));
        assert_eq!(search(&a, "шығарғым келеді", 5).first().map(|x| x.id), Some(Uuid::from_u128(3)));
        assert_eq!(search(&a, "my withdrawals are slow", 5).first().map(|x| x.id), Some(Uuid::from_u128(4)));
        assert!(search(&a, "", 5).is_empty() && search(&a, "?! да", 5).is_empty());
        assert!(search(&a, "бонус", 5).is_empty());
        let mut hidden = a.clone();
        hidden[0].published = false;
        assert!(search(&hidden, "вывод", 5).iter().all(|x| x.id != Uuid::from_u128(1)));
    }

    #[test]
    fn title_matches_outrank_body_matches_and_helpfulness_breaks_ties() {
        let a = [
            article(1, Language::En, "Bonus rules", "A withdrawal cancels a bonus.", 0),
            article(2, Language::En, "Withdrawal times", "Up to three days.", 0),
            article(3, Language::En, "Withdrawal limits", "Up to 5000 a day.", 9),
        ];
        let ids: Vec<u128> = search(&a, "withdrawal", 5).iter().map(|x| x.id.as_u128()).collect();
        assert_eq!(ids, [3, 2, 1]);
        assert_eq!(search(&a, "withdrawal", 1).len(), 1);
    }

    #[test]
    fn suggestions_need_a_word_of_the_title() {
        let a = [
            article(1, Language::Ru, "Сколько идёт вывод средств", "Вывод на карту занимает до трёх рабочих дней.", 0),
            article(2, Language::Ru, "Как получить бонус", "Бонус начисляется после депозита; вывод бонуса возможен после отыгрыша.", 0),
            article(3, Language::Ru, "Верификация аккаунта", "Загрузите паспорт.", 0),
        ];
        let text = "Вывод не пришёл\nЖду вывод третий день, деньги не пришли на карту.";
        let ids: Vec<u128> = suggest(&a, text, 3).iter().map(|x| x.id.as_u128()).collect();
        assert_eq!(ids, [1], "the bonus article mentions a withdrawal only in its body");
        assert!(suggest(&a, "Здравствуйте", 3).is_empty());
    }
}
