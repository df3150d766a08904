use std::collections::HashMap;

use super::duration::parse_duration;
use super::parse::{MAX_LINE_LEN, ParseError, ParsedCommand, Token, tokenize};
use super::spec::{Arg, ArgKind, ArgValue, CommandSpec, PlayerRef, Role};

/// Longest player name accepted in a reference.
pub const MAX_PLAYER_NAME: usize = 32;

/// A command could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The name or an alias is taken.
    #[error("/{0} is already registered")]
    Duplicate(String),
    /// The name is empty or has characters other than a-z, 0-9, `_` and `-`.
    #[error("{0:?} is not a valid command name (a-z, 0-9, _ and -)")]
    BadName(String),
    /// A text argument that is not last, or a required argument after an optional one.
    #[error("/{0}: a text argument must come last and required arguments before optional ones")]
    BadArgs(String),
}

/// The commands a game server knows: the built-ins and the game's own.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    commands: Vec<CommandSpec>,
    /// Name or alias → index.
    index: HashMap<String, usize>,
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 32
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Adds a command.
    pub fn register(&mut self, spec: CommandSpec) -> Result<(), RegistryError> {
        for n in std::iter::once(&spec.name).chain(&spec.aliases) {
            if !valid_name(n) {
                return Err(RegistryError::BadName(n.clone()));
            }
            if self.index.contains_key(n) {
                return Err(RegistryError::Duplicate(n.clone()));
            }
        }
        let mut seen_optional = false;
        for (i, a) in spec.args.iter().enumerate() {
            let text_not_last = a.kind == ArgKind::Text && i + 1 != spec.args.len();
            if text_not_last || (a.required && seen_optional) {
                return Err(RegistryError::BadArgs(spec.name.clone()));
            }
            seen_optional |= !a.required;
        }
        let i = self.commands.len();
        for n in std::iter::once(&spec.name).chain(&spec.aliases) {
            self.index.insert(n.clone(), i);
        }
        self.commands.push(spec);
        Ok(())
    }

    /// Every command, in registration order.
    pub fn commands(&self) -> &[CommandSpec] {
        &self.commands
    }

    /// The command named (or aliased) `name` if `caller` may use it.
    pub fn lookup(&self, name: &str, caller: Option<Role>) -> Option<&CommandSpec> {
        let spec = &self.commands[*self.index.get(&name.to_lowercase())?];
        caller.is_some_and(|r| r >= spec.role).then_some(spec)
    }

    /// Commands `caller` may use, by name.
    pub fn visible(&self, caller: Option<Role>) -> Vec<&CommandSpec> {
        let mut v: Vec<_> = self
            .commands
            .iter()
            .filter(|c| caller.is_some_and(|r| r >= c.role))
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Parses a line (leading `/` optional) for a caller with `caller` role (`None`: a player
    /// without one).
    pub fn parse(&self, line: &str, caller: Option<Role>) -> Result<ParsedCommand, ParseError> {
        if line.len() > MAX_LINE_LEN {
            return Err(ParseError::TooLong(line.len()));
        }
        let line = line.trim_start();
        let line = line.strip_prefix('/').unwrap_or(line);
        let tokens = tokenize(line)?;
        let Some((head, rest)) = tokens.split_first() else {
            return Err(ParseError::Empty);
        };
        let rest: Vec<&str> = rest.iter().map(|t| t.text.as_str()).collect();
        self.parse_words(&head.text, &rest, caller)
    }

    /// Parses a command already split into words (as carried by a `CommandRequest`).
    pub fn parse_words(
        &self,
        name: &str,
        rest: &[&str],
        caller: Option<Role>,
    ) -> Result<ParsedCommand, ParseError> {
        let Some(spec) = self.lookup(name, caller) else {
            return Err(ParseError::Unknown {
                name: name.to_string(),
                suggestion: self.suggest(name, caller),
            });
        };
        let mut args = Vec::new();
        let mut i = 0;
        for arg in &spec.args {
            if arg.kind == ArgKind::Text {
                let text = rest[i..].join(" ");
                i = rest.len();
                if text.is_empty() {
                    if arg.required {
                        return Err(missing(arg, spec));
                    }
                } else {
                    args.push((arg.name.clone(), ArgValue::Text(text)));
                }
                continue;
            }
            let Some(token) = rest.get(i) else {
                if arg.required {
                    return Err(missing(arg, spec));
                }
                continue;
            };
            i += 1;
            let value = parse_arg(arg, token).map_err(|reason| ParseError::BadArgument {
                arg: arg.name.clone(),
                reason,
                usage: spec.usage(),
            })?;
            args.push((arg.name.clone(), value));
        }
        if i < rest.len() {
            return Err(ParseError::TooManyArguments {
                usage: spec.usage(),
            });
        }
        Ok(ParsedCommand {
            name: spec.name.clone(),
            args,
        })
    }

    /// The nearest name (or alias) `caller` may use, if one is close enough to be a typo.
    pub fn suggest(&self, typed: &str, caller: Option<Role>) -> Option<String> {
        let typed = typed.to_lowercase();
        let budget = if typed.chars().count() <= 3 { 1 } else { 2 };
        self.index
            .iter()
            .filter(|(_, i)| caller.is_some_and(|r| r >= self.commands[**i].role))
            .map(|(n, i)| {
                let d = if n.starts_with(&typed) && typed.len() >= 2 {
                    0
                } else {
                    levenshtein(&typed, n)
                };
                (d, &self.commands[*i].name)
            })
            .filter(|(d, _)| *d <= budget)
            .min()
            .map(|(_, n)| n.clone())
    }

    /// `/help` and `/help <command>` for `caller`: only what they may run. An unknown topic
    /// (or one they may not run) reads as unknown.
    pub fn help(&self, caller: Option<Role>, topic: Option<&str>) -> Result<String, ParseError> {
        match topic {
            Some(t) => {
                let t = t.trim_start_matches('/');
                let spec = self.lookup(t, caller).ok_or_else(|| ParseError::Unknown {
                    name: t.to_string(),
                    suggestion: self.suggest(t, caller),
                })?;
                let mut out = format!("{} — {}", spec.usage(), spec.help);
                if !spec.aliases.is_empty() {
                    let aliases: Vec<_> = spec.aliases.iter().map(|a| format!("/{a}")).collect();
                    out.push_str(&format!(" (also {})", aliases.join(", ")));
                }
                Ok(out)
            }
            None => Ok(self
                .visible(caller)
                .iter()
                .map(|c| format!("{} — {}", c.usage(), c.help))
                .collect::<Vec<_>>()
                .join("\n")),
        }
    }

    /// Completions for a partly typed line: command names, choices, durations, and online
    /// player names. Each completion is the whole line as it would read.
    pub fn complete(&self, line: &str, caller: Option<Role>, online: &[&str]) -> Vec<String> {
        self.complete_with(line, caller, |prefix| {
            let lower = prefix.to_lowercase();
            online
                .iter()
                .filter(|n| n.to_lowercase().starts_with(&lower))
                .map(|n| n.to_string())
                .collect()
        })
    }

    /// [`complete`](Self::complete) with the player names asked of `players`, which gets the
    /// part of a name typed so far and returns the matching names (for a directory too large
    /// to pass as a slice, such as a whole fleet's).
    pub fn complete_with(
        &self,
        line: &str,
        caller: Option<Role>,
        players: impl FnOnce(&str) -> Vec<String>,
    ) -> Vec<String> {
        let body = line
            .trim_start()
            .strip_prefix('/')
            .unwrap_or(line.trim_start());
        let Ok(tokens) = tokenize(body) else {
            return Vec::new();
        };
        let ends_with_space = body.ends_with(char::is_whitespace);
        if tokens.len() <= 1 && !ends_with_space {
            let prefix = tokens
                .first()
                .map_or("", |t| t.text.as_str())
                .to_lowercase();
            return self
                .visible(caller)
                .iter()
                .filter(|c| c.name.starts_with(&prefix))
                .map(|c| format!("/{}", c.name))
                .collect();
        }
        let Some(spec) = tokens.first().and_then(|t| self.lookup(&t.text, caller)) else {
            return Vec::new();
        };
        let done = tokens.len() - 1 - usize::from(!ends_with_space);
        let Some(arg) = spec.args.get(done) else {
            return Vec::new();
        };
        // `body` is a suffix of `line`: keep everything before the word being completed.
        let (prefix, keep) = if ends_with_space {
            ("", line)
        } else {
            let last: &Token = tokens.last().expect("at least two tokens");
            (
                last.text.as_str(),
                &line[..line.len() - body.len() + last.start],
            )
        };
        let lower = prefix.to_lowercase();
        let candidates: Vec<String> = match &arg.kind {
            ArgKind::Player => players(prefix).iter().map(|n| quote_if_needed(n)).collect(),
            ArgKind::Choice(c) => c
                .iter()
                .filter(|c| c.starts_with(&lower))
                .cloned()
                .collect(),
            ArgKind::ServerScope => ["here", "fleet"]
                .iter()
                .filter(|c| c.starts_with(&lower))
                .map(|c| c.to_string())
                .collect(),
            ArgKind::Duration => ["10m", "1h", "1d", "7d", "30d"]
                .iter()
                .filter(|d| d.starts_with(&lower))
                .map(|d| d.to_string())
                .collect(),
            _ => Vec::new(),
        };
        candidates
            .into_iter()
            .map(|c| format!("{keep}{c}"))
            .collect()
    }
}

fn quote_if_needed(s: &str) -> String {
    if s.chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '\\')
    {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        s.to_string()
    }
}

