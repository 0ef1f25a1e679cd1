//! A job: one message to a worker, a task and one or more calls of it,
//! with the handles its outcomes complete.

use serde::de::DeserializeOwned;

use super::protocol::{CHUNK, cannot, push_call};
use crate::codec;
use crate::error::TaskError;
use crate::handle::TaskHandle;

/// One message for a worker: a task and one or more calls of it.
pub(super) struct Job {
    pub(super) task: &'static str,
    /// The calls' records (each argument tuple encoded, after its length),
    /// as the request carries them.
    pub(super) args: Vec<u8>,
    /// Where each call's record ends in `args`.
    pub(super) ends: Vec<usize>,
    /// The handles waiting for the calls' outcomes, in the same order.
    pub(super) calls: Box<dyn PendingCalls>,
}

/// The handles of a job's calls, whatever their result type.
pub(super) trait PendingCalls: Send {
    /// Marks call `index` running; `false` if it was cancelled meanwhile.
    fn start(&self, index: usize) -> bool;
    /// Cancels call `index` (shutdown with `cancel_futures`).
    fn cancel(&self, index: usize);
    /// Delivers call `index`'s outcome: the encoded result, or why there
    /// is none. The worker's handle on the call is done then; a call that
    /// was completed before is left as it is.
    fn complete(&mut self, index: usize, outcome: Result<&[u8], TaskError>);
}

/// The worker's handles on a job's calls, each given up once its call
/// has its outcome.
impl<T: DeserializeOwned + Send> PendingCalls for Vec<Option<TaskHandle<T>>> {
    fn start(&self, index: usize) -> bool {
        self[index]
            .as_ref()
            .is_some_and(|handle| handle.set_running_or_notify_cancel() == Ok(true))
    }

    fn cancel(&self, index: usize) {
        if let Some(handle) = &self[index] {
            handle.cancel();
        }
    }

    fn complete(&mut self, index: usize, outcome: Result<&[u8], TaskError>) {
        let Some(handle) = self[index].take() else {
            return;
        };
        let result = outcome.and_then(|bytes| {
            codec::decode::<T>(bytes)
                .map_err(|error| TaskError::Remote(cannot("read", "the task's result", &error)))
        });
        handle.finish_as_worker(result);
    }
}

impl Job {
    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The record of call `index` (its arguments, as a request carries
    /// them).
    pub(super) fn record_of(&self, index: usize) -> &[u8] {
        let start = match index {
            0 => 0,
            _ => self.ends[index - 1],
        };
        &self.args[start..self.ends[index]]
    }

    pub(super) fn fail(mut self, error: &TaskError) {
        for index in 0..self.len() {
            self.calls.complete(index, Err(error.clone()));
        }
    }
}

/// Calls being gathered into one job, up to about a chunk of arguments.
pub(super) struct JobBuilder<T> {
    pub(super) args: Vec<u8>,
    pub(super) ends: Vec<usize>,
    pub(super) handles: Vec<Option<TaskHandle<T>>>,
}

impl<T: DeserializeOwned + Send + 'static> JobBuilder<T> {
    pub(super) fn new() -> Self {
        JobBuilder {
            args: Vec::new(),
            ends: Vec::new(),
            handles: Vec::new(),
        }
    }

    /// Whether a call whose arguments take `bytes` still fits in this job
    /// (a job always takes its first call, of any size).
    pub(super) fn fits(&self, bytes: usize) -> bool {
        self.ends.is_empty() || self.args.len() + 8 + bytes <= CHUNK
    }

    /// Adds a call with these (encoded) arguments; its handle.
    pub(super) fn push(&mut self, args: &[u8]) -> TaskHandle<T> {
        push_call(&mut self.args, args);
        self.ends.push(self.args.len());
        let handle = TaskHandle::new_pending();
        self.handles.push(Some(handle.worker_side()));
        handle
    }

    /// The job so far, leaving this builder empty for the next one.
    pub(super) fn take(&mut self, task: &'static str) -> Job {
        let builder = std::mem::replace(self, JobBuilder::new());
        Job {
            task,
            args: builder.args,
            ends: builder.ends,
            calls: Box::new(builder.handles),
        }
    }
}
