//! # gm-telemetry
//!
//! Low-overhead counters, gauges, histograms and structured events for game servers, compatible
//! with the `metrics` facade and shipped to gm-server by gm-sdk.
//!
//! This crate is a placeholder in the workspace layout; its recorder, handles and shipping are
//! the subject of the telemetry issue and are not implemented yet.
