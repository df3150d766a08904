//! Running GM commands through the API: the same registry and authority as in game.

use axum::Extension;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiState, ErrorBody, Json, Query};
use crate::auth::Caller;
use crate::commands::{CommandContext, complete, execute};

/// A command to run.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CommandRun {
    /// The line as a GM would type it, e.g. `/kick Bob spamming`. Players are found in the
    /// fleet directory by name or `#account-id`, and the command goes to their game server.
    #[schema(min_length = 1, max_length = 2000)]
    pub line: String,
    /// The game server a command without a player goes to (a game command, or
    /// `/announce here`). Needed when several game servers have that command.
    #[schema(max_length = 128)]
    pub server: Option<String>,
}

/// What the command did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CommandResult {
    /// Whether it ran.
    pub ok: bool,
    /// On failure: `unknown_command`, `bad_arguments`, `failed`, `timeout` or `unavailable`.
    pub code: Option<String>,
    /// Text for the caller.
    pub text: String,
    /// Structured values (`players`, `server_id`, …).
    pub fields: Vec<Field>,
}

/// One structured value of a command result.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Field {
    /// Name, e.g. `players`.
    pub key: String,
    /// Value, as text.
    pub value: String,
}

/// Run a GM command as the caller. Unknown commands and commands above the caller's role read
/// alike. Every run is audited with its outcome.
#[utoipa::path(post, path = "/api/v1/commands", tag = "commands", request_body = CommandRun,
    responses((status = 200, body = CommandResult), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn run_command(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<CommandRun>,
) -> Result<Json<CommandResult>, ApiError> {
    if let Some(server) = &req.server
        && !state.gateway.is_connected(server)
    {
        return Err(ApiError::bad_request(
            "unknown_server",
            format!("game server {server:?} is not connected (GET /api/v1/servers lists them)"),
        ));
    }
    let ctx = CommandContext {
        actor: caller.name.clone(),
        role: Some(caller.role),
        via: caller.via,
        source: caller.source.clone(),
        origin_server: req.server,
    };
    let outcome = execute(&state.gateway, &ctx, &req.line).await;
    Ok(Json(match outcome {
        gm_proto::CommandOutcome::Ok { text, fields } => CommandResult {
            ok: true,
            code: None,
            text,
            fields: fields
                .into_iter()
                .map(|(key, value)| Field { key, value })
                .collect(),
        },
        gm_proto::CommandOutcome::Error { code, message } => CommandResult {
            ok: false,
            code: Some(
                match code {
                    gm_proto::CommandErrorCode::UnknownCommand => "unknown_command",
                    gm_proto::CommandErrorCode::BadArguments => "bad_arguments",
                    gm_proto::CommandErrorCode::Failed => "failed",
                    gm_proto::CommandErrorCode::Timeout => "timeout",
                    gm_proto::CommandErrorCode::Unavailable => "unavailable",
                }
                .to_string(),
            ),
            text: message,
            fields: Vec::new(),
        },
    }))
}

/// A partly typed line to complete.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CompletionParams {
    /// The line so far, e.g. `/ki` or `/kick Bo`.
    #[param(max_length = 2000)]
    pub line: String,
    /// Only this game server's own commands (gm-server's are always offered).
    #[param(max_length = 128)]
    pub server: Option<String>,
}

/// What the line could become.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Completions {
    /// Whole lines, sorted, at most 50: command names, choices, durations, and the names of
    /// players online in the fleet.
    pub completions: Vec<String>,
}

/// Complete a command line as the caller could run it: only commands the caller's role
/// allows, so completion never shows which other commands exist. Not audited (nothing runs).
#[utoipa::path(get, path = "/api/v1/commands/completions", tag = "commands",
    params(CompletionParams),
    responses((status = 200, body = Completions), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn complete_command(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(p): Query<CompletionParams>,
) -> Json<Completions> {
    Json(Completions {
        completions: complete(
            &state.gateway,
            &p.line,
            Some(caller.role),
            p.server.as_deref(),
        ),
    })
}
