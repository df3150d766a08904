//! GM commands end to end over real QUIC with two example game servers: typed in game, sent
//! through the API, denied for players without a role, and audited every time.

mod common;

use std::time::Duration;

use common::*;
use gm_examples::game::{ExampleGame, GameConfig};
use gm_server::auth::Role;
use gm_server::store::AuditFilter;
use serde_json::{Value, json};

fn game(t: &TestServer, key: &str, id: &str) -> (ExampleGame, gm_sdk::GmClient) {
    let gm = t
        .client(key, id)
        .commands(gm_examples::game::game_commands())
        .spawn()
        .unwrap();
    let game = ExampleGame::new(
        GameConfig {
            tick_hz: 60.0,
            target_players: 0,
            seed: 1,
        },
        gm.clone(),
    );
    (game, gm)
}

/// Ticks both games until `cond` holds (or fails after 10 s).
async fn tick_until(
    games: &mut [&mut ExampleGame],
    what: &str,
    mut cond: impl FnMut(&mut [&mut ExampleGame]) -> bool,
) {
    let start = std::time::Instant::now();
    loop {
        for g in games.iter_mut() {
            g.tick();
        }
        if cond(games) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(16)).await;
    }
}

fn chat_has(g: &ExampleGame, needle: &str) -> bool {
    g.chat().0.iter().any(|l| l.contains(needle))
}

