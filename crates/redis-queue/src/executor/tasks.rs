//! [`TaskQueue`]: the worker's side of a [`RedisExecutor`](super::RedisExecutor)'s
//! queue, for workers that run tasks their own way. The executor's worker
//! mode stands on it (tasks on threads); a program can stand on it too, to
//! run the same tasks on an async runtime or beside work of its own.

use std::time::{Duration, Instant};

use concurrent::TaskError;

use super::wire::{Answer, Ticket, answers_address, from_base64, to_base64};
use super::worker::Presence;
use crate::{Delivery, QueueAddress, QueueError, QueueOptions, RedisQueue};

/// A worker's side of an executor's queue: tasks taken from it are held
/// under lease until answered (or given back). While it is open the worker
/// is on the executor's roll of live workers with its slots; dropping it
/// takes it off at once.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use redis_queue::{QueueError, QueueOptions, TaskQueue};
///
/// let queue = TaskQueue::join(&"redis://127.0.0.1:6379/prices".parse()?, QueueOptions::default(), 4)?;
/// loop {
///     let taken = match queue.take(4, Duration::from_secs(1)) {
///         Ok(taken) => taken,
///         Err(QueueError::Empty) => continue,
///         Err(QueueError::ShutDown) => break, // the executor shut down
///         Err(other) => return Err(other.into()),
///     };
///     let answered = taken.into_iter().map(|task| task.run()).collect();
///     queue.answer(answered)?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TaskQueue {
    to_do: RedisQueue<Ticket>,
    answers: RedisQueue<Answer>,
    presence: Presence,
}

/// A task taken from a [`TaskQueue`], held until answered or given back.
pub struct Assignment {
    delivery: Delivery<Ticket>,
}

/// A task's outcome, ready to be sent back: its result encoded in the
/// crate's codec (`concurrent::codec`), or why there is none.
pub struct Answered {
    /// The task.
    pub assignment: Assignment,
    /// Its encoded result, or why there is none.
    pub outcome: Result<Vec<u8>, TaskError>,
    /// How long it ran (the executor sends more ahead while tasks are
    /// quick).
    pub took: Duration,
}

impl Assignment {
    /// The `remote_fn!` the task calls, by its registered name.
    pub fn function(&self) -> &str {
        &self.delivery.item.function
    }

    /// The task's arguments, encoded in `concurrent::codec`.
    ///
    /// # Errors
    ///
    /// [`TaskError::Remote`] when what came is not base64 (not an
    /// executor's ticket).
    pub fn args(&self) -> Result<Vec<u8>, TaskError> {
        from_base64(&self.delivery.item.args, "the arguments")
    }

    /// How many times the task has been handed out, this time included.
    pub fn deliveries(&self) -> u32 {
        self.delivery.deliveries
    }

    /// Runs the task here, by its function's name
    /// ([`concurrent::call_remote_fn`]): a panic is its failure.
    pub fn run(self) -> Answered {
        let started = Instant::now();
        let mut result = Vec::new();
        let outcome = self
            .args()
            .and_then(|args| concurrent::call_remote_fn(self.function(), &args, &mut result))
            .map(|()| result);
        Answered {
            took: started.elapsed(),
            assignment: self,
            outcome,
        }
    }
}

impl TaskQueue {
    /// Joins the executor's queue at `address` as a worker running
    /// `slots` tasks at once (waiting for an executor that has not
    /// started yet), and puts it on the roll of live workers.
    ///
    /// # Errors
    ///
    /// [`QueueError::Redis`] when Redis cannot be reached or refuses.
    pub fn join(
        address: &QueueAddress,
        options: QueueOptions,
        slots: usize,
    ) -> Result<TaskQueue, QueueError> {
        let to_do: RedisQueue<Ticket> = RedisQueue::open(address, options)?;
        let answers = RedisQueue::open(&answers_address(address), options)?;
        let presence = Presence::join(
            address,
            options,
            to_do.consumer(),
            slots,
            to_do.settings().lease,
        )?;
        Ok(TaskQueue {
            to_do,
            answers,
            presence,
        })
    }

