//! SQL of content templates (`contents`).

use super::engine::{execute, query_opt, PgStore};
use super::rows::Page;
use crate::store::content::{Content, ContentStore};
use crate::store::{Cursor, StoreResult};
use async_trait::async_trait;
use tokio_postgres::Row;

const COLUMNS: &str = "sid, account_sid, friendly_name, language, variables, types, date_created, date_updated";

fn from_row(r: &Row) -> anyhow::Result<Content> {
    Ok(Content {
        sid: r.try_get(0)?,
        account_sid: r.try_get(1)?,
        friendly_name: r.try_get(2)?,
        language: r.try_get(3)?,
        variables: r.try_get(4)?,
        types: r.try_get(5)?,
        date_created: r.try_get(6)?,
        date_updated: r.try_get(7)?,
    })
}

#[async_trait]
impl ContentStore for PgStore {
    async fn insert_content(&self, content: Content) -> StoreResult<()> {
        self.write(move |c| {
            Box::pin(async move {
                let sql = format!("INSERT INTO contents ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
                execute(
                    c,
                    &sql,
                    &[
                        &content.sid,
                        &content.account_sid,
                        &content.friendly_name,
                        &content.language,
                        &content.variables,
                        &content.types,
                        &content.date_created,
                        &content.date_updated,
                    ],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn content(&self, account_sid: &str, sid: &str) -> StoreResult<Option<Content>> {
        let (account, sid) = (account_sid.to_string(), sid.to_string());
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!("SELECT {COLUMNS} FROM contents WHERE sid = $1 AND account_sid = $2");
                query_opt(c, &sql, &[&sid, &account]).await?.as_ref().map(from_row).transpose()
            })
        })
        .await
    }

    async fn list_contents(&self, account_sid: &str, cursor: &Cursor, limit: usize) -> StoreResult<Vec<Content>> {
        let page = Page::new(
            format!("SELECT {COLUMNS} FROM contents WHERE account_sid = $1"),
            vec![Box::new(account_sid.to_string())],
        )
        .oldest_first(cursor, limit);
        self.read(move |c| Box::pin(async move { page.fetch(c).await?.iter().map(from_row).collect() })).await
    }

    async fn delete_content(&self, account_sid: &str, sid: &str) -> StoreResult<bool> {
        let (account, sid) = (account_sid.to_string(), sid.to_string());
        self.write(move |c| {
            Box::pin(async move {
                Ok(execute(c, "DELETE FROM contents WHERE sid = $1 AND account_sid = $2", &[&sid, &account]).await?
                    == 1)
            })
        })
        .await
    }
}
