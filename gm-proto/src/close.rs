//! QUIC application close codes used by both ends, so each side can say why a connection ended.

/// Normal close: the client is shutting down or the operator disconnected it.
pub const NORMAL: u32 = 0;
/// The peer broke the protocol (malformed or oversized frame, unexpected message).
pub const PROTOCOL_ERROR: u32 = 1;
/// The handshake was refused; the reason came in a `Reject` message.
pub const REJECTED: u32 = 2;
/// gm-server is shutting down; reconnect after a short delay.
pub const SHUTTING_DOWN: u32 = 3;
/// A newer connection with the same server id replaced this one.
pub const REPLACED: u32 = 4;
/// Nothing was heard from the peer for too long.
pub const TIMED_OUT: u32 = 5;

/// A short name for a close code, for logs.
pub fn describe(code: u64) -> &'static str {
    match code {
        0 => "normal close",
        1 => "protocol error",
        2 => "handshake rejected",
        3 => "server shutting down",
        4 => "replaced by a newer connection",
        5 => "timed out",
        _ => "unknown close code",
    }
}
