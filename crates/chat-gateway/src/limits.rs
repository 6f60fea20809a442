//! Limits against anonymous abuse (issue 11): what guests from one client
//! address may do together (connections, support chats, places in the queue,
//! messages, upload bytes), transcript emails per visitor and per address,
//! and each socket's client address (see [`crate::client_addr`]).
//!
//! Every guest connection is a new identity, so per-user limits alone do not
//! hold a visitor back: the client address is what they share. Signed-in
//! users are not limited per address (a school's users share one NAT).
//! Loopback peers are exempt like the connection rate limit
//! (`--rate-limit-loopback` applies these limits to them too).
//!
//! With `REDIS_URL` the rates (and the message and connection limits) are
//! kept in Redis and the guest connections per address are counted over
//! every node ([`RateLimits`], [`chat_cluster::counts::NodeCounts`]), so a
//! client spread over several nodes gets one allowance; without Redis, or
//! while it does not answer, each node limits on its own.

use crate::config::Config;
use async_trait::async_trait;
use chat_cluster::counts::{Added, NodeCounts};
use chat_cluster::rate_limit::{Quota, RateLimit, RedisRateLimit};
use chat_cluster::sets::SharedSets;
use dashmap::DashMap;
use governor::{DefaultKeyedRateLimiter, RateLimiter};
use std::collections::HashSet;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The set guest connections are counted under in [`NodeCounts`].
pub const GUEST_CONNECTIONS: &str = "guest_connections";

/// A keyed GCRA limit of this process (governor).
pub struct LocalRateLimit {
    limiter: DefaultKeyedRateLimiter<String>,
    burst: u32,
}

impl LocalRateLimit {
    pub fn new(quota: Quota) -> Self {
        let burst = nonzero(quota.burst);
        let q = governor::Quota::with_period(quota.interval.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| governor::Quota::per_second(burst))
            .allow_burst(burst);
        Self {
            limiter: RateLimiter::keyed(q),
            burst: burst.get(),
        }
    }

    /// Forgets keys whose budget is full again.
    pub fn sweep(&self) {
        self.limiter.retain_recent();
    }
}

#[async_trait]
impl RateLimit for LocalRateLimit {
    async fn check(&self, key: &str, cost: u32) -> bool {
        let Some(n) = NonZeroU32::new(cost) else {
            return true;
        };
        cost <= self.burst && matches!(self.limiter.check_key_n(&key.to_owned(), n), Ok(Ok(())))
    }
}

/// Makes the rate limits: in process, or in Redis with the in-process one
/// as a fallback while Redis does not answer.
pub struct RateLimits {
    redis: Option<chat_cluster::Redis>,
    /// Every in-process limiter made, to sweep.
    locals: Mutex<Vec<Arc<LocalRateLimit>>>,
}

impl RateLimits {
    pub fn new(redis: Option<chat_cluster::Redis>) -> Self {
        Self {
            redis,
            locals: Mutex::new(Vec::new()),
        }
    }

    /// A limit named `name` (its Redis keys are `rl:<name>:<key>`).
    pub fn limit(&self, name: &'static str, quota: Quota) -> Arc<dyn RateLimit> {
        let local = Arc::new(LocalRateLimit::new(quota));
        if let Ok(mut l) = self.locals.lock() {
            l.push(local.clone());
        }
        match &self.redis {
            Some(redis) => Arc::new(RedisRateLimit::new(redis.clone(), name, quota, local)),
            None => local,
        }
    }

    pub fn sweep(&self) {
        if let Ok(l) = self.locals.lock() {
            l.iter().for_each(|l| l.sweep());
        }
    }
}

