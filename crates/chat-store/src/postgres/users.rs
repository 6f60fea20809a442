//! Users in the PostgreSQL store: upserts, one or many, and look-ups.

use super::rows::*;
use super::{check_text, PgStore};
use crate::{StoreResult, UserRecord};
use chat_core::clock::now_millis;
use std::collections::{HashMap, HashSet};

impl PgStore {
    pub(super) async fn upsert_user(&self, u: UserRecord) -> StoreResult<()> {
        self.upsert_users(vec![u]).await
    }

    pub(super) async fn upsert_users(&self, users: Vec<UserRecord>) -> StoreResult<()> {
        let mut users = users;
        users.retain(|u| {
            check_text([u.id.as_str(), &u.name, u.email.as_deref().unwrap_or("")]).is_ok()
        });
        // One row per id (the last claim wins), or ON CONFLICT would hit a row twice.
        let mut seen = HashSet::new();
        users.reverse();
        users.retain(|u| seen.insert(u.id.clone()));
        if users.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
        let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
        let roles: Vec<&str> = users.iter().map(|u| u.role.as_str()).collect();
        let emails: Vec<Option<&str>> = users.iter().map(|u| u.email.as_deref()).collect();
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO users (id, name, role, email, updated_at) \
                 SELECT t.id, t.name, t.role, t.email, $5 \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(id, name, role, email) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role, \
                 email = coalesce(excluded.email, users.email), updated_at = excluded.updated_at \
                 WHERE users.name IS DISTINCT FROM excluded.name OR users.role IS DISTINCT FROM excluded.role \
                 OR (excluded.email IS NOT NULL AND users.email IS DISTINCT FROM excluded.email)",
            )
            .await?;
        c.execute(&stmt, &[&ids, &names, &roles, &emails, &now_millis()])
            .await?;
        Ok(())
    }

    pub(super) async fn users(&self, ids: &[String]) -> StoreResult<Vec<UserRecord>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT id, name, role, email FROM users WHERE id = ANY($1)")
            .await?;
        let mut found: HashMap<String, UserRecord> = HashMap::new();
        for r in c.query(&stmt, &[&ids]).await? {
            let u = user(&r)?;
            found.insert(u.id.clone(), u);
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    pub(super) async fn all_users(&self) -> StoreResult<Vec<UserRecord>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT id, name, role, email FROM users ORDER BY id")
            .await?;
        c.query(&stmt, &[]).await?.iter().map(user).collect()
    }
}
