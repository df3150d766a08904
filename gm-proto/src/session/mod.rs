//! Session state machines for both ends of a connection.
//!
//! Neither side does I/O or reads a clock: the caller feeds received messages with
//! `handle_message`, calls `handle_timeout` when the instant returned by `poll_timeout` has
//! passed, and drains `poll_transmit` (messages to send) and `poll_event` (things for the
//! application) after every call.

mod client;
mod server;

pub use client::{ClientConfig, ClientEvent, ClientSession};
pub use server::{SendError, ServerConfig, ServerEvent, ServerSession};

use std::time::Duration;

/// Default heartbeat interval.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);

/// A violation of the protocol by the peer, or a dead peer. The connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The peer sent a message that is not valid in the current state.
    #[error("unexpected {message} message while {state}")]
    Unexpected {
        /// Kind of the message received.
        message: &'static str,
        /// What the session was doing.
        state: &'static str,
    },
    /// The peer did not complete the handshake in time.
    #[error("handshake not completed within {0:?}")]
    HandshakeTimeout(Duration),
    /// Nothing was heard from the peer for longer than the idle timeout.
    #[error("peer silent for more than {0:?}")]
    IdleTimeout(Duration),
}
