//! Builds the index from a database and times it and a set of searches,
//! in process (no HTTP): what the index itself costs, apart from the
//! server around it.
//!
//! `cargo run --release -p catalog-search-memory --example probe -- postgres://postgres@127.0.0.1/catalog_bench_scale`
//!
//! Prints the build time, the process's peak RSS, and for each query the
//! match count and the median and p99 of the time to count the matches and
//! pick a page of 20 (relevance order, then `sort=-price`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use catalog_domain::ports::PageSpec;
use catalog_domain::query::{SortField, SortKey, SortValue};
use catalog_domain::{ProductFilter, ProductReader, SearchQuery};
use catalog_search_memory::Index;
use catalog_storage_sql::SqlStore;

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main]
async fn main() {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1/catalog_bench_scale".into());
    let store = SqlStore::connect(&url).await.expect("connect");
    let all = ProductFilter::default();
    let sort = [SortKey::ID];
    let t = Instant::now();
    let mut index = Index::new();
    let mut n = 0;
    let mut last: Option<i64> = None;
    loop {
        let after = last.map(|id| vec![SortValue::Int(id)]);
        let page = store
            .list(PageSpec {
                filter: &all,
                sort: &sort,
                after: after.as_deref(),
                offset: 0,
                limit: 20_000,
            })
            .await
            .expect("read");
        let done = page.len() < 20_000;
        n += page.len();
        last = page.last().map(|p| p.id.get());
        for p in &page {
            index.upsert(p).expect("index");
        }
        if done {
            break;
        }
    }
    println!(
        "{n} products read in pages of 20,000 and indexed in {:.1} s; peak RSS {:.0} MB",
        t.elapsed().as_secs_f64(),
        peak_rss_mb()
    );
    for (part, bytes) in index.memory() {
        println!("  {part}: {:.1} MB", bytes as f64 / 1e6);
    }

    let queries = [
        "acme atlas",
        "ubiquitous",
        "blue",
        "charc",
        "\"noise cancelling\"",
        "wireless -refurbished",
    ];
    let relevance = [
        SortKey {
            field: SortField::Relevance,
            descending: true,
        },
        SortKey::ID,
    ];
    let by_price = [
        SortKey {
            field: SortField::Price,
            descending: true,
        },
        SortKey::ID,
    ];
    for q in queries {
        let filter = ProductFilter {
            search: Some(SearchQuery::parse(q).unwrap()),
            ..ProductFilter::default()
        };
        for (label, sort) in [("relevance", &relevance[..]), ("-price", &by_price[..])] {
            let mut times = Vec::new();
            let mut total = 0;
            for _ in 0..50 {
                let t = Instant::now();
                let m = index.matches(&filter);
                let page = index.page_of(
                    &m,
                    &PageSpec {
                        filter: &filter,
                        sort,
                        after: None,
                        offset: 0,
                        limit: 20,
                    },
                );
                total = m.len();
                assert!(page.len() <= 20);
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            println!(
                "{q:>24} {label:>9}: {total:>7} matches, p50 {:.3} ms, p99 {:.3} ms",
                quantile(&times, 0.5),
                quantile(&times, 0.99)
            );
        }
    }
    for offset in [100_000u64, 500_000, 900_000] {
        let sort = [
            SortKey {
                field: SortField::Price,
                descending: false,
            },
            SortKey::ID,
        ];
        let t = Instant::now();
        let page = index.page(&PageSpec {
            filter: &all,
            sort: &sort,
            after: None,
            offset,
            limit: 20,
        });
        println!(
            "offset {offset} sort=price: {} rows in {:.1} ms",
            page.len(),
            t.elapsed().as_secs_f64() * 1000.0
        );
    }
}
