//! Every piece against a real redis-server (started per test on a free
//! loopback port), with two "nodes": two connections with their own node ids,
//! as two gateway processes would have.

use async_trait::async_trait;
use chat_cluster::counts::{Added, Crossed, NodeCounts};
use chat_cluster::invalidation::{Invalidated, Invalidations, RedisInvalidations};
use chat_cluster::once::{Claim, Once, RedisOnce};
use chat_cluster::presence::{Presence, RedisPresence, SET as PRESENCE};
use chat_cluster::rate_limit::{Quota, RateLimit, RedisRateLimit};
use chat_cluster::sets::SharedSets;
use chat_cluster::testing::RedisServer;
use chat_cluster::typing::{RedisTyping, Typing};
use chat_cluster::{Redis, Settings};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const GUESTS: &str = "guest_connections";

async fn redis(server: &RedisServer, node: &str) -> Redis {
    Redis::connect(
        &server.url(),
        node,
        Settings {
            command_timeout: Duration::from_millis(500),
            ..Settings::default()
        },
    )
    .await
    .expect("connects to the test redis-server")
}

struct Node {
    redis: Redis,
    counts: Arc<NodeCounts>,
    crossed: mpsc::UnboundedReceiver<Crossed>,
    presence: RedisPresence,
}

async fn node(server: &RedisServer, name: &str, ttl: Duration) -> Node {
    let redis = redis(server, name).await;
    let (counts, crossed) = NodeCounts::start(redis.clone(), ttl, &[PRESENCE, GUESTS])
        .await
        .expect("registers");
    Node {
        presence: RedisPresence::new(redis.clone(), counts.clone()),
        redis,
        counts,
        crossed,
    }
}

/// Polls `check` until it holds, for at most `within`.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits (bounded) for the next crossing a node reports.
async fn next_crossed(n: &mut Node, within: Duration) -> Crossed {
    tokio::time::timeout(within, n.crossed.recv())
        .await
        .expect("a crossing within the bound")
        .expect("the channel is open")
}

#[tokio::test]
async fn a_user_is_online_while_any_node_holds_a_socket_and_each_transition_is_announced_once() {
    let server = RedisServer::start().unwrap();
    let a = node(&server, "a", Duration::from_secs(30)).await;
    let b = node(&server, "b", Duration::from_secs(30)).await;

    assert!(a.presence.connect("u").await, "first socket anywhere");
    assert!(!b.presence.connect("u").await, "second socket, other node");
    assert!(b.presence.is_online("u").await);
    assert_eq!(a.presence.online_users().await, 1);
    assert_eq!(
        (a.counts.keys_here(PRESENCE), b.counts.keys_here(PRESENCE)),
        (1, 1)
    );
    // Both nodes settle after their connect: only one announces.
    let said: Vec<_> = [a.presence.settle("u").await, b.presence.settle("u").await]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(said, vec![true], "user:online exactly once");

    assert!(!a.presence.disconnect("u").await, "b still holds one");
    assert_eq!(a.presence.settle("u").await, None);
    assert!(b.presence.disconnect("u").await, "the last socket anywhere");
    assert!(!a.presence.is_online("u").await);
    let said: Vec<_> = [b.presence.settle("u").await, a.presence.settle("u").await]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(said, vec![false], "user:offline exactly once");
    assert!(
        !b.presence.disconnect("u").await,
        "a stray disconnect is not a second offline"
    );

    assert!(a.presence.connect("v").await);
    let among = b
        .presence
        .online_among(&["u".into(), "v".into(), "w".into()])
        .await;
    assert_eq!(among.into_iter().collect::<Vec<_>>(), vec!["v".to_string()]);
}

#[tokio::test]
async fn a_node_whose_heartbeat_stops_has_its_users_counted_out_by_another_node() {
    let server = RedisServer::start().unwrap();
    let ttl = Duration::from_millis(600);
    let a = node(&server, "a", ttl).await;
    let mut b = node(&server, "b", ttl).await;
    assert!(a.presence.connect("only_on_a").await);
    assert!(a.presence.connect("on_both").await);
    assert!(!b.presence.connect("on_both").await);
    assert_eq!(a.presence.settle("only_on_a").await, Some(true));
    assert_eq!(a.presence.settle("on_both").await, Some(true));

    a.counts.stop_heartbeat(); // what SIGKILL looks like from outside
    let crossed = next_crossed(&mut b, ttl * 10).await;
    assert_eq!(
        crossed,
        Crossed {
            set: PRESENCE,
            key: "only_on_a".into()
        }
    );
    assert!(!b.presence.is_online("only_on_a").await);
    assert!(b.presence.is_online("on_both").await, "b still holds it");
    assert_eq!(b.presence.settle("only_on_a").await, Some(false));
    assert_eq!(b.presence.settle("only_on_a").await, None, "once");
    // Nothing else crosses: a further reap finds nobody.
    assert_eq!(b.counts.reap().await.unwrap(), 0);
    assert!(b.crossed.try_recv().is_err());
}

