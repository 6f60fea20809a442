//! The contract for `sync`: every change (new, edited, deleted, imported) is
//! found by position, and none is skipped when commits interleave.

use super::backends::Backend;
use super::suite::{append, group, msg};
use chat_core::clock::{new_id, now_millis};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub async fn sync_returns_new_edited_and_deleted_messages_in_order(b: &dyn Backend) {
    let s = b.open().await;
    let room = group(&*s, &["a", "b"]).await;
    let not_mine = group(&*s, &["c", "d"]).await;
    let old = append(&*s, &room, "a", "old").await;
    let to_delete = append(&*s, &room, "a", "bye").await;
    let seen = append(&*s, &room, "a", "seen").await;
    let new1 = append(&*s, &room, "b", "n1").await;
    append(&*s, &not_mine, "c", "secret").await;
    s.edit_message(&old.id, "old, edited".into(), now_millis())
        .await
        .unwrap();
    s.delete_message(&to_delete.id, now_millis()).await.unwrap();
    // New and edited since: returned once, at its latest change.
    s.edit_message(&new1.id, "n1, edited".into(), now_millis())
        .await
        .unwrap();
    let new2 = append(&*s, &room, "a", "n2").await;
    let (got, more) = s.sync("b", &seen.id, 500).await.unwrap();
    assert!(!more);
    let ids: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            old.id.as_str(),
            to_delete.id.as_str(),
            new1.id.as_str(),
            new2.id.as_str()
        ],
        "by position: the order the changes committed in"
    );
    assert_eq!(got[0].content, "old, edited");
    assert_eq!(got[2].content, "n1, edited");
    assert!(got[1].deleted_at.is_some() && got[1].content.is_empty());
    let (first, more) = s.sync("b", &seen.id, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(more);
    // Nothing after the newest change; an unknown id reads from the start.
    assert!(s.sync("b", &new2.id, 10).await.unwrap().0.is_empty());
    let (all, _) = s.sync("b", &new_id(), 500).await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(s.sync("nobody", "", 10).await.unwrap().0.is_empty());
}

pub async fn messages_from_odoo_are_found_by_sync_whatever_their_id(b: &dyn Backend) {
    let s = b.open().await;
    let room = group(&*s, &["a", "b"]).await;
    // Written in Odoo before the client's last message, imported after it.
    let from_odoo = msg(&room, "b", "from the back office", None);
    let seen = append(&*s, &room, "a", "seen").await;
    assert!(from_odoo.id < seen.id);
    s.import_message(from_odoo.clone()).await.unwrap();
    let (got, _) = s.sync("a", &seen.id, 10).await.unwrap();
    assert_eq!(
        got.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        vec![from_odoo.id.as_str()]
    );
}

/// What the concurrency scenario saw.
pub struct Interleaving {
    pub acked: Vec<String>,
    pub seen: Vec<String>,
}

impl Interleaving {
    /// Acked messages the reader never got, and messages it got twice.
    pub fn faults(&self) -> (Vec<&String>, Vec<&String>) {
        let seen: HashSet<&String> = self.seen.iter().collect();
        let missing = self.acked.iter().filter(|id| !seen.contains(id)).collect();
        let mut count: HashMap<&String, usize> = HashMap::new();
        for id in &self.seen {
            *count.entry(id).or_default() += 1;
        }
        let twice = count
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(id, _)| id)
            .collect();
        (missing, twice)
    }
}

/// Several writers, each on its own handle (connections), interleave
/// commits with random delays between taking their positions and
/// committing, while a reader on another handle calls `sync` continuously
/// from the last message it got, as a reconnecting client does.
pub async fn interleave(b: &dyn Backend) -> Interleaving {
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 60;
    let main = b.open().await;
    let rooms = [
        group(&*main, &["reader", "w0", "w1", "w2", "w3"]).await,
        group(&*main, &["reader", "w0", "w1", "w2", "w3"]).await,
    ];
    let start = append(&*main, &rooms[0], "w0", "start").await.id;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut writers = vec![];
    for w in 0..WRITERS {
        let s = b.open_delayed(Duration::from_millis(8)).await;
        for lane in 0..2 {
            let (s, rooms, acked) = (s.clone(), rooms.clone(), acked.clone());
            writers.push(tokio::spawn(async move {
                for i in 0..PER_WRITER / 2 {
                    let room = &rooms[(i + lane) % 2];
                    let m = s
                        .append_message(msg(
                            room,
                            &format!("w{w}"),
                            &format!("{w}.{lane}.{i}"),
                            None,
                        ))
                        .await
                        .unwrap();
                    acked.lock().unwrap().push(m.message().id.clone());
                }
            }));
        }
    }
    let reader = b.open().await;
    let mut cursor = start;
    let mut seen = vec![];
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(
            Instant::now() < deadline,
            "the scenario did not finish in 120 s"
        );
        let writing = writers.iter().any(|w| !w.is_finished());
        let (got, more) = reader.sync("reader", &cursor, 25).await.unwrap();
        if let Some(last) = got.last() {
            cursor = last.id.clone();
        }
        seen.extend(got.into_iter().map(|m| m.id));
        if !writing && !more {
            // Everything was acked before this sync began: it saw it all.
            break;
        }
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), WRITERS * PER_WRITER);
    Interleaving { acked, seen }
}

pub async fn sync_never_skips_a_message_committed_late(b: &dyn Backend) {
    let run = interleave(b).await;
    let (missing, twice) = run.faults();
    assert!(
        missing.is_empty() && twice.is_empty(),
        "{} acked messages never synced, {} synced twice (of {})",
        missing.len(),
        twice.len(),
        run.acked.len()
    );
}
