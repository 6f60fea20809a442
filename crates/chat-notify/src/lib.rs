//! Offline notifications (protocol §7): Web Push subscriptions per user
//! ([`Subscriptions`], SQLite), the sender ([`WebPusher`]: VAPID-signed,
//! aes128gcm-encrypted, RFC 8030/8291/8292 through the `web-push` crate), and
//! the [`RateGate`] that lets at most one notification per conversation per
//! user through in a window.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use parking_lot::Mutex;
use rusqlite::{params, Connection};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};
use web_push::{
    ContentEncoding, PartialVapidSignatureBuilder, SubscriptionInfo, VapidSignatureBuilder,
    WebPushMessageBuilder,
};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{0}")]
    Invalid(String),
    #[error("storage: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("push: {0}")]
    Push(String),
    /// The push service says the subscription no longer exists (404/410).
    #[error("the subscription is gone")]
    Gone,
}

/// `push:subscribe` payload: `{ endpoint, keys: { p256dh, auth } }`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Subscription {
    pub endpoint: String,
    pub keys: Keys,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Keys {
    pub p256dh: String,
    pub auth: String,
}

fn b64(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
        .or_else(|| base64::engine::general_purpose::STANDARD.decode(s).ok())
}

impl Subscription {
    /// Checks the endpoint (https, or http to loopback when `allow_insecure`)
    /// and the keys (an uncompressed P-256 point and a 16-byte secret).
    pub fn validate(&self, allow_insecure: bool) -> Result<(), NotifyError> {
        let bad = |m: &str| Err(NotifyError::Invalid(m.to_owned()));
        if self.endpoint.len() > 2048 {
            return bad("endpoint is too long");
        }
        let Ok(url) = url::Url::parse(&self.endpoint) else {
            return bad("endpoint is not a URL");
        };
        match url.scheme() {
            "https" => {}
            "http" if allow_insecure => {}
            _ => return bad("endpoint must be an https URL"),
        }
        if url.host_str().is_none() {
            return bad("endpoint has no host");
        }
        match b64(&self.keys.p256dh) {
            Some(k) if k.len() == 65 && k[0] == 4 => {}
            _ => return bad("keys.p256dh must be an uncompressed P-256 public key"),
        }
        match b64(&self.keys.auth) {
            Some(k) if k.len() == 16 => {}
            _ => return bad("keys.auth must be 16 bytes"),
        }
        Ok(())
    }
}

/// Web Push subscriptions per user, in their own SQLite file.
pub struct Subscriptions {
    db: Mutex<Connection>,
}

