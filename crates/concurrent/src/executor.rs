//! The [`Executor`] trait: one interface over thread and process pools, so
//! that switching the kind of executor is a one-line change, as in the
//! lesson.
//!
//! A task is "a function and its arguments", Python's `submit(fn, *args)`:
//! here `submit(f, (a, b, c))`, where `f` is anything implementing
//! [`Call`] for that tuple of arguments: plain functions and closures of up
//! to six arguments. A process pool accepts only tasks it can send to
//! another process, and the compiler enforces it through that pool's own
//! trait bounds.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use crate::error::TaskError;
use crate::handle::TaskHandle;

/// A function applied to a tuple of arguments: `f.call((a, b))` is
/// `f(a, b)`. Implemented for every `Fn` of zero to six arguments.
///
/// # Examples
///
/// ```
/// use concurrent::Call;
///
/// fn add(a: i32, b: i32) -> i32 {
///     a + b
/// }
/// assert_eq!(add.call((2, 3)), 5);
/// assert_eq!((|| "no arguments").call(()), "no arguments");
/// ```
pub trait Call<Args> {
    /// What the function returns.
    type Output;

    /// Calls the function with the arguments unpacked.
    fn call(&self, args: Args) -> Self::Output;
}

macro_rules! impl_call {
    ($($arg:ident),*) => {
        impl<Func, Ret, $($arg),*> Call<($($arg,)*)> for Func
        where
            Func: Fn($($arg),*) -> Ret,
        {
            type Output = Ret;

            #[allow(non_snake_case)]
            fn call(&self, ($($arg,)*): ($($arg,)*)) -> Ret {
                self($($arg),*)
            }
        }
    };
}

impl_call!();
impl_call!(A);
impl_call!(A, B);
impl_call!(A, B, C);
impl_call!(A, B, C, D);
impl_call!(A, B, C, D, E);
impl_call!(A, B, C, D, E, G);

/// What every executor can do regardless of the task: stop.
pub trait Shutdown {
    /// Stops taking tasks (Python's `shutdown(wait, cancel_futures)`).
    ///
    /// - `cancel_futures`: tasks not yet started are cancelled (their
    ///   handles give [`TaskError::Cancelled`]); otherwise they still run.
    /// - `wait`: returns only when every worker has finished.
    ///
    /// Calling it again is harmless. Dropping an executor is
    /// `shutdown(true, false)`, like leaving Python's `with` block.
    fn shutdown(&self, wait: bool, cancel_futures: bool);

    /// How many workers the executor runs at most.
    fn max_workers(&self) -> usize;
}

/// An executor that can run task `F` on arguments `Args`.
///
/// Write code against this trait and it runs on a thread pool or a process
/// pool unchanged.
///
/// # Examples
///
/// ```
/// use concurrent::{Executor, ThreadPoolExecutor};
///
/// fn check(exchange: &'static str, day: u32) -> String {
///     format!("{exchange} on day {day}")
/// }
///
/// fn run_on(ex: &impl Executor<fn(&'static str, u32) -> String, (&'static str, u32), Output = String>) -> String {
///     ex.submit(check, ("kraken", 1)).unwrap().result().unwrap()
/// }
///
/// assert_eq!(run_on(&ThreadPoolExecutor::new(2)), "kraken on day 1");
/// ```
pub trait Executor<F, Args>: Shutdown {
    /// What the task returns.
    type Output;

    /// Schedules `task(args...)` and returns its handle at once (Python's
    /// `submit(fn, *args)`).
    ///
    /// # Errors
    ///
    /// [`TaskError::ShutDown`] after [`Shutdown::shutdown`];
    /// [`TaskError::Broken`] if the executor can no longer run tasks.
    fn submit(&self, task: F, args: Args) -> Result<TaskHandle<Self::Output>, TaskError>;

