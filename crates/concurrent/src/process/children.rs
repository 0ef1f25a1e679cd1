//! The worker processes themselves: started (the program run again, with
//! a socket to connect back on), retired, reaped, and their ends described.

use std::collections::VecDeque;
use std::io::{BufReader, BufWriter};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::WORKER_SOCKET_ENV;
use super::manager::Worker;
use super::pool::Launch;
use super::protocol::Outcome;

/// How long a new worker may take to connect before it is given up on.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a worker process could not be made ready; its message is the
/// broken pool's reason.
#[derive(Debug, thiserror::Error)]
pub(super) enum StartError {
    #[error("cannot listen on {path}: {source}")]
    Listen {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start a worker process ({program}): {source}")]
    Spawn {
        program: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot accept a worker: {0}")]
    Accept(#[source] std::io::Error),
    #[error(
        "a worker process {0} before connecting: does main() call concurrent::serve_if_worker() first \
         (in a test file: process_worker_entry!())?"
    )]
    ExitedBeforeConnecting(String),
    #[error("a worker process did not connect within {CONNECT_TIMEOUT:?}")]
    NeverConnected,
    #[error("cannot read from a worker: {0}")]
    Read(#[source] std::io::Error),
    #[error("the initializer {task} failed: {message}")]
    Initializer { task: &'static str, message: String },
    #[error("cannot set the task deadline: {0}")]
    Deadline(#[source] std::io::Error),
}

/// How the process in `slot` ended, if it has (and then it is reaped).
pub(super) fn exited(slot: &Mutex<Option<Child>>) -> Option<ExitStatus> {
    let mut slot = slot.lock();
    let status = slot.as_mut()?.try_wait().ok().flatten()?;
    slot.take();
    Some(status)
}

/// Starts a worker process and waits for it to connect (and initialise).
pub(super) fn start_worker(
    launch: &Launch,
    slot: &Mutex<Option<Child>>,
) -> Result<Worker, StartError> {
    static NEXT_SOCKET: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "concurrent-pool-{}-{}.sock",
        std::process::id(),
        NEXT_SOCKET.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(|source| StartError::Listen {
        path: path.clone(),
        source,
    })?;
    let spawned = Command::new(&launch.program)
        .args(&launch.args)
        .env(WORKER_SOCKET_ENV, &path)
        .stdin(Stdio::null())
        // The test harness in a test binary talks on stdout; keep it quiet.
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn();
    let child = match spawned {
        Ok(child) => child,
        Err(error) => {
            let _ = std::fs::remove_file(&path);
            return Err(StartError::Spawn {
                program: launch.program.clone(),
                source: error,
            });
        }
    };
    *slot.lock() = Some(child);
    let connected = accept_from(&listener, slot);
    let _ = std::fs::remove_file(&path);
    let stream = connected?;
    let reading = stream.try_clone().map_err(StartError::Read)?;
    let mut worker = Worker {
        input: BufReader::new(reading),
        output: BufWriter::new(stream),
        calls_sent: 0,
        in_flight: VecDeque::new(),
        last_answer: Instant::now(),
        last_job_time: None,
        answers: Vec::new(),
        answer_ends: Vec::new(),
    };
    if let Some((task, args)) = &launch.initializer {
        let answer = worker
            .send(task, args)
            .and_then(|()| worker.read_answers(1))
            .and_then(|()| worker.answer(0));
        let failed = match answer {
            Ok(Outcome::Ok(_)) => None,
            Ok(Outcome::Panicked(message) | Outcome::Failed(message)) => Some(message),
            Err(error) => Some(error.to_string()),
        };
        if let Some(message) = failed {
            retire(Some(worker), slot);
            return Err(StartError::Initializer { task, message });
        }
    }
    // After the initializer, which may take its time: the deadline is a
    // task's. A read that waits longer fails, and the manager kills it.
    if let Some(deadline) = launch.task_deadline {
        worker
            .input
            .get_ref()
            .set_read_timeout(Some(deadline.max(Duration::from_millis(1))))
            .map_err(StartError::Deadline)?;
    }
    Ok(worker)
}

/// Waits for the child in `slot` to connect, noticing if it exits first.
pub(super) fn accept_from(
    listener: &UnixListener,
    slot: &Mutex<Option<Child>>,
) -> Result<UnixStream, StartError> {
    listener.set_nonblocking(true).map_err(StartError::Accept)?;
    let started = Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).map_err(StartError::Accept)?;
                return Ok(stream);
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(StartError::Accept(error)),
        }
        let exited = slot
            .lock()
            .as_mut()
            .and_then(|child| child.try_wait().ok().flatten());
        if let Some(status) = exited {
            slot.lock().take();
            return Err(StartError::ExitedBeforeConnecting(describe(status)));
        }
        if started.elapsed() > CONNECT_TIMEOUT {
            let _ = reap_after_kill(slot);
            return Err(StartError::NeverConnected);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// How long a retired worker may take to exit before it is killed.
pub(super) const RETIRE_GRACE: Duration = Duration::from_secs(5);

/// Ends a worker politely: closing the connection tells it to exit. One
/// that does not (stopped with SIGSTOP, or stuck) is killed after
/// [`RETIRE_GRACE`], so that a shutdown never waits on it forever.
pub(super) fn retire(worker: Option<Worker>, slot: &Mutex<Option<Child>>) {
    drop(worker);
    let started = std::time::Instant::now();
    while started.elapsed() < RETIRE_GRACE {
        let exited = slot.lock().as_mut().map(Child::try_wait);
        match exited {
            None | Some(Ok(Some(_)) | Err(_)) => {
                slot.lock().take();
                return;
            }
            Some(Ok(None)) => {}
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = reap_after_kill(slot);
}

/// Waits for the process in `slot` to end; its exit status.
pub(super) fn reap(slot: &Mutex<Option<Child>>) -> Option<ExitStatus> {
    let mut child = slot.lock().take()?;
    child.wait().ok()
}

pub(super) fn reap_after_kill(slot: &Mutex<Option<Child>>) -> Option<ExitStatus> {
    if let Some(child) = slot.lock().as_mut() {
        let _ = child.kill();
    }
    reap(slot)
}

/// "was killed by signal 9 (SIGKILL)", "exited with code 3".
pub(super) fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => {
            let name = match signal {
                6 => " (SIGABRT: the process aborted)",
                9 => " (SIGKILL: killed by a person, a supervisor or the out-of-memory killer)",
                11 => " (SIGSEGV)",
                15 => " (SIGTERM)",
                _ => "",
            };
            format!("was killed by signal {signal}{name}")
        }
        _ => format!("ended ({status})"),
    }
}
