//! # gm-sdk
//!
//! The crate a game server links to talk to gm-server. The handle ([`GmClient`]) is for the
//! game thread: every call returns at once, and queues between it and the driver are bounded.
//! The driver owns the QUIC connection, reconnects with backoff and jitter, and keeps
//! [`GmClient::status`] current.
//!
//! ## Getting started
//!
//! ```no_run
//! use gm_sdk::{CommandOutcome, GameStatus, GmClient};
//!
//! let gm = GmClient::builder("gm.example.net:7400")
//!     .pin_fingerprint(std::env::var("GM_FINGERPRINT").unwrap_or_default())
//!     .key(std::env::var("GM_KEY").unwrap_or_default())
//!     .server_id("eu-1")
//!     .spawn()?; // no tokio in the game? the driver gets a thread of its own
//! loop {
//!     // ... one game tick ...
//!     gm.report_status(GameStatus { players: 12, tick_rate_hz: 60.0 });
//!     while let Some(cmd) = gm.poll_command() {
//!         gm.reply(&cmd, CommandOutcome::ok(format!("ran {}", cmd.command)));
//!     }
//! #   break;
//! }
//! # Ok::<(), gm_sdk::BuildError>(())
//! ```
//!
//! Games that run tokio call [`GmClientBuilder::build`] instead and spawn the returned
//! [`Driver`] on their runtime.

// The README's integration snippet is compiled here so it cannot rot.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

mod backoff;
#[cfg(feature = "bevy")]
pub mod bevy;
mod builder;
mod client;
mod command;
mod driver;
mod ship;
mod status;
pub(crate) mod telemetry;
mod tls;

pub use backoff::Backoff;
pub use builder::{BuildError, Driver, GmClientBuilder, TelemetryConfig};
pub use client::{ClientStats, CommandReply, GmClient, unix_ms};
pub use command::{
    Arg, ArgValue, CommandErrorCode, CommandHandler, CommandOutcome, CommandSpec, IncomingCommand,
    ParsedCommand, PlayerRef, Role,
};
/// The telemetry crate the SDK ships from (handles, events, the test recorder).
pub use gm_telemetry;
/// The `metrics` facade the SDK's recorder serves (its `Key` names series).
pub use metrics;
pub use status::{ConnectionStatus, GameStatus, RefusalKind};
pub use telemetry::names as metric_names;
pub use tls::{ServerTrust, quinn_client_config};