    /// Runs `task` on every item of `items` (each a tuple of arguments),
    /// yielding the results in input order (Python's `map`). As in Python,
    /// every item is submitted now, before the first result is asked for:
    /// the work starts even if the iterator is never read, and dropping an
    /// iterator never read cancels nothing. Once a result has been asked
    /// for, dropping the iterator cancels every task not started yet, as
    /// closing Python's result generator does (its `finally` cancels the
    /// futures left). The iterator does not borrow the executor,
    /// so the executor may be shut down or dropped while results are read.
    /// For an endless or very long input, see
    /// [`map_buffered`](Executor::map_buffered).
    ///
    /// A failed task is its item's `Err`; the iteration goes on with the
    /// next (Python raises at that `next()` and can go on too).
    ///
    /// # Examples
    ///
    /// ```
    /// use concurrent::{Executor, ThreadPoolExecutor};
    ///
    /// fn price(exchange: &str, symbol: &str) -> String {
    ///     format!("{exchange}/{symbol}")
    /// }
    ///
    /// let ex = ThreadPoolExecutor::new(4);
    /// let results: Vec<String> = ex
    ///     .map(price, [("bitfinex", "btc"), ("kraken", "eth")])
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(results, ["bitfinex/btc", "kraken/eth"]);
    /// # Ok::<(), concurrent::TaskError>(())
    /// ```
    fn map<'i, I>(&self, task: F, items: I) -> Map<'i, Args, Self::Output>
    where
        I: IntoIterator<Item = Args>,
        F: Clone,
        Args: 'i,
        Self::Output: 'i,
        Self: Sized,
    {
        Map::from_handles(
            items
                .into_iter()
                .map(|args| self.submit(task.clone(), args))
                .collect::<Vec<_>>(),
        )
    }

    /// [`map`](Executor::map) with at most `buffersize` tasks submitted and
    /// not yet yielded (Python 3.14's `map(..., buffersize=n)`): the next
    /// item is taken from `items` only as a result is read, so an endless
    /// input is fine and memory stays bounded. Dropping the iterator
    /// cancels the tasks it submitted that have not started.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::num::NonZeroUsize;
    /// use concurrent::{Executor, ThreadPoolExecutor};
    ///
    /// let ex = ThreadPoolExecutor::new(2);
    /// let mut squares = ex.map_buffered(|n: u64| n * n, (1..).map(|n| (n,)), NonZeroUsize::new(4).unwrap());
    /// assert_eq!(squares.next(), Some(Ok(1)));
    /// assert_eq!(squares.next(), Some(Ok(4)));
    /// ```
    fn map_buffered<'a, I>(
        &'a self,
        task: F,
        items: I,
        buffersize: NonZeroUsize,
    ) -> Map<'a, Args, Self::Output>
    where
        I: IntoIterator<Item = Args>,
        I::IntoIter: 'a,
        F: Clone + 'a,
        Args: 'a,
        Self: Sized,
    {
        Map::buffered(
            move |batch: Vec<Args>| {
                batch
                    .into_iter()
                    .map(|args| self.submit(task.clone(), args))
                    .collect()
            },
            items,
            1,
            buffersize,
        )
    }
}

/// Submits a batch of items, returning a handle (or an error) per item.
type SubmitBatch<'a, Args, R> = dyn FnMut(Vec<Args>) -> Vec<Result<TaskHandle<R>, TaskError>> + 'a;

/// The iterator of [`Executor::map`] and [`Executor::map_buffered`]:
/// results in input order.
pub struct Map<'a, Args, R> {
    /// Submits a batch of items (one, except for a chunked process-pool
    /// map), returning a handle per item. A no-op once everything is in.
    submit: Box<SubmitBatch<'a, Args, R>>,
    batch: usize,
    items: Box<dyn Iterator<Item = Args> + 'a>,
    /// Submitted tasks, oldest first: the next result is always the front.
    in_flight: VecDeque<Result<TaskHandle<R>, TaskError>>,
    /// `Some(n)`: at most `n` tasks submitted and not yet yielded, the rest
    /// cancelled when the map is dropped. `None`: every item was submitted
    /// at the start and runs whatever happens to the map.
    buffersize: Option<usize>,
    deadline: Option<Instant>,
    /// Set after a timeout: submit nothing more.
    stopped: bool,
    /// Set at the first `next()`: from then on, dropping the map cancels
    /// what has not started, even for an eager map (Python's generator has
    /// entered its `try`, whose `finally` cancels the futures left).
    started: bool,
}

