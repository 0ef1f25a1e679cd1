//! The error types: one for tasks and executors, and one per queue
//! operation, each giving back the item that could not be put (the habit of
//! crossbeam-channel: a failed send never loses the value).

/// Why a task has no result, or an executor did not take a task.
///
/// The Python counterparts: `CancelledError`, `TimeoutError`, the task's own
/// exception (a panic here), `RuntimeError` on submit after shutdown, and
/// `BrokenExecutor`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The task was cancelled before it started.
    #[error("the task was cancelled before it started")]
    Cancelled,
    /// The wait ran out before the task finished (the task goes on).
    #[error("timed out waiting for the task")]
    TimedOut,
    /// `as_completed` ran out of time with tasks still unfinished (the
    /// tasks go on); the message is CPython's.
    #[error("{unfinished} (of {total}) futures unfinished")]
    Unfinished {
        /// How many handles had not finished.
        unfinished: usize,
        /// How many handles `as_completed` was given (repeats counted once).
        total: usize,
    },
    /// The task panicked; the panic's message.
    #[error("the task panicked: {0}")]
    Panicked(String),
    /// The executor was shut down, so it did not take the task.
    #[error("the executor is shut down and takes no new tasks")]
    ShutDown,
    /// The executor can no longer run tasks (a worker process died); why.
    #[error("the executor is broken: {0}")]
    Broken(String),
    /// A process-pool task could not cross to its worker or back: an
    /// unknown function, arguments or a result that do not (de)serialise.
    #[error("process pool: {0}")]
    Remote(String),
}

/// `put_nowait` on a full or shut-down queue; the item comes back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TryPutError<T> {
    /// The queue is at its `maxsize` (Python's `queue.Full`).
    #[error("the queue is full")]
    Full(T),
    /// The queue was shut down (Python's `queue.ShutDown`).
    #[error("the queue is shut down")]
    ShutDown(T),
}

/// `put_timeout` that ran out of time or met a shutdown; the item comes back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PutTimeoutError<T> {
    /// The queue stayed full for the whole timeout (Python's `queue.Full`).
    #[error("the queue stayed full until the timeout")]
    Timeout(T),
    /// The queue was shut down (Python's `queue.ShutDown`).
    #[error("the queue is shut down")]
    ShutDown(T),
}

/// `put` on a shut-down queue; the item comes back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the queue is shut down")]
pub struct PutError<T>(pub T);

/// `get_nowait` found nothing to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryGetError {
    /// The queue is empty (Python's `queue.Empty`).
    #[error("the queue is empty")]
    Empty,
    /// The queue is shut down and has nothing left (Python's `queue.ShutDown`).
    #[error("the queue is shut down and empty")]
    ShutDown,
}

/// `get_timeout` found nothing to take in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GetTimeoutError {
    /// Nothing arrived within the timeout (Python's `queue.Empty`).
    #[error("the queue stayed empty until the timeout")]
    Timeout,
    /// The queue is shut down and has nothing left (Python's `queue.ShutDown`).
    #[error("the queue is shut down and empty")]
    ShutDown,
}

/// `get` on a queue that is shut down and has nothing left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the queue is shut down and empty")]
pub struct GetError;

/// `task_done` called more times than items were taken (Python's
/// `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("task_done() called more times than there were items in the queue")]
pub struct TaskDoneError;
