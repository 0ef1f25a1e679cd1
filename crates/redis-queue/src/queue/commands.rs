//! The Redis commands behind the queue, one method each: what a get,
//! a bury, a renewal or a status costs on the wire.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis::streams::{StreamId, StreamReadReply};

use super::{DEAD_LETTERS_KEPT, GRACEFUL, GROUP, IMMEDIATE, Inner, OPEN};
use crate::{QueueError, scripts};

/// The queue's state, as the status script reports it.
pub(super) struct Status {
    pub(super) unread: u64,
    pub(super) pending: u64,
    pub(super) flag: u8,
}

impl Inner {
    /// Creates the group (and the stream) if they are missing: a new
    /// queue, or one whose job was restarted under a reader's feet.
    pub(super) fn ensure_group(&self) -> Result<(), QueueError> {
        let created = self.connections.run("create the group", |connection| {
            create_group(&self.name).query::<()>(connection)
        });
        match created {
            Err(QueueError::Redis { source, .. }) if source.code() == Some("BUSYGROUP") => Ok(()),
            other => other,
        }
    }

    /// Reads up to `count` new entries, blocking at most `block` for the
    /// first; each with its delivery count (1: they are new).
    pub(super) fn read_new(
        &self,
        block: Duration,
        count: usize,
    ) -> Result<Vec<(StreamId, u32)>, QueueError> {
        let block_ms = block.as_millis();
        let read = self.connections.run("read", |connection| {
            let mut command = redis::cmd("XREADGROUP");
            command
                .arg("GROUP")
                .arg(GROUP)
                .arg(&self.consumer)
                .arg("COUNT")
                .arg(count);
            // BLOCK 0 would wait forever: a zero wait is no BLOCK at all.
            if block_ms > 0 {
                command.arg("BLOCK").arg(block_ms as u64);
            }
            command
                .arg("STREAMS")
                .arg(&self.name)
                .arg(">")
                .query::<Option<StreamReadReply>>(connection)
        });
        match read {
            Ok(reply) => Ok(reply
                .into_iter()
                .flat_map(|reply| reply.keys)
                .flat_map(|key| key.ids)
                .map(|entry| (entry, 1))
                .collect()),
            // The job was restarted (its stream deleted and made anew)
            // while we waited: read the new one.
            Err(QueueError::Redis { source, .. }) if source.code() == Some("UNBLOCKED") => {
                Ok(Vec::new())
            }
            // No job here: it ended, or Redis lost it. Wait for it to come
            // back (its producer puts it back) rather than make an empty
            // one that nobody would remove.
            Err(error) if is_no_group(&error) => {
                std::thread::sleep(block.max(Duration::from_millis(10)));
                Ok(Vec::new())
            }
            Err(error) => Err(error),
        }
    }

    /// How many times entry `id` has been delivered (XPENDING's count).
    pub(super) fn deliveries(&self, id: &str) -> Result<u32, QueueError> {
        let pending = self.connections.run("count deliveries", |connection| {
            redis::cmd("XPENDING")
                .arg(&self.name)
                .arg(GROUP)
                .arg(id)
                .arg(id)
                .arg(1)
                .query::<redis::streams::StreamPendingCountReply>(connection)
        });
        let reply = match pending {
            Err(error) if is_no_group(&error) => return Ok(1),
            other => other?,
        };
        Ok(reply.ids.first().map_or(1, |pending| {
            u32::try_from(pending.times_delivered).unwrap_or(u32::MAX)
        }))
    }

    /// Moves entry `id` to the dead-letter stream, and says so.
    pub(super) fn bury(
        &self,
        id: &str,
        raw: &str,
        deliveries: u32,
        reason: &str,
    ) -> Result<(), QueueError> {
        self.held.lock().remove(id);
        self.connections.run("bury", |connection| {
            scripts::BURY
                .key(&self.name)
                .key(&self.dead)
                .arg(GROUP)
                .arg(id)
                .arg(raw)
                .arg(deliveries)
                .arg(reason)
                .arg(&self.consumer)
                .arg(DEAD_LETTERS_KEPT)
                .invoke::<u64>(connection)
        })?;
        tracing::warn!(
            queue = %self.name,
            "entry {id} moved to the dead-letter stream {} ({reason}); see it with: redis-cli XRANGE {} - +",
            self.dead,
            self.dead,
        );
        Ok(())
    }

