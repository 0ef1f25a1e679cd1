//! What can go wrong with a queue on Redis.

/// Why a queue operation failed.
///
/// `Empty` and `ShutDown` are Python's `queue.Empty` and `queue.ShutDown`;
/// the others are the server's or the item's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// `get_timeout` waited its time and nothing came (Python's
    /// `queue.Empty`).
    #[error("the queue stayed empty")]
    Empty,
    /// The queue was shut down: no more puts, and no more gets once
    /// nothing is left unread (Python 3.13's `queue.ShutDown`).
    #[error("the queue is shut down")]
    ShutDown,
    /// The address is not `redis://HOST:PORT/NAME`.
    #[error("bad queue address {address:?}: {reason}")]
    Address {
        /// What was given.
        address: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Redis could not be reached for as long as the queue retries
    /// ([`QueueOptions::reconnect_for`](crate::QueueOptions::reconnect_for)),
    /// or it refused a command.
    #[error("Redis at {server}: {operation}")]
    Redis {
        /// The server.
        server: String,
        /// What the queue was doing.
        operation: &'static str,
        /// The `redis` crate's error.
        source: redis::RedisError,
    },
    /// The queue is gone: its stream was deleted at the end of its job
    /// ([`RedisQueue::finish`](crate::RedisQueue::finish)), or Redis lost
    /// its data (a restart without persistence). Nothing was put.
    #[error("the queue is gone (its job ended, or Redis lost its data)")]
    Gone,
    /// Another producer holds the queue: one producer per queue name
    /// ([`RedisQueue::create`](crate::RedisQueue::create)).
    #[error("another producer runs this job: {0} (one producer per queue; if it is gone, its lock lapses in {secs:.0} s)", secs = .0.lapses_in.as_secs_f64().ceil())]
    Held(crate::Holder),
    /// An item could not be encoded as JSON to be put.
    #[error("cannot encode the item")]
    Encode(#[source] serde_json::Error),
}
