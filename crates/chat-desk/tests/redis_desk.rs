//! The Redis desk against a real redis-server, with several desk instances
//! (one per gateway node) deciding at the same time. The contract both desks
//! keep is in desk_contract.rs.

mod support;

use chat_desk::{Changes, Claim, ConsoleError, Placement};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};
use support::desk::{config, node, status};

/// 60 visitors spread over three nodes, each submitting twice (a double
/// click, on another node), against four agents on different nodes with a
/// total capacity of 12: exactly 12 assigned, none over its limit, the other
/// 48 queued once each with positions 1..=48; then ending chats pulls the
/// queue's head, in order, and renumbers the rest without a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_visitors_on_three_nodes_against_a_capacity_of_twelve() {
    let redis = support::redis();
    let grace = Duration::from_secs(60);
    let nodes = [
        node(&redis, "n1", grace).await,
        node(&redis, "n2", grace).await,
        node(&redis, "n3", grace).await,
    ];
    let agents = [
        (config("a1", "support", 3), 0),
        (config("a2", "support", 2), 1),
        (config("a3", "general", 4), 2),
        (config("a4", "support", 3), 0),
    ];
    // Every node loads the directory at start-up, at the same time.
    let mut starts = Vec::new();
    for n in &nodes {
        for (c, _) in &agents {
            let (n, c) = (n.clone(), c.clone());
            starts.push(tokio::spawn(async move {
                n.register_agent(&c.user_id, Some(&c)).await
            }));
        }
    }
    for s in starts {
        s.await.expect("no panic").expect("registered");
    }
    for (c, on) in &agents {
        let changes = nodes[*on]
            .agent_connected(&c.user_id)
            .await
            .expect("connected");
        assert!(changes.assigned.is_empty(), "nothing was queued yet");
    }

    let mut visitors = Vec::new();
    for i in 0..60 {
        // The visitor submits the form twice, from two tabs on two nodes.
        for tab in 0..2 {
            let desk = nodes[(i + tab) % 3].clone();
            visitors.push(tokio::spawn(async move {
                let (visitor, conv) = (format!("v{i:02}"), format!("c{i:02}-{tab}"));
                match desk.claim(&visitor, &conv, "support").await.expect("claim") {
                    Claim::Open(existing) => (visitor, existing, None),
                    Claim::Claimed => {
                        let (placement, _) = desk
                            .request(&conv, &visitor, "support")
                            .await
                            .expect("request");
                        (visitor, conv, Some(placement))
                    }
                }
            }));
        }
    }
    let mut placed: BTreeMap<String, (String, Placement)> = BTreeMap::new();
    let mut answered: HashMap<String, BTreeSet<String>> = HashMap::new();
    for v in visitors {
        let (visitor, conv, placement) = v.await.expect("no panic");
        answered
            .entry(visitor.clone())
            .or_default()
            .insert(conv.clone());
        if let Some(p) = placement {
            assert!(
                placed.insert(visitor.clone(), (conv, p)).is_none(),
                "{visitor} was placed twice"
            );
        }
    }
    assert_eq!(placed.len(), 60, "every visitor placed once");
    for (visitor, convs) in &answered {
        assert_eq!(
            convs.len(),
            1,
            "both tabs of {visitor} got the same chat: {convs:?}"
        );
    }
    let assigned: Vec<&String> = placed
        .values()
        .filter_map(|(_, p)| match p {
            Placement::Assigned(a) => Some(a),
            Placement::Queued { .. } => None,
        })
        .collect();
    assert_eq!(assigned.len(), 12, "exactly the capacity is assigned");
    let mut positions: Vec<usize> = placed
        .values()
        .filter_map(|(_, p)| match p {
            Placement::Queued {
                position,
                agents_online,
            } => {
                assert!(agents_online);
                Some(*position)
            }
            Placement::Assigned(_) => None,
        })
        .collect();
    positions.sort();
    assert_eq!(positions, (1..=48).collect::<Vec<_>>(), "told positions");

    // Every node sees the same desk: each agent exactly at its limit.
    let snapshots = [
        nodes[0].snapshot().await.expect("snapshot"),
        nodes[1].snapshot().await.expect("snapshot"),
        nodes[2].snapshot().await.expect("snapshot"),
    ];
    assert_eq!(snapshots[0], snapshots[1]);
    assert_eq!(snapshots[1], snapshots[2]);
    let desk = &snapshots[0];
    for (c, _) in &agents {
        let a = desk.agent(&c.user_id).expect("known agent");
        assert_eq!(
            a.chats.len() as u32,
            c.max_concurrent_chats,
            "{} is full",
            c.user_id
        );
    }
    assert_eq!(desk.active_chats(), 12);
    let queue = desk.queue_view(None);
    assert_eq!(
        queue.iter().map(|q| q.position).collect::<Vec<_>>(),
        (1..=48).collect::<Vec<_>>()
    );
    for q in &queue {
        let (conv, p) = &placed[&q.visitor_id];
        assert_eq!(conv, &q.conversation_id);
        assert_eq!(
            p,
            &Placement::Queued {
                position: q.position,
                agents_online: true
            }
        );
    }

    // Ending chats, one at a time on rotating nodes: each pulls the head of
    // the queue and every queued visitor is told its new position.
    let mut active: Vec<String> = desk.agents.iter().flat_map(|a| a.chats.clone()).collect();
    let mut told: HashMap<String, usize> = queue
        .iter()
        .map(|q| (q.visitor_id.clone(), q.position))
        .collect();
    let mut waiting: Vec<String> = queue.iter().map(|q| q.conversation_id.clone()).collect();
    for round in 0..12 {
        let ending = active.remove(0);
        let freed_by = desk.agent_of(&ending).map(str::to_owned);
        let changes = nodes[round % 3].ended(&ending).await.expect("ended");
        let head = waiting.remove(0);
        assert_eq!(changes.assigned.len(), 1, "one slot freed, one chat taken");
        assert_eq!(
            changes.assigned[0].0, head,
            "the head of the queue is taken"
        );
        // The freed agent is the only one under its limit.
        assert_eq!(Some(changes.assigned[0].1.clone()), freed_by);
        active.push(head);
        assert_eq!(changes.positions.len(), waiting.len(), "everyone moved up");
        for (_, visitor, position) in changes.positions {
            told.insert(visitor, position);
        }
        let now = nodes[(round + 1) % 3].snapshot().await.expect("snapshot");
        let view = now.queue_view(None);
        assert_eq!(
            view.iter()
                .map(|q| q.conversation_id.clone())
                .collect::<Vec<_>>(),
            waiting
        );
        for q in &view {
            assert_eq!(
                told[&q.visitor_id], q.position,
                "told = actual for {}",
                q.visitor_id
            );
        }
        assert_eq!(
            view.iter().map(|q| q.position).collect::<Vec<_>>(),
            (1..=waiting.len()).collect::<Vec<_>>()
        );
        for a in &now.agents {
            assert!(
                a.chats.len() as u32 <= a.max_chats,
                "{} over its limit",
                a.id
            );
        }
    }
    // Ends at the same time on three nodes: as many chats taken, from the
    // head, and still nobody over its limit.
    let head: BTreeSet<String> = waiting.iter().take(12).cloned().collect();
    let ends: Vec<_> = active
        .drain(..12)
        .enumerate()
        .map(|(i, conv)| {
            let n = nodes[i % 3].clone();
            tokio::spawn(async move { n.ended(&conv).await })
        })
        .collect();
    let mut taken = BTreeSet::new();
    for e in ends {
        let changes: Changes = e.await.expect("no panic").expect("ended");
        taken.extend(changes.assigned.into_iter().map(|(c, _)| c));
    }
    assert_eq!(taken, head, "the 12 at the head were taken");
    let end = nodes[0].snapshot().await.expect("snapshot");
    assert_eq!(end.active_chats(), 12);
    assert_eq!(end.queue_length(), 24);
    assert_eq!(
        end.queue_view(None)
            .iter()
            .map(|q| q.position)
            .collect::<Vec<_>>(),
        (1..=24).collect::<Vec<_>>()
    );
    for a in &end.agents {
        assert!(a.chats.len() as u32 <= a.max_chats);
    }
}

