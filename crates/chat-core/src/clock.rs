//! Time and time-ordered identifiers.
//!
//! Message ids are UUIDv7 made by the gateway, so a message can be acked without
//! a round trip to Odoo, and ids sort in the order a node stores them. The `uuid`
//! crate's `now_v7` keeps a process-wide counter, which makes ids strictly
//! increasing even within one millisecond (tested below).
//!
//! Code whose decisions depend on the time (the support desk's waits and
//! agents' last activity) reads it from a [`Clock`], so that tests set the
//! time instead of waiting for it.

use std::sync::atomic::{AtomicI64, Ordering};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

/// Milliseconds since the Unix epoch, as stored.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    let now = OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as Millis
}

/// Where a component reads the time.
pub trait Clock: Send + Sync {
    fn now(&self) -> Millis;
}

/// The system's clock ([`now_millis`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        now_millis()
    }
}

/// A clock that moves only when told to: tests use it to make time pass
/// without sleeping.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn at(now: Millis) -> Self {
        Self(AtomicI64::new(now))
    }

    pub fn set(&self, now: Millis) {
        self.0.store(now, Ordering::SeqCst);
    }

    pub fn advance(&self, by: Millis) {
        self.0.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// A new time-ordered id, as its canonical lowercase string (which sorts like the id).
pub fn new_id() -> String {
    Uuid::now_v7().to_string()
}

/// The creation time carried by a UUIDv7 string, if it is one.
pub fn id_millis(id: &str) -> Option<Millis> {
    let uuid = Uuid::parse_str(id).ok()?;
    let ts = uuid.get_timestamp()?;
    let (secs, nanos) = ts.to_unix();
    Some(secs as Millis * 1000 + (nanos / 1_000_000) as Millis)
}

/// `2026-11-24T10:00:00.000Z`: the wire's timestamp format (what `Date.toISOString` gives).
pub fn format_millis(ms: Millis) -> String {
    let dt = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(UtcOffset::UTC);
    let (y, mo, d) = (dt.year(), dt.month() as u8, dt.day());
    let (h, mi, s) = (dt.hour(), dt.minute(), dt.second());
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        dt.millisecond()
    )
}

/// Parses an RFC 3339 timestamp into milliseconds.
pub fn parse_timestamp(s: &str) -> Option<Millis> {
    let dt = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    Some((dt.unix_timestamp_nanos() / 1_000_000) as Millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_strictly_increase_within_a_millisecond() {
        let ids: Vec<String> = (0..20_000).map(|_| new_id()).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} !< {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn id_carries_its_creation_time() {
        let before = now_millis();
        let id = new_id();
        let after = now_millis();
        let at = id_millis(&id).unwrap();
        assert!(before <= at && at <= after);
        assert_eq!(id_millis("not-a-uuid"), None);
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(1_000);
        assert_eq!(clock.now(), 1_000);
        clock.advance(250);
        assert_eq!(clock.now(), 1_250);
        clock.set(5);
        assert_eq!(clock.now(), 5);
    }

    #[test]
    fn timestamps_use_the_javascript_iso_format() {
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(1_795_514_400_123), "2026-11-24T10:00:00.123Z");
        assert_eq!(
            parse_timestamp("2026-11-24T10:00:00.123Z"),
            Some(1_795_514_400_123)
        );
    }
}
