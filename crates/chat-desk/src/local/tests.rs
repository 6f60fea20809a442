//! The in-process desk's decisions, one operation after another; the
//! tests that depend on the time move a [`ManualClock`] instead of sleeping.

use super::*;
use crate::{Status, TransferTo};
use chat_core::clock::ManualClock;
use std::collections::HashMap;
use std::sync::Arc;

fn status(available: bool, max_chats: Option<u32>) -> Status {
    Status {
        available,
        away_message: None,
        max_chats,
    }
}

fn agent(dept: &str, max: u32) -> AgentConfig {
    AgentConfig {
        user_id: String::new(),
        department: dept.into(),
        max_concurrent_chats: max,
        available: true,
        away_message: None,
    }
}

fn desk_with(agents: &[(&str, &str, u32)]) -> LocalDesk {
    let desk = LocalDesk::new(Duration::from_secs(30));
    for (id, dept, max) in agents {
        desk.register_agent(id, Some(&agent(dept, *max)));
        desk.agent_connected(id);
    }
    desk
}

#[test]
fn capacity_is_never_exceeded_and_the_queue_is_gapless() {
    let desk = desk_with(&[
        ("a", "billing", 2),
        ("b", "billing", 2),
        ("c", "general", 1),
    ]);
    let mut assigned = HashMap::<String, usize>::new();
    let mut positions = vec![];
    for i in 0..12 {
        match desk
            .request(&format!("c{i}"), &format!("v{i}"), "billing")
            .0
        {
            Placement::Assigned(a) => *assigned.entry(a).or_default() += 1,
            Placement::Queued {
                position,
                agents_online,
            } => {
                assert!(agents_online);
                positions.push(position)
            }
        }
    }
    assert_eq!(
        assigned,
        HashMap::from([("a".into(), 2), ("b".into(), 2), ("c".into(), 1)])
    );
    assert_eq!(positions, (1..=7).collect::<Vec<_>>());
    assert_eq!(desk.snapshot().queue_length(), 7);
    assert_eq!(desk.snapshot().active_chats(), 5);
}

#[test]
fn an_agent_in_its_grace_period_keeps_its_chats_but_gets_no_new_one() {
    let desk = desk_with(&[("a", "support", 3), ("b", "support", 3)]);
    assert_eq!(
        desk.request("c0", "v0", "support").0,
        Placement::Assigned("a".into())
    );
    let generation = desk.agent_disconnected("a").expect("its last socket");
    for i in 1..4 {
        assert_eq!(
            desk.request(&format!("c{i}"), &format!("v{i}"), "support")
                .0,
            Placement::Assigned("b".into()),
            "new chats go to the connected agent"
        );
    }
    let queued = desk.request("c4", "v4", "support").0;
    assert!(matches!(queued, Placement::Queued { .. }), "{queued:?}");
    assert_eq!(
        desk.snapshot().active_chats(),
        4,
        "a keeps c0 during its grace period"
    );
    assert_eq!(desk.snapshot().agents_available(), 1);
    // Back within the grace period: the old timer does nothing, and the
    // agent takes the queued chat.
    let back = desk.agent_connected("a");
    assert_eq!(back.assigned, vec![("c4".to_string(), "a".to_string())]);
    assert_eq!(desk.grace_expired("a", generation), Changes::default());
    assert_eq!(desk.snapshot().active_chats(), 5);
}

#[test]
fn ending_a_chat_promotes_the_head_and_renumbers_the_rest() {
    let desk = desk_with(&[("a", "sales", 1)]);
    assert_eq!(
        desk.request("c0", "v0", "sales").0,
        Placement::Assigned("a".into())
    );
    desk.request("c1", "v1", "sales");
    desk.request("c2", "v2", "sales");
    let changes = desk.ended("c0");
    assert_eq!(changes.assigned, vec![("c1".to_string(), "a".to_string())]);
    assert_eq!(
        changes.positions,
        vec![("c2".to_string(), "v2".to_string(), 1)]
    );
    assert_eq!(desk.open_chat_of("v0"), None);
    assert_eq!(desk.open_chat_of("v2"), Some("c2".into()));
}

