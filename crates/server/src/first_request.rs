//! A connection's first request, read as the original reads it.
//!
//! Someone exploring the server with `nc` or `telnet` types the request
//! by hand, and the original (Python's `http.server` under Werkzeug)
//! forgives what hand-typing gets wrong, where hyper answers `400` or
//! nothing at all:
//!
//! - `GET /exchanges`, with no version, is HTTP/0.9 to Python: the answer
//!   is the body alone, no status line or headers, and the connection
//!   closes. So is a line whose version is `HTTP/0.9`.
//! - The request line is split on any run of white space (two spaces, a
//!   tab, a space in front), and the version is read as two numbers
//!   (`HTTP/1.2` is an HTTP/1.x, `HTTP/01.0` is 1.0).
//! - `echo 'GET /exchanges HTTP/1.0' | nc -N` sends no blank line after
//!   the head; Python's header reader stops at the end of the input, so
//!   the request is answered.
//!
//! This socket wrapper sits between the client and hyper for the first
//! request of a connection (a hand-typed exchange is one request; the
//! original closes after each). It holds back the first line until it is
//! whole, and hands hyper the line as Python reads it: `GET /exchanges
//! HTTP/1.0` for the HTTP/0.9 one, which hyper answers and then closes.
//! If the input ends before the blank line that ends the head, it adds
//! that line. For an HTTP/0.9 request it drops the answer's head on the
//! way out.
//!
//! Anything already in hyper's form passes through untouched, so a
//! client's request costs one copy of its first bytes. What Python
//! refuses too (a method other than `GET` with no version, a version of 2
//! or more) is left to hyper's `400`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How much of a first line is held back looking for its end; a longer
/// one goes on to hyper as it came (the server refuses targets over 2 KiB
/// anyway).
const FIRST_LINE_LIMIT: usize = 8 * 1024;

/// A connection's socket, with its first request line handed to hyper as
/// Python reads it, and an HTTP/0.9 answer's head dropped on the way out.
pub(crate) struct FirstRequest<I> {
    inner: I,
    reading: Reading,
    /// The first request's head, while it is still arriving: if the input
    /// ends first, the blank line that ends it is added.
    head_in: Option<HeadEnd>,
    /// An HTTP/0.9 answer's head, while it is being dropped.
    head_out: Option<HeadEnd>,
}

enum Reading {
    /// The first line is arriving.
    FirstLine(Vec<u8>),
    /// Bytes read (and maybe rewritten) to hand on before reading more.
    Replay { bytes: Vec<u8>, at: usize },
    /// Straight through.
    Through,
}

impl<I> FirstRequest<I> {
    pub(crate) fn new(inner: I) -> FirstRequest<I> {
        FirstRequest {
            inner,
            reading: Reading::FirstLine(Vec::new()),
            head_in: None,
            head_out: None,
        }
    }

    /// What to hand on, once the first line `held` (with whatever came
    /// after it) is whole or the input `ended`: the line as Python reads
    /// it ([`reread`]), and the rest. A line cut short by the end of the
    /// input counts as whole, as Python reads it.
    fn first_line_read(&mut self, held: Vec<u8>, ended: bool) -> Vec<u8> {
        let line_end = match held.iter().position(|&byte| byte == b'\n') {
            Some(newline) => newline + 1,
            None if ended => held.len(),
            None => return held,
        };
        let (line, rest) = held.split_at(line_end);
        if line.iter().all(u8::is_ascii_whitespace) {
            // Nothing, or a blank line before the request (which hyper
            // skips): no head has begun.
            return held;
        }
        let mut handed_on = match reread(line) {
            Some((reread, answer)) => {
                if answer == Answer::BodyOnly {
                    self.head_out = Some(HeadEnd::default());
                }
                reread
            }
            None => line.to_vec(),
        };
        let mut head_in = HeadEnd::default();
        head_in.feed(rest);
        self.head_in = (!head_in.done).then_some(head_in);
        handed_on.extend_from_slice(rest);
        handed_on
    }
}

/// Finds the blank line that ends an HTTP head, fed a piece at a time.
/// Lines end with `\n`, with a `\r` before it or not, as both Python's
/// reader and hyper take them.
#[derive(Debug, Default, Clone, Copy)]
struct HeadEnd {
    /// Bytes other than `\r` on the current line so far.
    line: usize,
    /// The blank line has been seen.
    done: bool,
}

impl HeadEnd {
    /// Feeds `bytes`; how many of them belong to the head (all of them
    /// if it has not ended yet).
    fn feed(&mut self, bytes: &[u8]) -> usize {
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
    fn missing_end(&self) -> &'static [u8] {
        if self.line == 0 { b"\r\n" } else { b"\r\n\r\n" }
    }
}

/// What the answer to a request line looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// Status line, headers and body.
    Whole,
    /// The body alone: an HTTP/0.9 answer.
    BodyOnly,
}

