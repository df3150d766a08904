//! # gm-proto
//!
//! The wire protocol between game servers (through `gm-sdk`) and `gm-server`, without any I/O.
//!
//! - [`FrameCodec`] and [`FrameReader`]: length-prefixed bincode frames with a maximum size.
//! - [`Message`]: everything that crosses the wire.
//! - [`telemetry`]: metric deltas and event batches, on a stream of their own.
//! - [`ClientSession`] and [`ServerSession`]: the handshake, heartbeats and command
//!   request/reply bookkeeping, driven by `handle_*` and `poll_*` calls with `now` passed in.
//!
//! The transports in `gm-sdk` and `gm-server` move bytes between a QUIC stream and these types;
//! everything here is tested with an in-memory pair and a fake clock.
//!
//! ```
//! use std::time::Instant;
//! use gm_proto::*;
//!
//! let now = Instant::now();
//! let hello = Hello {
//!     protocol_version: PROTOCOL_VERSION,
//!     server_id: "eu-1".into(), server_name: "EU 1".into(), region: "eu".into(),
//!     game_build: "1.0".into(), sdk_version: "0.1.0".into(), key: "secret".into(),
//! };
//! let mut client = ClientSession::new(ClientConfig::new(hello), now);
//! let mut server = ServerSession::new(ServerConfig::default(), now);
//!
//! // Bytes would cross a QUIC stream here; the codec frames them.
//! let codec = FrameCodec::default();
//! let mut wire = Vec::new();
//! codec.encode(&client.poll_transmit().unwrap(), &mut wire).unwrap();
//! let (msg, _) = codec.decode(&wire).unwrap().unwrap();
//! server.handle_message(msg, now).unwrap();
//! assert!(matches!(server.poll_event(), Some(ServerEvent::Hello(_))));
//! server.accept(1, now);
//! client.handle_message(server.poll_transmit().unwrap(), now).unwrap();
//! assert!(client.is_established());
//! ```

pub mod close;
mod codec;
pub mod command;
mod message;
mod session;
pub mod telemetry;

pub use codec::{
    DEFAULT_MAX_FRAME_LEN, DecodeError, EncodeError, FrameCodec, FrameReader, HEADER_LEN,
    MAX_FRAME_LEN_CEILING,
};
pub use message::{
    CommandErrorCode, CommandOutcome, CommandReply, CommandRequest, Hello, MAX_IDENT_LEN,
    MAX_KEY_LEN, Message, PROTOCOL_VERSION, PlayerInfo, Reject, RejectCode, RequestId,
    SUPPORTED_VERSIONS, Welcome,
};
pub use session::{
    ClientConfig, ClientEvent, ClientSession, DEFAULT_HEARTBEAT, ProtocolError, SendError,
    ServerConfig, ServerEvent, ServerSession,
};
