//! [`ProcessPoolBuilder`]: Python's other arguments of
//! `ProcessPoolExecutor` (`max_tasks_per_child`, `initializer`), and ours
//! (a per-task deadline, the program the workers run).

use std::ffi::OsString;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::RemoteTask;
use super::pool::{Launch, ProcessPoolExecutor};
use super::protocol::push_call;
use crate::codec;

/// Options for a [`ProcessPoolExecutor`] (Python's constructor arguments).
///
/// # Examples
///
/// ```no_run
/// use concurrent::{ProcessPoolExecutor, remote_fn};
///
/// remote_fn! {
///     fn warm_up(greeting: String) -> () {
///         eprintln!("{greeting}");
///     }
/// }
///
/// let ex = ProcessPoolExecutor::builder()
///     .max_workers(4)
///     .max_tasks_per_child(100) // a fresh process after every 100 tasks
///     .initializer(warm_up, ("worker ready".to_owned(),))
///     .build();
/// ```
#[derive(Clone)]
pub struct ProcessPoolBuilder {
    pub(super) max_workers: usize,
    pub(super) launch: Launch,
}

impl ProcessPoolBuilder {
    /// At most `n` worker processes.
    ///
    /// # Panics
    ///
    /// Panics if `n` is 0, as CPython raises `ValueError`.
    pub fn max_workers(mut self, n: usize) -> Self {
        assert!(n > 0, "max_workers must be greater than 0");
        self.max_workers = n;
        self
    }

    /// Replaces a worker with a fresh process after `n` tasks (Python
    /// 3.11's `max_tasks_per_child`), to bound what a leaky task can hold.
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.launch.max_tasks_per_child = NonZeroUsize::new(n);
        self
    }

    /// Kills a worker that takes longer than `deadline` over one call,
    /// which breaks the pool (as any worker's death does). Python's pool
    /// has no such limit and waits forever for a worker that is stuck,
    /// or stopped (`SIGSTOP`, Ctrl-Z in its terminal); a caller that knows
    /// how long a task can take sets one, and can then start a new pool
    /// and run the lost tasks again.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let ex = concurrent::ProcessPoolExecutor::builder()
    ///     .task_deadline(Duration::from_secs(30))
    ///     .build();
    /// ```
    pub fn task_deadline(mut self, deadline: Duration) -> Self {
        self.launch.task_deadline = Some(deadline);
        self
    }

    /// Runs `task(args)` once in every new worker before its first task
    /// (Python's `initializer`, `initargs`). If it fails, the pool is
    /// broken, as in Python.
    ///
    /// # Panics
    ///
    /// Panics if `args` cannot be serialised (a bug in the argument type).
    pub fn initializer<F, Args>(mut self, task: F, args: Args) -> Self
    where
        F: RemoteTask<Args, Output = ()>,
        Args: Serialize,
    {
        // A `remote_fn!` value is a marker: only its type matters, whose
        // `F::NAME` tells the worker which function to run.
        let _ = task;
        let args = codec::encode(&args).expect("initializer arguments serialise");
        let mut record = Vec::new();
        push_call(&mut record, &args);
        self.launch.initializer = Some((F::NAME, record));
        self
    }

    /// Starts workers as `program args...` instead of re-running the
    /// current executable; the program must call
    /// [`serve_if_worker`](super::serve_if_worker) first thing.
    pub fn program(
        mut self,
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> Self {
        self.launch.program = program.into();
        self.launch.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// The pool. Worker processes start lazily, as tasks arrive.
    pub fn build(self) -> ProcessPoolExecutor {
        ProcessPoolExecutor::start(self.max_workers, self.launch)
    }
}
