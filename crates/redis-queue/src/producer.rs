//! One producer per queue: the lock a job's creator holds, so that a
//! second [`RedisQueue::create`](crate::RedisQueue::create) on the same
//! name, which would wipe the first job from under it, is refused and
//! says who holds it.
//!
//! The lock is a key, `NAME:producer`, holding the creator's consumer
//! name (host, process id, ...) with a lease, as workers hold entries:
//! the keeper renews it every third of the job's lease. A producer that
//! dies stops renewing, and its lock lapses one lease later, so that a
//! resumed job takes over; a holder on this machine whose process is gone
//! is taken over at once. A Redis that lost its data lost the lock too:
//! the holder takes it again on its next renewal.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::QueueError;
use crate::connections::Connections;
use crate::scripts;

/// Who holds a queue's producer lock, as a refused producer is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The holder's host name.
    pub host: String,
    /// Its process id on that host.
    pub pid: u32,
    /// How long until its lock lapses if it stops renewing it (it renews
    /// it while it lives).
    pub lapses_in: Duration,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "process {} on {}", self.pid, self.host)
    }
}

impl Holder {
    /// Reads a consumer name, `HOST:PID:MILLIS:N`.
    fn parse(name: &str, lapses_in: Duration) -> Holder {
        let mut parts = name.rsplitn(4, ':').skip(2);
        let pid = parts.next().and_then(|pid| pid.parse().ok()).unwrap_or(0);
        let host = parts.next().unwrap_or(name).to_owned();
        Holder {
            host,
            pid,
            lapses_in,
        }
    }

    /// Whether the holder is a process of this machine that is gone (it
    /// cannot renew its lock, so waiting for the lock to lapse is
    /// pointless). Without `/proc`, nothing can be told: `false`.
    fn is_gone_from(&self, this_host: &str) -> bool {
        self.host == this_host
            && self.pid != 0
            && std::path::Path::new("/proc/self").exists()
            && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

/// A queue's producer lock, held.
pub(crate) struct ProducerLock {
    key: String,
    /// This process's consumer name: the lock's value.
    holder: String,
    lease_ms: u64,
    /// Set when a renewal found another producer holding the lock.
    usurper: Mutex<Option<Holder>>,
    /// Set once the lock is let go: it is not renewed (taken) again.
    released: AtomicBool,
}

impl ProducerLock {
    /// Takes the lock `key` for `holder`, or says who holds it.
    ///
    /// # Errors
    ///
    /// [`QueueError::Held`] when another live producer holds it,
    /// [`QueueError::Redis`].
    pub(crate) fn take(
        connections: &Connections,
        key: String,
        holder: String,
        lease_ms: u64,
    ) -> Result<ProducerLock, QueueError> {
        let lock = ProducerLock {
            key,
            holder,
            lease_ms: lease_ms.max(1),
            usurper: Mutex::new(None),
            released: AtomicBool::new(false),
        };
        let Some(other) = lock.claim(connections, "")? else {
            return Ok(lock);
        };
        let this_host = Holder::parse(&lock.holder, Duration::ZERO).host;
        if other.is_gone_from(&this_host) {
            let name = lock.current(connections)?;
            if let Some(still) = lock.claim(connections, &name)? {
                return Err(QueueError::Held(still));
            }
            tracing::info!("took over the queue's producer lock from {other}, which is gone");
            return Ok(lock);
        }
        Err(QueueError::Held(other))
    }

    /// Renews the lock (or takes it again, if Redis lost it).
    ///
    /// # Errors
    ///
    /// [`QueueError::Held`] when another producer has it now (this one
    /// could not renew it for a whole lease), [`QueueError::Redis`].
    pub(crate) fn renew(&self, connections: &Connections) -> Result<(), QueueError> {
        if self.released.load(Ordering::Relaxed) {
            return Ok(());
        }
        if let Some(other) = self.usurper.lock().clone() {
            return Err(QueueError::Held(other));
        }
        match self.claim(connections, "")? {
            None => Ok(()),
            Some(other) => {
                *self.usurper.lock() = Some(other.clone());
                Err(QueueError::Held(other))
            }
        }
    }

    /// Lets the lock go, if this process still holds it.
    pub(crate) fn release(&self, connections: &Connections) -> Result<(), QueueError> {
        self.released.store(true, Ordering::Relaxed);
        connections.run("release the producer lock", |connection| {
            scripts::UNLOCK
                .key(&self.key)
                .arg(&self.holder)
                .invoke::<()>(connection)
        })
    }

    /// Sets the lock to this holder when it is free, already this
    /// holder's, or `replaceable`'s; else returns who holds it.
    fn claim(
        &self,
        connections: &Connections,
        replaceable: &str,
    ) -> Result<Option<Holder>, QueueError> {
        let (other, pttl): (String, i64) =
            connections.run("take the producer lock", |connection| {
                scripts::LOCK
                    .key(&self.key)
                    .arg(&self.holder)
                    .arg(self.lease_ms)
                    .arg(replaceable)
                    .invoke(connection)
            })?;
        Ok((!other.is_empty()).then(|| {
            Holder::parse(
                &other,
                Duration::from_millis(u64::try_from(pttl).unwrap_or(0)),
            )
        }))
    }

    /// The lock's value as it is now (empty when free).
    fn current(&self, connections: &Connections) -> Result<String, QueueError> {
        let value: Option<String> = connections.run("read the producer lock", |connection| {
            redis::cmd("GET").arg(&self.key).query(connection)
        })?;
        Ok(value.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_read_from_a_consumer_name() {
        let holder = Holder::parse("box-1:4242:1700000000000:0", Duration::from_secs(9));
        assert_eq!(holder.host, "box-1");
        assert_eq!(holder.pid, 4242);
        assert_eq!(holder.to_string(), "process 4242 on box-1");
    }

    #[test]
    fn only_a_process_of_this_machine_can_be_known_gone() {
        let alive = Holder::parse(&format!("here:{}:1:0", std::process::id()), Duration::ZERO);
        assert!(!alive.is_gone_from("here"));
        let elsewhere = Holder::parse("there:4294967:1:0", Duration::ZERO);
        assert!(!elsewhere.is_gone_from("here"));
        let gone = Holder::parse("here:4294967:1:0", Duration::ZERO);
        assert!(gone.is_gone_from("here"));
    }
}