/// A node that dies (stops beating) loses its agents' sockets on the next
/// sweep by another node; the agent's grace period then starts, and when it
/// ends its chats go back to the head of the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_agents_expire_then_their_chats_are_requeued() {
    let redis = support::redis();
    let grace = Duration::from_millis(300);
    let dying = node(&redis, "dying", grace).await;
    let alive = node(&redis, "alive", grace).await;
    dying
        .register_agent("a", Some(&config("a", "support", 2)))
        .await
        .unwrap();
    alive
        .register_agent("b", Some(&config("b", "support", 1)))
        .await
        .unwrap();
    dying.maintain().await.unwrap();
    dying.agent_connected("a").await.unwrap();
    alive.agent_connected("b").await.unwrap();
    for i in 0..3 {
        alive
            .request(&format!("c{i}"), &format!("v{i}"), "support")
            .await
            .unwrap();
    }
    // c0 → a (least loaded, ties by id), c1 → b, c2 → a
    let before = alive.snapshot().await.unwrap();
    assert_eq!(before.agent("a").unwrap().chats, vec!["c0", "c2"]);
    assert_eq!(before.agent("b").unwrap().chats, vec!["c1"]);
    alive.request("c3", "v3", "support").await.unwrap();

    // "dying" beats no more. The live node sweeps until the grace period of
    // a, which started when the dead node's sockets were dropped, has ended.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut requeued = Vec::new();
    while requeued.is_empty() {
        assert!(Instant::now() < deadline, "a's chats were never requeued");
        requeued = alive.maintain().await.unwrap().changes.requeued;
        if requeued.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(
        requeued,
        vec![
            ("c0".to_string(), "a".to_string()),
            ("c2".to_string(), "a".to_string())
        ]
    );
    let after = alive.snapshot().await.unwrap();
    let a = after.agent("a").unwrap();
    assert!(!a.online && !a.connected && a.chats.is_empty());
    // Back at the head, oldest first, before the chat that was waiting.
    assert_eq!(
        after
            .queue
            .iter()
            .map(|q| q.conversation_id.as_str())
            .collect::<Vec<_>>(),
        vec!["c0", "c2", "c3"]
    );
}

