//! [`ProcessPoolExecutor`]: the same interface as the thread pool, with
//! each task run in a separate OS process (Python's
//! `concurrent.futures.ProcessPoolExecutor`).
//!
//! # How worker processes start
//!
//! Like Python's "spawn" start method: the pool starts the *current
//! program* again, with an environment variable telling it to be a worker.
//! `fork()` is not used: in a program with threads, a forked child may only
//! call async-signal-safe functions, which rules out nearly everything.
//!
//! So the program must give its workers a way in:
//!
//! - a binary or example calls [`serve_if_worker()`] first thing in
//!   `main` (it returns at once in the parent);
//! - a test binary, whose `main` belongs to the test harness, adds one line
//!   at the root of the test file, [`process_worker_entry!()`](crate::process_worker_entry), which
//!   defines an ignored test that the pool runs in the child.
//!
//! Parent and worker talk over a Unix socket: framed messages carrying
//! values in the crate's binary [`codec`](crate::codec), so that what
//! comes back is what was sent; no `unsafe`, no function pointers. A task is a plain function declared
//! with [`remote_fn!`](crate::remote_fn), which registers it under its module path; the
//! worker looks the name up. A closure cannot be sent to another process,
//! and the compiler says so: only a `remote_fn!` implements
//! [`RemoteTask`].
//!
//! A closure is refused at compile time, not at run time:
//!
//! ```compile_fail
//! let ex = concurrent::ProcessPoolExecutor::new(1);
//! let offset = 5;
//! // error: the closure does not implement `RemoteTask`
//! let _ = ex.submit(move |x: u64| x + offset, (1u64,));
//! ```
//!
//! # Examples
//!
//! ```no_run
//! use concurrent::{ProcessPoolExecutor, remote_fn};
//!
//! remote_fn! {
//!     /// Runs in a worker process.
//!     pub fn square(x: u64) -> u64 {
//!         x * x
//!     }
//! }
//!
//! fn main() {
//!     concurrent::serve_if_worker(); // a worker never gets past here
//!     let ex = ProcessPoolExecutor::new(2);
//!     assert_eq!(ex.submit(square, (7,)).unwrap().result(), Ok(49));
//! }
//! ```

mod builder;
mod children;
mod job;
mod manager;
mod pool;
mod protocol;
mod worker;

pub use builder::ProcessPoolBuilder;
pub use pool::ProcessPoolExecutor;
pub use worker::serve_if_worker;

use crate::executor::Call;

/// A function that can run in a worker process: declared with
/// [`remote_fn!`](crate::remote_fn), which registers it under [`RemoteTask::NAME`].
pub trait RemoteTask<Args>: Call<Args> + Copy + Send + Sync + 'static {
    /// The name the worker finds the function by (its module path).
    const NAME: &'static str;
}

/// The environment variable that turns a start of the program into a
/// worker: it holds the path of the parent's socket.
pub(crate) const WORKER_SOCKET_ENV: &str = "CONCURRENT_PROCESS_WORKER_SOCKET";

/// The name of the test that [`process_worker_entry!`](crate::process_worker_entry) defines.
pub(crate) const WORKER_TEST_NAME: &str = "concurrent_process_worker_entry";

/// One registered function, as the worker sees it: encoded arguments
/// in, its encoded result written into the buffer. Made by
/// [`remote_fn!`](crate::remote_fn); not for direct use.
#[doc(hidden)]
pub struct Registration {
    pub name: &'static str,
    pub run: fn(&[u8], &mut Vec<u8>) -> Result<(), String>,
}

inventory::collect!(Registration);

