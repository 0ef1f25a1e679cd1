//! The executor's side of the job: tasks wait here until the live workers
//! have room for them (the window), go to Redis in batches (the
//! dispatcher thread), and their answers come back to their handles (the
//! collector thread, which also watches the workers' roll, the dead
//! letters, and whether Redis lost the job).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use concurrent::{TaskError, TaskHandle, codec};
use parking_lot::{Condvar, Mutex};
use serde::de::DeserializeOwned;

use super::wire::{Answer, Roll, Ticket, answers_address, from_base64, now_ms, to_base64};
use crate::connections::Connections;
use crate::{JobSettings, QueueAddress, QueueError, QueueOptions, RedisQueue};

/// Tasks go to Redis in batches of at most this many, one round trip each.
const BATCH: usize = 500;

/// How often the collector reads the roll of workers, looks for buried
/// tasks and checks that Redis still has the job.
const LOOK_AROUND: Duration = Duration::from_millis(250);

/// After this long with tasks waiting and no worker alive, a log line.
const NO_WORKER_AFTER: Duration = Duration::from_secs(10);

/// Tasks in Redis per live worker slot while tasks take [`QUICK`] or more
/// each: few, so that most waiting tasks can still be cancelled.
const AHEAD_LONG: usize = 2;

/// Tasks in Redis per live worker slot while tasks are quicker: enough
/// that a worker's batch is never starved by the round trips (a task of
/// microseconds costs 364 µs at 2 ahead, 26 µs at 64).
const AHEAD_QUICK: usize = 64;

/// The run time under which a task counts as quick.
const QUICK: Duration = Duration::from_millis(2);

/// How long a finished job's flags and dead letters stay in Redis.
const AFTER_THE_END: Duration = Duration::from_secs(3600);

/// A task's handle, seen without its result type.
pub(crate) trait Slot: Send {
    /// Marks the task running; `false` if it was cancelled (it must then
    /// never run).
    fn start(&self) -> bool;
    /// Gives the task its outcome (the encoded result, or why none).
    fn finish(self: Box<Self>, outcome: Result<Vec<u8>, TaskError>);
    /// Cancels the task (not started yet).
    fn cancel(&self);
}

/// The worker's side of a handle whose result is a `T`.
pub(crate) struct Typed<T>(pub TaskHandle<T>);

impl<T: DeserializeOwned + Send + 'static> Slot for Typed<T> {
    fn start(&self) -> bool {
        matches!(self.0.set_running_or_notify_cancel(), Ok(true))
    }

    fn finish(self: Box<Self>, outcome: Result<Vec<u8>, TaskError>) {
        let outcome = outcome.and_then(|bytes| {
            codec::decode(&bytes)
                .map_err(|error| TaskError::Remote(format!("cannot read the result: {error}")))
        });
        let _ = match outcome {
            Ok(value) => self.0.set_result(value).map_err(drop),
            Err(error) => self.0.set_exception(error).map_err(drop),
        };
    }

    fn cancel(&self) {
        self.0.cancel();
    }
}

/// A task not sent yet.
struct Queued {
    function: &'static str,
    args: Vec<u8>,
    slot: Box<dyn Slot>,
}

/// A task sent and not answered yet: its ticket is kept to send it again
/// should Redis lose it.
struct Sent {
    ticket: Ticket,
    slot: Box<dyn Slot>,
    /// When it went to Redis: its deadline counts from there.
    at: Instant,
}

/// What the dispatcher waits on.
#[derive(Default)]
struct Line {
    queued: VecDeque<Queued>,
    /// Sent and not answered.
    in_redis: usize,
    /// How many may be in Redis at once: the live slots, times the tasks
    /// ahead per slot.
    window: usize,
    shut_down: bool,
    /// Why the executor cannot run tasks any more (Redis unreachable).
    broken: Option<String>,
}

