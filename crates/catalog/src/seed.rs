//! `catalog seed`: realistic, deterministic demo data, topped up idempotently.
//!
//! Product number `i` is generated from `(rng_seed, i)` alone, so a given seed
//! always yields the same catalog whatever the batch size or how many runs it
//! took to get there. SKUs derive from `i`; a run starts after the products
//! already present and skips any sku already taken, so re-running never
//! duplicates and never fails.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use catalog_domain::{Label, NewProduct, Price, ProductWriter, Rating, Sku, StorageError};
use catalog_storage_sql::{BulkLoadProgress, SqlStore};
use fake::Fake;
use fake::faker::company::en::{Bs, CatchPhrase};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// (category, sku code, nouns, median price, log-spread)
const CATEGORIES: [(&str, &str, &[&str], f64, f64); 15] = [
    (
        "Electronics",
        "ELEC",
        &[
            "Headphones",
            "Speaker",
            "Charger",
            "Monitor",
            "Keyboard",
            "Webcam",
            "Router",
        ],
        120.0,
        0.9,
    ),
    (
        "Computers",
        "COMP",
        &[
            "Laptop",
            "Desktop",
            "Tablet",
            "SSD",
            "Graphics Card",
            "Docking Station",
        ],
        850.0,
        0.7,
    ),
    (
        "Books",
        "BOOK",
        &[
            "Novel",
            "Cookbook",
            "Biography",
            "Atlas",
            "Field Guide",
            "Anthology",
        ],
        18.0,
        0.5,
    ),
    (
        "Clothing",
        "CLTH",
        &[
            "T-Shirt", "Jacket", "Jeans", "Sweater", "Raincoat", "Hoodie",
        ],
        45.0,
        0.6,
    ),
    (
        "Shoes",
        "SHOE",
        &["Sneakers", "Boots", "Sandals", "Loafers", "Running Shoes"],
        80.0,
        0.5,
    ),
    (
        "Home & Kitchen",
        "HOME",
        &[
            "Blender",
            "Kettle",
            "Pan Set",
            "Knife Block",
            "Toaster",
            "Coffee Maker",
        ],
        60.0,
        0.8,
    ),
    (
        "Furniture",
        "FURN",
        &[
            "Sofa",
            "Desk",
            "Bookshelf",
            "Armchair",
            "Dining Table",
            "Bed Frame",
        ],
        400.0,
        0.8,
    ),
    (
        "Garden",
        "GRDN",
        &["Hose", "Planter", "Lawn Mower", "Pruner", "Garden Bench"],
        55.0,
        1.0,
    ),
    (
        "Sports",
        "SPRT",
        &[
            "Yoga Mat",
            "Dumbbells",
            "Tennis Racket",
            "Bike Helmet",
            "Football",
        ],
        40.0,
        0.9,
    ),
    (
        "Toys",
        "TOYS",
        &["Puzzle", "Building Set", "Doll", "RC Car", "Board Game"],
        25.0,
        0.7,
    ),
    (
        "Beauty",
        "BEAU",
        &["Serum", "Moisturizer", "Lipstick", "Shampoo", "Perfume"],
        22.0,
        0.7,
    ),
    (
        "Health",
        "HLTH",
        &[
            "Vitamins",
            "Thermometer",
            "Massager",
            "First Aid Kit",
            "Scale",
        ],
        30.0,
        0.8,
    ),
    (
        "Automotive",
        "AUTO",
        &[
            "Dash Cam",
            "Car Charger",
            "Floor Mats",
            "Tire Inflator",
            "Seat Cover",
        ],
        50.0,
        0.9,
    ),
    (
        "Grocery",
        "GROC",
        &[
            "Coffee Beans",
            "Olive Oil",
            "Green Tea",
            "Dark Chocolate",
            "Pasta",
        ],
        9.0,
        0.6,
    ),
    (
        "Pet Supplies",
        "PETS",
        &["Dog Bed", "Cat Tree", "Leash", "Pet Fountain", "Chew Toy"],
        28.0,
        0.8,
    ),
];

const BRANDS: [&str; 20] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Cyberdyne",
    "Tyrell",
    "Aperture",
    "Oscorp",
    "Monarch",
    "Gringotts",
    "Nakatomi",
    "Pied Piper",
    "Massive Dynamic",
    "Blue Sun",
];

const COLORS: [&str; 12] = [
    "Black",
    "White",
    "Silver",
    "Graphite",
    "Navy",
    "Red",
    "Forest Green",
    "Sand",
    "Sky Blue",
    "Charcoal",
    "Rose",
    "Olive",
];

