//! Every reason the server ends a WebSocket, with its close code and text, in
//! one place (contract §2 and §6).

use actix_ws::{CloseCode, CloseReason};

/// Why a session closes its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// Its outbound queue overflowed: 1008, and what is queued is not sent
    /// (the client would not read it).
    SlowConsumer,
    /// Too many malformed frames in a row: 1008.
    BadFrames,
    /// A frame over `limits.max_frame_bytes`: 1009.
    TooBig { max: usize },
    /// A WebSocket protocol violation: 1002.
    Protocol,
    /// Silent for the idle timeout: 1000.
    Idle,
    /// The node is shutting down (after `reconnect`): 1012.
    Restart,
    /// The client closed: echo its code.
    Echo(CloseCode),
}

impl Close {
    /// The close frame to send.
    pub fn reason(self) -> CloseReason {
        let (code, text) = match self {
            Close::SlowConsumer => (
                CloseCode::Policy,
                "slow consumer: outbound queue overflowed".to_owned(),
            ),
            Close::BadFrames => (CloseCode::Policy, "too many bad frames".to_owned()),
            Close::TooBig { max } => (CloseCode::Size, format!("frame larger than {max} bytes")),
            Close::Protocol => (CloseCode::Protocol, "protocol error".to_owned()),
            Close::Idle => (CloseCode::Normal, "idle timeout".to_owned()),
            Close::Restart => (
                CloseCode::Restart,
                "server restarting; reconnect".to_owned(),
            ),
            Close::Echo(code) => (code, String::new()),
        };
        CloseReason {
            code,
            description: Some(text),
        }
    }

    /// Send what is already queued before the close frame?
    pub fn drain(self) -> bool {
        !matches!(self, Close::SlowConsumer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_are_the_contracts() {
        let code = |c: Close| u16::from(c.reason().code);
        assert_eq!(code(Close::SlowConsumer), 1008);
        assert_eq!(code(Close::BadFrames), 1008);
        assert_eq!(code(Close::TooBig { max: 4096 }), 1009);
        assert_eq!(code(Close::Protocol), 1002);
        assert_eq!(code(Close::Idle), 1000);
        assert_eq!(code(Close::Restart), 1012);
        assert!(!Close::SlowConsumer.drain() && Close::Idle.drain());
    }
}
