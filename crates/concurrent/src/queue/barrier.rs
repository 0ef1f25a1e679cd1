//! Two memory barriers of unequal cost: [`light`] on a path every item
//! takes (`task_done`), [`heavy`] on a path taken rarely (a joiner about to
//! sleep, a queue switching to exact counting).
//!
//! The queues' task count has the shape of Dekker's handshake: one thread
//! writes its count and then reads whether a joiner waits; the joiner
//! registers and then reads the counts. With a `SeqCst` fence between the
//! write and the read on both sides, at least one of the two sees the
//! other's write, and no wake-up is lost. But a fence on every `task_done`
//! costs about as much as the locked increment the per-thread counts are
//! there to avoid.
//!
//! Linux's `membarrier` lets the rare side pay for both: it runs a full
//! barrier on every CPU that is running one of this process's threads
//! (a thread that is not running passed one when it was switched out), so
//! the frequent side only has to keep the compiler from reordering. Where
//! the system call is missing or refused, both sides use a fence: slower,
//! equally correct.

use std::sync::OnceLock;
use std::sync::atomic::{Ordering, compiler_fence, fence};

/// Whether this process may use `membarrier`'s private expedited barrier;
/// decided once, by [`prepare`], before any queue exists.
static EXPEDITED: OnceLock<bool> = OnceLock::new();

/// Asks the system, once per process, for cheap heavy barriers. Called by
/// every queue's constructor, so that [`light`] and [`heavy`] agree on the
/// answer from the first item on.
pub(crate) fn prepare() {
    EXPEDITED.get_or_init(register);
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn register() -> bool {
    use rustix::thread::{MembarrierCommand, membarrier};
    membarrier(MembarrierCommand::RegisterPrivateExpedited).is_ok()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn register() -> bool {
    false
}

/// The frequent side's barrier: orders this thread's earlier writes before
/// its later reads, given that the other side calls [`heavy`].
#[inline]
pub(crate) fn light() {
    if EXPEDITED.get() == Some(&true) {
        compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// The rare side's barrier: after it, this thread sees every write that
/// another thread made before its [`light`], or that thread's reads after
/// its [`light`] see this thread's writes made before this call.
///
/// # Panics
///
/// If the system refuses the barrier after agreeing to provide it, which
/// `membarrier(2)` documents as impossible: no correct fallback exists at
/// that point, since the [`light`] side already relies on it.
pub(crate) fn heavy() {
    if *EXPEDITED.get_or_init(register) {
        expedited();
    } else {
        fence(Ordering::SeqCst);
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn expedited() {
    use rustix::thread::{MembarrierCommand, membarrier};
    membarrier(MembarrierCommand::PrivateExpedited)
        .expect("membarrier refused a barrier the process registered for");
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn expedited() {
    unreachable!("register() never agrees off Linux")
}
