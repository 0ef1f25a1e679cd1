//! Where a queue lives: `redis://[user:password@]host:port/NAME`.
//!
//! The path names the queue (the stream's key), not a database number as
//! it would for the `redis` crate: one URL says both which server and
//! which job, so a worker on another machine needs one flag.

use std::fmt;
use std::str::FromStr;

use crate::QueueError;

/// A queue's server and name, parsed from `redis://HOST:PORT/NAME`.
///
/// # Examples
///
/// ```
/// use redis_queue::QueueAddress;
///
/// let address: QueueAddress = "redis://127.0.0.1:6379/march-2020".parse()?;
/// assert_eq!(address.name(), "march-2020");
/// assert_eq!(address.server(), "redis://127.0.0.1:6379");
/// # Ok::<(), redis_queue::QueueError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueAddress {
    /// The server's URL, without the queue's name.
    server: String,
    /// The queue's name: the key of its stream, and the prefix of its
    /// other keys.
    name: String,
}

impl QueueAddress {
    /// The server's URL (`redis://host:port`), what the `redis` crate
    /// connects to.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same server, another queue: how a job names its second queue
    /// (its results) after its first.
    ///
    /// # Examples
    ///
    /// ```
    /// use redis_queue::QueueAddress;
    ///
    /// let tasks: QueueAddress = "redis://127.0.0.1:6379/job".parse()?;
    /// assert_eq!(tasks.with_name("job:results").name(), "job:results");
    /// # Ok::<(), redis_queue::QueueError>(())
    /// ```
    pub fn with_name(&self, name: &str) -> QueueAddress {
        QueueAddress {
            server: self.server.clone(),
            name: name.to_owned(),
        }
    }
}

impl FromStr for QueueAddress {
    type Err = QueueError;

    fn from_str(text: &str) -> Result<QueueAddress, QueueError> {
        let bad = |reason: &'static str| QueueError::Address {
            address: text.to_owned(),
            reason,
        };
        let rest = text
            .strip_prefix("redis://")
            .ok_or_else(|| bad("it must start with redis://"))?;
        let (authority, name) = rest
            .split_once('/')
            .ok_or_else(|| bad("it must end with the queue's name: redis://HOST:PORT/NAME"))?;
        if authority.is_empty() {
            return Err(bad("it has no host: redis://HOST:PORT/NAME"));
        }
        if name.is_empty() {
            return Err(bad("the queue's name is empty: redis://HOST:PORT/NAME"));
        }
        if name.contains(['/', '?', '#']) || name.chars().any(char::is_whitespace) {
            return Err(bad("the queue's name may not hold '/', '?', '#' or spaces"));
        }
        Ok(QueueAddress {
            server: format!("redis://{authority}"),
            name: name.to_owned(),
        })
    }
}

impl fmt::Display for QueueAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.server, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_the_name_and_the_rest_the_server() {
        let address: QueueAddress = "redis://:secret@db.local:7000/prices".parse().unwrap();
        assert_eq!(address.server(), "redis://:secret@db.local:7000");
        assert_eq!(address.name(), "prices");
        assert_eq!(address.to_string(), "redis://:secret@db.local:7000/prices");
    }

    #[test]
    fn a_bad_address_says_what_is_wrong() {
        for (text, says) in [
            ("http://h:1/q", "must start with redis://"),
            ("redis://h:1", "must end with the queue's name"),
            ("redis://h:1/", "name is empty"),
            ("redis:///q", "no host"),
            ("redis://h:1/a/b", "may not hold"),
        ] {
            let error = text.parse::<QueueAddress>().unwrap_err().to_string();
            assert!(error.contains(says), "{text}: {error}");
            assert!(error.contains(text), "{text}: {error}");
        }
    }
}
