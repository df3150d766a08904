//! Game-server keys: random secrets shown once at creation and stored only as SHA-256 hashes.
//!
//! A key carries 256 bits of randomness, so a fast hash is enough (there is nothing to brute
//! force), and the hash doubles as the lookup index.
//!
//! A key may be bound to the game-server ids that can use it ([`ServerIds`]), so that a key
//! that leaks from one game server cannot connect as, or take over the session of, another.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix that makes a key recognizable in configs and secret scanners.
pub const KEY_PREFIX: &str = "gmk_";

/// A freshly generated key.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The secret, to print once and give to the game server.
    pub secret: String,
    /// What the store keeps.
    pub hash: String,
    /// The first characters of the secret, stored to let operators tell keys apart.
    pub hint: String,
}

/// Generates a new game-server key.
pub fn generate() -> NewKey {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{KEY_PREFIX}{}", hex::encode(bytes));
    NewKey {
        hash: hash(&secret),
        hint: secret[..KEY_PREFIX.len() + 6].to_string(),
        secret,
    }
}

/// The stored form of a key.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The game-server ids a key is bound to: exact ids, or prefixes ending in `*` (`eu-*`
/// allows `eu-1` and `eu-west-7`). Written as a comma-separated list, as in
/// `gm-server keys create --name eu --servers 'eu-*,test-eu-1'`.
///
/// ```
/// use gm_server::keys::ServerIds;
///
/// let ids = ServerIds::parse("eu-*, na-1").unwrap();
/// assert!(ids.allows("eu-7") && ids.allows("na-1"));
/// assert!(!ids.allows("na-10") && !ids.allows("eu"));
/// assert_eq!(ids.to_string(), "eu-*,na-1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerIds(Vec<String>);

/// Why a list of server ids was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerIdsError {
    /// The list has no ids at all.
    #[error("name at least one game-server id (or a prefix ending in *)")]
    Empty,
    /// One entry is not a usable id or prefix.
    #[error(
        "{entry:?} is not a game-server id: use 1 to {max} characters without spaces or \
         commas, and * only at the end, as a prefix",
        max = gm_proto::MAX_IDENT_LEN
    )]
    Invalid {
        /// The entry as written.
        entry: String,
    },
}

impl ServerIds {
    /// Parses a comma-separated list; spaces around entries are ignored, duplicates dropped.
    pub fn parse(list: &str) -> Result<ServerIds, ServerIdsError> {
        let mut ids: Vec<String> = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let stem = entry.strip_suffix('*').unwrap_or(entry);
            let valid = entry.chars().count() <= gm_proto::MAX_IDENT_LEN
                && !stem.contains('*')
                && !entry.chars().any(|c| c.is_whitespace() || c.is_control());
            if !valid {
                return Err(ServerIdsError::Invalid {
                    entry: entry.to_string(),
                });
            }
            if !ids.iter().any(|id| id == entry) {
                ids.push(entry.to_string());
            }
        }
        if ids.is_empty() {
            return Err(ServerIdsError::Empty);
        }
        Ok(ServerIds(ids))
    }

    /// Whether a game server with `server_id` may use the key.
    pub fn allows(&self, server_id: &str) -> bool {
        self.0.iter().any(|id| match id.strip_suffix('*') {
            Some(prefix) => server_id.starts_with(prefix),
            None => id == server_id,
        })
    }
}

impl std::fmt::Display for ServerIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_ids_parse_and_match() {
        let cases: &[(&str, Result<&str, ServerIdsError>)] = &[
            ("eu-1", Ok("eu-1")),
            (" eu-1 , eu-2 ", Ok("eu-1,eu-2")),
            ("eu-1,eu-1", Ok("eu-1")),
            ("eu-*", Ok("eu-*")),
            ("*", Ok("*")),
            ("ü-1,,", Ok("ü-1")),
            ("", Err(ServerIdsError::Empty)),
            (" , ", Err(ServerIdsError::Empty)),
            (
                "e*u",
                Err(ServerIdsError::Invalid {
                    entry: "e*u".into(),
                }),
            ),
            (
                "eu**",
                Err(ServerIdsError::Invalid {
                    entry: "eu**".into(),
                }),
            ),
            (
                "eu 1",
                Err(ServerIdsError::Invalid {
                    entry: "eu 1".into(),
                }),
            ),
            (
                "eu\u{7}",
                Err(ServerIdsError::Invalid {
                    entry: "eu\u{7}".into(),
                }),
            ),
        ];
        for (list, want) in cases {
            let got = ServerIds::parse(list).map(|ids| ids.to_string());
            assert_eq!(got, want.clone().map(String::from), "{list:?}");
        }
        let long = "x".repeat(gm_proto::MAX_IDENT_LEN + 1);
        assert!(ServerIds::parse(&long).is_err());
        assert!(ServerIds::parse(&long[1..]).is_ok());

        let ids = ServerIds::parse("eu-*,na-1").unwrap();
        for (id, allowed) in [
            ("eu-1", true),
            ("eu-", true),
            ("eu-west-7", true),
            ("na-1", true),
            ("eu", false),
            ("na-10", false),
            ("na-", false),
            ("EU-1", false),
            ("", false),
        ] {
            assert_eq!(ids.allows(id), allowed, "{id:?}");
        }
        assert!(ServerIds::parse("*").unwrap().allows("anything"));
    }

    #[test]
    fn keys_are_unique_and_hash_stably() {
        let a = generate();
        let b = generate();
        assert_ne!(a.secret, b.secret);
        assert_eq!(hash(&a.secret), a.hash);
        assert_ne!(a.hash, b.hash);
        assert!(a.secret.starts_with(KEY_PREFIX) && a.secret.len() == 4 + 64);
        assert!(a.secret.starts_with(&a.hint));
    }
}
