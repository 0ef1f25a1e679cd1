//! Giving memory back to the operating system after a connection storm.
//!
//! Ten thousand connections at once need about 220 MB of small heap blocks
//! (buffers, tasks, timers); when they close, glibc's allocator keeps the
//! freed blocks for reuse instead of returning them, so the server stayed
//! at 200+ MB for good after a storm while holding 3.4 MB of live data
//! (measured with a counting allocator; see BENCHMARKS.md). Asking glibc
//! once, when a storm is over, to release what it holds free brings it
//! back to its idle size. Other allocators and platforms: nothing to do.

use std::sync::atomic::{AtomicUsize, Ordering};

/// How many connections at once count as a storm worth cleaning up after.
const STORM: usize = 256;

/// Watches the number of open connections for the end of a storm.
#[derive(Default)]
pub(crate) struct StormWatch {
    /// The most connections open since the last release.
    high_water: AtomicUsize,
}

impl StormWatch {
    /// Notes that `open` connections are open now.
    pub(crate) fn opened(&self, open: usize) {
        self.high_water.fetch_max(open, Ordering::Relaxed);
    }

    /// Notes that `open` connections remain after one closed; true once
    /// per storm, when it has died down to a sixteenth of its peak.
    pub(crate) fn closed(&self, open: usize) -> bool {
        let high = self.high_water.load(Ordering::Relaxed);
        high >= STORM
            && open <= high / 16
            && self
                .high_water
                .compare_exchange(high, open, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// Returns the allocator's free memory to the operating system. It walks
/// the heap (a few milliseconds after a storm): call it off the async
/// threads.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::malloc_trim(0);
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
mod glibc {
    // SAFETY: the signature is glibc's (`int malloc_trim(size_t pad)`,
    // malloc.h), and the function is safe to call at any time from any
    // thread: it takes the allocator's own locks and only releases pages
    // that hold no allocated block.
    unsafe extern "C" {
        pub(super) safe fn malloc_trim(pad: usize) -> i32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_storm_is_over_once_when_it_has_died_down() {
        let watch = StormWatch::default();
        for open in 1..=1000 {
            watch.opened(open);
        }
        assert!(!watch.closed(500));
        assert!(watch.closed(62));
        assert!(!watch.closed(61), "once per storm");
        // A small burst is no storm.
        let watch = StormWatch::default();
        watch.opened(100);
        assert!(!watch.closed(0));
    }

    #[test]
    fn releasing_free_memory_can_be_called_any_time() {
        let blocks: Vec<Vec<u8>> = (0..1000).map(|_| vec![1; 4096]).collect();
        drop(blocks);
        release_free_memory();
    }
}
