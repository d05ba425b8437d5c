//! Access tokens: HS256 JWTs with `sub`, `iat`, `exp` and `jti`. Expiry is checked against the
//! injected [`Clock`](crate::Clock) rather than inside the JWT library, so tests can move time.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{DomainError, DomainResult, ErrorCode};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(<secret>)")
    }
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims = ["sub", "exp", "iat", "jti"].map(String::from).into();
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn issue(&self, user_id: Uuid, now: DateTime<Utc>, ttl_secs: i64) -> DomainResult<String> {
        let claims = Claims {
            sub: user_id,
            iat: now.timestamp(),
            exp: now.timestamp() + ttl_secs,
            jti: Uuid::now_v7(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| DomainError::internal(format!("jwt encode: {e}")))
    }

    /// Verifies signature and shape, then expiry at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> DomainResult<Claims> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| {
                DomainError::new(ErrorCode::InvalidCredentials, "the access token is not valid")
            })?;
        if data.claims.exp <= now.timestamp() {
            return Err(DomainError::new(ErrorCode::TokenExpired, "the access token has expired")
                .with_details(serde_json::json!({ "expired_at":
                    DateTime::from_timestamp(data.claims.exp, 0) })));
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_expiry_and_tampering() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let now = Utc::now();
        let user = Uuid::now_v7();
        let token = keys.issue(user, now, 900).unwrap();
        assert_eq!(keys.verify(&token, now).unwrap().sub, user);

        let later = now + chrono::Duration::seconds(901);
        assert_eq!(keys.verify(&token, later).unwrap_err().code, ErrorCode::TokenExpired);

        let other = JwtKeys::new(b"another secret another secret !!");
        assert_eq!(other.verify(&token, now).unwrap_err().code, ErrorCode::InvalidCredentials);

        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(keys.verify(&tampered, now).unwrap_err().code, ErrorCode::InvalidCredentials);
    }
}
