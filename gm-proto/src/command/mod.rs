//! GM slash commands: what a command looks like ([`CommandSpec`]), the registry that holds a
//! game's commands beside the built-ins, and the parser that turns `/ban Bob 7d griefing` into
//! typed arguments, with errors that teach.
//!
//! The same code runs in the SDK (game-side commands, completion) and in gm-server (which
//! authorizes every command itself), and specs cross the wire, so it lives here.
//!
//! ```
//! use gm_proto::command::{Arg, CommandSpec, Registry, Role, ArgValue};
//! let mut registry = Registry::new();
//! registry.register(
//!     CommandSpec::new("kick", "Disconnect a player")
//!         .alias("k")
//!         .arg(Arg::player("player"))
//!         .arg(Arg::text("reason").optional())
//!         .role(Role::GameMaster),
//! ).unwrap();
//! let cmd = registry.parse("/kick Bob spamming chat", Some(Role::Admin)).unwrap();
//! assert_eq!(cmd.name, "kick");
//! assert_eq!(cmd.get("reason"), Some(&ArgValue::Text("spamming chat".into())));
//! ```

mod duration;
mod parse;
mod registry;
mod spec;

pub use duration::{MAX_DURATION_SECS, format_duration, parse_duration};
pub use parse::{MAX_LINE_LEN, ParseError, ParsedCommand, Token, tokenize};
pub use registry::{MAX_PLAYER_NAME, Registry, RegistryError, parse_player};
pub use spec::{Arg, ArgKind, ArgValue, CommandSpec, PlayerRef, Role};

/// The commands gm-server runs itself, for every game server. Game servers know them too, for
/// completion and to tell their own commands apart.
pub fn builtins() -> Vec<CommandSpec> {
    vec![
        CommandSpec::new("help", "List the commands you can use, or show one")
            .arg(Arg::word("command").optional())
            .role(Role::Viewer),
        CommandSpec::new("who", "Players online in the fleet, or on one game server")
            .arg(Arg::word("server").optional())
            .role(Role::Viewer),
        CommandSpec::new("whois", "Where a player is")
            .arg(Arg::player("player"))
            .role(Role::SupportAgent),
        CommandSpec::new("kick", "Disconnect a player from their game server")
            .alias("k")
            .arg(Arg::player("player"))
            .arg(Arg::text("reason").optional()),
        CommandSpec::new(
            "announce",
            "Announce on this game server (here), one game server (its id) or the whole fleet",
        )
        .arg(Arg::server_scope("scope"))
        .arg(Arg::text("message")),
    ]
}
