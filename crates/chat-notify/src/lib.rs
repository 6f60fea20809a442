//! Offline notifications (protocol §7): the `push:subscribe` payload and its
//! checks ([`Subscription`]), and the sender ([`WebPusher`]: VAPID-signed,
//! aes128gcm-encrypted, RFC 8030/8291/8292 through the `web-push` crate).
//! The subscriptions and the notification windows (at most one notification
//! per conversation per user in a window) are kept by the store
//! (`chat_store::NotificationStore`), so every node sees them; an old
//! per-node `notify.db` is imported once ([`legacy`]).
//!
//! Push endpoints are URLs a client chooses, which the gateway then POSTs to:
//! they must be https and reach only public addresses ([`endpoint_ip_allowed`]),
//! checked when subscribing and again at every send, by the resolver that
//! picks the very addresses the request connects to (a name that resolved to
//! a public address at subscribe time may resolve to 169.254.169.254 later).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chat_store::PushSubscriptionRecord;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub mod legacy;
use web_push::{
    ContentEncoding, PartialVapidSignatureBuilder, SubscriptionInfo, VapidSignatureBuilder,
    WebPushMessageBuilder,
};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{0}")]
    Invalid(String),
    #[error("storage: {0}")]
    Store(#[from] chat_store::StoreError),
    #[error("old notify.db: {0}")]
    Legacy(#[from] rusqlite::Error),
    #[error("push: {0}")]
    Push(String),
    /// The push service says the subscription no longer exists (404/410).
    #[error("the subscription is gone")]
    Gone,
    /// The endpoint is (or now resolves to) an address pushes may not go to.
    #[error("push endpoint refused: {0}")]
    Refused(String),
}

fn v4_public(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19))) // benchmarking
}

fn v6_public(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_public(v4);
    }
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address inside.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return v4_public(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        return v4_public(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard
        || s[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible, deprecated
}

/// May a push go to `ip`? Public unicast addresses only; loopback too when
/// `allow_loopback` (local tests, `--push-allow-http`). Private, link-local
/// (169.254.169.254, the cloud metadata service), CGNAT, multicast and
/// reserved ranges never.
pub fn endpoint_ip_allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) if v4.is_loopback() => allow_loopback,
        IpAddr::V6(v6) if v6.is_loopback() => allow_loopback,
        IpAddr::V4(v4) => v4_public(v4),
        IpAddr::V6(v6) => v6_public(v6),
    }
}

/// Checks an endpoint URL's host as far as it can be without resolving it:
/// an IP literal must be allowed, and `localhost` names are loopback.
fn check_host(url: &url::Url, allow_loopback: bool) -> Result<(), NotifyError> {
    let refused = |why: &str| Err(NotifyError::Refused(why.to_owned()));
    match url.host() {
        None => refused("no host"),
        Some(url::Host::Ipv4(ip)) if !endpoint_ip_allowed(IpAddr::V4(ip), allow_loopback) => {
            refused("not a public address")
        }
        Some(url::Host::Ipv6(ip)) if !endpoint_ip_allowed(IpAddr::V6(ip), allow_loopback) => {
            refused("not a public address")
        }
        Some(url::Host::Domain(d))
            if !allow_loopback
                && (d.eq_ignore_ascii_case("localhost")
                    || d.to_ascii_lowercase().ends_with(".localhost")) =>
        {
            refused("not a public address")
        }
        Some(_) => Ok(()),
    }
}