/// Counts a refusal by `limit` in `chat_abuse_refused_total`.
pub fn refused(limit: &'static str) {
    metrics::counter!(crate::metrics::ABUSE_REFUSED_TOTAL, "limit" => limit).increment(1);
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

/// `n` per `period`, all of them at once at most.
fn quota(n: u32, period: Duration) -> Quota {
    Quota::per(n, period)
}

pub struct AbuseLimits {
    exempt_loopback: bool,
    /// Each socket's client address, for the handlers of its events.
    /// Guest connections per address on this node (one node).
    guest_connections: DashMap<IpAddr, u32>,
    /// … or on every node (`REDIS_URL`).
    shared_guest_connections: Option<Arc<NodeCounts>>,
    max_guest_connections: u32,
    guest_support_chats: Arc<dyn RateLimit>,
    /// Support chats guests from an address opened that may still be queued.
    guest_queued: DashMap<IpAddr, HashSet<String>>,
    /// … and the same on every node (`REDIS_URL`), which is what is checked
    /// (this node's own set answers while Redis does not).
    shared_guest_queued: Option<SharedSets>,
    max_guest_queued: usize,
    guest_messages: Arc<dyn RateLimit>,
    transcripts_by_user: Arc<dyn RateLimit>,
    transcripts_by_ip: Arc<dyn RateLimit>,
    /// Guest upload bytes per address, in KiB (limits count in u32 cells).
    guest_upload_kib: Arc<dyn RateLimit>,
    guest_upload_kib_burst: u32,
}

impl AbuseLimits {
    /// `shared_guest_connections`: the cluster's counts (set
    /// [`GUEST_CONNECTIONS`]), or `None` to count on this node; likewise
    /// `shared_guest_queued` for the queued chats per address.
    pub fn new(
        c: &Config,
        limits: &RateLimits,
        shared_guest_connections: Option<Arc<NodeCounts>>,
        shared_guest_queued: Option<SharedSets>,
    ) -> Self {
        let hour = Duration::from_secs(3600);
        let window = Duration::from_secs(c.upload_quota_window_secs.max(1));
        let kib = u32::try_from(c.guest_upload_quota_bytes_per_ip.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .max(1);
        Self {
            exempt_loopback: !c.rate_limit_loopback,
            guest_connections: DashMap::new(),
            shared_guest_connections,
            max_guest_connections: c.guest_connections_per_ip,
            guest_support_chats: limits.limit(
                "guest_support_chats",
                quota(c.guest_support_chats_per_ip_per_hour, hour),
            ),
            guest_queued: DashMap::new(),
            shared_guest_queued,
            max_guest_queued: c.guest_queue_per_ip as usize,
            guest_messages: limits.limit(
                "guest_messages",
                quota(c.guest_messages_per_ip_per_minute, Duration::from_secs(60)),
            ),
            transcripts_by_user: limits
                .limit("transcripts_by_user", quota(c.transcripts_per_hour, hour)),
            transcripts_by_ip: limits
                .limit("transcripts_by_ip", quota(c.transcripts_per_hour, hour)),
            guest_upload_kib: limits.limit("guest_upload_kib", quota(kib, window)),
            guest_upload_kib_burst: kib,
        }
    }

    /// The key limits count under, or `None` when they do not apply
    /// (loopback). An IPv6 client is its /64: one host usually has a whole
    /// /64 to pick addresses from.
    fn limited(&self, ip: IpAddr) -> Option<IpAddr> {
        if self.exempt_loopback && ip.is_loopback() {
            return None;
        }
        Some(match ip {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(std::net::Ipv6Addr::from(prefix))
            }
            v4 => v4,
        })
    }

    /// Drops the state of addresses that are back to a full budget, so that
    /// many addresses seen once do not grow memory for ever.
    /// (The rate limits themselves are swept by [`RateLimits::sweep`].)
    pub fn sweep(&self) {
        self.guest_queued.retain(|_, rooms| !rooms.is_empty());
    }

    /// A socket connected from `ip`. For a guest, `false` (and nothing
    /// recorded) when its address already has the most guest connections.
    /// The socket keeps its address itself (`events::Ctx::ip`, and its
    /// disconnect handler): a map from socket to address here would be one
    /// more entry per idle socket (issue 15).
    pub async fn connect(&self, ip: IpAddr, guest: bool) -> bool {
        if guest {
            if let Some(ip) = self.limited(ip) {
                let room = match &self.shared_guest_connections {
                    Some(counts) => {
                        let cap = Some(u64::from(self.max_guest_connections));
                        counts.add(GUEST_CONNECTIONS, &ip.to_string(), cap).await != Added::Capped
                    }
                    None => {
                        let mut n = self.guest_connections.entry(ip).or_insert(0);
                        let room = *n < self.max_guest_connections;
                        if room {
                            *n += 1;
                        }
                        room
                    }
                };
                if !room {
                    refused("guest_connections");
                    return false;
                }
            }
        }
        true
    }

    /// The socket that [`connect`](Self::connect) let in from `ip` is gone.
    pub async fn disconnect(&self, ip: IpAddr, guest: bool) {
        // (The count is keyed like `connect` keyed it: `limited` is pure.)
        if let (true, Some(ip)) = (guest, self.limited(ip)) {
            match &self.shared_guest_connections {
                Some(counts) => {
                    counts.remove(GUEST_CONNECTIONS, &ip.to_string()).await;
                }
                None => {
                    self.guest_connections.remove_if_mut(&ip, |_, n| {
                        *n = n.saturating_sub(1);
                        *n == 0
                    });
                }
            }
        }
    }

    /// May a guest connected from `ip` send a message now?
    pub async fn guest_message(&self, ip: Option<IpAddr>) -> bool {
        match ip.and_then(|ip| self.limited(ip)) {
            Some(ip) => {
                let ok = self.guest_messages.check(&ip.to_string(), 1).await;
                if !ok {
                    refused("guest_messages");
                }
                ok
            }
            None => true,
        }
    }

    /// May a guest connected from `ip` open a support chat now? `still_queued`
    /// says whether one of the address's earlier chats still waits in the
    /// queue. On `Ok`, call [`guest_queued`](Self::guest_queued) with the
    /// new chat once it is queued.
    pub async fn guest_support_chat(
        &self,
        ip: Option<IpAddr>,
        still_queued: impl Fn(&str) -> bool,
    ) -> Result<(), &'static str> {
        let Some(ip) = ip.and_then(|ip| self.limited(ip)) else {
            return Ok(());
        };
        if self.still_queued_from(ip, still_queued).await >= self.max_guest_queued {
            refused("guest_queue");
            return Err("too many chats from your network are waiting; try again later");
        }
        if !self.guest_support_chats.check(&ip.to_string(), 1).await {
            refused("guest_support_chats");
            return Err("too many support chats from your network; try again later");
        }
        Ok(())
    }

    /// How many chats opened from `ip` still wait in the queue (forgetting
    /// those that no longer do).
    async fn still_queued_from(&self, ip: IpAddr, still_queued: impl Fn(&str) -> bool) -> usize {
        let local = || {
            self.guest_queued.get_mut(&ip).map_or(0, |mut rooms| {
                rooms.retain(|r| still_queued(r));
                rooms.len()
            })
        };
        let Some(sets) = &self.shared_guest_queued else {
            return local();
        };
        match sets.members(&ip.to_string()).await {
            Ok(rooms) => {
                let (waiting, gone): (Vec<String>, Vec<String>) =
                    rooms.into_iter().partition(|r| still_queued(r));
                if let Err(e) = sets.remove(&ip.to_string(), &gone).await {
                    tracing::warn!(error = %e, "could not forget chats that left the queue");
                }
                waiting.len()
            }
            Err(e) => {
                tracing::warn!(error = %e, "Redis did not answer: queued chats per address counted on this node");
                local()
            }
        }
    }

    /// The guest connected from `ip` has a chat waiting in the queue.
    pub async fn guest_queued(&self, ip: Option<IpAddr>, room: &str) {
        if let Some(ip) = ip.and_then(|ip| self.limited(ip)) {
            self.guest_queued
                .entry(ip)
                .or_default()
                .insert(room.to_owned());
            if let Some(sets) = &self.shared_guest_queued {
                if let Err(e) = sets.add(&ip.to_string(), room).await {
                    tracing::warn!(error = %e, "could not record a queued chat in Redis");
                }
            }
        }
    }

    /// May `user` (connected from `ip`) have a transcript emailed now? Counts
    /// per visitor and per address; loopback is counted per visitor only.
    pub async fn transcript(&self, ip: Option<IpAddr>, user: &str) -> bool {
        if let Some(ip) = ip.and_then(|ip| self.limited(ip)) {
            if !self.transcripts_by_ip.check(&ip.to_string(), 1).await {
                refused("transcripts");
                return false;
            }
        }
        let ok = self.transcripts_by_user.check(user, 1).await;
        if !ok {
            refused("transcripts");
        }
        ok
    }

    /// Takes `bytes` of a guest upload from `ip`'s budget; `false` when the
    /// budget does not hold them.
    pub async fn guest_upload(&self, ip: IpAddr, bytes: u64) -> bool {
        let Some(ip) = self.limited(ip) else {
            return true;
        };
        let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        if kib == 0 {
            return true;
        }
        let ok = kib <= self.guest_upload_kib_burst
            && self.guest_upload_kib.check(&ip.to_string(), kib).await;
        if !ok {
            refused("guest_upload_bytes");
        }
        ok
    }
}

