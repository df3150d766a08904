//! Length-prefixed bincode frames.
//!
//! A frame is a 4-byte big-endian payload length followed by the bincode encoding of one
//! [`Message`]. The length is checked against the configured maximum before a single payload
//! byte is buffered, so a peer cannot make us allocate more than that.

use crate::message::Message;

/// Default largest payload accepted in one frame: 1 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 20;

/// Bytes taken by the length prefix.
pub const HEADER_LEN: usize = 4;

/// Hard ceiling on any configured frame size; also bincode's allocation limit while decoding.
pub const MAX_FRAME_LEN_CEILING: usize = 16 << 20;

type Config = bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_FRAME_LEN_CEILING>,
>;

const CONFIG: Config = bincode::config::standard().with_limit::<MAX_FRAME_LEN_CEILING>();

/// Failure to encode a message.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The message does not fit in one frame; split it or raise the limit on both sides.
    #[error("message of {len} bytes exceeds the maximum frame size of {max} bytes")]
    TooLarge {
        /// Encoded payload length.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// bincode refused the value (should not happen for protocol messages).
    #[error("could not encode message: {0}")]
    Bincode(#[from] bincode::error::EncodeError),
}

/// Failure to decode a frame. Either way the connection can no longer be trusted to be in sync
/// and should be closed with a protocol error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The length prefix announces a frame above the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum frame size of {max} bytes")]
    TooLarge {
        /// Announced payload length.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The payload is not a valid message.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// Encodes and decodes frames with a maximum payload size.
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_frame_len: usize,
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl FrameCodec {
    /// A codec that refuses payloads above `max_frame_len` bytes (capped at 16 MiB).
    pub fn new(max_frame_len: usize) -> Self {
        FrameCodec {
            max_frame_len: max_frame_len.min(MAX_FRAME_LEN_CEILING),
        }
    }

    /// The largest payload this codec accepts.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Appends one frame holding `msg` to `out`. On error `out` is left as it was.
    ///
    /// ```
    /// use gm_proto::{FrameCodec, Message};
    /// let codec = FrameCodec::default();
    /// let mut buf = Vec::new();
    /// codec.encode(&Message::Ping { nonce: 7 }, &mut buf).unwrap();
    /// let (msg, used) = codec.decode(&buf).unwrap().unwrap();
    /// assert_eq!(msg, Message::Ping { nonce: 7 });
    /// assert_eq!(used, buf.len());
    /// ```
    pub fn encode(&self, msg: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        out.extend_from_slice(&[0; HEADER_LEN]);
        if let Err(e) = bincode::serde::encode_into_std_write(msg, out, CONFIG) {
            out.truncate(start);
            return Err(e.into());
        }
        let len = out.len() - start - HEADER_LEN;
        if len > self.max_frame_len {
            out.truncate(start);
            return Err(EncodeError::TooLarge {
                len,
                max: self.max_frame_len,
            });
        }
        out[start..start + HEADER_LEN].copy_from_slice(&(len as u32).to_be_bytes());
        Ok(())
    }

    /// Decodes the first frame in `buf`.
    ///
    /// Returns `Ok(None)` when more bytes are needed, or the message and the number of bytes it
    /// used. An oversized length prefix is reported as soon as the header is complete.
    pub fn decode(&self, buf: &[u8]) -> Result<Option<(Message, usize)>, DecodeError> {
        let Some(header) = buf.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(header.try_into().expect("4 bytes")) as usize;
        if len > self.max_frame_len {
            return Err(DecodeError::TooLarge {
                len,
                max: self.max_frame_len,
            });
        }
        let Some(payload) = buf.get(HEADER_LEN..HEADER_LEN + len) else {
            return Ok(None);
        };
        let (msg, used) = bincode::serde::decode_from_slice::<Message, _>(payload, CONFIG)
            .map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if used != len {
            return Err(DecodeError::Malformed(format!(
                "{} trailing bytes after the message",
                len - used
            )));
        }
        Ok(Some((msg, HEADER_LEN + len)))
    }

    /// Reads only the protocol version from a frame payload that holds a [`Message::Hello`].
    ///
    /// Used by servers to answer a peer of another version with a [`Message::Reject`] even
    /// when the rest of its hello has a layout this version does not know.
    pub fn peek_hello_version(payload: &[u8]) -> Option<u16> {
        let ((variant, version), _) =
            bincode::serde::decode_from_slice::<(u32, u16), _>(payload, CONFIG).ok()?;
        (variant == 0).then_some(version)
    }
}

/// Accumulates bytes from a stream and yields whole messages.
///
/// Its buffer never holds more than one maximum-size frame plus what one read delivered.
#[derive(Debug, Default)]
pub struct FrameReader {
    codec: FrameCodec,
    buf: Vec<u8>,
    start: usize,
}

impl FrameReader {
    /// A reader decoding with `codec`.
    pub fn new(codec: FrameCodec) -> Self {
        FrameReader {
            codec,
            buf: Vec::new(),
            start: 0,
        }
    }

    /// Changes the frame limit for what follows, for example from a small pre-authentication
    /// limit to the full one once the peer is known.
    pub fn set_codec(&mut self, codec: FrameCodec) {
        self.codec = codec;
    }

    /// Appends bytes received from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, `Ok(None)` when more bytes are needed.
    ///
    /// After an error the stream is out of sync; stop reading and close the connection.
    pub fn next_message(&mut self) -> Result<Option<Message>, DecodeError> {
        match self.codec.decode(&self.buf[self.start..])? {
            Some((msg, used)) => {
                self.start += used;
                Ok(Some(msg))
            }
            None => Ok(None),
        }
    }

    /// The payload of the frame at the head of the buffer, if it is complete. After
    /// [`next_message`](Self::next_message) failed with [`DecodeError::Malformed`] this is the
    /// frame that did not decode (used to read the version of a foreign hello).
    pub fn head_payload(&self) -> Option<&[u8]> {
        let rest = &self.buf[self.start..];
        let len = u32::from_be_bytes(rest.get(..HEADER_LEN)?.try_into().ok()?) as usize;
        rest.get(HEADER_LEN..HEADER_LEN + len)
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::*;

    fn hello(version: u16) -> Message {
        Message::Hello(Hello {
            protocol_version: version,
            server_id: "eu-1".into(),
            server_name: "EU 1".into(),
            region: "eu".into(),
            game_build: "1.0".into(),
            sdk_version: "0.1.0".into(),
            key: "k".into(),
        })
    }

    #[test]
    fn oversized_header_is_refused_before_the_payload_arrives() {
        let codec = FrameCodec::new(16);
        let buf = 17u32.to_be_bytes();
        assert_eq!(
            codec.decode(&buf),
            Err(DecodeError::TooLarge { len: 17, max: 16 })
        );
    }

    #[test]
    fn encode_refuses_messages_above_the_limit() {
        let codec = FrameCodec::new(8);
        let mut out = vec![1, 2, 3];
        let err = codec.encode(&hello(1), &mut out).unwrap_err();
        assert!(matches!(err, EncodeError::TooLarge { max: 8, .. }));
        assert_eq!(out, vec![1, 2, 3]);
    }

    #[test]
    fn partial_frames_wait_for_more_bytes() {
        let codec = FrameCodec::default();
        let mut buf = Vec::new();
        codec.encode(&hello(1), &mut buf).unwrap();
        for cut in 0..buf.len() {
            assert_eq!(codec.decode(&buf[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(codec.decode(&buf).unwrap().is_some());
    }

    #[test]
    fn trailing_garbage_inside_a_frame_is_malformed() {
        let codec = FrameCodec::default();
        let mut buf = Vec::new();
        codec.encode(&Message::Ping { nonce: 1 }, &mut buf).unwrap();
        let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) + 1;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        buf.push(0);
        assert!(matches!(codec.decode(&buf), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn peek_reads_the_version_of_any_hello() {
        let codec = FrameCodec::default();
        let mut buf = Vec::new();
        codec.encode(&hello(99), &mut buf).unwrap();
        assert_eq!(FrameCodec::peek_hello_version(&buf[HEADER_LEN..]), Some(99));
        buf.clear();
        codec.encode(&Message::Ping { nonce: 0 }, &mut buf).unwrap();
        assert_eq!(FrameCodec::peek_hello_version(&buf[HEADER_LEN..]), None);
    }

    #[test]
    fn reader_splits_a_stream_fed_byte_by_byte() {
        let codec = FrameCodec::default();
        let msgs = [
            hello(1),
            Message::Ping { nonce: 3 },
            Message::Pong { nonce: 3 },
        ];
        let mut stream = Vec::new();
        for m in &msgs {
            codec.encode(m, &mut stream).unwrap();
        }
        let mut reader = FrameReader::new(codec);
        let mut got = Vec::new();
        for b in stream {
            reader.push(&[b]);
            while let Some(m) = reader.next_message().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, msgs);
        assert_eq!(reader.buffered(), 0);
    }
}
