//! Who is connecting (§1): a JWT issued by Odoo, a guest token this gateway
//! issued earlier, or nobody (a new guest). Every failure is reported to the
//! client as the same "Authentication failed", so nothing about the reason leaks.

use chat_core::clock::now_millis;
use chat_core::{Identity, Role, UserId};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// How long a guest token lets a visitor come back to its conversation.
const GUEST_TOKEN_DAYS: i64 = 30;
const GUEST_TOKEN_TYPE: &str = "guest";

#[derive(Debug, thiserror::Error)]
#[error("Authentication failed")]
pub struct AuthFailed;

/// A user id in a JWT: Odoo may put the `res.users` id as a number or a string.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
enum Subject {
    Text(String),
    Number(i64),
}

impl Subject {
    fn into_string(self) -> String {
        match self {
            Subject::Text(s) => s,
            Subject::Number(n) => n.to_string(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
struct Claims {
    sub: Subject,
    name: String,
    role: String,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partner_id: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    /// `"guest"` on tokens this gateway issues to visitors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
}

#[derive(Clone)]
pub struct Authenticator {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Authenticator {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.validate_exp = true;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Resolves a handshake token. `None` or empty: a brand-new guest.
    pub(crate) fn identify(
        &self,
        token: Option<&str>,
    ) -> Result<(Identity, Option<String>), AuthFailed> {
        let token = token.map(str::trim).unwrap_or_default();
        if token.is_empty() {
            let identity = new_guest();
            let guest_token = self.guest_token(&identity)?;
            return Ok((identity, Some(guest_token)));
        }
        if token.len() > 8192 {
            return Err(AuthFailed);
        }
        let data =
            decode::<Claims>(token, &self.decoding, &self.validation).map_err(|_| AuthFailed)?;
        let c = data.claims;
        let user_id = c.sub.into_string();
        let name = chat_core::validate::clean_text(&c.name);
        if user_id.is_empty() || user_id.len() > 128 || name.is_empty() {
            return Err(AuthFailed);
        }
        if c.typ.as_deref() == Some(GUEST_TOKEN_TYPE) {
            // A guest token can only ever name a guest.
            if !UserId::is_guest_id(&user_id) {
                return Err(AuthFailed);
            }
            let identity = Identity {
                user_id,
                name,
                role: Role::Public,
                department: None,
                email: None,
            };
            return Ok((identity, Some(token.to_owned())));
        }
        if UserId::is_guest_id(&user_id) {
            return Err(AuthFailed);
        }
        let role: Role = c.role.parse().map_err(|_| AuthFailed)?;
        Ok((
            Identity {
                user_id,
                name,
                role,
                department: c.department,
                email: c.email,
            },
            None,
        ))
    }

    /// A token that brings the same guest back.
    pub fn guest_token(&self, guest: &Identity) -> Result<String, AuthFailed> {
        let claims = Claims {
            sub: Subject::Text(guest.user_id.clone()),
            name: guest.name.clone(),
            role: Role::Public.as_str().into(),
            exp: now_millis() / 1000 + GUEST_TOKEN_DAYS * 86_400,
            partner_id: None,
            department: None,
            email: None,
            typ: Some(GUEST_TOKEN_TYPE.into()),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|_| AuthFailed)
    }

    /// A user JWT, as the Odoo addon would issue it (demo mode and tests).
    pub fn user_token(
        &self,
        id: &str,
        name: &str,
        role: Role,
        ttl_secs: i64,
    ) -> Result<String, AuthFailed> {
        let claims = Claims {
            sub: Subject::Text(id.to_owned()),
            name: name.to_owned(),
            role: role.as_str().into(),
            exp: now_millis() / 1000 + ttl_secs,
            partner_id: None,
            department: None,
            email: None,
            typ: None,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|_| AuthFailed)
    }
}

fn new_guest() -> Identity {
    let random: u64 = rand::rng().random();
    Identity {
        user_id: UserId::new_guest(now_millis(), random).into_string(),
        name: "Guest".into(),
        role: Role::Public,
        department: None,
        email: None,
    }
}

/// Anonymous visitors must not pass for staff in front of agents or other
/// visitors (protocol §6). Distinctive words are refused anywhere in a
/// guest's name; short ones that occur inside ordinary names ("Stafford",
/// "Sargent") only as a word of their own.
const STAFF_ANYWHERE: &[&str] = &[
    "support",
    "seitech",
    "administrator",
    "moderator",
    "helpdesk",
];
const STAFF_WORDS: &[&str] = &[
    "admin", "agent", "staff", "team", "system", "official", "operator",
];

/// Does `name` read like staff? Compared lowercased, with common digit and
/// symbol look-alikes mapped to letters, so "SUPP0RT" and "Sys7em" count too.
pub(crate) fn staff_like_name(name: &str) -> bool {
    let folded: String = name
        .chars()
        .map(|c| match c {
            '0' => 'o',
            '1' | '!' | '|' => 'i',
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' => 't',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect();
    let letters: String = folded.chars().filter(|c| c.is_alphabetic()).collect();
    STAFF_ANYWHERE.iter().any(|w| letters.contains(w))
        || folded
            .split(|c: char| !c.is_alphabetic())
            .any(|word| STAFF_WORDS.contains(&word))
}

/// A random secret for demo mode when none is configured.
pub(crate) fn random_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The file in the data directory that keeps demo mode's secret.
pub(crate) const DEMO_SECRET_FILE: &str = "demo-jwt-secret";

/// Demo mode's secret when none is configured: made once and kept in the
/// data directory (readable by the owner only), so tokens survive a restart
/// as they do with a configured `JWT_SECRET`.
pub(crate) fn demo_secret(data_dir: &std::path::Path) -> std::io::Result<String> {
    use std::io::Write;
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join(DEMO_SECRET_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            let secret = random_secret();
            file.write_all(secret.as_bytes())?;
            file.sync_all()?;
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let kept = std::fs::read_to_string(&path)?;
            let kept = kept.trim();
            if kept.len() < 32 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{} holds no usable secret; remove it to make a new one",
                        path.display()
                    ),
                ));
            }
            Ok(kept.to_owned())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Authenticator {
        Authenticator::new(b"test-secret")
    }

    #[test]
    fn the_demo_secret_is_made_once_and_kept_private() {
        let dir = std::env::temp_dir().join(format!("seitech-demo-secret-{}", random_secret()));
        let first = demo_secret(&dir).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(
            demo_secret(&dir).unwrap(),
            first,
            "the same secret after a restart"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(DEMO_SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.join(DEMO_SECRET_FILE), "short").unwrap();
        assert!(
            demo_secret(&dir).is_err(),
            "a damaged file is an error, not a weak secret"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_token_makes_a_guest_that_can_come_back() {
        let a = auth();
        let (guest, token) = a.identify(None).unwrap();
        assert!(guest.is_guest() && UserId::is_guest_id(&guest.user_id));
        assert_eq!(guest.role, Role::Public);
        let (again, _) = a.identify(token.as_deref()).unwrap();
        assert_eq!(again.user_id, guest.user_id);
        assert!(again.is_guest());
    }

    #[test]
    fn jwt_claims_are_the_identity() {
        let a = auth();
        let t = a.user_token("42", "Ada", Role::Instructor, 60).unwrap();
        let (who, guest_token) = a.identify(Some(&t)).unwrap();
        assert_eq!(
            (who.user_id.as_str(), who.name.as_str(), who.role),
            ("42", "Ada", Role::Instructor)
        );
        assert!(guest_token.is_none() && !who.is_guest());
    }

    #[test]
    fn numeric_subjects_are_accepted() {
        let a = auth();
        let claims = serde_json::json!({"sub": 7, "name": "N", "role": "student", "exp": now_millis() / 1000 + 60});
        let t = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"test-secret"),
        )
        .unwrap();
        assert_eq!(a.identify(Some(&t)).unwrap().0.user_id, "7");
    }

    #[test]
    fn bad_tokens_fail_without_detail() {
        let a = auth();
        let other = Authenticator::new(b"other-secret");
        let expired = a.user_token("1", "A", Role::Admin, -3600).unwrap();
        let foreign = other.user_token("1", "A", Role::Admin, 60).unwrap();
        let bad_role = {
            let claims = serde_json::json!({"sub": "1", "name": "A", "role": "root", "exp": now_millis() / 1000 + 60});
            encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(b"test-secret"),
            )
            .unwrap()
        };
        let none_alg = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwibmFtZSI6IkEiLCJyb2xlIjoiYWRtaW4iLCJleHAiOjk5OTk5OTk5OTl9.";
        for t in [
            expired.as_str(),
            foreign.as_str(),
            bad_role.as_str(),
            "garbage",
            none_alg,
        ] {
            let err = a.identify(Some(t)).unwrap_err();
            assert_eq!(err.to_string(), "Authentication failed");
        }
    }

    #[test]
    fn guests_cannot_name_themselves_like_staff() {
        for name in [
            "Support",
            "Seitech Support",
            "ADMIN",
            "S u p p 0 r t",
            "the-agent",
            "Sys7em",
            "Team Seitech",
        ] {
            assert!(staff_like_name(name), "{name}");
        }
        for name in [
            "Ada Lovelace",
            "Jo",
            "Ümit",
            "Maria-José",
            "李雷",
            "Stafford",
            "Sargent",
        ] {
            assert!(!staff_like_name(name), "{name}");
        }
    }

    #[test]
    fn a_jwt_cannot_pose_as_a_guest_nor_a_guest_token_as_a_user() {
        let a = auth();
        let t = a.user_token("guest_1_abc", "G", Role::Admin, 60).unwrap();
        assert!(a.identify(Some(&t)).is_err());
        let forged = Identity {
            user_id: "9".into(),
            name: "Root".into(),
            role: Role::Public,
            department: None,
            email: None,
        };
        let t = a.guest_token(&forged).unwrap();
        assert!(a.identify(Some(&t)).is_err());
    }
}
