//! Generation and hashing of the secrets we hand out: API keys (`tc_` + 40 base62 characters)
//! and opaque refresh tokens. Only SHA-256 hashes of them are stored; a leaked database does
//! not leak usable credentials. These secrets have 238+ bits of entropy, so a fast hash is
//! appropriate (a slow KDF is for low-entropy passwords).

use base64::Engine;
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

pub const API_KEY_PREFIX: &str = "tc_";
const API_KEY_BODY_LEN: usize = 40;
/// How much of a key is shown in lists: `tc_` plus this many characters.
const API_KEY_SHOWN_LEN: usize = 8;

pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A fresh API key and the part of it that may be shown later.
pub fn new_api_key() -> (String, String) {
    let body: String =
        rand::rng().sample_iter(&Alphanumeric).take(API_KEY_BODY_LEN).map(char::from).collect();
    let key = format!("{API_KEY_PREFIX}{body}");
    let prefix = key[..API_KEY_PREFIX.len() + API_KEY_SHOWN_LEN].to_string();
    (key, prefix)
}

/// Whether a bearer credential is shaped like one of our API keys (rather than a JWT).
pub fn looks_like_api_key(credential: &str) -> bool {
    credential.starts_with(API_KEY_PREFIX)
}

/// A 256-bit random opaque token, URL-safe.
pub fn new_opaque_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_have_the_documented_shape() {
        let (key, prefix) = new_api_key();
        assert_eq!(key.len(), 43);
        assert!(key.starts_with("tc_"));
        assert!(key[3..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(prefix, key[..11]);
        assert_ne!(new_api_key().0, key);
        assert!(looks_like_api_key(&key));
    }

    #[test]
    fn hashes_are_stable_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
