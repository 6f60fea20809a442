//! The contract for what the store keeps besides the chat: attachment
//! metadata (claims, room links, quotas, the sweep) and notification state
//! (push subscriptions, notification windows). Run for every backend by
//! `contract/main.rs`, like the other area files.

use super::backends::Backend;
use chat_store::*;
use std::collections::HashSet;
use std::sync::Arc;

fn upload(id: &str, uploader: &str, bytes: &str, size: u64, at: i64) -> AttachmentRecord {
    AttachmentRecord {
        id: id.into(),
        sha256: format!("{bytes:0>64}"),
        name: format!("{id}.txt"),
        mime: "text/plain".into(),
        size,
        uploader: uploader.into(),
        created_at: at,
        attached_at: None,
        has_thumbnail: false,
    }
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub async fn attachments_are_claimed_only_by_their_uploader(b: &dyn Backend) {
    let s = b.open().await;
    s.add_attachment(upload("a1", "ada", "1", 10, 1_000))
        .await
        .unwrap();
    s.add_attachment(upload("b1", "ben", "2", 20, 1_000))
        .await
        .unwrap();
    assert!(
        matches!(
            s.add_attachment(upload("a1", "ben", "3", 5, 2_000)).await,
            Err(StoreError::Conflict(_))
        ),
        "an id is taken once"
    );
    assert_eq!(s.attachment("a1").await.unwrap().unwrap().uploader, "ada");

    // Someone else's upload, alone or beside one's own: refused, and
    // nothing is marked (not even one's own).
    for attempt in [
        ids(&["b1"]),
        ids(&["a1", "b1"]),
        ids(&["a1", "nope"]),
        ids(&["a1\0"]),
    ] {
        assert!(
            matches!(
                s.claim_attachments(&attempt, "ada", 5_000).await,
                Err(StoreError::NotFound)
            ),
            "{attempt:?}"
        );
    }
    assert_eq!(s.attachment("a1").await.unwrap().unwrap().attached_at, None);
    assert_eq!(s.attachment("b1").await.unwrap().unwrap().attached_at, None);

    let got = s
        .claim_attachments(&ids(&["a1"]), "ada", 5_000)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].id.as_str(), got[0].attached_at),
        ("a1", Some(5_000))
    );
    // Claimed again (the same file in a second message): still the
    // uploader's, the first claim's time stays.
    let again = s
        .claim_attachments(&ids(&["a1", "a1"]), "ada", 9_000)
        .await
        .unwrap();
    assert_eq!(again.len(), 2, "one record per id asked");
    assert!(again.iter().all(|r| r.attached_at == Some(5_000)));
    assert!(
        matches!(
            s.claim_attachments(&ids(&["a1"]), "ben", 9_000).await,
            Err(StoreError::NotFound)
        ),
        "claimed or not, never another user's"
    );
    assert!(s.attachment("nope").await.unwrap().is_none());
    assert!(s.attachment("a1\0").await.unwrap().is_none());

    // Room links: once per room, only for attachments that exist.
    s.link_attachments(&ids(&["a1"]), "room-2").await.unwrap();
    s.link_attachments(&ids(&["a1"]), "room-1").await.unwrap();
    s.link_attachments(&ids(&["a1"]), "room-1").await.unwrap();
    assert_eq!(
        s.attachment_rooms("a1").await.unwrap(),
        vec!["room-1", "room-2"]
    );
    assert!(matches!(
        s.link_attachments(&ids(&["ghost"]), "room-1").await,
        Err(StoreError::NotFound)
    ));
    assert!(s.attachment_rooms("ghost").await.unwrap().is_empty());
    assert!(s.attachment_rooms("b1").await.unwrap().is_empty());

    // Another handle (another node) sees the same.
    let other = b.open().await;
    assert_eq!(
        other.attachment("a1").await.unwrap().unwrap().attached_at,
        Some(5_000)
    );
    assert_eq!(other.attachment_rooms("a1").await.unwrap().len(), 2);
}

pub async fn attachment_usage_counts_an_uploaders_recent_uploads(b: &dyn Backend) {
    let s = b.open().await;
    s.add_attachment(upload("u1", "ada", "1", 3, 1_000))
        .await
        .unwrap();
    s.add_attachment(upload("u2", "ada", "2", 5, 2_000))
        .await
        .unwrap();
    s.add_attachment(upload("u3", "ben", "3", 7, 2_000))
        .await
        .unwrap();
    assert_eq!(s.attachment_usage_since("ada", 0).await.unwrap(), (2, 8));
    assert_eq!(
        s.attachment_usage_since("ada", 1_500).await.unwrap(),
        (1, 5)
    );
    assert_eq!(s.attachment_usage_since("nobody", 0).await.unwrap(), (0, 0));
    assert_eq!(s.attachment_usage_since("ada\0", 0).await.unwrap(), (0, 0));
}