impl<'a, Args: 'a, R: 'a> Map<'a, Args, R> {
    /// A map whose every task is already submitted: it yields their results
    /// in order. Executors use it to implement [`Executor::map`].
    pub fn from_handles(
        handles: impl IntoIterator<Item = Result<TaskHandle<R>, TaskError>>,
    ) -> Map<'a, Args, R> {
        Map {
            submit: Box::new(|_| Vec::new()),
            batch: 1,
            items: Box::new(std::iter::empty()),
            in_flight: handles.into_iter().collect(),
            buffersize: None,
            deadline: None,
            stopped: false,
            started: false,
        }
    }

    /// A map that submits `batch` items at a time through `submit` (which
    /// returns one handle per item: the process pool sends a whole batch,
    /// Python's `chunksize`, in one message), keeping at most `buffersize`
    /// tasks (at least one batch) submitted and not yet yielded.
    pub fn buffered(
        submit: impl FnMut(Vec<Args>) -> Vec<Result<TaskHandle<R>, TaskError>> + 'a,
        items: impl IntoIterator<Item = Args, IntoIter: 'a>,
        batch: usize,
        buffersize: NonZeroUsize,
    ) -> Map<'a, Args, R> {
        let batch = batch.max(1);
        let mut map = Map {
            submit: Box::new(submit),
            batch,
            items: Box::new(items.into_iter()),
            in_flight: VecDeque::new(),
            buffersize: Some(buffersize.get().max(batch)),
            deadline: None,
            stopped: false,
            started: false,
        };
        // Start work now, as Python's map does, not at the first `next()`.
        map.top_up();
        map
    }

    /// Gives up waiting once `timeout` has passed since this call: the
    /// next result not ready by then is [`TaskError::TimedOut`], every task
    /// not yet yielded is cancelled, and the iteration ends (Python's
    /// `map(timeout=...)`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline = crate::deadline_after(timeout);
        self
    }

    fn top_up(&mut self) {
        let Some(limit) = self.buffersize else {
            return;
        };
        // `limit` is at least one batch, so an empty map always submits.
        while !self.stopped && self.in_flight.len() + self.batch <= limit {
            let batch: Vec<Args> = self.items.by_ref().take(self.batch).collect();
            if batch.is_empty() {
                break;
            }
            let handles = (self.submit)(batch);
            self.in_flight.extend(handles);
        }
    }
}

impl<'a, Args: 'a, R: 'a> Iterator for Map<'a, Args, R> {
    type Item = Result<R, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.started = true;
        let next = self.in_flight.pop_front()?;
        self.top_up();
        let handle = match next {
            Ok(handle) => handle,
            Err(error) => return Some(Err(error)),
        };
        let Some(deadline) = self.deadline else {
            return Some(handle.into_result());
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if handle.wait_done(remaining) {
            Some(handle.into_result())
        } else {
            // Python raises TimeoutError out of the iterator: the map is over.
            self.stopped = true;
            for pending in self.in_flight.drain(..).flatten() {
                pending.cancel();
            }
            handle.cancel();
            Some(Err(TaskError::TimedOut))
        }
    }
}

impl<Args, R> Drop for Map<'_, Args, R> {
    fn drop(&mut self) {
        // Results nobody will read: do not run what has not started. An
        // eager map never read runs on, as in Python (whose generator
        // never entered the `try` that cancels).
        if self.buffersize.is_some() || self.started {
            for handle in self.in_flight.drain(..).flatten() {
                handle.cancel();
            }
        }
    }
}
