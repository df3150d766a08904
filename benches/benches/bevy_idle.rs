//! What the SDK's bevy systems cost a game tick when nothing is happening, beside an empty
//! system in the same run.
//!
//! Run with: `cargo bench -p gm-benches --bench bevy_idle`
#![allow(missing_docs)] // criterion's macros generate undocumented items

use bevy_ecs::message::Messages;
use bevy_ecs::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use gm_sdk::GmClient;
use gm_sdk::bevy::{Gm, GmCommand, GmCommandReply, poll_commands, poll_replies};

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
    world.init_resource::<Messages<GmCommand>>();
    world.init_resource::<Messages<GmCommandReply>>();

    let mut g = c.benchmark_group("bevy_idle");
    let mut empty = Schedule::default();
    empty.add_systems(|| {});
    empty.run(&mut world);
    g.bench_function("one_empty_system", |b| b.iter(|| empty.run(&mut world)));

    let mut sdk = Schedule::default();
    sdk.add_systems((poll_commands, poll_replies));
    sdk.run(&mut world);
    g.bench_function("gm_sdk_systems", |b| b.iter(|| sdk.run(&mut world)));
    g.finish();
}

criterion_group!(benches, idle);
criterion_main!(benches);
