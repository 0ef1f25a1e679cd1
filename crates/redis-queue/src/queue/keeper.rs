//! The keeper thread of a process's queue: renews the leases it holds,
//! trims the stream, and keeps the settings and the shutdown flag fresh.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::Inner;
use crate::QueueError;

impl Inner {
    /// The keeper thread: renews the leases this process holds every
    /// third of a lease, trims the stream every few seconds, and keeps
    /// the settings and shutdown flag fresh, until the queue is dropped.
    pub(super) fn keep(&self, stop: &crossbeam_channel::Receiver<()>) {
        const TRIM_EVERY: Duration = Duration::from_secs(2);
        static ERRORS: AtomicUsize = AtomicUsize::new(0);
        let mut last_renewal = Instant::now();
        let mut last_trim = Instant::now();
        while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
            stop.recv_timeout(self.options.poll)
        {
            let lease = Duration::from_millis(self.lease_ms.load(Ordering::Relaxed));
            let mut work = || -> Result<(), QueueError> {
                self.refresh()?;
                if last_renewal.elapsed() >= lease / 3 {
                    last_renewal = Instant::now();
                    if let Some(lock) = self.producer.get() {
                        // A lock lost to another producer is noted in the
                        // lock, and reported to the producer by
                        // `restore_if_lost`; the keeper keeps renewing
                        // the entries held meanwhile.
                        let _ = lock.renew(&self.connections);
                    }
                    let ids: Vec<String> = self.held.lock().keys().cloned().collect();
                    if !ids.is_empty() {
                        for lost in self.renew(&ids, 0)? {
                            if let Some(taken) = self.held.lock().remove(&lost) {
                                tracing::warn!(
                                    queue = %self.name,
                                    "lost the lease on entry {lost} after {:.1} s (another process took it over, or it was buried): it may run twice",
                                    taken.elapsed().as_secs_f64()
                                );
                            }
                        }
                    }
                }
                if last_trim.elapsed() >= TRIM_EVERY {
                    last_trim = Instant::now();
                    self.trim()?;
                }
                Ok(())
            };
            if let Err(error) = work() {
                // The getters report Redis's absence; the keeper only
                // keeps trying.
                if ERRORS.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::debug!(queue = %self.name, "keeper: {error}");
                }
            }
        }
    }
}