impl Subscriptions {
    pub fn open(path: &Path) -> Result<Self, NotifyError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS push_subscriptions (
                endpoint TEXT PRIMARY KEY,
                user_id TEXT NOT NULL,
                p256dh TEXT NOT NULL,
                auth TEXT NOT NULL,
                created_at INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS push_subscriptions_user ON push_subscriptions(user_id);",
        )?;
        Ok(Self {
            db: Mutex::new(conn),
        })
    }

    /// Keeps a subscription for `user` (an endpoint belongs to one user: the
    /// browser that re-subscribes under another login moves it).
    pub fn add(&self, user: &str, s: &Subscription, now_ms: i64) -> Result<(), NotifyError> {
        self.db.lock().execute(
            "INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(endpoint) DO UPDATE SET user_id = ?2, p256dh = ?3, auth = ?4",
            params![s.endpoint, user, s.keys.p256dh, s.keys.auth, now_ms],
        )?;
        Ok(())
    }

    /// Removes `user`'s subscription with this endpoint; `false` when `user`
    /// has none with it (another user's subscription is never touched).
    pub fn remove_for_user(&self, user: &str, endpoint: &str) -> Result<bool, NotifyError> {
        let n = self.db.lock().execute(
            "DELETE FROM push_subscriptions WHERE endpoint = ?1 AND user_id = ?2",
            params![endpoint, user],
        )?;
        Ok(n > 0)
    }

    /// Removes a subscription whoever it belongs to (the push service said it is gone).
    pub fn remove(&self, endpoint: &str) -> Result<(), NotifyError> {
        self.db.lock().execute(
            "DELETE FROM push_subscriptions WHERE endpoint = ?1",
            [endpoint],
        )?;
        Ok(())
    }

    pub fn for_user(&self, user: &str) -> Result<Vec<Subscription>, NotifyError> {
        let db = self.db.lock();
        let mut st = db.prepare_cached(
            "SELECT endpoint, p256dh, auth FROM push_subscriptions WHERE user_id = ?1 ORDER BY created_at",
        )?;
        let rows = st
            .query_map([user], |r| {
                Ok(Subscription {
                    endpoint: r.get(0)?,
                    keys: Keys {
                        p256dh: r.get(1)?,
                        auth: r.get(2)?,
                    },
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

/// At most one notification per `(user, conversation)` per window.
pub struct RateGate {
    window: Duration,
    last: Mutex<HashMap<(String, String), Instant>>,
}

impl RateGate {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// True (and the window starts) when `user` may be notified about `room` at `now`.
    pub fn allow(&self, user: &str, room: &str, now: Instant) -> bool {
        let mut last = self.last.lock();
        if last.len() > 100_000 {
            let window = self.window;
            last.retain(|_, t| now.saturating_duration_since(*t) < window);
        }
        let key = (user.to_owned(), room.to_owned());
        match last.get(&key) {
            Some(t) if now.saturating_duration_since(*t) < self.window => false,
            _ => {
                last.insert(key, now);
                true
            }
        }
    }

    /// Gives back the window opened at `opened` when nothing could be
    /// delivered in it (SMTP or every push service failed), so the next
    /// message tries again instead of the user hearing nothing for a whole
    /// window. A window opened since by someone else is left alone.
    pub fn release(&self, user: &str, room: &str, opened: Instant) {
        let mut last = self.last.lock();
        let key = (user.to_owned(), room.to_owned());
        if last.get(&key) == Some(&opened) {
            last.remove(&key);
        }
    }
}

/// Sends Web Push messages signed with the gateway's VAPID key.
pub struct WebPusher {
    vapid: PartialVapidSignatureBuilder,
    subject: String,
    client: reqwest::Client,
}

impl WebPusher {
    /// `private_key`: the raw P-256 private key in base64url (as web-push
    /// generators print it), or a PEM (SEC1 or PKCS#8).
    pub fn new(private_key: &str, subject: &str) -> Result<Self, NotifyError> {
        let key = private_key.trim();
        let vapid = if key.starts_with("-----BEGIN") {
            VapidSignatureBuilder::from_pem_no_sub(key.as_bytes())
        } else {
            VapidSignatureBuilder::from_base64_no_sub(key.trim_end_matches('='))
        }
        .map_err(|e| NotifyError::Invalid(format!("VAPID private key: {e}")))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| NotifyError::Push(e.to_string()))?;
        Ok(Self {
            vapid,
            subject: subject.to_owned(),
            client,
        })
    }

    /// The public key browsers need as `applicationServerKey` (base64url).
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.vapid.get_public_key())
    }

    /// Encrypts `payload` for the subscription and posts it to its endpoint.
    pub async fn send(&self, sub: &Subscription, payload: &[u8]) -> Result<(), NotifyError> {
        let info = SubscriptionInfo::new(
            sub.endpoint.clone(),
            sub.keys.p256dh.trim_end_matches('=').to_owned(),
            sub.keys.auth.trim_end_matches('=').to_owned(),
        );
        let push_err = |e: web_push::WebPushError| NotifyError::Push(e.to_string());
        let mut sig = self.vapid.clone().add_sub_info(&info);
        let url = url::Url::parse(&sub.endpoint).map_err(|e| NotifyError::Push(e.to_string()))?;
        sig.add_claim("aud", url.origin().ascii_serialization());
        sig.add_claim("sub", self.subject.clone());
        let signature = sig.build().map_err(push_err)?;
        let mut builder = WebPushMessageBuilder::new(&info);
        builder.set_payload(ContentEncoding::Aes128Gcm, payload);
        builder.set_ttl(24 * 3600);
        builder.set_vapid_signature(signature);
        let message = builder.build().map_err(push_err)?;
        let request = web_push::request_builder::build_request::<Vec<u8>>(message);
        let (parts, body) = request.into_parts();
        let mut req = self.client.post(&sub.endpoint).body(body);
        for (name, value) in parts.headers.iter() {
            if let Ok(v) = value.to_str() {
                req = req.header(name.as_str(), v);
            }
        }
        let resp = req
            .send()
            .await
            .map_err(|e| NotifyError::Push(e.to_string()))?;
        match resp.status().as_u16() {
            200..=299 => Ok(()),
            404 | 410 => Err(NotifyError::Gone),
            s => Err(NotifyError::Push(format!("push service answered {s}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P256DH: &str =
        "BLMbF9ffKBiWQLCKvTHb6LO8Nb6dcUh6TItC455vu2kElga6PQvUmaFyCdykxY2nOSSL3yKgfbmFLRTUaGv4yV8";
    const AUTH: &str = "xS03Fi5ErfTNH_l9WHE9Ig";

    fn sub(endpoint: &str) -> Subscription {
        Subscription {
            endpoint: endpoint.into(),
            keys: Keys {
                p256dh: P256DH.into(),
                auth: AUTH.into(),
            },
        }
    }

    #[test]
    fn one_notification_per_conversation_per_user_per_window() {
        let gate = RateGate::new(Duration::from_secs(300));
        let t0 = Instant::now();
        assert!(gate.allow("u1", "r1", t0));
        assert!(!gate.allow("u1", "r1", t0 + Duration::from_secs(10)));
        assert!(gate.allow("u1", "r2", t0), "another conversation");
        assert!(gate.allow("u2", "r1", t0), "another user");
        assert!(!gate.allow("u1", "r1", t0 + Duration::from_secs(299)));
        assert!(gate.allow("u1", "r1", t0 + Duration::from_secs(300)));
        assert!(!gate.allow("u1", "r1", t0 + Duration::from_secs(301)));
    }

    #[test]
    fn a_released_window_lets_the_next_message_notify() {
        let gate = RateGate::new(Duration::from_secs(300));
        let t0 = Instant::now();
        assert!(gate.allow("u1", "r1", t0));
        gate.release("u1", "r1", t0);
        let t1 = t0 + Duration::from_secs(1);
        assert!(gate.allow("u1", "r1", t1), "released: the next one goes");
        gate.release("u1", "r1", t0);
        assert!(
            !gate.allow("u1", "r1", t1 + Duration::from_secs(1)),
            "a stale release does not reopen a newer window"
        );
    }

    #[test]
    fn subscriptions_are_validated() {
        assert!(sub("https://push.example/abc").validate(false).is_ok());
        assert!(sub("http://127.0.0.1:9/abc").validate(false).is_err());
        assert!(sub("http://127.0.0.1:9/abc").validate(true).is_ok());
        assert!(sub("file:///etc/passwd").validate(true).is_err());
        let mut s = sub("https://push.example/abc");
        s.keys.auth = "short".into();
        assert!(s.validate(false).is_err());
        let mut s = sub("https://push.example/abc");
        s.keys.p256dh = AUTH.into();
        assert!(s.validate(false).is_err());
    }

    #[test]
    fn subscriptions_are_kept_per_user() {
        let dir = tempfile::tempdir().unwrap();
        let subs = Subscriptions::open(&dir.path().join("n.db")).unwrap();
        subs.add("1", &sub("https://a/1"), 1).unwrap();
        subs.add("1", &sub("https://a/2"), 2).unwrap();
        subs.add("2", &sub("https://a/3"), 3).unwrap();
        assert_eq!(subs.for_user("1").unwrap().len(), 2);
        subs.add("2", &sub("https://a/2"), 4).unwrap();
        assert_eq!(subs.for_user("1").unwrap(), vec![sub("https://a/1")]);
        subs.remove("https://a/1").unwrap();
        assert!(subs.for_user("1").unwrap().is_empty());
        assert_eq!(subs.for_user("2").unwrap().len(), 2);
    }

    #[test]
    fn a_user_removes_only_its_own_subscription() {
        let dir = tempfile::tempdir().unwrap();
        let subs = Subscriptions::open(&dir.path().join("n.db")).unwrap();
        subs.add("1", &sub("https://a/1"), 1).unwrap();
        subs.add("2", &sub("https://a/2"), 2).unwrap();
        assert!(
            !subs.remove_for_user("1", "https://a/2").unwrap(),
            "not its own"
        );
        assert_eq!(subs.for_user("2").unwrap(), vec![sub("https://a/2")]);
        assert!(!subs.remove_for_user("1", "https://a/none").unwrap());
        assert!(subs.remove_for_user("1", "https://a/1").unwrap());
        assert!(subs.for_user("1").unwrap().is_empty());
        assert!(
            !subs.remove_for_user("1", "https://a/1").unwrap(),
            "already gone"
        );
    }

    #[test]
    fn vapid_keys_load_from_base64url() {
        let p =
            WebPusher::new("IQ9Ur0ykXoHS9gzfYX0aBjy9lvdrjx_PFUXmie9YRcY", "mailto:a@b").unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(p.public_key()).unwrap().len(), 65);
        assert!(WebPusher::new("not a key", "mailto:a@b").is_err());
    }
}
