//! Where a fetch's results go: the one consumer at the end of the
//! pipeline.
//!
//! The sink owns the output: its lock, what `--resume` keeps of an
//! earlier run, the file the records are appended to as they come, and
//! the final sorted copy. It reads outcomes from the runner's channel on
//! the caller's thread, so the output's order and its errors are one
//! place's concern. It is also where the job is stopped: when a write
//! fails or the server is gone, the sink returns, dropping its receiver,
//! and the runner, finding nobody listening, stops. That is the only
//! cancellation signal in the pipeline.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::output::{self, Appender, Existing, Format, OutputLock};
use super::{FetchError, FetchReport, GaveUp, Output, Progress, Record, Task};
use crate::api::unix_micros;
use crate::fetch::runner::Outcome;
use crate::fetch::timeline::TaskSpan;

/// The file a run writes, while it runs.
struct File {
    path: PathBuf,
    format: Format,
    appender: Appender,
    /// Held until the sink is finished: one run per output file.
    _lock: OutputLock,
}

/// The consumer of a run's outcomes; see the module's documentation.
pub(crate) struct Sink {
    file: Option<File>,
    records: Vec<Record>,
    report: FetchReport,
    /// When the job started, on the wall clock (which the processes that
    /// run its tasks share), for the timeline's spans.
    started_unix_micros: u64,
    /// Whether to keep each task's span and tries.
    timeline: bool,
}

impl Sink {
    /// A sink that keeps the records in memory only (for the caller to
    /// print, or a sweep to measure).
    pub(crate) fn in_memory() -> Sink {
        Sink {
            file: None,
            records: Vec::new(),
            report: FetchReport::default(),
            started_unix_micros: 0,
            timeline: false,
        }
    }

    /// Keeps each task's span and tries ([`FetchReport::timeline`]).
    pub(crate) fn keep_timeline(&mut self) {
        self.timeline = true;
    }

    /// The job's clock starts: spans are measured from now.
    pub(crate) fn start_clock(&mut self) {
        self.started_unix_micros = unix_micros();
    }

    /// Opens `output` for a run of `tasks`: takes its lock, and with
    /// `--resume` keeps every record already there (this job's and any
    /// other's: resuming adds what is missing, it never deletes) and
    /// removes the tasks they answer from `tasks`.
    ///
    /// # Errors
    ///
    /// [`FetchError::UnknownExtension`], [`FetchError::Locked`], or a
    /// [`FetchError::Read`]/[`FetchError::Write`] of the file; nothing has
    /// been fetched yet.
    pub(crate) fn open(output: &Output, tasks: &mut Vec<Task>) -> Result<Sink, FetchError> {
        let format = Format::of(&output.path)?;
        // Before reading anything back or writing: one run per file.
        let lock = OutputLock::take(&output.path)?;
        let mut existing = Existing::default();
        if output.resume {
            existing = output::read_existing(&output.path, format)?;
            let answered: HashSet<&Task> = existing.records.iter().map(|r| &r.task).collect();
            tasks.retain(|task| !answered.contains(task));
        }
        let appender = Appender::start(&output.path, format, &existing)?;
        let Existing {
            records, cut_line, ..
        } = existing;
        Ok(Sink {
            file: Some(File {
                path: output.path.clone(),
                format,
                appender,
                _lock: lock,
            }),
            report: FetchReport {
                resumed: records.len(),
                cut_line,
                ..FetchReport::default()
            },
            records,
            started_unix_micros: 0,
            timeline: false,
        })
    }

    /// Takes outcomes until `total` have come, the runner ends, or the job
    /// must stop: `give_up_after` tasks in a row found no server there
    /// (then [`FetchReport::gave_up`] says so). Returning drops
    /// `outcomes`, which stops the runner.
    ///
    /// # Errors
    ///
    /// [`FetchError::Write`] when a record cannot be written; every record
    /// before it is in the file.
    pub(crate) fn take(
        &mut self,
        outcomes: Receiver<Outcome>,
        total: usize,
        give_up_after: usize,
        progress: &dyn Progress,
    ) -> Result<(), FetchError> {
        let report = &mut self.report;
        let mut unreachable_in_a_row = 0;
        for Outcome {
            task,
            result,
            latency,
            tries,
            started_unix_micros,
        } in outcomes.iter().take(total)
        {
            report.latencies.push(latency);
            if self.timeline {
                // Where the task ran said when it started; where it did
                // not, its answer's arrival less the time it took.
                let began = started_unix_micros.unwrap_or_else(|| {
                    let took = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                    unix_micros().saturating_sub(took)
                });
                let start = Duration::from_micros(began.saturating_sub(self.started_unix_micros));
                report.timeline.push(TaskSpan {
                    task: task.clone(),
                    start,
                    end: start + latency,
                    tries,
                    failed: result.is_err(),
                });
            }
            match &result {
                Err(error) if error.is_no_answer() => unreachable_in_a_row += 1,
                _ => unreachable_in_a_row = 0,
            }
            match result {
                Ok(price) => {
                    let record = Record { task, price };
                    if let Some(file) = self.file.as_mut() {
                        file.appender.append(&record)?;
                    }
                    self.records.push(record);
                    report.fetched += 1;
                    progress.advance(false);
                }
                Err(error) => {
                    report.failures.push((task, error.clone()));
                    progress.advance(true);
                    if unreachable_in_a_row >= give_up_after {
                        // The server is gone: stop rather than fail every
                        // task that is left, one timeout at a time.
                        let done = report.fetched + report.failures.len();
                        report.gave_up = Some(GaveUp {
                            in_a_row: unreachable_in_a_row,
                            error,
                            untried: total - done,
                        });
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Ends the run: sorts the records, writes the final sorted copy, and
    /// gives the report, with the fetching's wall time.
    ///
    /// When the sorted copy cannot be written (a full disk), the file the
    /// records were appended to is kept as it is: valid, complete, and
    /// resumable in place; [`FetchReport::unsorted`] names it and says why.
    pub(crate) fn finish(self, elapsed: Duration) -> FetchReport {
        let Sink {
            file,
            mut records,
            mut report,
            ..
        } = self;
        report.elapsed = elapsed;
        records.sort_by(|a, b| a.task.cmp(&b.task));
        report.failures.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(File {
            path,
            format,
            appender,
            _lock,
        }) = file
        {
            drop(appender);
            if let Err(error) = output::finish(&path, format, &records) {
                let holding = match format {
                    Format::Json => output::journal_path(&path),
                    _ => path,
                };
                report.unsorted = Some((holding, error));
            }
        }
        report.records = records;
        report
    }
}
