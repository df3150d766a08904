//! Telemetry on the wire: per-interval metric deltas and batches of events, sent by the SDK on
//! a unidirectional stream of their own so that they never queue in front of commands.
//!
//! Series are named once per session ([`SeriesDef`]) and referred to by a small id after that;
//! a reconnect starts a new session and names them again. Counters travel as deltas, gauges as
//! their latest value, histograms as the bucket counts added since the last batch (sparse:
//! only buckets that changed). Events travel as packed fixed-size records ([`EVENT_RECORD_LEN`]
//! bytes each), so encoding a batch is one copy.

use serde::{Deserialize, Serialize};

/// First byte of a unidirectional stream that carries telemetry frames.
pub const STREAM_TELEMETRY: u8 = 1;

/// Bytes per event record in [`EventBatch::records`].
pub const EVENT_RECORD_LEN: usize = 32;

/// Most events in one [`EventBatch`] (the batch stays well under the default frame size).
pub const MAX_EVENTS_PER_BATCH: usize = 16_384;

/// Longest metric or event name, label name or label value accepted.
pub const MAX_NAME_LEN: usize = 128;

/// Buckets in a histogram (gm-telemetry's fixed layout); bucket indices are below this.
pub const HISTOGRAM_BUCKETS: u16 = 578;

/// Most labels on one series.
pub const MAX_LABELS: usize = 16;

/// What a series measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SeriesKind {
    /// Only goes up; sent as deltas.
    Counter,
    /// Any value; sent as the latest.
    Gauge,
    /// A distribution in gm-telemetry's fixed log-linear buckets; sent as bucket deltas.
    Histogram,
}

/// Names a series for the rest of the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesDef {
    /// The id later batches use (chosen by the SDK, unique per session).
    pub id: u32,
    /// Counter, gauge or histogram.
    pub kind: SeriesKind,
    /// Metric name as the game recorded it (for example `kills_total`).
    pub name: String,
    /// Label pairs.
    pub labels: Vec<(String, String)>,
}

/// What a histogram recorded during the interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramDelta {
    /// Series id.
    pub id: u32,
    /// Sum of the values recorded.
    pub sum: f64,
    /// (bucket index, count added), for the buckets that changed, in ascending index order.
    pub buckets: Vec<(u16, u64)>,
}

/// What the SDK could not ship, counted since it started (so a batch that is lost does not
/// lose the count: the next one carries the total).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Losses {
    /// Events dropped because their ring or the send buffer was full (gm-server unreachable
    /// or slow).
    pub events_dropped: u64,
    /// New metric series refused by the SDK's series cap.
    pub series_refused: u64,
}

/// One interval's metrics: client → server, on the telemetry stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricBatch {
    /// The SDK instance (random, chosen at start) whose frames these are.
    pub instance: u64,
    /// Frame number of this SDK instance, from 1, across sessions and shared with event
    /// batches: what [`crate::Message::TelemetryAck`] acknowledges.
    pub seq: u64,
    /// Length of the interval, milliseconds.
    pub interval_ms: u32,
    /// Series seen for the first time in this session.
    pub defs: Vec<SeriesDef>,
    /// (series id, increase since the last batch).
    pub counters: Vec<(u32, u64)>,
    /// (series id, value now) for gauges that changed.
    pub gauges: Vec<(u32, f64)>,
    /// Histograms that recorded something.
    pub histograms: Vec<HistogramDelta>,
    /// Totals of what could not be shipped.
    pub losses: Losses,
}

/// Names an event kind for the rest of the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventKindDef {
    /// The `kind` field of the records.
    pub kind: u32,
    /// Its name (for example `player_died`).
    pub name: String,
}

/// A batch of events: client → server, on the telemetry stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventBatch {
    /// The SDK instance whose frames these are.
    pub instance: u64,
    /// Frame number (see [`MetricBatch::seq`]).
    pub seq: u64,
    /// Kinds named for the first time in this session.
    pub kinds: Vec<EventKindDef>,
    /// Packed records, [`EVENT_RECORD_LEN`] bytes each (see [`EventRecord`]).
    #[serde(with = "serde_bytes")]
    pub records: Vec<u8>,
}

/// One event as it travels: the layout of gm-telemetry's `Event`, little-endian.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventRecord {
    /// Event kind (see [`EventKindDef`]).
    pub kind: u32,
    /// Up to the kind.
    pub tag: u32,
    /// When: Unix milliseconds by the SDK's convention (0 when the game never set a time).
    pub at: u64,
    /// Payload.
    pub fields: [u64; 2],
}

impl EventRecord {
    /// Appends the record's wire form to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut b = [0u8; EVENT_RECORD_LEN];
        b[0..4].copy_from_slice(&self.kind.to_le_bytes());
        b[4..8].copy_from_slice(&self.tag.to_le_bytes());
        b[8..16].copy_from_slice(&self.at.to_le_bytes());
        b[16..24].copy_from_slice(&self.fields[0].to_le_bytes());
        b[24..32].copy_from_slice(&self.fields[1].to_le_bytes());
        out.extend_from_slice(&b);
    }

    /// Reads one record from exactly [`EVENT_RECORD_LEN`] bytes.
    pub fn read(b: &[u8; EVENT_RECORD_LEN]) -> EventRecord {
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        EventRecord {
            kind: u32::from_le_bytes(b[0..4].try_into().expect("4 bytes")),
            tag: u32::from_le_bytes(b[4..8].try_into().expect("4 bytes")),
            at: u64_at(8),
            fields: [u64_at(16), u64_at(24)],
        }
    }
}

