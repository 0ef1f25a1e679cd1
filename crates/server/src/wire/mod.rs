//! A connection's requests, read as the original reads them, before
//! hyper reads them.
//!
//! The original is Python's `http.server` under Werkzeug, and it reads
//! more than hyper does: someone exploring the server with `nc` or
//! `telnet` types a request by hand, and `urllib` or `curl` send what a
//! user typed into a URL as it was typed. Where hyper would answer `400`
//! or nothing at all, this socket wrapper hands hyper each request head
//! as Python reads it (`head`), and hyper answers that:
//!
//! - `GET /exchanges`, with no version, is HTTP/0.9 to Python: the answer
//!   is the body alone, no status line or headers, and the connection
//!   closes. Handed on as `GET /exchanges HTTP/1.0`; the answer's head is
//!   dropped on the way out. So is a line whose version is `HTTP/0.9`.
//! - A request line split by any white space, an odd version (`HTTP/1.2`,
//!   `HTTP/01.0`), a target with quotes, `<`, `>` or bytes that are not
//!   ASCII, a header line without a colon: see `head`.
//! - `echo 'GET /exchanges HTTP/1.0' | nc -N` sends no blank line after
//!   the head; Python's header reader stops at the end of the input, so
//!   the blank line is added and the request answered.
//! - A first request line Python refuses (`HELLO`, `HEAD /x` with no
//!   version, `GET / HTTP/2.0`, the HTTP/2 preface) gets Python's own
//!   error page, written here, and the connection closes: never silence.
//!
//! The original closes after every answer; ours keeps connections open,
//! so each request of a connection is read this way, not only the first:
//! `framing` finds where each one begins. A connection's first head is
//! held back until it is whole and read as Python reads it (one copy of
//! its bytes); a later one already in hyper's form (every head a
//! well-behaved client sends) is handed on in place, after one quick pass
//! over it (about 60 ns), and only one that must be rewritten, or that
//! arrives in pieces, is held back.

mod framing;
mod head;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use framing::{Framing, HeadEnd, head_length};
use head::{Answer, Reading};

pub(crate) use head::error_page;

/// How much of a head is held back looking for its end; a longer one
/// goes on to hyper as it came (which refuses heads over 16 KiB), and
/// nothing after it is rewritten. Python's own limit is 64 KiB a line.
const HEAD_LIMIT: usize = 64 * 1024;

/// A connection's socket, with each request head handed to hyper as
/// Python reads it, Python's error page for a first request it refuses,
/// and an HTTP/0.9 answer's head dropped on the way out.
pub(crate) struct AsPythonReads<I> {
    inner: I,
    /// Where the client's bytes are: between requests, or in a body.
    framing: Framing,
    /// The start of a head, held back until it is whole.
    held: Vec<u8>,
    /// Bytes to hand on before reading more, from `ready_at`.
    ready: Vec<u8>,
    ready_at: usize,
    /// No head has been handed on yet.
    first: bool,
    /// The client's input has ended.
    ended: bool,
    /// An HTTP/0.9 answer's head, while it is being dropped.
    head_out: Option<HeadEnd>,
    /// Bytes for the client before hyper's answer: Werkzeug's
    /// `100 Continue`, or Python's error page for a refused first request.
    to_client: Option<ToClient>,
}

/// Bytes written to the client ahead of hyper.
struct ToClient {
    bytes: Vec<u8>,
    written: usize,
    /// The request was refused: once written, the input reads as ended
    /// (hyper, having read no request, closes the connection).
    refused: bool,
}

impl<I> AsPythonReads<I> {
    pub(crate) fn new(inner: I) -> AsPythonReads<I> {
        AsPythonReads {
            inner,
            framing: Framing::Between,
            held: Vec::new(),
            ready: Vec::new(),
            ready_at: 0,
            first: true,
            ended: false,
            head_out: None,
            to_client: None,
        }
    }

    /// Moves past the bytes of `arrived` that can go to hyper as they
    /// are; where a head that must be held back begins, if one does.
    fn pass(&mut self, arrived: &[u8]) -> Option<usize> {
        let mut at = 0;
        loop {
            at += self.framing.skip_body(&arrived[at..]);
            if at == arrived.len() || self.framing != Framing::Between {
                return None;
            }
            // A head begins here. The first is always read as Python
            // reads it; a later one goes on in place if hyper reads it
            // the same way.
            if self.first {
                return Some(at);
            }
            let rest = &arrived[at..];
            match head::in_hypers_form(rest) {
                Some(head) => {
                    self.framing = if head.may_have_body {
                        Framing::after(&rest[..head.length])
                    } else {
                        Framing::Between
                    };
                    at += head.length;
                }
                _ => return Some(at),
            }
        }
    }

