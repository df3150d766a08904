//! The admin API over real HTTPS: the access table walked for every role, login throttling
//! and lockout, CSRF, revocation, restricted sessions, TOTP, the audit chain, live events.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use gm_server::api::{Access, ROUTES, rule_for};
use gm_server::auth::{Role, RolePermissions, secret};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

async fn server_without_totp() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    start_server_with(dir, |c| c.auth.require_totp_for.clear()).await
}

async fn login(
    t: &TestServer,
    http: &reqwest::Client,
    name: &str,
    password: &str,
) -> reqwest::Response {
    http.post(t.url("/api/v1/auth/login"))
        .json(&json!({ "name": name, "password": password }))
        .send()
        .await
        .unwrap()
}

async fn error_code(resp: reqwest::Response) -> (StatusCode, String) {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[test]
fn every_documented_operation_has_an_access_rule_and_vice_versa() {
    let doc = gm_server::openapi();
    let mut documented = BTreeSet::new();
    for (path, item) in &doc.paths.paths {
        for (method, op) in [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("PATCH", &item.patch),
            ("DELETE", &item.delete),
        ] {
            if op.is_some() {
                documented.insert((method.to_string(), path.clone()));
            }
        }
    }
    let missing: Vec<_> = documented
        .iter()
        .filter(|(m, p)| rule_for(m, p).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "operations without an access rule: {missing:?}"
    );
    let ruled: BTreeSet<_> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(
        ruled, documented,
        "access table and OpenAPI document disagree"
    );
}

/// A request for `rule` that is valid enough for the handler to run when access is granted.
fn request_for(
    rule: &gm_server::api::RouteRule,
    admin_id: i64,
    n: usize,
) -> (Method, String, Option<Value>) {
    let id = if rule.path.starts_with("/api/v1/me/") {
        "999999".to_string()
    } else {
        admin_id.to_string()
    };
    let path = rule
        .path
        .replace("{account_id}", "424242")
        .replace("{id}", &id);
    let body = match (rule.method, rule.path) {
        ("POST", "/api/v1/auth/login") => Some(json!({ "name": "nobody", "password": "x" })),
        ("POST", "/api/v1/auth/password") => {
            Some(json!({ "current_password": "wrong", "new_password": "another long password" }))
        }
        ("POST", "/api/v1/me/tokens") => {
            Some(json!({ "name": "t", "role": "viewer", "expires_in_days": 1 }))
        }
        ("POST", "/api/v1/me/totp/confirm") => Some(json!({ "code": "000000" })),
        ("POST", "/api/v1/admins") => {
            Some(json!({ "name": format!("made-{n}"), "role": "viewer" }))
        }
        ("PATCH", _) => Some(json!({})),
        ("POST", "/api/v1/admins/{id}/player-links") => {
            Some(json!({ "account_id": 1000 + n as i64 }))
        }
        _ => None,
    };
    (rule.method.parse().unwrap(), path, body)
}

#[tokio::test]
async fn the_permission_matrix_holds_for_every_route_and_role() {
    let t = server_without_totp().await;
    let mut tokens = Vec::new();
    for role in Role::ALL {
        let id = t.create_admin(&format!("m-{role}"), role, PASSWORD).await;
        tokens.push((role, id, t.create_token(id, role).await));
    }
    let target = tokens[0].1;
    let http = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(
                &std::fs::read(t.dir.path().join("tls/cert.pem")).unwrap(),
            )
            .unwrap(),
        )
        .resolve("localhost", t.server.http_addr())
        .build()
        .unwrap();
    let mut n = 0;
    let mut checked = 0;
    for rule in ROUTES {
        let callers: Vec<Option<(Role, &str)>> = std::iter::once(None)
            .chain(tokens.iter().map(|(r, _, tok)| Some((*r, tok.as_str()))))
            .collect();
        for caller in callers {
            n += 1;
            let (method, path, body) = request_for(rule, target, n);
            let mut req = http.request(method, t.url(&path));
            if let Some((_, token)) = caller {
                req = req.bearer_auth(token);
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            let status = req.send().await.unwrap().status();
            let who = caller.map_or("no credentials".to_string(), |(r, _)| r.to_string());
            match (rule.access, caller) {
                (Access::Public, _) => assert!(
                    status != StatusCode::FORBIDDEN && status.as_u16() != 500,
                    "{} {} as {who}: {status}",
                    rule.method,
                    rule.path
                ),
                (Access::Requires(_), None) => assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{} {} as {who}",
                    rule.method,
                    rule.path
                ),
                (Access::Requires(p), Some((role, _))) => {
                    if role.allows(p) {
                        assert!(
                            status != StatusCode::UNAUTHORIZED
                                && status != StatusCode::FORBIDDEN
                                && !status.is_server_error(),
                            "{} {} as {who}: {status}",
                            rule.method,
                            rule.path
                        );
                    } else {
                        assert_eq!(
                            status,
                            StatusCode::FORBIDDEN,
                            "{} {} as {who}",
                            rule.method,
                            rule.path
                        );
                    }
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, ROUTES.len() * (Role::ALL.len() + 1));
    // Denials are security events: they are in the audit log.
    let denied = t
        .server
        .store()
        .list_audit(
            &gm_server::store::AuditFilter {
                action: Some("access.denied".into()),
                ..Default::default()
            },
            None,
            1000,
        )
        .await
        .unwrap();
    assert!(!denied.is_empty());
}

#[tokio::test]
async fn no_admin_exists_until_the_cli_creates_one_and_the_api_cannot() {
    let t = server_without_totp().await;
    assert_eq!(
        t.server.store().admin_count().await.unwrap(),
        0,
        "no default account"
    );
    let http = t.http();
    let resp = http
        .post(t.url("/api/v1/admins"))
        .json(&json!({ "name": "mallory", "role": "admin" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    for guess in ["admin", "root", "gm"] {
        let (status, code) = error_code(login(&t, &http, guess, guess).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_credentials")
        );
    }
    assert_eq!(t.server.store().admin_count().await.unwrap(), 0);
}

#[tokio::test]
async fn failed_logins_are_slowed_then_locked_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let t = start_server_with(dir, |c| {
        c.auth.require_totp_for.clear();
        c.auth.throttle_after = 3;
        c.auth.throttle_base_ms = 2_000;
        c.auth.lockout_after = 4;
    })
    .await;
    t.create_admin("alice", Role::Admin, PASSWORD).await;
    let http = t.http();
    for _ in 0..3 {
        let (status, code) = error_code(login(&t, &http, "alice", "wrong password!").await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_credentials")
        );
    }
    // Slowed: even the right password must wait.
    let resp = login(&t, &http, "alice", PASSWORD).await;
    assert!(resp.headers().contains_key("retry-after"));
    let (status, code) = error_code(resp).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "slow_down")
    );
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    // The fourth failure locks the account; then even the right password is refused.
    let (status, code) = error_code(login(&t, &http, "alice", "wrong password!").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "account_locked")
    );
    let resp = login(&t, &http, "alice", PASSWORD).await;
    let (status, code) = error_code(resp).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "account_locked")
    );

    let failures = t
        .server
        .store()
        .list_audit(
            &gm_server::store::AuditFilter {
                action: Some("auth.login_failed".into()),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(failures.len(), 6, "every failed attempt is audited");
    assert!(
        failures
            .iter()
            .all(|f| f.target == "alice" && f.result.starts_with("denied"))
    );
    assert!(
        failures[0].result.contains("locked"),
        "{}",
        failures[0].result
    );
}

#[tokio::test]
async fn an_address_with_too_many_failures_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let t = start_server_with(dir, |c| {
        c.auth.require_totp_for.clear();
        c.auth.address_lockout_after = 4;
    })
    .await;
    t.create_admin("bob", Role::Viewer, PASSWORD).await;
    let http = t.http();
    for i in 0..4 {
        let (status, _) = error_code(login(&t, &http, &format!("guess{i}"), "x").await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, code) = error_code(login(&t, &http, "bob", PASSWORD).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "address_locked")
    );
}

#[tokio::test]
async fn cookie_requests_that_change_state_need_the_csrf_token() {
    let t = server_without_totp().await;
    t.create_admin("carol", Role::GameMaster, PASSWORD).await;
    let http = t.http();
    let resp = login(&t, &http, "carol", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    let body: Value = resp.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    // Reading needs no token.
    assert_eq!(
        http.get(t.url("/api/v1/me")).send().await.unwrap().status(),
        StatusCode::OK
    );
    let new_token = json!({ "name": "ci", "role": "viewer", "expires_in_days": 1 });
    let (status, code) = error_code(
        http.post(t.url("/api/v1/me/tokens"))
            .json(&new_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "csrf_failed")
    );
    let (status, code) = error_code(
        http.post(t.url("/api/v1/me/tokens"))
            .header("x-csrf-token", "gmc_forged")
            .json(&new_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "csrf_failed")
    );
    let resp = http
        .post(t.url("/api/v1/me/tokens"))
        .header("x-csrf-token", &csrf)
        .json(&new_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let refused = t
        .server
        .store()
        .list_audit(
            &gm_server::store::AuditFilter {
                action: Some("access.csrf_failed".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(refused.len(), 2, "both refusals are security events");
    assert_eq!(refused[0].actor, "carol");
}

#[tokio::test]
async fn revoked_tokens_and_sessions_are_refused_at_once() {
    let t = server_without_totp().await;
    let id = t
        .create_admin("dave", Role::SeniorGameMaster, PASSWORD)
        .await;
    let token = t.create_token(id, Role::Viewer).await;
    let http = t.http();
    let me: Value = http
        .get(t.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "viewer", "a token acts with its own role");
    let listed: Value = http
        .get(t.url("/api/v1/me/tokens"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token_id = listed[0]["id"].as_i64().unwrap();
    let resp = http
        .delete(t.url(&format!("/api/v1/me/tokens/{token_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (status, code) = error_code(
        http.get(t.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );

    // Two browsers; the first ends the second's session.
    let (a, b) = (t.http(), t.http());
    let csrf_a: Value = login(&t, &a, "dave", PASSWORD).await.json().await.unwrap();
    assert_eq!(
        login(&t, &b, "dave", PASSWORD).await.status(),
        StatusCode::OK
    );
    let sessions: Value = a
        .get(t.url("/api/v1/me/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        b.get(t.url("/api/v1/me")).send().await.unwrap().status(),
        StatusCode::OK
    );
    let resp = a
        .delete(t.url(&format!("/api/v1/me/sessions/{other}")))
        .header("x-csrf-token", csrf_a["csrf_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        b.get(t.url("/api/v1/me")).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        a.get(t.url("/api/v1/me")).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_one_time_password_must_be_changed_first() {
    let t = server_without_totp().await;
    let admin = t.create_admin("erin", Role::Admin, PASSWORD).await;
    let token = t.create_token(admin, Role::Admin).await;
    let http = t.http();
    let created: Value = http
        .post(t.url("/api/v1/admins"))
        .bearer_auth(&token)
        .json(&json!({ "name": "frank", "role": "game_master" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let otp = created["one_time_password"].as_str().unwrap().to_string();
    let frank = t.http();
    let resp: Value = login(&t, &frank, "frank", &otp).await.json().await.unwrap();
    assert_eq!(resp["must_change_password"], true);
    let csrf = resp["csrf_token"].as_str().unwrap().to_string();
    let (status, code) =
        error_code(frank.get(t.url("/api/v1/servers")).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "password_change_required")
    );
    let restricted = t
        .server
        .store()
        .list_audit(
            &gm_server::store::AuditFilter {
                action: Some("access.restricted".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(restricted[0].actor, "frank");
    let (status, code) = error_code(
        frank
            .post(t.url("/api/v1/auth/password"))
            .header("x-csrf-token", &csrf)
            .json(&json!({ "current_password": otp, "new_password": "short" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "weak_password")
    );
    let resp = frank
        .post(t.url("/api/v1/auth/password"))
        .header("x-csrf-token", &csrf)
        .json(&json!({ "current_password": otp, "new_password": "a much better passphrase" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        frank
            .get(t.url("/api/v1/servers"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn roles_named_in_the_config_must_enroll_and_use_totp() {
    let t = start_server().await; // default config: admins need TOTP
    t.create_admin("grace", Role::Admin, PASSWORD).await;
    let http = t.http();
    let resp: Value = login(&t, &http, "grace", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(resp["totp_enrollment_required"], true);
    let csrf = resp["csrf_token"].as_str().unwrap().to_string();
    let (status, code) = error_code(http.get(t.url("/api/v1/audit")).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "totp_enrollment_required")
    );
    let enroll: Value = http
        .post(t.url("/api/v1/me/totp"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let totp_secret = enroll["secret"].as_str().unwrap().to_string();
    assert!(
        enroll["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let code = secret::totp_code(&totp_secret, now()).unwrap();
    let resp = http
        .post(t.url("/api/v1/me/totp/confirm"))
        .header("x-csrf-token", &csrf)
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        http.get(t.url("/api/v1/audit"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    let fresh = t.http();
    let (status, code) = error_code(login(&t, &fresh, "grace", PASSWORD).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "totp_required")
    );
    let resp = fresh
        .post(t.url("/api/v1/auth/login"))
        .json(&json!({ "name": "grace", "password": PASSWORD, "totp_code": "123456" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = fresh
        .post(t.url("/api/v1/auth/login"))
        .json(&json!({ "name": "grace", "password": PASSWORD, "totp_code": secret::totp_code(&totp_secret, now()).unwrap() }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn audit_verify_finds_a_row_changed_by_hand() {
    let t = server_without_totp().await;
    let id = t.create_admin("heidi", Role::Admin, PASSWORD).await;
    let token = t.create_token(id, Role::Admin).await;
    let http = t.http();
    for i in 0..5 {
        let resp = http
            .post(t.url(&format!("/api/v1/admins/{id}/player-links")))
            .bearer_auth(&token)
            .json(&json!({ "account_id": 7000 + i }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let report: Value = http
        .get(t.url("/api/v1/audit/verify"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["first_broken"], Value::Null);
    assert_eq!(report["checked"], 5);
    // Player links are how in-game commands find their staff identity.
    let owner = t
        .server
        .store()
        .admin_for_player(7003)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.name, "heidi");

    // Someone edits row 3 directly in the database file.
    let db = t.dir.path().join("gm.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET params = '{\"account_id\":1}' WHERE id = 3")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let report: Value = http
        .get(t.url("/api/v1/audit/verify"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["first_broken"]["id"], 3, "{report}");
    assert_eq!(report["checked"], 2);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gm-server"))
        .arg("--data-dir")
        .arg(t.dir.path())
        .args(["audit", "verify"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("BROKEN at entry 3"), "{stdout}");
}

#[tokio::test]
async fn audit_pages_are_cursor_paginated_and_filtered() {
    let t = server_without_totp().await;
    let id = t
        .create_admin("ivan", Role::SeniorGameMaster, PASSWORD)
        .await;
    let token = t.create_token(id, Role::SeniorGameMaster).await;
    for i in 0..7 {
        let e = gm_server::audit::NewAuditEntry::new(
            "tester",
            gm_server::audit::Via::Cli,
            if i % 2 == 0 { "even" } else { "odd" },
        );
        t.server.store().append_audit(&e, i).await.unwrap();
    }
    let http = t.http();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = t.url("/api/v1/audit?limit=3&action=even");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = http
            .get(url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["action"], "even");
            seen.push(item["id"].as_i64().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, vec![7, 5, 3, 1]);
    let (status, code) = error_code(
        http.get(t.url("/api/v1/audit?limit=0"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_limit")
    );
    let (status, code) = error_code(
        http.get(t.url("/api/v1/audit?cursor=abc"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_cursor")
    );
}

#[tokio::test]
async fn live_events_are_filtered_by_role() {
    let t = server_without_totp().await;
    let viewer = t.create_admin("vic", Role::Viewer, PASSWORD).await;
    let senior = t
        .create_admin("sam", Role::SeniorGameMaster, PASSWORD)
        .await;
    let (vt, st) = (
        t.create_token(viewer, Role::Viewer).await,
        t.create_token(senior, Role::SeniorGameMaster).await,
    );
    let http = t.http();
    let mut v = http
        .get(t.url("/api/v1/events"))
        .bearer_auth(&vt)
        .send()
        .await
        .unwrap();
    let mut s = http
        .get(t.url("/api/v1/events"))
        .bearer_auth(&st)
        .send()
        .await
        .unwrap();
    assert_eq!(v.status(), StatusCode::OK);
    assert_eq!(v.headers()["content-type"], "text/event-stream");

    // An audited action (seen by the senior GM only), then a game server connects (both).
    let resp = http
        .post(t.url("/api/v1/me/tokens"))
        .bearer_auth(&st)
        .json(&json!({ "name": "x", "role": "viewer", "expires_in_days": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let key = t.create_key("eu-1").await;
    let game = t.client(&key, "eu-1").spawn().unwrap();

    async fn read_until(resp: &mut reqwest::Response, needle: &str) -> String {
        let mut text = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !text.contains(needle) {
            let chunk = tokio::time::timeout_at(deadline, resp.chunk())
                .await
                .expect("event in time")
                .unwrap()
                .unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    }
    let seen_by_viewer = read_until(&mut v, "event: game_server.connected").await;
    assert!(
        !seen_by_viewer.contains("audit.appended"),
        "{seen_by_viewer}"
    );
    let seen_by_senior = read_until(&mut s, "event: game_server.connected").await;
    assert!(
        seen_by_senior.contains("event: audit.appended"),
        "{seen_by_senior}"
    );
    assert!(seen_by_senior.contains("token.create"), "{seen_by_senior}");
    game.shutdown();
}

/// An open event stream ends soon after its token is revoked (and a stream whose token
/// stays valid does not).
#[tokio::test]
async fn event_streams_end_when_their_token_is_revoked() {
    let t = server_without_totp().await;
    let viewer = t.create_admin("vic", Role::Viewer, PASSWORD).await;
    let (doomed, kept) = (
        t.create_token(viewer, Role::Viewer).await,
        t.create_token(viewer, Role::Viewer).await,
    );
    let http = t.http();
    let open = |token: String| {
        let (http, url) = (http.clone(), t.url("/api/v1/events"));
        async move { http.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let (mut d, mut k) = (open(doomed.clone()).await, open(kept.clone()).await);
    assert_eq!(d.status(), StatusCode::OK);
    let doomed_id = t
        .server
        .store()
        .token_by_hash(&gm_server::auth::secret::token_hash(&doomed))
        .await
        .unwrap()
        .unwrap()
        .id;
    let resp = http
        .delete(t.url(&format!("/api/v1/me/tokens/{doomed_id}")))
        .bearer_auth(&kept)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let revoked_at = tokio::time::Instant::now();
    let mut text = String::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(5), d.chunk())
            .await
            .expect("the revoked stream ends within its recheck interval")
            .unwrap();
        match chunk {
            Some(c) => text.push_str(&String::from_utf8_lossy(&c)),
            None => break,
        }
    }
    assert!(text.contains("event: revoked"), "{text}");
    assert!(revoked_at.elapsed() < Duration::from_secs(3));
    // The other stream is still open: nothing ends it within two recheck intervals.
    let still_open = tokio::time::timeout(Duration::from_millis(2_500), k.chunk()).await;
    assert!(
        still_open.is_err() || matches!(still_open, Ok(Ok(Some(_)))),
        "a stream with a valid token must stay open: {still_open:?}"
    );
}

#[tokio::test]
async fn sessions_end_after_idle_time_and_absolute_lifetime() {
    let t = server_without_totp().await;
    t.create_admin("judy", Role::Viewer, PASSWORD).await;
    let db = t.dir.path().join("gm.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();

    let idle = t.http();
    assert_eq!(
        login(&t, &idle, "judy", PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        idle.get(t.url("/api/v1/me")).send().await.unwrap().status(),
        StatusCode::OK
    );
    // 31 minutes without a request (the default idle limit is 30).
    sqlx::query("UPDATE admin_sessions SET last_seen_ms = last_seen_ms - 31 * 60000")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        idle.get(t.url("/api/v1/me")).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    let old = t.http();
    assert_eq!(
        login(&t, &old, "judy", PASSWORD).await.status(),
        StatusCode::OK
    );
    // Used a moment ago, but logged in more than 12 hours ago.
    sqlx::query("UPDATE admin_sessions SET expires_at_ms = 1 WHERE revoked_at_ms IS NULL")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        old.get(t.url("/api/v1/me")).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    pool.close().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let t = server_without_totp().await;
    let http = t.http();
    let (status, code) = error_code(http.get(t.url("/api/v1/nope")).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, code) = error_code(http.put(t.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let (status, code) = error_code(
        http.post(t.url("/api/v1/auth/login"))
            .body("{not json")
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_body")
    );
}