    /// Takes between one and `max` tasks, waiting up to `timeout`.
    ///
    /// # Errors
    ///
    /// [`QueueError::Empty`] when none came in time,
    /// [`QueueError::ShutDown`] once the executor has shut down and
    /// nothing is left, [`QueueError::Gone`] when its job ended, or
    /// [`QueueError::Redis`].
    pub fn take(&self, max: usize, timeout: Duration) -> Result<Vec<Assignment>, QueueError> {
        Ok(self
            .to_do
            .get_many(max.max(1), timeout)?
            .into_iter()
            .map(|delivery| Assignment { delivery })
            .collect())
    }

    /// Sends the answers (one round trip), then marks their tasks done
    /// (another): in that order, so a worker killed between the two
    /// leaves tasks that run again (their second answers are dropped),
    /// never a task without an answer. Answers to a job that has ended
    /// are dropped.
    ///
    /// # Errors
    ///
    /// [`QueueError::Redis`].
    pub fn answer(&self, answered: Vec<Answered>) -> Result<(), QueueError> {
        let mut answers = Vec::with_capacity(answered.len());
        let mut deliveries = Vec::with_capacity(answered.len());
        for Answered {
            assignment,
            outcome,
            took,
        } in answered
        {
            let Ticket { job, task, .. } = &assignment.delivery.item;
            answers.push(Answer {
                job: job.clone(),
                task: *task,
                outcome: outcome.map(|result| to_base64(&result)).map_err(Into::into),
                micros: u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            });
            deliveries.push(assignment.delivery);
        }
        match self.answers.put_many(&answers) {
            // The executor ended the job meanwhile (it had these answers
            // from another worker, or was cancelled): nothing to send it.
            Ok(_) | Err(QueueError::ShutDown | QueueError::Gone) => {}
            Err(error) => return Err(error),
        }
        match self.to_do.task_done_all(&deliveries) {
            // Answered: the job may have ended since (its stream deleted).
            Ok(_) | Err(QueueError::Gone) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Gives a task back undone, for another worker to take at once.
    ///
    /// # Errors
    ///
    /// [`QueueError::Redis`].
    pub fn release(&self, assignment: Assignment) -> Result<(), QueueError> {
        self.to_do.release(&assignment.delivery)
    }

    /// From now on, a call fails at once when Redis cannot be reached
    /// instead of waiting out the outage: for a worker asked to stop.
    pub fn stop_waiting(&self) {
        self.to_do.stop_waiting();
        self.answers.stop_waiting();
        self.presence.stop_waiting();
    }

    /// How many tasks this worker holds: taken, and neither answered nor
    /// given back.
    pub fn holding(&self) -> usize {
        self.to_do.holding()
    }

    /// How long a task may go unrenewed before it is given to another
    /// worker (the executor's setting; this worker renews what it holds).
    pub fn lease(&self) -> Duration {
        self.to_do.settings().lease
    }
}

/// How many tasks a worker's thread takes at once: one while tasks take
/// 2 ms or more (a long task never holds others in one busy thread while
/// another thread could run them), doubling up to 64 while they are
/// quicker (for a task of microseconds the round trips, not the work,
/// are what costs).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use redis_queue::BatchSize;
///
/// let mut size = BatchSize::default();
/// assert_eq!(size.get(), 1);
/// size.ran(1, Duration::from_micros(50)); // a full batch, quick: twice as many
/// assert_eq!(size.get(), 2);
/// size.ran(2, Duration::from_millis(30)); // slow: one at a time
/// assert_eq!(size.get(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSize(usize);

impl BatchSize {
    /// The largest batch.
    pub const LARGEST: usize = 64;

    /// The time a task runs in, under which it counts as quick.
    pub const QUICK: Duration = Duration::from_millis(2);

    /// How many to take next.
    pub fn get(self) -> usize {
        self.0
    }

    /// Notes that `count` tasks ran in `took` in all.
    pub fn ran(&mut self, count: usize, took: Duration) {
        let Ok(tasks) = u32::try_from(count) else {
            return;
        };
        if tasks == 0 {
            return;
        }
        self.0 = if took / tasks >= Self::QUICK {
            1
        } else if count >= self.0 {
            (self.0 * 2).min(Self::LARGEST)
        } else {
            self.0
        };
    }
}

impl Default for BatchSize {
    /// One task.
    fn default() -> BatchSize {
        BatchSize(1)
    }
}
