//! In-memory storage adapter: the reference implementation of the storage
//! ports, used by HTTP tests and run through the same contract suite as the
//! SQL adapters. Filtering, ordering and relevance come straight from the
//! domain's reference semantics.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use catalog_domain::ports::{Created, IDEMPOTENCY_TTL_HOURS, Idempotency, PageSpec};
use catalog_domain::product::now;
use catalog_domain::query::{compare_keys, sort_values};
use catalog_domain::search::{SearchDocument, in_vocabulary};
use catalog_domain::{
    BatchUpserted, NameCount, NewProduct, Product, ProductFilter, ProductId, ProductReader,
    ProductWriter, StatsRow, StorageError, UpsertOutcome, Upserted,
};
use tokio::sync::RwLock;

/// A remembered idempotency key.
#[derive(Debug, Clone)]
struct KeyRecord {
    fingerprint: String,
    /// The created product (`None` for a bulk upsert, whose outcomes are
    /// the body).
    id: Option<ProductId>,
    body: Vec<u8>,
    at: chrono::DateTime<chrono::Utc>,
}

/// The record of idempotency key `idem` (after forgetting keys older than
/// [`IDEMPOTENCY_TTL_HOURS`]): `None` when the write goes on,
/// `IdempotencyKeyReused` when the key came with another fingerprint.
fn recorded<'k>(
    keys: &'k mut std::collections::HashMap<String, KeyRecord>,
    idem: Option<&Idempotency>,
) -> Result<Option<&'k KeyRecord>, StorageError> {
    let Some(idem) = idem else {
        return Ok(None);
    };
    let cutoff = now() - chrono::Duration::hours(IDEMPOTENCY_TTL_HOURS);
    keys.retain(|_, r| r.at > cutoff);
    match keys.get(&idem.key) {
        Some(r) if r.fingerprint != idem.fingerprint => Err(StorageError::IdempotencyKeyReused),
        other => Ok(other),
    }
}

/// Products held in a map, ids handed out from a counter that never goes
/// back (deleted ids are never reused).
#[derive(Debug, Default)]
pub struct MemoryStore {
    products: RwLock<BTreeMap<i64, Product>>,
    last_id: AtomicU64,
    keys: tokio::sync::Mutex<std::collections::HashMap<String, KeyRecord>>,
}

fn stored(
    id: ProductId,
    new: &NewProduct,
    created_at: chrono::DateTime<chrono::Utc>,
    version: i64,
) -> Product {
    Product {
        id,
        sku: new.sku.clone(),
        name: new.name.clone(),
        description: new.description.clone(),
        category: new.category.clone(),
        brand: new.brand.clone(),
        price: new.price,
        stock_quantity: new.stock_quantity,
        rating: new.rating,
        is_active: new.is_active,
        created_at,
        updated_at: now(),
        version,
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn next_id(&self) -> Result<ProductId, StorageError> {
        let id = self.last_id.fetch_add(1, Ordering::SeqCst) + 1;
        let id = i64::try_from(id).map_err(|e| StorageError::internal("id space exhausted", e))?;
        ProductId::new(id).map_err(|e| StorageError::internal("invalid id", e))
    }
}

fn matching<'a>(
    products: &'a BTreeMap<i64, Product>,
    filter: &'a ProductFilter,
) -> impl Iterator<Item = &'a Product> + 'a {
    products.values().filter(move |p| filter.matches(p))
}

