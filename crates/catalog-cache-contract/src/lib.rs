//! The cache port's contract suite: one set of checks run against every
//! [`Cache`] adapter (in-process and Redis).
//!
//! An adapter's test crate expands [`cache_contract_suite!`] with an
//! expression yielding `Option<Arc<dyn Cache>>` (a fresh, isolated cache —
//! e.g. a unique Redis key prefix — or `None` to skip when the backend is
//! absent), and a cleanup expression run after each check.

// Test-support code: failed expectations panic with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use catalog_domain::Cache;

pub use futures;
pub use tokio;

fn ns(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

pub mod checks {
    use super::*;

    pub async fn missing_key_is_none(c: Arc<dyn Cache>) {
        assert_eq!(c.get("nope").await.unwrap(), None);
    }

    pub async fn set_then_get_round_trips_bytes(c: Arc<dyn Cache>) {
        let value: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
        c.set("k1", &value, Duration::from_secs(60)).await.unwrap();
        assert_eq!(c.get("k1").await.unwrap(), Some(value));
        c.set("k1", b"second", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(c.get("k1").await.unwrap().as_deref(), Some(&b"second"[..]));
        c.set("empty", b"", Duration::from_secs(60)).await.unwrap();
        assert_eq!(c.get("empty").await.unwrap(), Some(Vec::new()));
    }

    pub async fn entries_expire_after_their_ttl(c: Arc<dyn Cache>) {
        c.set("short", b"x", Duration::from_secs(1)).await.unwrap();
        c.set("long", b"y", Duration::from_secs(60)).await.unwrap();
        assert!(c.get("short").await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(
            c.get("short").await.unwrap(),
            None,
            "expired entry still served"
        );
        assert!(c.get("long").await.unwrap().is_some());
    }

    pub async fn generations_start_at_zero_and_bump(c: Arc<dyn Cache>) {
        assert_eq!(c.generations(&ns(&["a", "b"])).await.unwrap(), vec![0, 0]);
        c.bump(&ns(&["a"])).await.unwrap();
        let g = c.generations(&ns(&["a", "b"])).await.unwrap();
        assert!(g[0] > 0 && g[1] == 0, "{g:?}");
        // Never below the time floor, so an expired counter cannot repeat.
        assert!(g[0] >= catalog_domain::cache::generation_floor() - 60_000_000);
        c.bump(&ns(&["a", "b"])).await.unwrap();
        let h = c.generations(&ns(&["b", "a"])).await.unwrap();
        assert!(h[0] > 0 && h[1] > g[0], "{g:?} then {h:?}");
        assert_eq!(c.generations(&[]).await.unwrap(), Vec::<u64>::new());
    }

    pub async fn concurrent_bumps_are_never_lost(c: Arc<dyn Cache>) {
        c.bump(&ns(&["hot", "list"])).await.unwrap();
        let before = c.generations(&ns(&["hot", "list"])).await.unwrap();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move { c.bump(&ns(&["hot", "list"])).await.unwrap() })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let after = c.generations(&ns(&["hot", "list"])).await.unwrap();
        // Each bump adds at least one: none was lost.
        assert!(
            after[0] >= before[0] + 50 && after[1] >= before[1] + 50,
            "{before:?} -> {after:?}"
        );
    }

    pub async fn lookup_reads_generations_and_entry_at_once(c: Arc<dyn Cache>) {
        use catalog_domain::cache::key_with_digest;
        let namespaces = ns(&["list", "product:7"]);
        let (gens, entry) = c.lookup("detail", &namespaces, "abc123").await.unwrap();
        assert_eq!((gens.clone(), entry), (vec![0, 0], None));
        c.bump(&ns(&["product:7"])).await.unwrap();
        let (gens, _) = c.lookup("detail", &namespaces, "abc123").await.unwrap();
        assert_eq!(gens[0], 0);
        assert!(gens[1] > 0);
        let key = key_with_digest("detail", &gens, "abc123");
        c.set(&key, b"body", Duration::from_secs(60)).await.unwrap();
        let (again, entry) = c.lookup("detail", &namespaces, "abc123").await.unwrap();
        assert_eq!(again, gens);
        assert_eq!(entry.as_deref(), Some(&b"body"[..]));
        // Another digest or a bumped generation finds nothing.
        assert_eq!(
            c.lookup("detail", &namespaces, "other").await.unwrap().1,
            None
        );
        c.bump(&ns(&["list"])).await.unwrap();
        assert_eq!(
            c.lookup("detail", &namespaces, "abc123").await.unwrap().1,
            None
        );
        // No namespaces: just the entry.
        c.set(
            &key_with_digest("x", &[], "d"),
            b"y",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        let (g, e) = c.lookup("x", &[], "d").await.unwrap();
        assert!(g.is_empty());
        assert_eq!(e.as_deref(), Some(&b"y"[..]));
    }

    pub async fn ping_answers(c: Arc<dyn Cache>) {
        c.ping().await.unwrap();
    }
}

/// One `#[tokio::test]` per check. `$make` yields `Option<Arc<dyn Cache>>`
/// (`None` skips); `$cleanup` is a closure taking the `Arc<dyn Cache>`'s
/// test context back, run after the check even when it panicked.
#[macro_export]
macro_rules! cache_contract_suite {
    ($make:expr, $cleanup:expr) => {
        $crate::cache_contract_suite!(@tests ($make, $cleanup);
            missing_key_is_none,
            set_then_get_round_trips_bytes,
            entries_expire_after_their_ttl,
            generations_start_at_zero_and_bump,
            concurrent_bumps_are_never_lost,
            lookup_reads_generations_and_entry_at_once,
            ping_answers,
        );
    };
    (@tests ($make:expr, $cleanup:expr); $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let ::std::option::Option::Some((cache, ctx)) = $make.await else {
                    return;
                };
                let outcome = $crate::futures::FutureExt::catch_unwind(
                    ::std::panic::AssertUnwindSafe($crate::checks::$check(cache)),
                )
                .await;
                ($cleanup)(ctx).await;
                if let ::std::result::Result::Err(panic) = outcome {
                    ::std::panic::resume_unwind(panic);
                }
            }
        )+
    };
}
