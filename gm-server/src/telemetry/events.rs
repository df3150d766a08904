//! Event batches from one game server turned into store chunks, without I/O: the records
//! kept as they came, and counted per event name per time bucket.

use std::collections::HashMap;

use gm_proto::telemetry::{EventBatch, EventRecord};

use crate::store::EventChunk;

/// Width of the stored count buckets: queries ask for multiples of it.
pub const BUCKET_MS: i64 = 10_000;

/// An event time further than this from when it arrived is not believed (a game that stamps
/// tick numbers, or a clock far off): it is counted at its arrival time instead.
const PLAUSIBLE_SKEW_MS: i64 = 24 * 3600 * 1000;

/// Accumulates one session's events until they are flushed to the store.
#[derive(Debug)]
pub struct EventAccumulator {
    server_id: String,
    /// Kind number → name, as named in this session.
    names: HashMap<u32, String>,
    records: Vec<u8>,
    count: i64,
    first_at: i64,
    last_at: i64,
    counts: HashMap<(u32, i64), i64>,
    instance: u64,
    frames: Vec<u64>,
}

impl EventAccumulator {
    /// An empty accumulator for `server_id`'s session.
    pub fn new(server_id: String) -> EventAccumulator {
        EventAccumulator {
            server_id,
            names: HashMap::new(),
            records: Vec::new(),
            count: 0,
            first_at: i64::MAX,
            last_at: i64::MIN,
            counts: HashMap::new(),
            instance: 0,
            frames: Vec::new(),
        }
    }

    /// The lowest frame number held, if any.
    pub fn first_frame(&self) -> Option<u64> {
        self.frames.first().copied()
    }

    /// Events held, not yet taken.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds a (validated) batch received at `now_ms`.
    pub fn add(&mut self, batch: &EventBatch, now_ms: i64) {
        for k in &batch.kinds {
            if self.names.len() < 4096 || self.names.contains_key(&k.kind) {
                self.names.insert(k.kind, k.name.clone());
            }
        }
        self.records.extend_from_slice(&batch.records);
        if self.instance != batch.instance {
            self.instance = batch.instance;
        }
        self.frames.push(batch.seq);
        let mut last_kind = u32::MAX;
        let mut last_bucket = i64::MIN;
        let mut run = 0i64;
        for r in batch.iter() {
            let at = plausible_time(r, now_ms);
            let bucket = at - at.rem_euclid(BUCKET_MS);
            // Events come in runs of one kind and one bucket: count a run, then add it once.
            if r.kind != last_kind || bucket != last_bucket {
                if run > 0 {
                    *self.counts.entry((last_kind, last_bucket)).or_default() += run;
                }
                last_kind = r.kind;
                last_bucket = bucket;
                run = 0;
            }
            run += 1;
            self.first_at = self.first_at.min(at);
            self.last_at = self.last_at.max(at);
        }
        if run > 0 {
            *self.counts.entry((last_kind, last_bucket)).or_default() += run;
        }
        self.count += batch.len() as i64;
    }

    /// What is held, as a chunk for the store; `None` when empty.
    pub fn take(&mut self, now_ms: i64) -> Option<EventChunk> {
        if self.count == 0 {
            return None;
        }
        let names = &self.names;
        // The names of the kinds in this chunk only, not every kind of the session.
        let kinds: serde_json::Map<String, serde_json::Value> = self
            .counts
            .keys()
            .map(|(kind, _)| *kind)
            .collect::<std::collections::BTreeSet<u32>>()
            .into_iter()
            .map(|k| (k.to_string(), serde_json::Value::String(name_of(names, k))))
            .collect();
        let counts = self
            .counts
            .drain()
            .map(|((kind, bucket), n)| (name_of(names, kind), bucket, n))
            .collect();
        let chunk = EventChunk {
            server_id: self.server_id.clone(),
            received_at_ms: now_ms,
            first_at_ms: self.first_at,
            last_at_ms: self.last_at,
            count: self.count,
            kinds_json: serde_json::Value::Object(kinds).to_string(),
            records: std::mem::take(&mut self.records),
            counts,
            instance: self.instance,
            frames: std::mem::take(&mut self.frames),
        };
        self.count = 0;
        self.first_at = i64::MAX;
        self.last_at = i64::MIN;
        Some(chunk)
    }
}

fn name_of(names: &HashMap<u32, String>, kind: u32) -> String {
    names
        .get(&kind)
        .cloned()
        .unwrap_or_else(|| format!("kind_{kind}"))
}

fn plausible_time(r: EventRecord, now_ms: i64) -> i64 {
    let at = i64::try_from(r.at).unwrap_or(0);
    if (at - now_ms).abs() <= PLAUSIBLE_SKEW_MS {
        at
    } else {
        now_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gm_proto::telemetry::EventKindDef;

    fn batch(events: &[(u32, u64)], kinds: Vec<EventKindDef>) -> EventBatch {
        let mut records = Vec::new();
        for (kind, at) in events {
            EventRecord {
                kind: *kind,
                at: *at,
                ..EventRecord::default()
            }
            .write(&mut records);
        }
        EventBatch {
            instance: 1,
            seq: 1,
            kinds,
            records,
        }
    }

    #[test]
    fn events_are_counted_per_name_and_bucket_and_kept_raw() {
        let now = 1_700_000_005_000i64;
        let t = now as u64;
        let mut acc = EventAccumulator::new("eu-1".into());
        let kinds = vec![EventKindDef {
            kind: 1,
            name: "player_died".into(),
        }];
        acc.add(
            &batch(&[(1, t), (1, t), (2, t), (1, t + 10_000)], kinds),
            now,
        );
        // A tick number, not a time: counted at arrival.
        acc.add(&batch(&[(1, 42)], vec![]), now);
        assert_eq!(acc.len(), 5);
        let chunk = acc.take(now).unwrap();
        assert_eq!(chunk.count, 5);
        assert_eq!(chunk.records.len(), 5 * 32);
        let mut counts = chunk.counts.clone();
        counts.sort();
        let b = now - now.rem_euclid(BUCKET_MS);
        assert_eq!(
            counts,
            vec![
                ("kind_2".to_string(), b, 1),
                ("player_died".to_string(), b, 3),
                ("player_died".to_string(), b + BUCKET_MS, 1),
            ]
        );
        assert_eq!(chunk.kinds_json, r#"{"1":"player_died","2":"kind_2"}"#);
        assert!(acc.take(now).is_none());
    }
}