fn missing(arg: &Arg, spec: &CommandSpec) -> ParseError {
    ParseError::MissingArgument {
        arg: arg.name.clone(),
        usage: spec.usage(),
    }
}

fn parse_arg(arg: &Arg, t: &str) -> Result<ArgValue, String> {
    match &arg.kind {
        ArgKind::Player => parse_player(t).map(ArgValue::Player),
        ArgKind::Duration => parse_duration(t).map(ArgValue::Duration),
        ArgKind::Int { min, max } => {
            let v: i64 = t
                .parse()
                .map_err(|_| format!("{t:?} is not a whole number between {min} and {max}"))?;
            if v < *min || v > *max {
                return Err(format!("{v} is not between {min} and {max}"));
            }
            Ok(ArgValue::Int(v))
        }
        ArgKind::Float { min, max } => {
            let v: f64 = t
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| format!("{t:?} is not a number between {min} and {max}"))?;
            if v < *min || v > *max {
                return Err(format!("{v} is not between {min} and {max}"));
            }
            Ok(ArgValue::Float(v))
        }
        ArgKind::Choice(choices) => choices
            .iter()
            .find(|c| c.eq_ignore_ascii_case(t))
            .map(|c| ArgValue::Choice(c.clone()))
            .ok_or_else(|| format!("{t:?} is not one of {}", choices.join(", "))),
        ArgKind::ServerScope => parse_server_scope(t),
        ArgKind::Word | ArgKind::Text => Ok(ArgValue::Text(t.to_string())),
    }
}

