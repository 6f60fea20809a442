//! The contract for messages: idempotent resends, ids made by the store,
//! what a read returns, history pages and reactions.

use super::backends::Backend;
use super::suite::{append, group, msg, page};
use chat_core::clock::now_millis;
use chat_core::model::MessageType;
use chat_store::*;
use std::collections::HashSet;

pub async fn client_id_makes_a_resend_return_the_first_message(b: &dyn Backend) {
    let s = b.open().await;
    let room = group(&*s, &["a", "b"]).await;
    let first = s
        .append_message(msg(&room, "a", "hi", Some("c-1")))
        .await
        .unwrap();
    let again = s
        .append_message(msg(&room, "a", "hi again", Some("c-1")))
        .await
        .unwrap();
    assert!(matches!(first, Appended::New(_)));
    let Appended::Duplicate(dup) = again else {
        panic!("resend stored twice")
    };
    assert_eq!(dup.id, first.message().id);
    assert_eq!(dup.content, "hi");
    // Another author may use the same client id.
    let other = s
        .append_message(msg(&room, "b", "yo", Some("c-1")))
        .await
        .unwrap();
    assert!(matches!(other, Appended::New(_)));
    // Resends racing on other handles (nodes) store the message once.
    let mut tasks = vec![];
    for i in 0..6 {
        let s = if i % 2 == 0 {
            b.open().await
        } else {
            s.clone()
        };
        let room = room.clone();
        tasks.push(tokio::spawn(async move {
            s.append_message(msg(&room, "a", &format!("race {i}"), Some("c-race")))
                .await
                .unwrap()
                .message()
                .id
                .clone()
        }));
    }
    let mut ids = HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap());
    }
    assert_eq!(ids.len(), 1, "one message per (author, clientId)");
    assert_eq!(s.history(&room, page(50)).await.unwrap().0.len(), 3);
}

pub async fn the_store_assigns_message_ids_not_the_caller(b: &dyn Backend) {
    let s = b.open().await;
    let room = group(&*s, &["a", "b"]).await;
    let mut tasks = vec![];
    for i in 0..300 {
        let (s, room) = (s.clone(), room.clone());
        tasks.push(tokio::spawn(async move {
            let mut m = msg(&room, "a", &format!("{i}"), None);
            m.id = "00000000-0000-7000-8000-000000000000".into(); // ignored
            s.append_message(m).await.unwrap().message().id.clone()
        }));
    }
    let mut ids = HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap());
    }
    let stored: HashSet<String> = s
        .transcript(&room)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(stored.len(), 300);
    assert_eq!(stored, ids);
    assert!(!stored.iter().any(|id| id.starts_with("00000000")));
}

pub async fn the_appended_message_is_what_a_read_returns(b: &dyn Backend) {
    let s = b.open().await;
    let room = group(&*s, &["a", "b"]).await;
    let mut m = msg(&room, "a", "with an attachment", Some("c-9"));
    m.attachments = vec![chat_core::model::Attachment {
        id: "att1".into(),
        name: "a.png".into(),
        mime_type: "image/png".into(),
        size: 3,
        url: "/api/chat/attachments/att1".into(),
        thumbnail_url: None,
    }];
    m.kind = MessageType::File;
    let appended = s.append_message(m).await.unwrap().message().clone();
    assert_eq!(
        Some(appended.clone()),
        s.message(&appended.id).await.unwrap()
    );
    // And through another handle (another node).
    let other = b.open().await;
    assert_eq!(
        Some(appended.clone()),
        other.message(&appended.id).await.unwrap()
    );
}

pub async fn history_pages_both_ways_and_caps_the_limit(b: &dyn Backend) {
    let s = b.open().await;
    let room = group(&*s, &["a", "b"]).await;
    let mut ids = vec![];
    for i in 0..130 {
        ids.push(append(&*s, &room, "a", &format!("m{i}")).await.id);
    }
    let (newest, more) = s.history(&room, page(500)).await.unwrap();
    assert_eq!(newest.len(), 100);
    assert!(more);
    assert_eq!(newest[0].id, ids[129]);
    let (older, more) = s
        .history(
            &room,
            Page {
                before: Some(newest[99].id.clone()),
                limit: 100,
                ..Page::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(older.len(), 30);
    assert!(!more);
    assert_eq!(older[29].id, ids[0]);
    let (after, more) = s
        .history(
            &room,
            Page {
                after: Some(ids[10].clone()),
                limit: 5,
                ..Page::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        after.iter().map(|m| &m.id).collect::<Vec<_>>(),
        ids[11..16].iter().collect::<Vec<_>>()
    );
    assert!(more);
    // Deleted messages are left out of history and transcripts.
    s.delete_message(&ids[129], now_millis()).await.unwrap();
    assert_eq!(s.history(&room, page(1)).await.unwrap().0[0].id, ids[128]);
    assert_eq!(s.transcript(&room).await.unwrap().len(), 129);
    assert_eq!(
        s.newest_message_id(&room).await.unwrap().as_deref(),
        Some(ids[129].as_str())
    );
}

pub async fn reactions_toggle_per_user(b: &dyn Backend) {
    let s = b.open().await;
    let room = group(&*s, &["a", "b"]).await;
    let m = append(&*s, &room, "a", "x").await.id;
    let (_, r) = s
        .toggle_reaction(&m, "a", "👍", now_millis())
        .await
        .unwrap();
    assert_eq!(r["👍"], vec!["a"]);
    let (_, r) = s
        .toggle_reaction(&m, "b", "👍", now_millis())
        .await
        .unwrap();
    assert_eq!(r["👍"], vec!["a", "b"]);
    let (_, r) = s
        .toggle_reaction(&m, "a", "👍", now_millis())
        .await
        .unwrap();
    assert_eq!(r["👍"], vec!["b"]);
    let (_, r) = s
        .toggle_reaction(&m, "b", "👍", now_millis())
        .await
        .unwrap();
    assert!(r.is_empty());
    s.delete_message(&m, now_millis()).await.unwrap();
    assert!(matches!(
        s.toggle_reaction(&m, "a", "👍", now_millis()).await,
        Err(StoreError::NotFound)
    ));
}

/// Many users react to one message at once, through several handles: none
/// of the toggles is lost (each is a read-modify-write of the message).
pub async fn concurrent_reactions_are_all_kept(b: &dyn Backend) {
    let s = b.open().await;
    let room = group(&*s, &["a", "b"]).await;
    let m = append(&*s, &room, "a", "react to me").await.id;
    let handles = [s.clone(), b.open().await, b.open().await];
    let mut tasks = vec![];
    for u in 0..30 {
        let (s, m) = (handles[u % 3].clone(), m.clone());
        tasks.push(tokio::spawn(async move {
            s.toggle_reaction(&m, &format!("u{u}"), "🎉", now_millis())
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let stored = s.message(&m).await.unwrap().unwrap();
    let mut users = stored.reactions["🎉"].clone();
    users.sort();
    let mut want: Vec<String> = (0..30).map(|u| format!("u{u}")).collect();
    want.sort();
    assert_eq!(users, want);
}
