//! Accounts and API keys, cached in front of the store. Every API request authenticates with
//! one and every status callback and inbound webhook is signed with an account's primary
//! token, while accounts and keys rarely change: one cache serves all of them, and every
//! change made through the API goes through it ([`AccountTokens::forget_account`],
//! [`AccountTokens::forget_key`]), so a deleted key or a closed account is refused at once.
//! Changes made elsewhere (another server on the same database, the `keys` command) are seen
//! within one [`AccountTokens::watch`] period: the store's credentials sequence moved, so
//! everything cached is dropped. With several nodes on one database (an engine with node
//! leases), a peer's `NOTIFY` drops the cache within milliseconds, and [`AccountTokens::refresh`]
//! (called once per authentication) compares the sequence with the database's, so a key
//! deleted on one node is refused by the next request to any node.

use super::{Account, AccountRecord, ApiKey, Store, StoreResult};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// SID → record, read through to the store on a miss.
struct ReadThrough<T>(RwLock<HashMap<String, Arc<T>>>);

impl<T> Default for ReadThrough<T> {
    fn default() -> Self {
        ReadThrough(RwLock::default())
    }
}

impl<T> ReadThrough<T> {
    /// The cached record, else what `load` reads (cached when it exists).
    async fn get(
        &self,
        sid: &str,
        load: impl std::future::Future<Output = StoreResult<Option<T>>>,
    ) -> StoreResult<Option<Arc<T>>> {
        if let Some(hit) = self.0.read().ok().and_then(|m| m.get(sid).cloned()) {
            return Ok(Some(hit));
        }
        let Some(loaded) = load.await? else { return Ok(None) };
        let loaded = Arc::new(loaded);
        if let Ok(mut map) = self.0.write() {
            map.insert(sid.to_string(), loaded.clone());
        }
        Ok(Some(loaded))
    }

    fn forget(&self, sid: &str) {
        if let Ok(mut map) = self.0.write() {
            map.remove(sid);
        }
    }

    fn clear(&self) {
        if let Ok(mut map) = self.0.write() {
            map.clear();
        }
    }
}

/// Account SID → account, and key SID → key, read through to the store on a miss.
pub struct AccountTokens {
    store: Arc<dyn Store>,
    accounts: ReadThrough<AccountRecord>,
    keys: ReadThrough<ApiKey>,
    /// Other nodes may change credentials: check the sequence on every authentication.
    shared: bool,
    /// The credentials sequence the cache matches (`shared` only).
    seen_seq: std::sync::atomic::AtomicI64,
}

impl AccountTokens {
    /// An empty cache in front of `store`.
    pub fn new(store: Arc<dyn Store>) -> Arc<Self> {
        let shared = store.lease_time().is_some();
        Arc::new(AccountTokens {
            store,
            accounts: ReadThrough::default(),
            keys: ReadThrough::default(),
            shared,
            seen_seq: std::sync::atomic::AtomicI64::new(i64::MIN),
        })
    }

    /// Drops what is cached about an account (after a change through the store): the next
    /// read sees the stored one.
    pub fn remember(&self, account: &Account) {
        self.forget_account(&account.sid);
    }

    /// Drops what is cached about an account.
    pub fn forget_account(&self, sid: &str) {
        self.accounts.forget(sid);
    }

    /// Drops what is cached about a key.
    pub fn forget_key(&self, sid: &str) {
        self.keys.forget(sid);
    }

    /// Drops everything cached.
    pub fn forget_all(&self) {
        self.accounts.clear();
        self.keys.clear();
    }

    /// With several nodes on the database: drops the cache when the credentials sequence moved
    /// since it was filled (one small read); nothing on a single-node engine.
    pub async fn refresh(&self) -> StoreResult<()> {
        use std::sync::atomic::Ordering;
        if !self.shared {
            return Ok(());
        }
        let seq = self.store.credentials_seq().await?;
        if self.seen_seq.load(Ordering::Acquire) < seq {
            // Dropped before the new sequence is recorded: whoever sees it finds the cache empty.
            self.forget_all();
            self.seen_seq.fetch_max(seq, Ordering::AcqRel);
        }
        Ok(())
    }

