//! Who is online: open sockets counted per user, so `user:online` goes out on a
//! user's first tab and `user:offline` after its last one closes.

use dashmap::DashMap;

#[derive(Default)]
pub struct Presence {
    sockets: DashMap<String, usize>,
}

impl Presence {
    /// Counts a new socket; `true` when it is the user's first.
    pub fn connect(&self, user: &str) -> bool {
        let mut n = self.sockets.entry(user.to_owned()).or_insert(0);
        *n += 1;
        *n == 1
    }

    /// Counts a closed socket; `true` when it was the user's last.
    pub fn disconnect(&self, user: &str) -> bool {
        let last = match self.sockets.get_mut(user) {
            Some(mut n) => {
                *n = n.saturating_sub(1);
                *n == 0
            }
            None => return false,
        };
        if last {
            self.sockets.remove_if(user, |_, n| *n == 0);
        }
        last
    }

    pub fn is_online(&self, user: &str) -> bool {
        self.sockets.get(user).is_some_and(|n| *n > 0)
    }

    pub fn online_users(&self) -> usize {
        self.sockets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_on_first_tab_offline_after_last() {
        let p = Presence::default();
        assert!(p.connect("a"));
        assert!(!p.connect("a"));
        assert!(!p.connect("a"));
        assert!(!p.disconnect("a"));
        assert!(!p.disconnect("a"));
        assert!(p.is_online("a"));
        assert!(p.disconnect("a"));
        assert!(!p.is_online("a"));
        assert!(
            !p.disconnect("a"),
            "a stray disconnect is not a second offline"
        );
        assert_eq!(p.online_users(), 0);
    }
}
