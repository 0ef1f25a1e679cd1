//! Where a queue lives: `redis://[user:password@]host:port/NAME`, or
//! `rediss://...` for Redis over TLS (a managed Redis across a network).
//!
//! The path names the queue (the stream's key), not a database number as
//! it would for the `redis` crate: one URL says both which server and
//! which job, so a worker on another machine needs one flag.
//!
//! A password is never printed: an address shows as
//! `redis://user:***@host:port/NAME`. It can stay out of the URL too (and
//! so out of `ps` and shell histories): with none in the URL, the
//! environment variable `REDIS_PASSWORD` gives it.

use std::fmt;
use std::str::FromStr;

use crate::QueueError;

/// A queue's server and name, parsed from `redis://HOST:PORT/NAME` or
/// `rediss://HOST:PORT/NAME` (TLS).
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
#[derive(Clone, PartialEq, Eq)]
pub struct QueueAddress {
    /// The server's URL, without the queue's name, with its password.
    server: String,
    /// The same, the password shown as `***`: what is printed.
    shown: String,
    /// The queue's name: the key of its stream, and the prefix of its
    /// other keys.
    name: String,
}

impl QueueAddress {
    /// The server's URL (`redis://host:port`), what the `redis` crate
    /// connects to; with its password, so not for printing (see
    /// [`shown_server`](Self::shown_server)).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The server's URL with its password, if any, shown as `***`.
    pub fn shown_server(&self) -> &str {
        &self.shown
    }

    /// Whether the server is reached over TLS (`rediss://`).
    pub fn is_tls(&self) -> bool {
        self.server.starts_with("rediss://")
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
            shown: self.shown.clone(),
            name: name.to_owned(),
        }
    }
}

impl FromStr for QueueAddress {
    type Err = QueueError;

    fn from_str(text: &str) -> Result<QueueAddress, QueueError> {
        // Errors name the address as it was given, its password hidden.
        let given = redact(text);
        let bad = |reason: &'static str| QueueError::Address {
            address: given.clone(),
            reason,
        };
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("redis://") {
            ("redis", rest)
        } else if let Some(rest) = text.strip_prefix("rediss://") {
            ("rediss", rest)
        } else {
            return Err(bad("it must start with redis:// (or rediss:// for TLS)"));
        };
        let (authority, name) = rest
            .split_once('/')
            .ok_or_else(|| bad("it must end with the queue's name: redis://HOST:PORT/NAME"))?;
        if authority.is_empty() || authority.ends_with('@') {
            return Err(bad("it has no host: redis://HOST:PORT/NAME"));
        }
        if name.is_empty() {
            return Err(bad("the queue's name is empty: redis://HOST:PORT/NAME"));
        }
        if name.contains(['/', '?', '#']) || name.chars().any(char::is_whitespace) {
            return Err(bad("the queue's name may not hold '/', '?', '#' or spaces"));
        }
        let mut authority = authority.to_owned();
        if !authority.contains('@')
            && let Ok(password) = std::env::var(PASSWORD_ENV)
            && !password.is_empty()
        {
            authority = format!(":{}@{authority}", encode_userinfo(&password));
        }
        let server = format!("{scheme}://{authority}");
        Ok(QueueAddress {
            shown: redact(&server),
            server,
            name: name.to_owned(),
        })
    }
}

/// The environment variable that gives the password when the URL has
/// none.
pub const PASSWORD_ENV: &str = "REDIS_PASSWORD";

/// `text` with the password of its `user:password@` part shown as `***`.
fn redact(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{}", &rest[at + 1..])
        }
        None => text.to_owned(),
    }
}

/// A password as the userinfo of a URL: percent-encoded past the
/// unreserved characters, so that any password survives.
fn encode_userinfo(password: &str) -> String {
    password
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

impl fmt::Display for QueueAddress {
    /// The address with its password, if any, shown as `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.shown, self.name)
    }
}

impl fmt::Debug for QueueAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "QueueAddress({self})")
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
        assert!(!address.is_tls());
    }

    #[test]
    fn a_password_is_never_shown() {
        for (text, shown) in [
            (
                "redis://:secret@db.local:7000/prices",
                "redis://:***@db.local:7000/prices",
            ),
            (
                "rediss://app:s3cr:et@db.local:7000/q",
                "rediss://app:***@db.local:7000/q",
            ),
            ("rediss://db.local:7000/q", "rediss://db.local:7000/q"),
        ] {
            let address: QueueAddress = text.parse().unwrap();
            assert_eq!(address.to_string(), shown);
            assert_eq!(format!("{address:?}"), format!("QueueAddress({shown})"));
            assert!(!address.with_name("other").to_string().contains("secret"));
        }
        let error = "rediss://:secret@h:1".parse::<QueueAddress>().unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
        assert!(
            "rediss://:secret@h:1/q"
                .parse::<QueueAddress>()
                .unwrap()
                .is_tls()
        );
        assert_eq!(encode_userinfo("p@ss:w/rd"), "p%40ss%3Aw%2Frd");
    }

    #[test]
    fn a_bad_address_says_what_is_wrong() {
        for (text, says) in [
            (
                "http://h:1/q",
                "must start with redis:// (or rediss:// for TLS)",
            ),
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
