//! Users in the SQLite store: upserts, one or many, and look-ups.

use super::rows::*;
use super::SqliteStore;
use crate::{StoreResult, UserRecord};
use rusqlite::{params, OptionalExtension};

impl SqliteStore {
    pub(super) async fn upsert_user(&self, u: UserRecord) -> StoreResult<()> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO users (id, name, role, email, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, role = excluded.role, \
                 email = coalesce(excluded.email, users.email), updated_at = excluded.updated_at \
                 WHERE users.name IS NOT excluded.name OR users.role IS NOT excluded.role \
                 OR (excluded.email IS NOT NULL AND users.email IS NOT excluded.email)",
            )?
            .execute(params![u.id, u.name, u.role.as_str(), u.email, chat_core::clock::now_millis()])?;
            Ok(())
        })
        .await
    }

    pub(super) async fn upsert_users(&self, users: Vec<UserRecord>) -> StoreResult<()> {
        self.write(move |c| {
            let mut stmt = c.prepare_cached(
                "INSERT INTO users (id, name, role, email, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT(id) DO UPDATE SET name = excluded.name, role = excluded.role, \
                 email = coalesce(excluded.email, users.email), updated_at = excluded.updated_at",
            )?;
            let now = chat_core::clock::now_millis();
            for u in &users {
                stmt.execute(params![u.id, u.name, u.role.as_str(), u.email, now])?;
            }
            Ok(())
        })
        .await
    }

    pub(super) async fn users(&self, ids: &[String]) -> StoreResult<Vec<UserRecord>> {
        let ids = ids.to_vec();
        self.read(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT id, name, role, email FROM users WHERE id = ?1")?;
            let mut out = Vec::with_capacity(ids.len());
            for id in &ids {
                if let Some(u) = stmt.query_row([id], user_from_row).optional()? {
                    out.push(u);
                }
            }
            Ok(out)
        })
        .await
    }

    pub(super) async fn all_users(&self) -> StoreResult<Vec<UserRecord>> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT id, name, role, email FROM users ORDER BY id")?;
            let users = stmt
                .query_map([], user_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(users)
        })
        .await
    }
}
