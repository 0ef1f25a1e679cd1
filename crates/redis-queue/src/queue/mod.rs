//! [`RedisQueue`]: Python's `queue.Queue` surface over one Redis stream
//! and its consumer group, shared by every process that opens it.
//!
//! What a get does, in order: take over an entry whose owner has not
//! renewed its lease (XAUTOCLAIM, at most every poll interval), else read
//! a new one (XREADGROUP BLOCK, in slices of the poll interval so that a
//! shutdown or a timeout is seen). Either way the entry is then this
//! process's until [`RedisQueue::task_done`] acknowledges it: a keeper
//! thread renews the lease on everything the process holds, so a task may
//! run as long as it needs while its owner lives, and is taken over
//! within about one lease when the owner dies.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::Value;
use redis::streams::{StreamAutoClaimReply, StreamId};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::connections::Connections;
use crate::producer::ProducerLock;
use crate::{QueueAddress, QueueError, scripts};

mod commands;
mod keeper;

use commands::{consumer_name, create_group, is_no_group};

/// The consumer group every process of a queue reads through.
const GROUP: &str = "workers";

/// The field of a stream entry that holds the item, as JSON.
const ITEM_FIELD: &str = "item";

/// The dead-letter stream keeps about this many entries.
const DEAD_LETTERS_KEPT: u64 = 100_000;

/// The job's settings, which every process of the queue shares: they are
/// kept in Redis by [`RedisQueue::create`], so that no two workers
/// disagree on how long a lease lasts (one with a shorter lease would
/// take over tasks the others are still running).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use redis_queue::JobSettings;
///
/// let settings = JobSettings { lease: Duration::from_secs(10), ..JobSettings::default() };
/// assert_eq!(settings.max_deliveries, 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobSettings {
    /// How long an entry may go without its owner renewing it before
    /// another process takes it over. Owners renew every third of it.
    pub lease: Duration,
    /// After this many deliveries an entry goes to the dead-letter stream
    /// instead of to a worker: a task that kills every worker that runs
    /// it must not kill them all.
    pub max_deliveries: u32,
}

impl Default for JobSettings {
    /// A 60-second lease, five deliveries.
    fn default() -> JobSettings {
        JobSettings {
            lease: Duration::from_secs(60),
            max_deliveries: 5,
        }
    }
}

/// How one process talks to the queue (not shared with the others).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use redis_queue::QueueOptions;
///
/// let options = QueueOptions { reconnect_for: Duration::from_secs(30), ..QueueOptions::default() };
/// assert_eq!(options.poll, Duration::from_millis(250));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueOptions {
    /// How long to keep retrying when Redis cannot be reached before an
    /// operation fails with [`QueueError::Redis`].
    pub reconnect_for: Duration,
    /// The longest a blocked get waits on Redis at a time before looking
    /// at the shutdown flag and at leases to take over; also how often
    /// the keeper thread wakes.
    pub poll: Duration,
}

impl Default for QueueOptions {
    /// Retry for five minutes (a Redis restart, a failover); poll every
    /// quarter second.
    fn default() -> QueueOptions {
        QueueOptions {
            reconnect_for: Duration::from_secs(300),
            poll: Duration::from_millis(250),
        }
    }
}

/// An item taken from the queue, held under lease until
/// [`RedisQueue::task_done`] (or [`RedisQueue::release`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery<T> {
    /// The stream entry's id.
    pub id: String,
    /// The item.
    pub item: T,
    /// How many times the entry has been handed out, this time included:
    /// more than one means an earlier holder died, or gave it back.
    pub deliveries: u32,
}

/// An entry that went to the dead-letter stream, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its id in the dead-letter stream (read after it for the next ones).
    pub id: String,
    /// Its id in the queue's stream.
    pub entry: String,
    /// The item, as it was in the stream (JSON, or whatever was there).
    pub item: String,
    /// How many times it had been delivered.
    pub deliveries: u32,
    /// Why it was buried.
    pub reason: String,
}

