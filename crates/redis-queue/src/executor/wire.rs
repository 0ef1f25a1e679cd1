//! What crosses Redis between a [`RedisExecutor`](super::RedisExecutor)
//! and its workers: a ticket per task, an answer per ticket, and the
//! roll of live workers.
//!
//! Arguments and results are the bytes of [`concurrent::codec`], the
//! process pool's exact codec (a float comes back bit for bit), carried in
//! the queue's JSON as base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use concurrent::TaskError;
use serde::{Deserialize, Serialize};

use crate::QueueAddress;

/// One task, as a worker takes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Ticket {
    /// The token of the executor that put it, which the answer carries
    /// back: an answer without it (an earlier job's) is dropped.
    pub job: String,
    /// The task's number in its executor.
    pub task: u64,
    /// The `remote_fn!` to run, by its registered name.
    pub function: String,
    /// The arguments, encoded, in base64.
    pub args: String,
}

/// A ticket's outcome, as the executor takes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Answer {
    pub job: String,
    pub task: u64,
    pub outcome: Result<String, Failure>,
    /// How long the task ran in the worker, in microseconds: the executor
    /// sends more ahead while tasks are quick.
    pub micros: u64,
}

/// Why a task has no result, as it crosses back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) enum Failure {
    /// The task panicked; its message.
    Panicked(String),
    /// The task could not run or its result could not be written.
    Remote(String),
}

impl From<TaskError> for Failure {
    fn from(error: TaskError) -> Failure {
        match error {
            TaskError::Panicked(message) => Failure::Panicked(message),
            other => Failure::Remote(other.to_string()),
        }
    }
}

impl From<Failure> for TaskError {
    fn from(failure: Failure) -> TaskError {
        match failure {
            Failure::Panicked(message) => TaskError::Panicked(message),
            Failure::Remote(message) => TaskError::Remote(message),
        }
    }
}

pub(super) fn to_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// # Errors
///
/// A message naming what was not base64.
pub(super) fn from_base64(text: &str, what: &str) -> Result<Vec<u8>, TaskError> {
    STANDARD
        .decode(text)
        .map_err(|error| TaskError::Remote(format!("{what} is not base64: {error}")))
}

/// The answers' queue of the executor at `address`.
pub(super) fn answers_address(address: &QueueAddress) -> QueueAddress {
    address.with_name(&format!("{}:answers", address.name()))
}

/// The keys of the roll of live workers: a sorted set of worker names
/// scored by when their presence lapses (milliseconds since the epoch),
/// and a hash of how many tasks each runs at once.
pub(super) struct Roll {
    pub lapses: String,
    pub slots: String,
}

impl Roll {
    pub(super) fn of(address: &QueueAddress) -> Roll {
        Roll {
            lapses: format!("{}:workers", address.name()),
            slots: format!("{}:slots", address.name()),
        }
    }
}

/// Milliseconds since the epoch, as the roll scores presence.
pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}