#[test]
fn becoming_available_or_raising_the_limit_takes_from_the_queue() {
    let desk = desk_with(&[("a", "support", 1)]);
    desk.set_status("a", status(false, None));
    let (p, _) = desk.request("c0", "v0", "support");
    assert_eq!(
        p,
        Placement::Queued {
            position: 1,
            agents_online: true
        }
    );
    desk.request("c1", "v1", "support");
    let ch = desk.set_status("a", status(true, None));
    assert_eq!(ch.assigned, vec![("c0".to_string(), "a".to_string())]);
    let ch = desk.set_status("a", status(true, Some(2)));
    assert_eq!(ch.assigned, vec![("c1".to_string(), "a".to_string())]);
}

#[test]
fn departments_queue_separately() {
    let desk = desk_with(&[]);
    let (p1, _) = desk.request("b1", "v1", "billing");
    let (p2, _) = desk.request("s1", "v2", "sales");
    let (p3, _) = desk.request("b2", "v3", "billing");
    assert_eq!(
        p1,
        Placement::Queued {
            position: 1,
            agents_online: false
        }
    );
    assert_eq!(
        p2,
        Placement::Queued {
            position: 1,
            agents_online: false
        }
    );
    assert_eq!(
        p3,
        Placement::Queued {
            position: 2,
            agents_online: false
        }
    );
    // A sales agent takes only sales; a general agent takes the oldest of any.
    desk.register_agent("s", Some(&agent("sales", 5)));
    assert_eq!(
        desk.agent_connected("s").assigned,
        vec![("s1".to_string(), "s".to_string())]
    );
    desk.register_agent("g", Some(&agent("general", 1)));
    assert_eq!(
        desk.agent_connected("g").assigned,
        vec![("b1".to_string(), "g".to_string())]
    );
}

#[test]
fn grace_period_keeps_chats_on_a_quick_reconnect_and_requeues_after() {
    let desk = desk_with(&[("a", "support", 2)]);
    desk.request("c0", "v0", "support");
    desk.request("c1", "v1", "support");
    desk.request("c2", "v2", "support"); // queued at 1
    let g = desk.agent_disconnected("a").unwrap();
    desk.agent_connected("a"); // back in time
    assert_eq!(desk.grace_expired("a", g), Changes::default());
    let g = desk.agent_disconnected("a").unwrap();
    let ch = desk.grace_expired("a", g);
    assert_eq!(ch.requeued.len(), 2);
    // The dropped chats go before the one that was already waiting.
    assert_eq!(desk.snapshot().position("c0"), Some(1));
    assert_eq!(desk.snapshot().position("c1"), Some(2));
    assert_eq!(desk.snapshot().position("c2"), Some(3));
    assert!(ch
        .positions
        .contains(&("c2".to_string(), "v2".to_string(), 3)));
}

#[test]
fn reassigning_moves_the_slot_and_the_freed_slot_takes_from_the_queue() {
    let desk = desk_with(&[("a", "support", 1), ("b", "billing", 1)]);
    assert_eq!(
        desk.request("c0", "v0", "support").0,
        Placement::Assigned("a".into())
    );
    desk.request("c1", "v1", "support"); // queued: a is full
    let moved = desk.reassign("c0", "v0", "b").expect("a change");
    assert_eq!(moved.from.as_deref(), Some("a"));
    // a's freed slot took the head of the queue
    assert_eq!(
        moved.changes.assigned,
        vec![("c1".to_string(), "a".to_string())]
    );
    assert_eq!(desk.snapshot().active_chats(), 2);
    assert_eq!(desk.snapshot().queue_length(), 0);
    // the same reassignment again decides nothing
    assert_eq!(desk.reassign("c0", "v0", "b"), None);
    assert_eq!(desk.snapshot().active_chats(), 2);
    // b counts it: it is full now and takes nothing from the queue
    let (p, _) = desk.request("c2", "v2", "billing");
    assert!(matches!(p, Placement::Queued { position: 1, .. }));
    assert_eq!(desk.open_chat_of("v0"), Some("c0".into()));
}

