//! SQLite-only tests: its schema, migrations and query plans. What every
//! store must do is in the contract suite (`tests/contract/`), which runs
//! against this store too.

use super::history::{sync_changed_sql, sync_from, sync_new_sql, NewMessages};
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

/// Each of `sync`'s queries searches the index it names (`INDEXED BY`
/// fails to prepare when the index cannot serve the query), and none scans
/// the whole table.
#[test]
fn sync_searches_its_indexes() {
    let d = tempfile::tempdir().unwrap();
    let mut c = Connection::open(d.path().join("plan.db")).unwrap();
    schema::migrate(&mut c).unwrap();
    for (sql, index) in [
        (sync_new_sql(NewMessages::AcrossRooms), "messages_new"),
        (sync_new_sql(NewMessages::RoomByRoom), "messages_room"),
        (sync_changed_sql(), "messages_changed"),
    ] {
        let plan: Vec<String> = c
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(params!["u", 0, 10], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let searches: Vec<&String> = plan.iter().filter(|l| l.contains("messages")).collect();
        assert!(
            searches.iter().any(|l| l.contains(index))
                && !searches
                    .iter()
                    .any(|l| l.starts_with("SCAN messages ") || l.as_str() == "SCAN messages"),
            "{index}: {plan:?}"
        );
    }
}

/// Both ways of finding new messages return the pages of `sync`'s
/// definition (the caller's rooms' messages whose position is after the
/// cursor's, by position), written here as one plain query: rooms of the
/// caller and of others, messages edited and deleted after the cursor
/// (before or after it was created), Odoo's imports (ids not in creation
/// order), from every cursor, whole and in small pages.
#[tokio::test]
async fn both_sync_plans_return_the_same_pages() {
    use chat_core::model::MessageType;
    let d = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(d.path()).unwrap();
    let mut ids = vec![String::new()]; // "" reads as the beginning
    {
        let c = Connection::open(d.path().join("chat.db")).unwrap();
        for (room, members) in [("r1", "a b"), ("r2", "b c"), ("r3", "a c")] {
            c.execute(
                "INSERT INTO conversations (id, kind, created_by, created_at, last_activity_at) \
                 VALUES (?1, 'group', 'a', 0, 0)",
                [room],
            )
            .unwrap();
            for u in members.split(' ') {
                c.execute(
                    "INSERT INTO participants (conversation_id, user_id, joined_at) VALUES (?1, ?2, 0)",
                    [room, u],
                )
                .unwrap();
            }
        }
    }
    for i in 0..30 {
        let room = ["r1", "r2", "r3"][i % 3];
        let m = if i % 7 == 3 {
            // An import: Odoo's id, made before most of ours.
            let mut n = NewMessage::plain(MessageType::Text, room, "c", "C", format!("odoo {i}"));
            n.id = format!("00000000-0000-7000-8000-{i:012}");
            s.import_message(n).await.unwrap()
        } else {
            s.append_message(NewMessage::plain(
                MessageType::Text,
                room,
                "a",
                "A",
                format!("m {i}"),
            ))
            .await
            .unwrap()
        };
        ids.push(m.message().id.clone());
        if i % 5 == 4 {
            let earlier = ids[ids.len() - 3].clone();
            s.edit_message(&earlier, format!("edited {i}"), 10)
                .await
                .unwrap();
        }
        if i % 9 == 8 {
            let earlier = ids[ids.len() - 5].clone();
            let _ = s.delete_message(&earlier, 20).await;
        }
    }
    let c = Connection::open(d.path().join("chat.db")).unwrap();
    let seq_of = |id: &str| -> i64 {
        c.query_row("SELECT seq FROM messages WHERE id = ?1", [id], |r| r.get(0))
            .unwrap_or(0)
    };
    let page_ids = |user: &str, from: i64, limit: usize, plan| -> Vec<String> {
        sync_from(&c, user, from, limit, plan)
            .unwrap()
            .into_iter()
            .map(|m| format!("{} {}", m.id, m.content))
            .collect()
    };
    let definition =
        |user: &str, from: i64, limit: usize| -> Vec<String> {
            c.prepare(
            "SELECT id, content, deleted_at FROM messages NOT INDEXED WHERE conversation_id IN \
             (SELECT conversation_id FROM participants WHERE user_id = ?1) \
             AND pos > ?2 ORDER BY pos LIMIT ?3",
        )
        .unwrap()
        .query_map(params![user, from, (limit + 1) as i64], |r| {
            let deleted: Option<i64> = r.get(2)?;
            let content: String = r.get(1)?;
            let content = if deleted.is_some() { String::new() } else { content };
            Ok(format!("{} {}", r.get::<_, String>(0)?, content))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
        };
    for user in ["a", "b", "c", "nobody"] {
        for since in &ids {
            let from = seq_of(since);
            for limit in [1, 4, 100] {
                let expected = definition(user, from, limit);
                let across = page_ids(user, from, limit, NewMessages::AcrossRooms);
                let by_room = page_ids(user, from, limit, NewMessages::RoomByRoom);
                assert_eq!(across, expected, "user {user} from {from} limit {limit}");
                assert_eq!(by_room, expected, "user {user} from {from} limit {limit}");
                assert!(across.len() <= limit + 1);
            }
        }
    }
    // And the pages are not empty for nothing: `b` from the beginning sees
    // r1 and r2, edits and deletions included.
    let all = page_ids("b", 0, 100, NewMessages::AcrossRooms);
    assert!(all.len() >= 20, "{all:?}");
    assert!(all.iter().any(|l| l.contains("edited")), "{all:?}");
}

#[test]
fn a_full_disk_reads_as_full() {
    let e: StoreError =
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL), None)
            .into();
    assert!(matches!(e, StoreError::Full), "{e:?}");
}