/// A draining node hands its sockets back at once: an agent that reconnects
/// to another node within its grace period keeps its chats; one that does
/// not loses them when the grace period ends, swept by a node that lives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_hands_its_agents_back() {
    let redis = support::redis();
    let grace = Duration::from_millis(300);
    let draining = node(&redis, "draining", grace).await;
    let other = node(&redis, "other", grace).await;
    for id in ["a", "b"] {
        draining
            .register_agent(id, Some(&config(id, "support", 1)))
            .await
            .unwrap();
        draining.agent_connected(id).await.unwrap();
    }
    draining.request("ca", "va", "support").await.unwrap();
    draining.request("cb", "vb", "support").await.unwrap();
    draining.node_leaving("draining").await.unwrap();
    let snap = other.snapshot().await.unwrap();
    for id in ["a", "b"] {
        let agent = snap.agent(id).unwrap();
        assert!(agent.online && !agent.connected, "{id} in its grace period");
    }
    assert_eq!(snap.agents_available(), 0);
    // Its sockets close after that: nothing is counted twice.
    assert_eq!(draining.agent_disconnected("a").await.unwrap(), None);
    // a comes back on the other node, in time.
    other.agent_connected("a").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut requeued = Vec::new();
    while requeued.is_empty() {
        assert!(Instant::now() < deadline, "b's chat was never requeued");
        requeued = other.maintain().await.unwrap().changes.requeued;
        if requeued.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(requeued, vec![("cb".to_string(), "b".to_string())]);
    let snap = other.snapshot().await.unwrap();
    assert_eq!(snap.agent("a").unwrap().chats, vec!["ca"]);
    assert!(snap.agent("a").unwrap().connected);
    assert_eq!(snap.position("cb"), Some(1));
    // The drained node beats no more: a later maintain there changes nothing
    // about it being gone.
    draining.maintain().await.unwrap();
    assert!(!other.snapshot().await.unwrap().agent("b").unwrap().online);
}

/// A node that was taken for dead while it was only slow puts its sockets
/// back on its next heartbeat.
#[tokio::test]
async fn a_slow_node_puts_its_sockets_back_on_its_next_beat() {
    let redis = support::redis();
    let grace = Duration::from_secs(60);
    let slow = node(&redis, "slow", grace).await;
    let other = node(&redis, "other", grace).await;
    slow.register_agent("a", Some(&config("a", "support", 1)))
        .await
        .unwrap();
    slow.agent_connected("a").await.unwrap();
    other.node_leaving("slow").await.unwrap(); // as a sweep would
    assert!(
        !other
            .snapshot()
            .await
            .unwrap()
            .agent("a")
            .unwrap()
            .connected
    );
    slow.maintain().await.unwrap();
    let a = other.snapshot().await.unwrap();
    let a = a.agent("a").unwrap();
    assert!(a.connected && a.online);
}

/// Redis restarted empty: the next upkeep says the desk's state is lost,
/// and one node rebuilds it.
#[tokio::test]
async fn a_lost_desk_is_noticed_by_the_upkeep() {
    let redis = support::redis();
    let first = node(&redis, "n1", Duration::from_secs(30)).await;
    let second = node(&redis, "n2", Duration::from_secs(30)).await;
    assert!(first.begin_restore().await.unwrap());
    assert!(!first.maintain().await.unwrap().lost);
    redis.flush_all().expect("FLUSHALL");
    assert!(second.maintain().await.unwrap().lost);
    assert!(second.begin_restore().await.unwrap());
    assert!(!first.begin_restore().await.unwrap());
    assert!(!first.maintain().await.unwrap().lost);
}