#[test]
fn reassigning_a_queued_chat_takes_it_out_of_the_queue() {
    let desk = desk_with(&[("a", "sales", 1)]);
    desk.set_status("a", status(false, None));
    desk.request("c0", "v0", "sales");
    desk.request("c1", "v1", "sales");
    assert_eq!(desk.snapshot().position("c1"), Some(2));
    // a manager gives c0 to a (unavailable, but it is a manager's call)
    let moved = desk.reassign("c0", "v0", "a").expect("a change");
    assert_eq!(moved.from, None);
    assert_eq!(desk.snapshot().position("c0"), None);
    assert_eq!(
        moved.changes.positions,
        vec![("c1".to_string(), "v1".to_string(), 1)]
    );
    assert_eq!(desk.snapshot().active_chats(), 1);
    // over its limit by a manager's decision: a takes nothing more
    let ch = desk.set_status("a", status(true, None));
    assert!(ch.assigned.is_empty());
    // ending it frees the slot for the queue's head
    let ch = desk.ended("c0");
    assert_eq!(ch.assigned, vec![("c1".to_string(), "a".to_string())]);
}

#[test]
fn agents_are_counted_by_state_and_the_oldest_wait_follows_the_queue() {
    let clock = Arc::new(ManualClock::at(7_000));
    let desk = desk_at(&clock, &[("a", "sales", 1), ("b", "sales", 1)]);
    desk.agent_connected("a");
    desk.agent_connected("b");
    desk.register_agent("c", Some(&agent("billing", 1)));
    desk.set_status("b", status(false, None));
    assert_eq!(desk.snapshot().oldest_queued_since(), None);
    desk.request("c0", "v0", "sales"); // a takes it: a is at its limit
    desk.request("c1", "v1", "sales"); // queued
    let mut states = desk
        .snapshot()
        .agent_states()
        .into_iter()
        .map(|(d, s)| (d, s.as_str()))
        .collect::<Vec<_>>();
    states.sort();
    assert_eq!(
        states,
        vec![
            ("billing".to_string(), "offline"),
            ("sales".to_string(), "away"),
            ("sales".to_string(), "busy"),
        ]
    );
    assert_eq!(desk.snapshot().oldest_queued_since(), Some(7_000));
    desk.ended("c0"); // a takes c1 from the queue
    assert_eq!(desk.snapshot().oldest_queued_since(), None);
    let mut states = desk
        .snapshot()
        .agent_states()
        .into_iter()
        .map(|(d, s)| (d, s.as_str()))
        .collect::<Vec<_>>();
    states.sort();
    assert_eq!(states[2], ("sales".to_string(), "busy"));
    desk.ended("c1");
    assert!(desk
        .snapshot()
        .agent_states()
        .into_iter()
        .map(|(d, s)| (d, s.as_str()))
        .collect::<Vec<_>>()
        .contains(&("sales".to_string(), "available")));
}

#[test]
fn concurrent_requests_never_overbook() {
    let desk = std::sync::Arc::new(desk_with(&[("a", "billing", 3), ("b", "billing", 2)]));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let desk = desk.clone();
            std::thread::spawn(move || {
                (0..25)
                    .filter(|i| {
                        matches!(
                            desk.request(&format!("c{t}-{i}"), &format!("v{t}-{i}"), "billing")
                                .0,
                            Placement::Assigned(_)
                        )
                    })
                    .count()
            })
        })
        .collect();
    let assigned: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(assigned, 5);
    assert_eq!(desk.snapshot().queue_length(), 195);
    let mut positions: Vec<usize> = desk
        .snapshot()
        .queued_for(None)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    positions.sort();
    assert_eq!(positions, (1..=195).collect::<Vec<_>>());
}
// ---- the console's actions (were crates/chat-gateway/src/support/console.rs)