#[tokio::test]
async fn a_node_taken_for_dead_while_alive_counts_its_sockets_again() {
    let server = RedisServer::start().unwrap();
    let ttl = Duration::from_millis(600);
    let mut a = node(&server, "a", ttl).await;
    let b = node(&server, "b", ttl).await;
    assert!(a.presence.connect("u").await);
    // As if a had stalled past its deadline: b reaps it.
    let _: i64 = fred::interfaces::SortedSetsInterface::zadd(
        b.redis.client_for_tests(),
        b.counts.nodes_key(),
        None,
        None,
        false,
        false,
        (0.0, "a"),
    )
    .await
    .unwrap();
    assert_eq!(b.counts.reap().await.unwrap(), 1);
    assert!(!b.presence.is_online("u").await);
    // a's next heartbeat finds itself unknown and counts again.
    let crossed = next_crossed(&mut a, ttl * 10).await;
    assert_eq!(crossed.key, "u");
    assert!(b.presence.is_online("u").await);
}

#[tokio::test]
async fn after_redis_restarts_empty_every_node_counts_its_sockets_again() {
    let mut server = RedisServer::start().unwrap();
    let ttl = Duration::from_millis(600);
    let mut a = node(&server, "a", ttl).await;
    assert!(a.presence.connect("u").await);
    assert_eq!(
        a.counts.add(GUESTS, "203.0.113.9", Some(5)).await,
        Added::Counted(1)
    );
    server.restart().unwrap();
    eventually(ttl * 20, "presence restored in Redis", || async {
        a.counts.total(PRESENCE, "u").await.ok() == Some(1)
    })
    .await;
    assert_eq!(a.counts.total(GUESTS, "203.0.113.9").await.unwrap(), 1);
    // The re-count is reported, so the node settles (and re-announces).
    let mut seen = Vec::new();
    while let Ok(c) = a.crossed.try_recv() {
        seen.push(c.key);
    }
    assert!(seen.contains(&"u".to_string()), "{seen:?}");
}

#[tokio::test]
async fn while_redis_is_down_a_node_counts_alone_and_catches_up_after() {
    let mut server = RedisServer::start().unwrap();
    let ttl = Duration::from_millis(600);
    let mut a = node(&server, "a", ttl).await;
    assert!(a.presence.connect("before").await);
    let presence = &a.presence;
    server
        .outage(async {
            let started = Instant::now();
            assert!(
                !presence.connect("during").await,
                "not announced while Redis is away"
            );
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "a command waits a bounded time"
            );
            assert!(
                presence.is_online("during").await,
                "this node's own sockets"
            );
            assert!(presence.is_online("before").await);
        })
        .await
        .unwrap();
    eventually(ttl * 20, "both users counted in Redis again", || async {
        a.counts.total(PRESENCE, "before").await.ok() == Some(1)
            && a.counts.total(PRESENCE, "during").await.ok() == Some(1)
    })
    .await;
    let mut crossed = Vec::new();
    while let Ok(c) = a.crossed.try_recv() {
        crossed.push(c.key);
    }
    assert!(crossed.contains(&"during".to_string()), "{crossed:?}");
    assert_eq!(
        a.presence.settle("during").await,
        Some(true),
        "announced now"
    );
}

#[tokio::test]
async fn a_cap_on_a_count_holds_across_nodes() {
    let server = RedisServer::start().unwrap();
    let a = node(&server, "a", Duration::from_secs(30)).await;
    let b = node(&server, "b", Duration::from_secs(30)).await;
    let ip = "198.51.100.4";
    assert_eq!(a.counts.add(GUESTS, ip, Some(3)).await, Added::Counted(1));
    assert_eq!(b.counts.add(GUESTS, ip, Some(3)).await, Added::Counted(2));
    assert_eq!(a.counts.add(GUESTS, ip, Some(3)).await, Added::Counted(3));
    assert_eq!(b.counts.add(GUESTS, ip, Some(3)).await, Added::Capped);
    assert_eq!(
        a.counts.add(GUESTS, "198.51.100.5", Some(3)).await,
        Added::Counted(1)
    );
    assert_eq!(a.counts.remove(GUESTS, ip).await, Some(2));
    assert_eq!(b.counts.add(GUESTS, ip, Some(3)).await, Added::Counted(3));
    // b holds 2 of them: a third remove on b takes nothing that is not b's.
    assert_eq!(b.counts.remove(GUESTS, ip).await, Some(2));
    assert_eq!(b.counts.remove(GUESTS, ip).await, Some(1));
    assert_eq!(b.counts.remove(GUESTS, ip).await, None, "b holds none");
    assert_eq!(a.counts.total(GUESTS, ip).await.unwrap(), 1);
}

