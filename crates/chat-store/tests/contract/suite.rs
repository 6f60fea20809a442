//! The contract every `Store` keeps, written once against a [`Backend`] and
//! run for each backend by `tests/contract.rs`.

use super::backends::Backend;
use chat_core::clock::{new_id, now_millis};
use chat_core::model::{ConversationType, MessageType};
use chat_core::Role;
use chat_store::*;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn msg(conv: &str, author: &str, content: &str, client_id: Option<&str>) -> NewMessage {
    NewMessage {
        id: new_id(),
        conversation_id: conv.into(),
        author_id: author.into(),
        author_name: author.to_uppercase(),
        content: content.into(),
        kind: MessageType::Text,
        attachments: vec![],
        parent_id: None,
        client_id: client_id.map(Into::into),
        at: now_millis(),
    }
}

pub async fn group(s: &dyn Store, members: &[&str]) -> String {
    let id = new_id();
    s.create_conversation(NewConversation {
        id: id.clone(),
        kind: ConversationType::Group,
        name: Some("g".into()),
        created_by: members[0].into(),
        participants: members.iter().map(|m| m.to_string()).collect(),
        support: None,
        at: now_millis(),
    })
    .await
    .unwrap();
    id
}

async fn append(s: &dyn Store, room: &str, author: &str, content: &str) -> Message {
    s.append_message(msg(room, author, content, None))
        .await
        .unwrap()
        .message()
        .clone()
}

fn page(limit: usize) -> Page {
    Page {
        limit,
        ..Page::default()
    }
}

use chat_core::model::Message;

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

pub async fn direct_conversations_are_one_per_pair(b: &dyn Backend) {
    let s = b.open().await;
    let mk = |a: &str, x: &str| NewConversation {
        id: new_id(),
        kind: ConversationType::Direct,
        name: None,
        created_by: a.into(),
        participants: vec![a.into(), x.into()],
        support: None,
        at: now_millis(),
    };
    let (c1, created1) = s.create_conversation(mk("x", "y")).await.unwrap();
    let (c2, created2) = s.create_conversation(mk("y", "x")).await.unwrap();
    assert!(created1 && !created2);
    assert_eq!(c1.id, c2.id);
    assert_eq!(s.find_direct("y", "x").await.unwrap(), Some(c1.id));
    // Created at once from two handles: still one.
    let other = b.open().await;
    let (r1, r2) = tokio::join!(
        s.create_conversation(mk("p", "q")),
        other.create_conversation(mk("q", "p"))
    );
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    assert_eq!(r1.0.id, r2.0.id);
    assert!(r1.1 ^ r2.1, "exactly one of them created it");
    assert!(matches!(
        s.create_conversation(NewConversation {
            participants: vec!["x".into()],
            ..mk("x", "y")
        })
        .await,
        Err(StoreError::Conflict(_))
    ));
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

pub async fn unread_counts_follow_read_receipts_and_ignore_own_messages(b: &dyn Backend) {
    let s = b.open().await;
    let room = group(&*s, &["a", "b"]).await;
    let m1 = append(&*s, &room, "a", "1").await;
    let m2 = append(&*s, &room, "a", "2").await;
    append(&*s, &room, "b", "mine").await;
    let unread = |u: &'static str| {
        let (s, room) = (s.clone(), room.clone());
        async move { s.summary_for(&room, u).await.unwrap().unwrap().unread_count }
    };
    // b wrote after a's messages, which marks the room read for b.
    assert_eq!(unread("b").await, 0);
    assert_eq!(unread("a").await, 1);
    s.mark_read(&room, "a", &m2.id, now_millis()).await.unwrap();
    assert_eq!(unread("a").await, 1);
    s.mark_read(&room, "a", &m1.id, now_millis()).await.unwrap();
    // Marking an older message does not move the read state back.
    assert_eq!(unread("a").await, 1);
    // A message id from another room is refused.
    let other = group(&*s, &["a", "c"]).await;
    let foreign = append(&*s, &other, "c", "x").await;
    assert!(matches!(
        s.mark_read(&room, "a", &foreign.id, now_millis()).await,
        Err(StoreError::NotFound)
    ));
    // The list: newest activity first, with the last message.
    let list = s.conversations_of("a", None).await.unwrap();
    assert_eq!(
        list.iter()
            .map(|c| c.record.id.as_str())
            .collect::<Vec<_>>(),
        vec![other.as_str(), room.as_str()]
    );
    assert_eq!(list[1].last_message.as_ref().unwrap().content, "mine");
    assert_eq!(list[1].record.participants, vec!["a", "b"]);
    assert!(s
        .conversations_of("a", Some(ConversationType::Direct))
        .await
        .unwrap()
        .is_empty());
}

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

