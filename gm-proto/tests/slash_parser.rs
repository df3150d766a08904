//! Table-driven tests of the slash-command parser: every case is a line, the caller's role, and
//! the exact outcome (parsed arguments, or the error text the caller would read).

use gm_proto::command::{Arg, CommandSpec, ParsedCommand, Registry, Role};

fn registry() -> Registry {
    let mut r = Registry::new();
    let specs = [
        CommandSpec::new("kick", "Disconnect a player")
            .alias("k")
            .arg(Arg::player("player"))
            .arg(Arg::text("reason").optional()),
        CommandSpec::new("ban", "Ban a player for a while")
            .arg(Arg::player("player"))
            .arg(Arg::duration("duration"))
            .arg(Arg::text("reason")),
        CommandSpec::new("announce", "Announce to this server or the whole fleet")
            .arg(Arg::choice("scope", &["here", "fleet"]))
            .arg(Arg::text("message")),
        CommandSpec::new("who", "Who is online")
            .arg(Arg::word("server").optional())
            .role(Role::Viewer),
        CommandSpec::new("whois", "A player's summary")
            .arg(Arg::player("player"))
            .role(Role::SupportAgent),
        CommandSpec::new("tp", "Teleport a player")
            .arg(Arg::player("player"))
            .arg(Arg::float("x", -10_000.0, 10_000.0))
            .arg(Arg::float("y", -10_000.0, 10_000.0)),
        CommandSpec::new("heal", "Heal a player")
            .arg(Arg::player("player"))
            .arg(Arg::int("amount", 1, 1000).optional()),
        CommandSpec::new("setlevel", "Set a player's level")
            .arg(Arg::player("player"))
            .arg(Arg::int("level", 1, 100))
            .role(Role::SeniorGameMaster),
        CommandSpec::new("shutdown-shard", "Stop this shard").role(Role::Admin),
    ];
    for s in specs {
        r.register(s).unwrap();
    }
    r
}

fn show(p: &ParsedCommand) -> String {
    let mut out = p.name.clone();
    for (k, v) in &p.args {
        out.push_str(&format!(" {k}={v:?}"));
    }
    out
}

const GM: Option<Role> = Some(Role::GameMaster);
const ADMIN: Option<Role> = Some(Role::Admin);
const VIEWER: Option<Role> = Some(Role::Viewer);
const PLAYER: Option<Role> = None;