const ADJECTIVES: [&str; 16] = [
    "Classic",
    "Premium",
    "Compact",
    "Wireless",
    "Ergonomic",
    "Eco",
    "Pro",
    "Ultra",
    "Smart",
    "Portable",
    "Deluxe",
    "Essential",
    "Vintage",
    "Modern",
    "Rugged",
    "Lightweight",
];

/// A standard normal sample (Box-Muller), so no distribution crate is needed
/// for two log-normal draws per product.
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Product number `index` of the catalog seeded with `seed`.
pub fn product(seed: u64, index: u64) -> NewProduct {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index);
    let (category, code, nouns, median, spread) = CATEGORIES[rng.random_range(0..CATEGORIES.len())];
    let brand = BRANDS[rng.random_range(0..BRANDS.len())];
    let noun = nouns[rng.random_range(0..nouns.len())];
    let adjective = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
    let color = COLORS[rng.random_range(0..COLORS.len())];
    let model = rng.random_range(100..1000);
    let name = format!("{brand} {adjective} {noun} {model} ({color})");
    let catch: String = CatchPhrase().fake_with_rng(&mut rng);
    let bs: String = Bs().fake_with_rng(&mut rng);
    let description = format!(
        "{catch}. The {adjective_l} {noun_l} from {brand} in {color}, built to {bs}.",
        adjective_l = adjective.to_lowercase(),
        noun_l = noun.to_lowercase(),
    );
    // Log-normal prices around the category's median, ending in .99/.49/.00
    // like real price tags.
    let raw = (median.ln() + spread * normal(&mut rng))
        .exp()
        .clamp(1.0, 99_999.0);
    let endings = [99, 49, 0];
    let cents = (raw.floor() as i64) * 100 + endings[rng.random_range(0..endings.len())];
    let rating = (48.0 - normal(&mut rng).abs() * 9.0)
        .round()
        .clamp(10.0, 50.0) as i64;
    let stock = if rng.random_bool(0.08) {
        0
    } else {
        (normal(&mut rng).abs() * 150.0) as i64 + 1
    };
    NewProduct {
        sku: Sku::parse(&format!("{code}-{index:07}")).unwrap_or_else(|_| unreachable_sku()),
        name,
        description,
        // The names are this module's constants, each a valid label
        // (`labels_are_valid` checks them): taken as they are.
        category: Label::from_stored(category.to_owned()),
        brand: Label::from_stored(brand.to_owned()),
        price: Price::from_cents(cents.min(catalog_domain::product::MAX_PRICE_CENTS))
            .unwrap_or_else(|_| unreachable_price()),
        stock_quantity: stock,
        rating: Rating::from_tenths(rating).unwrap_or_else(|_| unreachable_rating()),
        is_active: rng.random_bool(0.9),
    }
}

// The generator only builds values inside the rules; these document that.
fn unreachable_sku() -> Sku {
    unreachable!("generated skus are CODE-NNNNNNN")
}
fn unreachable_price() -> Price {
    unreachable!("generated prices are clamped into range")
}
fn unreachable_rating() -> Rating {
    unreachable!("generated ratings are clamped into range")
}

/// Rows handed to the store per top-up call (one transaction each).
const BATCH: u64 = 20_000;

/// Outcome of a seeding run.
#[derive(Debug, Clone, Copy)]
pub struct SeedReport {
    pub before: u64,
    pub inserted: u64,
    pub elapsed: Duration,
}

/// Progress on a terminal (a bar) or in the log (a line every 2 s).
struct Progress {
    bar: Option<ProgressBar>,
    next_log: std::sync::Mutex<Instant>,
    target: u64,
}

