//! SQL of opt-outs (`opt_outs`), with their in-memory mirror.

use super::SqliteStore;
use crate::store::opt_outs::OptOutStore;
use crate::store::StoreResult;
use anyhow::anyhow;
use async_trait::async_trait;
use rusqlite::{params, Connection};
use std::collections::HashSet;
use std::sync::{Arc, RwLock};

/// Every opt-out as (account, scope, number).
pub(super) type Mirror = Arc<RwLock<HashSet<(String, String, String)>>>;

/// Reads every stored opt-out, to fill the mirror when the store opens.
pub(super) fn load(c: &Connection) -> anyhow::Result<HashSet<(String, String, String)>> {
    let mut st = c.prepare("SELECT account_sid, scope, number FROM opt_outs")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<HashSet<_>, _>>()?)
}

#[async_trait]
impl OptOutStore for SqliteStore {
    async fn set_opt_out(
        &self,
        account_sid: &str,
        scope: &str,
        number: &str,
        opted_out: bool,
        now_ms: i64,
    ) -> StoreResult<()> {
        let (account, scope, number) = (account_sid.to_string(), scope.to_string(), number.to_string());
        let entry = (account.clone(), scope.clone(), number.clone());
        self.write(move |c| {
            if opted_out {
                c.execute(
                    "INSERT INTO opt_outs (account_sid, scope, number, date_created) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT DO NOTHING",
                    params![account, scope, number, now_ms],
                )?;
            } else {
                c.execute(
                    "DELETE FROM opt_outs WHERE account_sid = ?1 AND scope = ?2 AND number = ?3",
                    params![account, scope, number],
                )?;
            }
            Ok(())
        })
        .await?;
        if let Ok(mut mirror) = self.opt_outs.write() {
            if opted_out {
                mirror.insert(entry);
            } else {
                mirror.remove(&entry);
            }
        }
        Ok(())
    }

    async fn opted_out(&self, account_sid: &str, scopes: Vec<String>, number: &str) -> StoreResult<bool> {
        let mirror = self.opt_outs.read().map_err(|_| anyhow!("opt-out mirror poisoned"))?;
        if mirror.is_empty() {
            return Ok(false);
        }
        Ok(scopes.into_iter().any(|scope| mirror.contains(&(account_sid.to_string(), scope, number.to_string()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn opt_outs_are_read_back_when_the_database_is_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        store.set_opt_out("AC1", "+14155550100", "+14155552671", true, 1).await.unwrap();
        store.set_opt_out("AC1", "+14155550100", "+14155552672", true, 1).await.unwrap();
        store.set_opt_out("AC1", "+14155550100", "+14155552672", false, 2).await.unwrap();
        drop(store);
        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        let scopes = vec!["+14155550100".to_string()];
        assert!(store.opted_out("AC1", scopes.clone(), "+14155552671").await.unwrap());
        assert!(!store.opted_out("AC1", scopes, "+14155552672").await.unwrap());
    }
}