/// The request line `line` as Python's `http.server` reads it, written as
/// hyper reads it the same way, with how the answer must look; `None`
/// when hyper should get it as it came (it is already in hyper's form, or
/// Python would refuse it too).
///
/// Python splits the line on any run of white space, takes a line of two
/// words starting with `GET` as HTTP/0.9, and reads a version `HTTP/x.y`
/// as two numbers: below 1.1 is HTTP/1.0 (`HTTP/0.9` spelled out is
/// HTTP/0.9 again), from 1.1 up to 2.0 is HTTP/1.1 (hyper knows no
/// other 1.x).
fn reread(line: &[u8]) -> Option<(Vec<u8>, Answer)> {
    let words: Vec<&[u8]> = line
        .split(u8::is_ascii_whitespace)
        .filter(|word| !word.is_empty())
        .collect();
    let (method, target, version, answer) = match words[..] {
        [b"GET", target] => (&b"GET"[..], target, "HTTP/1.0", Answer::BodyOnly),
        [method, target, b"HTTP/0.9"] => (method, target, "HTTP/1.0", Answer::BodyOnly),
        [method, target, version] => match version_number(version)? {
            (2.., _) => return None,
            (0, _) | (1, 0) => (method, target, "HTTP/1.0", Answer::Whole),
            (1, _) => (method, target, "HTTP/1.1", Answer::Whole),
        },
        _ => return None,
    };
    let reread = [method, b" ", target, b" ", version.as_bytes(), b"\r\n"].concat();
    (reread != line || answer == Answer::BodyOnly).then_some((reread, answer))
}

