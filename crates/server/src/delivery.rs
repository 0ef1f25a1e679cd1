//! How an answer's bytes reach the client: as usual, or as the practice
//! ground decided ([`Delivery`]): not at all (the connection dropped,
//! reset, or left hanging), cut short of their `Content-Length`, or
//! dripped a few bytes at a time. [`deliver`] carries a delivery out;
//! the connection's service calls it for every answer.

use std::num::NonZeroU32;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Bytes, Frame, SizeHint};

use crate::chaos::FaultKind;
use crate::connection::Activity;
use crate::metrics::Delivered;
use crate::routes::{AppState, Response};

/// How an answer's bytes reach the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// As usual.
    Whole,
    /// The connection is closed instead.
    Drop,
    /// The connection is reset (RST) instead.
    Reset,
    /// Nothing, ever (until the server stops).
    Hang,
    /// Half the body, then the connection is closed.
    Truncate,
    /// The body at this many bytes a second.
    Slow(NonZeroU32),
    /// The live view's stream of events (`/live/events`), until the
    /// client goes or the server stops.
    LiveEvents,
}

impl Delivery {
    /// The fault this delivery is, if it is one (counted at `/metrics`).
    pub(crate) fn fault(self) -> Option<FaultKind> {
        match self {
            Delivery::Whole | Delivery::LiveEvents => None,
            Delivery::Drop => Some(FaultKind::Drop),
            Delivery::Reset => Some(FaultKind::Reset),
            Delivery::Hang => Some(FaultKind::Hang),
            Delivery::Truncate => Some(FaultKind::Truncate),
            Delivery::Slow(_) => Some(FaultKind::SlowBody),
        }
    }

    /// What reached the client of `response`, as `/metrics` counts it:
    /// its status, or the fault that kept it from the client.
    pub(crate) fn delivered(self, response: &Response) -> Delivered {
        match self {
            Delivery::Whole | Delivery::Slow(_) | Delivery::LiveEvents => {
                Delivered::Status(response.status().as_u16())
            }
            Delivery::Drop => Delivered::Dropped,
            Delivery::Reset => Delivered::Reset,
            Delivery::Hang => Delivered::Hung,
            Delivery::Truncate => Delivered::Truncated,
        }
    }
}

/// The practice ground's answer that never was: hyper closes a connection
/// whose service fails, without a word.
#[derive(Debug, thiserror::Error)]
#[error("no answer, on purpose (chaos)")]
pub(crate) struct NoAnswer;

/// Sends `response` as `delivery` says: the answer whole, or dripped, or
/// cut short; or no answer (an error, on which hyper closes the
/// connection), after arranging a reset or waiting until the server stops.
pub(crate) async fn deliver(
    delivery: Delivery,
    response: Response,
    state: &AppState,
    activity: &Activity,
) -> Result<hyper::Response<DeliveryBody>, NoAnswer> {
    match delivery {
        Delivery::Whole => Ok(response.map(DeliveryBody::Whole)),
        Delivery::LiveEvents => {
            // Two events of room: a viewer that reads slowly holds the
            // stream back rather than growing a queue.
            let (events, received) = tokio::sync::mpsc::channel(2);
            tokio::spawn(crate::live::stream(state.clone(), events));
            Ok(response.map(|_| DeliveryBody::Events(received)))
        }
        Delivery::Drop => Err(NoAnswer),
        Delivery::Reset => {
            activity.reset_when_closed();
            Err(NoAnswer)
        }
        Delivery::Hang => {
            state.until_stopping().await;
            Err(NoAnswer)
        }
        Delivery::Truncate | Delivery::Slow(_) => {
            let (mut head, body) = response.into_parts();
            let Ok(body) = body.collect().await.map(|body| body.to_bytes());
            let body = match delivery {
                Delivery::Slow(rate) => DeliveryBody::drip(body, rate),
                _ => {
                    // The whole length promised, half of it sent.
                    head.headers.insert(
                        hyper::header::CONTENT_LENGTH,
                        hyper::header::HeaderValue::from(body.len()),
                    );
                    DeliveryBody::cut_short(body.slice(..body.len() / 2))
                }
            };
            Ok(hyper::Response::from_parts(head, body))
        }
    }
}

/// Why a body stopped early: on purpose, `--truncate-rate`.
#[derive(Debug, thiserror::Error)]
#[error("body cut short on purpose (--truncate-rate)")]
pub(crate) struct CutShort;

