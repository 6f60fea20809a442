//! Limits against anonymous abuse (issue 11): what guests from one client
//! address may do together (connections, support chats, places in the queue,
//! messages, upload bytes), transcript emails per visitor and per address,
//! and each socket's client address (see [`crate::http::client_ip`]).
//!
//! Every guest connection is a new identity, so per-user limits alone do not
//! hold a visitor back: the client address is what they share. Signed-in
//! users are not limited per address (a school's users share one NAT).
//! Loopback peers are exempt like the connection rate limit
//! (`--rate-limit-loopback` applies these limits to them too).

use crate::config::Config;
use dashmap::DashMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use socketioxide::socket::Sid;
use std::collections::HashSet;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// Counts a refusal by `limit` in `chat_abuse_refused_total`.
pub fn refused(limit: &'static str) {
    metrics::counter!(crate::metrics::ABUSE_REFUSED_TOTAL, "limit" => limit).increment(1);
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

/// `n` per `period`, all of them at once at most.
fn quota(n: u32, period: Duration) -> Quota {
    let n = nonzero(n);
    let every = period / n.get();
    Quota::with_period(every.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_second(n))
        .allow_burst(n)
}

pub struct AbuseLimits {
    exempt_loopback: bool,
    /// Each socket's client address, for the handlers of its events.
    addresses: DashMap<Sid, IpAddr>,
    guest_connections: DashMap<IpAddr, u32>,
    max_guest_connections: u32,
    guest_support_chats: DefaultKeyedRateLimiter<IpAddr>,
    /// Support chats guests from an address opened that may still be queued.
    guest_queued: DashMap<IpAddr, HashSet<String>>,
    max_guest_queued: usize,
    guest_messages: DefaultKeyedRateLimiter<IpAddr>,
    transcripts_by_user: DefaultKeyedRateLimiter<String>,
    transcripts_by_ip: DefaultKeyedRateLimiter<IpAddr>,
    /// Guest upload bytes per address, in KiB (governor counts in u32 cells).
    guest_upload_kib: DefaultKeyedRateLimiter<IpAddr>,
    guest_upload_kib_burst: u32,
}

impl AbuseLimits {
    pub fn new(c: &Config) -> Self {
        let hour = Duration::from_secs(3600);
        let window = Duration::from_secs(c.upload_quota_window_secs.max(1));
        let kib = u32::try_from(c.guest_upload_quota_bytes_per_ip.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .max(1);
        Self {
            exempt_loopback: !c.rate_limit_loopback,
            addresses: DashMap::new(),
            guest_connections: DashMap::new(),
            max_guest_connections: c.guest_connections_per_ip,
            guest_support_chats: RateLimiter::keyed(quota(
                c.guest_support_chats_per_ip_per_hour,
                hour,
            )),
            guest_queued: DashMap::new(),
            max_guest_queued: c.guest_queue_per_ip as usize,
            guest_messages: RateLimiter::keyed(quota(
                c.guest_messages_per_ip_per_minute,
                Duration::from_secs(60),
            )),
            transcripts_by_user: RateLimiter::keyed(quota(c.transcripts_per_hour, hour)),
            transcripts_by_ip: RateLimiter::keyed(quota(c.transcripts_per_hour, hour)),
            guest_upload_kib: RateLimiter::keyed(quota(kib, window)),
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
    pub fn sweep(&self) {
        self.guest_support_chats.retain_recent();
        self.guest_messages.retain_recent();
        self.transcripts_by_user.retain_recent();
        self.transcripts_by_ip.retain_recent();
        self.guest_upload_kib.retain_recent();
        self.guest_queued.retain(|_, rooms| !rooms.is_empty());
    }

    pub fn address_of(&self, sid: Sid) -> Option<IpAddr> {
        self.addresses.get(&sid).map(|a| *a)
    }

    /// A socket connected from `ip`. For a guest, `false` (and nothing
    /// recorded) when its address already has the most guest connections.
    pub fn connect(&self, sid: Sid, ip: IpAddr, guest: bool) -> bool {
        if guest {
            if let Some(ip) = self.limited(ip) {
                let mut n = self.guest_connections.entry(ip).or_insert(0);
                if *n >= self.max_guest_connections {
                    refused("guest_connections");
                    return false;
                }
                *n += 1;
            }
        }
        self.addresses.insert(sid, ip);
        true
    }

    /// The socket is gone: undoes [`connect`](Self::connect).
    pub fn disconnect(&self, sid: Sid, guest: bool) {
        // (The count is keyed like `connect` keyed it: `limited` is pure.)
        let Some((_, ip)) = self.addresses.remove(&sid) else {
            return;
        };
        if let (true, Some(ip)) = (guest, self.limited(ip)) {
            self.guest_connections.remove_if_mut(&ip, |_, n| {
                *n = n.saturating_sub(1);
                *n == 0
            });
        }
    }

    /// May a guest on socket `sid` send a message now?
    pub fn guest_message(&self, sid: Sid) -> bool {
        match self.address_of(sid).and_then(|ip| self.limited(ip)) {
            Some(ip) => {
                let ok = self.guest_messages.check_key(&ip).is_ok();
                if !ok {
                    refused("guest_messages");
                }
                ok
            }
            None => true,
        }
    }

    /// May a guest on socket `sid` open a support chat now? `still_queued`
    /// says whether one of the address's earlier chats still waits in the
    /// queue. On `Ok`, call [`guest_queued`](Self::guest_queued) with the
    /// new chat once it is queued.
    pub fn guest_support_chat(
        &self,
        sid: Sid,
        still_queued: impl Fn(&str) -> bool,
    ) -> Result<(), &'static str> {
        let Some(ip) = self.address_of(sid).and_then(|ip| self.limited(ip)) else {
            return Ok(());
        };
        if let Some(mut rooms) = self.guest_queued.get_mut(&ip) {
            rooms.retain(|r| still_queued(r));
            if rooms.len() >= self.max_guest_queued {
                refused("guest_queue");
                return Err("too many chats from your network are waiting; try again later");
            }
        }
        if self.guest_support_chats.check_key(&ip).is_err() {
            refused("guest_support_chats");
            return Err("too many support chats from your network; try again later");
        }
        Ok(())
    }

    /// The guest on `sid` has a chat waiting in the queue.
    pub fn guest_queued(&self, sid: Sid, room: &str) {
        if let Some(ip) = self.address_of(sid).and_then(|ip| self.limited(ip)) {
            self.guest_queued
                .entry(ip)
                .or_default()
                .insert(room.to_owned());
        }
    }

    /// May `user` (on socket `sid`) have a transcript emailed now? Counts
    /// per visitor and per address; loopback is counted per visitor only.
    pub fn transcript(&self, sid: Sid, user: &str) -> bool {
        if let Some(ip) = self.address_of(sid).and_then(|ip| self.limited(ip)) {
            if self.transcripts_by_ip.check_key(&ip).is_err() {
                refused("transcripts");
                return false;
            }
        }
        let ok = self.transcripts_by_user.check_key(&user.to_owned()).is_ok();
        if !ok {
            refused("transcripts");
        }
        ok
    }

    /// Takes `bytes` of a guest upload from `ip`'s budget; `false` when the
    /// budget does not hold them.
    pub fn guest_upload(&self, ip: IpAddr, bytes: u64) -> bool {
        let Some(ip) = self.limited(ip) else {
            return true;
        };
        let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        let Some(n) = NonZeroU32::new(kib) else {
            return true;
        };
        let ok = kib <= self.guest_upload_kib_burst
            && matches!(self.guest_upload_kib.check_key_n(&ip, n), Ok(Ok(())));
        if !ok {
            refused("guest_upload_bytes");
        }
        ok
    }
}

/// Runs [`AbuseLimits::sweep`] every minute.
pub fn spawn_sweeper(app: &crate::state::App) {
    let app = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            app.abuse.sweep();
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
        AbuseLimits::new(&Config::try_parse_from(all).unwrap())
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        let l = limits(&["--guest-connections-per-ip", "2"]);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let sids: Vec<Sid> = (0..4).map(|_| Sid::new()).collect();
        assert!(l.connect(sids[0], a, true));
        assert!(l.connect(sids[1], b, true));
        assert!(!l.connect(sids[2], a, true), "same /64: over the limit");
        assert!(l.connect(sids[3], other, true), "another /64");
        l.disconnect(sids[0], true);
        assert!(l.connect(sids[2], b, true), "a place was freed");
    }

    #[test]
    fn loopback_is_exempt_unless_asked_and_signed_in_users_are_not_counted() {
        let l = limits(&["--guest-connections-per-ip", "1"]);
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(l.connect(Sid::new(), lo, true) && l.connect(Sid::new(), lo, true));
        let strict = limits(&["--guest-connections-per-ip", "1", "--rate-limit-loopback"]);
        assert!(strict.connect(Sid::new(), lo, true));
        assert!(!strict.connect(Sid::new(), lo, true));
        assert!(strict.connect(Sid::new(), lo, false), "a signed-in user");
    }

    #[test]
    fn transcripts_are_limited_per_visitor_and_per_address() {
        let l = limits(&["--transcripts-per-hour", "2"]);
        let (a, b, c) = (Sid::new(), Sid::new(), Sid::new());
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for s in [a, b, c] {
            assert!(l.connect(s, ip, true));
        }
        assert!(l.transcript(a, "guest_a"));
        assert!(l.transcript(b, "guest_b"));
        assert!(
            !l.transcript(c, "guest_c"),
            "the address's budget is used up"
        );
        let d = Sid::new();
        // loopback: no address budget, the visitor's own still holds
        assert!(l.connect(d, "127.0.0.1".parse().unwrap(), true));
        assert!(l.transcript(d, "guest_d"));
        assert!(l.transcript(d, "guest_d"));
        assert!(
            !l.transcript(d, "guest_d"),
            "the visitor's budget is used up"
        );
    }

    #[test]
    fn guest_upload_bytes_come_out_of_the_address_budget() {
        let l = limits(&["--guest-upload-quota-bytes-per-ip", "10240"]);
        let ip: IpAddr = "203.0.113.1".parse().unwrap();
        assert!(l.guest_upload(ip, 6000));
        assert!(!l.guest_upload(ip, 6000), "11.7 KiB > 10 KiB");
        assert!(l.guest_upload(ip, 4000));
        assert!(
            !l.guest_upload("203.0.113.2".parse().unwrap(), 20_000),
            "larger than the whole budget"
        );
    }
}
