//! Which statements may run on PostgreSQL's generic plans, and how the
//! connection to a local server is set up.
//!
//! PostgreSQL plans a prepared statement afresh for its bound values
//! (a "custom plan") until it judges a value-blind "generic plan" as good,
//! and with twenty indexes on `products` it rarely does. Planning then
//! costs more than executing: ~0.1 ms of a 0.2 ms list page on the 1M-row
//! benchmark. A generic plan is only safe where no value can make it the
//! wrong plan: where some index answers the filter with its leading
//! columns *and* returns the rows in the requested order, every plan the
//! planner could choose is a range scan of that index that stops after the
//! page. [`list_is_plan_stable`] and [`filter_is_plan_stable`] name exactly
//! those shapes (they follow the indexes migrations 1, 6 and 9 create);
//! they run on a second pool whose sessions set
//! `plan_cache_mode = force_generic_plan`. Everything else (search, ratings,
//! stock and activity filters, several categories, any sort no index of
//! the filter serves) keeps custom plans, where a value (a rare category,
//! a narrow price range, a frequent word) rightly changes the plan.

use catalog_domain::ProductFilter;
use catalog_domain::query::{SortField, SortKey};

/// The filter has at most one category or one brand (an equality every
/// group index leads with), optionally a price range, and nothing else: a
/// count of it is an index-only scan of `(group, price, ...)`, of
/// `(price, id)` or of the summary, whatever the values.
pub(crate) fn filter_is_plan_stable(f: &ProductFilter) -> bool {
    f.search.is_none()
        && f.min_rating.is_none()
        && f.in_stock.is_none()
        && f.is_active.is_none()
        && f.categories.len() + f.brands.len() <= 1
}

/// A list page whose filter is plan-stable and whose order an index of
/// that filter yields: any order without a filter (each sort key has its
/// index, or none does and every plan sorts the table alike), by price
/// under a price range (`(price, id)`, `(price DESC, id)`), and by price
/// descending within one category or brand (`(group, price DESC, id)`).
/// Not ascending there: `(group, price, ...)` holds no id, so a keyset
/// continuation cannot seek it and a generic plan, blind to how many rows
/// the range holds, sorts them all. A keyset continuation of a category or
/// brand *and* a price range stays on custom plans too: its generic plan
/// estimates a handful of rows from the four range bounds and picks a
/// bitmap scan and a sort. Not by id within a
/// category: for a common category the primary key read in order with a
/// filter is as cheap as `(category, id)`, and a generic plan, blind to
/// the value, picks it for a rare category too (the plan test caught it).
pub(crate) fn list_is_plan_stable(f: &ProductFilter, sort: &[SortKey], continuation: bool) -> bool {
    if !filter_is_plan_stable(f) {
        return false;
    }
    let grouped = f.categories.len() + f.brands.len() == 1;
    let priced = f.min_price.is_some() || f.max_price.is_some();
    let first = sort.first().map(|k| (k.field, k.descending));
    match (grouped, priced) {
        (false, false) => true,
        (false, true) => matches!(first, Some((SortField::Price, _))),
        (true, false) => first == Some((SortField::Price, true)),
        (true, true) => first == Some((SortField::Price, true)) && !continuation,
    }
}

