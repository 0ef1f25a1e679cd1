//! Where each request on a connection begins, found from the client's
//! bytes alone: a head ends at its blank line, and a body is as long as
//! its `Content-Length` or its chunks say.
//!
//! The reading is lenient on purpose: hyper reads the same bytes after us
//! and refuses what is malformed (and closes). What we cannot follow
//! ([`Framing::Lost`]: two different lengths, a transfer coding other
//! than `chunked`...) is what hyper refuses, so from there on every byte
//! goes through untouched. Getting it wrong costs little: no route reads
//! a body, so at worst a line inside one is rewritten, or a request line
//! is left for hyper as it came.

/// Where the client's bytes are, between two heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Between requests: a byte other than a line end starts a head.
    Between,
    /// Inside a body of this many more bytes.
    Body(u64),
    /// Inside a chunked body.
    Chunked(Chunk),
    /// Nothing more can be told: everything goes through as it comes.
    Lost,
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// The chunk's size line (hex digits, then maybe `;extensions`).
    Size { size: u64, digits_done: bool },
    /// The chunk's data, this many bytes more.
    Data(u64),
    /// The line end after the data.
    DataEnd,
    /// Trailer lines after the last chunk; `in_line` once a line has text.
    Trailer { in_line: bool },
}

impl Framing {
    /// What follows `head` (a whole request head): the body its
    /// `Content-Length` or `Transfer-Encoding` announces.
    pub(crate) fn after(head: &[u8]) -> Framing {
        let request_line_end = memchr::memchr(b'\n', head).map_or(head.len(), |at| at + 1);
        let (request_line, fields) = head.split_at(request_line_end);
        if request_line.starts_with(b"CONNECT ") {
            return Framing::Lost;
        }
        let http_1_0 = request_line.trim_ascii_end().ends_with(b"HTTP/1.0");
        let mut length: Option<u64> = None;
        let mut chunked: Option<bool> = None;
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', fields) {
            let line = &fields[start..=end];
            start = end + 1;
            // Only two names matter: most lines are passed over at their
            // first byte.
            if !matches!(line.first(), Some(b'c' | b'C' | b't' | b'T')) {
                continue;
            }
            let Some(colon) = memchr::memchr(b':', line) else {
                continue;
            };
            let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
            if name.eq_ignore_ascii_case(b"content-length") {
                let number = (!value.is_empty()
                    && value.len() <= 18
                    && value.iter().all(u8::is_ascii_digit))
                .then(|| std::str::from_utf8(value).ok()?.parse::<u64>().ok())
                .flatten();
                match (number, length) {
                    (Some(number), None) => length = Some(number),
                    (Some(number), Some(seen)) if number == seen => {}
                    _ => return Framing::Lost,
                }
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                let last = value
                    .rsplit(|&byte| byte == b',')
                    .next()
                    .unwrap_or_default();
                chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            }
        }
        match (chunked, length) {
            (Some(true), None) if !http_1_0 => Framing::Chunked(Chunk::Size {
                size: 0,
                digits_done: false,
            }),
            (Some(_), _) => Framing::Lost,
            (None, Some(length)) if length > 0 => Framing::Body(length),
            (None, _) => Framing::Between,
        }
    }

    /// Moves past the body bytes at the start of `bytes`; how many there
    /// were. Stops at the next head (in [`Framing::Between`]), or at the
    /// end of `bytes`.
    pub(crate) fn skip_body(&mut self, bytes: &[u8]) -> usize {
        let mut at = 0;
        while at < bytes.len() {
            match self {
                Framing::Between => {
                    // Blank lines between requests are skipped by hyper too.
                    match bytes[at..]
                        .iter()
                        .position(|&byte| !matches!(byte, b'\r' | b'\n'))
                    {
                        Some(head) => return at + head,
                        None => return bytes.len(),
                    }
                }
                Framing::Lost => return bytes.len(),
                Framing::Body(left) => {
                    let skipped = (*left).min((bytes.len() - at) as u64);
                    at += skipped as usize;
                    *left -= skipped;
                    if *left == 0 {
                        *self = Framing::Between;
                    }
                }
                Framing::Chunked(chunk) => {
                    let byte = bytes[at];
                    at += 1;
                    match chunk.next(byte) {
                        Ok(true) => *self = Framing::Between,
                        Ok(false) => {
                            if let Chunk::Data(left) = chunk {
                                // Data is skipped whole, not byte by byte.
                                let skipped = (*left).min((bytes.len() - at) as u64);
                                at += skipped as usize;
                                *left -= skipped;
                                if *left == 0 {
                                    *chunk = Chunk::DataEnd;
                                }
                            }
                        }
                        Err(()) => *self = Framing::Lost,
                    }
                }
            }
        }
        at
    }
}

