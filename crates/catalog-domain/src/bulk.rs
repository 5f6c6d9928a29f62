//! Bulk upserts by sku: the one use case behind `POST
//! /api/v1/products/bulk` and `catalog import`.
//!
//! The caller reads its items (JSON, NDJSON, CSV) into products or the
//! reasons they are not products; [`CatalogService::bulk_upsert`] keeps the
//! last valid item of each sku, upserts the kept ones in one transaction
//! ([`crate::ProductWriter::upsert_batch`]), and makes the cache forget
//! once per batch, not per row.

use std::collections::HashMap;

use crate::error::{CatalogError, ValidationErrors};
use crate::ports::{Idempotency, UpsertOutcome};
use crate::product::{NewProduct, ProductId};
use crate::service::CatalogService;

/// Items one batch may hold: the bulk endpoint's limit, and the import's
/// batch size.
pub const MAX_BULK_ITEMS: usize = 1000;

/// Attempts at a batch that another writer raced (a sku inserted meanwhile,
/// a deadlock on PostgreSQL): each retry reads the rows again.
const BULK_ATTEMPTS: u32 = 3;

/// What happened to one item of a batch, in input order.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemResult {
    /// Written (created or updated), or found already equal (unchanged).
    Applied {
        id: ProductId,
        outcome: UpsertOutcome,
    },
    /// A later valid item of the batch has the same sku, and is the one
    /// applied (the last one wins): this one was not written.
    Superseded { id: ProductId, by: usize },
    /// Not a valid product: nothing written for it.
    Invalid(ValidationErrors),
}

/// The outcome of a [`CatalogService::bulk_upsert`].
#[derive(Debug, Clone, PartialEq)]
pub struct BulkResult {
    /// One per item, in input order.
    pub items: Vec<ItemResult>,
    /// A retry with an idempotency key already used: nothing was written
    /// now, and `items` are the first call's.
    pub replayed: bool,
}

/// Which items are applied: the last valid item of each sku. Returns the
/// kept items' indexes in input order, and for each superseded item the
/// index of the item that supersedes it.
fn last_of_each_sku(
    items: &[Result<NewProduct, ValidationErrors>],
) -> (Vec<usize>, Vec<(usize, usize)>) {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Ok(p) = item {
            last.insert(p.sku.as_str(), i);
        }
    }
    let mut kept = Vec::with_capacity(last.len());
    let mut superseded = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if let Ok(p) = item {
            match last.get(p.sku.as_str()) {
                Some(&j) if j == i => kept.push(i),
                Some(&j) => superseded.push((i, j)),
                None => {}
            }
        }
    }
    (kept, superseded)
}

/// Every invalid item's errors, each field prefixed with the item's index
/// (`[3].price`): the 422 of an atomic batch.
pub fn item_errors(items: &[Result<NewProduct, ValidationErrors>]) -> ValidationErrors {
    let mut all = ValidationErrors::new();
    for (i, item) in items.iter().enumerate() {
        if let Err(errors) = item {
            for e in errors.errors() {
                all.push(format!("[{i}].{}", e.field), e.message.clone());
            }
        }
    }
    all
}

impl CatalogService {
    /// Upserts the valid items by sku, in one transaction; the last valid
    /// item of a repeated sku wins. `atomic`: any invalid item refuses the
    /// whole batch (a validation error naming each item's fields, nothing
    /// written). The cache forgets once, after the commit, when anything
    /// was written. With an idempotency key, a retry returns the first
    /// call's outcomes and writes nothing.
    #[tracing::instrument(skip_all, fields(items = items.len(), atomic))]
    pub async fn bulk_upsert(
        &self,
        items: &[Result<NewProduct, ValidationErrors>],
        atomic: bool,
        idempotency: Option<Idempotency>,
    ) -> Result<BulkResult, CatalogError> {
        if atomic {
            let errors = item_errors(items);
            if !errors.is_empty() {
                return Err(CatalogError::Validation(errors));
            }
        }
        let (kept, superseded) = last_of_each_sku(items);
        let products: Vec<NewProduct> = kept
            .iter()
            .filter_map(|&i| items[i].as_ref().ok().cloned())
            .collect();
        let mut attempt = 0;
        let written = loop {
            attempt += 1;
            match self
                .store
                .upsert_batch(&products, idempotency.as_ref())
                .await
            {
                Ok(w) => break w,
                Err(
                    crate::StorageError::DuplicateSku | crate::StorageError::Unavailable { .. },
                ) if attempt < BULK_ATTEMPTS => {
                    tracing::debug!(attempt, "bulk upsert raced another writer; retrying");
                }
                Err(e) => return Err(e.into()),
            }
        };
        if written.items.len() != products.len() {
            return Err(CatalogError::internal(
                "bulk upsert",
                "the store returned another number of outcomes than products",
            ));
        }
        if !written.replayed
            && written
                .items
                .iter()
                .any(|u| u.outcome != UpsertOutcome::Unchanged)
        {
            self.invalidate_all().await;
        }
        let mut results: Vec<Option<ItemResult>> = items
            .iter()
            .map(|item| item.as_ref().err().map(|e| ItemResult::Invalid(e.clone())))
            .collect();
        let mut ids: HashMap<usize, ProductId> = HashMap::with_capacity(kept.len());
        for (&i, u) in kept.iter().zip(&written.items) {
            ids.insert(i, u.id);
            results[i] = Some(ItemResult::Applied {
                id: u.id,
                outcome: u.outcome,
            });
        }
        for (i, by) in superseded {
            if let Some(&id) = ids.get(&by) {
                results[i] = Some(ItemResult::Superseded { id, by });
            }
        }
        let items = results
            .into_iter()
            .map(|r| r.ok_or_else(|| CatalogError::internal("bulk upsert", "an item was lost")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BulkResult {
            items,
            replayed: written.replayed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::product::{Label, Price, Rating, Sku};

    fn product(sku: &str) -> NewProduct {
        NewProduct {
            sku: Sku::parse(sku).unwrap(),
            name: "n".into(),
            description: String::new(),
            category: Label::parse("c").unwrap(),
            brand: Label::parse("b").unwrap(),
            price: Price::from_cents(100).unwrap(),
            stock_quantity: 0,
            rating: Rating::ZERO,
            is_active: true,
        }
    }

    #[test]
    fn the_last_valid_item_of_a_sku_is_kept() {
        let items = vec![
            Ok(product("AAA")),
            Ok(product("BBB")),
            Ok(product("AAA")),
            Err(ValidationErrors::single("price", "bad")),
            Ok(product("BBB")),
        ];
        let (kept, superseded) = last_of_each_sku(&items);
        assert_eq!(kept, vec![2, 4]);
        assert_eq!(superseded, vec![(0, 2), (1, 4)]);
    }

    #[test]
    fn item_errors_are_prefixed_with_their_index() {
        let items = vec![
            Ok(product("AAA")),
            Err(ValidationErrors::single("price", "must be a number")),
        ];
        let e = item_errors(&items);
        assert_eq!(e.errors()[0].field, "[1].price");
        assert_eq!(e.errors()[0].message, "must be a number");
    }
}
