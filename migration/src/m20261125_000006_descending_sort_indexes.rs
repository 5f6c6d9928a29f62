//! Indexes for descending sorts. `id` ascending stays the tie-breaker of
//! every sort (the contract), so `ORDER BY price DESC, id` has mixed
//! directions: a backward scan of `(price, id)` yields `id DESC` within
//! equal prices, and PostgreSQL sorted every match instead. These indexes
//! store the column descending and `id` ascending, so the storefront
//! orders (price high to low, best rated, newest, recently updated, Z to A)
//! and their keyset continuations are one index range scan that stops
//! after a page. Descending stock, category and brand sorts stay without
//! one (documented in docs/performance.md): each index costs every write.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::m20261125_000001_create_products::Products;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The indexes this migration creates.
pub fn indexes() -> Vec<IndexCreateStatement> {
    use Products::*;
    // (column, descending)
    let (desc, asc) = (true, false);
    let indexes: [(&str, Vec<(Products, bool)>); 7] = [
        // The filtered storefront list: a category or brand, a price
        // range, most expensive first.
        (
            "idx_products_category_price_desc_id",
            vec![(Category, asc), (PriceCents, desc), (Id, asc)],
        ),
        (
            "idx_products_brand_price_desc_id",
            vec![(Brand, asc), (PriceCents, desc), (Id, asc)],
        ),
        (
            "idx_products_price_desc_id",
            vec![(PriceCents, desc), (Id, asc)],
        ),
        (
            "idx_products_rating_desc_id",
            vec![(RatingTenths, desc), (Id, asc)],
        ),
        (
            "idx_products_created_desc_id",
            vec![(CreatedAt, desc), (Id, asc)],
        ),
        (
            "idx_products_updated_desc_id",
            vec![(UpdatedAt, desc), (Id, asc)],
        ),
        ("idx_products_name_desc_id", vec![(Name, desc), (Id, asc)]),
    ];
    indexes
        .into_iter()
        .map(|(name, cols)| {
            let mut idx = Index::create();
            idx.name(name).table(Products::Table).if_not_exists();
            for (col, descending) in cols {
                idx.col((
                    col,
                    if descending {
                        IndexOrder::Desc
                    } else {
                        IndexOrder::Asc
                    },
                ));
            }
            idx.to_owned()
        })
        .collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(crate::PG_NO_STATEMENT_TIMEOUT)
                .await?;
        }
        for idx in indexes() {
            manager.create_index(idx).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for idx in indexes() {
            if let Some(name) = idx.get_index_spec().get_name() {
                manager
                    .drop_index(
                        Index::drop()
                            .name(name)
                            .table(Products::Table)
                            .if_exists()
                            .to_owned(),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}
