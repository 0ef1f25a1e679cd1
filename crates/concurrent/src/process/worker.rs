//! The worker's side: connect to the parent, run what it asks, answer,
//! and exit when the parent closes the connection (or dies).

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Write};
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crossbeam_channel::Receiver;
use serde_json::value::RawValue;

use super::protocol::{MAX_PAYLOAD, Outcome, Request, read_frame, too_large, write_frame};
use super::{Registration, WORKER_SOCKET_ENV};
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

/// A registered function: JSON arguments in, JSON result (or why not) out.
type RemoteFn = fn(&str) -> Result<String, String>;

/// Serves the parent until it closes the connection. Three threads, so
/// that neither side can block the other: one reads requests as they
/// come (the parent keeps a few in flight, and its writes must never wait
/// on this worker finishing a task), this one runs them, and one writes
/// the outcomes. The writer sends whatever outcomes are ready in one
/// system call: a burst of small results is one write, while a result
/// that is ready never waits for the next task to finish.
fn serve(stream: UnixStream) -> i32 {
    let registry: HashMap<&str, RemoteFn> = inventory::iter::<Registration>
        .into_iter()
        .map(|r| (r.name, r.run))
        .collect();
    let Ok(reading) = stream.try_clone() else {
        eprintln!("concurrent: worker cannot read its connection");
        return 3;
    };
    let (request_sender, requests) = crossbeam_channel::unbounded::<Vec<u8>>();
    let (outcome_sender, outcomes) = crossbeam_channel::unbounded::<Vec<u8>>();
    // Never joined: at the end of the stream it ends by itself, and when
    // this process exits first it is blocked in a read that no longer
    // matters.
    let _reader = std::thread::spawn(move || {
        let mut input = BufReader::new(reading);
        // The parent closed the connection, or died: the requests end.
        while let Ok(Some(frame)) = read_frame(&mut input) {
            if request_sender.send(frame).is_err() {
                break;
            }
        }
    });
    let writer = std::thread::spawn(move || write_outcomes(stream, &outcomes));
    let mut code = 0;
    'requests: for frame in requests {
        let Ok(request) = serde_json::from_slice::<Request<'_>>(&frame) else {
            eprintln!("concurrent: worker received a malformed request");
            code = 4;
            break;
        };
        for args in &request.calls {
            let outcome = match registry.get(request.task) {
                Some(run) => run_one(*run, args.get()),
                None => Outcome::Failed(format!(
                    "no function named {} is registered in this program (declare it with remote_fn!)",
                    request.task
                )),
            };
            let frame = serde_json::to_vec(&outcome).expect("an outcome always serialises");
            if outcome_sender.send(frame).is_err() {
                // The writer lost the connection: the parent is gone.
                break 'requests;
            }
        }
    }
    // Every outcome computed goes out before the process ends.
    drop(outcome_sender);
    let _ = writer.join();
    code
}

/// Writes outcomes until there are no more (or the parent is gone),
/// flushing whenever none is waiting.
fn write_outcomes(stream: UnixStream, outcomes: &Receiver<Vec<u8>>) {
    let mut output = BufWriter::new(stream);
    for frame in outcomes {
        let mut written = write_frame(&mut output, &frame);
        while let (Ok(()), Ok(frame)) = (&written, outcomes.try_recv()) {
            written = write_frame(&mut output, &frame);
        }
        if written.and_then(|()| output.flush()).is_err() {
            return;
        }
    }
}

/// Runs one call. A panic is the task's error, as on threads, and a result
/// too large to send is that task's error too: the worker lives on for the
/// next task either way.
fn run_one(run: RemoteFn, args: &str) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| run(args))) {
        Ok(Ok(json)) if json.len() > MAX_PAYLOAD => {
            Outcome::Failed(too_large("the result", json.len()))
        }
        Ok(Ok(json)) => match RawValue::from_string(json) {
            Ok(raw) => Outcome::Ok(raw),
            Err(error) => Outcome::Failed(format!("cannot write the result: {error}")),
        },
        Ok(Err(message)) => Outcome::Failed(message),
        Err(panic) => Outcome::Panicked(panic_message(&*panic)),
    }
}