    pub(super) fn status(&self) -> Result<Status, QueueError> {
        let (unread, pending, flag): (u64, u64, Option<String>) =
            self.connections
                .run("read the queue's state", |connection| {
                    scripts::STATUS
                        .key(&self.name)
                        .key(&self.flag)
                        .arg(GROUP)
                        .invoke(connection)
                })?;
        let flag = match flag.as_deref() {
            Some("immediate") => IMMEDIATE,
            Some(_) => GRACEFUL,
            None => OPEN,
        };
        self.shutdown.store(flag, Ordering::Relaxed);
        Ok(Status {
            unread,
            pending,
            flag,
        })
    }

    pub(super) fn trim(&self) -> Result<u64, QueueError> {
        self.connections.run("trim", |connection| {
            scripts::TRIM.key(&self.name).arg(GROUP).invoke(connection)
        })
    }

    /// Renews the lease on `ids` (`idle_ms` 0) or gives them up (`idle_ms`
    /// the lease); returns those this process no longer holds.
    pub(super) fn renew(&self, ids: &[String], idle_ms: u64) -> Result<Vec<String>, QueueError> {
        self.connections.run("renew leases", |connection| {
            scripts::RENEW
                .key(&self.name)
                .arg(GROUP)
                .arg(&self.consumer)
                .arg(idle_ms)
                .arg(ids)
                .invoke(connection)
        })
    }

    pub(super) fn release(&self, ids: &[String]) -> Result<(), QueueError> {
        {
            let mut held = self.held.lock();
            for id in ids {
                held.remove(id);
            }
        }
        match self.renew(ids, self.lease_ms.load(Ordering::Relaxed)) {
            // The job is gone, and its entries with it: nothing to give back.
            Err(error) if is_no_group(&error) => Ok(()),
            other => other.map(drop),
        }
    }

    /// Reads the job's settings and the shutdown flag from Redis.
    pub(super) fn refresh(&self) -> Result<(), QueueError> {
        let (lease_ms, max_deliveries): (Option<u64>, Option<u32>) =
            self.connections
                .run("read the job's settings", |connection| {
                    redis::cmd("HMGET")
                        .arg(&self.settings_key)
                        .arg("lease_ms")
                        .arg("max_deliveries")
                        .query(connection)
                })?;
        if let Some(lease_ms) = lease_ms {
            self.lease_ms.store(lease_ms.max(1), Ordering::Relaxed);
        }
        if let Some(max) = max_deliveries {
            self.max_deliveries.store(max, Ordering::Relaxed);
        }
        self.status()?;
        Ok(())
    }
}

/// Whether Redis said that the stream or its group does not exist.
pub(super) fn is_no_group(error: &QueueError) -> bool {
    matches!(error, QueueError::Redis { source, .. } if source.code() == Some("NOGROUP"))
}

/// `XGROUP CREATE stream workers 0 MKSTREAM`: the job's one group, reading
/// from the start, made with the stream if that is missing.
pub(super) fn create_group(stream: &str) -> redis::Cmd {
    let mut command = redis::cmd("XGROUP");
    command
        .arg("CREATE")
        .arg(stream)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM");
    command
}

/// A name no other process shares: host, process id, the time in
/// milliseconds, and a number for each queue this process opens.
pub(super) fn consumer_name() -> String {
    static OPENED: AtomicUsize = AtomicUsize::new(0);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|host| host.trim().to_owned())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    format!(
        "{host}:{}:{started}:{}",
        std::process::id(),
        OPENED.fetch_add(1, Ordering::Relaxed)
    )
}
