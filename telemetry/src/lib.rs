//! # gm-telemetry
//!
//! Low-overhead counters, gauges and histograms for game servers, to be shipped to gm-server
//! by gm-sdk.
//!
//! Every handle is cheap to clone and safe to share: [`Counter`], [`Gauge`] and [`Histogram`]
//! are correct under contention from any number of threads. A thread that records on its hot
//! path (the game thread) takes a single-writer handle instead, [`Counter::local`] or
//! [`Histogram::local`], which records with plain loads and stores on cells of its own and is
//! `Send` but not `Sync`, so the compiler keeps it to one writer. No record allocates.
//!
//! ```
//! use gm_telemetry::{Counter, Gauge, Histogram};
//!
//! let frames = Counter::new();
//! let players = Gauge::new();
//! let tick_ms = Histogram::new();
//! // On the game thread:
//! let (frames_here, tick_here) = (frames.local(), tick_ms.local());
//! for ms in [16.6, 16.7, 18.2] {
//!     frames_here.increment(1);
//!     tick_here.record(ms);
//! }
//! players.set(42.0);
//! // Wherever the figures are read or shipped:
//! assert_eq!(frames.get(), 3);
//! assert_eq!(tick_ms.snapshot().count(), 3);
//! assert_eq!(players.get(), 42.0);
//! ```
//!
//! Histogram buckets are fixed and log-linear (see [`histogram`]): snapshots from many
//! handles or game servers merge by adding counts.
//!
//! Structured events go through a bounded ring ([`event::ring`]): one writer, one reader,
//! drop-and-count when full.
//!
//! Code written against the `metrics` facade records into the same handles once a
//! [`TelemetryRecorder`] is installed; its [`Registry`] caps the number of series and lets
//! tests read back what was recorded.

mod counter;
pub mod event;
mod gauge;
pub mod histogram;
mod recorder;

pub use counter::{Counter, LocalCounter};
pub use gauge::Gauge;
pub use histogram::{Histogram, HistogramSnapshot, LocalHistogram};
pub use recorder::{PrehashedKey, Registry, RegistryConfig, TelemetryRecorder};
