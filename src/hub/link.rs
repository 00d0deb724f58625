//! A link: one connection's socket and its outbound frames, shared on its
//! worker thread by the session actor (which reads and decides) and the shard
//! (which delivers room traffic without waking the session).
//!
//! The outbound queue is bounded in frames and in bytes; the buffer of queued
//! frames exists only while frames wait, and is given back when they are
//! written. Everything queued for a link in one turn goes out in one write
//! (a `writev` of the shared frames, no copy). A link whose socket takes no
//! bytes for the write timeout is dropped, so a peer that stops reading can
//! never hold server memory.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use bytes::Bytes;
use tokio::net::TcpStream;

use super::wire;

/// A connection's id, unique within this process.
pub type ConnId = u64;

/// The bounds of one link's outbound queue.
#[derive(Debug, Clone, Copy)]
pub struct LinkLimits {
    pub max_frames: usize,
    pub max_bytes: usize,
    pub write_timeout: Duration,
}

/// Why a link went down by itself: its session must close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Down {
    /// Its outbound queue overflowed (the session closes with 1008).
    SlowConsumer,
    /// Its socket took nothing for the write timeout, or failed.
    Dead,
}

/// What a link tells its session.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq)]
#[rtype(result = "()")]
pub enum LinkEvent {
    /// The link went down by itself: the session must end.
    Down(Down),
    /// The node is draining (SIGTERM): the session leaves in its own time.
    Draining,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// A close frame is queued; once it is written the socket is shut.
    Closing,
    Closed,
}

#[derive(Default)]
struct Outbox {
    frames: VecDeque<Bytes>,
    /// Bytes of the first frame already written.
    offset: usize,
    /// Bytes queued and not yet written.
    bytes: usize,
    /// A writer task waits for the socket to become writable.
    waiting: bool,
}

impl Outbox {
    /// `n` bytes were written from the front.
    fn consume(&mut self, mut n: usize) {
        self.bytes -= n;
        while n > 0 {
            let first = self.frames[0].len() - self.offset;
            if n >= first {
                n -= first;
                self.offset = 0;
                self.frames.pop_front();
            } else {
                self.offset += n;
                n = 0;
            }
        }
    }

    /// Drop what waits, except the rest of a frame already partly written
    /// (the stream would be corrupt without it).
    fn clear(&mut self) {
        let partial = (self.offset > 0).then(|| self.frames.pop_front()).flatten();
        self.frames = VecDeque::new();
        self.bytes = 0;
        if let Some(f) = partial {
            self.bytes = f.len() - self.offset;
            self.frames.push_back(f);
        } else {
            self.offset = 0;
        }
    }
}

pub struct Link {
    pub id: ConnId,
    sock: TcpStream,
    limits: LinkLimits,
    out: RefCell<Outbox>,
    state: Cell<State>,
    /// Queued in this turn of the shard (so it is written once at the end).
    pub(super) dirty: Cell<bool>,
    /// Where to say the link went down.
    session: RefCell<Option<Recipient<LinkEvent>>>,
}

/// Most frames handed to one `writev`.
const MAX_IOV: usize = 64;

impl Link {
    pub(super) fn new(id: ConnId, sock: TcpStream, limits: LinkLimits) -> Self {
        Link {
            id,
            sock,
            limits,
            out: RefCell::new(Outbox::default()),
            state: Cell::new(State::Open),
            dirty: Cell::new(false),
            session: RefCell::new(None),
        }
    }

    /// The socket, for the session's read side.
    pub fn socket(&self) -> &TcpStream {
        &self.sock
    }

    pub fn set_session(&self, session: Recipient<LinkEvent>) {
        *self.session.borrow_mut() = Some(session);
    }

    pub fn is_open(&self) -> bool {
        self.state.get() == State::Open
    }

    /// Bytes waiting to be written.
    pub fn queued_bytes(&self) -> usize {
        self.out.borrow().bytes
    }

    /// Queue a frame without writing it yet (the shard writes at the end of its
    /// turn). A queue over its bounds takes the link down as a slow consumer.
    pub(super) fn queue(self: &Rc<Self>, frame: Bytes) {
        if self.state.get() != State::Open {
            return;
        }
        let mut out = self.out.borrow_mut();
        out.bytes += frame.len();
        out.frames.push_back(frame);
        let over = out.frames.len() > self.limits.max_frames || out.bytes > self.limits.max_bytes;
        drop(out);
        if over {
            self.down(Down::SlowConsumer);
        }
    }

    /// Queue a frame and write at once (the session's own frames).
    pub fn send(self: &Rc<Self>, frame: Bytes) {
        self.queue(frame);
        self.flush();
    }

    /// Write what is queued, as far as the socket takes it; if it takes less,
    /// a writer task waits for it (with the write timeout).
    pub fn flush(self: &Rc<Self>) {
        if self.out.borrow().waiting {
            return; // the writer task goes on when the socket is ready
        }
        match self.write_some() {
            Ok(true) => self.finish_if_closing(),
            Ok(false) => self.wait_writable(),
            Err(_) => self.down(Down::Dead),
        }
    }

