//! Slash-command parse cost.
//!
//! Run with: `cargo bench -p gm-benches --bench commands`
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gm_proto::command::{Arg, CommandSpec, Registry, Role};

fn registry() -> Registry {
    let mut r = Registry::new();
    for spec in [
        CommandSpec::new("kick", "Disconnect a player")
            .alias("k")
            .arg(Arg::player("player"))
            .arg(Arg::text("reason").optional()),
        CommandSpec::new("ban", "Ban a player")
            .arg(Arg::player("player"))
            .arg(Arg::duration("duration"))
            .arg(Arg::text("reason")),
        CommandSpec::new("tp", "Teleport")
            .arg(Arg::player("player"))
            .arg(Arg::float("x", -1e4, 1e4))
            .arg(Arg::float("y", -1e4, 1e4)),
        CommandSpec::new("who", "Who is online").role(Role::Viewer),
    ] {
        r.register(spec).unwrap();
    }
    r
}

fn parse(c: &mut Criterion) {
    let r = registry();
    let mut g = c.benchmark_group("command_parse");
    for (name, line) in [
        ("kick", "/kick Bob spamming chat"),
        ("ban_quoted", "/ban \"Sir Bob\" 1h30m griefing at spawn"),
        ("tp_numbers", "/tp #12345 1024.5 -77.25"),
        ("unknown_with_suggestion", "/kik Bob"),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| black_box(r.parse(black_box(line), Some(Role::GameMaster))))
        });
    }
    g.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