#[tokio::test(flavor = "multi_thread")]
async fn kick_typed_in_game_through_the_api_and_denied_without_a_role() {
    let dir = tempfile::tempdir().unwrap();
    let t = start_server_with(dir, |c| c.auth.require_totp_for.clear()).await;
    let key = t.create_key("fleet").await;
    let gina = t
        .create_admin("gina", Role::GameMaster, "a long enough password")
        .await;
    t.server.store().link_player(gina, 5001, 1).await.unwrap();

    let (mut a, gm_a) = game(&t, &key, "game-a");
    let (mut b, gm_b) = game(&t, &key, "game-b");
    wait_connected(&gm_a).await;
    wait_connected(&gm_b).await;
    a.add_player(5001, "Gina");
    a.add_player(5002, "Pat");
    a.add_player(5003, "Bob");
    b.add_player(6001, "Carl");
    let presence = t.server.gateway().presence();
    tick_until(&mut [&mut a, &mut b], "presence reaches gm-server", |_| {
        presence.count(None) == 4
    })
    .await;
    assert_eq!(presence.locate(6001).unwrap().server_id, "game-b");

    // A GM types /kick in game A: gm-server authorizes with gina's role and routes it.
    a.type_in_chat(5001, "/kick Bob spam").unwrap();
    tick_until(&mut [&mut a, &mut b], "the GM sees the reply", |g| {
        chat_has(g[0], "[to #5001] kicked Bob")
    })
    .await;
    assert!(chat_has(&a, "Bob was kicked by gina (spam)"));
    assert!(a.players().iter().all(|p| p.name != "Bob"));
    tick_until(&mut [&mut a, &mut b], "Bob leaves the directory", |_| {
        presence.locate(5003).is_none()
    })
    .await;

    // The same through the API, for a player on game B.
    let token = t.create_token(gina, Role::GameMaster).await;
    let http = t.http();
    let api = tokio::spawn({
        let req = http
            .post(t.url("/api/v1/commands"))
            .bearer_auth(&token)
            .json(&json!({ "line": "/kick Carl afk" }));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    });
    tick_until(&mut [&mut a, &mut b], "Carl is kicked from game B", |g| {
        g[1].players().is_empty()
    })
    .await;
    let result = api.await.unwrap();
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["text"], "kicked Carl");

    // A player without a role gets the unknown-command answer, and the attempt is audited.
    a.type_in_chat(5002, "/kick Gina").unwrap();
    tick_until(&mut [&mut a, &mut b], "Pat is answered", |g| {
        chat_has(g[0], "[to #5002] unknown command /kick")
    })
    .await;
    assert!(a.players().iter().any(|p| p.name == "Gina"));
    // So is a command "from" an account the game made up.
    a.type_in_chat(999_999, "/announce fleet free gold")
        .unwrap();
    tick_until(&mut [&mut a, &mut b], "forged command refused", |g| {
        chat_has(g[0], "[to #999999] unknown command /announce")
    })
    .await;
    // And game B cannot act as Gina, a real GM, while she is on game A.
    b.type_in_chat(5001, "/announce fleet forged by game B")
        .unwrap();
    tick_until(&mut [&mut a, &mut b], "impersonation refused", |g| {
        chat_has(g[1], "[to #5001] unknown command /announce")
    })
    .await;
    assert!(!chat_has(&b, "free gold"));

    let audit = t
        .server
        .store()
        .list_audit(
            &AuditFilter {
                action: Some("command".into()),
                ..Default::default()
            },
            None,
            50,
        )
        .await
        .unwrap();
    let rows: Vec<(String, String, String)> = audit
        .iter()
        .rev()
        .map(|r| (r.actor.clone(), r.via.clone(), r.result.clone()))
        .collect();
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str(), rows[0].2.as_str()),
        ("gina", "in_game", "ok")
    );
    assert_eq!(
        (rows[1].0.as_str(), rows[1].1.as_str(), rows[1].2.as_str()),
        ("gina", "api", "ok")
    );
    assert_eq!(rows[2].0, "player:5002");
    assert!(
        rows[2].2.starts_with("denied: unknown command /kick"),
        "{}",
        rows[2].2
    );
    assert_eq!(rows[3].0, "player:999999");
    assert!(rows[3].2.starts_with("denied"), "{}", rows[3].2);
    assert_eq!(rows[4].0, "player:5001", "not gina: she is not on game B");
    assert!(rows[4].2.starts_with("denied"), "{}", rows[4].2);
    assert!(!chat_has(&a, "forged by game B"));
    assert!(audit.iter().all(|r| r.params.contains("\"line\"")));

    // /who and /whois through the API.
    let who: Value = http
        .post(t.url("/api/v1/commands"))
        .bearer_auth(&token)
        .json(&json!({ "line": "/who" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who["text"], "2 players online on 2 game servers", "{who}");
    let whois: Value = http
        .post(t.url("/api/v1/commands"))
        .bearer_auth(&token)
        .json(&json!({ "line": "/whois gina" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(whois["text"], "Gina (#5001) is online on game-a", "{whois}");
    // /announce to one named game server reaches that one only; an unknown one is an error.
    let announce = tokio::spawn({
        let req = http
            .post(t.url("/api/v1/commands"))
            .bearer_auth(&token)
            .json(&json!({ "line": "/announce game-b maintenance on B" }));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    });
    tick_until(
        &mut [&mut a, &mut b],
        "game B shows the announcement",
        |g| chat_has(g[1], "[gina] maintenance on B"),
    )
    .await;
    let announced = announce.await.unwrap();
    assert_eq!(
        announced["text"], "announced on 1 of 1 game servers",
        "{announced}"
    );
    assert!(!chat_has(&a, "maintenance on B"));
    let nowhere: Value = http
        .post(t.url("/api/v1/commands"))
        .bearer_auth(&token)
        .json(&json!({ "line": "/announce game-z hello" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(nowhere["ok"], false, "{nowhere}");
    assert_eq!(
        nowhere["text"], "game server game-z is not connected (/who lists the fleet)",
        "{nowhere}"
    );
    // And through the CLI, with the same token.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gm-server"))
        .arg("--data-dir")
        .arg(t.dir.path())
        .args(["cmd", "--token", &token, "--url", &t.url(""), "/who game-a"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("2 online on game-a: Gina, Pat"),
        "{stdout}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gm-server"))
        .arg("--data-dir")
        .arg(t.dir.path())
        .args([
            "cmd",
            "--token",
            &token,
            "--url",
            &t.url(""),
            "/whois Nobody",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no player named Nobody is online"));
    gm_a.shutdown();
    gm_b.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_typed_while_gm_server_is_unreachable_get_a_clear_answer() {
    let t = start_server().await;
    let key = t.create_key("fleet").await;
    let (mut a, gm) = game(&t, &key, "game-a");
    wait_connected(&gm).await;
    a.add_player(1, "Ann");
    let dir = t.dir;
    t.server.shutdown().await;
    let _keep = dir;
    wait_for("disconnected", Duration::from_secs(5), || {
        !gm.is_connected()
    })
    .await;
    a.type_in_chat(1, "/who").unwrap();
    tick_until(&mut [&mut a], "answered locally", |g| {
        chat_has(g[0], "[to #1] GM commands are unavailable right now")
    })
    .await;
    gm.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn game_commands_run_locally_for_rostered_gms_and_route_from_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let t = start_server_with(dir, |c| c.auth.require_totp_for.clear()).await;
    let key = t.create_key("fleet").await;
    let gina = t
        .create_admin("gina", Role::GameMaster, "a long enough password")
        .await;
    t.server.store().link_player(gina, 5001, 1).await.unwrap();
    let (mut a, gm_a) = game(&t, &key, "game-a");
    let (mut b, gm_b) = game(&t, &key, "game-b");
    wait_connected(&gm_a).await;
    wait_connected(&gm_b).await;
    a.add_player(5001, "Gina");
    a.add_player(5002, "Pat");
    b.add_player(6001, "Carl");
    let presence = t.server.gateway().presence();
    tick_until(&mut [&mut a, &mut b], "presence", |_| {
        presence.count(None) == 3
    })
    .await;

    // Completion: what the typing player may run, and who is online here.
    assert_eq!(gm_a.complete("/k", 5001), ["/kick"]);
    assert_eq!(gm_a.complete("/t", 5001), ["/tp"]);
    assert_eq!(gm_a.complete("/kick P", 5001), ["/kick Pat"]);
    assert_eq!(gm_a.complete("/announce f", 5001), ["/announce fleet"]);
    assert!(
        gm_a.complete("/", 5002).is_empty(),
        "a player without a role sees no commands"
    );

    // Gina's role reached game A in the roster: /tp runs locally, then gm-server audits it.
    a.type_in_chat(5001, "/tp Pat 10 20").unwrap();
    tick_until(&mut [&mut a, &mut b], "local reply", |g| {
        chat_has(g[0], "[to #5001] teleported Pat to 10, 20")
    })
    .await;
    // Pat has no role: the game answers as for an unknown command, and that is audited too.
    a.type_in_chat(5002, "/heal Pat").unwrap();
    tick_until(&mut [&mut a, &mut b], "denied locally", |g| {
        chat_has(g[0], "[to #5002] unknown command /heal")
    })
    .await;
    let audit = audit_rows(&t, "command", 2).await;
    assert_eq!(audit.len(), 2, "{audit:?}");
    // Both are audited in the background, in either order.
    let by = |actor: &str| audit.iter().find(|r| r.actor == actor).unwrap();
    assert_eq!(by("gina").result, "ok");
    assert!(by("gina").params.contains("ran_locally"));
    let pat = by("player:5002");
    assert!(pat.result.starts_with("denied"), "{}", pat.result);

    // The API can run a game's command: gm-server checks the game's spec, finds Carl on B.
    let token = t.create_token(gina, Role::GameMaster).await;
    let http = t.http();
    let api = tokio::spawn({
        let req = http
            .post(t.url("/api/v1/commands"))
            .bearer_auth(&token)
            .json(&json!({ "line": "/heal Carl 50" }));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    });
    tick_until(&mut [&mut a, &mut b], "Carl healed on B", |g| {
        chat_has(g[1], "Carl was healed for 50 by gina")
    })
    .await;
    let result = api.await.unwrap();
    assert_eq!(result["text"], "healed Carl for 50", "{result}");
    // A viewer token may not: the game's spec needs support_agent.
    let viewer = t
        .create_admin("vera", Role::Viewer, "a long enough password")
        .await;
    let vt = t.create_token(viewer, Role::Viewer).await;
    let denied: Value = http
        .post(t.url("/api/v1/commands"))
        .bearer_auth(&vt)
        .json(&json!({ "line": "/heal Carl 50" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(denied["code"], "unknown_command", "{denied}");

    // Completion through the API: the caller's commands, gm-server's and the games', and the
    // names of players online anywhere in the fleet.
    let complete = |token: &str, line: &str, server: Option<&str>| {
        let mut query = vec![("line", line.to_string())];
        if let Some(s) = server {
            query.push(("server", s.to_string()));
        }
        let req = http
            .get(t.url("/api/v1/commands/completions"))
            .bearer_auth(token)
            .query(&query);
        async move {
            let r: Value = req.send().await.unwrap().json().await.unwrap();
            r["completions"]
                .as_array()
                .unwrap_or_else(|| panic!("{r}"))
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(complete(&token, "/k", None).await, ["/kick"]);
    assert_eq!(complete(&token, "/t", None).await, ["/tp"]);
    assert_eq!(complete(&token, "/h", None).await, ["/heal", "/help"]);
    assert_eq!(complete(&token, "/kick c", None).await, ["/kick Carl"]);
    assert_eq!(
        complete(&token, "/tp ", None).await,
        ["/tp Carl", "/tp Gina", "/tp Pat"]
    );
    assert_eq!(
        complete(&token, "/t", Some("no-such-server")).await,
        Vec::<String>::new(),
        "only gm-server's commands besides the named server's"
    );
    // A viewer is offered neither /kick nor the games' commands, so completion does not
    // tell which other commands exist.
    assert_eq!(complete(&vt, "/k", None).await, Vec::<String>::new());
    assert_eq!(complete(&vt, "/h", None).await, ["/help"]);
    assert_eq!(complete(&vt, "/w", None).await, ["/who"]);
    gm_a.shutdown();
    gm_b.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bevy_game_gets_commands_as_messages_and_answers_from_a_system() {
    use bevy_app::{App, Update};
    use bevy_ecs::prelude::*;
    use gm_sdk::bevy::{Gm, GmCommand, GmPlugin, GmSystems};

    fn answer(gm: Res<Gm>, mut commands: MessageReader<GmCommand>) {
        for GmCommand(cmd) in commands.read() {
            let text = format!("{} from a bevy system: {}", cmd.command, cmd.args.join(" "));
            gm.0.reply(cmd, gm_sdk::CommandOutcome::ok(text));
        }
    }

    let t = start_server().await;
    let key = t.create_key("fleet").await;
    let gm = t.client(&key, "bevy-1").spawn().unwrap();
    wait_connected(&gm).await;
    let mut app = App::new();
    app.add_plugins(GmPlugin::new(gm.clone()))
        .add_systems(Update, answer.after(GmSystems));
    let gateway = t.server.gateway().clone();
    let ask = tokio::spawn(async move {
        gateway
            .send_command("bevy-1", "ping", vec!["a".into(), "b".into()], "tester")
            .await
    });
    let start = std::time::Instant::now();
    while !ask.is_finished() {
        app.update();
        assert!(start.elapsed() < Duration::from_secs(10), "no answer");
        tokio::time::sleep(Duration::from_millis(16)).await;
    }
    let reply = ask.await.unwrap().unwrap();
    assert_eq!(
        reply,
        gm_sdk::CommandOutcome::ok("ping from a bevy system: a b")
    );
    gm.shutdown();
}

/// A game command without a player argument has nobody to route by: with one game server that
/// has it, it goes there; with several, the caller names one (`server`), or is told to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_command_without_a_player_goes_to_the_server_named() {
    use gm_sdk::{Arg, CommandOutcome, CommandSpec};
    let dir = tempfile::tempdir().unwrap();
    let t = start_server_with(dir, |c| c.auth.require_totp_for.clear()).await;
    let key = t.create_key("fleet").await;
    let weather_game = |id: &'static str| {
        let (client, driver) = t
            .client(&key, id)
            .command(
                CommandSpec::new("weather", "Change the weather")
                    .arg(Arg::choice("kind", &["rain", "sun"]))
                    .role(gm_sdk::Role::GameMaster),
            )
            .on_command(move |cmd| {
                Some(CommandOutcome::ok(format!("{id}: {}", cmd.args.join(" "))))
            })
            .build()
            .unwrap();
        tokio::spawn(driver);
        client
    };
    let a = weather_game("game-a");
    wait_connected(&a).await;
    let admin = t
        .create_admin("gina", Role::GameMaster, "a long enough password")
        .await;
    let token = t.create_token(admin, Role::GameMaster).await;
    let http = t.http();
    let run = |body: Value| {
        let req = http
            .post(t.url("/api/v1/commands"))
            .bearer_auth(&token)
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    // One game server has it: no need to name it.
    let (_, only) = run(json!({ "line": "/weather rain" })).await;
    assert_eq!(only["text"], "game-a: rain", "{only}");

    let b = weather_game("game-b");
    wait_connected(&b).await;
    let gateway = t.server.gateway();
    wait_for("game-b's commands", Duration::from_secs(5), || {
        gateway.connected().len() == 2
    })
    .await;
    for _ in 0..100 {
        let (_, r) = run(json!({ "line": "/weather sun" })).await;
        if r["text"].as_str().unwrap_or("").starts_with("several") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, ambiguous) = run(json!({ "line": "/weather sun" })).await;
    assert_eq!(status, 200);
    assert_eq!(ambiguous["code"], "bad_arguments", "{ambiguous}");
    assert!(
        ambiguous["text"]
            .as_str()
            .unwrap()
            .contains("several game servers have /weather (game-a, game-b)"),
        "{ambiguous}"
    );
    let (_, on_b) = run(json!({ "line": "/weather sun", "server": "game-b" })).await;
    assert_eq!(on_b["text"], "game-b: sun", "{on_b}");
    let (status, unknown) = run(json!({ "line": "/weather sun", "server": "game-z" })).await;
    assert_eq!(status, 400);
    assert_eq!(unknown["error"]["code"], "unknown_server", "{unknown}");
    a.shutdown();
    b.shutdown();
}

/// Links and roles changed by another process on the same database (another gm-server
/// instance, or any tool writing to it) reach the game servers' rosters within
/// `quic.roster_refresh_ms`, for grants and revocations alike.
#[tokio::test(flavor = "multi_thread")]
async fn roster_changes_made_elsewhere_reach_the_games() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let t = start_server_with(dir, |c| {
        c.auth.require_totp_for.clear();
        c.quic.roster_refresh_ms = 200;
    })
    .await;
    let key = t.create_key("fleet").await;
    let gina = t
        .create_admin("gina", Role::GameMaster, "a long enough password")
        .await;
    let (_a, gm_a) = game(&t, &key, "game-a");
    wait_connected(&gm_a).await;
    assert!(gm_a.complete("/t", 5001).is_empty(), "not linked yet");

    let elsewhere = gm_server::Store::open(None, &data_dir, 1).await.unwrap();
    let tp = |gm: &gm_sdk::GmClient| gm.complete("/t", 5001) == ["/tp"];
    let secs = Duration::from_secs(5);
    elsewhere.link_player(gina, 5001, 1).await.unwrap();
    wait_for("the link", secs, || tp(&gm_a)).await;
    // A viewer may not teleport: the lowered role arrives too.
    elsewhere
        .update_admin(gina, Some("viewer"), None)
        .await
        .unwrap();
    wait_for("the lowered role", secs, || !tp(&gm_a)).await;
    elsewhere
        .update_admin(gina, Some("game_master"), None)
        .await
        .unwrap();
    wait_for("the raised role", secs, || tp(&gm_a)).await;
    // A disabled account leaves the roster.
    elsewhere
        .update_admin(gina, None, Some(true))
        .await
        .unwrap();
    wait_for("the disabled account", secs, || !tp(&gm_a)).await;

    // A game server connecting right after a change made elsewhere gets the new roster in
    // its handshake; the others must still get it from the next refresh.
    elsewhere
        .update_admin(gina, None, Some(false))
        .await
        .unwrap();
    let (_b, gm_b) = game(&t, &key, "game-b");
    wait_connected(&gm_b).await;
    wait_for("the re-enabled account on the new game", secs, || tp(&gm_b)).await;
    wait_for("the re-enabled account on the old game", secs, || tp(&gm_a)).await;
    gm_a.shutdown();
    gm_b.shutdown();
}
