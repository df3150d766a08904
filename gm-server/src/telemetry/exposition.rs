//! `/metrics`: gm-server's own operational metrics and the fleet's game metrics, in the
//! Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use super::fleet::{render_snapshot, sample};
use crate::gateway::Gateway;
use crate::store::{Store, StoreOp};

/// HTTP request counts and latency, recorded by the admin listener's middleware.
#[derive(Debug, Default)]
pub struct HttpStats {
    /// Responses by status class: 1xx to 5xx.
    by_class: [gm_telemetry::Counter; 5],
    seconds: gm_telemetry::Histogram,
}

impl HttpStats {
    /// Records one response.
    pub fn record(&self, status: u16, seconds: f64) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.by_class[class].increment(1);
        self.seconds.record(seconds);
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn single(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    header(out, name, kind, help);
    sample(out, name, &[], None, value);
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The whole exposition.
pub fn render(gateway: &Gateway, store: &Store, http: &HttpStats) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let g = gateway.stats();
    let t = gateway.telemetry();
    let ts = t.stats();
    let counter = |v: &std::sync::atomic::AtomicU64| v.load(Relaxed) as f64;
    single(
        &mut out,
        "gm_server_game_connections",
        "gauge",
        "QUIC connections from game servers open now, authenticated or not.",
        gateway.open_connections() as f64,
    );
    single(
        &mut out,
        "gm_server_connections_accepted_total",
        "counter",
        "QUIC connections accepted.",
        counter(&g.accepted),
    );
    single(
        &mut out,
        "gm_server_sessions_established_total",
        "counter",
        "Game server sessions that completed the handshake.",
        counter(&g.established),
    );
    single(
        &mut out,
        "gm_server_handshakes_rejected_total",
        "counter",
        "Game server handshakes refused (bad key, version, hello).",
        counter(&g.rejected),
    );
    single(
        &mut out,
        "gm_server_protocol_errors_total",
        "counter",
        "Game server connections closed for a protocol error.",
        counter(&g.protocol_errors),
    );
    header(
        &mut out,
        "gm_server_frames_total",
        "counter",
        "Control-stream frames exchanged with game servers.",
    );
    for (dir, v) in [("in", &g.frames_in), ("out", &g.frames_out)] {
        sample(
            &mut out,
            "gm_server_frames_total",
            &labels(&[("direction", dir)]),
            None,
            counter(v),
        );
    }
    header(
        &mut out,
        "gm_server_http_responses_total",
        "counter",
        "Admin API responses by status class.",
    );
    for (i, c) in http.by_class.iter().enumerate() {
        let class = format!("{}xx", i + 1);
        sample(
            &mut out,
            "gm_server_http_responses_total",
            &labels(&[("class", &class)]),
            None,
            c.get() as f64,
        );
    }
    header(
        &mut out,
        "gm_server_http_request_seconds",
        "histogram",
        "Admin API request latency, seconds.",
    );
    render_snapshot(
        &mut out,
        "gm_server_http_request_seconds",
        &[],
        &http.seconds.snapshot(),
    );
    header(
        &mut out,
        "gm_server_store_seconds",
        "histogram",
        "Store operation latency, seconds.",
    );
    for op in StoreOp::ALL {
        render_snapshot(
            &mut out,
            "gm_server_store_seconds",
            &labels(&[("op", op.as_str())]),
            &store.metrics().seconds(op).snapshot(),
        );
    }
    for (name, help, v) in [
        (
            "gm_server_telemetry_metric_batches_total",
            "Metric batches received from game servers.",
            &ts.metric_batches,
        ),
        (
            "gm_server_telemetry_event_batches_total",
            "Event batches received from game servers.",
            &ts.event_batches,
        ),
        (
            "gm_server_telemetry_events_total",
            "Events received from game servers.",
            &ts.events,
        ),
        (
            "gm_server_telemetry_events_stored_total",
            "Events written to the store.",
            &ts.events_stored,
        ),
        (
            "gm_server_telemetry_events_store_failed_total",
            "Events lost because the store refused them.",
            &ts.events_store_failed,
        ),
        (
            "gm_server_telemetry_stream_errors_total",
            "Telemetry streams refused for malformed or oversized frames.",
            &ts.stream_errors,
        ),
    ] {
        single(&mut out, name, "counter", help, counter(v));
    }
    single(
        &mut out,
        "gm_server_telemetry_series",
        "gauge",
        "Game metric series held.",
        t.fleet().series_count() as f64,
    );
    single(
        &mut out,
        "gm_server_telemetry_series_limit",
        "gauge",
        "Most game metric series held (telemetry.max_series).",
        t.fleet().max_series() as f64,
    );
    single(
        &mut out,
        "gm_server_telemetry_series_refused_total",
        "counter",
        "New game metric series refused: over the cap, or a name used with two kinds.",
        t.fleet().refused() as f64,
    );
    single(
        &mut out,
        "gm_fleet_game_servers",
        "gauge",
        "Game servers connected now.",
        gateway.connected().len() as f64,
    );
    single(
        &mut out,
        "gm_fleet_players_online",
        "gauge",
        "Players online across the fleet, from the presence directory.",
        gateway.presence().count(None) as f64,
    );
    t.fleet().render(&mut out);
    out
}