    /// Hands on the whole head at the start of `held` as Python reads
    /// it, and the body bytes after it.
    fn hand_on_head(&mut self, length: usize) {
        let rest = self.held.split_off(length);
        let head = std::mem::replace(&mut self.held, rest);
        let first = std::mem::replace(&mut self.first, false);
        if first && head::expects_continue(&head) {
            // Werkzeug sends it for any request it answers. Only on the
            // first is it known that no earlier answer is still on its way.
            self.to_client = Some(ToClient {
                bytes: b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
                written: 0,
                refused: false,
            });
        }
        let handed = match head::read(&head, first) {
            Reading::AsItCame => head,
            Reading::Rewritten { head, answer } => {
                if answer == Answer::BodyOnly {
                    self.head_out = Some(HeadEnd::default());
                }
                head
            }
            Reading::Refused(page) => {
                self.to_client = Some(ToClient {
                    bytes: page,
                    written: 0,
                    refused: true,
                });
                self.held.clear();
                return;
            }
        };
        self.framing = Framing::after(&handed);
        self.ready.extend_from_slice(&handed);
        let body = self.framing.skip_body(&self.held);
        self.ready.extend(self.held.drain(..body));
    }
}

impl<I: AsyncWrite + Unpin> AsPythonReads<I> {
    /// Writes what is due to the client ahead of hyper.
    fn poll_to_client(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(to_client) = &mut self.to_client {
            while to_client.written < to_client.bytes.len() {
                let unwritten = &to_client.bytes[to_client.written..];
                let wrote = ready!(Pin::new(&mut self.inner).poll_write(cx, unwritten))?;
                if wrote == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                to_client.written += wrote;
            }
            ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
            self.ended |= to_client.refused;
            self.to_client = None;
        }
        Poll::Ready(Ok(()))
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin> AsyncRead for AsPythonReads<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.to_client.is_some() {
                ready!(this.poll_to_client(cx))?;
                continue;
            }
            if this.ended && this.held.is_empty() && this.ready.is_empty() {
                return Poll::Ready(Ok(()));
            }
            if this.ready_at < this.ready.len() {
                let handed = (this.ready.len() - this.ready_at).min(buf.remaining());
                buf.put_slice(&this.ready[this.ready_at..this.ready_at + handed]);
                this.ready_at += handed;
                if this.ready_at == this.ready.len() {
                    this.ready.clear();
                    this.ready_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if !this.held.is_empty() {
                match head_length(&this.held) {
                    Some(length) => this.hand_on_head(length),
                    None if this.ended => {
                        // The input ended inside the head: end the head,
                        // as Python's header reader stops there too.
                        let mut head = HeadEnd::default();
                        head.feed(&this.held);
                        this.held.extend_from_slice(head.missing_end());
                    }
                    None if this.held.len() >= HEAD_LIMIT => {
                        this.ready = std::mem::take(&mut this.held);
                        this.framing = Framing::Lost;
                    }
                    None => {
                        let mut piece = [0; 4096];
                        let mut piece = ReadBuf::new(&mut piece);
                        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut piece))?;
                        this.ended = piece.filled().is_empty();
                        this.held.extend_from_slice(piece.filled());
                    }
                }
                continue;
            }
            // Straight into hyper's buffer; only a head that must be held
            // back is taken out again.
            let before = buf.filled().len();
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            let arrived = &buf.filled()[before..];
            if arrived.is_empty() {
                this.ended = true;
                return Poll::Ready(Ok(()));
            }
            match this.pass(arrived) {
                None => return Poll::Ready(Ok(())),
                Some(head) => {
                    this.held.extend_from_slice(&arrived[head..]);
                    buf.set_filled(before + head);
                    if head > 0 {
                        return Poll::Ready(Ok(()));
                    }
                }
            }
        }
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for AsPythonReads<I> {
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

    /// Sends `request` to a wrapped socket through a pipe of `capacity`
    /// bytes (so it arrives in pieces that small) and half-closes; what
    /// the wrapper hands on, and what the client receives when `answer`
    /// is written back a few bytes at a time.
    async fn exchange_in_pieces(
        request: &[u8],
        answer: &[u8],
        capacity: usize,
    ) -> (Vec<u8>, Vec<u8>) {
        let (mut client, server) = tokio::io::duplex(capacity);
        let mut server = AsPythonReads::new(server);
        let request = request.to_vec();
        let sending = tokio::spawn(async move {
            client.write_all(&request).await.unwrap();
            client.shutdown().await.unwrap();
            let mut received = Vec::new();
            client.read_to_end(&mut received).await.unwrap();
            received
        });
        let mut handed_on = Vec::new();
        server.read_to_end(&mut handed_on).await.unwrap();
        for piece in answer.chunks(3) {
            server.write_all(piece).await.unwrap();
        }
        server.shutdown().await.unwrap();
        drop(server);
        (handed_on, sending.await.unwrap())
    }

    async fn exchange(request: &[u8], answer: &[u8]) -> (Vec<u8>, Vec<u8>) {
        exchange_in_pieces(request, answer, 1 << 16).await
    }

    const ANSWER: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[\"btc\"]";

    #[tokio::test]
    async fn an_http_0_9_request_reaches_hyper_as_http_1_0_and_its_answer_loses_its_head() {
        let (handed_on, received) = exchange(b"GET /symbols\nHost: x\n\n", ANSWER).await;
        assert_eq!(handed_on, b"GET /symbols HTTP/1.0\r\nHost: x\n\r\n");
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
        assert_eq!(handed_on, b"GET /symbols HTTP/1.0\n\r\n");
        assert_eq!(received, ANSWER);
        let (handed_on, _) = exchange(b"GET  /symbols HTTP/1.1\r\nHost: x", ANSWER).await;
        assert_eq!(handed_on, b"GET /symbols HTTP/1.1\r\nHost: x\r\n\r\n");
    }

    #[tokio::test]
    async fn a_first_request_python_refuses_gets_its_page_and_hyper_reads_nothing() {
        for request in [
            &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
            b"HELLO\r\n\r\n",
            b"HEAD /x\n\n",
        ] {
            let (handed_on, received) = exchange(request, b"").await;
            assert_eq!(handed_on, b"", "{}", request.escape_ascii());
            let page = String::from_utf8(received).unwrap();
            assert!(page.starts_with("<!DOCTYPE HTML>\n"), "{page}");
        }
    }

    #[tokio::test]
    async fn a_first_request_expecting_100_continue_gets_it_before_its_answer() {
        let (handed_on, received) =
            exchange(b"GET /x HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", ANSWER).await;
        assert_eq!(
            handed_on,
            b"GET /x HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"
        );
        assert_eq!(
            received,
            [&b"HTTP/1.1 100 Continue\r\n\r\n"[..], ANSWER].concat()
        );
    }

    #[tokio::test]
    async fn every_request_of_a_connection_is_read_as_python_reads_it_whatever_the_pieces() {
        // Three kept-alive requests, a body of each kind between them; the
        // later heads need rewriting too, the bodies must stay as they are.
        let sent: &[u8] = b"POST /a HTTP/1.1\r\nContent-Length: 24\r\n\r\nGET /in-a-body? HTTP/1.1\
GET /b?q=\"x\" HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nGET /<\r\n0\r\n\r\n\
GET /c<\xe4> HTTP/1.1\r\nHost: a\r\nno colon\r\n\r\n";
        let expected: &[u8] =
            b"POST /a HTTP/1.1\r\nContent-Length: 24\r\n\r\nGET /in-a-body? HTTP/1.1\
GET /b?q=%22x%22 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nGET /<\r\n0\r\n\r\n\
GET /c%3C%C3%A4%3E HTTP/1.1\r\nHost: a\r\n\r\n";
        for capacity in [1, 2, 3, 7, 64, 1 << 16] {
            let (handed_on, received) = exchange_in_pieces(sent, ANSWER, capacity).await;
            assert_eq!(
                handed_on.escape_ascii().to_string(),
                expected.escape_ascii().to_string(),
                "pieces of {capacity}"
            );
            assert_eq!(received, ANSWER);
        }
    }

    #[tokio::test]
    async fn heads_in_hypers_form_pass_through_both_ways_untouched() {
        let long_target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(2 * HEAD_LIMIT));
        for request in [
            &b"GET /symbols HTTP/1.1\r\nHost: x\r\n\r\nGET /exchanges HTTP/1.1\r\n\r\n"[..],
            b"\r\nGET /symbols HTTP/1.1\r\n\r\n",
            b"",
            long_target.as_bytes(),
        ] {
            let (handed_on, received) = exchange(request, ANSWER).await;
            assert_eq!(handed_on, request);
            assert_eq!(received, ANSWER);
        }
    }
}
