//! What the SDK's bevy systems (commands in, tick time and entity count out) cost a game tick
//! when nothing is happening, beside an empty system in the same run.
//!
//! Run with: `cargo bench -p gm-benches --bench bevy_idle`
#![allow(missing_docs)] // criterion's macros generate undocumented items

use bevy_ecs::message::Messages;
use bevy_ecs::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use gm_sdk::GmClient;
use gm_sdk::bevy::{Gm, GmCommand, GmCommandReply, TickClock, begin_tick, end_tick};

fn idle(c: &mut Criterion) {
    // A client that never connects: its queues stay empty, as on an idle tick.
    let (client, _driver) = GmClient::builder("127.0.0.1:9")
        .dangerous_insecure_accept_any_certificate()
        .key("k")
        .server_id("bench")
        .build()
        .unwrap();
    let mut world = World::new();
    world.insert_resource(Gm(client));
    world.insert_resource(TickClock(std::time::Instant::now()));
    world.init_resource::<Messages<GmCommand>>();
    world.init_resource::<Messages<GmCommandReply>>();

    let mut g = c.benchmark_group("bevy_idle");
    let mut empty = Schedule::default();
    empty.add_systems(|| {});
    empty.run(&mut world);
    g.bench_function("one_empty_system", |b| b.iter(|| empty.run(&mut world)));

    let mut sdk = Schedule::default();
    // What GmPlugin adds: one system at the start of the tick, one at the end.
    sdk.add_systems((begin_tick, end_tick.after(begin_tick)));
    sdk.run(&mut world);
    g.bench_function("gm_sdk_systems", |b| b.iter(|| sdk.run(&mut world)));
    g.finish();
}

criterion_group!(benches, idle);
criterion_main!(benches);
