use super::*;
use chat_core::clock::{new_id, now_millis};
use chat_core::model::MessageType;
use chat_core::Role;
use std::io::{BufRead, BufReader};

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).unwrap();
    (dir, s)
}

fn msg(conv: &str, author: &str, content: &str, client_id: Option<&str>) -> NewMessage {
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

async fn group(s: &SqliteStore, members: &[&str]) -> String {
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

#[tokio::test]
async fn client_id_makes_a_resend_return_the_first_message() {
    let (_d, s) = store();
    let room = group(&s, &["a", "b"]).await;
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
    assert_eq!(
        s.history(
            &room,
            Page {
                limit: 50,
                ..Page::default()
            }
        )
        .await
        .unwrap()
        .0
        .len(),
        2
    );
}

#[tokio::test]
async fn direct_conversations_are_one_per_pair() {
    let (_d, s) = store();
    let mk = |a: &str, b: &str| NewConversation {
        id: new_id(),
        kind: ConversationType::Direct,
        name: None,
        created_by: a.into(),
        participants: vec![a.into(), b.into()],
        support: None,
        at: now_millis(),
    };
    let (c1, created1) = s.create_conversation(mk("x", "y")).await.unwrap();
    let (c2, created2) = s.create_conversation(mk("y", "x")).await.unwrap();
    assert!(created1 && !created2);
    assert_eq!(c1.id, c2.id);
    assert_eq!(s.find_direct("y", "x").await.unwrap(), Some(c1.id));
}

#[tokio::test]
async fn history_pages_both_ways_and_caps_the_limit() {
    let (_d, s) = store();
    let room = group(&s, &["a", "b"]).await;
    let mut ids = vec![];
    for i in 0..130 {
        ids.push(
            s.append_message(msg(&room, "a", &format!("m{i}"), None))
                .await
                .unwrap()
                .message()
                .id
                .clone(),
        );
    }
    let (newest, more) = s
        .history(
            &room,
            Page {
                limit: 500,
                ..Page::default()
            },
        )
        .await
        .unwrap();
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
}

#[tokio::test]
async fn unread_counts_follow_read_receipts_and_ignore_own_messages() {
    let (_d, s) = store();
    let room = group(&s, &["a", "b"]).await;
    let m1 = s.append_message(msg(&room, "a", "1", None)).await.unwrap();
    let m2 = s.append_message(msg(&room, "a", "2", None)).await.unwrap();
    s.append_message(msg(&room, "b", "mine", None))
        .await
        .unwrap();
    async fn unread_in(s: &SqliteStore, room: &str, u: &str) -> u64 {
        s.summary_for(room, u).await.unwrap().unwrap().unread_count
    }
    let unread = |s, u| unread_in(s, &room, u);
    // b wrote after a's messages, which marks the room read for b.
    assert_eq!(unread(&s, "b").await, 0);
    assert_eq!(unread(&s, "a").await, 1);
    s.mark_read(&room, "a", &m2.message().id, now_millis())
        .await
        .unwrap();
    // b's reply is newer than m2, so a still has one unread.
    assert_eq!(unread(&s, "a").await, 1);
    s.mark_read(&room, "a", &m1.message().id, now_millis())
        .await
        .unwrap();
    // Marking an older message does not move the read state back.
    assert_eq!(unread(&s, "a").await, 1);
    // A message id from another room is refused.
    let other = group(&s, &["a", "c"]).await;
    let foreign = s.append_message(msg(&other, "c", "x", None)).await.unwrap();
    assert!(matches!(
        s.mark_read(&room, "a", &foreign.message().id, now_millis())
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn sync_returns_new_edited_and_deleted_messages_in_order() {
    let (_d, s) = store();
    let room = group(&s, &["a", "b"]).await;
    let not_mine = group(&s, &["c", "d"]).await;
    let old = s
        .append_message(msg(&room, "a", "old", None))
        .await
        .unwrap()
        .message()
        .clone();
    let to_delete = s
        .append_message(msg(&room, "a", "bye", None))
        .await
        .unwrap()
        .message()
        .clone();
    let seen = s
        .append_message(msg(&room, "a", "seen", None))
        .await
        .unwrap()
        .message()
        .clone();
    // Everything below happens strictly after `seen`'s millisecond.
    while now_millis() <= chat_core::clock::id_millis(&seen.id).unwrap() {
        std::hint::spin_loop();
    }
    let new1 = s
        .append_message(msg(&room, "b", "n1", None))
        .await
        .unwrap()
        .message()
        .clone();
    s.append_message(msg(&not_mine, "c", "secret", None))
        .await
        .unwrap();
    s.edit_message(&old.id, "old, edited".into(), now_millis())
        .await
        .unwrap();
    s.delete_message(&to_delete.id, now_millis()).await.unwrap();
    // New and edited since: found by both halves of the query, returned once.
    s.edit_message(&new1.id, "n1, edited".into(), now_millis())
        .await
        .unwrap();
    let new2 = s
        .append_message(msg(&room, "a", "n2", None))
        .await
        .unwrap()
        .message()
        .clone();
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
        ]
    );
    assert_eq!(got[0].content, "old, edited");
    assert_eq!(got[2].content, "n1, edited");
    assert!(got[1].deleted_at.is_some() && got[1].content.is_empty());
    let (page, more) = s.sync("b", &seen.id, 2).await.unwrap();
    assert_eq!(page.len(), 2);
    assert!(more);
}

#[tokio::test]
async fn reactions_toggle_per_user() {
    let (_d, s) = store();
    let room = group(&s, &["a", "b"]).await;
    let m = s
        .append_message(msg(&room, "a", "x", None))
        .await
        .unwrap()
        .message()
        .id
        .clone();
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
}

#[tokio::test]
async fn a_failing_write_does_not_spoil_its_batch() {
    let (_d, s) = store();
    let s = Arc::new(s);
    let room = group(&s, &["a", "b"]).await;
    let mut tasks = vec![];
    for i in 0..200 {
        let s = s.clone();
        let room = room.clone();
        tasks.push(tokio::spawn(async move {
            let target = if i % 10 == 0 {
                "no-such-room".to_string()
            } else {
                room
            };
            s.append_message(msg(&target, "a", &format!("{i}"), None))
                .await
                .is_ok()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap() as usize;
    }
    assert_eq!(
        ok, 180,
        "only the 20 writes to a missing room fail (foreign key)"
    );
    assert_eq!(s.transcript(&room).await.unwrap().len(), 180);
}

/// The child half of the crash test: writes until killed, printing each acked id.
#[tokio::test]
#[ignore = "run by acked_messages_survive_sigkill as a child process"]
async fn crash_child() {
    let Ok(dir) = std::env::var("CHAT_STORE_CRASH_DIR") else {
        return;
    };
    let s = Arc::new(SqliteStore::open(Path::new(&dir)).unwrap());
    let room = std::env::var("CHAT_STORE_CRASH_ROOM").unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // Many concurrent writers so acks arrive from group commits of several messages.
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

#[tokio::test]
async fn acked_messages_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let room = {
        let s = SqliteStore::open(dir.path()).unwrap();
        let r = group(&s, &["a", "b"]).await;
        s.close();
        r
    };
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "sqlite::tests::crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CHAT_STORE_CRASH_DIR", dir.path())
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
    let s = SqliteStore::open(dir.path()).unwrap();
    let stored: std::collections::HashSet<String> = s
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

#[tokio::test]
async fn users_upsert_keeps_the_latest_claims() {
    let (_d, s) = store();
    s.upsert_user(UserRecord {
        id: "1".into(),
        name: "Ada".into(),
        role: Role::Student,
        email: Some("a@x.io".into()),
    })
    .await
    .unwrap();
    s.upsert_user(UserRecord {
        id: "1".into(),
        name: "Ada L".into(),
        role: Role::Instructor,
        email: None,
    })
    .await
    .unwrap();
    let u = s.users(&["1".into(), "404".into()]).await.unwrap();
    assert_eq!(u.len(), 1);
    assert_eq!(
        (u[0].name.as_str(), u[0].role, u[0].email.as_deref()),
        ("Ada L", Role::Instructor, Some("a@x.io"))
    );
}

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

#[tokio::test]
async fn the_outbox_records_each_change_in_order_and_parks_refusals() {
    let (_d, s) = store();
    let quiet = group(&s, &["a", "b"]).await; // before the outbox: not queued
    s.enable_outbox();
    let room = group(&s, &["a", "guest_1_x"]).await;
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

#[tokio::test]
async fn messages_from_odoo_are_stored_once_and_never_queued_back() {
    let (_d, s) = store();
    s.enable_outbox();
    let room = group(&s, &["a", "b"]).await;
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

#[tokio::test]
async fn the_store_assigns_message_ids_not_the_caller() {
    let (_d, s) = store();
    let s = Arc::new(s);
    let room = group(&s, &["a", "b"]).await;
    // Ids made by callers before queueing could commit out of order; the
    // store makes its own, in the writer, so storage order is id order.
    let mut tasks = vec![];
    for i in 0..300 {
        let (s, room) = (s.clone(), room.clone());
        tasks.push(tokio::spawn(async move {
            let mut m = msg(&room, "a", &format!("{i}"), None);
            m.id = "00000000-0000-7000-8000-000000000000".into(); // ignored
            s.append_message(m).await.unwrap().message().id.clone()
        }));
    }
    let mut ids = vec![];
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    let stored: Vec<String> = s
        .transcript(&room)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(stored.len(), 300);
    assert!(!stored.iter().any(|id| id.starts_with("00000000")));
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(stored, sorted);
}

#[tokio::test]
async fn the_appended_message_is_what_a_read_returns() {
    let (_d, s) = store();
    let room = group(&s, &["a", "b"]).await;
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
}

#[test]
fn new_messages_enter_no_changed_at_index_and_sync_still_uses_indexes() {
    let d = tempfile::tempdir().unwrap();
    let mut c = Connection::open(d.path().join("plan.db")).unwrap();
    schema::migrate(&mut c).unwrap();
    c.execute_batch(
        "INSERT INTO conversations (id, kind, created_by, created_at, last_activity_at) \
         VALUES ('r', 'group', 'a', 0, 0); \
         INSERT INTO messages (id, conversation_id, author_id, author_name, content, kind, \
         created_at, changed_at) VALUES ('m1', 'r', 'a', 'A', 'hi', 'text', 1, 1);",
    )
    .unwrap();
    // The partial index holds only edited or deleted messages.
    let indexed: i64 = c
        .query_row(
            "SELECT count(*) FROM messages INDEXED BY messages_revised \
             WHERE conversation_id = 'r' AND changed_at >= 0 \
             AND (edited_at IS NOT NULL OR deleted_at IS NOT NULL)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexed, 0);
    // Both halves of `sync` search an index; none scans the messages table.
    let sql = format!("EXPLAIN QUERY PLAN {}", sync_sql());
    let plan: Vec<String> = c
        .prepare(&sql)
        .unwrap()
        .query_map(params!["u", "", 0, 10], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let searches: Vec<&String> = plan.iter().filter(|l| l.contains("messages")).collect();
    assert!(
        searches.iter().any(|l| l.contains("messages_room"))
            && searches.iter().any(|l| l.contains("messages_revised"))
            && !searches.iter().any(|l| l.starts_with("SCAN messages")),
        "{plan:?}"
    );
}

#[tokio::test]
async fn dead_letters_report_the_last_refusal_and_requeue_in_their_old_place() {
    let (_d, s) = store();
    s.enable_outbox();
    assert_eq!(s.outbox_last_dead().await.unwrap(), None);
    let room = group(&s, &["a", "b"]).await;
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
