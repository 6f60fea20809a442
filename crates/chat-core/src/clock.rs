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
    IsoMillis::new(ms).as_str().to_owned()
}

/// A timestamp in the wire's format, on the stack: what serialising a
/// message writes twice (`createdAt`, `editedAt`), without the allocation and
/// the `fmt` machinery of `format!` (perf: 1–2 % of the gateway's CPU under
/// the ack benchmark went to formatting timestamps).
pub struct IsoMillis {
    buf: [u8; 24],
    /// Years before 0000 do not fit the fixed layout: formatted the slow way.
    /// (After 9999 is out of the `time` crate's range: the epoch, as before.)
    wide: Option<String>,
}

impl IsoMillis {
    pub fn new(ms: Millis) -> Self {
        let dt = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            .to_offset(UtcOffset::UTC);
        let (y, mo, d) = (dt.year(), dt.month() as u8, dt.day());
        let (h, mi, s, milli) = (dt.hour(), dt.minute(), dt.second(), dt.millisecond());
        let mut buf = *b"0000-00-00T00:00:00.000Z";
        let Ok(year) = u16::try_from(y) else {
            return Self::wide(y, mo, d, h, mi, s, milli);
        };
        if year > 9999 {
            return Self::wide(y, mo, d, h, mi, s, milli);
        }
        digits(&mut buf[0..4], year);
        digits(&mut buf[5..7], mo.into());
        digits(&mut buf[8..10], d.into());
        digits(&mut buf[11..13], h.into());
        digits(&mut buf[14..16], mi.into());
        digits(&mut buf[17..19], s.into());
        digits(&mut buf[20..23], milli);
        Self { buf, wide: None }
    }

    #[allow(clippy::too_many_arguments)]
    fn wide(y: i32, mo: u8, d: u8, h: u8, mi: u8, s: u8, milli: u16) -> Self {
        Self {
            buf: [0; 24],
            wide: Some(format!(
                "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        match &self.wide {
            Some(w) => w,
            // Only ASCII digits were written into an ASCII template.
            None => std::str::from_utf8(&self.buf).unwrap_or_default(),
        }
    }
}

/// Writes `n` into `out` as decimal digits, zero-padded to its length.
fn digits(out: &mut [u8], mut n: u16) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
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

    /// The fixed layout against the `time` crate's own formatting, over
    /// dates that exercise every field's carries: epoch, leap days, month
    /// and year ends, before 1970, and the last representable year.
    #[test]
    fn the_stack_formatter_agrees_with_the_time_crate() {
        let reference = |ms: Millis| {
            let dt = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap();
            let s = dt.format(&Rfc3339).unwrap();
            // RFC 3339 as `time` writes it drops trailing zeros of the
            // fraction; the wire always has three digits.
            let (secs, frac) = s
                .trim_end_matches('Z')
                .split_once('.')
                .unwrap_or((s.trim_end_matches('Z'), ""));
            format!("{secs}.{:0<3}Z", frac)
        };
        let mut cases: Vec<Millis> = vec![
            0,
            1,
            999,
            -1,
            -86_400_000,
            951_782_400_000,     // 2000-02-29
            4_107_542_399_999,   // 2100-02-28T23:59:59.999
            253_402_300_799_999, // 9999-12-31T23:59:59.999
            -62_167_219_200_000, // 0000-01-01
            1_795_514_400_123,
        ];
        // Every day of four years (one of them a leap year), at a time of
        // day that moves through every hour, minute, second and millisecond.
        let day = 86_400_000;
        for i in 0..(4 * 366) {
            cases.push(1_672_531_200_000 + i * day + (i * 3_599_937) % day);
        }
        for ms in cases {
            assert_eq!(IsoMillis::new(ms).as_str(), reference(ms), "at {ms} ms");
            assert_eq!(format_millis(ms), reference(ms));
        }
        // Before year 0 (RFC 3339 has no such years): as `format!` writes it.
        assert_eq!(
            format_millis(-62_167_219_200_001),
            "-001-12-31T23:59:59.999Z"
        );
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