fn desk(agents: &[(&str, &str, u32)]) -> LocalDesk {
    let desk = LocalDesk::new(Duration::from_secs(1));
    for (id, dept, max) in agents {
        desk.register_agent(
            id,
            Some(&AgentConfig {
                user_id: (*id).into(),
                department: (*dept).into(),
                max_concurrent_chats: *max,
                available: true,
                away_message: None,
            }),
        );
    }
    desk
}

#[test]
fn availability_per_department_counts_general_agents_for_everyone() {
    let d = desk(&[("s", "sales", 1), ("g", "general", 1), ("b", "billing", 1)]);
    d.agent_connected("s");
    d.agent_connected("g");
    let by = d.snapshot().agents_available_by_department();
    assert_eq!(by.get("sales"), Some(&2));
    assert_eq!(
        by.get("billing"),
        Some(&1),
        "b is offline; g serves billing"
    );
    assert_eq!(by.get("general"), Some(&1));
    d.set_status("g", status(false, None));
    assert_eq!(
        d.snapshot().agents_available_by_department().get("billing"),
        Some(&0)
    );
}

#[test]
fn an_admin_who_serves_is_a_general_agent_that_starts_unavailable() {
    let d = desk(&[]);
    d.request("c1", "v1", "billing");
    d.admin_joins("root", 1);
    assert_eq!(
        d.snapshot().agents_available_by_department().get("billing"),
        Some(&0)
    );
    let changes = d.set_status("root", status(true, None));
    assert_eq!(changes.assigned, vec![("c1".into(), "root".into())]);
    // Joining again changes nothing (its chat stays counted).
    d.admin_joins("root", 0);
    assert_eq!(
        d.snapshot().agent_of("c1").map(str::to_owned).as_deref(),
        Some("root")
    );
    assert_eq!(
        d.snapshot().agents_available_by_department().get("sales"),
        Some(&1)
    );
}

#[test]
fn taking_is_once_only_and_within_department_and_limit() {
    let d = desk(&[("s", "sales", 1), ("b", "billing", 1)]);
    // Nobody online: both chats queue.
    d.request("c1", "v1", "sales");
    d.request("c2", "v2", "sales");
    assert_eq!(d.take_queued("c1", "b"), Err(ConsoleError::NotServed));
    let (visitor, changes) = d.take_queued("c1", "s").expect("s takes c1");
    assert_eq!(visitor, "v1");
    assert_eq!(changes.positions, vec![("c2".into(), "v2".into(), 1)]);
    assert_eq!(d.take_queued("c1", "s"), Err(ConsoleError::NotQueued));
    assert_eq!(d.take_queued("c2", "s"), Err(ConsoleError::Full));
    assert_eq!(
        d.snapshot().agent_of("c1").map(str::to_owned).as_deref(),
        Some("s")
    );
}

#[test]
fn transfer_goes_to_an_able_agent_and_the_freed_slot_takes_from_the_queue() {
    let d = desk(&[
        ("a", "support", 1),
        ("b", "support", 1),
        ("c", "billing", 1),
    ]);
    d.agent_connected("a");
    d.request("c1", "v1", "support");
    assert_eq!(
        d.snapshot().agent_of("c1").map(str::to_owned).as_deref(),
        Some("a")
    );
    d.request("c2", "v2", "support"); // a is full, b offline: queued
    assert_eq!(
        d.transfer("c1", TransferTo::Agent("b"), None),
        Err(ConsoleError::TargetBusy)
    );
    assert_eq!(
        d.transfer("c1", TransferTo::Agent("b"), Some("b")),
        Err(ConsoleError::NotYours)
    );
    assert_eq!(
        d.transfer("c1", TransferTo::Agent("a"), None),
        Err(ConsoleError::SameAgent)
    );
    assert_eq!(
        d.transfer("c1", TransferTo::Department("billing"), None),
        Err(ConsoleError::DepartmentBusy)
    );
    d.agent_connected("c");
    let t = d
        .transfer("c1", TransferTo::Department("billing"), None)
        .expect("c takes it");
    assert_eq!((t.from.as_str(), t.to.as_str()), ("a", "c"));
    // a's freed slot took the queued chat.
    assert_eq!(t.changes.assigned, vec![("c2".into(), "a".into())]);
    assert_eq!(
        d.transfer("nope", TransferTo::Agent("b"), None),
        Err(ConsoleError::NotActive)
    );
}

