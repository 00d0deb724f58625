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
use crate::metrics::{self, METRICS};

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
    /// The frame being written; kept inline, so a link with one frame
    /// pending (the usual case) allocates nothing.
    head: Option<Bytes>,
    /// Bytes of `head` already written.
    offset: usize,
    /// Frames after `head`; allocated only while two or more wait.
    rest: VecDeque<Bytes>,
    /// Bytes queued and not yet written.
    bytes: usize,
    /// A writer task waits for the socket to become writable.
    waiting: bool,
}

impl Outbox {
    fn len(&self) -> usize {
        usize::from(self.head.is_some()) + self.rest.len()
    }

    fn push(&mut self, frame: Bytes) {
        metrics::add(&METRICS.outbound_bytes, frame.len() as u64);
        self.bytes += frame.len();
        if self.head.is_none() {
            self.head = Some(frame);
        } else {
            self.rest.push_back(frame);
        }
    }

    /// `n` bytes were written from the front.
    fn consume(&mut self, mut n: usize) {
        self.bytes -= n;
        METRICS
            .outbound_bytes
            .fetch_sub(n as u64, std::sync::atomic::Ordering::Relaxed);
        while n > 0 {
            let Some(head) = &self.head else { return };
            let left = head.len() - self.offset;
            if n >= left {
                n -= left;
                self.offset = 0;
                self.head = self.rest.pop_front();
            } else {
                self.offset += n;
                n = 0;
            }
        }
    }

    /// Drop what waits, except the rest of a frame already partly written
    /// (the stream would be corrupt without it).
    fn clear(&mut self) {
        let before = self.bytes;
        self.rest = VecDeque::new();
        if self.offset > 0
            && let Some(head) = &self.head
        {
            self.bytes = head.len() - self.offset;
        } else {
            self.head = None;
            self.offset = 0;
            self.bytes = 0;
        }
        let freed = (before - self.bytes) as u64;
        METRICS
            .outbound_bytes
            .fetch_sub(freed, std::sync::atomic::Ordering::Relaxed);
    }

    /// Let go of everything (the socket is shut).
    fn release(&mut self) {
        METRICS
            .outbound_bytes
            .fetch_sub(self.bytes as u64, std::sync::atomic::Ordering::Relaxed);
        *self = Outbox::default();
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

/// One `send(2)` on the socket: the hot path of a delivery, straight to the
/// kernel without tokio's readiness bookkeeping (a `WouldBlock` then updates
/// it, see `write_some`). `send`, not `write`: a socket write through the VFS
/// costs a file-position lock in a threaded process.
fn send(sock: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: a send from a live slice on a descriptor this socket owns.
    let n = unsafe {
        libc::send(
            sock.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// One `sendmsg(2)` of several frames.
fn send_vectored(sock: &TcpStream, iov: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: `IoSlice` is ABI-compatible with `iovec` on Unix; the slices live
    // for the call; the message header names nothing else; the descriptor is
    // this socket's.
    let n = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = iov.len() as _;
        libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL)
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

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
        out.push(frame);
        let over = out.len() > self.limits.max_frames || out.bytes > self.limits.max_bytes;
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
        while let Some(head) = &out.head {
            let res = if out.rest.is_empty() {
                send(&self.sock, &head[out.offset..])
            } else {
                let mut iov = [IoSlice::new(&[]); MAX_IOV];
                iov[0] = IoSlice::new(&head[out.offset..]);
                let n = 1 + out.rest.len().min(MAX_IOV - 1);
                for (slot, f) in iov[1..n].iter_mut().zip(out.rest.iter()) {
                    *slot = IoSlice::new(f);
                }
                send_vectored(&self.sock, &iov[..n])
            };
            match res {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => out.consume(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Tell tokio, so `writable()` waits for the socket's next edge.
                    let _ = self.sock.try_io(tokio::io::Interest::WRITABLE, || {
                        Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
                    });
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
        }
        // Give the buffer back: an idle link holds none.
        if out.rest.capacity() > 0 {
            out.rest = VecDeque::new();
        }
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
        self.out.borrow_mut().release();
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
            self.out.borrow_mut().push(close);
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

    fn outbox(frames: &[&[u8]]) -> Outbox {
        let mut out = Outbox::default();
        for f in frames {
            out.push(Bytes::copy_from_slice(f));
        }
        out
    }

    #[test]
    fn consuming_bytes_pops_whole_frames_and_keeps_the_offset_of_a_partial_one() {
        let mut out = outbox(&[b"abc", b"de", b"fghi"]);
        out.consume(4);
        assert_eq!((out.len(), out.offset, out.bytes), (2, 1, 5));
        out.consume(1);
        assert_eq!((out.len(), out.offset, out.bytes), (1, 0, 4));
        out.consume(4);
        assert!(out.len() == 0 && out.bytes == 0);
    }

    #[test]
    fn clearing_keeps_the_rest_of_a_partly_written_frame() {
        let mut out = outbox(&[b"abc", b"de"]);
        out.consume(1);
        out.clear();
        assert_eq!((out.len(), out.offset, out.bytes), (1, 1, 2));
        out.consume(2);
        out.clear();
        assert_eq!((out.len(), out.offset, out.bytes), (0, 0, 0));
    }
}
