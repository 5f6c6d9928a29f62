//! The storage port's contract suite: one set of checks that every
//! [`ProductStore`] adapter runs, comparing each answer with the reference
//! semantics computed in Rust from the domain ([`ProductFilter::matches`],
//! `query::compare_keys` over `query::sort_values`, [`SearchQuery::score`]).
//!
//! An adapter's test crate implements [`Fixture`] (a fresh, empty store per
//! test, plus an optional async cleanup) and expands
//! [`storage_contract_suite!`], which yields one `#[tokio::test]` per check:
//!
//! ```ignore
//! use catalog_storage_contract::{Fixture, storage_contract_suite};
//!
//! struct MemFixture(MemoryStore);
//!
//! #[async_trait::async_trait]
//! impl Fixture for MemFixture {
//!     fn store(&self) -> &dyn catalog_domain::ProductStore {
//!         &self.0
//!     }
//! }
//!
//! storage_contract_suite!(async { Some(Box::new(MemFixture(MemoryStore::new())) as Box<dyn Fixture>) });
//! ```
//!
//! [`ProductStore`]: catalog_domain::ProductStore
//! [`ProductFilter::matches`]: catalog_domain::ProductFilter::matches
//! [`SearchQuery::score`]: catalog_domain::SearchQuery::score

// Test-support code: a failed expectation is a test failure, so the checks
// panic with a message instead of threading errors back to the caller.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod checks;
mod dataset;
pub mod reference;

use catalog_domain::ProductStore;

pub use dataset::dataset;

/// One store under test. Each check gets its own fixture holding a fresh,
/// empty store, and hands it back to [`Fixture::cleanup`] when done, whether
/// the check passed or panicked.
#[async_trait]
pub trait Fixture: Send + Sync {
    /// The adapter under test.
    fn store(&self) -> &dyn ProductStore;

    /// Releases what the fixture holds (drops a scratch database, closes a
    /// pool). Runs after the check even when it panicked.
    async fn cleanup(self: Box<Self>) {}
}

/// What the macro expansion needs, so the calling crate does not have to
/// depend on it.
#[doc(hidden)]
pub mod __private {
    pub use futures::FutureExt;
}

/// For fixtures that override [`Fixture::cleanup`]:
/// `#[catalog_storage_contract::async_trait] impl Fixture for MyFixture { .. }`.
pub use async_trait::async_trait;
pub use futures;
pub use tokio;

/// Expands to one `#[tokio::test]` per contract check.
///
/// `$make` is an expression evaluating to a future that yields an
/// `Option<Box<dyn Fixture>>` holding a fresh, empty store (`None` skips the
/// check: the backend is absent on this machine); it is evaluated once per
/// test. The calling crate needs `tokio` (with `macros` and a runtime) among
/// its dev-dependencies for the test attribute. To run the suite against
/// several backends from one test crate, expand it once per module:
///
/// ```ignore
/// mod sqlite {
///     use super::*;
///     catalog_storage_contract::storage_contract_suite!(sqlite_fixture());
/// }
/// ```
#[macro_export]
macro_rules! storage_contract_suite {
    ($make:expr) => {
        $crate::storage_contract_suite!(@tests ($make);
            empty_store_reads_nothing,
            insert_batch_counts_and_skips_taken_skus,
            get_returns_the_listed_product,
            filters_match_reference,
            sorts_match_reference,
            offset_pages_concatenate_to_reference_order,
            keyset_pages_concatenate_to_reference_order,
            keyset_after_arbitrary_positions,
            search_is_case_insensitive_and_ands_words,
            search_finds_exact_sku_first,
            search_relevance_order_matches_reference,
            search_treats_punctuation_as_separators,
            search_syntax_matches_reference,
            fuzzy_search_expands_from_the_vocabulary,
            relevance_pages_survive_writes_between_pages,
            relevance_cursors_cross_every_score,
            search_folds_non_ascii_case,
            search_indexes_tokens_whole,
            list_counted_equals_list_and_count,
            stats_match_reference,
            price_range_aggregates_match_reference,
            facet_counts_match_reference,
            aggregates_stay_exact_under_concurrent_writes,
            categories_and_brands_in_code_point_order,
            ping_succeeds,
            create_assigns_a_fresh_id_and_stores_as_given,
            create_refuses_a_taken_sku,
            update_replaces_every_field_and_bumps_the_version,
            update_refuses_a_taken_sku,
            writes_to_a_missing_id_are_not_found,
            update_checks_the_expected_version,
            delete_removes_the_product,
            delete_checks_the_expected_version,
            deleted_ids_are_never_reused,
            create_replays_an_idempotency_key,
            idempotency_key_reused_with_another_fingerprint_is_refused,
            failed_create_leaves_no_idempotency_record,
            concurrent_creates_with_one_key_insert_once,
            concurrent_creates_of_one_sku_insert_once,
            concurrent_updates_with_one_version_let_one_win,
            reads_reflect_writes_at_once,
            insert_batch_skips_skus_taken_by_writes,
            upsert_batch_creates_updates_and_leaves_equal_rows_alone,
            upsert_batch_replays_an_idempotency_key,
            concurrent_upserts_of_one_sku_create_once,
            concurrent_overlapping_upserts_all_succeed,
            concurrent_mixed_upserts_all_succeed,
        );
    };
    (@tests ($make:expr); $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                // `None`: the backend is absent on this machine and the
                // fixture has already said so loudly (it fails under CI).
                let ::std::option::Option::Some(fixture): ::std::option::Option<::std::boxed::Box<dyn $crate::Fixture>> = $make.await else {
                    return;
                };
                let outcome = $crate::__private::FutureExt::catch_unwind(
                    ::std::panic::AssertUnwindSafe($crate::checks::$check(fixture.store())),
                )
                .await;
                // Clean up before re-raising, so a failing check still drops
                // its scratch database.
                fixture.cleanup().await;
                if let ::std::result::Result::Err(panic) = outcome {
                    ::std::panic::resume_unwind(panic);
                }
            }
        )+
    };
}
