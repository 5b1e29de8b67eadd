//! SQL of MMS media (`media` table, bytes as a BLOB).

use super::rows::{oldest_first_page, split_sid};
use super::SqliteStore;
use crate::store::media::{Media, MediaStore};
use crate::store::{Cursor, StoreResult};
use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};

const COLUMNS: &str = "sid, message_sid, account_sid, content_type, size, date_created, date_updated";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Media> {
    Ok(Media {
        sid: r.get(0)?,
        message_sid: r.get(1)?,
        account_sid: r.get(2)?,
        content_type: r.get(3)?,
        size: usize::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
        date_created: r.get(5)?,
        date_updated: r.get(6)?,
    })
}

fn one(c: &Connection, account: &str, key: &str, sid: &str) -> anyhow::Result<Option<Media>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM media WHERE sid = ?1 AND message_key = ?2 AND account_sid = ?3"
    ))?
    .query_row(params![sid, key, account], from_row)
    .optional()?)
}

#[async_trait]
impl MediaStore for SqliteStore {
    async fn insert_media(&self, media: Vec<(Media, Vec<u8>)>) -> StoreResult<()> {
        self.write(move |c| {
            let mut st = c.prepare_cached(
                "INSERT INTO media (sid, message_key, message_sid, account_sid, content_type, size, content,
                 date_created, date_updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for (m, bytes) in &media {
                let (_, key) = split_sid(&m.message_sid)
                    .ok_or_else(|| anyhow::anyhow!("invalid message SID {}", m.message_sid))?;
                st.execute(params![
                    m.sid,
                    key,
                    m.message_sid,
                    m.account_sid,
                    m.content_type,
                    i64::try_from(bytes.len())?,
                    bytes,
                    m.date_created,
                    m.date_updated
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn list_media(
        &self,
        account_sid: &str,
        message_sid: &str,
        created: (Option<i64>, Option<i64>),
        cursor: &Cursor,
        limit: usize,
    ) -> StoreResult<Vec<Media>> {
        let Some((_, key)) = split_sid(message_sid) else { return Ok(Vec::new()) };
        let sql = format!(
            "SELECT {COLUMNS} FROM media WHERE message_key = ? AND account_sid = ? AND date_created >= ? AND date_created < ?"
        );
        let args = vec![
            Value::Text(key),
            Value::Text(account_sid.to_string()),
            Value::Integer(created.0.unwrap_or(i64::MIN)),
            Value::Integer(created.1.unwrap_or(i64::MAX)),
        ];
        // Attachment order, oldest first.
        let page = oldest_first_page(sql, args, cursor, limit);
        self.read(move |c| page.fetch(c, from_row)).await
    }

    async fn media(&self, account_sid: &str, message_sid: &str, sid: &str) -> StoreResult<Option<Media>> {
        let Some((_, key)) = split_sid(message_sid) else { return Ok(None) };
        let (account, sid) = (account_sid.to_string(), sid.to_string());
        self.read(move |c| one(c, &account, &key, &sid)).await
    }

    async fn media_content(
        &self,
        account_sid: &str,
        message_sid: &str,
        sid: &str,
    ) -> StoreResult<Option<(Media, Vec<u8>)>> {
        let Some((_, key)) = split_sid(message_sid) else { return Ok(None) };
        let (account, sid) = (account_sid.to_string(), sid.to_string());
        self.read(move |c| {
            let Some(m) = one(c, &account, &key, &sid)? else { return Ok(None) };
            let bytes: Vec<u8> =
                c.prepare_cached("SELECT content FROM media WHERE sid = ?1")?.query_row([&sid], |r| r.get(0))?;
            Ok(Some((m, bytes)))
        })
        .await
    }

    async fn delete_media(&self, account_sid: &str, message_sid: &str, sid: &str) -> StoreResult<bool> {
        let Some((_, key)) = split_sid(message_sid) else { return Ok(false) };
        let (account, sid) = (account_sid.to_string(), sid.to_string());
        self.write(move |c| {
            Ok(c.prepare_cached("DELETE FROM media WHERE sid = ?1 AND message_key = ?2 AND account_sid = ?3")?
                .execute(params![sid, key, account])?
                == 1)
        })
        .await
    }
}
