//! The frames between the pool and its workers: a little-endian `u32`
//! length, then that many bytes of JSON. JSON because it is what serde
//! reads and writes everywhere, and a frame can be read by eye when
//! something goes wrong; the framing keeps a reader from ever guessing
//! where a message ends.
//!
//! The parent sends one [`Request`] frame (a task and its calls); the
//! worker answers with one [`Outcome`] frame per call, in order. The
//! parent may send the next requests before the answers come (it keeps a
//! few in flight), and both sides write through buffers: frames are
//! written without a flush, and whoever writes flushes when it has nothing
//! more to say at once, so that a burst of small frames costs one system
//! call, not one per frame. One frame
//! per outcome keeps every frame under the limit whatever the chunk size:
//! a single argument or result too large for a frame ([`MAX_PAYLOAD`]) is
//! refused on its own side and fails only its own task.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The largest frame either side accepts (a corrupt length must not make
/// the reader allocate gigabytes).
const MAX_FRAME: usize = 256 * 1024 * 1024;

/// The largest JSON of one call's arguments, or of one result: a frame
/// less room for what surrounds it.
pub(crate) const MAX_PAYLOAD: usize = MAX_FRAME - 64 * 1024;

/// Why a payload was not sent: `what` ("the arguments", "the result") and
/// its size.
pub(crate) fn too_large(what: &str, bytes: usize) -> String {
    format!(
        "{what} of this task {} {bytes} bytes as JSON; the limit is {MAX_PAYLOAD} bytes",
        if what.ends_with('s') { "are" } else { "is" }
    )
}

/// Parent to worker: run `task` on each of `calls` (the JSON of an
/// argument tuple), in order.
#[derive(Serialize, Deserialize)]
pub(crate) struct Request<'a> {
    #[serde(borrow)]
    pub task: &'a str,
    #[serde(borrow)]
    pub calls: Vec<&'a RawValue>,
}

/// Worker to parent, one frame per call, in order. Read borrowing from
/// the frame, so that a result is parsed once, by the type it becomes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Outcome<'a> {
    /// The result's JSON.
    #[serde(borrow)]
    Ok(&'a RawValue),
    /// The task panicked, with this message.
    Panicked(String),
    /// The task could not run (unknown name, unreadable arguments).
    Failed(String),
}

/// Appends to `frames` the frame of `Outcome::Ok` for a result that is
/// JSON already, written around it rather than parsed again.
pub(crate) fn push_ok_frame(frames: &mut Vec<u8>, result: &[u8]) {
    push_frame(frames, &[b"{\"ok\":", result, b"}"]);
}

/// Appends one frame made of `parts` one after another to `frames`.
pub(crate) fn push_frame(frames: &mut Vec<u8>, parts: &[&[u8]]) {
    let length = parts.iter().map(|part| part.len()).sum::<usize>();
    frames.extend_from_slice(&(length as u32).to_le_bytes());
    for part in parts {
        frames.extend_from_slice(part);
    }
}

/// Whether `buffered` holds `count` whole frames: reading them will not
/// wait for more input.
pub(crate) fn holds_frames(mut buffered: &[u8], count: usize) -> bool {
    for _ in 0..count {
        let Some((length, rest)) = buffered.split_first_chunk::<4>() else {
            return false;
        };
        let Some(rest) = rest.get(u32::from_le_bytes(*length) as usize..) else {
            return false;
        };
        buffered = rest;
    }
    true
}

/// Writes one frame made of `parts` one after another, without flushing:
/// the caller flushes when it is done writing for now.
pub(crate) fn write_frame(out: &mut impl Write, parts: &[&[u8]]) -> io::Result<()> {
    let length = parts.iter().map(|part| part.len()).sum::<usize>();
    let length = u32::try_from(length)
        .ok()
        .filter(|&length| length as usize <= MAX_FRAME)
        .ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "a frame larger than 256 MiB")
        })?;
    out.write_all(&length.to_le_bytes())?;
    for part in parts {
        out.write_all(part)?;
    }
    Ok(())
}

/// Reads the next frame, appending it to `frames`; `false` at a clean end
/// of stream (between frames).
pub(crate) fn read_frame(input: &mut impl Read, frames: &mut Vec<u8>) -> io::Result<bool> {
    let mut length = [0u8; 4];
    match input.read_exact(&mut length) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(error) => return Err(error),
    }
    let length = u32::from_le_bytes(length) as usize;
    if length > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a frame larger than 256 MiB",
        ));
    }
    let start = frames.len();
    frames.resize(start + length, 0);
    input.read_exact(&mut frames[start..])?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &[b"{\"a\":", b" 1}"]).unwrap();
        write_frame(&mut wire, &[]).unwrap();
        push_frame(&mut wire, &[b"[2]"]);
        let mut reader = &wire[..];
        let mut frame = Vec::new();
        assert!(read_frame(&mut reader, &mut frame).unwrap());
        assert_eq!(frame, b"{\"a\": 1}");
        assert!(read_frame(&mut reader, &mut frame).unwrap());
        assert_eq!(frame, b"{\"a\": 1}", "an empty frame appends nothing");
        frame.clear();
        assert!(read_frame(&mut reader, &mut frame).unwrap());
        assert_eq!(frame, b"[2]");
        assert!(!read_frame(&mut reader, &mut frame).unwrap());
    }

    #[test]
    fn whole_frames_are_told_from_cut_ones() {
        let mut wire = Vec::new();
        push_frame(&mut wire, &[b"abc"]);
        push_frame(&mut wire, &[b"de"]);
        assert!(holds_frames(&wire, 0));
        assert!(holds_frames(&wire, 2));
        assert!(!holds_frames(&wire, 3));
        assert!(!holds_frames(&wire[..wire.len() - 1], 2));
        assert!(!holds_frames(&wire[..9], 2), "a length cut in two");
    }

    #[test]
    fn an_ok_frame_written_around_the_result_reads_as_serde_writes_it() {
        let mut wire = Vec::new();
        push_ok_frame(&mut wire, b"[1,\"two\"]");
        let failed = Outcome::Failed("no such task".to_owned());
        push_frame(&mut wire, &[&serde_json::to_vec(&failed).unwrap()]);
        let mut reader = &wire[..];
        let mut frame = Vec::new();
        read_frame(&mut reader, &mut frame).unwrap();
        match serde_json::from_slice(&frame).unwrap() {
            Outcome::Ok(json) => assert_eq!(json.get(), "[1,\"two\"]"),
            other => panic!("{other:?}"),
        }
        frame.clear();
        read_frame(&mut reader, &mut frame).unwrap();
        match serde_json::from_slice(&frame).unwrap() {
            Outcome::Failed(message) => assert_eq!(message, "no such task"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_cut_frame_is_an_error_not_a_hang() {
        let mut wire = Vec::new();
        write_frame(&mut wire, &[b"0123456789"]).unwrap();
        let mut reader = &wire[..8];
        let mut frame = Vec::new();
        assert_eq!(
            read_frame(&mut reader, &mut frame).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        let absurd = u32::MAX.to_le_bytes();
        assert_eq!(
            read_frame(&mut &absurd[..], &mut frame).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