/// `here` or `fleet` (any case) as a choice; otherwise a game server id as text: 1 to 64 of
/// `A-Z a-z 0-9 . _ -`, like the ids game servers connect with.
fn parse_server_scope(t: &str) -> Result<ArgValue, String> {
    for word in ["here", "fleet"] {
        if t.eq_ignore_ascii_case(word) {
            return Ok(ArgValue::Choice(word.to_string()));
        }
    }
    let valid = (1..=64).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(ArgValue::Text(t.to_string()))
    } else {
        Err(format!(
            "{t:?} is not here, fleet or a game server id (1 to 64 of A-Z a-z 0-9 . _ -)"
        ))
    }
}

/// A player by name, or by account id written `#1234`.
pub fn parse_player(t: &str) -> Result<PlayerRef, String> {
    if let Some(id) = t.strip_prefix('#') {
        return id
            .parse::<u64>()
            .map(PlayerRef::Id)
            .map_err(|_| format!("{t:?} is not an account id; write it like #1234"));
    }
    let n = t.chars().count();
    if n == 0 || n > MAX_PLAYER_NAME || t.chars().any(char::is_control) {
        return Err(format!(
            "{t:?} is not a player name (1 to {MAX_PLAYER_NAME} characters) or #account-id"
        ));
    }
    Ok(PlayerRef::Name(t.to_string()))
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
