//! The store contract suite: every test re-exported by `contract/suite.rs`
//! (one file per area: messages, conversations, sync, durability, outbox,
//! media) runs against the SQLite store and against the PostgreSQL store (a real server, see
//! `contract/backends.rs`), plus what only exists with several nodes on one
//! database (the outbox drained by several nodes) and the proof that the
//! concurrency test catches a store that hands out positions before commit.

mod backends;
mod conversations;
mod durability;
mod media;
mod messages;
mod outbox;
mod suite;
mod sync;

use backends::Backend;

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let b = super::backends::sqlite();
                    super::suite::$name(&b).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let b = super::backends::postgres().await;
                    super::suite::$name(&b).await;
                }
            )*

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn the_outbox_is_drained_once_in_order_by_several_nodes() {
                let b = super::backends::postgres().await;
                super::outbox_drained_by_several_nodes(&b).await;
            }

            /// The concurrency test has teeth: with positions handed out
            /// before commit (a sequence, no lock), `sync` skips messages
            /// that committed after a later-numbered one, and the test sees it.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn the_concurrency_test_fails_on_positions_taken_before_commit() {
                let b = super::backends::postgres_naive().await;
                let run = super::suite::interleave(&b).await;
                let (missing, _) = run.faults();
                eprintln!(
                    "naive positions: {} of {} acked messages never synced",
                    missing.len(),
                    run.acked.len()
                );
                assert!(
                    !missing.is_empty(),
                    "positions taken before commit should have made sync skip messages"
                );
            }
        }
    };
}

contract!(
    client_id_makes_a_resend_return_the_first_message,
    direct_conversations_are_one_per_pair,
    history_pages_both_ways_and_caps_the_limit,
    unread_counts_follow_read_receipts_and_ignore_own_messages,
    sync_returns_new_edited_and_deleted_messages_in_order,
    messages_from_odoo_are_found_by_sync_whatever_their_id,
    reactions_toggle_per_user,
    concurrent_reactions_are_all_kept,
    a_failing_write_does_not_spoil_its_batch,
    acked_messages_survive_sigkill,
    users_upsert_keeps_the_latest_claims,
    participants_come_and_go,
    support_bookkeeping,
    the_outbox_records_each_change_in_order_and_parks_refusals,
    dead_letters_report_the_last_refusal_and_requeue_in_their_old_place,
    messages_from_odoo_are_stored_once_and_never_queued_back,
    the_store_assigns_message_ids_not_the_caller,
    the_appended_message_is_what_a_read_returns,
    sync_never_skips_a_message_committed_late,
    attachments_are_claimed_only_by_their_uploader,
    attachment_usage_counts_an_uploaders_recent_uploads,
    the_attachment_sweep_takes_only_old_unattached_uploads,
    concurrent_claims_and_sweeps_never_lose_a_claimed_upload,
    push_subscriptions_are_kept_per_user,
    notification_windows_open_once_per_window,
);

/// A database that cannot be reached is `Unavailable` at once, and a
/// malformed URL is refused, not a panic or a hang.
#[tokio::test]
async fn an_unreachable_postgres_is_unavailable() {
    use chat_store::postgres::PgStore;
    use chat_store::StoreError;
    // Port 1 on loopback: nothing listens there.
    let closed = PgStore::open("postgres://postgres@127.0.0.1:1/chat").await;
    assert!(matches!(closed, Err(StoreError::Unavailable(_))));
    let malformed = PgStore::open("postgres://[not a url").await;
    assert!(matches!(malformed, Err(StoreError::Unavailable(_))));
}

/// Run by `acked_messages_survive_sigkill` as a child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by acked_messages_survive_sigkill as a child process"]
async fn crash_child() {
    suite::crash_child().await;
}

/// Two nodes write changes and both run the outbox drain loop; the first
/// stops half-way (its drain connection closes, as when a node dies). Every
/// item reaches "Odoo" exactly once, in commit order, so in order per
/// conversation.
async fn outbox_drained_by_several_nodes(b: &dyn Backend) {
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    let nodes = [b.open().await, b.open().await];
    for n in &nodes {
        n.enable_outbox();
    }
    let room = suite::group(&*nodes[0], &["a", "b"]).await;
    // Node 0 drains first: it takes the drain lock now.
    assert!(nodes[0].outbox_peek(0).await.unwrap().is_empty());
    let delivered: Arc<Mutex<Vec<(usize, i64, serde_json::Value)>>> = Default::default();
    let writing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut drains = vec![];
    for (i, node) in nodes.iter().enumerate() {
        let (node, delivered, writing) = (node.clone(), delivered.clone(), writing.clone());
        drains.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut rounds = 0;
            while Instant::now() < deadline {
                if i == 0 && rounds == 20 {
                    node.close(); // node 0 goes away; node 1 takes over
                    return;
                }
                let items = match node.outbox_peek(5).await {
                    Ok(items) => items,
                    Err(e) => panic!("node {i}: {e}"),
                };
                if items.is_empty() {
                    if !writing.load(std::sync::atomic::Ordering::SeqCst)
                        && node.outbox_counts().await.unwrap().0 == 0
                    {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                rounds += 1;
                {
                    let mut d = delivered.lock().unwrap();
                    for it in &items {
                        d.push((i, it.seq, it.item.clone()));
                    }
                }
                let seqs: Vec<i64> = items.iter().map(|i| i.seq).collect();
                node.outbox_done(&seqs).await.unwrap();
            }
            panic!("node {i}: outbox not drained in 60 s");
        }));
    }
    let mut writers = vec![];
    for w in 0..2 {
        // The writers' own handles, as the nodes' request handlers.
        let node = b.open().await;
        node.enable_outbox();
        let room = room.clone();
        writers.push(tokio::spawn(async move {
            let mut ids = vec![];
            for i in 0..100 {
                let m = node
                    .append_message(suite::msg(&room, "a", &format!("{w}-{i}"), None))
                    .await
                    .unwrap();
                ids.push(m.message().id.clone());
                if i % 10 == 0 {
                    node.edit_message(
                        &m.message().id,
                        format!("{w}-{i} edited"),
                        chat_core::clock::now_millis(),
                    )
                    .await
                    .unwrap();
                }
            }
            ids
        }));
    }
    let mut acked = HashSet::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    writing.store(false, std::sync::atomic::Ordering::SeqCst);
    for d in drains {
        d.await.unwrap();
    }
    let delivered = delivered.lock().unwrap();
    let seqs: Vec<i64> = delivered.iter().map(|d| d.1).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "items went out of commit order or twice"
    );
    let messages: Vec<&str> = delivered
        .iter()
        .filter(|d| d.2["kind"] == "message")
        .map(|d| d.2["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 200, "every message once");
    assert_eq!(messages.iter().copied().collect::<HashSet<_>>().len(), 200);
    assert!(messages.iter().all(|m| acked.contains(*m)));
    // Each edit after its message.
    for (at, d) in delivered.iter().enumerate() {
        if d.2["kind"] == "edit" {
            let id = d.2["message_id"].as_str().unwrap();
            assert!(delivered[..at].iter().any(|e| e.2["uuid"] == id));
        }
    }
    assert!(delivered.iter().any(|d| d.0 == 0) && delivered.iter().any(|d| d.0 == 1));
}
