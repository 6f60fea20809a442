//! Gateways before the store kept push subscriptions wrote them to
//! `DATA_DIR/notify.db`. At start-up they are copied into the store once, and
//! the file is renamed `notify.db.imported`. (The notification windows were
//! only ever in memory: nothing to import.)

use crate::NotifyError;
use chat_store::{NotificationStore, PushSubscriptionRecord};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

pub const LEGACY_FILE: &str = "notify.db";

/// Imports `data_dir/notify.db` if it is there; returns how many
/// subscriptions it held (`None`: no file). Importing again is harmless (an
/// endpoint is kept once).
pub async fn import(
    data_dir: &Path,
    store: &dyn NotificationStore,
) -> Result<Option<usize>, NotifyError> {
    let path = data_dir.join(LEGACY_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let read_from = path.clone();
    let subs = tokio::task::spawn_blocking(move || read(&read_from))
        .await
        .map_err(|e| NotifyError::Invalid(e.to_string()))??;
    for (user, sub, at) in &subs {
        store.add_push_subscription(user, sub.clone(), *at).await?;
    }
    std::fs::rename(&path, data_dir.join(format!("{LEGACY_FILE}.imported")))
        .map_err(|e| NotifyError::Invalid(format!("cannot rename {LEGACY_FILE}: {e}")))?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(data_dir.join(format!("{LEGACY_FILE}{suffix}")));
    }
    Ok(Some(subs.len()))
}

fn read(path: &Path) -> Result<Vec<(String, PushSubscriptionRecord, i64)>, NotifyError> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    let subs = c
        .prepare(
            "SELECT user_id, endpoint, p256dh, auth, created_at FROM push_subscriptions \
             ORDER BY created_at",
        )?
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                PushSubscriptionRecord {
                    endpoint: r.get(1)?,
                    p256dh: r.get(2)?,
                    auth: r.get(3)?,
                },
                r.get(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(subs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_store::sqlite::SqliteStore;

    #[tokio::test]
    async fn an_old_notify_db_is_imported_once() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = Connection::open(dir.path().join(LEGACY_FILE)).unwrap();
            c.execute_batch(
                "CREATE TABLE push_subscriptions (endpoint TEXT PRIMARY KEY, user_id TEXT NOT NULL,
                   p256dh TEXT NOT NULL, auth TEXT NOT NULL, created_at INTEGER NOT NULL);
                 INSERT INTO push_subscriptions VALUES ('https://push.example/1', 'u1', 'k', 'a', 1);
                 INSERT INTO push_subscriptions VALUES ('https://push.example/2', 'u1', 'k', 'a', 2);",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        assert_eq!(import(dir.path(), &store).await.unwrap(), Some(2));
        let subs = store.push_subscriptions("u1").await.unwrap();
        assert_eq!(subs.len(), 2);
        assert_eq!(subs[0].endpoint, "https://push.example/1");
        assert!(dir.path().join("notify.db.imported").exists());
        assert_eq!(import(dir.path(), &store).await.unwrap(), None, "only once");
    }
}
