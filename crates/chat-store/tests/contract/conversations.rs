//! The contract for conversations and the people in them: direct
//! conversations one per pair, participants, unread counts, users, and the
//! support bookkeeping.

use super::backends::Backend;
use super::suite::{append, group};
use chat_core::clock::{new_id, now_millis};
use chat_core::model::ConversationType;
use chat_core::Role;
use chat_store::*;

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
