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
    /// A task could not cross to its worker process (or machine) or
    /// back: an unknown function, arguments or a result that do not
    /// (de)serialise.
    #[error("remote task: {0}")]
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

/// A bounded FIFO [`Queue`](crate::Queue) asked to grow past the bound it
/// was made with, or to lose its bound (`requested` 0): its items live in
/// a ring of `capacity` slots. See
/// [`set_maxsize`](crate::BaseQueue::set_maxsize).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "a FIFO queue made with room for {capacity} items can take a bound from 1 to {capacity}, not {requested}"
)]
pub struct MaxsizeError {
    /// The bound asked for (`0`: none).
    pub requested: usize,
    /// The bound the queue was made with, and its largest.
    pub capacity: usize,
}

impl<T> TryPutError<T> {
    /// The item that was not put.
    ///
    /// # Examples
    ///
    /// ```
    /// let queue = concurrent::Queue::new(1);
    /// queue.put_nowait("A").unwrap();
    /// let error = queue.put_nowait("B").unwrap_err();
    /// assert!(error.is_full());
    /// assert_eq!(error.into_inner(), "B");
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(item) | TryPutError::ShutDown(item) => item,
        }
    }

    /// Whether the queue was full (Python's `queue.Full`).
    pub fn is_full(&self) -> bool {
        matches!(self, TryPutError::Full(_))
    }

    /// Whether the queue was shut down (Python's `queue.ShutDown`).
    pub fn is_shut_down(&self) -> bool {
        matches!(self, TryPutError::ShutDown(_))
    }
}

impl<T> From<PutError<T>> for TryPutError<T> {
    fn from(error: PutError<T>) -> TryPutError<T> {
        TryPutError::ShutDown(error.0)
    }
}

impl<T> PutTimeoutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            PutTimeoutError::Timeout(item) | PutTimeoutError::ShutDown(item) => item,
        }
    }

    /// Whether the queue stayed full until the timeout (Python's
    /// `queue.Full`).
    pub fn is_timeout(&self) -> bool {
        matches!(self, PutTimeoutError::Timeout(_))
    }

    /// Whether the queue was shut down (Python's `queue.ShutDown`).
    pub fn is_shut_down(&self) -> bool {
        matches!(self, PutTimeoutError::ShutDown(_))
    }
}

impl<T> From<PutError<T>> for PutTimeoutError<T> {
    fn from(error: PutError<T>) -> PutTimeoutError<T> {
        PutTimeoutError::ShutDown(error.0)
    }
}

impl<T> PutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl TryGetError {
    /// Whether the queue was empty (Python's `queue.Empty`).
    pub fn is_empty(&self) -> bool {
        matches!(self, TryGetError::Empty)
    }

    /// Whether the queue is shut down and empty (Python's `queue.ShutDown`).
    pub fn is_shut_down(&self) -> bool {
        matches!(self, TryGetError::ShutDown)
    }
}

impl From<GetError> for TryGetError {
    fn from(_: GetError) -> TryGetError {
        TryGetError::ShutDown
    }
}

impl GetTimeoutError {
    /// Whether nothing arrived in time (Python's `queue.Empty`).
    pub fn is_timeout(&self) -> bool {
        matches!(self, GetTimeoutError::Timeout)
    }

    /// Whether the queue is shut down and empty (Python's `queue.ShutDown`).
    pub fn is_shut_down(&self) -> bool {
        matches!(self, GetTimeoutError::ShutDown)
    }
}

impl From<GetError> for GetTimeoutError {
    fn from(_: GetError) -> GetTimeoutError {
        GetTimeoutError::ShutDown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_put_error_gives_its_item_back_and_says_what_it_is() {
        assert_eq!(TryPutError::Full(1).into_inner(), 1);
        assert!(TryPutError::Full(1).is_full() && !TryPutError::Full(1).is_shut_down());
        assert_eq!(TryPutError::from(PutError(2)), TryPutError::ShutDown(2));
        assert_eq!(PutTimeoutError::Timeout(3).into_inner(), 3);
        assert!(PutTimeoutError::Timeout(3).is_timeout());
        assert_eq!(
            PutTimeoutError::from(PutError(4)),
            PutTimeoutError::ShutDown(4)
        );
        assert!(PutTimeoutError::ShutDown(4).is_shut_down());
        assert_eq!(PutError(5).into_inner(), 5);
    }

    #[test]
    fn get_errors_say_what_they_are_and_widen() {
        assert!(TryGetError::Empty.is_empty() && !TryGetError::Empty.is_shut_down());
        assert_eq!(TryGetError::from(GetError), TryGetError::ShutDown);
        assert!(GetTimeoutError::Timeout.is_timeout());
        assert_eq!(GetTimeoutError::from(GetError), GetTimeoutError::ShutDown);
        assert!(GetTimeoutError::ShutDown.is_shut_down());
    }
}
