//! SQL of SMPP connectors' state (`smpp_segments`, `smpp_inbound_parts`).

use super::engine::{execute, query, query_one, query_opt, Conn, PgStore};
use crate::store::smpp::{InboundKey, SegmentTally, SmppStore};
use crate::store::StoreResult;
use async_trait::async_trait;

async fn parts_of(c: &Conn, k: &InboundKey) -> anyhow::Result<Vec<(u8, String)>> {
    let (reference, total) = (i64::from(k.reference), i64::from(k.total));
    let rows = query(
        c,
        "SELECT seq, body FROM smpp_inbound_parts
         WHERE connector = $1 AND from_addr = $2 AND to_addr = $3 AND reference = $4 AND total = $5 ORDER BY seq",
        &[&k.connector, &k.from, &k.to, &reference, &total],
    )
    .await?;
    rows.iter().map(|r| Ok((u8::try_from(r.try_get::<_, i64>(0)?)?, r.try_get(1)?))).collect()
}

#[async_trait]
impl SmppStore for PgStore {
    async fn record_segments(&self, carrier_id: &str, segment_ids: &[String], at_ms: i64) -> StoreResult<()> {
        let (carrier_id, ids) = (carrier_id.to_string(), segment_ids.to_vec());
        self.write(move |c| {
            Box::pin(async move {
                execute(
                    c,
                    "INSERT INTO smpp_segments (segment_id, carrier_id, result, done_at, created)
                     SELECT DISTINCT id, $2, NULL::BIGINT, NULL::BIGINT, $3::BIGINT FROM UNNEST($1::TEXT[]) AS id
                     ON CONFLICT (segment_id) DO UPDATE SET carrier_id = excluded.carrier_id, result = NULL,
                     done_at = NULL, created = excluded.created",
                    &[&ids, &carrier_id, &at_ms],
                )
                .await?;
                Ok(())
            })
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
            Box::pin(async move {
                let row = query_opt(c, "SELECT carrier_id FROM smpp_segments WHERE segment_id = $1", &[&id]).await?;
                let Some(row) = row else { return Ok(None) };
                let carrier_id: String = row.try_get(0)?;
                // Two nodes may settle two segments of one message at once: each locks all of
                // the message's rows, in one order (no deadlock), before writing its own, so the
                // later one counts both.
                query_one(
                    c,
                    "SELECT COUNT(*) FROM (SELECT 1 FROM smpp_segments WHERE carrier_id = $1
                     ORDER BY segment_id FOR UPDATE) s",
                    &[&carrier_id],
                )
                .await?;
                execute(
                    c,
                    "UPDATE smpp_segments SET result = $2, done_at = $3 WHERE segment_id = $1",
                    &[&id, &code, &done_at_ms],
                )
                .await?;
                let r = query_one(
                    c,
                    "SELECT COUNT(*), COUNT(*) FILTER (WHERE result = 0), COUNT(result), MAX(done_at)
                     FROM smpp_segments WHERE carrier_id = $1",
                    &[&carrier_id],
                )
                .await?;
                let count = |i: usize| -> anyhow::Result<u32> { Ok(u32::try_from(r.try_get::<_, i64>(i)?)?) };
                Ok(Some(SegmentTally {
                    segments: count(0)?,
                    delivered: count(1)?,
                    settled: count(2)?,
                    done_at_ms: r.try_get(3)?,
                    carrier_id,
                }))
            })
        })
        .await
    }

    async fn forget_segments(&self, carrier_id: &str) -> StoreResult<()> {
        let carrier_id = carrier_id.to_string();
        self.write(move |c| {
            Box::pin(async move {
                execute(c, "DELETE FROM smpp_segments WHERE carrier_id = $1", &[&carrier_id]).await?;
                Ok(())
            })
        })
        .await
    }

    async fn prune_segments(&self, before_ms: i64) -> StoreResult<u64> {
        self.write(move |c| {
            Box::pin(async move { execute(c, "DELETE FROM smpp_segments WHERE created < $1", &[&before_ms]).await })
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
            Box::pin(async move {
                let (reference, total, seq) = (i64::from(k.reference), i64::from(k.total), i64::from(seq));
                execute(
                    c,
                    "INSERT INTO smpp_inbound_parts (connector, from_addr, to_addr, reference, total, seq, body, received)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (connector, from_addr, to_addr, reference, total, seq) DO UPDATE SET body = excluded.body",
                    &[&k.connector, &k.from, &k.to, &reference, &total, &seq, &text, &at_ms],
                )
                .await?;
                parts_of(c, &k).await
            })
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
            Box::pin(async move {
                let rows = query(
                    c,
                    "SELECT from_addr, to_addr, reference, total FROM smpp_inbound_parts WHERE connector = $1
                     GROUP BY from_addr, to_addr, reference, total HAVING MIN(received) < $2",
                    &[&connector, &before_ms],
                )
                .await?;
                let mut stale = Vec::with_capacity(rows.len());
                for r in rows {
                    let k = InboundKey {
                        connector: connector.clone(),
                        from: r.try_get(0)?,
                        to: r.try_get(1)?,
                        reference: u16::try_from(r.try_get::<_, i64>(2)?)?,
                        total: u8::try_from(r.try_get::<_, i64>(3)?)?,
                    };
                    let parts = parts_of(c, &k).await?;
                    stale.push((k, parts));
                }
                Ok(stale)
            })
        })
        .await
    }

    async fn forget_inbound(&self, key: &InboundKey) -> StoreResult<()> {
        let k = key.clone();
        self.write(move |c| {
            Box::pin(async move {
                let (reference, total) = (i64::from(k.reference), i64::from(k.total));
                execute(
                    c,
                    "DELETE FROM smpp_inbound_parts
                     WHERE connector = $1 AND from_addr = $2 AND to_addr = $3 AND reference = $4 AND total = $5",
                    &[&k.connector, &k.from, &k.to, &reference, &total],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }
}
