//! Secrets users hold: API tokens, one-time invitation links and passwords.
//!
//! The platform keeps only hashes: SHA-256 for high-entropy random tokens (fast lookups are safe
//! when the secret has 192 random bits), argon2id for passwords (slow on purpose).

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A freshly generated bearer token: shown once to its owner, stored only as `hash`. Its Debug
/// output shows the prefix only.
#[derive(Clone)]
pub struct IssuedToken {
    /// The whole token, e.g. `clt_3f9a1c2b_...`: returned once, never stored.
    pub plaintext: String,
    /// The visible start that lets a user tell tokens apart, e.g. `clt_3f9a1c2b`.
    pub prefix: String,
    /// SHA-256 of the whole token.
    pub hash: Vec<u8>,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// What a token opens: a workspace (`clt_`), the support API (`cls_`), an invitation (`cli_`)
/// or an email confirmation (`clc_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A workspace API token.
    Workspace,
    /// A platform support token.
    Support,
    /// A one-time invitation link.
    Invitation,
    /// A one-time email confirmation link.
    Confirmation,
}

impl TokenKind {
    fn tag(&self) -> &'static str {
        match self {
            TokenKind::Workspace => "clt",
            TokenKind::Support => "cls",
            TokenKind::Invitation => "cli",
            TokenKind::Confirmation => "clc",
        }
    }
}

impl IssuedToken {
    /// Generates a token of 8 visible prefix hex digits and 192 secret random bits.
    pub fn generate(kind: TokenKind) -> Self {
        let mut bytes = [0u8; 28];
        rand::rng().fill_bytes(&mut bytes);
        let visible = hex::encode(&bytes[..4]);
        let secret = hex::encode(&bytes[4..]);
        let prefix = format!("{}_{}", kind.tag(), visible);
        let plaintext = format!("{prefix}_{secret}");
        let hash = hash_token(&plaintext);
        Self {
            plaintext,
            prefix,
            hash,
        }
    }
}

/// SHA-256 of a presented token, to look it up.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Why a password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Too short to resist guessing.
    #[error("password must have at least 10 characters")]
    TooShort,
    /// Unreasonably long (argon2 input is bounded to keep hashing cheap for the server).
    #[error("password must have at most 200 characters")]
    TooLong,
}

/// Checks a new password against the policy and hashes it with argon2id (PHC string).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let chars = password.chars().count();
    if chars < 10 {
        return Err(PasswordError::TooShort);
    }
    if chars > 200 {
        return Err(PasswordError::TooLong);
    }
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any bounded input")
        .to_string())
}

/// Whether `password` matches `stored_hash`, doing the same work when there is none: an
/// unknown address then costs a login as long as a known one, so the answer's timing tells
/// nobody which addresses have accounts.
pub fn verify_password_or_dummy(password: &str, stored_hash: Option<&str>) -> bool {
    static DUMMY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        hash_password("costline dummy password").expect("a valid dummy password")
    });
    match stored_hash {
        Some(hash) => verify_password(password, hash),
        None => {
            verify_password(password, &DUMMY);
            false
        }
    }
}

/// Whether `password` matches a stored argon2 PHC hash.
pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A syntactically plausible email address, trimmed; lowercased for comparisons by the store.
pub fn normalize_email(input: &str) -> Option<String> {
    let email = input.trim();
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@');
    ok.then(|| email.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_hashed() {
        let a = IssuedToken::generate(TokenKind::Workspace);
        let b = IssuedToken::generate(TokenKind::Workspace);
        assert_ne!(a.plaintext, b.plaintext);
        assert!(a.plaintext.starts_with(&a.prefix));
        assert!(a.prefix.starts_with("clt_"));
        assert_eq!(hash_token(&a.plaintext), a.hash);
        assert_ne!(a.hash, b.hash);
        assert!(IssuedToken::generate(TokenKind::Support)
            .prefix
            .starts_with("cls_"));
    }

    #[test]
    fn passwords_verify_only_themselves() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn debug_never_prints_a_token() {
        let t = IssuedToken::generate(TokenKind::Confirmation);
        let shown = format!("{t:?}");
        assert!(
            shown.contains(&t.prefix) && t.prefix.starts_with("clc_"),
            "{shown}"
        );
        assert!(!shown.contains(&t.plaintext[t.prefix.len()..]), "{shown}");
        assert!(!shown.contains(&hex::encode(&t.hash)), "{shown}");
    }

    #[test]
    fn a_missing_hash_never_verifies_but_costs_the_same_work() {
        assert!(!verify_password_or_dummy("costline dummy password", None));
        let hash = hash_password("correct horse battery").unwrap();
        assert!(verify_password_or_dummy(
            "correct horse battery",
            Some(&hash)
        ));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert_eq!(hash_password("short"), Err(PasswordError::TooShort));
        assert_eq!(hash_password(&"x".repeat(201)), Err(PasswordError::TooLong));
    }

    #[test]
    fn emails_are_checked_loosely() {
        assert_eq!(
            normalize_email("  Ana@Example.com "),
            Some("Ana@Example.com".into())
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "a na@example.com",
            "a@b@c.com",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
    }
}
