use serde::{Deserialize, Serialize};

/// A staff role. Each role can do everything the one before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads fleet state; changes nothing.
    Viewer,
    /// Handles player support.
    SupportAgent,
    /// Moderates players in game.
    GameMaster,
    /// Moderates, and reviews other staff's actions.
    SeniorGameMaster,
    /// Manages staff, keys and configuration.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 5] = [
        Role::Viewer,
        Role::SupportAgent,
        Role::GameMaster,
        Role::SeniorGameMaster,
        Role::Admin,
    ];

    /// The name used on the wire, in the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::SupportAgent => "support_agent",
            Role::GameMaster => "game_master",
            Role::SeniorGameMaster => "senior_game_master",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown role {s:?}; roles are {}", names.join(", "))
            })
    }
}

/// The type of an argument.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ArgKind {
    /// A player, by character name or `#account-id`.
    Player,
    /// A duration such as `30m`, `7d` or `1h30m`.
    Duration,
    /// An integer within bounds (inclusive).
    Int {
        /// Smallest accepted.
        min: i64,
        /// Largest accepted.
        max: i64,
    },
    /// A number within bounds (inclusive).
    Float {
        /// Smallest accepted.
        min: f64,
        /// Largest accepted.
        max: f64,
    },
    /// One of fixed words (case-insensitive).
    Choice(Vec<String>),
    /// One word.
    Word,
    /// The rest of the line, spaces included; only as the last argument.
    Text,
    /// Where a fleet action goes: `here` (the game server it was typed on), `fleet` (every
    /// one), or one game server's id. Parses to `Choice("here" | "fleet")` or `Text(id)`.
    // Last, so the wire encoding of the variants before it does not change.
    ServerScope,
}

/// One argument of a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arg {
    /// Name, shown in the usage line.
    pub name: String,
    /// Type.
    pub kind: ArgKind,
    /// Whether it may be left out (only trailing arguments may).
    pub required: bool,
}

impl Arg {
    fn new(name: &str, kind: ArgKind) -> Arg {
        Arg {
            name: name.to_string(),
            kind,
            required: true,
        }
    }

    /// A player reference.
    pub fn player(name: &str) -> Arg {
        Arg::new(name, ArgKind::Player)
    }

    /// A duration.
    pub fn duration(name: &str) -> Arg {
        Arg::new(name, ArgKind::Duration)
    }

    /// An integer in `min..=max`.
    pub fn int(name: &str, min: i64, max: i64) -> Arg {
        Arg::new(name, ArgKind::Int { min, max })
    }

    /// A number in `min..=max`.
    pub fn float(name: &str, min: f64, max: f64) -> Arg {
        Arg::new(name, ArgKind::Float { min, max })
    }

    /// One of `choices`.
    pub fn choice(name: &str, choices: &[&str]) -> Arg {
        Arg::new(
            name,
            ArgKind::Choice(choices.iter().map(|c| c.to_string()).collect()),
        )
    }

    /// `here`, `fleet` or a game server's id (see [`ArgKind::ServerScope`]).
    pub fn server_scope(name: &str) -> Arg {
        Arg::new(name, ArgKind::ServerScope)
    }

    /// One word.
    pub fn word(name: &str) -> Arg {
        Arg::new(name, ArgKind::Word)
    }

    /// The rest of the line.
    pub fn text(name: &str) -> Arg {
        Arg::new(name, ArgKind::Text)
    }

    /// Makes the argument optional.
    #[must_use]
    pub fn optional(mut self) -> Arg {
        self.required = false;
        self
    }

    fn usage(&self) -> String {
        let inner = match &self.kind {
            ArgKind::Choice(c) => c.join("|"),
            ArgKind::ServerScope => "here|fleet|server-id".to_string(),
            ArgKind::Text => format!("{}…", self.name),
            _ => self.name.clone(),
        };
        if self.required {
            format!("<{inner}>")
        } else {
            format!("[{inner}]")
        }
    }
}

/// A command: name, aliases, arguments, the role it needs, help.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandSpec {
    /// Name without the slash, lower case.
    pub name: String,
    /// Other names.
    pub aliases: Vec<String>,
    /// Arguments in order.
    pub args: Vec<Arg>,
    /// Lowest role that may run it.
    pub role: Role,
    /// One line of help.
    pub help: String,
}

impl CommandSpec {
    /// A command needing `game_master`, with no arguments yet.
    pub fn new(name: &str, help: &str) -> CommandSpec {
        CommandSpec {
            name: name.to_lowercase(),
            aliases: Vec::new(),
            args: Vec::new(),
            role: Role::GameMaster,
            help: help.to_string(),
        }
    }

    /// Adds an alias.
    #[must_use]
    pub fn alias(mut self, alias: &str) -> CommandSpec {
        self.aliases.push(alias.to_lowercase());
        self
    }

    /// Adds an argument.
    #[must_use]
    pub fn arg(mut self, arg: Arg) -> CommandSpec {
        self.args.push(arg);
        self
    }

    /// Sets the lowest role that may run it.
    #[must_use]
    pub fn role(mut self, role: Role) -> CommandSpec {
        self.role = role;
        self
    }

    /// `/kick <player> [reason…]`
    pub fn usage(&self) -> String {
        let mut out = format!("/{}", self.name);
        for a in &self.args {
            out.push(' ');
            out.push_str(&a.usage());
        }
        out
    }
}

/// A player as typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PlayerRef {
    /// By character name.
    Name(String),
    /// By account id (`#1234`).
    Id(u64),
}

/// A parsed argument value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ArgValue {
    /// A player.
    Player(PlayerRef),
    /// Seconds.
    Duration(u64),
    /// An integer.
    Int(i64),
    /// A number.
    Float(f64),
    /// The chosen word, lower case as declared.
    Choice(String),
    /// A word or the rest of the line.
    Text(String),
}
