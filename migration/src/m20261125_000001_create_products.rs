//! The products table, its value rules as CHECK constraints, and the indexes
//! the list, filter and sort shapes need.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
pub enum Products {
    Table,
    Id,
    Sku,
    Name,
    Description,
    Category,
    Brand,
    PriceCents,
    StockQuantity,
    RatingTenths,
    IsActive,
    Version,
    CreatedAt,
    UpdatedAt,
    NameFolded,
    SearchFolded,
}

/// Text columns sort by code point on both backends: SQLite's default
/// BINARY collation already does; PostgreSQL needs `COLLATE "C"` on the
/// column so that ORDER BY and its indexes agree without per-query collation.
fn text(backend: DbBackend, col: Products, len: Option<u32>) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    match len {
        Some(n) => def.string_len(n),
        None => def.text(),
    };
    def.not_null();
    if backend == DbBackend::Postgres {
        def.extra("COLLATE \"C\"");
    }
    def
}

fn between(col: Products, lo: i64, hi: i64) -> SimpleExpr {
    Expr::col(col).gte(lo).and(Expr::col(col).lte(hi))
}

/// The secondary indexes this migration creates (`CREATE INDEX IF NOT
/// EXISTS`), each with the reason it exists. [`crate::secondary_indexes`]
/// lists them with those of later migrations.
pub fn indexes() -> Vec<IndexCreateStatement> {
    let indexes: [(&str, &[Products]); 10] = [
        // The origin design's composite filters: category or brand with a
        // price range, and price ordering within them.
        (
            "idx_products_category_price",
            &[Products::Category, Products::PriceCents],
        ),
        (
            "idx_products_brand_price",
            &[Products::Brand, Products::PriceCents],
        ),
        // A category or brand filter in the default id order (and its
        // keyset continuation) reads the index in order and stops after
        // one page instead of sorting every match.
        (
            "idx_products_category_id",
            &[Products::Category, Products::Id],
        ),
        ("idx_products_brand_id", &[Products::Brand, Products::Id]),
        // Sorted listings: each sortable column with the id tie-breaker,
        // so ORDER BY col, id and keyset WHERE (col, id) > (...) are one
        // index range scan. They also serve every single-column lookup
        // the origin design indexed (name, price, created_at).
        ("idx_products_name_id", &[Products::Name, Products::Id]),
        (
            "idx_products_price_id",
            &[Products::PriceCents, Products::Id],
        ),
        (
            "idx_products_rating_id",
            &[Products::RatingTenths, Products::Id],
        ),
        (
            "idx_products_stock_id",
            &[Products::StockQuantity, Products::Id],
        ),
        (
            "idx_products_created_id",
            &[Products::CreatedAt, Products::Id],
        ),
        (
            "idx_products_updated_id",
            &[Products::UpdatedAt, Products::Id],
        ),
    ];
    indexes
        .into_iter()
        .map(|(name, cols)| {
            let mut idx = Index::create();
            idx.name(name).table(Products::Table).if_not_exists();
            for c in cols {
                idx.col(*c);
            }
            idx.to_owned()
        })
        .collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .if_not_exists()
                    .col(
                        // AUTOINCREMENT on SQLite, an identity/serial on
                        // PostgreSQL: deleted ids are never handed out again.
                        ColumnDef::new(Products::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(text(backend, Products::Sku, Some(32)).unique_key())
                    .col(text(backend, Products::Name, Some(200)))
                    .col(text(backend, Products::Description, None))
                    .col(text(backend, Products::Category, Some(100)))
                    .col(text(backend, Products::Brand, Some(100)))
                    // Exact money: integer cents, never a float.
                    .col(
                        ColumnDef::new(Products::PriceCents)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Products::StockQuantity)
                            .big_integer()
                            .not_null(),
                    )
                    // Ratings 0.0-5.0 in tenths.
                    .col(
                        ColumnDef::new(Products::RatingTenths)
                            .small_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Products::IsActive)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    // Bumped on every change; the basis of optimistic concurrency.
                    .col(
                        ColumnDef::new(Products::Version)
                            .big_integer()
                            .not_null()
                            .default(1),
                    )
                    // Case-folded copies (Unicode lower case, computed by the
                    // application on every write) that search matches
                    // against: SQLite's LOWER/LIKE fold ASCII only, and
                    // PostgreSQL's depend on the database locale, so folding
                    // in one place gives both backends the same answers.
                    .col(ColumnDef::new(Products::NameFolded).text().not_null())
                    .col(ColumnDef::new(Products::SearchFolded).text().not_null())
                    .col(
                        ColumnDef::new(Products::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Products::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .check(between(Products::PriceCents, 0, 100_000_000))
                    .check(Expr::col(Products::StockQuantity).gte(0))
                    .check(between(Products::RatingTenths, 0, 50))
                    .check(Expr::col(Products::Sku).eq(Func::upper(Expr::col(Products::Sku))))
                    .to_owned(),
            )
            .await?;

        for idx in indexes() {
            manager.create_index(idx).await?;
        }
        // sku has its unique index from the constraint above.
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Products::Table).to_owned())
            .await
    }
}