/// Whether a PostgreSQL URL reaches a server on this machine and leaves
/// TLS to the driver's default (`sslmode` neither in the URL nor in
/// `PGSSLMODE`). libpq's default, `prefer`, encrypts loopback traffic that
/// never leaves the host; it cost ~15% of the throughput of a primary-key
/// lookup in the benchmark, so such connections go without TLS. An explicit
/// `sslmode` (or `PGSSLMODE`) is always obeyed.
pub(crate) fn local_without_sslmode(url: &str, pgsslmode: Option<&str>) -> bool {
    if pgsslmode.is_some_and(|m| !m.is_empty()) {
        return false;
    }
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    // A Unix socket (`?host=/run/postgresql`) never uses TLS anyway.
    let explicit_or_socket = parsed
        .query_pairs()
        .any(|(k, v)| k == "sslmode" || k == "ssl-mode" || (k == "host" && v.starts_with('/')));
    if explicit_or_socket {
        return false;
    }
    // `postgres:` is not a special scheme to the URL standard, so an IPv4
    // host comes back as a domain.
    match parsed.host() {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost")
                || d.parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use catalog_domain::{Label, Price, Rating};

    fn label(raw: &str) -> Label {
        Label::compared(raw).unwrap()
    }

    fn key(field: SortField, descending: bool) -> Vec<SortKey> {
        vec![SortKey { field, descending }]
    }

    fn books() -> ProductFilter {
        ProductFilter {
            categories: vec![label("Books")],
            ..ProductFilter::default()
        }
    }

    fn price(mut f: ProductFilter) -> ProductFilter {
        f.min_price = Price::from_cents(1000).ok();
        f.max_price = Price::from_cents(20000).ok();
        f
    }

    #[test]
    fn storefront_shapes_are_plan_stable() {
        let none = ProductFilter::default();
        assert!(list_is_plan_stable(&none, &[], false));
        assert!(list_is_plan_stable(
            &none,
            &key(SortField::Name, true),
            false
        ));
        assert!(list_is_plan_stable(
            &books(),
            &key(SortField::Price, true),
            false
        ));
        assert!(list_is_plan_stable(
            &price(books()),
            &key(SortField::Price, true),
            false
        ));
        assert!(list_is_plan_stable(
            &price(ProductFilter::default()),
            &key(SortField::Price, false),
            false
        ));
        assert!(filter_is_plan_stable(&price(books())));
    }

    #[test]
    fn value_sensitive_shapes_keep_custom_plans() {
        // A narrow price range under sort=id, or a rare category under
        // sort=name, would make a generic plan scan the whole id or name
        // index.
        assert!(!list_is_plan_stable(
            &price(ProductFilter::default()),
            &key(SortField::Id, false),
            false
        ));
        assert!(!list_is_plan_stable(
            &books(),
            &key(SortField::Name, false),
            false
        ));
        assert!(!list_is_plan_stable(&books(), &[], false));
        assert!(!list_is_plan_stable(
            &price(books()),
            &key(SortField::Price, true),
            true
        ));
        assert!(!list_is_plan_stable(
            &books(),
            &key(SortField::Price, false),
            false
        ));
        assert!(!list_is_plan_stable(
            &books(),
            &key(SortField::Id, false),
            false
        ));
        assert!(!list_is_plan_stable(
            &price(books()),
            &key(SortField::Id, false),
            false
        ));
        let two = ProductFilter {
            categories: vec![label("Books"), label("Toys")],
            ..ProductFilter::default()
        };
        assert!(!filter_is_plan_stable(&two));
        let both = ProductFilter {
            brands: vec![label("Acme")],
            ..books()
        };
        assert!(!filter_is_plan_stable(&both));
        let rated = ProductFilter {
            min_rating: Rating::from_tenths(40).ok(),
            ..ProductFilter::default()
        };
        assert!(!filter_is_plan_stable(&rated));
        let active = ProductFilter {
            is_active: Some(true),
            ..ProductFilter::default()
        };
        assert!(!list_is_plan_stable(&active, &[], false));
    }

    #[test]
    fn loopback_urls_without_sslmode_skip_tls() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/catalog",
            "postgres://u:p@localhost/catalog",
            "postgresql://LOCALHOST",
            "postgres://[::1]:5432/db?application_name=x",
            "postgres://127.0.0.2/db",
        ] {
            assert!(local_without_sslmode(url, None), "{url}");
        }
    }

    #[test]
    fn remote_explicit_or_socket_urls_keep_the_drivers_choice() {
        for url in [
            "postgres://db.example.com/catalog",
            "postgres://10.0.0.5:5432/catalog",
            "postgres://127.0.0.1/db?sslmode=require",
            "postgres://localhost/db?application_name=a&ssl-mode=verify-full",
            "postgres://localhost/db?host=/run/postgresql",
            "postgres://user@127.0.0.1.example.com/db",
            "not a url",
        ] {
            assert!(!local_without_sslmode(url, None), "{url}");
        }
        assert!(!local_without_sslmode(
            "postgres://127.0.0.1/db",
            Some("require")
        ));
        assert!(local_without_sslmode("postgres://127.0.0.1/db", Some("")));
    }
}