    /// Every `every`, compares the store's credentials sequence with the last one seen and
    /// drops the cache when it moved. Runs until the process ends.
    pub fn watch(self: &Arc<Self>, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut last = None;
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match this.store.credentials_seq().await {
                    Ok(seq) if last.is_some_and(|l| l != seq) => {
                        this.forget_all();
                        last = Some(seq);
                    }
                    Ok(seq) => last = Some(seq),
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "reading the credentials sequence"),
                }
            }
        })
    }

    /// The account; `None` when it does not exist.
    pub async fn record(&self, sid: &str) -> StoreResult<Option<Arc<AccountRecord>>> {
        self.accounts.get(sid, self.store.account_record(sid)).await
    }

    /// The account's primary token (the one that signs its webhooks); `None` when the account
    /// does not exist.
    pub async fn token(&self, account_sid: &str) -> StoreResult<Option<String>> {
        Ok(self.record(account_sid).await?.map(|r| r.auth_token.clone()))
    }

    /// The key; `None` when it does not exist (or was deleted).
    pub async fn key(&self, sid: &str) -> StoreResult<Option<Arc<ApiKey>>> {
        self.keys.get(sid, self.store.key(sid)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AccountEdit, KeyType};

    #[tokio::test]
    async fn accounts_and_keys_are_read_through_once_and_forgetting_shows_the_stored_change() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(crate::store::sqlite::SqliteStore::open(dir.path().join("t.db").to_str().unwrap()).await.unwrap());
        let sid = format!("AC{}", "1".repeat(32));
        store.upsert_account(Account { sid: sid.clone(), auth_token: "one".into() }).await.unwrap();
        let tokens = AccountTokens::new(store.clone());
        assert_eq!(tokens.token(&sid).await.unwrap().as_deref(), Some("one"));
        // Cached: a change behind the cache's back is not seen until it is forgotten.
        store.upsert_account(Account { sid: sid.clone(), auth_token: "two".into() }).await.unwrap();
        assert_eq!(tokens.token(&sid).await.unwrap().as_deref(), Some("one"));
        tokens.remember(&Account { sid: sid.clone(), auth_token: "two".into() });
        assert_eq!(tokens.token(&sid).await.unwrap().as_deref(), Some("two"));
        store
            .update_account(&sid, AccountEdit { friendly_name: Some("n".into()), ..Default::default() }, 1)
            .await
            .unwrap();
        tokens.forget_account(&sid);
        assert_eq!(tokens.record(&sid).await.unwrap().unwrap().friendly_name, "n");
        assert_eq!(tokens.token(&format!("AC{}", "2".repeat(32))).await.unwrap(), None);

        let (key, _) = ApiKey::generate(&sid, "k", KeyType::Standard, None, 1);
        store.insert_key(key.clone()).await.unwrap();
        assert_eq!(tokens.key(&key.sid).await.unwrap().as_deref(), Some(&key));
        store.delete_key(&sid, &key.sid).await.unwrap();
        assert!(tokens.key(&key.sid).await.unwrap().is_some(), "still cached");
        tokens.forget_key(&key.sid);
        assert_eq!(tokens.key(&key.sid).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_change_made_behind_the_cache_is_seen_once_the_watcher_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(crate::store::sqlite::SqliteStore::open(dir.path().join("t.db").to_str().unwrap()).await.unwrap());
        let sid = format!("AC{}", "1".repeat(32));
        store.upsert_account(Account { sid: sid.clone(), auth_token: "one".into() }).await.unwrap();
        let tokens = AccountTokens::new(store.clone());
        let watcher = tokens.watch(std::time::Duration::from_millis(20));
        assert_eq!(tokens.token(&sid).await.unwrap().as_deref(), Some("one"));
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        // Another server (here: the store directly) changes the token.
        store.upsert_account(Account { sid: sid.clone(), auth_token: "two".into() }).await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while tokens.token(&sid).await.unwrap().as_deref() != Some("two") {
            assert!(std::time::Instant::now() < deadline, "the watcher never dropped the cache");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        watcher.abort();
    }
}
