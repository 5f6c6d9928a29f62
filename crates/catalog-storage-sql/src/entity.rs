//! The SeaORM entity of the products table. Storage rows, never API bodies:
//! rows are converted into domain products at the adapter boundary.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "products")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub brand: String,
    pub price_cents: i64,
    pub stock_quantity: i64,
    pub rating_tenths: i16,
    pub is_active: bool,
    pub version: i64,
    /// Search tokens of name and sku (`SearchDocument::name`).
    pub search_name: String,
    /// Search tokens of the description (`SearchDocument::body`).
    pub search_body: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The columns a product is read from: the model without the search token
/// columns, which only the database needs. Reads select these, so a list
/// page does not carry every description twice.
#[derive(Clone, Debug, DerivePartialModel)]
#[sea_orm(entity = "Entity")]
pub struct ProductRow {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub brand: String,
    pub price_cents: i64,
    pub stock_quantity: i64,
    pub rating_tenths: i16,
    pub is_active: bool,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// A [`ProductRow`] with the number of rows the query matched before its
/// LIMIT and OFFSET (`COUNT(*) OVER ()`).
#[derive(Clone, Debug, DerivePartialModel)]
#[sea_orm(entity = "Entity")]
pub struct CountedRow {
    #[sea_orm(nested)]
    pub row: ProductRow,
    #[sea_orm(from_expr = "sea_orm::sea_query::Expr::cust(\"COUNT(*) OVER ()\")")]
    pub matches: i64,
}

/// A product row with the total of its page's filter (`matches`), from a
/// scalar subquery of the page's statement.
#[derive(Clone, Debug)]
pub struct PageRow {
    pub row: ProductRow,
    pub matches: i64,
}

impl sea_orm::FromQueryResult for PageRow {
    fn from_query_result(res: &sea_orm::QueryResult, pre: &str) -> Result<Self, sea_orm::DbErr> {
        Ok(Self {
            row: ProductRow::from_query_result(res, pre)?,
            matches: res.try_get(pre, "matches")?,
        })
    }
}

impl From<Model> for ProductRow {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            sku: m.sku,
            name: m.name,
            description: m.description,
            category: m.category,
            brand: m.brand,
            price_cents: m.price_cents,
            stock_quantity: m.stock_quantity,
            rating_tenths: m.rating_tenths,
            is_active: m.is_active,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Remembered idempotency keys.
pub mod idempotency_keys {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub fingerprint: String,
        pub product_id: Option<i64>,
        pub response_body: Option<String>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