impl DeadLetter {
    /// The item, decoded.
    ///
    /// # Errors
    ///
    /// The JSON error when it is not a `T` (a message nobody could read).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.item)
    }
}

/// The shutdown flag, as the keeper last saw it.
const OPEN: u8 = 0;
const GRACEFUL: u8 = 1;
const IMMEDIATE: u8 = 2;

/// What every handle and the keeper thread of one process share.
struct Inner {
    connections: Connections,
    name: String,
    dead: String,
    flag: String,
    settings_key: String,
    producer_key: String,
    consumer: String,
    options: QueueOptions,
    lease_ms: AtomicU64,
    max_deliveries: AtomicU32,
    shutdown: AtomicU8,
    /// The entries this process holds (got, not yet done), with when it
    /// took them: what the keeper renews.
    held: Mutex<HashMap<String, Instant>>,
    /// When the next look for entries to take over is due.
    next_takeover: Mutex<Instant>,
    /// The producer's lock, for a queue this process created.
    producer: std::sync::OnceLock<ProducerLock>,
}

/// A queue on a Redis stream: `put` here, `get` on any machine; see the
/// crate's documentation for what is and is not guaranteed.
///
/// `RedisQueue` is `Sync`: share it between threads by reference or in
/// an `Arc` (each blocked get has a connection of its own). Dropping it
/// gives back the entries it holds, for other processes to take.
///
/// # Examples
///
/// ```no_run
/// use redis_queue::{JobSettings, QueueOptions, RedisQueue};
///
/// let address = "redis://127.0.0.1:6379/squares".parse()?;
/// let queue: RedisQueue<u64> = RedisQueue::create(&address, JobSettings::default(), QueueOptions::default())?;
/// queue.put(&7)?;
/// let delivery = queue.get()?;
/// assert_eq!(delivery.item * delivery.item, 49);
/// queue.task_done(&delivery)?;
/// queue.join()?;
/// # Ok::<(), redis_queue::QueueError>(())
/// ```
pub struct RedisQueue<T> {
    inner: Arc<Inner>,
    /// Dropped with the queue: the keeper thread sees it and stops.
    _stop_keeper: crossbeam_channel::Sender<()>,
    _item: PhantomData<fn(T) -> T>,
}

impl<T: Serialize + DeserializeOwned> RedisQueue<T> {
    /// Starts a new job on `address` as its one producer: takes the
    /// queue's producer lock (held, and renewed, until the queue is
    /// dropped), forgets whatever an earlier job left under that name
    /// (entries, pending list, dead letters, shutdown), and keeps
    /// `settings` for every process that opens it.
    ///
    /// # Errors
    ///
    /// [`QueueError::Held`] when another producer's job runs on that name
    /// (nothing is changed), [`QueueError::Redis`] when Redis cannot be
    /// reached (after `options.reconnect_for`) or refuses.
    pub fn create(
        address: &QueueAddress,
        settings: JobSettings,
        options: QueueOptions,
    ) -> Result<RedisQueue<T>, QueueError> {
        let queue = RedisQueue::new(address, options)?;
        let inner = &queue.inner;
        let lease_ms = u64::try_from(settings.lease.as_millis()).unwrap_or(u64::MAX);
        let lock = ProducerLock::take(
            &inner.connections,
            inner.producer_key.clone(),
            inner.consumer.clone(),
            lease_ms,
        )?;
        let _ = inner.producer.set(lock);
        inner.connections.run("start the job", |connection| {
            redis::pipe()
                .atomic()
                .del(&[&inner.name, &inner.dead, &inner.flag, &inner.settings_key])
                .hset_multiple(
                    &inner.settings_key,
                    &[
                        ("lease_ms", lease_ms),
                        ("max_deliveries", u64::from(settings.max_deliveries)),
                    ],
                )
                .add_command(create_group(&inner.name))
                .query::<()>(connection)
        })?;
        inner.lease_ms.store(lease_ms, Ordering::Relaxed);
        inner
            .max_deliveries
            .store(settings.max_deliveries, Ordering::Relaxed);
        Ok(queue)
    }