pub async fn the_attachment_sweep_takes_only_old_unattached_uploads(b: &dyn Backend) {
    let s = b.open().await;
    s.add_attachment(upload("old", "ada", "1", 1, 1_000))
        .await
        .unwrap();
    s.add_attachment(upload("shared-old", "ada", "2", 1, 1_000))
        .await
        .unwrap();
    s.add_attachment(upload("shared-new", "ben", "2", 1, 9_000))
        .await
        .unwrap();
    s.add_attachment(upload("used", "ada", "3", 1, 1_000))
        .await
        .unwrap();
    s.claim_attachments(&ids(&["used"]), "ada", 2_000)
        .await
        .unwrap();
    s.link_attachments(&ids(&["used"]), "room-1").await.unwrap();

    let swept = s.sweep_attachments(5_000, 100).await.unwrap();
    assert_eq!(swept.removed, 2);
    assert_eq!(
        swept.orphaned_blobs,
        vec![format!("{:0>64}", "1")],
        "the shared blob is still used by a newer upload"
    );
    assert!(s.attachment("old").await.unwrap().is_none());
    assert!(s.attachment("shared-old").await.unwrap().is_none());
    assert!(s.attachment("shared-new").await.unwrap().is_some());
    assert!(s.attachment("used").await.unwrap().is_some());
    assert_eq!(s.attachment_rooms("used").await.unwrap(), vec!["room-1"]);
    assert!(!s.blob_in_use(&format!("{:0>64}", "1")).await.unwrap());
    assert!(s.blob_in_use(&format!("{:0>64}", "2")).await.unwrap());
    assert!(!s.blob_in_use("x\0").await.unwrap());
    assert_eq!(
        s.sweep_attachments(5_000, 100).await.unwrap(),
        SweptAttachments::default()
    );
    // A swept upload cannot be claimed any more.
    assert!(matches!(
        s.claim_attachments(&ids(&["old"]), "ada", 9_000).await,
        Err(StoreError::NotFound)
    ));

    // At most `limit` a round, oldest first.
    for i in 0..5 {
        s.add_attachment(upload(&format!("batch-{i}"), "ada", "4", 1, 100 + i))
            .await
            .unwrap();
    }
    let first = s.sweep_attachments(5_000, 2).await.unwrap();
    assert_eq!(first.removed, 2);
    assert!(first.orphaned_blobs.is_empty(), "three more use the blob");
    assert!(s.attachment("batch-0").await.unwrap().is_none());
    assert!(s.attachment("batch-2").await.unwrap().is_some());
    let rest = s.sweep_attachments(5_000, 10).await.unwrap();
    assert_eq!(rest.removed, 3);
    assert_eq!(rest.orphaned_blobs, vec![format!("{:0>64}", "4")]);
}

/// Nodes claim and sweep the same old uploads at once: every claim that
/// succeeded keeps its record, every upload a sweep removed fails its claim,
/// and each upload is removed at most once.
pub async fn concurrent_claims_and_sweeps_never_lose_a_claimed_upload(b: &dyn Backend) {
    let setup = b.open().await;
    const N: usize = 60;
    for i in 0..N {
        setup
            .add_attachment(upload(&format!("c{i}"), "ada", &format!("{i}"), 1, 1_000))
            .await
            .unwrap();
    }
    let claimer = b.open().await;
    let claims = tokio::spawn(async move {
        let mut claimed = HashSet::new();
        for i in 0..N {
            let id = format!("c{i}");
            match claimer
                .claim_attachments(std::slice::from_ref(&id), "ada", 2_000)
                .await
            {
                Ok(_) => {
                    claimed.insert(id);
                }
                Err(StoreError::NotFound) => {}
                Err(e) => panic!("claim {id}: {e}"),
            }
        }
        claimed
    });
    let mut sweeps = vec![];
    for _ in 0..2 {
        let sweeper: Arc<dyn Store> = b.open().await;
        sweeps.push(tokio::spawn(async move {
            let mut removed = 0;
            for _ in 0..N {
                removed += sweeper.sweep_attachments(5_000, 3).await.unwrap().removed;
            }
            removed
        }));
    }
    let claimed = claims.await.unwrap();
    eprintln!("claimed {} of {N} while two nodes swept", claimed.len());
    let mut removed = 0;
    for s in sweeps {
        removed += s.await.unwrap();
    }
    let mut left = 0;
    for i in 0..N {
        let id = format!("c{i}");
        let record = setup.attachment(&id).await.unwrap();
        assert_eq!(
            record.is_some(),
            claimed.contains(&id),
            "{id}: claimed iff kept"
        );
        left += record.is_some() as usize;
    }
    assert_eq!(left + removed, N, "each upload removed at most once");
}

