//! The worker's side: connect to the parent, run what it asks, answer,
//! and exit when the parent closes the connection (or dies).

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};

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

fn serve(mut stream: UnixStream) -> i32 {
    let registry: HashMap<&str, RemoteFn> = inventory::iter::<Registration>
        .into_iter()
        .map(|r| (r.name, r.run))
        .collect();
    loop {
        let frame = match read_frame(&mut stream) {
            Ok(Some(frame)) => frame,
            // The parent closed the connection, or died: our work is done.
            Ok(None) | Err(_) => return 0,
        };
        let Ok(request) = serde_json::from_slice::<Request<'_>>(&frame) else {
            eprintln!("concurrent: worker received a malformed request");
            return 4;
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
            if write_frame(&mut stream, &frame).is_err() {
                return 0;
            }
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
