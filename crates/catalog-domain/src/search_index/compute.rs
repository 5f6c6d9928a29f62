//! [`Compute`]: a few threads that answer the index's heavy reads, so the
//! server's workers keep serving I/O.
//!
//! A facet request for a word in 13 % of a million products takes about a
//! millisecond of CPU. Run on an actix worker, that millisecond also holds
//! up every other task of the worker, among them the catch-up whose
//! database reply every waiting search needs: the workers then stood idle
//! 40 % of the time under 64 connections, waiting for catch-ups that were
//! waiting for them (1,049 facet requests/s; 1,534 with the reads here,
//! docs/performance.md). Light reads (a rare word's page) stay on the
//! worker: handing them over costs more than they do.
//!
//! One thread per core (tokio's blocking pool would start a thread per
//! concurrent read, and each new thread can take a malloc arena of its
//! own); a queue in front of them, first come first served.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, mpsc};

use crate::error::StorageError;

type Job = Box<dyn FnOnce() + Send>;

/// The pool. Dropping it lets its threads finish the queue and stop.
#[derive(Debug)]
pub struct Compute {
    jobs: mpsc::Sender<Job>,
}

impl Compute {
    /// A pool of `threads` threads (at least one).
    pub fn new(threads: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("search-index-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held while waiting for a job only.
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        // A panicking read fails its own request (its
                        // reply is dropped), not the thread.
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "search index: could not start a compute thread");
            }
        }
        Self { jobs }
    }

    /// One thread per core.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, usize::from))
    }

    /// Runs `f` on the pool and waits for its result.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, StorageError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(f());
        });
        self.jobs.send(job).map_err(|_| lost())?;
        answer.await.map_err(|_| lost())
    }
}

fn lost() -> StorageError {
    StorageError::internal("search index", "a compute thread failed the read")
}

#[cfg(test)]
mod tests {
    use super::Compute;

    #[tokio::test]
    async fn runs_reads_and_survives_a_panicking_one() {
        let pool = Compute::new(2);
        assert_eq!(pool.run(|| 6 * 7).await.ok(), Some(42));
        #[allow(clippy::panic)]
        let failed = pool.run(|| -> u8 { panic!("a bug in a read") }).await;
        assert!(failed.is_err());
        let many = futures::future::join_all((0..50u64).map(|n| pool.run(move || n * 2))).await;
        let sum: u64 = many.into_iter().map(|r| r.unwrap_or(0)).sum();
        assert_eq!(sum, 2 * (0..50).sum::<u64>());
    }
}
