//! How long store operations take, for `/metrics`.

/// A store operation that is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    /// Appending an audit entry.
    AuditAppend,
    /// Reading a page of the audit log.
    AuditList,
    /// Looking a bearer token and its owner up.
    TokenLookup,
    /// Writing telemetry events.
    EventsWrite,
}

impl StoreOp {
    /// Every timed operation.
    pub const ALL: [StoreOp; 4] = [
        StoreOp::AuditAppend,
        StoreOp::AuditList,
        StoreOp::TokenLookup,
        StoreOp::EventsWrite,
    ];

    /// The `op` label.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreOp::AuditAppend => "audit_append",
            StoreOp::AuditList => "audit_list",
            StoreOp::TokenLookup => "token_lookup",
            StoreOp::EventsWrite => "events_write",
        }
    }
}

/// A latency histogram (seconds) per [`StoreOp`].
#[derive(Debug, Default)]
pub struct StoreMetrics {
    seconds: [gm_telemetry::Histogram; 4],
}

impl StoreMetrics {
    /// The histogram of `op`.
    pub fn seconds(&self, op: StoreOp) -> &gm_telemetry::Histogram {
        &self.seconds[op as usize]
    }

    /// Records the time until the returned guard drops.
    pub(crate) fn timer(&self, op: StoreOp) -> Timer<'_> {
        Timer {
            histogram: self.seconds(op),
            start: std::time::Instant::now(),
        }
    }
}

/// Records elapsed time into a histogram when dropped.
#[derive(Debug)]
pub(crate) struct Timer<'a> {
    histogram: &'a gm_telemetry::Histogram,
    start: std::time::Instant,
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        self.histogram.record(self.start.elapsed().as_secs_f64());
    }
}
