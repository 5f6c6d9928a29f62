//! Proving an index against the database: what `catalog verify` runs.
//!
//! The index is built as every instance builds it (the table, then the
//! change log), then asked the questions the SQL path answers too: the
//! number of products, every category's count, and for a sample of the
//! vocabulary (words, their prefixes, a misspelling, two-word queries) the
//! exact total, the first page in relevance order and the category
//! facets. Any difference is a [`Disagreement`].

use std::time::{Duration, Instant};

use super::{Follower, SearchIndex};
use crate::changes::ChangeLog;
use crate::error::StorageError;
use crate::facets::FacetField;
use crate::facets::FacetKey;
use crate::ports::{PageSpec, ProductReader};
use crate::query::{ProductFilter, SortField, SortKey};
use crate::search::SearchQuery;

/// One question the index and the database answered differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    /// The question (`search=...: total`, `categories`, ...).
    pub question: String,
    pub index: String,
    pub database: String,
}

/// What [`cross_check`] found.
#[derive(Debug, Clone, Default)]
pub struct CrossCheck {
    pub products: u64,
    pub build: Duration,
    pub questions: usize,
    pub disagreements: Vec<Disagreement>,
}

/// Builds an index of type `I` from `store` and compares it with the
/// store's own answers on about `samples` vocabulary words (and as many
/// prefixes and pairs).
pub async fn cross_check<I, S>(store: &S, samples: usize) -> Result<CrossCheck, StorageError>
where
    I: SearchIndex,
    S: ProductReader + ChangeLog,
{
    let started = Instant::now();
    let follower = Follower::<I>::build(store, store).await?;
    let mut out = CrossCheck {
        products: follower.read(|i| i.len())?,
        build: started.elapsed(),
        ..CrossCheck::default()
    };
    let mut differ = |question: String, index: String, database: String| {
        if index != database {
            out.disagreements.push(Disagreement {
                question,
                index,
                database,
            });
        }
    };
    let all = ProductFilter::default();
    let (indexed, stored) = (follower.read(|i| i.count(&all))?, store.count(&all).await?);
    differ("products".into(), indexed.to_string(), stored.to_string());
    let facets = follower.read(|i| i.facet_counts(&all, FacetField::Category))?;
    let categories: Vec<_> = store
        .categories()
        .await?
        .into_iter()
        .map(|c| (c.name, c.product_count))
        .collect();
    let from_index: Vec<_> = facets
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| match k {
            FacetKey::Text(name) => (name, n),
            FacetKey::Int(v) => (v.to_string(), n),
        })
        .collect();
    differ(
        "categories".into(),
        format!("{from_index:?}"),
        format!("{categories:?}"),
    );

    // Every k-th word of the vocabulary, so the sample spans it.
    let terms = store.search_terms(3, 40).await?;
    let step = (terms.len() / samples.max(1)).max(1);
    let words: Vec<&String> = terms.iter().step_by(step).take(samples).collect();
    let mut queries: Vec<String> = Vec::new();
    for (n, w) in words.iter().enumerate() {
        queries.push((*w).clone());
        let prefix: String = w.chars().take(4).collect();
        queries.push(prefix);
        if let Some(next) = words.get(n + 1) {
            queries.push(format!("{w} {next}"));
        }
        if n % 5 == 0 {
            queries.push(format!("-{w}"));
        }
    }
    let relevance = [
        SortKey {
            field: SortField::Relevance,
            descending: true,
        },
        SortKey::ID,
    ];
    for text in &queries {
        let Ok(search) = SearchQuery::parse(text) else {
            continue;
        };
        let filter = ProductFilter {
            search: Some(search),
            ..ProductFilter::default()
        };
        let page = PageSpec {
            filter: &filter,
            sort: &relevance,
            after: None,
            offset: 0,
            limit: 20,
        };
        let (ids, total) = follower.read(|i| i.page(&page))?;
        let (rows, db_total) = store.list_counted(page).await?;
        out.questions += 1;
        differ(
            format!("search={text}: total"),
            total.to_string(),
            db_total.to_string(),
        );
        differ(
            format!("search={text}: first page"),
            format!("{:?}", ids.iter().map(|id| id.get()).collect::<Vec<_>>()),
            format!("{:?}", rows.iter().map(|p| p.id.get()).collect::<Vec<_>>()),
        );
        if out.questions % 10 == 1 {
            let mut index = follower.read(|i| i.facet_counts(&filter, FacetField::Category))?;
            let mut db = store.facet_counts(&filter, FacetField::Category).await?;
            index.retain(|(_, n)| *n > 0);
            db.retain(|(_, n)| *n > 0);
            index.sort();
            db.sort();
            differ(
                format!("search={text}: category facets"),
                format!("{index:?}"),
                format!("{db:?}"),
            );
        }
    }
    Ok(out)
}
