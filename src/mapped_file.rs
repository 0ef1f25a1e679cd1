//! A clear last line, instead of "Bus error", when a `--db` file shrinks
//! under the server.
//!
//! `prices::SqliteStore` reads its file through a memory map (2.7x the
//! requests a second of reading it page by page). The price of a map: a
//! page that no longer exists, because the file was truncated or rewritten
//! in place (`cp other.db served.db` truncates first), is a SIGBUS, which
//! would kill the server with two words. This handler prints what happened
//! and how to avoid it, then exits with status 1. Replacing the file by a
//! rename, as `crypto_db import` does, never triggers it: the server keeps
//! reading the file it opened.
#![allow(unsafe_code)]

use std::path::Path;

/// Installs the handler for the process: any SIGBUS from now on prints a
/// line naming `path` and exits with status 1.
///
/// # Errors
///
/// When the handler cannot be registered (the operating system refused).
pub fn stop_clearly_if_it_shrinks(path: &Path) -> std::io::Result<()> {
    // Built now: a signal handler may not allocate.
    let line: &'static [u8] = format!(
        "crypto_db: {} changed while it was served (truncated or rewritten in place); stopping. \
         Replace a served file by renaming a new one over it, as `crypto_db import` does, or \
         serve a copy\n",
        path.display()
    )
    .into_bytes()
    .leak();
    // SAFETY: the action calls only write(2) and _exit(2), both
    // async-signal-safe, on memory that lives as long as the process; it
    // never returns, so the faulting instruction is not retried.
    unsafe {
        signal_hook_registry::register(libc::SIGBUS, move || {
            libc::write(libc::STDERR_FILENO, line.as_ptr().cast(), line.len());
            libc::_exit(1);
        })
    }?;
    Ok(())
}
