//! Account auth tokens, cached in front of the store. Every API request authenticates with one
//! and every status callback and inbound webhook is signed with one, while accounts rarely
//! change: one cache serves all three, so a token changed through it is seen by all of them.

use super::{Account, Store, StoreResult};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Account SID → auth token, read through to the store on a miss.
pub struct AccountTokens {
    store: Arc<dyn Store>,
    cache: RwLock<HashMap<String, String>>,
}

impl AccountTokens {
    /// An empty cache in front of `store`.
    pub fn new(store: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(AccountTokens { store, cache: RwLock::new(HashMap::new()) })
    }

    /// Remembers (or updates) an account's token.
    pub fn remember(&self, account: &Account) {
        if let Ok(mut map) = self.cache.write() {
            map.insert(account.sid.clone(), account.auth_token.clone());
        }
    }

    /// The account's token; `None` when the account does not exist.
    pub async fn token(&self, account_sid: &str) -> StoreResult<Option<String>> {
        if let Some(token) = self.cache.read().ok().and_then(|m| m.get(account_sid).cloned()) {
            return Ok(Some(token));
        }
        let Some(account) = self.store.account(account_sid).await? else { return Ok(None) };
        self.remember(&account);
        Ok(Some(account.auth_token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tokens_are_read_through_to_the_store_once_and_unknown_accounts_are_none() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(crate::store::sqlite::SqliteStore::open(dir.path().join("t.db").to_str().unwrap()).await.unwrap());
        let sid = format!("AC{}", "1".repeat(32));
        store.upsert_account(Account { sid: sid.clone(), auth_token: "one".into() }).await.unwrap();
        let tokens = AccountTokens::new(store.clone());
        assert_eq!(tokens.token(&sid).await.unwrap().as_deref(), Some("one"));
        // Cached: a change behind the cache's back is not seen until it is remembered.
        store.upsert_account(Account { sid: sid.clone(), auth_token: "two".into() }).await.unwrap();
        assert_eq!(tokens.token(&sid).await.unwrap().as_deref(), Some("one"));
        tokens.remember(&Account { sid: sid.clone(), auth_token: "two".into() });
        assert_eq!(tokens.token(&sid).await.unwrap().as_deref(), Some("two"));
        assert_eq!(tokens.token(&format!("AC{}", "2".repeat(32))).await.unwrap(), None);
    }
}