#[tokio::test]
async fn a_clean_exit_hands_back_its_counts_and_says_which_fell_to_zero() {
    let server = RedisServer::start().unwrap();
    let a = node(&server, "a", Duration::from_secs(30)).await;
    let b = node(&server, "b", Duration::from_secs(30)).await;
    a.presence.connect("x").await;
    a.presence.connect("y").await;
    b.presence.connect("y").await;
    let left = a.counts.leave().await.unwrap();
    assert_eq!(
        left,
        vec![Crossed {
            set: PRESENCE,
            key: "x".into()
        }]
    );
    assert!(!b.presence.is_online("x").await);
    assert!(b.presence.is_online("y").await);
}

#[tokio::test]
async fn typing_is_shared_and_only_the_latest_start_expires() {
    let server = RedisServer::start().unwrap();
    let a = RedisTyping::new(redis(&server, "a").await, Duration::from_secs(6));
    let b = RedisTyping::new(redis(&server, "b").await, Duration::from_secs(6));
    let g1 = a.start("r", "u").await;
    assert_eq!(b.rooms_of("u").await, vec!["r".to_string()]);
    let g2 = b.start("r", "u").await;
    assert_ne!(g1, g2, "generations are unique across nodes");
    assert!(
        !a.expire("r", "u", g1).await,
        "an older timer must not end a newer start"
    );
    assert!(b.expire("r", "u", g2).await);
    assert!(!a.stop("r", "u").await, "already ended");
    let g3 = a.start("r", "u").await;
    assert!(b.stop("r", "u").await, "a stop on another node ends it");
    assert!(!a.expire("r", "u", g3).await);

    let short = RedisTyping::new(redis(&server, "c").await, Duration::from_millis(200));
    short.start("r2", "w").await;
    eventually(
        Duration::from_secs(5),
        "the entry expires in Redis",
        || async { short.rooms_of("w").await.is_empty() },
    )
    .await;
}

/// A fallback that lets everything through and counts how often it was asked.
#[derive(Default)]
struct CountingFallback(AtomicU32);

#[async_trait]
impl RateLimit for CountingFallback {
    async fn check(&self, _: &str, _: u32) -> bool {
        self.0.fetch_add(1, Ordering::Relaxed);
        true
    }
}

#[tokio::test]
async fn a_rate_limit_gives_one_allowance_across_nodes() {
    let mut server = RedisServer::start().unwrap();
    let quota = Quota::per_minute(60, 5);
    let fallback = Arc::new(CountingFallback::default());
    let a = RedisRateLimit::new(
        redis(&server, "a").await,
        "messages",
        quota,
        fallback.clone(),
    );
    let b = RedisRateLimit::new(
        redis(&server, "b").await,
        "messages",
        quota,
        fallback.clone(),
    );
    let mut allowed = 0;
    for i in 0..10 {
        let node = if i % 2 == 0 { &a } else { &b };
        if node.check("user1", 1).await {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 5, "the burst, once, whichever node is asked");
    assert!(a.check("user2", 1).await, "another key has its own budget");
    assert!(!a.check("user3", 6).await, "more than the burst never fits");
    assert!(a.check("user3", 5).await);
    assert!(!b.check("user3", 1).await);
    assert_eq!(fallback.0.load(Ordering::Relaxed), 0);

    // Redis gone: each node falls back to its own limiter.
    server.restart().unwrap(); // (an empty Redis: budgets start full again)
    assert!(a.check("user1", 1).await);
    drop(server);
    assert!(a.check("user9", 1).await, "the fallback answers");
    assert!(fallback.0.load(Ordering::Relaxed) >= 1);
}

#[tokio::test]
async fn a_stalled_redis_does_not_hold_a_rate_limit_check() {
    let server = RedisServer::start().unwrap();
    let fallback = Arc::new(CountingFallback::default());
    let limit = RedisRateLimit::new(
        redis(&server, "a").await,
        "messages",
        Quota::per_minute(60, 5),
        fallback.clone(),
    );
    assert!(limit.check("user1", 1).await);
    assert_eq!(fallback.0.load(Ordering::Relaxed), 0, "Redis answered");

    // Redis holds every command for 30 s. The check gives up on it well
    // before the client's 2 s command timeout, and the next checks do not
    // ask it again for a while: the fallback answers them at once.
    server.pause(30_000).unwrap();
    let started = Instant::now();
    assert!(limit.check("user1", 1).await, "the fallback answers");
    for _ in 0..3 {
        assert!(limit.check("user1", 1).await);
    }
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "four checks against a stalled Redis took {:?}",
        started.elapsed()
    );
    assert_eq!(fallback.0.load(Ordering::Relaxed), 4);
}

