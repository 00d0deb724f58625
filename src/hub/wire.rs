//! The WebSocket framing of RFC 6455, as little as roomcast needs: server
//! frames are encoded once per broadcast (the same bytes go to every receiver,
//! since server frames are not masked), client frames are decoded in place.
//!
//! No extensions are negotiated, so any RSV bit is a protocol error.

use bytes::{BufMut, Bytes, BytesMut};

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// A whole server frame: header and payload.
fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 10);
    out.put_u8(0x80 | opcode);
    match payload.len() {
        n @ 0..=125 => out.put_u8(n as u8),
        n @ 126..=0xFFFF => {
            out.put_u8(126);
            out.put_u16(n as u16);
        }
        n => {
            out.put_u8(127);
            out.put_u64(n as u64);
        }
    }
    out.put_slice(payload);
    out.freeze()
}

/// A text frame carrying `json`.
pub fn text(json: &str) -> Bytes {
    frame(OP_TEXT, json.as_bytes())
}

pub fn ping() -> Bytes {
    frame(OP_PING, &[])
}

pub fn pong(payload: &[u8]) -> Bytes {
    frame(OP_PONG, &payload[..payload.len().min(125)])
}

/// A close frame with `code` and a reason (cut to fit a control frame).
pub fn close(code: u16, reason: &str) -> Bytes {
    let mut payload = Vec::with_capacity(2 + reason.len().min(123));
    payload.extend_from_slice(&code.to_be_bytes());
    let mut cut = reason.len().min(123);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    payload.extend_from_slice(&reason.as_bytes()[..cut]);
    frame(OP_CLOSE, &payload)
}

/// One frame a client sent, unmasked.
#[derive(Debug, PartialEq, Eq)]
pub struct ClientFrame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// Why the bytes a client sent cannot be read as frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// A frame (or a message of continuations) over the limit: close 1009.
    TooBig,
    /// Not a valid client frame (unmasked, RSV bits, bad control frame): close 1002.
    Protocol,
}

/// Decode one frame from the front of `buf`: the frame and how many bytes it
/// took, or `Ok(None)` if `buf` does not hold a whole frame yet.
pub fn decode(buf: &[u8], max_payload: usize) -> Result<Option<(ClientFrame, usize)>, FrameError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    if b0 & 0x70 != 0 || b1 & 0x80 == 0 {
        return Err(FrameError::Protocol); // RSV bits, or an unmasked client frame
    }
    let is_control = opcode & 0x08 != 0;
    if !matches!(
        opcode,
        OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
    ) {
        return Err(FrameError::Protocol);
    }
    let (len, mut at) = match b1 & 0x7F {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut n = [0u8; 8];
            n.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(n), 10)
        }
        n => (n as u64, 2),
    };
    if is_control && (len > 125 || !fin) {
        return Err(FrameError::Protocol);
    }
    if len > max_payload as u64 {
        return Err(FrameError::TooBig);
    }
    let len = len as usize;
    if buf.len() < at + 4 + len {
        return Ok(None);
    }
    let mask = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
    at += 4;
    let payload = buf[at..at + len]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i & 3])
        .collect();
    Ok(Some((
        ClientFrame {
            fin,
            opcode,
            payload,
        },
        at + len,
    )))
}

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    let hash = actix_http::ws::hash_key(key);
    String::from_utf8_lossy(&hash).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a client would send: masked.
    fn client(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        match payload.len() {
            n @ 0..=125 => out.push(0x80 | n as u8),
            n @ 126..=0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        out
    }

    #[test]
    fn server_frames_have_the_shortest_length_encoding() {
        assert_eq!(&text("hi")[..], b"\x81\x02hi");
        let mid = text(&"x".repeat(300));
        assert_eq!(&mid[..4], &[0x81, 126, 0x01, 0x2C]);
        assert_eq!(mid.len(), 304);
        let big = text(&"x".repeat(70_000));
        assert_eq!(big[1], 127);
        assert_eq!(&close(1008, "slow")[..], b"\x88\x06\x03\xF0slow");
        assert_eq!(&ping()[..], b"\x89\x00");
    }

    #[test]
    fn client_frames_decode_whole_or_wait_for_more() {
        let bytes = client(OP_TEXT, true, b"{\"type\":\"ping\"}");
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut], 4096), Ok(None), "cut at {cut}");
        }
        let (f, used) = decode(&bytes, 4096).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!((f.fin, f.opcode), (true, OP_TEXT));
        assert_eq!(f.payload, b"{\"type\":\"ping\"}");
        let long = client(OP_TEXT, true, &[b'a'; 4000]);
        assert_eq!(decode(&long, 4096).unwrap().unwrap().0.payload.len(), 4000);
    }

    #[test]
    fn bad_client_frames_are_refused() {
        assert_eq!(
            decode(&client(OP_TEXT, true, &[b'a'; 5000]), 4096),
            Err(FrameError::TooBig)
        );
        // Unmasked.
        assert_eq!(decode(b"\x81\x02hi", 4096), Err(FrameError::Protocol));
        // RSV1 set.
        let mut rsv = client(OP_TEXT, true, b"x");
        rsv[0] |= 0x40;
        assert_eq!(decode(&rsv, 4096), Err(FrameError::Protocol));
        // A fragmented ping.
        assert_eq!(
            decode(&client(OP_PING, false, b"x"), 4096),
            Err(FrameError::Protocol)
        );
        // An unknown opcode.
        assert_eq!(
            decode(&client(0x3, true, b""), 4096),
            Err(FrameError::Protocol)
        );
    }

    #[test]
    fn the_accept_key_is_rfc_6455s_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
