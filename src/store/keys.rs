//! API keys (`SK…`): credentials of one account, with a type (`main`, `standard`,
//! `restricted`) and, for restricted keys, a policy. Only a salted SHA-256 of the secret is
//! stored: secrets are 32 random alphanumerics (about 190 bits), so a slow password hash would
//! add per-request cost without adding safety.

use super::StoreResult;
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// Everything its account's auth token may do (created only by `switchboard keys create --main`).
    Main,
    /// Everything except Accounts, Keys and auth-token management.
    Standard,
    /// Only what its policy allows.
    Restricted,
}

impl KeyType {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Main => "main",
            KeyType::Standard => "standard",
            KeyType::Restricted => "restricted",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "main" => Some(KeyType::Main),
            "standard" => Some(KeyType::Standard),
            "restricted" => Some(KeyType::Restricted),
            _ => None,
        }
    }
}

/// A stored API key (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// `SK…`
    pub sid: String,
    /// The account it belongs to.
    pub account_sid: String,
    /// Display name.
    pub friendly_name: String,
    /// Type.
    pub key_type: KeyType,
    /// The policy JSON of a restricted key.
    pub policy: Option<String>,
    /// Random salt, hex.
    pub secret_salt: String,
    /// SHA-256 of salt and secret, hex.
    pub secret_hash: String,
    /// Creation time, ms.
    pub date_created: i64,
    /// Last change, ms.
    pub date_updated: i64,
}

/// SHA-256 of `salt` then `secret`, hex.
fn digest(salt: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(secret.as_bytes());
    hex::encode(h.finalize())
}

impl ApiKey {
    /// A new key of `account_sid` with a fresh secret; returns the key and the secret (shown
    /// to the caller once, never stored).
    pub fn generate(
        account_sid: &str,
        friendly_name: &str,
        key_type: KeyType,
        policy: Option<String>,
        now: i64,
    ) -> (ApiKey, String) {
        use rand::distr::{Alphanumeric, SampleString};
        let secret = Alphanumeric.sample_string(&mut rand::rng(), 32);
        let salt = switchboard_domain::sid::random_hex32();
        let key = ApiKey {
            sid: switchboard_domain::sid::random("SK"),
            account_sid: account_sid.to_string(),
            friendly_name: friendly_name.to_string(),
            key_type,
            policy,
            secret_hash: digest(&salt, &secret),
            secret_salt: salt,
            date_created: now,
            date_updated: now,
        };
        (key, secret)
    }

    /// True when `secret` is this key's (compared in constant time).
    pub fn verify(&self, secret: &str) -> bool {
        digest(&self.secret_salt, secret).as_bytes().ct_eq(self.secret_hash.as_bytes()).into()
    }
}

/// API key storage.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores a new key.
    async fn insert_key(&self, key: ApiKey) -> StoreResult<()>;
    /// One key, whatever its account.
    async fn key(&self, sid: &str) -> StoreResult<Option<ApiKey>>;
    /// The keys of an account, by SID.
    async fn keys_of(&self, account_sid: &str) -> StoreResult<Vec<ApiKey>>;
    /// Changes a key's name and (`Some`) policy; `None` when it is not a key of the account.
    async fn update_key(
        &self,
        account_sid: &str,
        sid: &str,
        friendly_name: Option<String>,
        policy: Option<String>,
        now: i64,
    ) -> StoreResult<Option<ApiKey>>;
    /// Deletes a key of the account; false when there is none.
    async fn delete_key(&self, account_sid: &str, sid: &str) -> StoreResult<bool>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_verifies_and_is_not_stored() {
        let (key, secret) = ApiKey::generate("AC1", "k", KeyType::Standard, None, 0);
        assert!(key.sid.starts_with("SK") && key.sid.len() == 34);
        assert_eq!(secret.len(), 32);
        assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(key.verify(&secret));
        assert!(!key.verify("wrong"));
        assert!(!key.secret_hash.contains(&secret) && !key.secret_salt.contains(&secret));
    }
}
