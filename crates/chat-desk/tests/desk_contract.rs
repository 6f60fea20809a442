//! The desk contract, run against both desks: the in-process one and the
//! Redis one (a real redis-server per test), so the Lua script decides as
//! the in-process desk does.

mod support;

use chat_desk::{Changes, Claim, ConsoleError, Desk, LocalDesk, Placement, Status, TransferTo};
use std::time::Duration;
use support::desk::{config, node, status};

async fn local() -> Box<dyn Desk> {
    Box::new(LocalDesk::new(Duration::from_secs(30)))
}

async fn with_agents(desk: &dyn Desk, agents: &[(&str, &str, u32)], connect: bool) {
    for (id, dept, max) in agents {
        desk.register_agent(id, Some(&config(id, dept, *max)))
            .await
            .unwrap();
        if connect {
            desk.agent_connected(id).await.unwrap();
        }
    }
}

async fn grace_keeps_chats_on_a_quick_reconnect_and_requeues_after(desk: &dyn Desk) {
    with_agents(desk, &[("a", "support", 2)], true).await;
    desk.request("c0", "v0", "support").await.unwrap();
    desk.request("c1", "v1", "support").await.unwrap();
    desk.request("c2", "v2", "support").await.unwrap(); // queued at 1
    let g = desk
        .agent_disconnected("a")
        .await
        .unwrap()
        .expect("last socket");
    desk.agent_connected("a").await.unwrap(); // back in time
    assert_eq!(
        desk.grace_expired("a", g).await.unwrap(),
        Changes::default()
    );
    let g = desk
        .agent_disconnected("a")
        .await
        .unwrap()
        .expect("last socket");
    let ch = desk.grace_expired("a", g).await.unwrap();
    assert_eq!(ch.requeued.len(), 2);
    let snap = desk.snapshot().await.unwrap();
    assert_eq!(snap.position("c0"), Some(1));
    assert_eq!(snap.position("c1"), Some(2));
    assert_eq!(snap.position("c2"), Some(3));
    assert!(ch
        .positions
        .contains(&("c2".to_string(), "v2".to_string(), 3)));
    assert!(ch
        .positions
        .contains(&("c0".to_string(), "v0".to_string(), 1)));
}

async fn departments_queue_separately_and_general_takes_the_oldest(desk: &dyn Desk) {
    let q = |position, agents_online| Placement::Queued {
        position,
        agents_online,
    };
    assert_eq!(
        desk.request("b1", "v1", "billing").await.unwrap().0,
        q(1, false)
    );
    assert_eq!(
        desk.request("s1", "v2", "sales").await.unwrap().0,
        q(1, false)
    );
    assert_eq!(
        desk.request("b2", "v3", "billing").await.unwrap().0,
        q(2, false)
    );
    with_agents(desk, &[("s", "sales", 5)], false).await;
    assert_eq!(
        desk.agent_connected("s").await.unwrap().assigned,
        vec![("s1".to_string(), "s".to_string())]
    );
    with_agents(desk, &[("g", "general", 1)], false).await;
    let ch = desk.agent_connected("g").await.unwrap();
    assert_eq!(ch.assigned, vec![("b1".to_string(), "g".to_string())]);
    assert_eq!(ch.positions, vec![("b2".to_string(), "v3".to_string(), 1)]);
    assert_eq!(ch.waited.len(), 1);
}

async fn reassigning_moves_the_slot_and_the_freed_slot_takes_from_the_queue(desk: &dyn Desk) {
    with_agents(desk, &[("a", "support", 1), ("b", "billing", 1)], true).await;
    assert_eq!(
        desk.request("c0", "v0", "support").await.unwrap().0,
        Placement::Assigned("a".into())
    );
    desk.request("c1", "v1", "support").await.unwrap();
    let moved = desk
        .reassign("c0", "v0", "b")
        .await
        .unwrap()
        .expect("a change");
    assert_eq!(moved.from.as_deref(), Some("a"));
    assert_eq!(
        moved.changes.assigned,
        vec![("c1".to_string(), "a".to_string())]
    );
    assert_eq!(desk.reassign("c0", "v0", "b").await.unwrap(), None);
    let snap = desk.snapshot().await.unwrap();
    assert_eq!(snap.active_chats(), 2);
    assert_eq!(snap.queue_length(), 0);
    let (p, _) = desk.request("c2", "v2", "billing").await.unwrap();
    assert!(matches!(p, Placement::Queued { position: 1, .. }));
    assert_eq!(desk.open_chat_of("v0").await.unwrap(), Some("c0".into()));
    // Ending frees it: the visitor has no open chat any more.
    desk.ended("c0").await.unwrap();
    assert_eq!(desk.open_chat_of("v0").await.unwrap(), None);
}

