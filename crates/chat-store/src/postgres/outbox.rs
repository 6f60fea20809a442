//! The PostgreSQL side of the outbox: queueing an item in a transaction (it
//! takes a position, so items are read in commit order), and the drainer:
//! one node at a time, the one holding the advisory lock on its own
//! connection. The items themselves are made by [`crate::outbox_items`].

use super::positions::Positions;
use super::rows::*;
use super::PgStore;
use crate::{OutboxItem, StoreError, StoreResult};
use chat_core::clock::now_millis;
use deadpool_postgres::Transaction;
use serde_json::Value;
use std::sync::atomic::Ordering;
use tokio_postgres::NoTls;

/// Key of the advisory lock the outbox drainer holds ("chatobox").
const DRAIN_LOCK: i64 = 0x6368_6174_6f62_6f78;

pub(super) struct Drainer {
    pub(super) client: Option<tokio_postgres::Client>,
    pub(super) leader: bool,
}

pub(super) async fn enqueue(
    tx: &Transaction<'_>,
    positions: &mut Positions,
    conversation_id: Option<&str>,
    item: Value,
) -> StoreResult<()> {
    let seq = positions.next(tx).await?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO outbox (seq, conversation_id, item, created_at) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[&seq, &conversation_id, &item.to_string(), &now_millis()],
    )
    .await?;
    Ok(())
}

impl PgStore {
    /// The drainer's own connection, holding the drain lock if this node drains.
    async fn drain_client<'a>(
        &self,
        d: &'a mut Drainer,
    ) -> StoreResult<Option<&'a tokio_postgres::Client>> {
        if d.client.as_ref().is_none_or(|c| c.is_closed()) {
            d.leader = false;
            let (client, connection) = self.config.connect(NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "outbox drainer connection closed");
                }
            });
            d.client = Some(client);
        }
        let Some(client) = d.client.as_ref() else {
            return Ok(None);
        };
        if !d.leader {
            d.leader = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&DRAIN_LOCK])
                .await?
                .get(0);
        }
        Ok(if d.leader { Some(client) } else { None })
    }

    pub(super) async fn outbox_peek(&self, limit: usize) -> StoreResult<Vec<OutboxItem>> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(StoreError::Closed);
        }
        let mut d = self.drainer.lock().await;
        let Some(client) = self.drain_client(&mut d).await? else {
            return Ok(Vec::new());
        };
        let stmt = client
            .prepare("SELECT seq, item FROM outbox ORDER BY seq LIMIT $1")
            .await?;
        let rows = client.query(&stmt, &[&(limit as i64)]).await?;
        rows.iter()
            .map(|r| {
                let seq: i64 = get(r, 0)?;
                let text: String = get(r, 1)?;
                let item = serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("outbox item {seq}: {e}")))?;
                Ok(OutboxItem { seq, item })
            })
            .collect()
    }

    pub(super) async fn outbox_done(&self, seqs: &[i64]) -> StoreResult<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("DELETE FROM outbox WHERE seq = ANY($1)")
            .await?;
        c.execute(&stmt, &[&seqs]).await?;
        Ok(())
    }

    pub(super) async fn outbox_park(&self, seq: i64, code: &str, reason: &str) -> StoreResult<()> {
        let (code, reason) = (code.replace('\0', ""), reason.replace('\0', ""));
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let stmt = tx
            .prepare_cached(
                "INSERT INTO dead_letters (seq, item, code, reason, parked_at) \
                 SELECT seq, item, $2, $3, $4 FROM outbox WHERE seq = $1 \
                 ON CONFLICT (seq) DO UPDATE SET item = excluded.item, code = excluded.code, \
                 reason = excluded.reason, parked_at = excluded.parked_at",
            )
            .await?;
        tx.execute(&stmt, &[&seq, &code, &reason, &now_millis()])
            .await?;
        let stmt = tx
            .prepare_cached("DELETE FROM outbox WHERE seq = $1")
            .await?;
        tx.execute(&stmt, &[&seq]).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn outbox_last_dead(&self) -> StoreResult<Option<(String, String)>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT coalesce(code, ''), coalesce(reason, '') FROM dead_letters \
                 ORDER BY parked_at DESC, seq DESC LIMIT 1",
            )
            .await?;
        match c.query_opt(&stmt, &[]).await? {
            Some(r) => Ok(Some((get(&r, 0)?, get(&r, 1)?))),
            None => Ok(None),
        }
    }

    pub(super) async fn outbox_requeue(&self, uuids: &[String]) -> StoreResult<u64> {
        let uuids = uuids.to_vec();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The original seq puts an item back where it was in the order: a
        // refused conversation goes before its refused messages again.
        let back = tx
            .prepare_cached(
                "INSERT INTO outbox (seq, conversation_id, item, created_at) \
                 SELECT seq, item::jsonb ->> 'conversation_id', item, $2 FROM dead_letters \
                 WHERE item::jsonb ->> 'uuid' = ANY($1) ON CONFLICT (seq) DO NOTHING",
            )
            .await?;
        tx.execute(&back, &[&uuids, &now_millis()]).await?;
        let gone = tx
            .prepare_cached(
                "DELETE FROM dead_letters WHERE item::jsonb ->> 'uuid' = ANY($1) \
                 AND seq IN (SELECT seq FROM outbox)",
            )
            .await?;
        let moved = tx.execute(&gone, &[&uuids]).await?;
        tx.commit().await?;
        Ok(moved)
    }

    pub(super) async fn outbox_counts(&self) -> StoreResult<(u64, u64)> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM dead_letters)",
            )
            .await?;
        let r = c.query_one(&stmt, &[]).await?;
        let (a, b): (i64, i64) = (get(&r, 0)?, get(&r, 1)?);
        Ok((a.max(0) as u64, b.max(0) as u64))
    }
}