impl Chunk {
    /// Takes one byte; true when the chunked body has ended.
    fn next(&mut self, byte: u8) -> Result<bool, ()> {
        match self {
            Chunk::Size { size, digits_done } => match byte {
                b'\n' if *size == 0 => *self = Chunk::Trailer { in_line: false },
                b'\n' => *self = Chunk::Data(*size),
                b'\r' => {}
                _ if *digits_done => {}
                _ => match char::from(byte).to_digit(16) {
                    Some(digit) => {
                        *size = size.checked_mul(16).ok_or(())? + u64::from(digit);
                    }
                    None => *digits_done = true,
                },
            },
            // A chunk's data that goes on from an earlier piece: this byte
            // is one of it (`skip_body` skips the rest whole).
            Chunk::Data(left) => {
                *left = left.saturating_sub(1);
                if *left == 0 {
                    *self = Chunk::DataEnd;
                }
            }
            Chunk::DataEnd => {
                if byte == b'\n' {
                    *self = Chunk::Size {
                        size: 0,
                        digits_done: false,
                    };
                }
            }
            Chunk::Trailer { in_line } => match byte {
                b'\n' if !*in_line => return Ok(true),
                b'\n' => *in_line = false,
                b'\r' => {}
                _ => *in_line = true,
            },
        }
        Ok(false)
    }
}

/// Finds the blank line that ends an HTTP head, fed a piece at a time.
/// Lines end with `\n`, with a `\r` before it or not, as both Python's
/// reader and hyper take them.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct HeadEnd {
    /// Bytes other than `\r` on the current line so far.
    line: usize,
    /// The blank line has been seen.
    pub(crate) done: bool,
}

impl HeadEnd {
    /// Feeds `bytes`; how many of them belong to the head (all of them
    /// if it has not ended yet).
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> usize {
        for (at, &byte) in bytes.iter().enumerate() {
            if self.done {
                return at;
            }
            match byte {
                b'\n' if self.line == 0 => self.done = true,
                b'\n' => self.line = 0,
                b'\r' => {}
                _ => self.line += 1,
            }
        }
        bytes.len()
    }

    /// What ends a head cut short by the end of the input.
    pub(crate) fn missing_end(&self) -> &'static [u8] {
        if self.line == 0 { b"\r\n" } else { b"\r\n\r\n" }
    }
}

/// The length of the head at the start of `bytes` (its blank line
/// included), or `None` while it has not ended.
pub(crate) fn head_length(bytes: &[u8]) -> Option<usize> {
    let mut head = HeadEnd::default();
    let length = head.feed(bytes);
    head.done.then_some(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_ends_at_its_blank_line_whatever_the_pieces() {
        let answer = b"HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nbody";
        for split in 0..answer.len() {
            let mut head = HeadEnd::default();
            let first = head.feed(&answer[..split]);
            let second = head.feed(&answer[split..]);
            assert!(head.done);
            assert_eq!(first + second, answer.len() - 4, "split at {split}");
        }
        let mut head = HeadEnd::default();
        assert_eq!(head.feed(b"Host: x\nAccept: *"), 17);
        assert_eq!(head.missing_end(), b"\r\n\r\n");
        head.feed(b"\n");
        assert_eq!(head.missing_end(), b"\r\n");
        assert_eq!(head_length(b"GET / HTTP/1.1\nA: b\n\nrest"), Some(21));
        assert_eq!(head_length(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }

    #[test]
    fn a_head_announces_its_body() {
        let after = |head: &str| Framing::after(head.as_bytes());
        assert_eq!(after("GET / HTTP/1.1\r\n\r\n"), Framing::Between);
        assert_eq!(
            after("POST / HTTP/1.1\r\ncontent-LENGTH:  12 \r\n\r\n"),
            Framing::Body(12)
        );
        assert_eq!(
            after("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            Framing::Between
        );
        assert_eq!(
            after("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
            Framing::Body(5)
        );
        assert!(matches!(
            after("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"),
            Framing::Chunked(_)
        ));
        for lost in [
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            "CONNECT a:1 HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(after(lost), Framing::Lost, "{lost}");
        }
    }

    #[test]
    fn a_body_is_skipped_to_the_next_head_whatever_the_pieces() {
        let bodies: [(&str, &[u8]); 4] = [
            ("Content-Length: 5", b"hello"),
            // Line ends inside the data, whichever piece they fall in.
            (
                "Transfer-Encoding: chunked",
                b"8\r\nGET\n/\r\n\n\r\n0\r\n\r\n",
            ),
            (
                "Transfer-Encoding: chunked",
                b"5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nTrailer: t\r\n\r\n",
            ),
            (
                "Transfer-Encoding: chunked",
                b"A\r\n0123456789\r\n0\r\n\r\n",
            ),
        ];
        for (header, body) in bodies {
            let head = format!("POST / HTTP/1.1\r\n{header}\r\n\r\n");
            let stream = [body, b"\r\nGET /next HTTP/1.1\r\n\r\n"].concat();
            let next = stream.len() - b"GET /next HTTP/1.1\r\n\r\n".len();
            for split in 0..stream.len() {
                let mut framing = Framing::after(head.as_bytes());
                let first = framing.skip_body(&stream[..split]);
                let found = if first < split {
                    first
                } else {
                    split + framing.skip_body(&stream[split..])
                };
                assert_eq!(found, next, "{header}, split at {split}");
                assert_eq!(framing, Framing::Between);
            }
        }
    }
}
