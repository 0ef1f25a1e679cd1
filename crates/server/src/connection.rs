//! One client connection: what it is doing, and the limits that apply to
//! it while it does it.
//!
//! hyper's own `header_read_timeout` runs whenever hyper waits for a request
//! head, and that includes the wait between two requests on a kept-alive
//! connection: an `http.client` connection reused after 11 s idle was found
//! closed. Two different limits are wanted instead:
//!
//! - a request whose head has started must finish it within
//!   [`Limits::head`] of its first byte (a "slowloris" client that trickles
//!   its headers forever must not hold a connection);
//! - a connection between requests may stay open for [`Limits::idle`]
//!   (without limit unless set), so a learner pausing in a notebook for
//!   any time finds it still there, and it is the first to go when the
//!   server needs room ([`Registry::shed_oldest_idle`]).
//!
//! To tell the two apart, [`Watched`] notes when the first byte of a head
//! arrives and the service notes when a request starts and ends; all of it
//! in [`Activity`], a few relaxed atomics per request. [`drive`] polls the
//! hyper connection beside one timer, which it moves only when it fires,
//! so the timer costs nothing per request.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::memory::{self, StormWatch};

/// The time limits of a connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// From the first byte of a request head to its end.
    pub(crate) head: Duration,
    /// Between two requests (`Duration::MAX`, or any span that overflows
    /// the clock: no limit).
    pub(crate) idle: Duration,
}

const IDLE: u8 = 0;
const HEAD: u8 = 1;
const BUSY: u8 = 2;

/// What a connection is doing, shared by its socket wrapper, its service
/// and the registry (which looks for idle connections to shed).
pub(crate) struct Activity {
    /// `IDLE`, `HEAD` (a request head is arriving) or `BUSY` (a request is
    /// being answered).
    phase: AtomicU8,
    /// When the phase began, in milliseconds since `epoch`.
    since: AtomicU64,
    /// Bytes arrived while busy: a pipelined request has begun.
    more: AtomicBool,
    epoch: Instant,
    /// Asks the connection to close (idle now, or after its answer).
    close: Notify,
    /// Close with a TCP reset rather than a clean FIN (`--reset-rate`).
    reset: AtomicBool,
}

