//! # gm-server
//!
//! The central server of the GM platform. Game servers connect to it over QUIC (through
//! `gm-sdk`); it authenticates them with keys stored hashed, keeps a directory of who is
//! connected and routes commands to them. Staff use its HTTPS admin API (argon2id passwords,
//! sessions with CSRF protection, scoped API tokens, TOTP, a role-based access table) and every
//! action lands in a hash-chained audit log. State lives in embedded SQLite by default, or
//! PostgreSQL.
//!
//! The binary is a thin CLI over [`RunningServer`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = gm_server::Config::load(None)?;
//! let server = gm_server::RunningServer::start(config).await?;
//! println!("pin this fingerprint in game servers: {}", server.fingerprint());
//! let reply = server.gateway().send_command("eu-1", "status", vec![], "ops").await;
//! server.shutdown().await;
//! # Ok(()) }
//! ```

pub mod api;
pub mod audit;
pub mod auth;
pub mod commands;
pub mod config;
pub mod events;
mod gateway;
mod http;
pub mod keys;
pub mod logging;
mod server;
pub mod store;
pub mod telemetry;
pub mod tls;

pub use config::Config;
pub use gateway::{
    CommandError, ConnectionFailure, FailureKind, GameServerInfo, Gateway, GatewayStats,
    PlayerLocation, Presence,
};
pub use http::{openapi, router};
pub use server::{RunningServer, StartError};
pub use store::Store;
