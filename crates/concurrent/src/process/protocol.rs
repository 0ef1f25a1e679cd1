//! The messages between the pool and its workers, and how they are
//! framed on the connection.
//!
//! Values inside messages are in the crate's one binary codec
//! ([`crate::codec`]); the messages around them are laid out by hand, so
//! that a value encoded once is never copied into a second encoding:
//!
//! - a **request** (parent to worker): the task's name (a little-endian
//!   `u32` length, then UTF-8), then one record per call: a `u64` length,
//!   then the encoded argument tuple;
//! - an **outcome** (worker to parent, one per call, in order): a tag
//!   byte, then the encoded result ([`OK`]) or a UTF-8 message (the task
//!   [`PANICKED`], or [`FAILED`] to run).
//!
//! A message of any size goes as one or more frames: a little-endian
//! `u32` whose top bit says that more frames of the same message follow
//! and whose other bits give the length (at most [`CHUNK`]), then that
//! many bytes. So nothing limits a value's size but memory, and a corrupt
//! length can never make a reader allocate more than one chunk ahead of
//! the bytes that actually came.
//!
//! The parent sends a request for a job; the worker answers with one
//! outcome per call. The parent may send the next requests before the
//! answers come (it keeps a few in flight), and both sides write through
//! buffers: whoever writes flushes when it has nothing more to say at
//! once, so that a burst of small messages costs one system call, not
//! one per message.

use std::io::{self, Read, Write};

/// The largest frame: a longer message is cut into frames of this size.
pub(crate) const CHUNK: usize = 64 * 1024 * 1024;

/// The frame header's flag: another frame of this message follows.
const MORE: u32 = 1 << 31;

/// Outcome tags.
pub(crate) const OK: u8 = 0;
pub(crate) const PANICKED: u8 = 1;
pub(crate) const FAILED: u8 = 2;

/// One call's outcome, read from its message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome<'a> {
    /// The encoded result.
    Ok(&'a [u8]),
    /// The task panicked, with this message.
    Panicked(String),
    /// The task could not run (unknown name, unreadable arguments).
    Failed(String),
}

impl<'a> Outcome<'a> {
    /// Reads an outcome message; `None` if it is not one.
    pub(crate) fn parse(message: &'a [u8]) -> Option<Outcome<'a>> {
        let (&tag, body) = message.split_first()?;
        let text = || String::from_utf8_lossy(body).into_owned();
        match tag {
            OK => Some(Outcome::Ok(body)),
            PANICKED => Some(Outcome::Panicked(text())),
            FAILED => Some(Outcome::Failed(text())),
            _ => None,
        }
    }
}

/// Appends to `out` the record of one call's encoded arguments, as a
/// request carries it.
pub(crate) fn push_call(out: &mut Vec<u8>, args: &[u8]) {
    out.extend_from_slice(&(args.len() as u64).to_le_bytes());
    out.extend_from_slice(args);
}

/// The head of a request for `task`, which its call records follow.
pub(crate) fn request_head(task: &str) -> Vec<u8> {
    let mut head = Vec::with_capacity(4 + task.len());
    head.extend_from_slice(&(task.len() as u32).to_le_bytes());
    head.extend_from_slice(task.as_bytes());
    head
}

/// A request, read: the task's name and each call's encoded arguments.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Request<'a> {
    pub task: &'a str,
    pub calls: Vec<&'a [u8]>,
}

impl<'a> Request<'a> {
    /// Reads a request message; `None` if it is not one.
    pub(crate) fn parse(message: &'a [u8]) -> Option<Request<'a>> {
        let (length, rest) = message.split_first_chunk::<4>()?;
        let (task, mut rest) = rest.split_at_checked(u32::from_le_bytes(*length) as usize)?;
        let task = std::str::from_utf8(task).ok()?;
        let mut calls = Vec::new();
        while !rest.is_empty() {
            let (length, after) = rest.split_first_chunk::<8>()?;
            let length = usize::try_from(u64::from_le_bytes(*length)).ok()?;
            let (args, after) = after.split_at_checked(length)?;
            calls.push(args);
            rest = after;
        }
        Some(Request { task, calls })
    }
}

/// Calls `emit` with each piece of the frames of one message made of
/// `parts` one after another: a header, then the bytes it covers.
fn frame_pieces(parts: &[&[u8]], mut emit: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
    let mut left: usize = parts.iter().map(|part| part.len()).sum();
    let mut parts = parts.iter().copied();
    let mut current: &[u8] = &[];
    loop {
        let size = left.min(CHUNK);
        left -= size;
        let header = size as u32 | if left > 0 { MORE } else { 0 };
        emit(&header.to_le_bytes())?;
        let mut needed = size;
        while needed > 0 {
            while current.is_empty() {
                current = parts.next().expect("the parts hold the length counted");
            }
            let taken = needed.min(current.len());
            emit(&current[..taken])?;
            current = &current[taken..];
            needed -= taken;
        }
        if left == 0 {
            return Ok(());
        }
    }
}

/// Appends one message made of `parts` one after another to `out`.
pub(crate) fn push_message(out: &mut Vec<u8>, parts: &[&[u8]]) {
    frame_pieces(parts, |piece| {
        out.extend_from_slice(piece);
        Ok(())
    })
    .expect("appending to memory cannot fail");
}

/// Writes one message made of `parts` one after another, without
/// flushing: the caller flushes when it is done writing for now.
pub(crate) fn write_message(out: &mut impl Write, parts: &[&[u8]]) -> io::Result<()> {
    frame_pieces(parts, |piece| out.write_all(piece))
}

/// Reads the next message, appending it to `message`; `false` at a clean
/// end of stream (between messages).
pub(crate) fn read_message(input: &mut impl Read, message: &mut Vec<u8>) -> io::Result<bool> {
    let mut first = true;
    loop {
        let mut header = [0u8; 4];
        match input.read_exact(&mut header) {
            Ok(()) => {}
            Err(error) if first && error.kind() == io::ErrorKind::UnexpectedEof => {
                return Ok(false);
            }
            Err(error) => return Err(error),
        }
        first = false;
        let header = u32::from_le_bytes(header);
        let length = (header & !MORE) as usize;
        if length > CHUNK {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a frame longer than a chunk",
            ));
        }
        let start = message.len();
        message.resize(start + length, 0);
        input.read_exact(&mut message[start..])?;
        if header & MORE == 0 {
            return Ok(true);
        }
    }
}