impl EventBatch {
    /// How many records the batch holds.
    pub fn len(&self) -> usize {
        self.records.len() / EVENT_RECORD_LEN
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records, decoded one by one.
    pub fn iter(&self) -> impl Iterator<Item = EventRecord> + '_ {
        self.records
            .chunks_exact(EVENT_RECORD_LEN)
            .map(|c| EventRecord::read(c.try_into().expect("exact chunk")))
    }

    /// Checks what a server must before it trusts the batch.
    pub fn validate(&self) -> Result<(), String> {
        if !self.records.len().is_multiple_of(EVENT_RECORD_LEN) {
            return Err(format!(
                "event records are {} bytes, not a multiple of {EVENT_RECORD_LEN}",
                self.records.len()
            ));
        }
        if self.len() > MAX_EVENTS_PER_BATCH {
            return Err(format!(
                "{} events in one batch (at most {MAX_EVENTS_PER_BATCH})",
                self.len()
            ));
        }
        for k in &self.kinds {
            check_name("event name", &k.name)?;
        }
        Ok(())
    }
}

impl MetricBatch {
    /// Checks what a server must before it trusts the batch: names and labels within bounds.
    /// (Unknown series ids are the aggregator's to skip; they cost nothing.)
    pub fn validate(&self) -> Result<(), String> {
        for d in &self.defs {
            check_name("metric name", &d.name)?;
            if d.labels.len() > MAX_LABELS {
                return Err(format!(
                    "{} has {} labels (at most {MAX_LABELS})",
                    d.name,
                    d.labels.len()
                ));
            }
            for (k, v) in &d.labels {
                check_name("label name", k)?;
                if v.chars().count() > MAX_NAME_LEN {
                    return Err(format!(
                        "a value of label {k} is over {MAX_NAME_LEN} characters"
                    ));
                }
            }
        }
        for h in &self.histograms {
            let ascending = h.buckets.windows(2).all(|w| w[0].0 < w[1].0);
            let in_range = h.buckets.last().is_none_or(|b| b.0 < HISTOGRAM_BUCKETS);
            if !ascending || !in_range {
                return Err(format!(
                    "histogram {} has bucket indices out of order or not below {HISTOGRAM_BUCKETS}",
                    h.id
                ));
            }
        }
        Ok(())
    }
}

fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(format!("{what} must be 1 to {MAX_NAME_LEN} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("{what} {name:?} contains control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_their_packed_form() {
        let r = EventRecord {
            kind: 7,
            tag: u32::MAX,
            at: 1_700_000_000_123,
            fields: [42, u64::MAX],
        };
        let mut out = Vec::new();
        r.write(&mut out);
        r.write(&mut out);
        assert_eq!(out.len(), 2 * EVENT_RECORD_LEN);
        let batch = EventBatch {
            instance: 1,
            seq: 1,
            kinds: vec![],
            records: out,
        };
        assert_eq!(batch.iter().collect::<Vec<_>>(), vec![r, r]);
        assert!(batch.validate().is_ok());
    }

    #[test]
    fn a_torn_or_oversized_event_batch_is_refused() {
        let torn = EventBatch {
            instance: 1,
            seq: 1,
            kinds: vec![],
            records: vec![0; EVENT_RECORD_LEN + 3],
        };
        assert!(torn.validate().unwrap_err().contains("multiple of 32"));
        let big = EventBatch {
            instance: 1,
            seq: 2,
            kinds: vec![],
            records: vec![0; EVENT_RECORD_LEN * (MAX_EVENTS_PER_BATCH + 1)],
        };
        assert!(big.validate().unwrap_err().contains("at most"));
        let bad_name = EventBatch {
            instance: 1,
            seq: 3,
            kinds: vec![EventKindDef {
                kind: 1,
                name: "a\nb".into(),
            }],
            records: vec![],
        };
        assert!(bad_name.validate().is_err());
    }

    #[test]
    fn metric_batches_bound_names_and_labels() {
        let def = |labels: Vec<(String, String)>| MetricBatch {
            instance: 1,
            seq: 1,
            interval_ms: 1000,
            defs: vec![SeriesDef {
                id: 1,
                kind: SeriesKind::Counter,
                name: "kills_total".into(),
                labels,
            }],
            counters: vec![],
            gauges: vec![],
            histograms: vec![],
            losses: Losses::default(),
        };
        assert!(
            def(vec![("weapon".into(), "bow".into())])
                .validate()
                .is_ok()
        );
        let many = (0..=MAX_LABELS)
            .map(|i| (format!("l{i}"), "v".into()))
            .collect();
        assert!(def(many).validate().is_err());
        assert!(
            def(vec![("w".into(), "x".repeat(MAX_NAME_LEN + 1))])
                .validate()
                .is_err()
        );
        assert!(def(vec![(String::new(), "v".into())]).validate().is_err());
        let hist = |buckets: Vec<(u16, u64)>| MetricBatch {
            histograms: vec![HistogramDelta {
                id: 1,
                sum: 1.0,
                buckets,
            }],
            ..def(vec![])
        };
        assert!(hist(vec![(3, 1), (9, 2)]).validate().is_ok());
        assert!(
            hist(vec![(9, 1), (3, 2)]).validate().is_err(),
            "out of order"
        );
        assert!(hist(vec![(3, 1), (3, 2)]).validate().is_err(), "repeated");
        assert!(
            hist(vec![(HISTOGRAM_BUCKETS, 1)]).validate().is_err(),
            "out of range"
        );
    }
}
