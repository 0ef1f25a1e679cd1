//! `crypto_db worker`: takes a `fetch --queue` job's tasks from Redis and
//! answers them, on any machine, as many as you start. Flags in, the
//! client crate's `work`, a summary out; SIGTERM or Ctrl-C stops it
//! cleanly.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use client::fetch::{self, RunOn, WorkerOptions};
use redis_queue::QueueAddress;

use crate::fetch::ClientArgs;

#[derive(Args)]
pub struct WorkerArgs {
    /// The job's queue, as `crypto_db fetch --queue` names it.
    #[arg(long, value_name = "redis://HOST:PORT/NAME", value_parser = crate::Unechoed(str::parse::<QueueAddress>))]
    queue: QueueAddress,
    #[command(flatten)]
    client: ClientArgs,
    /// Tasks at a time.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    workers: u32,
    /// Where the requests run: a thread pool, or async tasks.
    #[arg(long, default_value = "threads", value_name = "threads|async", value_parser = crate::Unechoed(worker_place))]
    executor: RunOn,
}

/// `--executor` of a worker: the one switch, narrowed to what a worker
/// runs its tasks on.
fn worker_place(text: &str) -> anyhow::Result<RunOn> {
    match text.parse()? {
        place @ (RunOn::Threads | RunOn::Async) => Ok(place),
        other => anyhow::bail!("a worker runs its tasks on threads or async, not on {other}"),
    }
}

/// Serves the job until it is over or a signal stops it; `Ok(false)` when
/// the queue failed (Redis gone for good), already said.
pub fn run(args: WorkerArgs) -> anyhow::Result<bool> {
    let options = WorkerOptions {
        queue: args.queue,
        client: args.client.config(),
        run_on: args.executor,
        workers: args.workers as usize,
    };
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signal(Arc::clone(&stop))?;
    say!(
        "crypto_db: worker: serving {} with {} {} against {} (Ctrl-C or SIGTERM stops: running tasks finish, the rest go back)",
        options.queue,
        options.workers,
        match options.run_on {
            RunOn::Async => "async tasks",
            _ => "threads",
        },
        options.client.base_url
    );
    match fetch::work(&options, stop) {
        Ok(report) => {
            say!(
                "crypto_db: worker: {} tasks answered ({} with a failure), {} given back",
                report.answered,
                report.failed,
                report.released
            );
            let Some(why) = &report.stopped_in_outage else {
                return Ok(true);
            };
            say!(
                "crypto_db: worker: stopped while Redis could not be reached ({why}): {} taken could not be given back{}",
                match report.not_released {
                    1 => "1 task".to_owned(),
                    n => format!("{n} tasks"),
                },
                if report.not_released > 0 {
                    format!(
                        "; other workers take them over when their lease ({} s) lapses",
                        report.lease.as_secs_f64().ceil()
                    )
                } else {
                    String::new()
                }
            );
            Ok(report.not_released == 0)
        }
        Err(error) => {
            say!("crypto_db: worker: {}", crate::fetch::with_causes(&error));
            Ok(false)
        }
    }
}

/// Sets `stop` on the first SIGTERM or Ctrl-C; a second one ends the
/// process at once (its tasks are taken over when their lease lapses).
fn stop_on_signal(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let first = {
        let _inside = runtime.enter();
        crate::shutdown_signal()?
    };
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            runtime.block_on(async {
                first.await;
                stop.store(true, Ordering::Relaxed);
                say!(
                    "crypto_db: worker: stopping: running tasks finish, taken ones go back (again to stop at once)"
                );
                // Made after the first signal, so it waits for the next.
                if let Ok(second) = crate::shutdown_signal() {
                    second.await;
                    say!(
                        "crypto_db: worker: stopped at once; other workers take over its tasks when their lease lapses"
                    );
                    std::process::exit(130);
                }
            });
        })?;
    Ok(())
}
