//! Game-server keys: random secrets shown once at creation and stored only as SHA-256 hashes.
//!
//! A key carries 256 bits of randomness, so a fast hash is enough (there is nothing to brute
//! force), and the hash doubles as the lookup index.

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

#[cfg(test)]
mod tests {
    use super::*;

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