pub async fn push_subscriptions_are_kept_per_user(b: &dyn Backend) {
    let s = b.open().await;
    let sub = |e: &str| PushSubscriptionRecord {
        endpoint: e.into(),
        p256dh: format!("key-{e}"),
        auth: "auth".into(),
    };
    s.add_push_subscription("1", sub("https://a/1"), 1)
        .await
        .unwrap();
    s.add_push_subscription("1", sub("https://a/2"), 2)
        .await
        .unwrap();
    s.add_push_subscription("2", sub("https://a/3"), 3)
        .await
        .unwrap();
    let of = |subs: Vec<PushSubscriptionRecord>| {
        subs.into_iter().map(|s| s.endpoint).collect::<Vec<_>>()
    };
    assert_eq!(
        of(s.push_subscriptions("1").await.unwrap()),
        ["https://a/1", "https://a/2"]
    );
    // The browser of endpoint 2 subscribes under another login: it moves.
    let mut renewed = sub("https://a/2");
    renewed.auth = "renewed".into();
    s.add_push_subscription("2", renewed.clone(), 4)
        .await
        .unwrap();
    assert_eq!(
        of(s.push_subscriptions("1").await.unwrap()),
        ["https://a/1"]
    );
    let twos = s.push_subscriptions("2").await.unwrap();
    assert_eq!(twos.len(), 2);
    assert!(twos.contains(&renewed));

    // A user removes only its own subscription.
    assert!(
        !s.remove_push_subscription("1", "https://a/3")
            .await
            .unwrap(),
        "not its own"
    );
    assert!(!s
        .remove_push_subscription("1", "https://a/none")
        .await
        .unwrap());
    assert!(!s
        .remove_push_subscription("1", "https://a/1\0")
        .await
        .unwrap());
    assert_eq!(s.push_subscriptions("2").await.unwrap().len(), 2);
    assert!(s
        .remove_push_subscription("1", "https://a/1")
        .await
        .unwrap());
    assert!(
        !s.remove_push_subscription("1", "https://a/1")
            .await
            .unwrap(),
        "already gone"
    );
    assert!(s.push_subscriptions("1").await.unwrap().is_empty());

    // Forgotten whoever it belongs to (the push service said it is gone),
    // and another node sees that.
    s.forget_push_endpoint("https://a/3").await.unwrap();
    s.forget_push_endpoint("https://a/never").await.unwrap();
    let other = b.open().await;
    assert_eq!(
        of(other.push_subscriptions("2").await.unwrap()),
        ["https://a/2"]
    );
}

pub async fn notification_windows_open_once_per_window(b: &dyn Backend) {
    let s = b.open().await;
    let (u1, u2) = ("u1".to_string(), "u2".to_string());
    let both = vec![u1.clone(), u2.clone(), u1.clone()];
    let mut opened = s
        .open_notify_windows(&both, "r1", 1_000, 300)
        .await
        .unwrap();
    opened.sort();
    assert_eq!(opened, [u1.clone(), u2.clone()], "each user once");
    assert!(s
        .open_notify_windows(&both, "r1", 1_299, 300)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.open_notify_windows(std::slice::from_ref(&u1), "r2", 1_299, 300)
            .await
            .unwrap(),
        std::slice::from_ref(&u1),
        "another conversation has its own window"
    );
    assert_eq!(
        s.open_notify_windows(std::slice::from_ref(&u1), "r1", 1_300, 300)
            .await
            .unwrap(),
        std::slice::from_ref(&u1),
        "the window has passed"
    );
    assert!(s
        .open_notify_windows(&[], "r1", 1_300, 300)
        .await
        .unwrap()
        .is_empty());

    // Released (nothing was delivered): the next message tries again. A
    // release of an older window changes nothing.
    s.release_notify_window("u2", "r1", 999).await.unwrap();
    assert!(s
        .open_notify_windows(std::slice::from_ref(&u2), "r1", 1_100, 300)
        .await
        .unwrap()
        .is_empty());
    s.release_notify_window("u2", "r1", 1_000).await.unwrap();
    assert_eq!(
        s.open_notify_windows(std::slice::from_ref(&u2), "r1", 1_100, 300)
            .await
            .unwrap(),
        std::slice::from_ref(&u2)
    );

    // Several nodes asking at once: one window, one notification.
    let nodes = [b.open().await, b.open().await, b.open().await];
    for round in 0..10 {
        let room = format!("race-{round}");
        let asks: Vec<_> = nodes
            .iter()
            .map(|n| {
                let (n, room) = (n.clone(), room.clone());
                tokio::spawn(async move {
                    n.open_notify_windows(&["u9".to_string()], &room, 5_000, 300)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut winners = 0;
        for a in asks {
            winners += a.await.unwrap().len();
        }
        assert_eq!(winners, 1, "round {round}");
    }
}
