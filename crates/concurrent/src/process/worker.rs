//! The worker's side: connect to the parent, run what it asks, answer,
//! and exit when the parent closes the connection (or dies).

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::protocol::{FAILED, OK, PANICKED, Request, push_message, read_message};
use super::{Registration, RemoteFn, WORKER_SOCKET_ENV};
use crate::handle::panic_message;

/// Turns this process into a worker if a [`ProcessPoolExecutor`] started
/// it, and never returns then; otherwise returns at once. Call it first
/// thing in `main` of any program that uses a process pool.
///
/// [`ProcessPoolExecutor`]: super::ProcessPoolExecutor
///
/// # Examples
///
/// ```no_run
/// concurrent::serve_if_worker();
/// // ... the program, which may use a ProcessPoolExecutor ...
/// ```
pub fn serve_if_worker() {
    let Some(socket) = std::env::var_os(WORKER_SOCKET_ENV) else {
        return;
    };
    let code = match UnixStream::connect(&socket) {
        Ok(stream) => serve(stream),
        Err(error) => {
            eprintln!(
                "concurrent: worker cannot reach its pool at {}: {error}",
                socket.to_string_lossy()
            );
            3
        }
    };
    std::process::exit(code);
}

/// Serves the parent until it closes the connection, on two threads: this
/// one reads requests and runs them, and a writer sends the outcomes.
/// Neither side can then block the other: the parent keeps a few requests
/// in flight and may block writing them until this thread reads, which it
/// always comes back to, because it never waits on the connection to
/// write (outcomes go to the writer through memory). The writer sends
/// whatever outcomes are ready in one system call: a burst of small
/// results is one write, while a result that is ready never waits for the
/// next task to finish.
fn serve(stream: UnixStream) -> i32 {
    let registry: HashMap<&str, RemoteFn> = inventory::iter::<Registration>
        .into_iter()
        .map(|r| (r.name, r.run))
        .collect();
    let Ok(reading) = stream.try_clone() else {
        eprintln!("concurrent: worker cannot read its connection");
        return 3;
    };
    let mut input = BufReader::new(reading);
    let outbox = Arc::new(Outbox::default());
    let writer = {
        let outbox = Arc::clone(&outbox);
        std::thread::spawn(move || outbox.write_all_to(stream))
    };
    let mut code = 0;
    let mut result = Vec::new();
    let mut frame = Vec::new();
    'requests: loop {
        if frame.capacity() > RESULT_KEPT {
            frame = Vec::new();
        }
        frame.clear();
        if !matches!(read_message(&mut input, &mut frame), Ok(true)) {
            // The parent closed the connection, or died: our work is done.
            break;
        }
        let Some(request) = Request::parse(&frame) else {
            eprintln!("concurrent: worker received a malformed request");
            code = 4;
            break;
        };
        let run = registry.get(request.task);
        for args in &request.calls {
            result.clear();
            let ran = match run {
                Some(run) => run_one(*run, args, &mut result),
                None => Err((FAILED, unknown_function(request.task))),
            };
            let delivered = match ran {
                Ok(()) => outbox.push(|frames| push_message(frames, &[&[OK], &result])),
                Err((tag, message)) => {
                    outbox.push(|frames| push_message(frames, &[&[tag], message.as_bytes()]))
                }
            };
            if result.capacity() > RESULT_KEPT {
                // One huge result must not pin its memory for the life of
                // the worker.
                result = Vec::new();
            }
            if !delivered {
                // The writer lost the connection: the parent is gone.
                break 'requests;
            }
        }
    }
    // Every outcome computed goes out before the process ends.
    outbox.close();
    let _ = writer.join();
    code
}

/// Outcome frames on their way from the thread that runs tasks to the
/// thread that writes them: one buffer, which the writer swaps out whole,
/// so that every outcome ready when it looks goes out in one system call,
/// and neither thread allocates per outcome.
#[derive(Default)]
struct Outbox {
    state: Mutex<Outgoing>,
    ready: Condvar,
}

#[derive(Default)]
struct Outgoing {
    frames: Vec<u8>,
    /// No more frames will come.
    closed: bool,
    /// The connection failed: the parent is gone.
    lost: bool,
    /// The writer sleeps until frames come (so only then is it woken).
    writer_waiting: bool,
}

impl Outbox {
    /// Appends a frame with `write`; `false` once the connection is lost.
    fn push(&self, write: impl FnOnce(&mut Vec<u8>)) -> bool {
        let mut state = self.state.lock();
        if state.lost {
            return false;
        }
        write(&mut state.frames);
        if std::mem::take(&mut state.writer_waiting) {
            self.ready.notify_one();
        }
        true
    }

    fn close(&self) {
        self.state.lock().closed = true;
        self.ready.notify_one();
    }

    /// The writer's loop: waits for frames and writes them, until the
    /// outbox is closed and empty or the connection fails.
    fn write_all_to(&self, mut stream: UnixStream) {
        let mut batch = Vec::new();
        loop {
            {
                let mut state = self.state.lock();
                while state.frames.is_empty() {
                    if state.closed {
                        return;
                    }
                    state.writer_waiting = true;
                    self.ready.wait(&mut state);
                }
                // The emptied buffer goes back, capacity and all.
                std::mem::swap(&mut batch, &mut state.frames);
            }
            if stream.write_all(&batch).is_err() {
                self.state.lock().lost = true;
                return;
            }
            batch.clear();
            if batch.capacity() > RESULT_KEPT {
                batch = Vec::new();
            }
        }
    }
}

/// Why a task naming `name` cannot run here.
pub(super) fn unknown_function(name: &str) -> String {
    format!("no function named {name} is registered in this program (declare it with remote_fn!)")
}

/// Results beyond this size do not keep their buffer for the next task.
const RESULT_KEPT: usize = 1 << 20;

/// Runs one call, its result encoded into `result`; else the outcome's
/// tag and message. A panic is the task's error, as on threads, and so is
/// a result that cannot be encoded: the worker lives on for the next task
/// either way.
pub(super) fn run_one(
    run: RemoteFn,
    args: &[u8],
    result: &mut Vec<u8>,
) -> Result<(), (u8, String)> {
    match catch_unwind(AssertUnwindSafe(|| run(args, result))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => Err((FAILED, message)),
        Err(panic) => Err((PANICKED, panic_message(&*panic))),
    }
}
