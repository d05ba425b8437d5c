//! Password hashing with argon2id at the OWASP parameters (19 MiB, 2 passes, 1 lane), which are
//! argon2's defaults. Hashing costs tens of milliseconds of CPU, so it runs on the blocking pool
//! and never stalls the async workers.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::error::{DomainError, DomainResult};

pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 128;

/// A valid hash of a random password, verified against when an email is unknown so that login
/// takes the same time whether or not the account exists.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$pOaH5lvQ0dTPNS5S2sY4zCNE+Eb0sqJgmeGrOAf4v1k";

pub fn validate_password(field: &str, password: &str) -> DomainResult<()> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_LEN {
        return Err(DomainError::validation(
            field,
            format!("password must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if chars > MAX_PASSWORD_LEN {
        return Err(DomainError::validation(
            field,
            format!("password must be at most {MAX_PASSWORD_LEN} characters"),
        ));
    }
    Ok(())
}

pub async fn hash_password(password: String) -> DomainResult<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| DomainError::internal(format!("argon2 hash: {e}")))
    })
    .await
    .map_err(|e| DomainError::internal(format!("hash task: {e}")))?
}

/// Whether `password` matches the PHC string `hash`. A malformed hash counts as no match.
pub async fn verify_password(password: String, hash: String) -> DomainResult<bool> {
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
    })
    .await
    .map_err(|e| DomainError::internal(format!("verify task: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse".into(), hash.clone()).await.unwrap());
        assert!(!verify_password("wrong horse".into(), hash).await.unwrap());
    }

    #[tokio::test]
    async fn dummy_hash_parses_and_rejects() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_password("anything".into(), DUMMY_HASH.into()).await.unwrap());
    }

    #[test]
    fn length_rules() {
        assert!(validate_password("password", "short").is_err());
        assert!(validate_password("password", "12345678").is_ok());
        assert!(validate_password("password", &"x".repeat(128)).is_ok());
        assert!(validate_password("password", &"x".repeat(129)).is_err());
    }
}
