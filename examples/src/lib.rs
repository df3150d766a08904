//! Runnable examples of the GM platform, and the example game they share.
//!
//! - `cargo run -p gm-examples --bin quickstart`: gm-server on embedded SQLite with the example
//!   game connected to it, in one process.
//! - `cargo run -p gm-examples --bin example-game -- --help`: the example game alone, connecting
//!   to a gm-server you started.
//!
//! The [`game`] module is a headless bevy_ecs game server with simulated players who join,
//! move, chat and leave at a fixed tick rate, linked to gm-sdk the way a real game would be.

pub mod game;