#[async_trait]
impl ProductReader for MemoryStore {
    async fn list(&self, page: PageSpec<'_>) -> Result<Vec<Product>, StorageError> {
        let products = self.products.read().await;
        let search = page.filter.search.as_ref();
        let mut rows: Vec<(Vec<_>, &Product)> = matching(&products, page.filter)
            .map(|p| (sort_values(page.sort, p, search), p))
            .filter(|(key, _)| {
                page.after
                    .is_none_or(|after| compare_keys(page.sort, key, after).is_gt())
            })
            .collect();
        rows.sort_by(|a, b| compare_keys(page.sort, &a.0, &b.0));
        Ok(rows
            .into_iter()
            .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(page.limit).unwrap_or(usize::MAX))
            .map(|(_, p)| p.clone())
            .collect())
    }

    async fn count(&self, filter: &ProductFilter) -> Result<u64, StorageError> {
        let products = self.products.read().await;
        Ok(matching(&products, filter).count() as u64)
    }

    async fn get(&self, id: ProductId) -> Result<Option<Product>, StorageError> {
        Ok(self.products.read().await.get(&id.get()).cloned())
    }

    async fn search_terms(
        &self,
        min_chars: usize,
        max_chars: usize,
    ) -> Result<Vec<String>, StorageError> {
        let products = self.products.read().await;
        let mut terms = BTreeSet::new();
        for p in products.values() {
            let doc = SearchDocument::of(p);
            for t in doc.name.split(' ').chain(doc.body.split(' ')) {
                if in_vocabulary(t) && (min_chars..=max_chars).contains(&t.chars().count()) {
                    terms.insert(t.to_string());
                }
            }
        }
        Ok(terms.into_iter().collect())
    }

    async fn stats(&self, filter: &ProductFilter) -> Result<StatsRow, StorageError> {
        let products = self.products.read().await;
        Ok(StatsRow::tally(matching(&products, filter)))
    }

    async fn categories(&self) -> Result<Vec<NameCount>, StorageError> {
        let products = self.products.read().await;
        Ok(NameCount::tally(
            products.values().map(|p| p.category.as_str()),
        ))
    }

    async fn brands(&self) -> Result<Vec<NameCount>, StorageError> {
        let products = self.products.read().await;
        Ok(NameCount::tally(
            products.values().map(|p| p.brand.as_str()),
        ))
    }

    async fn ping(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

#[async_trait]
impl ProductWriter for MemoryStore {
    async fn insert_batch(&self, batch: &[NewProduct]) -> Result<u64, StorageError> {
        let mut products = self.products.write().await;
        let mut taken: BTreeSet<String> = products
            .values()
            .map(|p| p.sku.as_str().to_string())
            .collect();
        let mut inserted = 0;
        for new in batch {
            if !taken.insert(new.sku.as_str().to_string()) {
                continue;
            }
            let id = self.next_id()?;
            let mut p = stored(id, new, now(), 1);
            p.updated_at = p.created_at;
            products.insert(id.get(), p);
            inserted += 1;
        }
        Ok(inserted)
    }

    async fn upsert_batch(
        &self,
        batch: &[NewProduct],
        idempotency: Option<&Idempotency>,
    ) -> Result<BatchUpserted, StorageError> {
        // The key lock is held across the writes: one request per key wins.
        let mut keys = self.keys.lock().await;
        if let Some(r) = recorded(&mut keys, idempotency)? {
            let items = serde_json::from_slice(&r.body)
                .map_err(|e| StorageError::internal("a recorded bulk outcome", e))?;
            return Ok(BatchUpserted {
                items,
                replayed: true,
            });
        }
        let mut products = self.products.write().await;
        let mut by_sku: std::collections::HashMap<String, i64> = products
            .values()
            .map(|p| (p.sku.as_str().to_string(), p.id.get()))
            .collect();
        let ts = now();
        let mut out = Vec::with_capacity(batch.len());
        for new in batch {
            let existing = by_sku.get(new.sku.as_str()).and_then(|id| products.get(id));
            let (id, outcome, product) = match existing {
                Some(current) if new.same_as(current) => {
                    (current.id, UpsertOutcome::Unchanged, None)
                }
                Some(current) => {
                    let mut p = stored(current.id, new, current.created_at, current.version + 1);
                    p.updated_at = ts;
                    (current.id, UpsertOutcome::Updated, Some(p))
                }
                None => {
                    let id = self.next_id()?;
                    by_sku.insert(new.sku.as_str().to_string(), id.get());
                    let mut p = stored(id, new, ts, 1);
                    p.updated_at = ts;
                    (id, UpsertOutcome::Created, Some(p))
                }
            };
            if let Some(p) = product {
                products.insert(id.get(), p);
            }
            out.push(Upserted { id, outcome });
        }
        if let Some(idem) = idempotency {
            let body =
                serde_json::to_vec(&out).map_err(|e| StorageError::internal("encoding", e))?;
            keys.insert(
                idem.key.clone(),
                KeyRecord {
                    fingerprint: idem.fingerprint.clone(),
                    id: None,
                    body,
                    at: ts,
                },
            );
        }
        Ok(BatchUpserted {
            items: out,
            replayed: false,
        })
    }

    async fn count_all(&self) -> Result<u64, StorageError> {
        Ok(self.products.read().await.len() as u64)
    }

    async fn create(
        &self,
        new: &NewProduct,
        idempotency: Option<&Idempotency>,
    ) -> Result<Created, StorageError> {
        // The key lock is held across the insert: one request per key wins.
        let mut keys = self.keys.lock().await;
        if let Some(r) = recorded(&mut keys, idempotency)? {
            let id = r
                .id
                .ok_or_else(|| StorageError::internal("idempotency key", "no product recorded"))?;
            return Ok(Created::Replayed {
                id,
                body: r.body.clone(),
            });
        }
        let mut products = self.products.write().await;
        if products.values().any(|p| p.sku == new.sku) {
            return Err(StorageError::DuplicateSku);
        }
        let id = self.next_id()?;
        let mut p = stored(id, new, now(), 1);
        p.updated_at = p.created_at;
        products.insert(id.get(), p.clone());
        if let Some(idem) = idempotency {
            let body = serde_json::to_vec(&p).map_err(|e| StorageError::internal("encoding", e))?;
            keys.insert(
                idem.key.clone(),
                KeyRecord {
                    fingerprint: idem.fingerprint.clone(),
                    id: Some(id),
                    body,
                    at: p.created_at,
                },
            );
        }
        Ok(Created::New(p))
    }

    async fn update(
        &self,
        id: ProductId,
        new: &NewProduct,
        expected_version: Option<i64>,
    ) -> Result<Product, StorageError> {
        let mut products = self.products.write().await;
        let current = products.get(&id.get()).ok_or(StorageError::NotFound)?;
        if expected_version.is_some_and(|v| v != current.version) {
            return Err(StorageError::VersionConflict);
        }
        if products.values().any(|p| p.sku == new.sku && p.id != id) {
            return Err(StorageError::DuplicateSku);
        }
        let current = products.get(&id.get()).ok_or(StorageError::NotFound)?;
        let updated = stored(id, new, current.created_at, current.version + 1);
        products.insert(id.get(), updated.clone());
        Ok(updated)
    }

    async fn delete(
        &self,
        id: ProductId,
        expected_version: Option<i64>,
    ) -> Result<(), StorageError> {
        let mut products = self.products.write().await;
        let current = products.get(&id.get()).ok_or(StorageError::NotFound)?;
        if expected_version.is_some_and(|v| v != current.version) {
            return Err(StorageError::VersionConflict);
        }
        products.remove(&id.get());
        Ok(())
    }
}