/// Whether `buffered` holds `count` whole messages: reading them will not
/// wait for more input.
pub(crate) fn holds_messages(mut buffered: &[u8], mut count: usize) -> bool {
    while count > 0 {
        let Some((header, rest)) = buffered.split_first_chunk::<4>() else {
            return false;
        };
        let header = u32::from_le_bytes(*header);
        let Some(rest) = rest.get((header & !MORE) as usize..) else {
            return false;
        };
        buffered = rest;
        if header & MORE == 0 {
            count -= 1;
        }
    }
    true
}

/// Why a value was not sent, or not read back: `what` ("the arguments",
/// "the result") and the codec's reason.
pub(crate) fn cannot(doing: &str, what: &str, error: &crate::codec::CodecError) -> String {
    format!("cannot {doing} {what}: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_end_cleanly() {
        let mut wire = Vec::new();
        write_message(&mut wire, &[b"{\"a\":", b" 1}"]).unwrap();
        write_message(&mut wire, &[]).unwrap();
        push_message(&mut wire, &[b"[2]"]);
        let mut reader = &wire[..];
        let mut message = Vec::new();
        assert!(read_message(&mut reader, &mut message).unwrap());
        assert_eq!(message, b"{\"a\": 1}");
        assert!(read_message(&mut reader, &mut message).unwrap());
        assert_eq!(message, b"{\"a\": 1}", "an empty message appends nothing");
        message.clear();
        assert!(read_message(&mut reader, &mut message).unwrap());
        assert_eq!(message, b"[2]");
        assert!(!read_message(&mut reader, &mut message).unwrap());
    }

    #[test]
    fn a_message_longer_than_a_chunk_goes_in_several_frames() {
        let big: Vec<u8> = (0..CHUNK * 2 + 5).map(|i| (i % 251) as u8).collect();
        let mut wire = Vec::new();
        push_message(&mut wire, &[b"head", &big[..10], &big[10..]]);
        push_message(&mut wire, &[b"next"]);
        assert_eq!(
            wire.len(),
            4 + big.len() + 3 * 4 + 4 + 4,
            "three frames, then one"
        );
        assert!(holds_messages(&wire, 2));
        assert!(!holds_messages(&wire[..wire.len() - 1], 2));
        assert!(!holds_messages(&wire[..CHUNK + 8], 1), "one frame of three");
        let mut reader = &wire[..];
        let mut message = Vec::new();
        assert!(read_message(&mut reader, &mut message).unwrap());
        assert_eq!(&message[..4], b"head");
        assert!(message[4..] == big[..], "the bytes, in order");
        message.clear();
        assert!(read_message(&mut reader, &mut message).unwrap());
        assert_eq!(message, b"next");
    }

    #[test]
    fn requests_and_outcomes_read_back() {
        let mut calls = Vec::new();
        push_call(&mut calls, b"one");
        push_call(&mut calls, b"");
        push_call(&mut calls, b"three");
        let head = request_head("my::task");
        let mut message = head.clone();
        message.extend_from_slice(&calls);
        assert_eq!(
            Request::parse(&message),
            Some(Request {
                task: "my::task",
                calls: vec![&b"one"[..], b"", b"three"],
            })
        );
        assert_eq!(Request::parse(&message[..message.len() - 1]), None);
        assert_eq!(Outcome::parse(&[OK, 1, 2]), Some(Outcome::Ok(&[1, 2])));
        assert_eq!(
            Outcome::parse(b"\x02no such task"),
            Some(Outcome::Failed("no such task".to_owned()))
        );
        assert_eq!(Outcome::parse(&[9]), None);
        assert_eq!(Outcome::parse(&[]), None);
    }

    #[test]
    fn a_cut_message_is_an_error_not_a_hang() {
        let mut wire = Vec::new();
        write_message(&mut wire, &[b"0123456789"]).unwrap();
        let mut reader = &wire[..8];
        let mut message = Vec::new();
        assert_eq!(
            read_message(&mut reader, &mut message).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        let absurd = (MORE - 1).to_le_bytes();
        assert_eq!(
            read_message(&mut &absurd[..], &mut message)
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidData
        );
    }
}
