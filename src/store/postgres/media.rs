//! SQL of MMS media (`media` table, bytes as BYTEA).

use super::engine::{execute, query_opt, Conn, PgStore};
use super::rows::{split_sid, Page};
use crate::store::media::{Media, MediaStore};
use crate::store::{Cursor, StoreResult};
use async_trait::async_trait;
use tokio_postgres::Row;

const COLUMNS: &str = "sid, message_sid, account_sid, content_type, size, date_created, date_updated";

fn from_row(r: &Row) -> anyhow::Result<Media> {
    Ok(Media {
        sid: r.try_get(0)?,
        message_sid: r.try_get(1)?,
        account_sid: r.try_get(2)?,
        content_type: r.try_get(3)?,
        size: usize::try_from(r.try_get::<_, i64>(4)?).unwrap_or(0),
        date_created: r.try_get(5)?,
        date_updated: r.try_get(6)?,
    })
}

async fn one(
    c: &Conn,
    account: &str,
    key: &str,
    sid: &str,
    with_bytes: bool,
) -> anyhow::Result<Option<(Media, Vec<u8>)>> {
    let content = if with_bytes { "content" } else { "''::bytea" };
    let sql =
        format!("SELECT {COLUMNS}, {content} FROM media WHERE sid = $1 AND message_key = $2 AND account_sid = $3");
    let row = query_opt(c, &sql, &[&sid, &key, &account]).await?;
    row.map(|r| Ok((from_row(&r)?, r.try_get::<_, Vec<u8>>(7)?))).transpose()
}

#[async_trait]
impl MediaStore for PgStore {
    async fn insert_media(&self, media: Vec<(Media, Vec<u8>)>) -> StoreResult<()> {
        self.write(move |c| {
            Box::pin(async move {
                for (m, bytes) in &media {
                    let (_, key) = split_sid(&m.message_sid)
                        .ok_or_else(|| anyhow::anyhow!("invalid message SID {}", m.message_sid))?;
                    execute(
                        c,
                        "INSERT INTO media (sid, message_key, message_sid, account_sid, content_type, size, content,
                         date_created, date_updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        &[
                            &m.sid,
                            &key,
                            &m.message_sid,
                            &m.account_sid,
                            &m.content_type,
                            &i64::try_from(bytes.len())?,
                            bytes,
                            &m.date_created,
                            &m.date_updated,
                        ],
                    )
                    .await?;
                }
                Ok(())
            })
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
            "SELECT {COLUMNS} FROM media WHERE message_key = $1 AND account_sid = $2 AND date_created >= $3 AND date_created < $4"
        );
        let args: Vec<super::engine::Arg> = vec![
            Box::new(key),
            Box::new(account_sid.to_string()),
            Box::new(created.0.unwrap_or(i64::MIN)),
            Box::new(created.1.unwrap_or(i64::MAX)),
        ];
        // Attachment order, oldest first.
        let page = Page::new(sql, args).oldest_first(cursor, limit);
        self.read(move |c| Box::pin(async move { page.fetch(c).await?.iter().map(from_row).collect() })).await
    }

    async fn media(&self, account_sid: &str, message_sid: &str, sid: &str) -> StoreResult<Option<Media>> {
        let Some((_, key)) = split_sid(message_sid) else { return Ok(None) };
        let (account, sid) = (account_sid.to_string(), sid.to_string());
        self.read(move |c| Box::pin(async move { Ok(one(c, &account, &key, &sid, false).await?.map(|(m, _)| m)) }))
            .await
    }

    async fn media_content(
        &self,
        account_sid: &str,
        message_sid: &str,
        sid: &str,
    ) -> StoreResult<Option<(Media, Vec<u8>)>> {
        let Some((_, key)) = split_sid(message_sid) else { return Ok(None) };
        let (account, sid) = (account_sid.to_string(), sid.to_string());
        self.read(move |c| Box::pin(async move { one(c, &account, &key, &sid, true).await })).await
    }

    async fn delete_media(&self, account_sid: &str, message_sid: &str, sid: &str) -> StoreResult<bool> {
        let Some((_, key)) = split_sid(message_sid) else { return Ok(false) };
        let (account, sid) = (account_sid.to_string(), sid.to_string());
        self.write(move |c| {
            Box::pin(async move {
                Ok(execute(
                    c,
                    "DELETE FROM media WHERE sid = $1 AND message_key = $2 AND account_sid = $3",
                    &[&sid, &key, &account],
                )
                .await?
                    == 1)
            })
        })
        .await
    }
}
