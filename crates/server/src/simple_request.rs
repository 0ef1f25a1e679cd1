//! HTTP/0.9's "simple request", answered as the original answers it.
//!
//! A request line with no version, `GET /exchanges`, is what someone
//! exploring the server with `nc` or `telnet` types first. The original
//! (Python's `http.server` under Werkzeug) takes it as HTTP/0.9: it reads
//! header lines up to a blank line or the end of the input, answers with
//! the body alone (no status line, no headers), and closes. hyper speaks
//! only HTTP/1.x and answers such a line `400`, so this socket wrapper
//! sits between the two, for the first request of a connection only:
//!
//! - it holds back the first line until it is whole; a line of two words
//!   starting with `GET` goes on to hyper as `GET <path> HTTP/1.0`, which
//!   hyper answers and then closes, as HTTP/1.0 without keep-alive asks;
//! - if the input ends before the blank line that ends the head (`echo
//!   'GET /' | nc -N`), it adds that line, as Python's header reader stops
//!   at the end of the input too;
//! - on the way out, it drops the answer's head.
//!
//! Everything else passes through untouched, so a request with a version
//! costs one copy of its first bytes. Like the original, only `GET` is
//! taken as HTTP/0.9; any other two-word line is hyper's to refuse.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How much of a first line is held back looking for its end; a longer
/// one is no simple request (the server refuses targets over 2 KiB) and
/// goes on to hyper as it came.
const FIRST_LINE_LIMIT: usize = 8 * 1024;

/// A connection's socket, with HTTP/0.9 simple requests turned into
/// HTTP/1.0 ones on the way in and their answers' heads dropped on the way
/// out.
pub(crate) struct SimpleRequests<I> {
    inner: I,
    reading: Reading,
    /// A simple request's head, while it is still arriving: if the input
    /// ends first, the blank line that ends it is added.
    head_in: Option<HeadEnd>,
    /// A simple request's answer head, while it is being dropped.
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

impl<I> SimpleRequests<I> {
    pub(crate) fn new(inner: I) -> SimpleRequests<I> {
        SimpleRequests {
            inner,
            reading: Reading::FirstLine(Vec::new()),
            head_in: None,
            head_out: None,
        }
    }

    /// What to hand on, once the first line `held` (with whatever came
    /// after it) is whole or the input `ended`: the same bytes, or, for a
    /// simple request, its HTTP/1.0 version. A line cut short by the end
    /// of the input counts as whole, as Python reads it.
    fn first_line_read(&mut self, held: Vec<u8>, ended: bool) -> Vec<u8> {
        let line_end = match held.iter().position(|&byte| byte == b'\n') {
            Some(newline) => newline + 1,
            None if ended => held.len(),
            None => return held,
        };
        let (line, rest) = held.split_at(line_end);
        let Some(mut rewritten) = as_http_1_0(line) else {
            return held;
        };
        let mut head_in = HeadEnd::default();
        head_in.feed(rest);
        self.head_in = (!head_in.done).then_some(head_in);
        self.head_out = Some(HeadEnd::default());
        rewritten.extend_from_slice(rest);
        rewritten
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

/// The request line `line` as HTTP/1.0, if it is a simple request: two
/// words, the first `GET`, split on white space as Python splits it.
fn as_http_1_0(line: &[u8]) -> Option<Vec<u8>> {
    let mut words = line
        .split(u8::is_ascii_whitespace)
        .filter(|word| !word.is_empty());
    let (Some(b"GET"), Some(path), None) = (words.next(), words.next(), words.next()) else {
        return None;
    };
    Some([b"GET ", path, b" HTTP/1.0\r\n"].concat())
}

impl<I: AsyncRead + Unpin> AsyncRead for SimpleRequests<I> {
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

impl<I: AsyncWrite + Unpin> AsyncWrite for SimpleRequests<I> {
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
    fn a_get_of_two_words_is_a_simple_request_and_nothing_else_is() {
        assert_eq!(
            as_http_1_0(b"GET /exchanges\r\n").as_deref(),
            Some(&b"GET /exchanges HTTP/1.0\r\n"[..])
        );
        assert_eq!(
            as_http_1_0(b"  GET \t /symbols \n").as_deref(),
            Some(&b"GET /symbols HTTP/1.0\r\n"[..])
        );
        for line in [
            &b"GET /exchanges HTTP/1.1\r\n"[..],
            b"HEAD /exchanges\r\n",
            b"get /exchanges\r\n",
            b"GET\r\n",
            b"\r\n",
        ] {
            assert_eq!(as_http_1_0(line), None, "{}", line.escape_ascii());
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
        let mut server = SimpleRequests::new(server);
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
    async fn a_simple_request_reaches_hyper_as_http_1_0_and_its_answer_loses_its_head() {
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