pub async fn a_failing_write_does_not_spoil_its_batch(b: &dyn Backend) {
    let s = b.open().await;
    let room = group(&*s, &["a", "b"]).await;
    let mut tasks = vec![];
    for i in 0..200 {
        let s = s.clone();
        let target = if i % 10 == 0 {
            "no-such-room".to_string()
        } else {
            room.clone()
        };
        tasks.push(tokio::spawn(async move {
            s.append_message(msg(&target, "a", &format!("{i}"), None))
                .await
                .is_ok()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap() as usize;
    }
    assert_eq!(ok, 180, "only the 20 writes to a missing room fail");
    assert_eq!(s.transcript(&room).await.unwrap().len(), 180);
}

/// The child half of the crash test: writes until killed, printing each acked id.
pub async fn crash_child() {
    let (Ok(kind), Ok(at), Ok(room)) = (
        std::env::var("CHAT_STORE_CRASH_KIND"),
        std::env::var("CHAT_STORE_CRASH_AT"),
        std::env::var("CHAT_STORE_CRASH_ROOM"),
    ) else {
        return;
    };
    let s = super::backends::open_located(&kind, &at).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // Many concurrent writers so acks arrive from commits of several messages.
    for w in 0..8 {
        let (s, room, tx) = (s.clone(), room.clone(), tx.clone());
        tokio::spawn(async move {
            for i in 0..100_000 {
                let m = s
                    .append_message(msg(&room, "a", &format!("{w}-{i}"), None))
                    .await
                    .unwrap();
                if tx.send(m.message().id.clone()).is_err() {
                    break;
                }
            }
        });
    }
    let mut out = std::io::stdout();
    while let Some(id) = rx.recv().await {
        use std::io::Write;
        writeln!(out, "{id}").unwrap();
        out.flush().unwrap();
    }
}

pub async fn acked_messages_survive_sigkill(b: &dyn Backend) {
    let room = {
        let s = b.open().await;
        let r = group(&*s, &["a", "b"]).await;
        s.close();
        r
    };
    let (kind, at) = b.locate();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CHAT_STORE_CRASH_KIND", kind)
        .env("CHAT_STORE_CRASH_AT", &at)
        .env("CHAT_STORE_CRASH_ROOM", &room)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = vec![];
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.len() == 36 {
            acked.push(line);
        }
        if acked.len() >= 2_000 {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no flush.
    child.wait().unwrap();
    assert!(acked.len() >= 2_000, "child acked only {}", acked.len());
    let s = b.open().await;
    let stored: HashSet<String> = s
        .transcript(&room)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    let missing: Vec<_> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} acked messages lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );
}

pub async fn users_upsert_keeps_the_latest_claims(b: &dyn Backend) {
    let s = b.open().await;
    let user = |name: &str, role, email: Option<&str>| UserRecord {
        id: "1".into(),
        name: name.into(),
        role,
        email: email.map(Into::into),
    };
    s.upsert_user(user("Ada", Role::Student, Some("a@x.io")))
        .await
        .unwrap();
    s.upsert_user(user("Ada L", Role::Instructor, None))
        .await
        .unwrap();
    let u = s.users(&["1".into(), "404".into()]).await.unwrap();
    assert_eq!(u.len(), 1);
    assert_eq!(
        (u[0].name.as_str(), u[0].role, u[0].email.as_deref()),
        ("Ada L", Role::Instructor, Some("a@x.io"))
    );
    s.upsert_users(vec![
        UserRecord {
            id: "2".into(),
            ..user("Bo", Role::Admin, None)
        },
        user("Ada", Role::Student, None),
    ])
    .await
    .unwrap();
    let all = s.all_users().await.unwrap();
    assert_eq!(
        all.iter()
            .map(|u| (u.id.as_str(), u.name.as_str()))
            .collect::<Vec<_>>(),
        vec![("1", "Ada"), ("2", "Bo")]
    );
}

pub async fn participants_come_and_go(b: &dyn Backend) {
    let s = b.open().await;
    let room = group(&*s, &["a", "b"]).await;
    assert!(s.add_participant(&room, "c").await.unwrap());
    assert!(!s.add_participant(&room, "c").await.unwrap());
    assert!(!s.add_participant("no-such-room", "c").await.unwrap());
    s.add_participants(&room, &["d".into(), "a".into()])
        .await
        .unwrap();
    assert_eq!(
        s.conversation(&room)
            .await
            .unwrap()
            .unwrap()
            .participants
            .len(),
        4
    );
    assert!(s.remove_participant(&room, "d").await.unwrap());
    assert!(!s.remove_participant(&room, "d").await.unwrap());
    assert_eq!(
        s.conversation_ids_of("c").await.unwrap(),
        vec![room.clone()]
    );
    assert!(s.conversation("nope").await.unwrap().is_none());
}

pub async fn support_bookkeeping(b: &dyn Backend) {
    let s = b.open().await;
    let support = |visitor: &str, at| NewConversation {
        id: new_id(),
        kind: ConversationType::Support,
        name: None,
        created_by: visitor.into(),
        participants: vec![visitor.into()],
        support: Some(SupportRecord {
            visitor_id: visitor.into(),
            visitor_name: "Vi".into(),
            visitor_email: "vi@example.org".into(),
            query_type: "billing".into(),
            department: "support".into(),
            agent_id: None,
            status: SupportStatus::Queued,
            started_at: at,
            ended_at: None,
            rating: None,
            rating_comment: None,
            page_url: (visitor == "guest_1").then(|| "https://seitech.example/courses/py".into()),
        }),
        at,
    };
    let now = now_millis();
    let (first, _) = s
        .create_conversation(support("guest_1", now))
        .await
        .unwrap();
    let (second, _) = s
        .create_conversation(support("guest_2", now + 1))
        .await
        .unwrap();
    let queued = s
        .support_conversations(SupportStatus::Queued)
        .await
        .unwrap();
    assert_eq!(
        queued.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        vec![first.id.as_str(), second.id.as_str()],
        "oldest first"
    );
    assert_eq!(
        queued
            .iter()
            .map(|c| c.support.as_ref().and_then(|s| s.page_url.as_deref()))
            .collect::<Vec<_>>(),
        vec![Some("https://seitech.example/courses/py"), None],
        "the page the visitor came from is kept"
    );
    assert!(!s.agent_served("5", "guest_1").await.unwrap());
    let r = s
        .update_support(
            &first.id,
            SupportUpdate {
                agent_id: Some(Some("5".into())),
                status: Some(SupportStatus::Active),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let sup = r.support.unwrap();
    assert_eq!(
        (sup.agent_id.as_deref(), sup.status),
        (Some("5"), SupportStatus::Active)
    );
    assert!(s.agent_served("5", "guest_1").await.unwrap());
    let r = s
        .update_support(
            &first.id,
            SupportUpdate {
                status: Some(SupportStatus::Ended),
                ended_at: Some(now + 10),
                rating: Some((4, Some("good".into()))),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let sup = r.support.unwrap();
    assert_eq!(
        (
            sup.status,
            sup.ended_at,
            sup.rating,
            sup.rating_comment.as_deref(),
            sup.agent_id.as_deref()
        ),
        (
            SupportStatus::Ended,
            Some(now + 10),
            Some(4),
            Some("good"),
            Some("5")
        )
    );
    let group_room = group(&*s, &["a", "b"]).await;
    assert!(matches!(
        s.update_support(&group_room, SupportUpdate::default())
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.update_support("nope", SupportUpdate::default()).await,
        Err(StoreError::NotFound)
    ));
    // Transcripts: at most 3 per window, counted across handles.
    let other = b.open().await;
    let mut sent = 0;
    for i in 0..5 {
        let h = if i % 2 == 0 { &s } else { &other };
        sent += h
            .record_transcript(&first.id, now + i, 3_600_000, 3)
            .await
            .unwrap() as u32;
    }
    assert_eq!(sent, 3);
    assert!(s
        .record_transcript(&first.id, now + 3_600_010, 3_600_000, 3)
        .await
        .unwrap());
}

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