pub(crate) struct Producer {
    address: QueueAddress,
    job: String,
    to_do: RedisQueue<Ticket>,
    answers: RedisQueue<Answer>,
    /// For the roll of workers.
    connections: Connections,
    roll: Roll,
    /// Tasks in Redis per live slot, when the caller fixed it; otherwise
    /// [`AHEAD_LONG`] or [`AHEAD_QUICK`] after the tasks' run times.
    fixed_ahead: Option<usize>,
    /// Whether the last answers' tasks ran in under [`QUICK`] each.
    quick: AtomicBool,
    /// How long a task sent may go without its answer before its handle
    /// fails (none unless set).
    deadline: Option<Duration>,
    /// How to start a worker: said when tasks wait and none is alive.
    no_worker_hint: String,
    /// Answers dropped because they carried another job's token.
    strays: AtomicUsize,
    next_task: AtomicU64,
    live_slots: AtomicUsize,
    line: Mutex<Line>,
    changed: Condvar,
    sent: Mutex<HashMap<u64, Sent>>,
}

impl Producer {
    pub(crate) fn start(
        address: &QueueAddress,
        settings: JobSettings,
        options: QueueOptions,
        fixed_ahead: Option<usize>,
        deadline: Option<Duration>,
        no_worker_hint: Option<String>,
    ) -> Result<Producer, QueueError> {
        let answers = RedisQueue::create(&answers_address(address), settings, options)?;
        let to_do = RedisQueue::create(address, settings, options)?;
        let connections = Connections::new(address, options.poll, options.reconnect_for)?;
        Ok(Producer {
            address: address.clone(),
            job: job_token(),
            to_do,
            answers,
            connections,
            roll: Roll::of(address),
            fixed_ahead,
            quick: AtomicBool::new(false),
            deadline,
            no_worker_hint: no_worker_hint.unwrap_or_else(|| {
                format!(
                    "start the program in worker mode ({}={address})",
                    super::WORKER_ENV
                )
            }),
            strays: AtomicUsize::new(0),
            next_task: AtomicU64::new(0),
            live_slots: AtomicUsize::new(0),
            line: Mutex::new(Line::default()),
            changed: Condvar::new(),
            sent: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn address(&self) -> &QueueAddress {
        &self.address
    }

    /// The live workers' slots now; when Redis cannot be asked, as last
    /// seen.
    pub(crate) fn slots(&self) -> usize {
        self.live_workers().map_or_else(
            |_| self.live_slots.load(Ordering::Relaxed),
            |(_, slots)| slots,
        )
    }

    pub(crate) fn submit(
        &self,
        function: &'static str,
        args: Vec<u8>,
        slot: Box<dyn Slot>,
    ) -> Result<(), TaskError> {
        let mut line = self.line.lock();
        if let Some(why) = &line.broken {
            return Err(TaskError::Broken(why.clone()));
        }
        if line.shut_down {
            return Err(TaskError::ShutDown);
        }
        line.queued.push_back(Queued {
            function,
            args,
            slot,
        });
        drop(line);
        self.changed.notify_all();
        Ok(())
    }

    pub(crate) fn shut_down(&self, cancel_futures: bool) {
        let mut line = self.line.lock();
        line.shut_down = true;
        if cancel_futures {
            for queued in line.queued.drain(..) {
                queued.slot.cancel();
            }
        }
        drop(line);
        self.changed.notify_all();
    }

    /// (workers, slots) alive now.
    pub(crate) fn live_workers(&self) -> Result<(usize, usize), QueueError> {
        let Roll { lapses, slots } = &self.roll;
        self.connections
            .run("read the roll of workers", |connection| {
                let names: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                    .arg(lapses)
                    .arg(now_ms())
                    .arg("+inf")
                    .query(connection)?;
                if names.is_empty() {
                    return Ok((0, 0));
                }
                let counts: Vec<Option<usize>> = redis::cmd("HMGET")
                    .arg(slots)
                    .arg(&names)
                    .query(connection)?;
                Ok((names.len(), counts.into_iter().flatten().sum()))
            })
    }

    /// Sends tasks while the window has room, until shut down with nothing
    /// left to send.
    fn dispatch(&self) {
        loop {
            let batch: Vec<Queued> = {
                let mut line = self.line.lock();
                loop {
                    if line.broken.is_some() {
                        return;
                    }
                    let room = line.window.saturating_sub(line.in_redis);
                    if room > 0 && !line.queued.is_empty() {
                        let take = room.min(BATCH).min(line.queued.len());
                        // Counted as in Redis from now, so that the
                        // collector never sees a shut-down executor with
                        // nothing queued and nothing sent while a batch
                        // is on its way.
                        line.in_redis += take;
                        break line.queued.drain(..take).collect();
                    }
                    if line.shut_down && line.queued.is_empty() {
                        return;
                    }
                    self.changed.wait(&mut line);
                }
            };
            let taken = batch.len();
            let mut tickets = Vec::with_capacity(taken);
            {
                let mut sent = self.sent.lock();
                for queued in batch {
                    // Cancelled while it waited: it never runs.
                    if !queued.slot.start() {
                        continue;
                    }
                    let ticket = Ticket {
                        job: self.job.clone(),
                        task: self.next_task.fetch_add(1, Ordering::Relaxed),
                        function: queued.function.to_owned(),
                        args: to_base64(&queued.args),
                    };
                    tickets.push(ticket.clone());
                    sent.insert(
                        ticket.task,
                        Sent {
                            ticket,
                            slot: queued.slot,
                            at: Instant::now(),
                        },
                    );
                }
            }
            let cancelled = taken - tickets.len();
            self.left_redis(cancelled);
            if tickets.is_empty() {
                continue;
            }
            let put = match self.to_do.put_many(&tickets) {
                // Redis lost the job since the collector last looked: it
                // puts everything sent back, these tickets among them.
                Err(QueueError::Gone) => self.restore_if_lost().map(drop),
                other => other.map(drop),
            };
            if let Err(error) = put {
                self.break_down(&error);
                return;
            }
            // The collector may be waiting for something to be in Redis.
            self.changed.notify_all();
        }
    }

    /// Takes the answers to their handles, and looks around now and then,
    /// until shut down with every task answered; then ends the job.
    fn collect(&self) {
        let mut last_look = Instant::now() - LOOK_AROUND;
        let mut buried_after = "0-0".to_owned();
        let mut alone_since: Option<Instant> = None;
        loop {
            if last_look.elapsed() >= LOOK_AROUND {
                last_look = Instant::now();
                let looked = self
                    .look_around(&mut buried_after, &mut alone_since)
                    .and_then(|()| self.restore_if_lost().map(drop));
                if let Err(error) = looked {
                    self.break_down(&error);
                    return;
                }
            }
            {
                let mut line = self.line.lock();
                if line.broken.is_some() {
                    return;
                }
                if line.in_redis == 0 {
                    if line.shut_down && line.queued.is_empty() {
                        break;
                    }
                    // No answer to wait for: wait here, where a dispatch
                    // or the shutdown wakes this thread at once, rather
                    // than in a blocking read of Redis that nothing ends
                    // early (the job's end would wait out the read).
                    self.changed.wait_for(&mut line, LOOK_AROUND);
                    continue;
                }
            }
            let deliveries = match self.answers.get_many(BATCH, LOOK_AROUND) {
                Ok(deliveries) => deliveries,
                Err(QueueError::Empty) => continue,
                Err(QueueError::Gone) => match self.restore_if_lost() {
                    Ok(_) => continue,
                    Err(error) => {
                        self.break_down(&error);
                        return;
                    }
                },
                Err(error) => {
                    self.break_down(&error);
                    return;
                }
            };
            let (mut answered, mut run_micros) = (0, 0);
            {
                let mut sent = self.sent.lock();
                for delivery in &deliveries {
                    let Answer {
                        job,
                        task,
                        outcome,
                        micros,
                    } = &delivery.item;
                    // Left from an earlier job of this name, or added by hand.
                    if *job != self.job {
                        self.strays.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    // A second answer to a task run twice.
                    let Some(Sent { slot, .. }) = sent.remove(task) else {
                        continue;
                    };
                    let outcome = match outcome {
                        Ok(result) => from_base64(result, "a result"),
                        Err(failure) => Err(failure.clone().into()),
                    };
                    slot.finish(outcome);
                    answered += 1;
                    run_micros += micros;
                }
            }
            if answered > 0 {
                self.left_redis(answered as usize);
                let quick = run_micros / answered < QUICK.as_micros() as u64;
                if self.quick.swap(quick, Ordering::Relaxed) != quick {
                    self.resize_window();
                }
            }
            if let Err(error) = self.answers.task_done_all(&deliveries) {
                self.break_down(&error);
                return;
            }
        }
        // Every task is answered: the workers may go, and the job's keys
        // with them.
        // A worker acknowledges a task just after sending its answer: wait
        // a moment for the last acknowledgements before the streams go.
        let ended = self
            .to_do
            .shutdown(false)
            .and_then(|()| self.to_do.join_timeout(Duration::from_secs(5)).map(drop))
            .and_then(|()| self.to_do.finish(AFTER_THE_END))
            .and_then(|()| self.answers.finish(AFTER_THE_END))
            .and_then(|()| self.expire_roll());
        if let Err(error) = ended {
            tracing::warn!("{}: could not end the job: {error}", self.address);
        }
        let strays = self.strays.load(Ordering::Relaxed);
        if strays > 0 {
            tracing::warn!(
                "{}: dropped {strays} answers that no task of this job asked for (left from an earlier job of this name, or added by hand)",
                self.address
            );
        }
    }

    /// Lets the roll of workers expire with the job's other keys: a
    /// worker that was killed never takes itself off it.
    fn expire_roll(&self) -> Result<(), QueueError> {
        let Roll { lapses, slots } = &self.roll;
        let grace_ms = AFTER_THE_END.as_millis() as u64;
        self.connections
            .run("let the roll of workers expire", |connection| {
                redis::pipe()
                    .cmd("PEXPIRE")
                    .arg(lapses)
                    .arg(grace_ms)
                    .ignore()
                    .cmd("PEXPIRE")
                    .arg(slots)
                    .arg(grace_ms)
                    .ignore()
                    .query::<()>(connection)
            })
    }

    /// Reads the roll (the window follows the live slots), fails the tasks
    /// buried since the last look, and says once when no worker is alive.
    fn look_around(
        &self,
        buried_after: &mut String,
        alone_since: &mut Option<Instant>,
    ) -> Result<(), QueueError> {
        let (workers, slots) = self.live_workers()?;
        self.live_slots.store(slots, Ordering::Relaxed);
        self.resize_window();
        let waiting = {
            let line = self.line.lock();
            !line.queued.is_empty() || line.in_redis > 0
        };
        if workers == 0 && waiting {
            let since = alone_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= NO_WORKER_AFTER {
                tracing::warn!(
                    "{}: tasks wait and no worker is alive: {}",
                    self.address,
                    self.no_worker_hint
                );
                *since = Instant::now() + Duration::from_secs(3600);
            }
        } else {
            *alone_since = None;
        }
        self.fail_overdue();
        let mut buried = Vec::new();
        for dead in self.to_do.dead_letters(buried_after, 100)? {
            buried_after.clone_from(&dead.id);
            if let Ok(ticket) = dead.decode::<Ticket>()
                && ticket.job == self.job
            {
                buried.push((ticket.task, dead.deliveries, dead.reason));
            }
        }
        if !buried.is_empty() {
            let mut sent = self.sent.lock();
            let mut failed = 0;
            for (task, deliveries, reason) in buried {
                if let Some(Sent { slot, .. }) = sent.remove(&task) {
                    slot.finish(Err(TaskError::Remote(format!(
                        "no worker finished it: moved to the dead-letter stream after {deliveries} deliveries: {reason}"
                    ))));
                    failed += 1;
                }
            }
            drop(sent);
            self.left_redis(failed);
        }
        Ok(())
    }

    /// Counts `count` tasks out of Redis (answered, buried, overdue, or
    /// cancelled before they went), and wakes the dispatcher: the window
    /// has room again.
    fn left_redis(&self, count: usize) {
        if count > 0 {
            self.line.lock().in_redis -= count;
            self.changed.notify_all();
        }
    }

    /// Fails the handles of the tasks sent longer than the deadline ago
    /// and still unanswered. Their tickets stay in Redis (a worker cannot
    /// be stopped from here): a worker may still run one, and its late
    /// answer is dropped.
    fn fail_overdue(&self) {
        let Some(deadline) = self.deadline else {
            return;
        };
        let overdue: Vec<Sent> = self
            .sent
            .lock()
            .extract_if(|_, sent| sent.at.elapsed() > deadline)
            .map(|(_, sent)| sent)
            .collect();
        self.left_redis(overdue.len());
        for Sent { slot, .. } in overdue {
            slot.finish(Err(TaskError::Remote(format!(
                "no answer within the task's deadline of {:.1} s (it may still run on a worker; a late answer is dropped)",
                deadline.as_secs_f64()
            ))));
        }
    }

    /// Sets the window from the live slots and how quick the tasks are.
    fn resize_window(&self) {
        let ahead = self
            .fixed_ahead
            .unwrap_or(if self.quick.load(Ordering::Relaxed) {
                AHEAD_QUICK
            } else {
                AHEAD_LONG
            });
        let window = self.live_slots.load(Ordering::Relaxed) * ahead;
        let mut line = self.line.lock();
        if window != line.window {
            line.window = window;
            drop(line);
            self.changed.notify_all();
        }
    }

    /// When Redis lost the job (a restart without persistence), puts the
    /// queues back and every task sent and unanswered again.
    fn restore_if_lost(&self) -> Result<bool, QueueError> {
        let lost_tasks = self.to_do.restore_if_lost()?;
        let lost_answers = self.answers.restore_if_lost()?;
        if !(lost_tasks || lost_answers) {
            return Ok(false);
        }
        let tickets: Vec<Ticket> = self
            .sent
            .lock()
            .values()
            .map(|sent| sent.ticket.clone())
            .collect();
        tracing::warn!(
            "Redis lost the job {} (restarted without persistence?): its queues are back, and its {} tasks without an answer are sent again",
            self.address,
            tickets.len()
        );
        for batch in tickets.chunks(BATCH) {
            self.to_do.put_many(batch)?;
        }
        Ok(true)
    }

    /// Redis is out of reach for good: every task without an answer, and
    /// every later submit, fails saying so.
    fn break_down(&self, error: &QueueError) {
        let why = format!("{}: {error}", self.address);
        tracing::error!("{why}; the executor's tasks without an answer fail");
        let queued: Vec<Queued> = {
            let mut line = self.line.lock();
            line.broken = Some(why.clone());
            line.queued.drain(..).collect()
        };
        self.changed.notify_all();
        let sent: Vec<Sent> = self.sent.lock().drain().map(|(_, sent)| sent).collect();
        for slot in queued
            .into_iter()
            .map(|queued| queued.slot)
            .chain(sent.into_iter().map(|sent| sent.slot))
        {
            slot.finish(Err(TaskError::Broken(why.clone())));
        }
    }
}

/// Starts the dispatcher and the collector.
pub(crate) fn spawn_threads(
    producer: &Arc<Producer>,
) -> Result<Vec<std::thread::JoinHandle<()>>, QueueError> {
    let spawn = |name: &str, run: fn(&Producer)| {
        let running = Arc::clone(producer);
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || run(&running))
            .map_err(|source| {
                producer
                    .connections
                    .error("start a thread", redis::RedisError::from(source))
            })
    };
    Ok(vec![
        spawn("redis-executor-dispatcher", Producer::dispatch)?,
        spawn("redis-executor-collector", Producer::collect)?,
    ])
}

/// A token no other job shares: random, with the time and process id
/// mixed in.
fn job_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64);
    let random =
        std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), nanos);
    format!(
        "{:016x}",
        random ^ nanos.rotate_left(17) ^ u64::from(std::process::id())
    )
}
