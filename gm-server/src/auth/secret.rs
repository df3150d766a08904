//! Secrets: argon2id password hashes, random tokens stored as SHA-256, one-time passwords and
//! TOTP second factors.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;

/// Hashes a password with argon2id (the crate's defaults: 19 MiB, 2 passes). Slow on purpose:
/// call it off the async runtime (`spawn_blocking`).
pub fn hash_password(password: &str) -> String {
    let mut salt_bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters cannot fail")
        .to_string()
}

/// Checks a password against a stored hash.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a password nobody has, to spend the same time on unknown account names.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("no account has this password"))
}

/// Why a new password is refused.
pub fn check_password_policy(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(format!(
            "a password needs at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    if password.len() > 1024 {
        return Err("a password may have at most 1024 bytes".into());
    }
    Ok(())
}

/// A random password for a new account, shown once and changed at first login.
pub fn one_time_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// A random bearer secret with a recognizable prefix (`gms_` sessions, `gmt_` API tokens,
/// `gmc_` CSRF tokens).
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// The stored form of a random token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new TOTP secret, base32 (RFC 4648, no padding), 160 bits as RFC 4226 recommends.
pub fn new_totp_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    totp_rs::Secret::Raw(bytes.to_vec())
        .to_encoded()
        .to_string()
}

fn totp(secret_b32: &str) -> Option<totp_rs::TOTP> {
    let raw = totp_rs::Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .ok()?;
    Some(totp_rs::TOTP::new_unchecked(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        raw,
    ))
}

/// Checks a 6-digit RFC 6238 code (30 s steps, one step of clock skew either way) at `unix_s`.
pub fn check_totp(secret_b32: &str, code: &str, unix_s: u64) -> bool {
    let code = code.trim();
    code.len() == 6
        && code.bytes().all(|b| b.is_ascii_digit())
        && totp(secret_b32).is_some_and(|t| t.check(code, unix_s))
}

/// The code for `unix_s` (for tests and tools).
pub fn totp_code(secret_b32: &str, unix_s: u64) -> Option<String> {
    totp(secret_b32).map(|t| t.generate(unix_s))
}

/// The `otpauth://` URL authenticator apps scan.
pub fn totp_url(secret_b32: &str, account: &str) -> String {
    format!(
        "otpauth://totp/GM%20Platform:{account}?secret={secret_b32}&issuer=GM%20Platform&digits=6&period=30"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let h = hash_password("correct horse battery");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterx", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn totp_matches_rfc6238_test_vector() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", T = 59 s → 94287082 (8
        // digits); the 6-digit code is its last six digits.
        let secret = totp_rs::Secret::Raw(b"12345678901234567890".to_vec())
            .to_encoded()
            .to_string();
        assert_eq!(totp_code(&secret, 59).unwrap(), "287082");
        assert!(check_totp(&secret, "287082", 59));
        assert!(check_totp(&secret, "287082", 59 + 30), "one step of skew");
        assert!(!check_totp(&secret, "287082", 59 + 90));
        assert!(!check_totp(&secret, "28708", 59));
    }

    #[test]
    fn policy_and_generators() {
        assert!(check_password_policy("short").is_err());
        assert!(check_password_policy(&one_time_password()).is_ok());
        let t = random_token("gmt_");
        assert!(t.starts_with("gmt_") && t.len() == 68);
        assert_ne!(token_hash(&t), t);
    }
}