    /// Joins the job on `address` (creating an empty queue with the
    /// default settings if no one has started it yet: a worker may start
    /// before its producer; but not when the job is over).
    ///
    /// # Errors
    ///
    /// [`QueueError::Redis`] when Redis cannot be reached (after
    /// `options.reconnect_for`) or refuses.
    pub fn open(
        address: &QueueAddress,
        options: QueueOptions,
    ) -> Result<RedisQueue<T>, QueueError> {
        let queue = RedisQueue::new(address, options)?;
        queue.inner.refresh()?;
        if queue.inner.shutdown.load(Ordering::Relaxed) == OPEN {
            queue.inner.ensure_group()?;
        }
        Ok(queue)
    }

    fn new(address: &QueueAddress, options: QueueOptions) -> Result<RedisQueue<T>, QueueError> {
        let connections = Connections::new(address, options.poll, options.reconnect_for)?;
        let name = address.name().to_owned();
        let defaults = JobSettings::default();
        let inner = Arc::new(Inner {
            connections,
            dead: format!("{name}:dead"),
            flag: format!("{name}:shutdown"),
            settings_key: format!("{name}:job"),
            producer_key: format!("{name}:producer"),
            name,
            consumer: consumer_name(),
            options,
            lease_ms: AtomicU64::new(defaults.lease.as_millis() as u64),
            max_deliveries: AtomicU32::new(defaults.max_deliveries),
            shutdown: AtomicU8::new(OPEN),
            held: Mutex::new(HashMap::new()),
            next_takeover: Mutex::new(Instant::now()),
            producer: std::sync::OnceLock::new(),
        });
        let (stop_keeper, stopped) = crossbeam_channel::bounded(0);
        let keeper = Arc::clone(&inner);
        std::thread::Builder::new()
            .name("redis-queue-keeper".to_owned())
            .spawn(move || keeper.keep(&stopped))
            .map_err(|source| {
                inner
                    .connections
                    .error("start the keeper thread", redis::RedisError::from(source))
            })?;
        Ok(RedisQueue {
            inner,
            _stop_keeper: stop_keeper,
            _item: PhantomData,
        })
    }

    /// Puts `item` at the end of the queue; returns its entry id.
    ///
    /// # Errors
    ///
    /// [`QueueError::ShutDown`] after [`shutdown`](Self::shutdown),
    /// [`QueueError::Gone`] when the queue's stream is gone (its job
    /// ended, or Redis lost its data), [`QueueError::Encode`] if `item`
    /// cannot be JSON, or [`QueueError::Redis`].
    pub fn put(&self, item: &T) -> Result<String, QueueError> {
        let mut ids = self.put_many(std::slice::from_ref(item))?;
        Ok(ids.pop().expect("one id per item"))
    }

