//! The contract for the outbox: each change recorded in order, refusals
//! parked and requeued in their old place, and Odoo's own messages never
//! queued back.

use super::backends::Backend;
use super::suite::{group, msg};
use chat_core::clock::now_millis;
use chat_store::*;

pub async fn the_outbox_records_each_change_in_order_and_parks_refusals(b: &dyn Backend) {
    let s = b.open().await;
    let quiet = group(&*s, &["a", "b"]).await; // before the outbox: not queued
    s.enable_outbox();
    let room = group(&*s, &["a", "guest_1_x"]).await;
    let m = s
        .append_message(msg(&room, "a", "hi", Some("c1")))
        .await
        .unwrap()
        .message()
        .clone();
    s.append_message(msg(&room, "a", "hi", Some("c1")))
        .await
        .unwrap(); // duplicate: nothing new
    s.edit_message(&m.id, "hi!".into(), now_millis())
        .await
        .unwrap();
    s.toggle_reaction(&m.id, "b", "👍", now_millis())
        .await
        .unwrap();
    s.mark_read(&room, "guest_1_x", &m.id, now_millis())
        .await
        .unwrap();
    s.delete_message(&m.id, now_millis()).await.unwrap();
    let items = s.outbox_peek(100).await.unwrap();
    let kinds: Vec<&str> = items
        .iter()
        .map(|i| i.item["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "conversation",
            "message",
            "edit",
            "reaction",
            "read",
            "delete"
        ]
    );
    assert_eq!(
        items[0].item["participant_ids"],
        serde_json::json!(["a"]),
        "guests are not Odoo users"
    );
    assert_eq!(items[1].item["uuid"], m.id.as_str());
    assert!(items.iter().all(|i| i
        .item
        .get("conversation_id")
        .is_none_or(|c| c != quiet.as_str())));
    assert!(items.windows(2).all(|w| w[0].seq < w[1].seq));

    s.outbox_done(&[items[0].seq, items[1].seq]).await.unwrap();
    s.outbox_park(items[2].seq, "invalid", "refused")
        .await
        .unwrap();
    assert_eq!(s.outbox_counts().await.unwrap(), (3, 1));
    assert_eq!(s.outbox_peek(1).await.unwrap()[0].seq, items[3].seq);
}

/// Refused items: /health shows the last refusal, and Retry in the back office
/// puts them back where they were in the order (issue 10).
pub async fn dead_letters_report_the_last_refusal_and_requeue_in_their_old_place(b: &dyn Backend) {
    let s = b.open().await;
    s.enable_outbox();
    assert_eq!(s.outbox_last_dead().await.unwrap(), None);
    let room = group(&*s, &["a", "b"]).await;
    let m = s
        .append_message(msg(&room, "a", "hi", Some("c1")))
        .await
        .unwrap()
        .message()
        .clone();
    s.append_message(msg(&room, "b", "later", Some("c2")))
        .await
        .unwrap();
    let items = s.outbox_peek(10).await.unwrap();
    let conv_uuid = items[0].item["uuid"].as_str().unwrap().to_owned();
    s.outbox_park(items[0].seq, "invalid", "two people only")
        .await
        .unwrap();
    s.outbox_park(items[1].seq, "unknown_conversation", "no conversation")
        .await
        .unwrap();
    assert_eq!(s.outbox_counts().await.unwrap(), (1, 2));
    assert_eq!(
        s.outbox_last_dead().await.unwrap(),
        Some(("unknown_conversation".into(), "no conversation".into()))
    );
    let moved = s
        .outbox_requeue(&[conv_uuid, m.id.clone(), "not-parked".into()])
        .await
        .unwrap();
    assert_eq!(moved, 2);
    assert_eq!(s.outbox_counts().await.unwrap(), (3, 0));
    assert_eq!(s.outbox_last_dead().await.unwrap(), None);
    let again = s.outbox_peek(10).await.unwrap();
    assert_eq!(
        again.iter().map(|i| i.seq).collect::<Vec<_>>(),
        items.iter().map(|i| i.seq).collect::<Vec<_>>(),
        "back in their original order, before the later item"
    );
}

pub async fn messages_from_odoo_are_stored_once_and_never_queued_back(b: &dyn Backend) {
    let s = b.open().await;
    s.enable_outbox();
    let room = group(&*s, &["a", "b"]).await;
    let (before, _) = s.outbox_counts().await.unwrap();
    let from_odoo = msg(&room, "b", "from the back office", None);
    assert!(matches!(
        s.import_message(from_odoo.clone()).await.unwrap(),
        Appended::New(_)
    ));
    assert!(matches!(
        s.import_message(from_odoo.clone()).await.unwrap(),
        Appended::Duplicate(_)
    ));
    assert_eq!(s.outbox_counts().await.unwrap(), (before, 0));
    assert_eq!(
        s.message(&from_odoo.id).await.unwrap().unwrap().content,
        "from the back office"
    );
}
