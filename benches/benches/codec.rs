//! Frame encode and decode cost for typical messages.
//!
//! Run with: `cargo bench -p gm-benches --bench codec`
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gm_proto::*;

fn messages() -> Vec<(&'static str, Message)> {
    vec![
        ("ping", Message::Ping { nonce: 123_456 }),
        (
            "hello",
            Message::Hello(Hello {
                protocol_version: PROTOCOL_VERSION,
                server_id: "eu-west-1-shard-17".into(),
                server_name: "EU West 1 / 17".into(),
                region: "eu-west".into(),
                game_build: "2026.11.27-r4411".into(),
                sdk_version: "0.1.0".into(),
                key: format!("gmk_{}", "ab".repeat(32)),
            }),
        ),
        (
            "command_request",
            Message::CommandRequest(CommandRequest {
                id: RequestId(42),
                command: "kick".into(),
                args: vec!["Bob".into(), "spamming".into(), "chat".into()],
                issued_by: "alice".into(),
            }),
        ),
        (
            "command_reply",
            Message::CommandReply(CommandReply {
                id: RequestId(42),
                outcome: CommandOutcome::Ok {
                    text: "49 players online, 60.0 ticks/s".into(),
                    fields: vec![
                        ("players".into(), "49".into()),
                        ("tick_rate_hz".into(), "60.00".into()),
                    ],
                },
            }),
        ),
    ]
}

fn codec(c: &mut Criterion) {
    let codec = FrameCodec::default();
    for (name, msg) in messages() {
        let mut frame = Vec::new();
        codec.encode(&msg, &mut frame).unwrap();
        let mut group = c.benchmark_group(format!("codec/{name}"));
        group.throughput(Throughput::Bytes(frame.len() as u64));
        let mut buf = Vec::with_capacity(1024);
        group.bench_function("encode", |b| {
            b.iter(|| {
                buf.clear();
                codec.encode(black_box(&msg), &mut buf).unwrap();
                black_box(buf.len())
            })
        });
        group.bench_function("decode", |b| {
            b.iter(|| black_box(codec.decode(black_box(&frame)).unwrap().unwrap()))
        });
        group.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