/// The resolver of the push client: only the allowed addresses of a name,
/// and an error when it has none, so a request never connects anywhere else.
struct PublicOnly {
    allow_loopback: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_loopback = self.allow_loopback;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| endpoint_ip_allowed(a.ip(), allow_loopback))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
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
    /// Checks the endpoint (https to a public host; http and loopback too
    /// when `allow_insecure`, for local tests) and the keys (an uncompressed
    /// P-256 point and a 16-byte secret). The addresses a name resolves to
    /// are checked at every send.
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
        if check_host(&url, allow_insecure).is_err() {
            return bad("endpoint must be a public address");
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

impl From<Subscription> for PushSubscriptionRecord {
    fn from(s: Subscription) -> Self {
        PushSubscriptionRecord {
            endpoint: s.endpoint,
            p256dh: s.keys.p256dh,
            auth: s.keys.auth,
        }
    }
}

impl From<PushSubscriptionRecord> for Subscription {
    fn from(r: PushSubscriptionRecord) -> Self {
        Subscription {
            endpoint: r.endpoint,
            keys: Keys {
                p256dh: r.p256dh,
                auth: r.auth,
            },
        }
    }
}

/// Sends Web Push messages signed with the gateway's VAPID key.
pub struct WebPusher {
    vapid: PartialVapidSignatureBuilder,
    subject: String,
    client: reqwest::Client,
    allow_loopback: bool,
}

impl WebPusher {
    /// `private_key`: the raw P-256 private key in base64url (as web-push
    /// generators print it), or a PEM (SEC1 or PKCS#8). `allow_loopback`
    /// lets pushes go to loopback endpoints (local tests only).
    pub fn new(
        private_key: &str,
        subject: &str,
        allow_loopback: bool,
    ) -> Result<Self, NotifyError> {
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
            // A proxy would resolve the name itself, past the check.
            .no_proxy()
            .dns_resolver(Arc::new(PublicOnly { allow_loopback }))
            .build()
            .map_err(|e| NotifyError::Push(e.to_string()))?;
        Ok(Self {
            vapid,
            subject: subject.to_owned(),
            client,
            allow_loopback,
        })
    }

    /// The public key browsers need as `applicationServerKey` (base64url).
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.vapid.get_public_key())
    }

    /// Encrypts `payload` for the subscription and posts it to its endpoint.
    pub async fn send(&self, sub: &Subscription, payload: &[u8]) -> Result<(), NotifyError> {
        // IP literals never reach the resolver: checked here. Names are
        // checked by the resolver, on the addresses the request will use.
        let target =
            url::Url::parse(&sub.endpoint).map_err(|e| NotifyError::Push(e.to_string()))?;
        check_host(&target, self.allow_loopback)?;
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
        let resp = req.send().await.map_err(|e| {
            // The resolver's refusal is the source of a connect error.
            let refused =
                std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|s| s.to_string().contains("resolves to no public address"));
            if refused {
                NotifyError::Refused(e.to_string())
            } else {
                NotifyError::Push(e.to_string())
            }
        })?;
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
    fn only_public_endpoints_are_accepted() {
        for bad in [
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.1/x",
            "https://192.168.1.1/x",
            "https://172.16.5.4/x",
            "https://100.64.0.1/x",
            "https://0.0.0.0/x",
            "https://[fd00::1]/x",
            "https://[fe80::1]/x",
            "https://[::ffff:10.0.0.1]/x",
            "https://[64:ff9b::a9fe:a9fe]/x",
            "https://localhost/x",
            "https://api.localhost/x",
        ] {
            assert!(sub(bad).validate(false).is_err(), "{bad}");
        }
        assert!(
            sub("https://203.0.113.1/x").validate(false).is_err(),
            "documentation range"
        );
        assert!(sub("https://8.8.8.8/x").validate(false).is_ok());
        assert!(sub("https://[2606:4700::1111]/x").validate(false).is_ok());
        assert!(sub("https://fcm.googleapis.com/fcm/send/x")
            .validate(false)
            .is_ok());
        // --push-allow-http: loopback, never private or link-local.
        assert!(sub("http://127.0.0.1:9/x").validate(true).is_ok());
        assert!(sub("http://localhost:9/x").validate(true).is_ok());
        assert!(sub("http://169.254.169.254/x").validate(true).is_err());
        assert!(sub("https://10.1.1.1/x").validate(true).is_err());
    }

    #[tokio::test]
    async fn a_name_resolving_to_a_private_address_is_refused_at_send_time() {
        let strict = WebPusher::new(
            "IQ9Ur0ykXoHS9gzfYX0aBjy9lvdrjx_PFUXmie9YRcY",
            "mailto:a@b",
            false,
        )
        .unwrap();
        // Stored before the rules, or written straight to the database:
        // refused at send time all the same.
        let err = strict
            .send(&sub("https://169.254.169.254/x"), b"hi")
            .await
            .unwrap_err();
        assert!(matches!(err, NotifyError::Refused(_)), "{err:?}");
        let resolver = PublicOnly {
            allow_loopback: false,
        };
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let refused = reqwest::dns::Resolve::resolve(&resolver, name).await;
        assert!(refused.is_err(), "localhost resolves to loopback only");
        let permissive = PublicOnly {
            allow_loopback: true,
        };
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let addrs: Vec<_> = reqwest::dns::Resolve::resolve(&permissive, name)
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }

    #[test]
    fn vapid_keys_load_from_base64url() {
        let p = WebPusher::new(
            "IQ9Ur0ykXoHS9gzfYX0aBjy9lvdrjx_PFUXmie9YRcY",
            "mailto:a@b",
            false,
        )
        .unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(p.public_key()).unwrap().len(), 65);
        assert!(WebPusher::new("not a key", "mailto:a@b", false).is_err());
    }
}
