//! SQLite-only tests: its schema, migrations and query plans. What every
//! store must do is in the contract suite (`tests/contract/`), which runs
//! against this store too.

use super::history::sync_sql;
use super::*;
use chat_core::clock::new_id;
use rusqlite::params;

#[test]
fn migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let s = SqliteStore::open(dir.path()).unwrap();
    drop(s);
    let c = Connection::open(dir.path().join("chat.db")).unwrap();
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v as usize, schema::version());
}

/// A database from before positions (schema version 3, ids in commit order)
/// gets them in id order; a client's cursor from before the upgrade still
/// works, and edits made before it are found too.
#[tokio::test]
async fn positions_are_backfilled_in_id_order() {
    let dir = tempfile::tempdir().unwrap();
    let (old, mid, edited) = (new_id(), new_id(), new_id());
    {
        let mut c = Connection::open(dir.path().join("chat.db")).unwrap();
        let tx = c.transaction().unwrap();
        for sql in &schema::MIGRATIONS[..3] {
            tx.execute_batch(sql).unwrap();
        }
        tx.pragma_update(None, "user_version", 3).unwrap();
        tx.execute_batch(
            "INSERT INTO conversations (id, kind, created_by, created_at, last_activity_at) \
             VALUES ('r', 'group', 'a', 0, 0); \
             INSERT INTO participants (conversation_id, user_id, joined_at) VALUES ('r', 'b', 0);",
        )
        .unwrap();
        for (id, edited_at) in [(&edited, Some(5)), (&mid, None), (&old, None)] {
            tx.execute(
                "INSERT INTO messages (id, conversation_id, author_id, author_name, content, kind, \
                 created_at, edited_at, changed_at) VALUES (?1, 'r', 'a', 'A', 'x', 'text', 1, ?2, 1)",
                params![id, edited_at],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let s = SqliteStore::open(dir.path()).unwrap();
    let (got, _) = s.sync("b", &old, 10).await.unwrap();
    // `mid` by its creation; `edited` (created before `mid`) by its edit, after every creation.
    assert_eq!(
        got.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        vec![mid.as_str(), edited.as_str()]
    );
    // New positions continue after the backfilled ones.
    let m = s
        .append_message(NewMessage::plain(
            chat_core::model::MessageType::Text,
            "r",
            "a",
            "A",
            "new".into(),
        ))
        .await
        .unwrap();
    // From `edited`'s creation: its edit, then the new message.
    let (got, _) = s.sync("b", &edited, 10).await.unwrap();
    assert_eq!(
        got.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        vec![edited.as_str(), m.message().id.as_str()]
    );
}

#[test]
fn sync_searches_the_position_index() {
    let d = tempfile::tempdir().unwrap();
    let mut c = Connection::open(d.path().join("plan.db")).unwrap();
    schema::migrate(&mut c).unwrap();
    let sql = format!("EXPLAIN QUERY PLAN {}", sync_sql());
    let plan: Vec<String> = c
        .prepare(&sql)
        .unwrap()
        .query_map(params!["u", 0, 10], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let searches: Vec<&String> = plan.iter().filter(|l| l.contains("messages")).collect();
    assert!(
        searches.iter().any(|l| l.contains("messages_pos"))
            && !searches.iter().any(|l| l.starts_with("SCAN messages")),
        "{plan:?}"
    );
}

#[test]
fn a_full_disk_reads_as_full() {
    let e: StoreError =
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL), None)
            .into();
    assert!(matches!(e, StoreError::Full), "{e:?}");
}
