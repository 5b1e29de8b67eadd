//! SQL of content templates (`contents`).

use super::rows::oldest_first_page;
use super::SqliteStore;
use crate::store::content::{Content, ContentStore};
use crate::store::{Cursor, StoreResult};
use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension, Row};

const COLUMNS: &str = "sid, account_sid, friendly_name, language, variables, types, date_created, date_updated";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Content> {
    Ok(Content {
        sid: r.get(0)?,
        account_sid: r.get(1)?,
        friendly_name: r.get(2)?,
        language: r.get(3)?,
        variables: r.get(4)?,
        types: r.get(5)?,
        date_created: r.get(6)?,
        date_updated: r.get(7)?,
    })
}

#[async_trait]
impl ContentStore for SqliteStore {
    async fn insert_content(&self, content: Content) -> StoreResult<()> {
        self.write(move |c| {
            c.prepare_cached(&format!("INSERT INTO contents ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"))?
                .execute(params![
                    content.sid,
                    content.account_sid,
                    content.friendly_name,
                    content.language,
                    content.variables,
                    content.types,
                    content.date_created,
                    content.date_updated
                ])?;
            Ok(())
        })
        .await
    }

    async fn content(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Content>> {
        let (account, sid) = (account_sid.to_string(), sid.to_string());
        self.read(move |c| {
            Ok(c.prepare_cached(&format!("SELECT {COLUMNS} FROM contents WHERE sid = ?1 AND account_sid = ?2"))?
                .query_row(params![sid, account], from_row)
                .optional()?)
        })
        .await
    }

    async fn list_contents(&self, account_sid: &str, cursor: &Cursor, limit: usize) -> StoreResult<Vec<Content>> {
        let sql = format!("SELECT {COLUMNS} FROM contents WHERE account_sid = ?");
        let page = oldest_first_page(sql, vec![Value::Text(account_sid.to_string())], cursor, limit);
        self.read(move |c| page.fetch(c, from_row)).await
    }

    async fn delete_content(&self, account_sid: &str, sid: &str) -> StoreResult<bool> {
        let (account, sid) = (account_sid.to_string(), sid.to_string());
        self.write(move |c| {
            Ok(c.execute("DELETE FROM contents WHERE sid = ?1 AND account_sid = ?2", params![sid, account])? == 1)
        })
        .await
    }
}
