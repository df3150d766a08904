//! GM commands that gm-server runs itself, whichever way they come in (typed in game, the
//! API, the CLI): one registry, one authority. The caller's role always comes from gm-server's
//! own records — a player link for in-game callers, the session or token for the API — never
//! from what a game server claims.

use gm_proto::command::{ArgValue, PlayerRef, Registry, Role};
use gm_proto::{CommandErrorCode, CommandOutcome};

use crate::audit::{NewAuditEntry, Via};
use crate::gateway::{Gateway, PlayerLocation};

/// Who is running a command, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandContext {
    /// Staff name (or `player:<account>` for an in-game caller without a linked identity).
    pub actor: String,
    /// Role from gm-server's records; `None` for a player without one.
    pub role: Option<Role>,
    /// Through what.
    pub via: Via,
    /// Source address, or the game server an in-game command came from.
    pub source: String,
    /// The game server an in-game command was typed on (`/announce here`).
    pub origin_server: Option<String>,
}

/// The built-in commands gm-server runs.
pub fn server_registry() -> Registry {
    let mut r = Registry::new();
    for s in gm_proto::command::builtins() {
        r.register(s).expect("built-in commands are valid");
    }
    r
}

fn err(code: CommandErrorCode, message: impl Into<String>) -> CommandOutcome {
    CommandOutcome::error(code, message)
}

/// Most completions one call returns.
pub const MAX_COMPLETIONS: usize = 50;

/// Completions for a partly typed line, for a caller with `role`: gm-server's commands and
/// the connected game servers' (only `server`'s when named) that the role allows, their
/// choices and durations, and the names of players online anywhere in the fleet. Each
/// completion is the whole line as it would read, sorted; at most [`MAX_COMPLETIONS`].
pub fn complete(
    gateway: &Gateway,
    line: &str,
    role: Option<Role>,
    server: Option<&str>,
) -> Vec<String> {
    let line: String = line.chars().take(gm_proto::command::MAX_LINE_LEN).collect();
    // Every registry that completes a player argument asks with the same prefix: look once.
    let names = std::cell::OnceCell::new();
    let players = |prefix: &str| {
        names
            .get_or_init(|| {
                gateway
                    .inner
                    .presence
                    .find_by_prefix(prefix, MAX_COMPLETIONS)
                    .into_iter()
                    .map(|l| l.name)
                    .collect::<Vec<_>>()
            })
            .clone()
    };
    let mut out = gateway.inner.registry.complete_with(&line, role, players);
    for entry in gateway.inner.game_commands.iter() {
        if server.is_none_or(|s| s == entry.key()) {
            out.extend(entry.value().complete_with(&line, role, players));
        }
    }
    out.sort_unstable();
    out.dedup();
    out.truncate(MAX_COMPLETIONS);
    out
}

/// Parses, authorizes, runs and audits one command line.
pub async fn execute(gateway: &Gateway, ctx: &CommandContext, line: &str) -> CommandOutcome {
    let registry = &gateway.inner.registry;
    let line = line
        .chars()
        .take(gm_proto::command::MAX_LINE_LEN)
        .collect::<String>();
    let outcome = match registry.parse(&line, ctx.role) {
        Err(gm_proto::command::ParseError::Unknown { .. }) if is_game_command(gateway, &line) => {
            run_game_command(gateway, ctx, &line).await
        }
        Err(e) => {
            let code = match e {
                gm_proto::command::ParseError::Unknown { .. } => CommandErrorCode::UnknownCommand,
                _ => CommandErrorCode::BadArguments,
            };
            err(code, e.to_string())
        }
        Ok(cmd) => run(gateway, ctx, &cmd).await,
    };
    let result = match &outcome {
        CommandOutcome::Ok { .. } => "ok".to_string(),
        CommandOutcome::Error { code, message } => match code {
            CommandErrorCode::UnknownCommand => format!("denied: {message}"),
            _ => format!("error: {message}"),
        },
    };
    let entry = NewAuditEntry::new(ctx.actor.clone(), ctx.via, "command")
        .role(ctx.role.map_or("-".to_string(), |r| r.to_string()))
        .source(ctx.source.clone())
        .target(line.split_whitespace().next().unwrap_or("").to_string())
        .params(serde_json::json!({ "line": line, "origin_server": ctx.origin_server }))
        .result(result);
    if let Err(e) = gateway.audit(entry).await {
        tracing::error!("could not audit a command: {e}");
    }
    outcome
}