/// A second node finds the desk restored already.
#[tokio::test]
async fn only_the_first_node_restores() {
    let redis = support::redis();
    let first = node(&redis, "n1", Duration::from_secs(30)).await;
    let second = node(&redis, "n2", Duration::from_secs(30)).await;
    assert!(first.begin_restore().await.unwrap());
    assert!(!second.begin_restore().await.unwrap());
}

/// Two agents on two nodes take the same queued chat at once: one gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_taken_on_two_nodes_at_once_goes_to_one_agent() {
    let redis = support::redis();
    let grace = Duration::from_secs(30);
    let (n1, n2) = (
        node(&redis, "n1", grace).await,
        node(&redis, "n2", grace).await,
    );
    for (n, id) in [(&n1, "s1"), (&n2, "s2")] {
        n.register_agent(id, Some(&config(id, "sales", 3)))
            .await
            .unwrap();
        n.set_status(id, status(false)).await.unwrap();
        n.agent_connected(id).await.unwrap();
    }
    n1.request("c", "v", "sales").await.unwrap();
    let (a, b) = tokio::join!(
        {
            let n1 = n1.clone();
            async move { n1.take_queued("c", "s1").await.unwrap() }
        },
        {
            let n2 = n2.clone();
            async move { n2.take_queued("c", "s2").await.unwrap() }
        }
    );
    let outcomes = [a.is_ok(), b.is_ok()];
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "{a:?} {b:?}");
    let lost = if a.is_ok() { b } else { a };
    assert_eq!(lost, Err(ConsoleError::NotQueued));
    let snap = n2.snapshot().await.unwrap();
    assert_eq!(snap.active_chats(), 1);
    assert_eq!(snap.queue_length(), 0);
}

/// An agent with a tab on each of two nodes stays connected when one closes:
/// no grace period starts; the last one anywhere starts it.
#[tokio::test]
async fn an_agent_is_connected_while_any_node_holds_a_socket() {
    let redis = support::redis();
    let grace = Duration::from_secs(30);
    let (n1, n2) = (
        node(&redis, "n1", grace).await,
        node(&redis, "n2", grace).await,
    );
    n1.register_agent("a", Some(&config("a", "support", 2)))
        .await
        .unwrap();
    n1.agent_connected("a").await.unwrap();
    n2.agent_connected("a").await.unwrap();
    assert_eq!(n1.agent_disconnected("a").await.unwrap(), None);
    let snap = n1.snapshot().await.unwrap();
    assert!(snap.agent("a").unwrap().connected);
    assert_eq!(snap.agents_available(), 1);
    let generation = n2.agent_disconnected("a").await.unwrap();
    assert!(generation.is_some(), "the last socket anywhere");
    let snap = n1.snapshot().await.unwrap();
    let a = snap.agent("a").unwrap();
    assert!(a.online && !a.connected, "in its grace period");
}

/// Redis goes away: a decision fails (bounded by the command timeout) and
/// changes nothing; a socket that closes meanwhile is still counted out.
/// Redis comes back empty: the desk reconnects, reloads its script, says the
/// state is lost, and this node's open sockets are counted again once its
/// agents are known again.
#[tokio::test]
async fn while_redis_is_away_decisions_fail_and_then_the_desk_is_rebuilt() {
    let mut redis = support::redis();
    let desk = node(&redis, "n1", Duration::from_secs(30)).await;
    assert!(desk.begin_restore().await.unwrap());
    for id in ["a", "b"] {
        desk.register_agent(id, Some(&config(id, "support", 2)))
            .await
            .unwrap();
        desk.agent_connected(id).await.unwrap();
    }
    redis
        .outage(async {
            assert!(desk.request("c0", "v0", "support").await.is_err());
            assert!(desk.agent_disconnected("b").await.is_err());
        })
        .await
        .expect("redis-server starts again");
    let deadline = Instant::now() + Duration::from_secs(30);
    let upkeep = loop {
        match desk.maintain().await {
            Ok(upkeep) => break upkeep,
            Err(e) => {
                assert!(Instant::now() < deadline, "the desk never came back: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert!(upkeep.lost, "the desk's state is gone");
    // The gateway rebuilds it (crate::support::rebuild): agents first.
    assert!(desk.begin_restore().await.unwrap());
    for id in ["a", "b"] {
        desk.register_agent(id, Some(&config(id, "support", 2)))
            .await
            .unwrap();
    }
    let upkeep = desk.maintain().await.unwrap();
    assert!(!upkeep.lost);
    let snap = desk.snapshot().await.unwrap();
    let a = snap.agent("a").unwrap();
    assert!(
        a.connected && a.online,
        "this node's socket of a is counted again"
    );
    assert!(
        !snap.agent("b").unwrap().connected,
        "b's socket closed meanwhile"
    );
    assert_eq!(
        desk.request("c0", "v0", "support").await.unwrap().0,
        Placement::Assigned("a".into())
    );
}
