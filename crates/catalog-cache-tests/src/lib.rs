//! Test-only crate: the cache's behaviour tests live in `tests/` (single
//! flight, freshness under races, faults of real Redis servers, HTTP cache
//! headers), run against the in-process cache and against Redis.