async fn run(
    gateway: &Gateway,
    ctx: &CommandContext,
    cmd: &gm_proto::command::ParsedCommand,
) -> CommandOutcome {
    let presence = &gateway.inner.presence;
    match cmd.name.as_str() {
        "help" => {
            let topic = match cmd.get("command") {
                Some(ArgValue::Text(t)) => Some(t.as_str()),
                _ => None,
            };
            match gateway.inner.registry.help(ctx.role, topic) {
                Ok(text) => CommandOutcome::ok(text),
                Err(e) => err(CommandErrorCode::UnknownCommand, e.to_string()),
            }
        }
        "who" => match cmd.get("server") {
            Some(ArgValue::Text(server)) => {
                if !gateway.is_connected(server) {
                    return err(
                        CommandErrorCode::Failed,
                        format!("game server {server} is not connected"),
                    );
                }
                let names = presence.names_on(server, 50);
                let n = presence.count(Some(server));
                let more = if n > names.len() {
                    format!(" and {} more", n - names.len())
                } else {
                    String::new()
                };
                CommandOutcome::Ok {
                    text: format!("{n} online on {server}: {}{more}", names.join(", ")),
                    fields: vec![("players".into(), n.to_string())],
                }
            }
            _ => {
                let servers = gateway.connected().len();
                let players = presence.count(None);
                CommandOutcome::Ok {
                    text: format!("{players} players online on {servers} game servers"),
                    fields: vec![
                        ("players".into(), players.to_string()),
                        ("servers".into(), servers.to_string()),
                    ],
                }
            }
        },
        "whois" => match find_player(gateway, cmd.get("player")) {
            Ok(l) => CommandOutcome::Ok {
                text: format!(
                    "{} (#{}) is online on {}",
                    l.name, l.account_id, l.server_id
                ),
                fields: vec![
                    ("account_id".into(), l.account_id.to_string()),
                    ("server_id".into(), l.server_id),
                ],
            },
            Err(o) => o,
        },
        "kick" => {
            let target = match find_player(gateway, cmd.get("player")) {
                Ok(l) => l,
                Err(o) => return o,
            };
            let mut args = vec![format!("#{}", target.account_id)];
            if let Some(ArgValue::Text(reason)) = cmd.get("reason") {
                args.push(reason.clone());
            }
            match gateway
                .send_command(&target.server_id, "kick", args, &ctx.actor)
                .await
            {
                Ok(outcome) => outcome,
                Err(e) => err(CommandErrorCode::Unavailable, e.to_string()),
            }
        }
        "announce" => {
            let Some(ArgValue::Text(message)) = cmd.get("message") else {
                return err(
                    CommandErrorCode::BadArguments,
                    "an announcement needs a message",
                );
            };
            let servers: Vec<String> = match cmd.get("scope") {
                Some(ArgValue::Choice(s)) if s == "here" => match &ctx.origin_server {
                    Some(s) => vec![s.clone()],
                    None => {
                        return err(
                            CommandErrorCode::BadArguments,
                            "\"here\" only means something in game; use /announce fleet or /announce <server-id>",
                        );
                    }
                },
                Some(ArgValue::Text(id)) => {
                    if !gateway.is_connected(id) {
                        return err(
                            CommandErrorCode::Failed,
                            format!("game server {id} is not connected (/who lists the fleet)"),
                        );
                    }
                    vec![id.clone()]
                }
                _ => gateway
                    .connected()
                    .into_iter()
                    .map(|s| s.server_id)
                    .collect(),
            };
            let sends = servers
                .iter()
                .map(|s| gateway.send_command(s, "announce", vec![message.clone()], &ctx.actor));
            let results = futures_util::future::join_all(sends).await;
            let ok = results
                .iter()
                .filter(|r| matches!(r, Ok(CommandOutcome::Ok { .. })))
                .count();
            CommandOutcome::Ok {
                text: format!("announced on {ok} of {} game servers", servers.len()),
                fields: vec![("delivered".into(), ok.to_string())],
            }
        }
        other => err(
            CommandErrorCode::UnknownCommand,
            format!("unknown command /{other}"),
        ),
    }
}

