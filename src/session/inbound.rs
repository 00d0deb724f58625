//! The socket's read side: what the client sends, as a stream of [`Inbound`]
//! messages for the session actor.
//!
//! Bytes are read into one buffer per worker thread and decoded there; a
//! connection keeps bytes of its own only while a frame is cut in half across
//! reads, so an idle connection holds no read buffer.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::hub::Link;
use crate::hub::wire::{self, FrameError};

/// Bytes read per poll at most, so one busy client yields to others.
const READ_CHUNK: usize = 16 * 1024;

thread_local! {
    static READ_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
}

/// One thing the client sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    Text(String),
    Binary,
    Ping(Vec<u8>),
    Pong,
    /// The client closed, with this code if it gave one.
    Close(Option<u16>),
    /// What it sent cannot be read: close with the matching code.
    Bad(FrameError),
}

pub struct Reader {
    link: Rc<Link>,
    max_message: usize,
    /// The start of a frame whose end has not arrived yet.
    partial: Vec<u8>,
    /// A message of continuation frames being put together: its opcode and bytes.
    fragments: Option<(u8, Vec<u8>)>,
    ready: VecDeque<Inbound>,
    done: bool,
}

impl Reader {
    /// Read `link`, starting with bytes already read past the handshake.
    pub fn new(link: Rc<Link>, max_message: usize, already: Vec<u8>) -> Self {
        let mut reader = Reader {
            link,
            max_message,
            partial: Vec::new(),
            fragments: None,
            ready: VecDeque::new(),
            done: false,
        };
        if !already.is_empty() {
            reader.take(&already);
        }
        reader
    }

    /// Decode what `bytes` completes (after any partial frame kept from before).
    fn take(&mut self, bytes: &[u8]) {
        if self.partial.is_empty() {
            let used = self.decode_all(bytes);
            self.partial.extend_from_slice(&bytes[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.partial);
            buf.extend_from_slice(bytes);
            let used = self.decode_all(&buf);
            buf.drain(..used);
            self.partial = buf;
        }
        if self.partial.is_empty() {
            self.partial = Vec::new(); // give the buffer back
        }
    }

    /// Decode whole frames from the front of `buf`; answers the bytes used.
    fn decode_all(&mut self, buf: &[u8]) -> usize {
        let mut at = 0;
        while !self.done {
            match wire::decode(&buf[at..], self.max_message) {
                Ok(Some((frame, used))) => {
                    at += used;
                    self.frame(frame);
                }
                Ok(None) => break,
                Err(e) => self.fail(e),
            }
        }
        if self.done { buf.len() } else { at }
    }

    fn fail(&mut self, e: FrameError) {
        self.ready.push_back(Inbound::Bad(e));
        self.done = true;
    }

    fn frame(&mut self, f: wire::ClientFrame) {
        match f.opcode {
            wire::OP_PING => self.ready.push_back(Inbound::Ping(f.payload)),
            wire::OP_PONG => self.ready.push_back(Inbound::Pong),
            wire::OP_CLOSE => {
                let code = (f.payload.len() >= 2)
                    .then(|| u16::from_be_bytes([f.payload[0], f.payload[1]]));
                self.ready.push_back(Inbound::Close(code));
                self.done = true;
            }
            wire::OP_CONTINUATION => match self.fragments.as_mut() {
                None => self.fail(FrameError::Protocol),
                Some((_, bytes)) => {
                    if bytes.len() + f.payload.len() > self.max_message {
                        return self.fail(FrameError::TooBig);
                    }
                    bytes.extend_from_slice(&f.payload);
                    if f.fin
                        && let Some((op, bytes)) = self.fragments.take()
                    {
                        self.message(op, bytes);
                    }
                }
            },
            op => {
                if self.fragments.is_some() {
                    return self.fail(FrameError::Protocol); // a new message inside another
                }
                if f.fin {
                    self.message(op, f.payload);
                } else {
                    self.fragments = Some((op, f.payload));
                }
            }
        }
    }

    fn message(&mut self, opcode: u8, payload: Vec<u8>) {
        let item = match opcode {
            wire::OP_TEXT => match String::from_utf8(payload) {
                Ok(text) => Inbound::Text(text),
                Err(_) => return self.fail(FrameError::Protocol),
            },
            _ => Inbound::Binary,
        };
        self.ready.push_back(item);
    }
}

impl futures_util::Stream for Reader {
    type Item = Inbound;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Inbound>> {
        let this = &mut *self;
        loop {
            if let Some(item) = this.ready.pop_front() {
                return Poll::Ready(Some(item));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match this.link.socket().poll_read_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => return Poll::Ready(None),
                Poll::Ready(Ok(())) => {}
            }
            let read = READ_BUF.with(|buf| {
                let mut buf = buf.borrow_mut();
                match this.link.socket().try_read(&mut buf) {
                    Ok(0) => Err(()),
                    Ok(n) => {
                        this.take(&buf[..n]);
                        Ok(n)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(0),
                    Err(_) => Err(()),
                }
            });
            match read {
                Err(()) => return Poll::Ready(None), // the peer is gone
                Ok(n) if n == READ_CHUNK && this.ready.is_empty() => {
                    // A full chunk and nothing whole yet: yield before reading more.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Ok(_) => {}
            }
        }
    }
}