/// Runs `sweep` every minute: the node's [`AbuseLimits::sweep`] and
/// [`RateLimits::sweep`] (the server wires it to the app's).
pub fn spawn_sweeper(sweep: impl Fn() + Send + 'static) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            sweep();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn limits(args: &[&str]) -> AbuseLimits {
        let mut all = vec!["seitech-chat"];
        all.extend_from_slice(args);
        AbuseLimits::new(
            &Config::try_parse_from(all).unwrap(),
            &RateLimits::new(None),
            None,
            None,
        )
    }

    #[tokio::test]
    async fn an_ipv6_client_is_counted_by_its_64() {
        let l = limits(&["--guest-connections-per-ip", "2"]);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(l.connect(a, true).await);
        assert!(l.connect(b, true).await);
        assert!(!l.connect(a, true).await, "same /64: over the limit");
        assert!(l.connect(other, true).await, "another /64");
        l.disconnect(a, true).await;
        assert!(l.connect(b, true).await, "a place was freed");
    }

    #[tokio::test]
    async fn loopback_is_exempt_unless_asked_and_signed_in_users_are_not_counted() {
        let l = limits(&["--guest-connections-per-ip", "1"]);
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(l.connect(lo, true).await && l.connect(lo, true).await);
        let strict = limits(&["--guest-connections-per-ip", "1", "--rate-limit-loopback"]);
        assert!(strict.connect(lo, true).await);
        assert!(!strict.connect(lo, true).await);
        assert!(strict.connect(lo, false).await, "a signed-in user");
        // a signed-in user leaving frees no guest's place
        strict.disconnect(lo, false).await;
        assert!(!strict.connect(lo, true).await);
    }

    #[tokio::test]
    async fn transcripts_are_limited_per_visitor_and_per_address() {
        let l = limits(&["--transcripts-per-hour", "2"]);
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        assert!(l.transcript(Some(ip), "guest_a").await);
        assert!(l.transcript(Some(ip), "guest_b").await);
        assert!(
            !l.transcript(Some(ip), "guest_c").await,
            "the address's budget is used up"
        );
        // loopback (or no known address): no address budget, the visitor's
        // own still holds
        for ip in [Some("127.0.0.1".parse().unwrap()), None] {
            let user = format!("guest_d{}", ip.is_some());
            assert!(l.transcript(ip, &user).await);
            assert!(l.transcript(ip, &user).await);
            assert!(
                !l.transcript(ip, &user).await,
                "the visitor's budget is used up"
            );
        }
    }

    #[tokio::test]
    async fn guest_upload_bytes_come_out_of_the_address_budget() {
        let l = limits(&["--guest-upload-quota-bytes-per-ip", "10240"]);
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        assert!(l.guest_upload(ip, 6000).await);
        assert!(!l.guest_upload(ip, 6000).await, "11.7 KiB > 10 KiB");
        assert!(l.guest_upload(ip, 4000).await);
        assert!(
            !l.guest_upload("203.0.113.2".parse().unwrap(), 20_000).await,
            "larger than the whole budget"
        );
    }
}