/// `HTTP/x.y` as Python reads it: two runs of at most ten ASCII digits.
fn version_number(version: &[u8]) -> Option<(u64, u64)> {
    let number = |digits: &[u8]| {
        let ok = (1..=10).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit);
        ok.then(|| std::str::from_utf8(digits).ok()?.parse().ok())?
    };
    let mut parts = version.strip_prefix(b"HTTP/")?.split(|&byte| byte == b'.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(major), Some(minor), None) => Some((number(major)?, number(minor)?)),
        _ => None,
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for FirstRequest<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.reading {
                Reading::FirstLine(held) => {
                    let mut piece = [0; 1024];
                    let mut piece = ReadBuf::new(&mut piece);
                    ready!(Pin::new(&mut this.inner).poll_read(cx, &mut piece))?;
                    let ended = piece.filled().is_empty();
                    held.extend_from_slice(piece.filled());
                    if ended || held.contains(&b'\n') || held.len() >= FIRST_LINE_LIMIT {
                        let held = std::mem::take(held);
                        let bytes = this.first_line_read(held, ended);
                        this.reading = Reading::Replay { bytes, at: 0 };
                    }
                }
                Reading::Replay { bytes, at } => {
                    if *at == bytes.len() {
                        this.reading = Reading::Through;
                        continue;
                    }
                    let handed = (bytes.len() - *at).min(buf.remaining());
                    buf.put_slice(&bytes[*at..*at + handed]);
                    *at += handed;
                    return Poll::Ready(Ok(()));
                }
                Reading::Through => {
                    let before = buf.filled().len();
                    ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
                    if let Some(head) = &mut this.head_in {
                        let arrived = &buf.filled()[before..];
                        if arrived.is_empty() {
                            // The input ended inside the head: end the head,
                            // as Python's header reader stops there too.
                            let end = head.missing_end().to_vec();
                            this.head_in = None;
                            this.reading = Reading::Replay { bytes: end, at: 0 };
                            continue;
                        }
                        head.feed(arrived);
                        if head.done {
                            this.head_in = None;
                        }
                    }
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for FirstRequest<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(head) = &mut this.head_out {
            // An HTTP/0.9 answer is its body alone. Only the head's bytes
            // are taken by this call; the body comes in the next.
            let dropped = head.feed(buf);
            if head.done {
                this.head_out = None;
            }
            if dropped > 0 {
                return Poll::Ready(Ok(dropped));
            }
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.head_out.is_some() {
            let first = bufs.iter().find(|buf| !buf.is_empty());
            return Pin::new(this).poll_write(cx, first.map_or(&[], |buf| &**buf));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn a_line_is_reread_as_python_reads_it() {
        let reread = |line: &[u8]| {
            reread(line).map(|(line, answer)| (String::from_utf8(line).unwrap(), answer))
        };
        let whole = |line: &str| Some((line.to_owned(), Answer::Whole));
        let body_only = |line: &str| Some((line.to_owned(), Answer::BodyOnly));
        assert_eq!(
            reread(b"GET /exchanges\r\n"),
            body_only("GET /exchanges HTTP/1.0\r\n")
        );
        assert_eq!(
            reread(b"  GET \t /symbols \n"),
            body_only("GET /symbols HTTP/1.0\r\n")
        );
        assert_eq!(
            reread(b"GET /symbols"),
            body_only("GET /symbols HTTP/1.0\r\n")
        );
        assert_eq!(
            reread(b"POST / HTTP/0.9\r\n"),
            body_only("POST / HTTP/1.0\r\n")
        );
        assert_eq!(
            reread(b" GET /x  HTTP/1.0\r\n"),
            whole("GET /x HTTP/1.0\r\n")
        );
        assert_eq!(reread(b"GET\t/x\tHTTP/1.1\n"), whole("GET /x HTTP/1.1\r\n"));
        assert_eq!(reread(b"GET /x HTTP/1.0"), whole("GET /x HTTP/1.0\r\n"));
        assert_eq!(
            reread(b"GET /x HTTP/01.0\r\n"),
            whole("GET /x HTTP/1.0\r\n")
        );
        assert_eq!(reread(b"GET /x HTTP/0.8\r\n"), whole("GET /x HTTP/1.0\r\n"));
        assert_eq!(reread(b"GET /x HTTP/1.2\r\n"), whole("GET /x HTTP/1.1\r\n"));
        for as_it_came in [
            // Already in hyper's form.
            &b"GET /exchanges HTTP/1.1\r\n"[..],
            b"get /exchanges HTTP/1.0\r\n",
            // Refused by Python too.
            b"HEAD /exchanges\r\n",
            b"get /exchanges\r\n",
            b"GET /x HTTP/2.0\r\n",
            b"GET /x http/1.0\r\n",
            b"GET /x HTTP/1\r\n",
            b"GET /x HTTP/1.0.0\r\n",
            b"GET /x HTTP/1.x\r\n",
            b"GET /x HTTP/12345678901.0\r\n",
            b"GET /a b HTTP/1.0\r\n",
            b"GET\r\n",
            b"\r\n",
        ] {
            assert_eq!(reread(as_it_came), None, "{}", as_it_came.escape_ascii());
        }
    }

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
    }

    /// Sends `request` to a wrapped socket and half-closes; what the
    /// wrapper hands on, and what the client receives when `answer` is
    /// written back a few bytes at a time.
    async fn exchange(request: &[u8], answer: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut server = FirstRequest::new(server);
        client.write_all(request).await.unwrap();
        client.shutdown().await.unwrap();
        let mut handed_on = Vec::new();
        server.read_to_end(&mut handed_on).await.unwrap();
        for piece in answer.chunks(3) {
            server.write_all(piece).await.unwrap();
        }
        server.shutdown().await.unwrap();
        let mut received = Vec::new();
        client.read_to_end(&mut received).await.unwrap();
        (handed_on, received)
    }

    const ANSWER: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[\"btc\"]";

    #[tokio::test]
    async fn an_http_0_9_request_reaches_hyper_as_http_1_0_and_its_answer_loses_its_head() {
        let (handed_on, received) = exchange(b"GET /symbols\nHost: x\n\n", ANSWER).await;
        assert_eq!(handed_on, b"GET /symbols HTTP/1.0\r\nHost: x\n\n");
        assert_eq!(received, b"[\"btc\"]");

        // Cut short by the end of the input: the head gets its end.
        let (handed_on, _) = exchange(b"GET /symbols", ANSWER).await;
        assert_eq!(handed_on, b"GET /symbols HTTP/1.0\r\n\r\n");
        let (handed_on, _) = exchange(b"GET /symbols\r\nHost: x", ANSWER).await;
        assert_eq!(handed_on, b"GET /symbols HTTP/1.0\r\nHost: x\r\n\r\n");
    }

    #[tokio::test]
    async fn a_request_with_a_version_gets_its_head_ended_and_keeps_its_answer() {
        // `echo 'GET /symbols HTTP/1.0' | nc -N`: no blank line.
        let (handed_on, received) = exchange(b"GET /symbols HTTP/1.0\n", ANSWER).await;
        assert_eq!(handed_on, b"GET /symbols HTTP/1.0\r\n\r\n");
        assert_eq!(received, ANSWER);
        let (handed_on, _) = exchange(b"GET  /symbols HTTP/1.1\r\nHost: x", ANSWER).await;
        assert_eq!(handed_on, b"GET /symbols HTTP/1.1\r\nHost: x\r\n\r\n");
    }

    #[tokio::test]
    async fn any_other_request_passes_through_both_ways_untouched() {
        let long_target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(3 * FIRST_LINE_LIMIT));
        for request in [
            &b"GET /symbols HTTP/1.1\r\nHost: x\r\n\r\nGET /exchanges HTTP/1.1\r\n\r\n"[..],
            b"HELLO\r\n\r\n",
            b"",
            long_target.as_bytes(),
        ] {
            let (handed_on, received) = exchange(request, ANSWER).await;
            assert_eq!(handed_on, request);
            assert_eq!(received, ANSWER);
        }
    }
}
