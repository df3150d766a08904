//! Game telemetry end to end over real QUIC: metrics into `/metrics` and a real Prometheus,
//! events into the store and the query endpoint, and a game that keeps running while
//! gm-server is down.
//!
//! Prometheus and promtool come from Debian's `prometheus` package; `scripts/test.sh`
//! installs it and sets `GM_REQUIRE_PROMETHEUS=1` so a missing one fails the run instead of
//! skipping.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, start_server, wait_for};
use gm_sdk::TelemetryConfig;
use gm_sdk::gm_telemetry::event::Event;
use gm_server::auth::Role;
use metrics::Key;

fn fast_telemetry() -> TelemetryConfig {
    TelemetryConfig {
        interval: Duration::from_millis(100),
        event_flush: Duration::from_millis(10),
        ..TelemetryConfig::default()
    }
}

/// `which`, without a crate.
fn find(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

fn prometheus_tools() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    match (find("prometheus"), find("promtool")) {
        (Some(p), Some(t)) => Some((p, t)),
        _ => {
            assert!(
                std::env::var("GM_REQUIRE_PROMETHEUS").is_err(),
                "GM_REQUIRE_PROMETHEUS is set but prometheus or promtool is not on PATH"
            );
            eprintln!(
                "SKIPPED: prometheus not installed (apt-get install prometheus, or run scripts/test.sh)"
            );
            None
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn viewer_token(t: &TestServer) -> String {
    let id = t
        .create_admin("grafana", Role::Viewer, "pw-unused-here")
        .await;
    t.create_token(id, Role::Viewer).await
}

async fn scrape(t: &TestServer, token: &str) -> String {
    let r = t
        .http()
        .get(t.url("/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    r.text().await.unwrap()
}

/// Instant-queries Prometheus until `query` has a result; returns the first sample's labels
/// and value.
async fn query_prometheus(
    base: &str,
    query: &str,
    want: impl Fn(&str) -> bool,
) -> (serde_json::Map<String, serde_json::Value>, String) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Until Prometheus listens, connecting fails: that is waiting too.
        let r: serde_json::Value = match http
            .get(format!("{base}/api/v1/query"))
            .query(&[("query", query)])
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap(),
            Err(e) if e.is_connect() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(e) => panic!("Prometheus did not answer: {e}"),
        };
        assert_eq!(r["status"], "success", "{r}");
        if let Some(first) = r["data"]["result"].as_array().and_then(|a| a.first()) {
            let value = first["value"][1].as_str().unwrap().to_string();
            if want(&value) {
                return (first["metric"].as_object().unwrap().clone(), value);
            }
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never answered {query} as wanted; last answer: {r}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn game_metrics_reach_a_real_prometheus_with_their_labels() {
    let Some((prometheus, promtool)) = prometheus_tools() else {
        return;
    };
    let t = start_server().await;
    let key = t.create_key("eu").await;
    let token = viewer_token(&t).await;
    let client = t
        .client(&key, "eu-1")
        .region("eu-west")
        .game_build("1.4.2")
        .telemetry(fast_telemetry())
        .spawn()
        .unwrap();
    // Through a handle, through the `metrics` facade, and the SDK's built-ins.
    let kills = client.metrics().counter(&Key::from_parts(
        "kills_total",
        vec![metrics::Label::new("weapon", "bow")],
    ));
    kills.increment(5);
    metrics::with_local_recorder(&client.recorder(), || {
        metrics::counter!("quests_completed").increment(2);
        metrics::gauge!("zone_load", "zone" => "forest").set(0.75);
    });
    for ms in [16, 17, 18] {
        client.record_tick(Duration::from_millis(ms));
    }
    client.player_joined(1, "Bob");
    // And the example game server (bevy_ecs, simulated players) on its own thread.
    let example = t
        .client(&key, "example-1")
        .region("eu-west")
        .game_build("example")
        .telemetry(fast_telemetry())
        .commands(gm_examples::game::game_commands())
        .event_kinds(gm_examples::game::event_kinds())
        .spawn()
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let game_thread = {
        let (example, stop) = (example.clone(), stop.clone());
        std::thread::spawn(move || {
            let config = gm_examples::game::GameConfig {
                tick_hz: 60.0,
                target_players: 20,
                seed: 3,
            };
            gm_examples::game::ExampleGame::new(config, example).run(&stop)
        })
    };
    let fleet = t.server.gateway().telemetry().fleet();
    wait_for(
        "the kills to reach gm-server",
        Duration::from_secs(10),
        || fleet.value("kills_total", &[("server", "eu-1"), ("weapon", "bow")]) == Some(5.0),
    )
    .await;

    // What Prometheus would scrape passes promtool's checks.
    let text = scrape(&t, &token).await;
    assert!(
        text.contains(
            "kills_total{build=\"1.4.2\",region=\"eu-west\",server=\"eu-1\",weapon=\"bow\"} 5\n"
        ),
        "{text}"
    );
    assert!(text.contains("quests_completed_total{"), "{text}");
    assert!(
        text.contains("# TYPE game_tick_seconds histogram"),
        "{text}"
    );
    assert!(text.contains("gm_server_game_connections 2\n"), "{text}");
    let mut check = tokio::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use tokio::io::AsyncWriteExt;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .await
        .unwrap();
    let out = check.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A real Prometheus scrapes gm-server over HTTPS with the viewer's token.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), &token).unwrap();
    let port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
         scrape_configs:\n  - job_name: gm-server\n    scheme: https\n    metrics_path: /metrics\n\
         \x20   tls_config:\n      ca_file: {ca}\n      server_name: localhost\n\
         \x20   authorization:\n      type: Bearer\n      credentials_file: {token}\n\
         \x20   static_configs:\n      - targets: ['127.0.0.1:{http}']\n",
        ca = t.dir.path().join("tls/cert.pem").display(),
        token = dir.path().join("token").display(),
        http = t.server.http_addr().port(),
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let _prometheus = tokio::process::Command::new(&prometheus)
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let (_, up) = query_prometheus(&base, "up{job=\"gm-server\"}", |v| v == "1").await;
    assert_eq!(up, "1");
    let (labels, value) =
        query_prometheus(&base, "kills_total{server=\"eu-1\"}", |v| v == "5").await;
    assert_eq!(value, "5");
    assert_eq!(labels["weapon"], "bow");
    assert_eq!(labels["region"], "eu-west");
    assert_eq!(labels["build"], "1.4.2");
    assert_eq!(labels["job"], "gm-server");
    let (_, ticks) = query_prometheus(&base, "game_tick_seconds_count{server=\"eu-1\"}", |v| {
        v == "3"
    })
    .await;
    assert_eq!(ticks, "3");
    let (_, players) =
        query_prometheus(&base, "game_players_online{server=\"eu-1\"}", |v| v == "1").await;
    assert_eq!(players, "1");
    let (_, zone) = query_prometheus(&base, "zone_load{zone=\"forest\"}", |v| v == "0.75").await;
    assert_eq!(zone, "0.75");
    // The example game's own series, with its labels.
    let (labels, ticks) = query_prometheus(
        &base,
        "game_tick_seconds_count{server=\"example-1\"}",
        |v| v.parse::<f64>().unwrap() > 30.0,
    )
    .await;
    assert_eq!(
        (labels["region"].as_str(), labels["build"].as_str()),
        (Some("eu-west"), Some("example")),
        "{ticks}"
    );
    let (_, online) = query_prometheus(&base, "game_players_online{server=\"example-1\"}", |v| {
        v.parse::<f64>().unwrap() >= 1.0
    })
    .await;
    let (_, entities) = query_prometheus(&base, "game_entities{server=\"example-1\"}", |v| {
        v.parse::<f64>().unwrap() >= 1.0
    })
    .await;
    assert!(entities.parse::<f64>().unwrap() >= online.parse::<f64>().unwrap());
    query_prometheus(&base, "player_speed_count{server=\"example-1\"}", |v| {
        v.parse::<f64>().unwrap() > 0.0
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    game_thread.join().unwrap();
    example.shutdown();
    // Live: what the game records next shows up in Prometheus.
    kills.increment(2);
    let (_, value) = query_prometheus(&base, "kills_total{server=\"eu-1\"}", |v| v == "7").await;
    assert_eq!(value, "7");
    client.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_stored_and_counted_per_name_and_server() {
    let t = start_server().await;
    let key = t.create_key("eu").await;
    let token = viewer_token(&t).await;
    let game = |id: &str| {
        t.client(&key, id)
            .telemetry(fast_telemetry())
            .event_kind(1, "player_died")
            .event_kind(2, "quest_done")
            .spawn()
            .unwrap()
    };
    let (a, b) = (game("eu-1"), game("eu-2"));
    let now = gm_sdk::unix_ms();
    let (mut wa, mut wb) = (a.event_writer(), b.event_writer());
    wa.set_time(now);
    wb.set_time(now);
    for i in 0..300 {
        wa.emit(Event {
            kind: 1 + (i % 3 == 0) as u32,
            ..Event::default()
        });
    }
    for _ in 0..50 {
        wb.emit(Event {
            kind: 1,
            ..Event::default()
        });
    }
    let store = t.server.store().clone();
    for _ in 0..500 {
        if store.stored_event_count().await.unwrap() == 350 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.stored_event_count().await.unwrap(), 350);

    let counts = |query: String| {
        let http = t.http();
        let url = t.url(&format!("/api/v1/telemetry/events?{query}"));
        let token = token.clone();
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            let status = r.status();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let window = format!("from_ms={}&to_ms={}", now - 60_000, now + 60_000);
    let (status, body) = counts(format!("server=eu-1&bucket_s=600&{window}")).await;
    assert_eq!(status, 200, "{body}");
    let rows = body["rows"].as_array().unwrap();
    let count_of = |name: &str| -> i64 {
        rows.iter()
            .filter(|r| r["name"] == name)
            .map(|r| r["count"].as_i64().unwrap())
            .sum()
    };
    assert_eq!(count_of("player_died"), 200, "{body}");
    assert_eq!(count_of("quest_done"), 100, "{body}");
    let (_, body) = counts(format!("name=player_died&bucket_s=600&{window}")).await;
    let total: i64 = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 250, "both servers: {body}");
    let (status, body) = counts("bucket_s=7".into()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_bucket");
    a.shutdown();
    b.shutdown();
}
