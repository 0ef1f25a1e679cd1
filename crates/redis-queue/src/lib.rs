//! The producer/consumer queue of the lessons, on Redis Streams: one
//! queue that processes on many machines share.
//!
//! [`RedisQueue`] has the surface of Python's `queue.Queue` where it
//! carries over (`put`, `get`, `get_timeout`, `task_done`, `join`,
//! `qsize`, `shutdown`), for any item serde can write as JSON. It is not a
//! broker: a queue is one Redis stream read through one consumer group,
//! which gives acknowledgements, a list of what each consumer holds, and
//! the taking over of a dead consumer's entries.
//!
//! # What is guaranteed, and what is not
//!
//! - **At least once.** An item put is handed out until some process
//!   marks it done. A process that dies holding an item (killed, out of
//!   memory, cut off from Redis) stops renewing its lease, and another
//!   process takes the item over about one lease later. So an item can
//!   run more than once: make the work idempotent, or key its results by
//!   item, as `crypto_db fetch` does (a task redelivered never makes a
//!   second row).
//! - **Not redelivered while its owner is alive.** The owner renews the
//!   lease on every item it holds every third of a lease, however long
//!   the item runs; a lease is lost only when the owner cannot reach
//!   Redis for a whole lease (it then logs that the item may run twice).
//! - **A bad item never stops the queue.** An entry that does not decode,
//!   or that has been delivered more than
//!   [`JobSettings::max_deliveries`] times, goes to the dead-letter
//!   stream (`NAME:dead`) with the reason, and a log line says so.
//! - **Redis going away is waited out.** Each operation retries, with a
//!   growing pause, for [`QueueOptions::reconnect_for`], and logs the
//!   outage once and the recovery once. (A Redis never reached is an
//!   error at once: a wrong address should not look like a hang.) With AOF on, a restarted Redis
//!   loses nothing that was acknowledged to us; without persistence a
//!   restart loses the queue, and then its producer finds out
//!   ([`RedisQueue::restore_if_lost`]) and puts it back, while readers
//!   wait for it rather than fail. A process asked to stop can end the
//!   waiting ([`RedisQueue::stop_waiting`]).
//! - **One producer per queue.** [`RedisQueue::create`] takes the
//!   queue's producer lock; a second producer is refused
//!   ([`QueueError::Held`]) instead of wiping the first one's job.
//! - **The stream stays small.** XACK does not delete; the keeper trims
//!   the stream below its oldest entry still unread or pending.
//! - **Not FIFO across processes**, as no distributed queue is: items are
//!   handed out in order, but finish in whatever order the workers take.
//!
//! # Keys, for a queue named `NAME`
//!
//! | key | what |
//! |---|---|
//! | `NAME` | the stream; its group is `workers` |
//! | `NAME:dead` | the dead-letter stream |
//! | `NAME:job` | the job's [`JobSettings`] (hash) |
//! | `NAME:shutdown` | set once the queue is shut down |
//! | `NAME:producer` | the producer's lock: one producer per queue |
//!
//! When a job ends ([`RedisQueue::finish`]) its stream is deleted and
//! the other keys expire after a grace period, so nothing is left.
//!
//! # Layout
//!
//! - `address` — [`QueueAddress`], `redis://HOST:PORT/NAME`.
//! - `queue` — [`RedisQueue`], its settings and options, and the keeper
//!   thread that renews leases and trims.
//! - `executor` — [`RedisExecutor`], the library's `Executor` on the
//!   queue, and the worker mode that serves it ([`serve_if_worker`]).
//! - `producer` — the producer's lock, and [`Holder`], who holds it.
//! - `scripts` — the Lua scripts for the steps that must be atomic.
//! - `connections` — a pool of connections that waits out an outage.
//! - `testing` (feature `testing`) — a real `redis-server` for tests.

#![warn(missing_docs)]

mod address;
mod connections;
mod error;
mod executor;
mod producer;
mod queue;
mod scripts;
#[cfg(feature = "testing")]
pub mod testing;

pub use address::{PASSWORD_ENV, QueueAddress};
pub use connections::CA_FILE_ENV;
pub use error::QueueError;
pub use executor::{
    Answered, Assignment, BatchSize, RedisExecutor, RedisExecutorBuilder, TaskQueue, WORKER_ENV,
    WorkerReport, serve, serve_if_worker, serve_until,
};
pub use producer::Holder;
pub use queue::{DeadLetter, Delivery, JobSettings, QueueOptions, RedisQueue};
