//! The socket's write side: the WebSocket response body. It drains the
//! session's bounded queue directly and encodes every frame waiting in it into
//! one buffer per poll, so a burst of frames goes out in one write. Control
//! frames (ping, pong) and the close come on their own small channels.
//!
//! This module only encodes and hands bytes to the HTTP layer; what to send and
//! when to close is the session's decision.

use std::future::Future as _;

use actix_codec::Encoder as _;
use actix_http::ws::{Codec, Message as WsMessage};
use actix_web::web::BytesMut;
use actix_ws::CloseReason;
use tokio::sync::{mpsc, oneshot};

use crate::protocol::Frame;

/// Control frames for the writer, next to the data queue.
pub enum Control {
    Ping,
    Pong(actix_web::web::Bytes),
}

/// How the writer should end the connection.
pub struct Closing {
    pub reason: Option<CloseReason>,
    /// Send what is already queued first (false for a slow consumer: it would not read it).
    pub drain: bool,
}

/// Most bytes encoded per poll of the body, so one busy connection yields to others.
const MAX_CHUNK: usize = 64 * 1024;

/// Where an [`Outbound`] body is in its life.
enum OutState {
    Open,
    /// Closing: send what is queued (if `drain`), then the close frame.
    Closing {
        reason: Option<CloseReason>,
        drain: bool,
    },
    Done,
}

/// The WebSocket's response body: the session's outbound queue, encoded.
pub struct Outbound {
    frames: mpsc::Receiver<Frame>,
    control: mpsc::Receiver<Control>,
    closing: oneshot::Receiver<Closing>,
    codec: Codec,
    buf: BytesMut,
    state: OutState,
    _inbound_guard: actix_web::body::BoxBody,
}

impl Outbound {
    /// The body for one connection. `inbound_guard` is actix-ws's own body,
    /// kept (never polled): dropping it would end the inbound stream, which
    /// watches it to learn that the connection closed.
    pub fn new(
        frames: mpsc::Receiver<Frame>,
        control: mpsc::Receiver<Control>,
        closing: oneshot::Receiver<Closing>,
        inbound_guard: actix_web::body::BoxBody,
    ) -> Self {
        Outbound {
            frames,
            control,
            closing,
            codec: Codec::new(),
            buf: BytesMut::new(),
            state: OutState::Open,
            _inbound_guard: inbound_guard,
        }
    }
}

impl Outbound {
    fn encode(&mut self, msg: WsMessage) {
        // Encoding a text, ping, pong or close frame into a buffer cannot fail.
        let _ = self.codec.encode(msg, &mut self.buf);
    }
}

impl futures_util::Stream for Outbound {
    type Item = Result<actix_web::web::Bytes, std::convert::Infallible>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = &mut *self;
        if let OutState::Open = this.state
            && let Poll::Ready(closing) = std::pin::Pin::new(&mut this.closing).poll(cx)
        {
            // The session ended (without a reason if it was simply dropped).
            this.state = match closing {
                Ok(Closing { reason, drain }) => OutState::Closing { reason, drain },
                Err(_) => OutState::Closing {
                    reason: None,
                    drain: true,
                },
            };
        }
        while let Poll::Ready(Some(c)) = this.control.poll_recv(cx) {
            match c {
                Control::Ping => this.encode(WsMessage::Ping(actix_web::web::Bytes::new())),
                Control::Pong(b) => this.encode(WsMessage::Pong(b)),
            }
        }
        match std::mem::replace(&mut this.state, OutState::Done) {
            OutState::Open => {
                this.state = OutState::Open;
                while this.buf.len() < MAX_CHUNK {
                    match this.frames.poll_recv(cx) {
                        Poll::Ready(Some(frame)) => this.encode(WsMessage::Text(frame)),
                        // Every sender is gone: nothing more will come.
                        Poll::Ready(None) => {
                            this.state = OutState::Closing {
                                reason: None,
                                drain: false,
                            };
                            break;
                        }
                        Poll::Pending => break,
                    }
                }
            }
            OutState::Closing { reason, drain } => {
                if drain {
                    while let Ok(frame) = this.frames.try_recv() {
                        this.encode(WsMessage::Text(frame));
                    }
                }
                this.encode(WsMessage::Close(reason));
                // Done: the stream ends once this last chunk is out.
            }
            OutState::Done => {
                if this.buf.is_empty() {
                    return Poll::Ready(None);
                }
            }
        }
        if let OutState::Closing { .. } = this.state {
            // Close right away in this same poll.
            cx.waker().wake_by_ref();
        }
        if this.buf.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(Some(Ok(this.buf.split().freeze())))
        }
    }
}
