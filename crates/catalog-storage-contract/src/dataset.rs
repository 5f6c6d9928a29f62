//! The contract dataset: a fixed set of products built to trip adapters on
//! the edges: code-point order of case and accent variants, price and rating
//! ties, the price bounds, empty stock, inactive rows, and search text with
//! `%`, `_` and `\` next to decoys an unescaped `LIKE` pattern would match.

use catalog_domain::{Label, NewProduct, Price, Rating, Sku};

/// Categories: case variants (`Books`/`books`) and an accented one that a
/// locale-aware collation would put next to `Electronics` but code-point
/// order puts last.
pub const CATEGORIES: [&str; 7] = [
    "Books",
    "books",
    "Électronique",
    "Electronics",
    "Zebra Goods",
    "Garden",
    "Toys",
];

/// Brands, with the same kind of traps as [`CATEGORIES`].
pub const BRANDS: [&str; 6] = ["Acme", "acme", "Globex", "Initech", "Zeta", "Ümlaut Works"];

/// One hand-written product.
struct Row {
    sku: &'static str,
    name: &'static str,
    description: &'static str,
    category: &'static str,
    brand: &'static str,
    cents: i64,
    stock: i64,
    tenths: i64,
    active: bool,
}

const fn row(
    (sku, name, description): (&'static str, &'static str, &'static str),
    (category, brand): (&'static str, &'static str),
    (cents, stock, tenths, active): (i64, i64, i64, bool),
) -> Row {
    Row {
        sku,
        name,
        description,
        category,
        brand,
        cents,
        stock,
        tenths,
        active,
    }
}

/// The edge cases, each next to its decoy.
const SPECIAL: [Row; 27] = [
    row(
        (
            "SKU-0001",
            "Wireless Headphones",
            "Over-ear headphones with noise cancelling",
        ),
        ("Électronique", "Acme"),
        (19_999, 12, 45, true),
    ),
    row(
        ("SKU-0002", "wireless headphones lite", "Light on-ear model"),
        ("Électronique", "Globex"),
        (9_999, 0, 38, true),
    ),
    row(
        (
            "SKU-0003",
            "Earbuds",
            "Truly WIRELESS earbuds with a charging case",
        ),
        ("Electronics", "Initech"),
        (4_999, 40, 41, true),
    ),
    row(
        ("SKU-0004", "Red Shoe", "A single red shoe, left foot"),
        ("Zebra Goods", "Zeta"),
        (2_500, 3, 30, true),
    ),
    row(
        ("SKU-0005", "Red Shoes Deluxe", "A pair of leather shoes"),
        ("Zebra Goods", "Zeta"),
        (2_500, 0, 30, true),
    ),
    row(
        ("SKU-0006", "Blue Shoe", "Not red at all"),
        ("Zebra Goods", "acme"),
        (2_500, 7, 30, true),
    ),
    row(
        ("SKU-0007", "Shoe Horn", "Helps put on a red-soled shoe"),
        ("Garden", "Acme"),
        (999, 25, 22, false),
    ),
    row(
        ("SKU-0008", "100% Cotton Shirt", "Soft and breathable"),
        ("Books", "Globex"),
        (1_999, 9, 40, true),
    ),
    row(
        (
            "SKU-0009",
            "Shirt 100 Cotton",
            "Decoy for an unescaped percent",
        ),
        ("books", "Globex"),
        (1_999, 9, 40, true),
    ),
    row(
        ("SKU-0010", "snake_case Widget", "underscore_in_name"),
        ("Toys", "Initech"),
        (1_234, 5, 10, true),
    ),
    row(
        (
            "SKU-0011",
            "snakeXcase Widget",
            "Decoy for an unescaped underscore",
        ),
        ("Toys", "Initech"),
        (1_234, 5, 10, true),
    ),
    row(
        (
            "SKU-0012",
            "Backslash Tool",
            "Path C:\\temp\\new and a \\% literal",
        ),
        ("Garden", "Zeta"),
        (777, 1, 15, true),
    ),
    row(
        ("SKU-0013", "Slashless Tool", "Path C:tempnew and a % sign"),
        ("Garden", "Zeta"),
        (777, 0, 15, true),
    ),
    row(
        ("SKU-0014", "ÉCRAN Plat", "Écran 27 pouces"),
        ("Électronique", "Ümlaut Works"),
        (34_900, 4, 44, true),
    ),
    row(
        ("SKU-0015", "écran portable", "Petit écran USB-C"),
        ("Électronique", "Ümlaut Works"),
        (15_900, 0, 39, true),
    ),
    row(
        ("SKU-0016", "Free Sample", "Costs nothing"),
        ("Books", "Acme"),
        (0, 1_000, 0, true),
    ),
    row(
        ("SKU-0017", "Free Sticker", "Costs nothing, retired"),
        ("Toys", "acme"),
        (0, 0, 0, false),
    ),
    row(
        ("SKU-0018", "Golden Throne", "The most expensive item"),
        ("Garden", "Globex"),
        (100_000_000, 1, 50, true),
    ),
    row(
        ("SKU-0019", "Diamond Garden Gnome", "Equally expensive"),
        ("Garden", "Zeta"),
        (100_000_000, 0, 50, false),
    ),
    row(
        ("SKU-0020", "Adapter for SKU-0042", "Fits the sku-0042 port"),
        ("Electronics", "Initech"),
        (1_500, 30, 35, true),
    ),
    row(
        ("SKU-0021", "Voucher 50% off", "Half price"),
        ("Books", "Acme"),
        (500, 100, 25, true),
    ),
    row(
        ("SKU-0022", "500 Pages Notebook", "Lined paper"),
        ("books", "Globex"),
        (500, 100, 25, true),
    ),
    row(
        ("SKU-0023", "Gear 1_0 Spare", "Spare part"),
        ("Toys", "Zeta"),
        (4_200, 2, 33, true),
    ),
    row(
        ("SKU-0024", "Gear 100 Spare", "Another spare part"),
        ("Toys", "Zeta"),
        (4_200, 2, 33, true),
    ),
    row(
        ("0-START", "Numbered Item", "Line one\nLine two\twith a tab"),
        ("Garden", "Initech"),
        (300, 8, 20, true),
    ),
    row(
        ("-DASH-1", "Dash Item", "Sku starts with a dash"),
        ("Garden", "Initech"),
        (300, 8, 20, true),
    ),
    row(
        // Given lower-case: the domain stores it upper-case.
        ("ab-lower", "Lower Sku Item", ""),
        ("Toys", "acme"),
        (300, 0, 20, true),
    ),
];

const ADJECTIVES: [&str; 5] = ["Classic", "classic", "Compact", "Ümber", "Zesty"];
const NOUNS: [&str; 8] = [
    "Widget",
    "widget",
    "Gadget",
    "Lamp",
    "Garden Hose",
    "Kettle",
    "Apple Crate",
    "Zither",
];
const PRICES: [i64; 9] = [1_999, 2_500, 999, 14_999, 1_999, 5, 49_999, 2_500, 31_415];

/// How many generated products follow the hand-written ones.
const FILLERS: usize = 56;

/// The contract dataset (83 products), always the same, in insertion order.
pub fn dataset() -> Vec<NewProduct> {
    let special = SPECIAL.iter().map(|r| NewProduct {
        sku: Sku::parse(r.sku).expect("dataset sku"),
        name: r.name.to_string(),
        description: r.description.to_string(),
        category: Label::parse(r.category).expect("dataset category"),
        brand: Label::parse(r.brand).expect("dataset brand"),
        price: Price::from_cents(r.cents).expect("dataset price"),
        stock_quantity: r.stock,
        rating: Rating::from_tenths(r.tenths).expect("dataset rating"),
        is_active: r.active,
    });
    let fillers = (0..FILLERS).map(|i| {
        let n = i as i64;
        NewProduct {
            // SKU-0025 to SKU-0080, SKU-0042 among them.
            sku: Sku::parse(&format!("SKU-{:04}", 25 + i)).expect("dataset sku"),
            name: format!("{} {}", ADJECTIVES[i % 5], NOUNS[(i / 5 + i) % 8]),
            description: format!("Everyday item, batch {}", i % 6),
            category: Label::parse(CATEGORIES[i % 7]).expect("dataset category"),
            brand: Label::parse(BRANDS[(i * 5 + 1) % 6]).expect("dataset brand"),
            price: Price::from_cents(PRICES[i % 9]).expect("dataset price"),
            stock_quantity: if i % 4 == 1 { 0 } else { (n * 7) % 23 + 1 },
            rating: Rating::from_tenths((n * 13) % 51).expect("dataset rating"),
            is_active: i % 9 != 4,
        }
    });
    special.chain(fillers).collect()
}
