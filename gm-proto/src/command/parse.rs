use serde::{Deserialize, Serialize};

use super::spec::ArgValue;

/// Longest command line accepted.
pub const MAX_LINE_LEN: usize = 2_000;

/// One word of a command line, unquoted and unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The word.
    pub text: String,
    /// Byte offset of its first character in the line.
    pub start: usize,
}

/// Splits a line into words. Double or single quotes group words (`"spam bot"`); a backslash
/// takes the next character literally (`\"`, `\\`, `\ `).
pub fn tokenize(line: &str) -> Result<Vec<Token>, ParseError> {
    let mut tokens = Vec::new();
    let mut current: Option<Token> = None;
    let mut quote: Option<char> = None;
    let mut chars = line.char_indices();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                let (_, next) = chars.next().ok_or(ParseError::DanglingEscape)?;
                current
                    .get_or_insert(Token {
                        text: String::new(),
                        start: i,
                    })
                    .text
                    .push(next);
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current
                .as_mut()
                .expect("open quote has a token")
                .text
                .push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                current.get_or_insert(Token {
                    text: String::new(),
                    start: i,
                });
            }
            (None, c) if c.is_whitespace() => {
                if let Some(t) = current.take() {
                    tokens.push(t);
                }
            }
            (None, c) => current
                .get_or_insert(Token {
                    text: String::new(),
                    start: i,
                })
                .text
                .push(c),
        }
    }
    if quote.is_some() {
        return Err(ParseError::UnterminatedQuote);
    }
    tokens.extend(current);
    Ok(tokens)
}

/// A command line that parsed against its spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParsedCommand {
    /// Canonical name (aliases resolved).
    pub name: String,
    /// Arguments given, by name, in order.
    pub args: Vec<(String, ArgValue)>,
}

impl ParsedCommand {
    /// The value of an argument, if given.
    pub fn get(&self, name: &str) -> Option<&ArgValue> {
        self.args.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// Why a line did not parse. Messages are meant for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but whitespace.
    #[error("type a command, like /help")]
    Empty,
    /// Longer than [`MAX_LINE_LEN`].
    #[error("that line is too long ({0} bytes; the limit is {MAX_LINE_LEN})")]
    TooLong(usize),
    /// A quote was opened and not closed.
    #[error("a quote is not closed")]
    UnterminatedQuote,
    /// The line ends with a backslash.
    #[error("the line ends with a lone backslash")]
    DanglingEscape,
    /// No such command, or the caller may not use it (they get the same answer, so the
    /// existence of staff commands does not leak).
    #[error("unknown command /{name}{}", match suggestion {
        Some(s) => format!(". Did you mean /{s}?"),
        None => ". Type /help for the commands you can use".to_string(),
    })]
    Unknown {
        /// What was typed.
        name: String,
        /// The nearest command the caller may use.
        suggestion: Option<String>,
    },
    /// A required argument is missing.
    #[error("missing <{arg}>. Usage: {usage}")]
    MissingArgument {
        /// Its name.
        arg: String,
        /// The usage line.
        usage: String,
    },
    /// An argument has the wrong form or is out of range.
    #[error("<{arg}>: {reason}. Usage: {usage}")]
    BadArgument {
        /// Its name.
        arg: String,
        /// What is wrong.
        reason: String,
        /// The usage line.
        usage: String,
    },
    /// More words than the command takes.
    #[error("too many arguments. Usage: {usage}")]
    TooManyArguments {
        /// The usage line.
        usage: String,
    },
}
