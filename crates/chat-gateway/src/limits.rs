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

    /// The address limits apply to, or `None` when they do not (loopback).
    fn limited(&self, ip: IpAddr) -> Option<IpAddr> {
        (!(self.exempt_loopback && ip.is_loopback())).then_some(ip)
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
            Some(ip) => self.guest_messages.check_key(&ip).is_ok(),
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
                return Err("too many chats from your network are waiting; try again later");
            }
        }
        if self.guest_support_chats.check_key(&ip).is_err() {
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
                return false;
            }
        }
        self.transcripts_by_user.check_key(&user.to_owned()).is_ok()
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
        if kib > self.guest_upload_kib_burst {
            return false;
        }
        matches!(self.guest_upload_kib.check_key_n(&ip, n), Ok(Ok(())))
    }
}