#[test]
fn parser_table() {
    let r = registry();
    let cases: &[(&str, Option<Role>, &str)] = &[
        // Plain and aliased commands.
        ("/kick Bob", GM, "kick player=Player(Name(\"Bob\"))"),
        (
            "/kick Bob spamming chat",
            GM,
            "kick player=Player(Name(\"Bob\")) reason=Text(\"spamming chat\")",
        ),
        ("/k Bob", GM, "kick player=Player(Name(\"Bob\"))"),
        ("/KICK Bob", GM, "kick player=Player(Name(\"Bob\"))"),
        ("kick Bob", GM, "kick player=Player(Name(\"Bob\"))"),
        (
            "   /kick    Bob   ",
            GM,
            "kick player=Player(Name(\"Bob\"))",
        ),
        // Unicode names and ids.
        ("/kick Zoë", GM, "kick player=Player(Name(\"Zoë\"))"),
        (
            "/kick Nakamura_佐藤",
            GM,
            "kick player=Player(Name(\"Nakamura_佐藤\"))",
        ),
        ("/kick #1234", GM, "kick player=Player(Id(1234))"),
        (
            "/kick #12x",
            GM,
            "<player>: \"#12x\" is not an account id; write it like #1234. Usage: /kick <player> [reason…]",
        ),
        (
            "/kick #99999999999999999999999",
            GM,
            "<player>: \"#99999999999999999999999\" is not an account id; write it like #1234. Usage: /kick <player> [reason…]",
        ),
        (
            "/kick AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            GM,
            "<player>: \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\" is not a player name (1 to 32 characters) or #account-id. Usage: /kick <player> [reason…]",
        ),
        // Quotes and escapes.
        (
            "/kick \"Sir Bob\" afk",
            GM,
            "kick player=Player(Name(\"Sir Bob\")) reason=Text(\"afk\")",
        ),
        (
            "/kick 'Sir Bob'",
            GM,
            "kick player=Player(Name(\"Sir Bob\"))",
        ),
        (
            "/kick Bob \"said \\\"hi\\\"\"",
            GM,
            "kick player=Player(Name(\"Bob\")) reason=Text(\"said \\\"hi\\\"\")",
        ),
        (
            "/kick Sir\\ Bob",
            GM,
            "kick player=Player(Name(\"Sir Bob\"))",
        ),
        ("/kick \"Bob", GM, "a quote is not closed"),
        ("/kick Bob\\", GM, "the line ends with a lone backslash"),
        (
            "/kick \"\"",
            GM,
            "<player>: \"\" is not a player name (1 to 32 characters) or #account-id. Usage: /kick <player> [reason…]",
        ),
        // Missing and extra arguments.
        (
            "/kick",
            GM,
            "missing <player>. Usage: /kick <player> [reason…]",
        ),
        (
            "/ban Bob 7d",
            GM,
            "missing <reason>. Usage: /ban <player> <duration> <reason…>",
        ),
        (
            "/ban Bob",
            GM,
            "missing <duration>. Usage: /ban <player> <duration> <reason…>",
        ),
        (
            "/whois Bob extra",
            GM,
            "too many arguments. Usage: /whois <player>",
        ),
        (
            "/shutdown-shard now",
            ADMIN,
            "too many arguments. Usage: /shutdown-shard",
        ),
        ("/heal Bob", GM, "heal player=Player(Name(\"Bob\"))"),
        // Durations.
        (
            "/ban Bob 7d griefing",
            GM,
            "ban player=Player(Name(\"Bob\")) duration=Duration(604800) reason=Text(\"griefing\")",
        ),
        (
            "/ban Bob 30m spam",
            GM,
            "ban player=Player(Name(\"Bob\")) duration=Duration(1800) reason=Text(\"spam\")",
        ),
        (
            "/ban Bob 1h30m spam",
            GM,
            "ban player=Player(Name(\"Bob\")) duration=Duration(5400) reason=Text(\"spam\")",
        ),
        (
            "/ban Bob 2W spam",
            GM,
            "ban player=Player(Name(\"Bob\")) duration=Duration(1209600) reason=Text(\"spam\")",
        ),
        (
            "/ban Bob 7 spam",
            GM,
            "<duration>: \"7\" is not a duration; write it like 30m, 12h, 7d or 1h30m. Usage: /ban <player> <duration> <reason…>",
        ),
        (
            "/ban Bob 7x spam",
            GM,
            "<duration>: \"7x\" is not a duration; write it like 30m, 12h, 7d or 1h30m. Usage: /ban <player> <duration> <reason…>",
        ),
        (
            "/ban Bob d spam",
            GM,
            "<duration>: \"d\" is not a duration; write it like 30m, 12h, 7d or 1h30m. Usage: /ban <player> <duration> <reason…>",
        ),
        (
            "/ban Bob 0m spam",
            GM,
            "<duration>: \"0m\" is zero; give a positive duration. Usage: /ban <player> <duration> <reason…>",
        ),
        (
            "/ban Bob 99999999999999999999d spam",
            GM,
            "<duration>: \"99999999999999999999d\" is longer than the 10-year maximum. Usage: /ban <player> <duration> <reason…>",
        ),
        (
            "/ban Bob 5000w spam",
            GM,
            "<duration>: \"5000w\" is longer than the 10-year maximum. Usage: /ban <player> <duration> <reason…>",
        ),
        (
            "/ban Bob 3650d x",
            GM,
            "ban player=Player(Name(\"Bob\")) duration=Duration(315360000) reason=Text(\"x\")",
        ),
        // Numbers, ranges and choices.
        (
            "/tp Bob 10.5 -3",
            GM,
            "tp player=Player(Name(\"Bob\")) x=Float(10.5) y=Float(-3.0)",
        ),
        (
            "/tp Bob 1e5 0",
            GM,
            "<x>: 100000 is not between -10000 and 10000. Usage: /tp <player> <x> <y>",
        ),
        (
            "/tp Bob NaN 0",
            GM,
            "<x>: \"NaN\" is not a number between -10000 and 10000. Usage: /tp <player> <x> <y>",
        ),
        (
            "/tp Bob inf 0",
            GM,
            "<x>: \"inf\" is not a number between -10000 and 10000. Usage: /tp <player> <x> <y>",
        ),
        (
            "/heal Bob 500",
            GM,
            "heal player=Player(Name(\"Bob\")) amount=Int(500)",
        ),
        (
            "/heal Bob 0",
            GM,
            "<amount>: 0 is not between 1 and 1000. Usage: /heal <player> [amount]",
        ),
        (
            "/heal Bob 2.5",
            GM,
            "<amount>: \"2.5\" is not a whole number between 1 and 1000. Usage: /heal <player> [amount]",
        ),
        (
            "/heal Bob 99999999999999999999",
            GM,
            "<amount>: \"99999999999999999999\" is not a whole number between 1 and 1000. Usage: /heal <player> [amount]",
        ),
        (
            "/announce fleet Server restart in 5 minutes",
            GM,
            "announce scope=Choice(\"fleet\") message=Text(\"Server restart in 5 minutes\")",
        ),
        (
            "/announce FLEET hi",
            GM,
            "announce scope=Choice(\"fleet\") message=Text(\"hi\")",
        ),
        (
            "/announce world hi",
            GM,
            "<scope>: \"world\" is not one of here, fleet. Usage: /announce <here|fleet> <message…>",
        ),
        // Unknown commands suggest the nearest one the caller may use.
        ("/kik Bob", GM, "unknown command /kik. Did you mean /kick?"),
        (
            "/anounce here hi",
            GM,
            "unknown command /anounce. Did you mean /announce?",
        ),
        (
            "/frobnicate",
            GM,
            "unknown command /frobnicate. Type /help for the commands you can use",
        ),
        ("/", GM, "type a command, like /help"),
        ("   ", GM, "type a command, like /help"),
        // Role denial reads exactly like an unknown command.
        (
            "/kick Bob",
            PLAYER,
            "unknown command /kick. Type /help for the commands you can use",
        ),
        (
            "/kick Bob",
            VIEWER,
            "unknown command /kick. Type /help for the commands you can use",
        ),
        (
            "/setlevel Bob 5",
            GM,
            "unknown command /setlevel. Type /help for the commands you can use",
        ),
        (
            "/setlevel Bob 5",
            Some(Role::SeniorGameMaster),
            "setlevel player=Player(Name(\"Bob\")) level=Int(5)",
        ),
        (
            "/shutdown-shard",
            GM,
            "unknown command /shutdown-shard. Type /help for the commands you can use",
        ),
        ("/shutdown-shard", ADMIN, "shutdown-shard"),
        ("/whos", VIEWER, "unknown command /whos. Did you mean /who?"),
        (
            "/kik Bob",
            VIEWER,
            "unknown command /kik. Type /help for the commands you can use",
        ),
        ("/who", VIEWER, "who"),
        ("/who eu-1", VIEWER, "who server=Text(\"eu-1\")"),
    ];
    assert!(cases.len() >= 40);
    let mut failures = Vec::new();
    for (line, role, want) in cases {
        let got = match r.parse(line, *role) {
            Ok(p) => show(&p),
            Err(e) => e.to_string(),
        };
        if got != *want {
            failures.push(format!("{line:?} as {role:?}\n  want {want}\n  got  {got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn over_long_lines_are_refused() {
    let r = registry();
    let line = format!("/kick Bob {}", "x".repeat(3000));
    assert!(
        r.parse(&line, GM)
            .unwrap_err()
            .to_string()
            .contains("too long")
    );
}

#[test]
fn help_lists_only_what_the_caller_may_run() {
    let r = registry();
    let viewer = r.help(VIEWER, None).unwrap();
    assert_eq!(viewer, "/who [server] — Who is online");
    let gm = r.help(GM, None).unwrap();
    assert!(gm.contains("/kick <player> [reason…] — Disconnect a player"));
    assert!(!gm.contains("setlevel") && !gm.contains("shutdown"));
    assert_eq!(
        r.help(GM, Some("/k")).unwrap(),
        "/kick <player> [reason…] — Disconnect a player (also /k)"
    );
    assert_eq!(
        r.help(GM, Some("setlevel")).unwrap_err().to_string(),
        "unknown command /setlevel. Type /help for the commands you can use"
    );
    assert_eq!(r.help(PLAYER, None).unwrap(), "");
}

#[test]
fn completion_offers_commands_choices_durations_and_online_players() {
    let r = registry();
    let online = ["Bob", "Bobby", "Alice", "Sir Bob"];
    assert_eq!(r.complete("/ki", GM, &online), ["/kick"]);
    assert_eq!(r.complete("/", VIEWER, &online), ["/who"]);
    assert!(
        r.complete("/se", GM, &online).is_empty(),
        "setlevel is above a GM"
    );
    assert_eq!(
        r.complete("/kick Bo", GM, &online),
        ["/kick Bob", "/kick Bobby"]
    );
    assert_eq!(r.complete("/kick si", GM, &online), ["/kick \"Sir Bob\""]);
    assert_eq!(r.complete("/kick ", GM, &online).len(), 4);
    assert_eq!(r.complete("/announce f", GM, &online), ["/announce fleet"]);
    assert_eq!(
        r.complete("/ban Bob 1", GM, &online),
        ["/ban Bob 10m", "/ban Bob 1h", "/ban Bob 1d"]
    );
    assert!(r.complete("/kick Bob reas", GM, &online).is_empty());
    assert!(r.complete("/kick Bo", PLAYER, &online).is_empty());
    for odd in ["/ ", " ", "", "/\"", "/kick \"Bo", "/ kick"] {
        let _ = r.complete(odd, GM, &online); // never panics
    }
}

#[test]
fn registration_refuses_clashes_and_malformed_specs() {
    let mut r = registry();
    assert!(r.register(CommandSpec::new("k", "clash")).is_err());
    assert!(r.register(CommandSpec::new("Bad Name", "x")).is_err());
    let text_first = CommandSpec::new("x", "x")
        .arg(Arg::text("a"))
        .arg(Arg::word("b"));
    assert!(r.register(text_first).is_err());
    let required_after_optional = CommandSpec::new("y", "y")
        .arg(Arg::word("a").optional())
        .arg(Arg::word("b"));
    assert!(r.register(required_after_optional).is_err());
}

/// gm-server's `/announce` takes `here`, `fleet` or one game server's id.
#[test]
fn announce_scope_is_here_fleet_or_a_server_id() {
    let mut r = Registry::new();
    for s in gm_proto::command::builtins() {
        r.register(s).unwrap();
    }
    let scope = |line: &str| -> Result<String, String> {
        r.parse(line, GM)
            .map(|c| format!("{:?}", c.get("scope").unwrap()))
            .map_err(|e| e.to_string())
    };
    assert_eq!(scope("/announce FLEET hi"), Ok("Choice(\"fleet\")".into()));
    assert_eq!(scope("/announce here hi"), Ok("Choice(\"here\")".into()));
    assert_eq!(
        scope("/announce eu-1.b_2 hi"),
        Ok("Text(\"eu-1.b_2\")".into())
    );
    assert_eq!(
        scope("/announce eu/1 hi"),
        Err("<scope>: \"eu/1\" is not here, fleet or a game server id (1 to 64 of A-Z a-z 0-9 . _ -). \
             Usage: /announce <here|fleet|server-id> <message…>"
            .into())
    );
    assert_eq!(r.complete("/announce f", GM, &[]), ["/announce fleet"]);
    assert_eq!(r.complete("/announce ", GM, &[]).len(), 2);
}