/// Every answer's body as the connection sends it.
pub(crate) enum DeliveryBody {
    /// As the handler made it (the only kind without chaos).
    Whole(Full<Bytes>),
    /// The first part of a body whose `Content-Length` promised more; then
    /// an error, on which hyper closes the connection.
    CutShort {
        part: Option<Bytes>,
        /// Whether hyper had a chance to send the part: it flushes what it
        /// holds when the body is not ready, and drops it on an error.
        flushed: bool,
    },
    /// Events as they come, until their sender ends.
    Events(tokio::sync::mpsc::Receiver<Bytes>),
    /// The body at `rate` bytes a second, in tenths of a second.
    Drip {
        rest: Bytes,
        rate: u32,
        pause: Option<Pin<Box<tokio::time::Sleep>>>,
    },
}

impl DeliveryBody {
    /// The first `part` of a longer body, then the end of the connection.
    pub(crate) fn cut_short(part: Bytes) -> DeliveryBody {
        DeliveryBody::CutShort {
            part: Some(part),
            flushed: false,
        }
    }

    /// A drip of `body` at `rate` bytes a second.
    pub(crate) fn drip(body: Bytes, rate: std::num::NonZeroU32) -> DeliveryBody {
        DeliveryBody::Drip {
            rest: body,
            rate: rate.get(),
            pause: None,
        }
    }
}

impl Body for DeliveryBody {
    type Data = Bytes;
    type Error = CutShort;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, CutShort>>> {
        match self.get_mut() {
            DeliveryBody::Whole(full) => Pin::new(full)
                .poll_frame(cx)
                .map(|frame| frame.map(|result| result.map_err(|never| match never {}))),
            DeliveryBody::CutShort { part, flushed } => {
                if let Some(part) = part.take() {
                    return Poll::Ready(Some(Ok(Frame::data(part))));
                }
                if !*flushed {
                    // Not ready, once: hyper writes out the part, then
                    // polls again at once.
                    *flushed = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(Some(Err(CutShort)))
            }
            DeliveryBody::Events(received) => received
                .poll_recv(cx)
                .map(|event| event.map(|bytes| Ok(Frame::data(bytes)))),
            DeliveryBody::Drip { rest, rate, pause } => {
                if let Some(sleep) = pause {
                    std::task::ready!(sleep.as_mut().poll(cx));
                }
                if rest.is_empty() {
                    return Poll::Ready(None);
                }
                // A tenth of a second's bytes (at least one), then a pause
                // as long as they take at `rate`.
                let chunk = (*rate / 10).max(1) as usize;
                let part = rest.split_to(chunk.min(rest.len()));
                let seconds = part.len() as f64 / f64::from(*rate);
                *pause = Some(Box::pin(tokio::time::sleep(Duration::from_secs_f64(
                    seconds,
                ))));
                Poll::Ready(Some(Ok(Frame::data(part))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            DeliveryBody::Whole(full) => full.is_end_stream(),
            DeliveryBody::CutShort { .. } | DeliveryBody::Events(_) => false,
            DeliveryBody::Drip { rest, .. } => rest.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            DeliveryBody::Whole(full) => full.size_hint(),
            // The `Content-Length` header promises the whole body.
            DeliveryBody::CutShort { .. } | DeliveryBody::Events(_) => SizeHint::default(),
            DeliveryBody::Drip { rest, .. } => SizeHint::with_exact(rest.len() as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_drip_sends_every_byte_at_its_rate() {
        let body = Bytes::from_static(b"0123456789abcdefghij");
        let started = tokio::time::Instant::now();
        let mut drip = DeliveryBody::drip(body.clone(), 10.try_into().unwrap());
        let mut received = Vec::new();
        while let Some(frame) = drip.frame().await {
            received.extend_from_slice(&frame.unwrap().into_data().unwrap());
        }
        assert_eq!(received, body);
        // 20 bytes at 10 a second: a byte every 0.1 s, the last pause
        // after the last byte included.
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_cut_body_ends_in_an_error() {
        let mut cut = DeliveryBody::cut_short(Bytes::from_static(b"[1, "));
        assert_eq!(
            cut.frame().await.unwrap().unwrap().into_data().unwrap(),
            "[1, "
        );
        assert!(cut.frame().await.unwrap().is_err());
    }
}
