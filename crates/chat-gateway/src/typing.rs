//! Typing indicators with expiry: a start with no stop ends by itself after the
//! timeout, so a client that vanishes mid-sentence does not type forever.

use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub struct Typing {
    pub timeout: Duration,
    /// (room, user) → generation of the latest start; a timer fires only if
    /// no newer start or stop happened since it was set.
    active: DashMap<(String, String), u64>,
    /// Generations are unique for the process, so a timer of a start that was
    /// stopped can never match a later start.
    next: AtomicU64,
}

impl Typing {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            active: DashMap::new(),
            next: AtomicU64::new(1),
        }
    }

    /// Records a start; returns the generation the expiry timer must match.
    pub fn start(&self, room: &str, user: &str) -> u64 {
        let generation = self.next.fetch_add(1, Ordering::Relaxed);
        self.active
            .insert((room.to_owned(), user.to_owned()), generation);
        generation
    }

    /// Records a stop; `true` if the user was typing.
    pub fn stop(&self, room: &str, user: &str) -> bool {
        self.active
            .remove(&(room.to_owned(), user.to_owned()))
            .is_some()
    }

    /// The timer's check: ends the typing if `generation` is still the latest.
    pub fn expire(&self, room: &str, user: &str, generation: u64) -> bool {
        self.active
            .remove_if(&(room.to_owned(), user.to_owned()), |_, g| *g == generation)
            .is_some()
    }

    /// Rooms a user is typing in (to stop them when it leaves).
    pub fn rooms_of(&self, user: &str) -> Vec<String> {
        self.active
            .iter()
            .filter(|e| e.key().1 == user)
            .map(|e| e.key().0.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_latest_start_expires() {
        let t = Typing::new(Duration::from_secs(6));
        let g1 = t.start("r", "u");
        let g2 = t.start("r", "u");
        assert!(
            !t.expire("r", "u", g1),
            "an older timer must not end a newer start"
        );
        assert!(t.expire("r", "u", g2));
        assert!(!t.stop("r", "u"));
        t.start("r", "u");
        assert_eq!(t.rooms_of("u"), vec!["r".to_string()]);
        assert!(t.stop("r", "u"));
        // A stop then a new start: the first start's timer must not end it.
        let old = t.start("r", "u");
        t.stop("r", "u");
        let new = t.start("r", "u");
        assert!(!t.expire("r", "u", old));
        assert!(t.expire("r", "u", new));
    }
}