fn find_player(
    gateway: &Gateway,
    arg: Option<&ArgValue>,
) -> Result<PlayerLocation, CommandOutcome> {
    let presence = &gateway.inner.presence;
    match arg {
        Some(ArgValue::Player(PlayerRef::Id(id))) => presence.locate(*id).ok_or_else(|| {
            err(
                CommandErrorCode::Failed,
                format!("account #{id} is not online"),
            )
        }),
        Some(ArgValue::Player(PlayerRef::Name(name))) => {
            let mut found = presence.find_by_name(name);
            match found.len() {
                0 => Err(err(
                    CommandErrorCode::Failed,
                    format!("no player named {name} is online"),
                )),
                1 => Ok(found.remove(0)),
                _ => {
                    let ids: Vec<String> = found
                        .iter()
                        .map(|l| format!("#{} on {}", l.account_id, l.server_id))
                        .collect();
                    Err(err(
                        CommandErrorCode::BadArguments,
                        format!(
                            "several players are named {name}: {}; use the #id",
                            ids.join(", ")
                        ),
                    ))
                }
            }
        }
        _ => Err(err(CommandErrorCode::BadArguments, "name a player")),
    }
}

fn command_name(line: &str) -> String {
    let body = line.trim_start();
    body.strip_prefix('/')
        .unwrap_or(body)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_lowercase()
}

fn is_game_command(gateway: &Gateway, line: &str) -> bool {
    let name = command_name(line);
    gateway
        .inner
        .game_commands
        .iter()
        .any(|r| r.lookup(&name, Some(Role::Admin)).is_some())
}

/// A command one of the game servers registered: authorized here with that game's spec, then
/// sent to the game server of the player it names; with no player argument, to the game server
/// it came from or was aimed at, or the only one that has it.
async fn run_game_command(gateway: &Gateway, ctx: &CommandContext, line: &str) -> CommandOutcome {
    let registries: Vec<(String, std::sync::Arc<Registry>)> = gateway
        .inner
        .game_commands
        .iter()
        .map(|e| (e.key().clone(), e.value().clone()))
        .collect();
    // Parse with any game that has it: the typed arguments tell where to send it.
    let mut last_err = None;
    for (server, registry) in &registries {
        match registry.parse(line, ctx.role) {
            Ok(cmd) => {
                let target = match cmd.args.iter().find_map(|(_, v)| match v {
                    ArgValue::Player(p) => Some(p.clone()),
                    _ => None,
                }) {
                    Some(p) => match find_player(gateway, Some(&ArgValue::Player(p))) {
                        Ok(l) => l.server_id,
                        Err(o) => return o,
                    },
                    None => match &ctx.origin_server {
                        Some(origin) => origin.clone(),
                        None => {
                            // No player to route by and no server named: only unambiguous
                            // when one game server has this command.
                            let mut with: Vec<&str> = registries
                                .iter()
                                .filter(|(_, r)| r.lookup(&cmd.name, ctx.role).is_some())
                                .map(|(s, _)| s.as_str())
                                .collect();
                            with.sort_unstable();
                            if with.len() > 1 {
                                return err(
                                    CommandErrorCode::BadArguments,
                                    format!(
                                        "several game servers have /{} ({}); name one (\"server\" in the API, --server in the CLI)",
                                        cmd.name,
                                        with.join(", ")
                                    ),
                                );
                            }
                            server.clone()
                        }
                    },
                };
                if !registries
                    .iter()
                    .any(|(s, r)| *s == target && r.lookup(&cmd.name, ctx.role).is_some())
                {
                    return err(
                        CommandErrorCode::Failed,
                        format!("game server {target} has no /{} command", cmd.name),
                    );
                }
                let words: Vec<String> =
                    gm_proto::command::tokenize(line.trim_start().trim_start_matches('/'))
                        .map(|t| t.into_iter().skip(1).map(|t| t.text).collect())
                        .unwrap_or_default();
                return match gateway
                    .send_command(&target, &cmd.name, words, &ctx.actor)
                    .await
                {
                    Ok(o) => o,
                    Err(e) => err(CommandErrorCode::Unavailable, e.to_string()),
                };
            }
            Err(e) => last_err = Some(e),
        }
    }
    let e = last_err.map_or_else(|| "unknown command".to_string(), |e| e.to_string());
    let code = if e.starts_with("unknown command") {
        CommandErrorCode::UnknownCommand
    } else {
        CommandErrorCode::BadArguments
    };
    err(code, e)
}