    /// Puts `items` in order, in one round trip (a batch is all or
    /// nothing with respect to a shutdown); returns their entry ids.
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put).
    pub fn put_many(&self, items: &[T]) -> Result<Vec<String>, QueueError> {
        let encoded = items
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<String>, _>>()
            .map_err(QueueError::Encode)?;
        let inner = &self.inner;
        let added = inner.connections.run("put", |connection| {
            scripts::PUT
                .key(&inner.name)
                .key(&inner.flag)
                .arg(&encoded)
                .invoke::<Vec<String>>(connection)
        });
        match added {
            Err(QueueError::Redis { source, .. }) if source.code() == Some("SHUTDOWN") => {
                Err(QueueError::ShutDown)
            }
            Err(QueueError::Redis { source, .. }) if source.code() == Some("GONE") => {
                Err(QueueError::Gone)
            }
            other => other,
        }
    }

    /// Takes the next item, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`QueueError::ShutDown`] once the queue is shut down and nothing
    /// is left for this process (at once if shut down `immediate`), or
    /// [`QueueError::Redis`].
    pub fn get(&self) -> Result<Delivery<T>, QueueError> {
        self.get_until(None)
    }

    /// Takes the next item, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`QueueError::Empty`] when nothing came in time, otherwise as
    /// [`get`](Self::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<Delivery<T>, QueueError> {
        self.get_until(Some(Instant::now() + timeout))
    }

    /// Takes between one and `max` items (as many as are there, up to
    /// `max`, in one round trip), waiting at most `timeout` for the first.
    /// Not in Python's `queue`: it is how a consumer keeps up with many
    /// producers, when each item is cheap to handle.
    ///
    /// # Errors
    ///
    /// As [`get_timeout`](Self::get_timeout).
    ///
    /// # Panics
    ///
    /// If `max` is 0.
    pub fn get_many(&self, max: usize, timeout: Duration) -> Result<Vec<Delivery<T>>, QueueError> {
        assert!(max > 0, "get_many takes at least one item");
        self.get_up_to(max, Some(Instant::now() + timeout))
    }

    fn get_until(&self, deadline: Option<Instant>) -> Result<Delivery<T>, QueueError> {
        let mut one = self.get_up_to(1, deadline)?;
        Ok(one.pop().expect("at least one delivery"))
    }

    /// The one get: between one and `max` deliveries, or why none.
    fn get_up_to(
        &self,
        max: usize,
        deadline: Option<Instant>,
    ) -> Result<Vec<Delivery<T>>, QueueError> {
        let inner = &self.inner;
        loop {
            if inner.shutdown.load(Ordering::Relaxed) == IMMEDIATE {
                return Err(QueueError::ShutDown);
            }
            if let Some(delivery) = self.take_over()? {
                return Ok(vec![delivery]);
            }
            let left = deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
            let block = left.map_or(inner.options.poll, |left| left.min(inner.options.poll));
            let read = inner.read_new(block, max)?;
            if !read.is_empty() {
                let mut deliveries = Vec::with_capacity(read.len());
                for (entry, count) in &read {
                    deliveries.extend(self.accept(entry, *count)?);
                }
                if deliveries.is_empty() {
                    // Everything read was buried: read on.
                    continue;
                }
                return Ok(deliveries);
            }
            // Nothing came: is the queue shut down with nothing left that
            // this process could still be handed?
            let status = inner.status()?;
            let held_here = inner.held.lock().len() as u64;
            match status.flag {
                IMMEDIATE => return Err(QueueError::ShutDown),
                GRACEFUL if status.unread == 0 && status.pending <= held_here => {
                    return Err(QueueError::ShutDown);
                }
                _ => {}
            }
            if left.is_some_and(|left| left.is_zero()) {
                return Err(QueueError::Empty);
            }
        }
    }

    /// Looks for an entry whose owner let its lease lapse (dead, stuck,
    /// cut off from Redis) and takes it over; at most once per poll
    /// interval per process. Entries past their deliveries are buried on
    /// the way.
    fn take_over(&self) -> Result<Option<Delivery<T>>, QueueError> {
        let inner = &self.inner;
        {
            let mut next = inner.next_takeover.lock();
            let now = Instant::now();
            if now < *next {
                return Ok(None);
            }
            *next = now + inner.options.poll;
        }
        let lease_ms = inner.lease_ms.load(Ordering::Relaxed);
        let mut cursor = "0-0".to_owned();
        loop {
            let claimed = inner.connections.run("take over", |connection| {
                redis::cmd("XAUTOCLAIM")
                    .arg(&inner.name)
                    .arg(GROUP)
                    .arg(&inner.consumer)
                    .arg(lease_ms)
                    .arg(&cursor)
                    .arg("COUNT")
                    .arg(1)
                    .query::<StreamAutoClaimReply>(connection)
            });
            let reply = match claimed {
                // No job here now (it ended, or Redis lost it): nothing
                // to take over; the read waits for the job to come back.
                Err(error) if is_no_group(&error) => return Ok(None),
                other => other?,
            };
            for entry in &reply.claimed {
                let deliveries = inner.deliveries(&entry.id)?;
                tracing::info!(
                    queue = %inner.name,
                    "taking over entry {} after its lease of {:.1} s lapsed (delivery {deliveries})",
                    entry.id,
                    lease_ms as f64 / 1000.0
                );
                if let Some(delivery) = self.accept(entry, deliveries)? {
                    return Ok(Some(delivery));
                }
            }
            if reply.next_stream_id == "0-0" {
                return Ok(None);
            }
            cursor = reply.next_stream_id;
        }
    }

    /// Makes a read entry a delivery, or buries it: one that cannot be
    /// decoded, or one delivered too many times.
    fn accept(&self, entry: &StreamId, deliveries: u32) -> Result<Option<Delivery<T>>, QueueError> {
        let inner = &self.inner;
        let raw = match entry.map.get(ITEM_FIELD) {
            Some(Value::BulkString(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
            Some(Value::SimpleString(text)) => Some(text.clone()),
            _ => None,
        };
        let max = inner.max_deliveries.load(Ordering::Relaxed);
        let decoded = match &raw {
            None => Err(format!("the entry has no {ITEM_FIELD:?} field")),
            Some(_) if deliveries > max => Err(format!(
                "delivered {deliveries} times, more than the job's {max}: every worker that took it died or gave it back"
            )),
            Some(raw) => serde_json::from_str::<T>(raw)
                .map_err(|error| format!("cannot decode the item: {error}")),
        };
        match decoded {
            Ok(item) => {
                inner.held.lock().insert(entry.id.clone(), Instant::now());
                Ok(Some(Delivery {
                    id: entry.id.clone(),
                    item,
                    deliveries,
                }))
            }
            Err(reason) => {
                inner.bury(&entry.id, raw.as_deref().unwrap_or(""), deliveries, &reason)?;
                Ok(None)
            }
        }
    }

    /// Marks `delivery` done (XACK): it will not be handed out again.
    /// Returns `false` if it was no longer pending (another process
    /// finished it after taking it over, or the job was restarted).
    ///
    /// # Errors
    ///
    /// [`QueueError::Redis`].
    pub fn task_done(&self, delivery: &Delivery<T>) -> Result<bool, QueueError> {
        let inner = &self.inner;
        let acked: u64 = inner.connections.run("acknowledge", |connection| {
            redis::cmd("XACK")
                .arg(&inner.name)
                .arg(GROUP)
                .arg(&delivery.id)
                .query(connection)
        })?;
        inner.held.lock().remove(&delivery.id);
        Ok(acked == 1)
    }

    /// [`task_done`](Self::task_done) for many deliveries, in one round
    /// trip; returns how many were still pending.
    ///
    /// # Errors
    ///
    /// [`QueueError::Redis`].
    pub fn task_done_all(&self, deliveries: &[Delivery<T>]) -> Result<u64, QueueError> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        let inner = &self.inner;
        let acked: u64 = inner.connections.run("acknowledge", |connection| {
            let mut ack = redis::cmd("XACK");
            ack.arg(&inner.name).arg(GROUP);
            for delivery in deliveries {
                ack.arg(&delivery.id);
            }
            ack.query(connection)
        })?;
        let mut held = inner.held.lock();
        for delivery in deliveries {
            held.remove(&delivery.id);
        }
        Ok(acked)
    }

    /// Gives `delivery` back undone: another process (or this one) may
    /// take it at once. What a worker that stops does with a task it will
    /// not run.
    ///
    /// # Errors
    ///
    /// [`QueueError::Redis`].
    pub fn release(&self, delivery: &Delivery<T>) -> Result<(), QueueError> {
        self.inner.release(std::slice::from_ref(&delivery.id))
    }

    /// Waits until every item put has been taken and marked done (nothing
    /// unread, nothing pending), or the queue is shut down `immediate`.
    ///
    /// # Errors
    ///
    /// [`QueueError::Redis`].
    pub fn join(&self) -> Result<(), QueueError> {
        while !self.join_timeout(Duration::from_secs(3600))? {}
        Ok(())
    }

    /// [`join`](Self::join), for at most `timeout`; `false` if the queue
    /// still had work when it passed.
    ///
    /// # Errors
    ///
    /// [`QueueError::Redis`].
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool, QueueError> {
        let deadline = Instant::now() + timeout;
        // Redis has no "all done" notification: poll, briefly.
        let pause = self.inner.options.poll.min(Duration::from_millis(20));
        loop {
            let status = self.inner.status()?;
            if status.flag == IMMEDIATE || (status.unread == 0 && status.pending == 0) {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(pause);
        }
    }

    /// How many items no one has taken yet (Python's `qsize`; items taken
    /// and not yet done are not counted).
    ///
    /// # Errors
    ///
    /// [`QueueError::Redis`].
    pub fn qsize(&self) -> Result<u64, QueueError> {
        Ok(self.inner.status()?.unread)
    }

    /// Shuts the queue down, for every process: puts fail from now on;
    /// gets fail once nothing is left (`immediate`: at once, and
    /// [`join`](Self::join) returns). Python 3.13's `Queue.shutdown`,
    /// except that `immediate` leaves the unread items in the stream
    /// rather than deleting them.
    ///
    /// # Errors
    ///
    /// [`QueueError::Redis`].
    pub fn shutdown(&self, immediate: bool) -> Result<(), QueueError> {
        let inner = &self.inner;
        inner.connections.run("shut down", |connection| {
            let mut set = redis::cmd("SET");
            set.arg(&inner.flag);
            if immediate {
                set.arg("immediate");
            } else {
                // An immediate shutdown stays immediate.
                set.arg("graceful").arg("NX");
            }
            set.query::<()>(connection)
        })?;
        inner.shutdown.fetch_max(
            if immediate { IMMEDIATE } else { GRACEFUL },
            Ordering::Relaxed,
        );
        Ok(())
    }

    /// Deletes the entries no process needs any more (everything before
    /// the oldest one unread or pending); returns how many. The keeper
    /// does this every few seconds; call it to be sure at a job's end.
    ///
    /// # Errors
    ///
    /// [`QueueError::Redis`].
    pub fn trim(&self) -> Result<u64, QueueError> {
        self.inner.trim()
    }

    /// How many entries the stream holds now: unread, pending, and done
    /// but not yet trimmed.
    ///
    /// # Errors
    ///
    /// [`QueueError::Redis`].
    pub fn stream_len(&self) -> Result<u64, QueueError> {
        let inner = &self.inner;
        inner.connections.run("measure the stream", |connection| {
            redis::cmd("XLEN").arg(&inner.name).query(connection)
        })
    }

    /// The dead letters buried after the one with id `after` (`"0-0"` for
    /// all), at most `count`, oldest first.
    ///
    /// # Errors
    ///
    /// [`QueueError::Redis`].
    pub fn dead_letters(&self, after: &str, count: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let inner = &self.inner;
        let entries: Vec<StreamId> =
            inner
                .connections
                .run("read the dead letters", |connection| {
                    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
                        .arg(&inner.dead)
                        .arg(format!("({after}"))
                        .arg("+")
                        .arg("COUNT")
                        .arg(count)
                        .query(connection)?;
                    Ok(reply.ids)
                })?;
        Ok(entries
            .into_iter()
            .map(|entry| {
                let text =
                    |field: &str| -> String { entry.get::<String>(field).unwrap_or_default() };
                DeadLetter {
                    entry: text("entry"),
                    item: text("item"),
                    deliveries: text("deliveries").parse().unwrap_or(0),
                    reason: text("reason"),
                    id: entry.id,
                }
            })
            .collect())
    }

    /// For the producer that created the queue: puts back what a Redis
    /// that lost its data (a restart without persistence) lost of the
    /// job, namely its settings, stream and group, and its producer lock;
    /// returns whether anything was lost, in which case every item not
    /// yet done is gone and must be put again. Cheap: one round trip.
    ///
    /// # Errors
    ///
    /// [`QueueError::Held`] when another producer took the queue over
    /// (this one could not renew its lock for a whole lease),
    /// [`QueueError::Redis`].
    pub fn restore_if_lost(&self) -> Result<bool, QueueError> {
        let inner = &self.inner;
        if let Some(lock) = inner.producer.get() {
            lock.renew(&inner.connections)?;
        }
        let lost: u64 = inner.connections.run("restore the job", |connection| {
            scripts::RESTORE
                .key(&inner.name)
                .key(&inner.settings_key)
                .arg(GROUP)
                .arg(inner.lease_ms.load(Ordering::Relaxed))
                .arg(inner.max_deliveries.load(Ordering::Relaxed))
                .invoke(connection)
        })?;
        Ok(lost == 1)
    }

    /// Ends the job for good, for every process: shuts it down, deletes
    /// its stream (every entry, and the group), lets its shutdown flag,
    /// settings and dead letters expire after `grace` (a worker that was
    /// paused learns from them that the job is over, and the dead letters
    /// can be read meanwhile), and lets the producer lock go. Puts fail
    /// from now on with [`QueueError::ShutDown`] (or, after `grace`,
    /// [`QueueError::Gone`]).
    ///
    /// # Errors
    ///
    /// [`QueueError::Redis`].
    pub fn finish(&self, grace: Duration) -> Result<(), QueueError> {
        let inner = &self.inner;
        let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX).max(1);
        inner.connections.run("finish the job", |connection| {
            scripts::FINISH
                .key(&inner.name)
                .key(&inner.flag)
                .key(&inner.settings_key)
                .key(&inner.dead)
                .arg(grace_ms)
                .invoke::<()>(connection)
        })?;
        inner.held.lock().clear();
        inner.shutdown.fetch_max(GRACEFUL, Ordering::Relaxed);
        if let Some(lock) = inner.producer.get() {
            lock.release(&inner.connections)?;
        }
        Ok(())
    }

    /// From now on, an operation fails at once when Redis cannot be
    /// reached, instead of waiting out the outage: for a process asked to
    /// stop, which should not wait minutes for a Redis that is away.
    pub fn stop_waiting(&self) {
        self.inner.connections.stop_retrying();
    }

    /// How many items this process holds: taken, and neither done nor
    /// given back.
    pub fn holding(&self) -> usize {
        self.inner.held.lock().len()
    }

    /// This process's name in the consumer group: host, process id, the
    /// time the queue was opened, and a number per queue opened.
    pub fn consumer(&self) -> &str {
        &self.inner.consumer
    }

    /// The job's settings, as last read from Redis.
    pub fn settings(&self) -> JobSettings {
        JobSettings {
            lease: Duration::from_millis(self.inner.lease_ms.load(Ordering::Relaxed)),
            max_deliveries: self.inner.max_deliveries.load(Ordering::Relaxed),
        }
    }
}

impl<T> Drop for RedisQueue<T> {
    /// Gives back what this process still holds, so that others need not
    /// wait a lease for it, and trims: the last process to leave a job
    /// leaves no acknowledged entry behind. One try each, no waiting out
    /// an outage: if Redis is away, the leases lapse instead.
    fn drop(&mut self) {
        self.inner.connections.stop_retrying();
        let held: Vec<String> = self.inner.held.lock().drain().map(|(id, _)| id).collect();
        if !held.is_empty() {
            let _ = self.inner.release(&held);
        }
        let _ = self.inner.trim();
        if let Some(lock) = self.inner.producer.get() {
            let _ = lock.release(&self.inner.connections);
        }
    }
}
