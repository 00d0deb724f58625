//! Every reason the server ends a WebSocket, with its close code and text, in
//! one place (contract §2 and §6). What is queued goes out before the close
//! frame; a slow consumer is closed by its link, which drops its queue itself.

/// Why a session closes its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
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
    /// The frame budget refused every second for 5 s (contract §6): 1008.
    BudgetSpent,
    /// The token ran out without a refresh (contract §6): 4001.
    TokenExpired,
    /// The client closed: echo its code.
    Echo(u16),
}

impl Close {
    /// The close frame's code and text.
    pub fn code_and_text(self) -> (u16, String) {
        match self {
            Close::BadFrames => (1008, "too many bad frames".to_owned()),
            Close::TooBig { max } => (1009, format!("frame larger than {max} bytes")),
            Close::Protocol => (1002, "protocol error".to_owned()),
            Close::Idle => (1000, "idle timeout".to_owned()),
            Close::Restart => (1012, "server restarting; reconnect".to_owned()),
            Close::BudgetSpent => (1008, "frame budget spent".to_owned()),
            Close::TokenExpired => (4001, "token expired".to_owned()),
            Close::Echo(code) => (code, String::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_are_the_contracts() {
        let code = |c: Close| c.code_and_text().0;
        assert_eq!(code(Close::BadFrames), 1008);
        assert_eq!(code(Close::TooBig { max: 4096 }), 1009);
        assert_eq!(code(Close::Protocol), 1002);
        assert_eq!(code(Close::Idle), 1000);
        assert_eq!(code(Close::Restart), 1012);
        assert_eq!(code(Close::Echo(4000)), 4000);
        assert_eq!(code(Close::BudgetSpent), 1008);
        assert_eq!(code(Close::TokenExpired), 4001);
    }
}