impl Activity {
    pub(crate) fn new(epoch: Instant) -> Activity {
        let activity = Activity {
            phase: AtomicU8::new(IDLE),
            since: AtomicU64::new(0),
            more: AtomicBool::new(false),
            epoch,
            close: Notify::new(),
            reset: AtomicBool::new(false),
        };
        activity.enter(IDLE);
        activity
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn enter(&self, phase: u8) {
        self.since.store(self.now(), Ordering::Relaxed);
        self.phase.store(phase, Ordering::Relaxed);
    }

    /// Bytes came in from the client.
    fn received(&self) {
        match self.phase.load(Ordering::Relaxed) {
            IDLE => self.enter(HEAD),
            BUSY => self.more.store(true, Ordering::Relaxed),
            _ => {}
        }
    }

    /// A complete request head was read: the request is being answered.
    pub(crate) fn request_started(&self) {
        self.phase.store(BUSY, Ordering::Relaxed);
    }

    /// The answer is ready. If more bytes came in meanwhile, the next head
    /// has begun (its clock starts now).
    pub(crate) fn request_finished(&self) {
        let next = if self.more.swap(false, Ordering::Relaxed) {
            HEAD
        } else {
            IDLE
        };
        self.enter(next);
    }

    /// When the connection closes, reset it (RST) instead of closing it.
    pub(crate) fn reset_when_closed(&self) {
        self.reset.store(true, Ordering::Relaxed);
    }

    fn is_idle(&self) -> bool {
        self.phase.load(Ordering::Relaxed) == IDLE
    }

    /// What the deadline check found.
    fn check(&self, limits: Limits) -> Check {
        let since = self.epoch + Duration::from_millis(self.since.load(Ordering::Relaxed));
        let now = Instant::now();
        // Whatever the phase, look again within one head limit, so a head
        // that starts after a long idle spell is still caught in time.
        let soon = now + limits.head;
        match self.phase.load(Ordering::Relaxed) {
            HEAD if since + limits.head <= now => Check::HeadTooSlow,
            HEAD => Check::Until(since + limits.head),
            IDLE => match since.checked_add(limits.idle) {
                Some(deadline) if deadline <= now => Check::IdleTooLong,
                Some(deadline) => Check::Until(deadline.min(soon)),
                None => Check::Until(soon),
            },
            _ => Check::Until(soon),
        }
    }
}

enum Check {
    HeadTooSlow,
    IdleTooLong,
    Until(Instant),
}

/// A socket that tells its [`Activity`] when bytes arrive, and closes with
/// a reset when the activity asks for one.
pub(crate) struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl Watched {
    pub(crate) fn new(stream: TcpStream, activity: Arc<Activity>) -> Watched {
        Watched { stream, activity }
    }

    fn resetting(&self) -> bool {
        self.activity.reset.load(Ordering::Relaxed)
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if self.resetting() {
            // A zero linger makes close() send RST instead of FIN. (Tokio
            // warns that a linger blocks on drop; a zero one never does.)
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.received();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.resetting() {
            // No FIN first: the drop resets the connection.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A hyper connection that can be asked to finish its current request and
/// close.
pub(crate) trait GracefulConnection: Future<Output = hyper::Result<()>> {
    fn close_gracefully(self: Pin<&mut Self>);
}

impl<I, S> GracefulConnection for hyper::server::conn::http1::Connection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: hyper::body::Body + 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn close_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// How a connection ended, for the debug log.
#[derive(Debug)]
pub(crate) enum Ended {
    /// The client closed it, or it was closed on request, cleanly.
    Closed,
    /// hyper reported an error (a malformed request, a reset...).
    Error(hyper::Error),
    /// A request head took longer than [`Limits::head`].
    HeadTimedOut,
}

/// Runs `connection` to its end under `limits`; closes it gracefully when
/// idle too long or when its [`Activity`] is asked to close.
pub(crate) async fn drive<C: GracefulConnection>(
    connection: C,
    activity: &Activity,
    limits: Limits,
) -> Ended {
    tokio::pin!(connection);
    let timer = tokio::time::sleep(limits.head.min(limits.idle));
    tokio::pin!(timer);
    let mut closing = false;
    loop {
        tokio::select! {
            biased;
            ended = connection.as_mut() => {
                return match ended {
                    Ok(()) => Ended::Closed,
                    Err(error) => Ended::Error(error),
                };
            }
            () = timer.as_mut() => match activity.check(limits) {
                // Dropping the connection closes the socket.
                Check::HeadTooSlow => return Ended::HeadTimedOut,
                Check::IdleTooLong => {
                    if !std::mem::replace(&mut closing, true) {
                        connection.as_mut().close_gracefully();
                    }
                    timer.as_mut().reset(Instant::now() + limits.head);
                }
                Check::Until(deadline) => timer.as_mut().reset(deadline),
            },
            () = activity.close.notified(), if !closing => {
                closing = true;
                connection.as_mut().close_gracefully();
            }
        }
    }
}

/// The open connections, oldest first, so the server can find idle ones
/// to close when it runs short of file descriptors, and ask all of them
/// to close when it stops.
#[derive(Default)]
pub(crate) struct Registry {
    open: Mutex<BTreeMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
    storms: StormWatch,
}

impl Registry {
    /// Adds a connection; the id removes it again.
    pub(crate) fn insert(&self, activity: Arc<Activity>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut open = self.open.lock();
        open.insert(id, activity);
        self.storms.opened(open.len());
        id
    }

    /// Forgets a connection that has ended. After the last connections of
    /// a storm, gives the memory they used back to the operating system.
    pub(crate) fn remove(&self, id: u64) {
        let mut open = self.open.lock();
        open.remove(&id);
        if self.storms.closed(open.len()) {
            tokio::task::spawn_blocking(memory::release_free_memory);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.open.lock().len()
    }

    /// Asks the connection idle the longest (the oldest idle one) to close,
    /// and forgets it. False when every connection is busy.
    pub(crate) fn shed_oldest_idle(&self) -> bool {
        let mut open = self.open.lock();
        let oldest_idle = open
            .iter()
            .filter(|(_, activity)| activity.is_idle())
            .min_by_key(|(_, activity)| activity.since.load(Ordering::Relaxed))
            .map(|(&id, _)| id);
        match oldest_idle.and_then(|id| open.remove(&id)) {
            Some(activity) => {
                activity.close.notify_one();
                true
            }
            None => false,
        }
    }

    /// Asks every connection to close after its current request.
    pub(crate) fn close_all(&self) {
        for activity in self.open.lock().values() {
            activity.close.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        head: Duration::from_secs(10),
        idle: Duration::from_secs(300),
    };

    #[tokio::test(start_paused = true)]
    async fn a_head_is_timed_from_its_first_byte_not_from_the_last_answer() {
        let activity = Activity::new(Instant::now());
        tokio::time::advance(Duration::from_secs(60)).await;
        // A minute idle is fine.
        assert!(matches!(activity.check(LIMITS), Check::Until(_)));
        activity.received();
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(matches!(activity.check(LIMITS), Check::Until(_)));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(matches!(activity.check(LIMITS), Check::HeadTooSlow));
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_resets_the_clock_and_pipelined_bytes_start_the_next() {
        let activity = Activity::new(Instant::now());
        activity.received();
        activity.request_started();
        tokio::time::advance(Duration::from_secs(30)).await;
        // A long answer (--sleep) is not a slow head.
        assert!(matches!(activity.check(LIMITS), Check::Until(_)));
        activity.received(); // the next request, pipelined
        activity.request_finished();
        assert!(!activity.is_idle());
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(matches!(activity.check(LIMITS), Check::HeadTooSlow));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_lasts_the_idle_limit() {
        let activity = Activity::new(Instant::now());
        tokio::time::advance(Duration::from_secs(299)).await;
        assert!(matches!(activity.check(LIMITS), Check::Until(_)));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(matches!(activity.check(LIMITS), Check::IdleTooLong));
    }

    #[tokio::test(start_paused = true)]
    async fn without_an_idle_limit_an_idle_connection_stays_however_long() {
        let unlimited = Limits {
            idle: Duration::MAX,
            ..LIMITS
        };
        let activity = Activity::new(Instant::now());
        for _ in 0..48 {
            tokio::time::advance(Duration::from_secs(3600)).await;
            assert!(matches!(activity.check(unlimited), Check::Until(_)));
        }
        // A head that starts after two days idle is still timed.
        activity.received();
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(matches!(activity.check(unlimited), Check::HeadTooSlow));
    }

    #[test]
    fn the_oldest_idle_connection_is_shed_first() {
        let registry = Registry::default();
        let epoch = Instant::now();
        let busy = Arc::new(Activity::new(epoch));
        busy.request_started();
        let older = Arc::new(Activity::new(epoch));
        older.since.store(1, Ordering::Relaxed);
        let newer = Arc::new(Activity::new(epoch));
        newer.since.store(5, Ordering::Relaxed);
        registry.insert(busy);
        registry.insert(newer.clone());
        registry.insert(older.clone());
        assert!(registry.shed_oldest_idle());
        assert_eq!(registry.len(), 2);
        assert!(registry.shed_oldest_idle());
        assert!(!registry.shed_oldest_idle(), "the busy one stays");
        assert_eq!(registry.len(), 1);
    }
}