    /// Write until done (true) or the socket would block (false).
    fn write_some(&self) -> io::Result<bool> {
        let mut out = self.out.borrow_mut();
        while !out.frames.is_empty() {
            let res = if out.frames.len() == 1 {
                self.sock.try_write(&out.frames[0][out.offset..])
            } else {
                let mut iov = [IoSlice::new(&[]); MAX_IOV];
                let n = out.frames.len().min(MAX_IOV);
                for (i, f) in out.frames.iter().take(n).enumerate() {
                    iov[i] = IoSlice::new(if i == 0 { &f[out.offset..] } else { f });
                }
                self.sock.try_write_vectored(&iov[..n])
            };
            match res {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => out.consume(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        // Give the buffer back: an idle link holds none.
        out.frames = VecDeque::new();
        Ok(true)
    }

    /// Wait (in a task of our own, only while blocked) for the socket to take
    /// more; drop the link if it takes nothing for the write timeout.
    fn wait_writable(self: &Rc<Self>) {
        self.out.borrow_mut().waiting = true;
        let link = self.clone();
        actix_rt::spawn(async move {
            loop {
                let ready =
                    tokio::time::timeout(link.limits.write_timeout, link.sock.writable()).await;
                if !matches!(ready, Ok(Ok(()))) {
                    link.out.borrow_mut().waiting = false;
                    link.down(Down::Dead);
                    return;
                }
                match link.write_some() {
                    Ok(true) => {
                        link.out.borrow_mut().waiting = false;
                        link.finish_if_closing();
                        return;
                    }
                    Ok(false) => continue, // some progress, or a spurious wake-up
                    Err(_) => {
                        link.out.borrow_mut().waiting = false;
                        link.down(Down::Dead);
                        return;
                    }
                }
            }
        });
    }

    /// Close with `code`: after what is queued (`drain`), or instead of it.
    /// The socket is shut once the close frame is out (or the write timeout passed).
    pub fn close(self: &Rc<Self>, code: u16, reason: &str, drain: bool) {
        if self.state.get() != State::Open {
            return;
        }
        if !drain {
            self.out.borrow_mut().clear();
        }
        self.queue(wire::close(code, reason));
        self.state.set(State::Closing);
        self.flush();
    }

    fn finish_if_closing(&self) {
        if self.state.get() == State::Closing {
            self.shut();
        }
    }

    /// Shut the socket down and let go of every queued frame.
    fn shut(&self) {
        self.state.set(State::Closed);
        *self.out.borrow_mut() = Outbox::default();
        // SAFETY: shutdown(2) on a descriptor this socket owns; it only ends the
        // connection (the descriptor itself is closed when the socket is dropped).
        unsafe {
            libc::shutdown(self.sock.as_raw_fd(), libc::SHUT_RDWR);
        }
    }

    /// Tell the session something.
    pub(super) fn tell(&self, event: LinkEvent) {
        if let Some(session) = self.session.borrow().as_ref() {
            session.do_send(event);
        }
    }

    /// The link failed by itself: release it now and tell the session.
    fn down(self: &Rc<Self>, why: Down) {
        if self.state.get() == State::Closed {
            return;
        }
        if why == Down::SlowConsumer && self.state.get() == State::Open {
            // One last frame says why; a peer that reads nothing never sees it.
            self.out.borrow_mut().clear();
            self.state.set(State::Closing);
            let close = wire::close(1008, "slow consumer: outbound queue overflowed");
            let mut out = self.out.borrow_mut();
            out.bytes += close.len();
            out.frames.push_back(close);
            drop(out);
            if let Ok(true) = self.write_some() {
                self.shut();
            } else if !self.out.borrow().waiting {
                self.wait_writable();
            }
        } else {
            self.shut();
        }
        self.tell(LinkEvent::Down(why));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consuming_bytes_pops_whole_frames_and_keeps_the_offset_of_a_partial_one() {
        let mut out = Outbox::default();
        for f in [&b"abc"[..], b"de", b"fghi"] {
            out.bytes += f.len();
            out.frames.push_back(Bytes::copy_from_slice(f));
        }
        out.consume(4);
        assert_eq!((out.frames.len(), out.offset, out.bytes), (2, 1, 5));
        out.consume(1);
        assert_eq!((out.frames.len(), out.offset, out.bytes), (1, 0, 4));
        out.consume(4);
        assert!(out.frames.is_empty() && out.bytes == 0);
    }

    #[test]
    fn clearing_keeps_the_rest_of_a_partly_written_frame() {
        let mut out = Outbox::default();
        for f in [&b"abc"[..], b"de"] {
            out.bytes += f.len();
            out.frames.push_back(Bytes::copy_from_slice(f));
        }
        out.consume(1);
        out.clear();
        assert_eq!((out.frames.len(), out.offset, out.bytes), (1, 1, 2));
        out.consume(2);
        out.clear();
        assert_eq!((out.frames.len(), out.offset, out.bytes), (0, 0, 0));
    }
}
