//! Secrets at rest: the tokens of Jira and Confluence connections are sealed with AES-256-GCM
//! before they reach the store, and opened only to make a request.
//!
//! Each seal draws a fresh random 96-bit nonce and binds the ciphertext to where it belongs: the
//! associated data is the connection's id, the secret's kind and the key's version, so a sealed
//! value copied to another row, or into another kind's column, fails to open. The key version
//! is a fingerprint of the key (the first four bytes of its SHA-256), so a server holding the
//! current key and the previous ones opens what any of them sealed, and
//! `teamcontext rotate-encryption-key` can tell what still needs resealing.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use rand::Rng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Bytes of an AES-256 key.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// A sealed secret as stored: the version of the key that sealed it and nonce ‖ ciphertext.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_version: i64,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed {{ key_version: {}, {} bytes }}", self.key_version, self.bytes.len())
    }
}

/// Why a secret could not be opened. Says nothing about the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the secret was sealed with a key this server does not hold (version {0})")]
    UnknownKey(i64),
    #[error("the secret does not open with its key: it was altered or moved")]
    Corrupt,
}

/// One AES-256 key and its version.
#[derive(Clone)]
struct VersionedKey {
    version: i64,
    cipher: Aes256Gcm,
}

/// Seals with the current key; opens with the current key or any previous one.
#[derive(Clone)]
pub struct Sealer {
    current: VersionedKey,
    previous: Vec<VersionedKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key_version", &self.current.version)
            .field("previous", &self.previous.iter().map(|k| k.version).collect::<Vec<_>>())
            .finish()
    }
}

/// The version of a key: its fingerprint, safe to store and show.
pub fn key_version(key: &[u8; KEY_LEN]) -> i64 {
    let digest = Sha256::digest(key);
    i64::from(u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]))
}

/// A fresh random key.
pub fn generate_key() -> [u8; KEY_LEN] {
    rand::rng().random()
}

/// Parses a key given as base64 (standard or URL-safe, padded or not) of exactly 32 bytes.
pub fn parse_key(text: &str) -> Result<[u8; KEY_LEN], String> {
    let text = text.trim();
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let bytes = engines
        .iter()
        .find_map(|e| e.decode(text).ok())
        .ok_or("the encryption key must be base64 (e.g. `openssl rand -base64 32`)")?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        format!("the encryption key must be 32 bytes of base64; this one is {} bytes", b.len())
    })
}

/// A key as written to a key file or shown to an operator.
pub fn encode_key(key: &[u8; KEY_LEN]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key)
}

impl Sealer {
    /// Seals with `current`; also opens what `previous` keys sealed.
    pub fn new(current: &[u8; KEY_LEN], previous: &[[u8; KEY_LEN]]) -> Self {
        let versioned = |key: &[u8; KEY_LEN]| VersionedKey {
            version: key_version(key),
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key)),
        };
        Sealer { current: versioned(current), previous: previous.iter().map(versioned).collect() }
    }

    /// The version new seals carry.
    pub fn key_version(&self) -> i64 {
        self.current.version
    }

    /// Seals `secret` for the row `owner` as a secret of `kind`.
    pub fn seal(&self, owner: Uuid, kind: &str, secret: &str) -> Sealed {
        let nonce_bytes: [u8; NONCE_LEN] = rand::rng().random();
        let aad = associated_data(owner, kind, self.current.version);
        let ciphertext = self
            .current
            .cipher
            .encrypt(&Nonce::from(nonce_bytes), Payload { msg: secret.as_bytes(), aad: &aad })
            .expect("AES-GCM seals any input shorter than 64 GiB");
        let mut bytes = nonce_bytes.to_vec();
        bytes.extend_from_slice(&ciphertext);
        Sealed { key_version: self.current.version, bytes }
    }

    /// Opens a secret sealed for `owner` as `kind`.
    pub fn open(&self, owner: Uuid, kind: &str, sealed: &Sealed) -> Result<String, OpenError> {
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.version == sealed.key_version)
            .ok_or(OpenError::UnknownKey(sealed.key_version))?;
        if sealed.bytes.len() < NONCE_LEN {
            return Err(OpenError::Corrupt);
        }
        let (nonce, ciphertext) = sealed.bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError::Corrupt)?;
        let aad = associated_data(owner, kind, sealed.key_version);
        let plain = key
            .cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: &aad })
            .map_err(|_| OpenError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| OpenError::Corrupt)
    }

    /// Whether `sealed` was sealed with an older key than the current one.
    pub fn is_stale(&self, sealed: &Sealed) -> bool {
        sealed.key_version != self.current.version
    }
}

fn associated_data(owner: Uuid, kind: &str, key_version: i64) -> Vec<u8> {
    let mut aad = owner.as_bytes().to_vec();
    aad.push(0);
    aad.extend_from_slice(kind.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&key_version.to_be_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_where_it_was_sealed() {
        let sealer = Sealer::new(&[1; KEY_LEN], &[]);
        let (row, other) = (Uuid::now_v7(), Uuid::now_v7());
        let sealed = sealer.seal(row, "api_token", "s3cret-token");
        assert!(!sealed.bytes.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(sealer.open(row, "api_token", &sealed).unwrap(), "s3cret-token");
        assert_eq!(sealer.open(other, "api_token", &sealed), Err(OpenError::Corrupt));
        assert_eq!(sealer.open(row, "refresh_token", &sealed), Err(OpenError::Corrupt));
        let mut flipped = sealed.clone();
        *flipped.bytes.last_mut().unwrap() ^= 1;
        assert_eq!(sealer.open(row, "api_token", &flipped), Err(OpenError::Corrupt));
        // A fresh nonce every time: the same secret never seals to the same bytes.
        assert_ne!(sealer.seal(row, "api_token", "s3cret-token").bytes, sealed.bytes);
    }

    #[test]
    fn previous_keys_open_and_rotation_reseals() {
        let old = Sealer::new(&[1; KEY_LEN], &[]);
        let row = Uuid::now_v7();
        let sealed = old.seal(row, "pat", "p");
        let new = Sealer::new(&[2; KEY_LEN], &[[1; KEY_LEN]]);
        assert!(new.is_stale(&sealed));
        assert_eq!(new.open(row, "pat", &sealed).unwrap(), "p");
        let resealed = new.seal(row, "pat", &new.open(row, "pat", &sealed).unwrap());
        assert!(!new.is_stale(&resealed));
        let alone = Sealer::new(&[2; KEY_LEN], &[]);
        assert_eq!(alone.open(row, "pat", &sealed), Err(OpenError::UnknownKey(sealed.key_version)));
    }

    #[test]
    fn keys_parse_from_base64_of_32_bytes() {
        let key = generate_key();
        assert_eq!(parse_key(&encode_key(&key)).unwrap(), key);
        assert!(parse_key("c2hvcnQ=").unwrap_err().contains("32 bytes"));
        assert!(parse_key("not base64 !").is_err());
    }
}
