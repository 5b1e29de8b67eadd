//! SQL of SMPP connectors' state (`smpp_segments`, `smpp_inbound_parts`).

use super::SqliteStore;
use crate::store::smpp::{InboundKey, SegmentTally, SmppStore};
use crate::store::StoreResult;
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

fn parts_of(c: &Connection, k: &InboundKey) -> anyhow::Result<Vec<(u8, String)>> {
    let mut select = c.prepare_cached(
        "SELECT seq, body FROM smpp_inbound_parts
         WHERE connector = ?1 AND from_addr = ?2 AND to_addr = ?3 AND reference = ?4 AND total = ?5 ORDER BY seq",
    )?;
    let rows =
        select.query_map(params![k.connector, k.from, k.to, k.reference, k.total], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[async_trait]
impl SmppStore for SqliteStore {
    async fn record_segments(&self, carrier_id: &str, segment_ids: &[String], at_ms: i64) -> StoreResult<()> {
        let (carrier_id, ids) = (carrier_id.to_string(), segment_ids.to_vec());
        self.write(move |c| {
            let mut insert = c.prepare_cached(
                "INSERT INTO smpp_segments (segment_id, carrier_id, result, done_at, created) VALUES (?1, ?2, NULL, NULL, ?3)
                 ON CONFLICT (segment_id) DO UPDATE SET carrier_id = excluded.carrier_id, result = NULL,
                 done_at = NULL, created = excluded.created",
            )?;
            for id in &ids {
                insert.execute(params![id, carrier_id, at_ms])?;
            }
            Ok(())
        })
        .await
    }

    async fn settle_segment(
        &self,
        segment_id: &str,
        result: Result<(), u32>,
        done_at_ms: Option<i64>,
    ) -> StoreResult<Option<SegmentTally>> {
        let id = segment_id.to_string();
        let code = i64::from(result.err().unwrap_or(0));
        self.write(move |c| {
            let carrier_id: Option<String> = c
                .prepare_cached(
                    "UPDATE smpp_segments SET result = ?2, done_at = ?3 WHERE segment_id = ?1 RETURNING carrier_id",
                )?
                .query_row(params![id, code, done_at_ms], |r| r.get(0))
                .optional()?;
            let Some(carrier_id) = carrier_id else { return Ok(None) };
            let (segments, delivered, settled, done_at_ms) = c
                .prepare_cached(
                    "SELECT COUNT(*), COUNT(*) FILTER (WHERE result = 0), COUNT(result), MAX(done_at)
                     FROM smpp_segments WHERE carrier_id = ?1",
                )?
                .query_row(params![carrier_id], |r| {
                    Ok((r.get::<_, u32>(0)?, r.get::<_, u32>(1)?, r.get::<_, u32>(2)?, r.get::<_, Option<i64>>(3)?))
                })?;
            Ok(Some(SegmentTally { carrier_id, segments, delivered, settled, done_at_ms }))
        })
        .await
    }

    async fn forget_segments(&self, carrier_id: &str) -> StoreResult<()> {
        let carrier_id = carrier_id.to_string();
        self.write(move |c| {
            c.prepare_cached("DELETE FROM smpp_segments WHERE carrier_id = ?1")?.execute(params![carrier_id])?;
            Ok(())
        })
        .await
    }

    async fn prune_segments(&self, before_ms: i64) -> StoreResult<u64> {
        self.write(move |c| {
            let n = c.prepare_cached("DELETE FROM smpp_segments WHERE created < ?1")?.execute(params![before_ms])?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn add_inbound_part(
        &self,
        key: &InboundKey,
        seq: u8,
        text: &str,
        at_ms: i64,
    ) -> StoreResult<Vec<(u8, String)>> {
        let (k, text) = (key.clone(), text.to_string());
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO smpp_inbound_parts (connector, from_addr, to_addr, reference, total, seq, body, received)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (connector, from_addr, to_addr, reference, total, seq) DO UPDATE SET body = excluded.body",
            )?
            .execute(params![k.connector, k.from, k.to, k.reference, k.total, seq, text, at_ms])?;
            parts_of(c, &k)
        })
        .await
    }

    async fn stale_inbound(
        &self,
        connector: &str,
        before_ms: i64,
    ) -> StoreResult<Vec<(InboundKey, Vec<(u8, String)>)>> {
        let connector = connector.to_string();
        self.read(move |c| {
            let mut select = c.prepare_cached(
                "SELECT from_addr, to_addr, reference, total FROM smpp_inbound_parts WHERE connector = ?1
                 GROUP BY from_addr, to_addr, reference, total HAVING MIN(received) < ?2",
            )?;
            let keys = select
                .query_map(params![connector, before_ms], |r| {
                    Ok(InboundKey {
                        connector: connector.clone(),
                        from: r.get(0)?,
                        to: r.get(1)?,
                        reference: r.get(2)?,
                        total: r.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            keys.into_iter()
                .map(|k| {
                    let parts = parts_of(c, &k)?;
                    Ok((k, parts))
                })
                .collect()
        })
        .await
    }

    async fn forget_inbound(&self, key: &InboundKey) -> StoreResult<()> {
        let k = key.clone();
        self.write(move |c| {
            c.prepare_cached(
                "DELETE FROM smpp_inbound_parts
                 WHERE connector = ?1 AND from_addr = ?2 AND to_addr = ?3 AND reference = ?4 AND total = ?5",
            )?
            .execute(params![k.connector, k.from, k.to, k.reference, k.total])?;
            Ok(())
        })
        .await
    }
}
