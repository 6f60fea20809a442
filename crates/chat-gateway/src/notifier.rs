//! The notifier as the app holds it: the Web Push sender (when VAPID is
//! configured) and the notification window. Who is notified of what, and
//! how, is notify.rs's; this part sits below the app so that state.rs need
//! not import it.

use chat_notify::WebPusher;

pub const NOTIFICATIONS_TOTAL: &str = "chat_notifications_total";

pub struct Notifier {
    pub(crate) pusher: Option<WebPusher>,
    /// At most one notification per user and conversation in this long.
    pub(crate) window_ms: i64,
}

impl Notifier {
    pub fn new(config: &crate::config::Config) -> anyhow::Result<Self> {
        let pusher = match config
            .vapid_private_key
            .as_deref()
            .filter(|k| !k.trim().is_empty())
        {
            Some(key) => Some(
                WebPusher::new(key, &config.vapid_subject, config.push_allow_http)
                    .map_err(|e| anyhow::anyhow!("VAPID_PRIVATE_KEY: {e}"))?,
            ),
            None => None,
        };
        for (channel, result) in [
            ("push", "sent"),
            ("push", "failed"),
            ("email", "sent"),
            ("email", "failed"),
            ("any", "rate_limited"),
        ] {
            metrics::counter!(NOTIFICATIONS_TOTAL, "channel" => channel, "result" => result)
                .absolute(0);
        }
        Ok(Self {
            pusher,
            window_ms: i64::try_from(config.notify_interval_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
        })
    }

    /// The VAPID public key browsers subscribe with (`None`: no Web Push).
    pub fn public_key(&self) -> Option<String> {
        self.pusher.as_ref().map(WebPusher::public_key)
    }
}