/// Runs the function that [`remote_fn!`](crate::remote_fn) registered
/// under `name` on its encoded arguments, writing its encoded result into
/// `result`: what a worker does with a task that came from another
/// process. For executors outside this crate that carry tasks elsewhere
/// (the Redis executor of `crypto-db-redis-queue`); the process pool's
/// workers do the same.
///
/// # Errors
///
/// [`TaskError::Panicked`](crate::TaskError::Panicked) when the function
/// panicked; [`TaskError::Remote`](crate::TaskError::Remote) when no
/// function has that name in this program, or the arguments or result do
/// not (de)serialise.
///
/// # Examples
///
/// ```
/// use concurrent::{RemoteTask, call_remote_fn, codec, remote_fn};
///
/// remote_fn! {
///     fn add(a: u64, b: u64) -> u64 {
///         a + b
///     }
/// }
///
/// let mut result = Vec::new();
/// call_remote_fn(add::NAME, &codec::encode(&(2u64, 3u64))?, &mut result)?;
/// assert_eq!(codec::decode::<u64>(&result)?, 5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn call_remote_fn(
    name: &str,
    args: &[u8],
    result: &mut Vec<u8>,
) -> Result<(), crate::TaskError> {
    use crate::TaskError;
    static REGISTRY: std::sync::OnceLock<std::collections::HashMap<&'static str, RemoteFn>> =
        std::sync::OnceLock::new();
    let registry = REGISTRY.get_or_init(|| {
        inventory::iter::<Registration>
            .into_iter()
            .map(|registration| (registration.name, registration.run))
            .collect()
    });
    let Some(run) = registry.get(name) else {
        return Err(TaskError::Remote(worker::unknown_function(name)));
    };
    worker::run_one(*run, args, result).map_err(|(tag, message)| {
        if tag == protocol::PANICKED {
            TaskError::Panicked(message)
        } else {
            TaskError::Remote(message)
        }
    })
}

/// A registered function: encoded arguments in, its result encoded into
/// the buffer (or why not).
pub(crate) type RemoteFn = fn(&[u8], &mut Vec<u8>) -> Result<(), String>;

/// Declares functions that a [`ProcessPoolExecutor`] can run (and that a
/// [`ThreadPoolExecutor`](crate::ThreadPoolExecutor) can run too, through
/// the same `submit(f, (args...))`).
///
/// Arguments and result must be serde-serialisable. Each `fn name(...)`
/// becomes a value `name` to pass to `submit`; call it in this process with
/// `name.call((args...))` ([`Call`]).
///
/// # Examples
///
/// ```
/// use concurrent::{Call, ThreadPoolExecutor, remote_fn};
///
/// remote_fn! {
///     /// Doubles a number.
///     pub fn double(x: i64) -> i64 {
///         2 * x
///     }
///
///     fn greet(name: String, times: usize) -> String {
///         format!("hello {name}! ").repeat(times)
///     }
/// }
///
/// assert_eq!(double.call((21,)), 42);
/// let ex = ThreadPoolExecutor::new(1); // works on threads as well
/// assert_eq!(ex.submit(greet, ("you".to_owned(), 2)).unwrap().result().unwrap(), "hello you! hello you! ");
/// ```
#[macro_export]
macro_rules! remote_fn {
    ($(
        $(#[$meta:meta])*
        $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) -> $ret:ty $body:block
    )*) => {$(
        $(#[$meta])*
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis struct $name;

        impl $crate::Call<($($ty,)*)> for $name {
            type Output = $ret;

            #[allow(unused_parens)]
            fn call(&self, ($($arg,)*): ($($ty,)*)) -> $ret $body
        }

        impl $crate::RemoteTask<($($ty,)*)> for $name {
            const NAME: &'static str = concat!(module_path!(), "::", stringify!($name));
        }

        $crate::__private::inventory::submit! {
            $crate::__private::Registration {
                name: concat!(module_path!(), "::", stringify!($name)),
                run: |args, out| {
                    let args: ($($ty,)*) = $crate::codec::decode(args)
                        .map_err(|error| format!("cannot read the arguments: {error}"))?;
                    let result = $crate::Call::call(&$name, args);
                    let written = $crate::codec::encode_into(&result, out)
                        .map_err(|error| format!("cannot write the result: {error}"));
                    // Sent, the result is not this process's business: a
                    // panic in its drop does not undo the task.
                    $crate::__private::drop_quietly(result);
                    written
                },
            }
        }
    )*};
}

/// Defines the entry point through which a [`ProcessPoolExecutor`] starts
/// its workers from a test binary. Put it once at the root of a test file
/// that uses a process pool. It is an ignored test: a normal test run
/// lists it as ignored; the pool runs it, in the child, as the worker.
#[macro_export]
macro_rules! process_worker_entry {
    () => {
        #[test]
        #[ignore = "the entry point of process-pool workers, run by the pool itself"]
        fn concurrent_process_worker_entry() {
            $crate::serve_if_worker();
        }
    };
}