/// A desk on a clock the test moves, with agents registered but not connected.
fn desk_at(clock: &Arc<ManualClock>, agents: &[(&str, &str, u32)]) -> LocalDesk {
    let desk = LocalDesk::with_clock(Duration::from_secs(30), clock.clone());
    for (id, dept, max) in agents {
        desk.register_agent(id, Some(&agent(dept, *max)));
    }
    desk
}

#[test]
fn the_wait_is_measured_on_the_desks_clock_from_queueing_to_taking() {
    let clock = Arc::new(ManualClock::at(1_000));
    let desk = desk_at(&clock, &[("a", "billing", 1)]);
    desk.request("c0", "v0", "billing"); // nobody connected: queued
    assert_eq!(desk.snapshot().oldest_queued_since(), Some(1_000));
    clock.advance(90_000);
    let taken = desk.agent_connected("a");
    assert_eq!(taken.assigned, vec![("c0".to_string(), "a".to_string())]);
    assert_eq!(taken.waited, vec![("billing".to_string(), 90_000)]);
    assert_eq!(desk.snapshot().agent("a").unwrap().last_activity, 91_000);
}

#[test]
fn among_equally_loaded_agents_the_one_idle_longest_takes_the_chat() {
    let clock = Arc::new(ManualClock::at(1_000));
    let desk = desk_at(&clock, &[("a", "sales", 2), ("b", "sales", 2)]);
    desk.agent_connected("a");
    desk.agent_connected("b");
    assert_eq!(
        desk.request("c0", "v0", "sales").0,
        Placement::Assigned("a".into())
    );
    clock.set(2_000);
    assert_eq!(
        desk.request("c1", "v1", "sales").0,
        Placement::Assigned("b".into())
    );
    clock.set(3_000);
    desk.ended("c1"); // b free since 3 000
    clock.set(4_000);
    desk.ended("c0"); // a free since 4 000
                      // Both have no chat; b has waited longer, whatever the ids' order says.
    assert_eq!(
        desk.request("c2", "v2", "sales").0,
        Placement::Assigned("b".into())
    );
}

#[test]
fn a_chat_requeued_after_the_grace_period_waits_from_the_requeue() {
    let clock = Arc::new(ManualClock::at(0));
    let desk = desk_at(&clock, &[("a", "support", 1), ("b", "support", 1)]);
    desk.agent_connected("a");
    assert_eq!(
        desk.request("c0", "v0", "support").0,
        Placement::Assigned("a".into())
    );
    let generation = desk.agent_disconnected("a").expect("a's last socket");
    // The grace period (30 s on this desk) runs out; the gateway's timer
    // calls grace_expired, here without waiting for it.
    clock.set(30_000);
    let expired = desk.grace_expired("a", generation);
    assert_eq!(expired.requeued, vec![("c0".to_string(), "a".to_string())]);
    assert_eq!(desk.snapshot().oldest_queued_since(), Some(30_000));
    clock.set(42_000);
    let taken = desk.agent_connected("b");
    assert_eq!(taken.assigned, vec![("c0".to_string(), "b".to_string())]);
    assert_eq!(taken.waited, vec![("support".to_string(), 12_000)]);
}
