//! gm-server's telemetry ingest on one core, without the network: decoding event frames,
//! checking them and counting them per name and time bucket (what each telemetry stream's
//! task does with the bytes quinn hands it), and applying metric batches to the fleet table.
//!
//! Run with: `cargo bench -p gm-benches --bench telemetry_ingest`
#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gm_proto::telemetry::{
    EventBatch, EventKindDef, EventRecord, HistogramDelta, Losses, MAX_EVENTS_PER_BATCH,
    MetricBatch, SeriesDef, SeriesKind,
};
use gm_proto::{FrameCodec, FrameReader, Message};
use gm_server::telemetry::events::EventAccumulator;
use gm_server::telemetry::{FleetMetrics, ServerLabels, SessionSeries};

fn event_frames(frames: usize) -> (Vec<u8>, usize) {
    let codec = FrameCodec::default();
    let now = 1_764_000_000_000u64;
    let mut wire = Vec::new();
    let mut n = 0;
    for f in 0..frames {
        let mut records = Vec::new();
        for i in 0..MAX_EVENTS_PER_BATCH as u64 {
            EventRecord {
                kind: 1 + (i % 4) as u32,
                tag: 0,
                at: now + (f as u64 * 16 + i / 1024),
                fields: [i, 7],
            }
            .write(&mut records);
            n += 1;
        }
        let kinds = if f == 0 {
            (1..=4)
                .map(|k| EventKindDef {
                    kind: k,
                    name: format!("kind{k}"),
                })
                .collect()
        } else {
            Vec::new()
        };
        codec
            .encode(
                &Message::Events(EventBatch {
                    instance: 1,
                    seq: f as u64 + 1,
                    kinds,
                    records,
                }),
                &mut wire,
            )
            .unwrap();
    }
    (wire, n)
}

fn ingest(c: &mut Criterion) {
    let mut g = c.benchmark_group("telemetry_ingest");
    let (wire, n) = event_frames(16);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("events_decode_check_count", |b| {
        b.iter(|| {
            let mut reader = FrameReader::new(FrameCodec::default());
            let mut acc = EventAccumulator::new("eu-1".into());
            // quinn hands the stream over in chunks of up to 64 KiB.
            for chunk in wire.chunks(64 * 1024) {
                reader.push(chunk);
                while let Some(msg) = reader.next_message().unwrap() {
                    let Message::Events(batch) = msg else {
                        unreachable!()
                    };
                    batch.validate().unwrap();
                    acc.add(&batch, 1_764_000_000_000);
                }
            }
            acc.take(1_764_000_000_000).unwrap()
        })
    });

    // One interval from a game server with 200 series: 100 counters, 50 gauges, 50 histograms.
    let defs = (0..200u32)
        .map(|i| SeriesDef {
            id: i,
            kind: match i {
                0..100 => SeriesKind::Counter,
                100..150 => SeriesKind::Gauge,
                _ => SeriesKind::Histogram,
            },
            name: format!("metric_{}", i % 20),
            labels: vec![("slot".into(), i.to_string())],
        })
        .collect();
    let interval = |defs| MetricBatch {
        instance: 1,
        seq: 1,
        interval_ms: 1000,
        defs,
        counters: (0..100).map(|i| (i, 3)).collect(),
        gauges: (100..150).map(|i| (i, 1.5)).collect(),
        histograms: (150..200)
            .map(|i| HistogramDelta {
                id: i,
                sum: 1.0,
                buckets: vec![(200, 3), (201, 5), (210, 1)],
            })
            .collect(),
        losses: Losses::default(),
    };
    let fleet = FleetMetrics::new(100_000, 20_000);
    let mut session = SessionSeries::new(ServerLabels {
        server: "eu-1".into(),
        region: "eu".into(),
        build: "1".into(),
    });
    fleet.apply(&mut session, &interval(defs));
    let steady = interval(Vec::new());
    g.throughput(Throughput::Elements(200));
    g.bench_function("metric_batch_apply_200_series", |b| {
        b.iter(|| fleet.apply(&mut session, &steady))
    });
    g.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
