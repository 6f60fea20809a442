//! Short-lived download URLs: `?exp=<unix seconds>&sig=<base64url HMAC-SHA256
//! over "<id>.<exp>">`, with a key derived from the gateway's JWT secret so
//! that every node of a cluster accepts the others' URLs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const KEY_LABEL: &[u8] = b"seitech-chat attachment url v1";

#[derive(Clone)]
pub struct UrlSigner {
    key: [u8; 32],
}

impl UrlSigner {
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(KEY_LABEL);
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, id: &str, exp: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(exp.to_string().as_bytes());
        mac
    }

    pub fn sign(&self, id: &str, exp: i64) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(id, exp).finalize().into_bytes())
    }

    /// True when `sig` is this key's signature of `(id, exp)` and `exp` is not past.
    pub fn verify(&self, id: &str, exp: i64, sig: &str, now_secs: i64) -> bool {
        if exp < now_secs {
            return false;
        }
        let Ok(raw) = URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        self.mac(id, exp).verify_slice(&raw).is_ok()
    }

    /// The query string (without `?`) of a URL valid until `exp`.
    pub fn query(&self, id: &str, exp: i64) -> String {
        format!("exp={exp}&sig={}", self.sign(id, exp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_until_they_expire_and_only_for_their_id() {
        let s = UrlSigner::new(b"jwt-secret");
        let sig = s.sign("a1", 1000);
        assert!(s.verify("a1", 1000, &sig, 999));
        assert!(s.verify("a1", 1000, &sig, 1000));
        assert!(!s.verify("a1", 1000, &sig, 1001), "expired");
        assert!(!s.verify("a2", 1000, &sig, 10), "another id");
        assert!(!s.verify("a1", 1001, &sig, 10), "another expiry");
        assert!(!s.verify("a1", 1000, "not base64!", 10));
        let other = UrlSigner::new(b"another-secret");
        assert!(!other.verify("a1", 1000, &sig, 10), "another key");
        assert_eq!(s.query("a1", 1000), format!("exp=1000&sig={sig}"));
    }
}