async fn taking_and_transferring_follow_the_consoles_rules(desk: &dyn Desk) {
    with_agents(
        desk,
        &[("s", "sales", 1), ("b", "billing", 1), ("t", "sales", 1)],
        false,
    )
    .await;
    desk.request("c1", "v1", "sales").await.unwrap();
    desk.request("c2", "v2", "sales").await.unwrap();
    assert_eq!(
        desk.take_queued("c1", "b").await.unwrap(),
        Err(ConsoleError::NotServed)
    );
    let (visitor, changes) = desk
        .take_queued("c1", "s")
        .await
        .unwrap()
        .expect("s takes c1");
    assert_eq!(visitor, "v1");
    assert_eq!(changes.positions, vec![("c2".into(), "v2".into(), 1)]);
    assert_eq!(
        desk.take_queued("c1", "s").await.unwrap(),
        Err(ConsoleError::NotQueued)
    );
    assert_eq!(
        desk.take_queued("c2", "s").await.unwrap(),
        Err(ConsoleError::Full)
    );
    assert_eq!(
        desk.transfer("c1", TransferTo::Agent("t"), None)
            .await
            .unwrap(),
        Err(ConsoleError::TargetBusy),
        "t is offline"
    );
    assert_eq!(
        desk.transfer("c1", TransferTo::Agent("t"), Some("t"))
            .await
            .unwrap(),
        Err(ConsoleError::NotYours)
    );
    assert_eq!(
        desk.transfer("c1", TransferTo::Agent("s"), None)
            .await
            .unwrap(),
        Err(ConsoleError::SameAgent)
    );
    assert_eq!(
        desk.transfer("c1", TransferTo::Agent("x"), None)
            .await
            .unwrap(),
        Err(ConsoleError::NoSuchAgent)
    );
    assert_eq!(
        desk.transfer("nope", TransferTo::Agent("t"), None)
            .await
            .unwrap(),
        Err(ConsoleError::NotActive)
    );
    desk.agent_connected("s").await.unwrap();
    desk.agent_connected("t").await.unwrap();
    // t took c2 from the queue when it connected; s is full, so nobody in
    // sales can take c1.
    assert_eq!(
        desk.transfer("c1", TransferTo::Department("sales"), Some("s"))
            .await
            .unwrap(),
        Err(ConsoleError::DepartmentBusy)
    );
    desk.set_status(
        "t",
        Status {
            available: true,
            away_message: None,
            max_chats: Some(2),
        },
    )
    .await
    .unwrap();
    let t = desk
        .transfer("c1", TransferTo::Department("sales"), Some("s"))
        .await
        .unwrap()
        .expect("t takes it");
    assert_eq!((t.from.as_str(), t.to.as_str()), ("s", "t"));
    let snap = desk.snapshot().await.unwrap();
    assert_eq!(snap.agent_of("c1"), Some("t"));
    assert_eq!(snap.agent("t").unwrap().chats.len(), 2);
}

async fn an_admin_who_serves_starts_unavailable(desk: &dyn Desk) {
    desk.request("c1", "v1", "billing").await.unwrap();
    desk.admin_joins("root", 1).await.unwrap();
    let snap = desk.snapshot().await.unwrap();
    assert_eq!(
        snap.agents_available_by_department().get("billing"),
        Some(&0)
    );
    let changes = desk.set_status("root", status(true)).await.unwrap();
    assert_eq!(changes.assigned, vec![("c1".into(), "root".into())]);
    desk.admin_joins("root", 0).await.unwrap();
    let snap = desk.snapshot().await.unwrap();
    assert_eq!(snap.agent_of("c1"), Some("root"));
    assert_eq!(snap.agents_available_by_department().get("sales"), Some(&1));
    assert_eq!(snap.agents_available(), 1);
}

async fn one_open_chat_per_visitor(desk: &dyn Desk) {
    assert_eq!(
        desk.claim("v", "c1", "sales").await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        desk.claim("v", "c2", "sales").await.unwrap(),
        Claim::Open("c1".into())
    );
    assert_eq!(
        desk.claim("v", "c1", "sales").await.unwrap(),
        Claim::Claimed
    );
    desk.release_claim("v", "c1").await.unwrap();
    assert_eq!(desk.open_chat_of("v").await.unwrap(), None);
    assert_eq!(
        desk.claim("v", "c2", "sales").await.unwrap(),
        Claim::Claimed
    );
    desk.request("c2", "v", "sales").await.unwrap();
    desk.release_claim("v", "c2").await.unwrap(); // placed: kept
    assert_eq!(desk.open_chat_of("v").await.unwrap(), Some("c2".into()));
    // Asking again for the same chat counts nothing twice.
    desk.request("c2", "v", "sales").await.unwrap();
    assert_eq!(desk.snapshot().await.unwrap().queue_length(), 1);
}

async fn restoring_is_done_once_and_restored_agents_await_their_grace(desk: &dyn Desk) {
    with_agents(desk, &[("a", "support", 2)], false).await;
    assert!(desk.begin_restore().await.unwrap());
    desk.restore_active("c0", "v0", "support", "a")
        .await
        .unwrap();
    desk.restore_queued("c1", "v1", "support", 1_000)
        .await
        .unwrap();
    let awaiting = desk.awaiting_agents().await.unwrap();
    assert_eq!(awaiting.len(), 1);
    assert_eq!(awaiting[0].0, "a");
    let snap = desk.snapshot().await.unwrap();
    assert_eq!(snap.agent_of("c0"), Some("a"));
    assert_eq!(snap.oldest_queued_since(), Some(1_000));
    assert_eq!(desk.open_chat_of("v1").await.unwrap(), Some("c1".into()));
    // The agent comes back: it takes the queued chat.
    let ch = desk.agent_connected("a").await.unwrap();
    assert_eq!(ch.assigned, vec![("c1".to_string(), "a".to_string())]);
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod local_desk {
            use super::*;
            $(#[tokio::test] async fn $name() { super::$name(local().await.as_ref()).await; })*
        }
        mod redis_desk {
            use super::*;
            $(#[tokio::test] async fn $name() {
                let redis = support::redis();
                let desk = node(&redis, "n1", Duration::from_secs(30)).await;
                super::$name(desk.as_ref()).await;
            })*
        }
    };
}

contract!(
    grace_keeps_chats_on_a_quick_reconnect_and_requeues_after,
    departments_queue_separately_and_general_takes_the_oldest,
    reassigning_moves_the_slot_and_the_freed_slot_takes_from_the_queue,
    taking_and_transferring_follow_the_consoles_rules,
    an_admin_who_serves_starts_unavailable,
    one_open_chat_per_visitor,
    restoring_is_done_once_and_restored_agents_await_their_grace,
);