#[tokio::test]
async fn invalidations_reach_the_other_nodes_and_a_reconnection_drops_everything() {
    let mut server = RedisServer::start().unwrap();
    let (tx_a, mut rx_a) = mpsc::unbounded_channel();
    let (tx_b, mut rx_b) = mpsc::unbounded_channel();
    let a = RedisInvalidations::start(redis(&server, "a").await, move |i| {
        let _ = tx_a.send(i);
    })
    .await
    .unwrap();
    let _b = RedisInvalidations::start(redis(&server, "b").await, move |i| {
        let _ = tx_b.send(i);
    })
    .await
    .unwrap();
    a.publish(Invalidated::Room("room1".into())).await;
    a.publish(Invalidated::User("42".into())).await;
    let within = Duration::from_secs(5);
    let got = tokio::time::timeout(within, rx_b.recv()).await.unwrap();
    assert_eq!(got, Some(Invalidated::Room("room1".into())));
    let got = tokio::time::timeout(within, rx_b.recv()).await.unwrap();
    assert_eq!(got, Some(Invalidated::User("42".into())));
    assert!(rx_a.try_recv().is_err(), "a node does not hear itself");

    server.restart().unwrap();
    let got = tokio::time::timeout(Duration::from_secs(15), rx_b.recv())
        .await
        .unwrap();
    assert_eq!(got, Some(Invalidated::Everything));
    // And it listens again after resubscribing (which follows the
    // reconnection by a moment: publish until one gets through, bounded).
    let deadline = Instant::now() + Duration::from_secs(10);
    'heard: loop {
        assert!(
            Instant::now() < deadline,
            "no invalidation heard after the restart"
        );
        a.publish(Invalidated::Room("room2".into())).await;
        let wait = tokio::time::timeout(Duration::from_millis(200), rx_b.recv()).await;
        if let Ok(Some(i)) = wait {
            if i == Invalidated::Room("room2".into()) {
                break 'heard;
            }
        }
    }
}

#[tokio::test]
async fn an_event_is_claimed_by_one_node_and_released_if_it_failed() {
    let server = RedisServer::start().unwrap();
    let a = RedisOnce::new(redis(&server, "a").await, "odoo");
    let b = RedisOnce::new(redis(&server, "b").await, "odoo");
    assert_eq!(a.claim("e1").await, Claim::Mine);
    assert_eq!(b.claim("e1").await, Claim::Taken, "a is applying it");
    a.release("e1").await;
    assert_eq!(b.claim("e1").await, Claim::Mine, "a failed: b may");
    b.done("e1").await;
    assert_eq!(a.claim("e1").await, Claim::Taken);
    assert_eq!(a.claim("e2").await, Claim::Mine);
}

#[tokio::test]
async fn a_shared_set_is_the_same_on_every_node_and_expires() {
    let server = RedisServer::start().unwrap();
    let day = Duration::from_secs(24 * 3600);
    let a = SharedSets::new(redis(&server, "a").await, "guest_queued", day);
    let b = SharedSets::new(redis(&server, "b").await, "guest_queued", day);
    a.add("203.0.113.7", "room1").await.unwrap();
    b.add("203.0.113.7", "room2").await.unwrap();
    let mut seen = a.members("203.0.113.7").await.unwrap();
    seen.sort();
    assert_eq!(seen, vec!["room1".to_string(), "room2".to_string()]);
    b.remove("203.0.113.7", &["room1".into()]).await.unwrap();
    assert_eq!(
        a.members("203.0.113.7").await.unwrap(),
        vec!["room2".to_string()]
    );
    assert!(a.members("198.51.100.1").await.unwrap().is_empty());

    let short = SharedSets::new(
        redis(&server, "c").await,
        "short",
        Duration::from_millis(100),
    );
    short.add("k", "m").await.unwrap();
    eventually(Duration::from_secs(5), "the set expires", || async {
        short.members("k").await.unwrap().is_empty()
    })
    .await;
}
