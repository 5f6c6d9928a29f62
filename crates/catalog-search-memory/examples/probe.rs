//! Builds the index from a database and times it and a set of searches,
//! in process (no HTTP): what the index itself costs, apart from the
//! server around it.
//!
//! `cargo run --release -p catalog-search-memory --example probe -- postgres://postgres@127.0.0.1/catalog_bench_scale`
//!
//! Prints the build time, the process's peak RSS, and for each query the
//! match count and the median and p99 of the time to count the matches and
//! pick a page of 20 (relevance order, then `sort=-price`); with
//! PROBE_WORDS, the same over lists of searches, for what the server runs
//! and for the general path alone (no postings fast path), in turns.

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
    let runs: usize = std::env::var("PROBE_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(50);
    // What the server runs (`Index::page`: the postings' fast path
    // first), or the general path alone (the matches built, then paged).
    let time = |filter: &ProductFilter, sort: &[SortKey], general: bool| {
        let spec = PageSpec {
            filter,
            sort,
            after: None,
            offset: 0,
            limit: 20,
        };
        let t = Instant::now();
        let (page, total) = if general {
            let m = index.matches(filter);
            (index.page_of(&m, &spec), m.len())
        } else {
            index.page(&spec)
        };
        assert!(page.len() <= 20);
        (t.elapsed().as_secs_f64() * 1000.0, total)
    };
    let search = |q: &str, category: Option<&str>| ProductFilter {
        search: Some(SearchQuery::parse(q).unwrap()),
        categories: category
            .map(|c| vec![catalog_domain::Label::parse(c).unwrap()])
            .unwrap_or_default(),
        ..ProductFilter::default()
    };
    let mut fixed: Vec<(String, ProductFilter)> = queries
        .iter()
        .map(|q| (q.to_string(), search(q, None)))
        .collect();
    fixed.push((
        "blue, category Clothing".into(),
        search("blue", Some("Clothing")),
    ));
    for (label_q, filter) in &fixed {
        for (label, sort) in [("relevance", &relevance[..]), ("-price", &by_price[..])] {
            let mut times = Vec::new();
            let mut total = 0;
            for _ in 0..runs {
                let (ms, n) = time(filter, sort, false);
                total = n;
                times.push(ms);
            }
            times.sort_by(f64::total_cmp);
            println!(
                "{label_q:>24} {label:>9}: {total:>7} matches, p50 {:.3} ms, p99 {:.3} ms",
                quantile(&times, 0.5),
                quantile(&times, 0.99)
            );
        }
    }
    // Distinct keys: every line of each file of PROBE_WORDS (comma
    // separated; e.g. the word, pair or prefix lists `just bench scale`
    // writes to target/bench/scale/), once each in relevance order; the
    // median, p99 and mean over the lines, for what the server runs and
    // for the general path alone, in turns, in this one process.
    for path in std::env::var("PROBE_WORDS").unwrap_or_default().split(',') {
        if path.is_empty() {
            continue;
        }
        let lines: Vec<String> = std::fs::read_to_string(path)
            .expect("PROBE_WORDS")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect();
        let filters: Vec<ProductFilter> = lines.iter().map(|l| search(l, None)).collect();
        for general in [true, false, true, false] {
            let mut times = Vec::new();
            for _ in 0..runs.div_ceil(50) {
                for f in &filters {
                    times.push(time(f, &relevance, general).0);
                }
            }
            times.sort_by(f64::total_cmp);
            println!(
                "{path} ({}): {} searches, p50 {:.3} ms, p99 {:.3} ms, mean {:.4} ms",
                if general {
                    "general path"
                } else {
                    "Index::page"
                },
                times.len(),
                quantile(&times, 0.5),
                quantile(&times, 0.99),
                times.iter().sum::<f64>() / times.len() as f64
            );
        }
    }
    // Every word of PROBE_WORDS_CATEGORIES's first file in every
    // category of its second (`words.txt:categories.txt`, the scale
    // benchmark's lists; categories URL-encoded as there), `sort=-price`:
    // the distribution over the pairs and the slowest pairs, with their
    // match counts (what the distinct-key row "a random word, a random
    // category, sort=-price" draws from).
    if let Some((words, cats)) = std::env::var("PROBE_WORDS_CATEGORIES")
        .ok()
        .as_deref()
        .and_then(|v| v.split_once(':'))
        .map(|(w, c)| (w.to_owned(), c.to_owned()))
    {
        let read = |p: &str| -> Vec<String> {
            std::fs::read_to_string(p)
                .expect("PROBE_WORDS_CATEGORIES")
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.replace("%20", " ").replace("%26", "&"))
                .collect()
        };
        let (words, cats) = (read(&words), read(&cats));
        let mut timed = Vec::new();
        for w in &words {
            for c in &cats {
                let f = search(w, Some(c));
                let mut best = f64::MAX;
                let mut total = 0;
                for _ in 0..3 {
                    let (ms, n) = time(&f, &by_price, false);
                    best = best.min(ms);
                    total = n;
                }
                timed.push((best, total, w.clone(), c.clone()));
            }
        }
        let mut times: Vec<f64> = timed.iter().map(|t| t.0).collect();
        times.sort_by(f64::total_cmp);
        println!(
            "{} word x category pairs, sort=-price (best of 3 each): p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, mean {:.4} ms",
            times.len(),
            quantile(&times, 0.5),
            quantile(&times, 0.9),
            quantile(&times, 0.99),
            times.iter().sum::<f64>() / times.len() as f64
        );
        timed.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (ms, total, w, c) in timed.iter().take(15) {
            let word_total = index.matches(&search(w, None)).len();
            println!("  {ms:.3} ms: \"{w}\" in {c}: {total} matches (the word alone {word_total})");
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
        let (page, _) = index.page(&PageSpec {
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