impl Progress {
    fn new(target: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(target);
            bar.set_style(
                ProgressStyle::with_template(
                    "seeding {bar:40} {pos}/{len} products ({per_sec}, eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            bar,
            next_log: std::sync::Mutex::new(Instant::now() + Duration::from_secs(2)),
            target,
        }
    }

    fn set(&self, inserted: u64) {
        if let Some(b) = &self.bar {
            b.set_position(inserted);
            return;
        }
        let Ok(mut next) = self.next_log.lock() else {
            return;
        };
        if Instant::now() >= *next {
            tracing::info!(inserted, target = self.target, "seeding");
            *next = Instant::now() + Duration::from_secs(2);
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Brings the store up to at least `target` products.
pub async fn seed(
    store: &SqlStore,
    target: u64,
    rng_seed: u64,
) -> Result<SeedReport, StorageError> {
    let start = Instant::now();
    let before = store.count_all().await?;
    if before >= target {
        return Ok(SeedReport {
            before,
            inserted: 0,
            elapsed: start.elapsed(),
        });
    }
    let missing = target - before;
    let progress = Progress::new(missing);
    let inserted = if before == 0 {
        // An empty table: the adapter's bulk load (COPY on PostgreSQL,
        // indexes and derived tables built once after the rows).
        let report = store
            .bulk_load(
                missing,
                move |i| product(rng_seed, i),
                |p| match p {
                    BulkLoadProgress::Rows(n) => progress.set(n),
                    BulkLoadProgress::RowsWritten(n) => {
                        progress.finish();
                        log_rows_written(n, start);
                        tracing::info!("building indexes");
                    }
                },
            )
            .await?;
        report.inserted
    } else {
        let inserted = insert_all(store, before, missing, rng_seed, &progress).await?;
        progress.finish();
        log_rows_written(inserted, start);
        inserted
    };
    Ok(SeedReport {
        before,
        inserted,
        elapsed: start.elapsed(),
    })
}

fn log_rows_written(inserted: u64, start: Instant) {
    tracing::info!(
        inserted,
        elapsed_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        "seeding: rows written"
    );
}

/// Inserts products after the `before` already present, skipping taken
/// skus, until `missing` went in. The next batch is generated on a
/// blocking thread while the current one is written.
async fn insert_all(
    store: &SqlStore,
    before: u64,
    missing: u64,
    rng_seed: u64,
    progress: &Progress,
) -> Result<u64, StorageError> {
    let prepare = move |from: u64, n: u64| {
        tokio::task::spawn_blocking(move || {
            (from..from + n)
                .map(|i| product(rng_seed, i))
                .collect::<Vec<NewProduct>>()
        })
    };
    let mut inserted = 0u64;
    let mut next_index = before + 1;
    // A run skips skus already taken, so it may need more indices than rows;
    // the bound stops a pathological collision loop.
    let mut attempts = 0u64;
    let mut pending = None;
    while inserted < missing && attempts < missing.saturating_mul(2) + BATCH {
        let job = match pending.take() {
            Some(job) => job,
            None => {
                let n = (missing - inserted).min(BATCH);
                let job = prepare(next_index, n);
                next_index += n;
                job
            }
        };
        let batch = job
            .await
            .map_err(|e| StorageError::internal("generating products", e))?;
        let n = batch.len() as u64;
        attempts += n;
        // Assume the batch goes in whole; if it skips taken skus, the next
        // round makes up the difference.
        let ahead = missing.saturating_sub(inserted + n).min(BATCH);
        if ahead > 0 {
            pending = Some(prepare(next_index, ahead));
            next_index += ahead;
        }
        inserted += store.insert_batch(&batch).await?;
        progress.set(inserted);
    }
    Ok(inserted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_for_a_seed() {
        assert_eq!(product(7, 123), product(7, 123));
        assert_ne!(product(7, 123), product(8, 123));
    }

    #[test]
    fn labels_are_valid() {
        let names = CATEGORIES.iter().map(|c| c.0).chain(BRANDS);
        for name in names {
            assert_eq!(
                Label::parse(name).map(Label::into_string),
                Ok(name.to_owned()),
                "{name:?}"
            );
        }
    }

    #[test]
    fn realistic_shape() {
        let products: Vec<NewProduct> = (1..=5000).map(|i| product(42, i)).collect();
        let categories: std::collections::BTreeSet<_> =
            products.iter().map(|p| p.category.as_str()).collect();
        let brands: std::collections::BTreeSet<_> =
            products.iter().map(|p| p.brand.as_str()).collect();
        assert_eq!(categories.len(), 15);
        assert_eq!(brands.len(), 20);
        let active = products.iter().filter(|p| p.is_active).count() as f64 / 5000.0;
        assert!((0.85..0.95).contains(&active), "{active}");
        // Prices differ by category: computers cost more than books.
        let median = |cat: &str| {
            let mut v: Vec<i64> = products
                .iter()
                .filter(|p| p.category == cat)
                .map(|p| p.price.cents())
                .collect();
            v.sort_unstable();
            v[v.len() / 2]
        };
        assert!(median("Computers") > 10 * median("Books"));
        assert!(
            products
                .iter()
                .all(|p| p.name.chars().count() <= 200 && p.description.chars().count() <= 5000)
        );
    }
}
