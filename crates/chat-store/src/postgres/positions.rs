//! Positions (the `sync` cursor): taken from the one row of `positions`,
//! locked until COMMIT, so they follow commit order across every connection
//! and node. See the module doc of `postgres`.

use crate::StoreResult;
use deadpool_postgres::Transaction;

/// Positions taken in one transaction (see the module doc).
pub(super) struct Positions {
    naive: bool,
    next: i64,
    /// The counter as this transaction last wrote it.
    saved: i64,
}

impl Positions {
    /// Locks the counter row until this transaction ends. The first statement
    /// of every transaction that takes positions, so no such transaction
    /// waits for it while holding another row lock.
    pub(super) async fn lock(tx: &Transaction<'_>, naive: bool) -> StoreResult<Self> {
        Self::reserve(tx, naive, 0).await
    }

    /// [`lock`](Self::lock), reserving `n` positions in the same statement
    /// (an append batch knows how many it needs: one round trip fewer).
    pub(super) async fn reserve(tx: &Transaction<'_>, naive: bool, n: i64) -> StoreResult<Self> {
        if naive {
            return Ok(Self {
                naive,
                next: 0,
                saved: 0,
            });
        }
        let stmt = tx
            .prepare_cached("UPDATE positions SET v = v + $1 WHERE id = 1 RETURNING v")
            .await?;
        let v: i64 = tx.query_one(&stmt, &[&n]).await?.get(0);
        Ok(Self {
            naive,
            next: v - n + 1,
            saved: v,
        })
    }

    pub(super) async fn next(&mut self, tx: &Transaction<'_>) -> StoreResult<i64> {
        if self.naive {
            let stmt = tx
                .prepare_cached("SELECT nextval('naive_positions')")
                .await?;
            return Ok(tx.query_one(&stmt, &[]).await?.get(0));
        }
        let p = self.next;
        self.next += 1;
        Ok(p)
    }

    /// Writes back the positions taken beyond those reserved; call before COMMIT.
    pub(super) async fn save(self, tx: &Transaction<'_>) -> StoreResult<()> {
        if self.naive || self.next - 1 <= self.saved {
            return Ok(());
        }
        let stmt = tx
            .prepare_cached("UPDATE positions SET v = $1 WHERE id = 1")
            .await?;
        tx.execute(&stmt, &[&(self.next - 1)]).await?;
        Ok(())
    }
}
