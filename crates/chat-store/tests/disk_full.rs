//! A full disk (here: the database capped with `max_page_count`, which fails
//! writes with the same SQLITE_FULL as a full disk) is reported as
//! [`StoreError::Full`], not as a conflict carrying SQLite's text; `ping`
//! reports the store degraded until a write commits again, and nothing of a
//! refused write is kept.

use chat_core::clock::{new_id, now_millis};
use chat_core::model::{ConversationType, MessageType};
use chat_store::sqlite::SqliteStore;
use chat_store::{NewConversation, NewMessage, Page, Store, StoreError};

#[tokio::test]
async fn a_full_store_refuses_writes_cleanly_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    let room = new_id();
    store
        .create_conversation(NewConversation {
            id: room.clone(),
            kind: ConversationType::Group,
            name: Some("g".into()),
            created_by: "a".into(),
            participants: vec!["a".into()],
            support: None,
            at: now_millis(),
        })
        .await
        .unwrap();
    store.ping().await.unwrap();
    let db = rusqlite::Connection::open(dir.path().join("chat.db")).unwrap();
    let pages: i64 = db.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
    drop(db);
    store.set_max_page_count(pages as u64 + 8).await.unwrap();

    let big = "x".repeat(3000);
    let mut stored = 0;
    let mut refusal = None;
    // 8 spare pages hold a few dozen 3 KB messages at most.
    for _ in 0..500 {
        let m = NewMessage::plain(MessageType::Text, &room, "a", "A", big.clone());
        match store.append_message(m).await {
            Ok(_) => stored += 1,
            Err(e) => {
                refusal = Some(e);
                break;
            }
        }
    }
    let refusal =
        refusal.unwrap_or_else(|| panic!("the capped store never filled up ({pages} pages)"));
    assert!(
        matches!(refusal, StoreError::Full),
        "expected StoreError::Full, got {refusal:?}"
    );
    assert!(matches!(store.ping().await, Err(StoreError::Full)));
    let again = NewMessage::plain(MessageType::Text, &room, "a", "A", big.clone());
    assert!(matches!(
        store.append_message(again).await,
        Err(StoreError::Full)
    ));
    let page = Page {
        limit: 1000,
        ..Default::default()
    };
    assert_eq!(
        store.history(&room, page.clone()).await.unwrap().0.len(),
        stored,
        "refused messages are not stored"
    );

    // Space returns: the next write commits and the store is healthy again.
    store.set_max_page_count(1_000_000).await.unwrap();
    let m = NewMessage::plain(MessageType::Text, &room, "a", "A", big);
    store.append_message(m).await.unwrap();
    store.ping().await.unwrap();
    assert_eq!(
        store.history(&room, page).await.unwrap().0.len(),
        stored + 1
    );
}
