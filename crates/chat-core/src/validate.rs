//! Turning untrusted text into what we store. Content is trimmed, then control
//! characters other than newline and tab are removed (they break terminals,
//! logs and some renderers), then measured in characters (not bytes).

use crate::error::{ChatError, ChatResult};

/// The limits an event's payload is checked against (all configurable).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_content_chars: usize,
    pub max_attachments: usize,
    pub max_id_len: usize,
    pub max_name_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_content_chars: 4000,
            max_attachments: 10,
            max_id_len: 128,
            max_name_chars: 100,
        }
    }
}

/// Trims and strips control characters (except `\n` and `\t`).
pub fn clean_text(raw: &str) -> String {
    raw.trim()
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Cleans message content and checks its length. Empty content is allowed here;
/// whether a message may be empty depends on its attachments (see [`message_body`]).
pub fn content(raw: &str, limits: &Limits) -> ChatResult<String> {
    // Refuse absurd inputs before scanning them character by character.
    if raw.len() > limits.max_content_chars * 4 + 1024 {
        return Err(too_long(limits));
    }
    let cleaned = clean_text(raw);
    if cleaned.chars().count() > limits.max_content_chars {
        return Err(too_long(limits));
    }
    Ok(cleaned)
}

fn too_long(limits: &Limits) -> ChatError {
    ChatError::too_large(format!(
        "content is longer than {} characters",
        limits.max_content_chars
    ))
}

/// Content plus attachments of a new message: at least one of the two.
pub fn message_body(raw: &str, attachments: &[String], limits: &Limits) -> ChatResult<String> {
    if attachments.len() > limits.max_attachments {
        return Err(ChatError::too_large(format!(
            "at most {} attachments per message",
            limits.max_attachments
        )));
    }
    for id in attachments {
        identifier("attachment id", id, limits)?;
    }
    let content = content(raw, limits)?;
    if content.is_empty() && attachments.is_empty() {
        return Err(ChatError::invalid("content must not be empty"));
    }
    Ok(content)
}

/// An id from a payload: non-empty, bounded, printable ASCII without spaces.
pub fn identifier<'a>(what: &str, id: &'a str, limits: &Limits) -> ChatResult<&'a str> {
    if id.is_empty() {
        return Err(ChatError::invalid(format!("{what} must not be empty")));
    }
    if id.len() > limits.max_id_len {
        return Err(ChatError::invalid(format!("{what} is too long")));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ChatError::invalid(format!("{what} has invalid characters")));
    }
    Ok(id)
}

/// A display name (conversation name, visitor name): cleaned, single line, 1..=max chars.
pub fn name(what: &str, raw: &str, limits: &Limits) -> ChatResult<String> {
    let cleaned: String = clean_text(raw)
        .chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .collect();
    let n = cleaned.chars().count();
    if n == 0 {
        return Err(ChatError::invalid(format!("{what} must not be empty")));
    }
    if n > limits.max_name_chars {
        return Err(ChatError::invalid(format!(
            "{what} is longer than {} characters",
            limits.max_name_chars
        )));
    }
    Ok(cleaned)
}

/// A plausible email address: one `@`, a dotted domain, no spaces, ≤ 254 bytes.
/// (Deliverability is the mail server's business; this refuses obvious garbage
/// and header-injection attempts.)
pub fn email(raw: &str) -> ChatResult<String> {
    let e = raw.trim();
    let bad = || ChatError::invalid("email is not a valid address");
    if e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = e.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
        || e.contains(['<', '>', ',', ';', '"'])
    {
        return Err(bad());
    }
    Ok(e.to_owned())
}

/// An emoji reaction: 1..=16 characters, no whitespace or control characters.
pub fn emoji(raw: &str) -> ChatResult<String> {
    let e = raw.trim();
    let n = e.chars().count();
    if n == 0 || n > 16 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ChatError::invalid(
            "emoji must be 1 to 16 visible characters",
        ));
    }
    Ok(e.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn limits() -> Limits {
        Limits::default()
    }

    #[test]
    fn content_is_trimmed_and_stripped_of_control_characters() {
        let got = content("  he\u{0}llo\u{7}\n\tworld\u{1b}[31m  ", &limits()).unwrap();
        assert_eq!(got, "hello\n\tworld[31m");
    }

    #[test]
    fn content_length_counts_characters_not_bytes() {
        let l = Limits {
            max_content_chars: 3,
            ..limits()
        };
        assert_eq!(content("ééé", &l).unwrap(), "ééé");
        assert_eq!(content("éééé", &l).unwrap_err().code, ErrorCode::TooLarge);
        assert_eq!(
            content(&"x".repeat(1_000_000), &l).unwrap_err().code,
            ErrorCode::TooLarge
        );
    }

    #[test]
    fn empty_message_needs_an_attachment() {
        assert_eq!(
            message_body("  \u{0} ", &[], &limits()).unwrap_err().code,
            ErrorCode::Invalid
        );
        assert_eq!(message_body("", &["a1".into()], &limits()).unwrap(), "");
        let many: Vec<String> = (0..11).map(|i| format!("a{i}")).collect();
        assert_eq!(
            message_body("x", &many, &limits()).unwrap_err().code,
            ErrorCode::TooLarge
        );
        assert_eq!(
            message_body("x", &["a b".into()], &limits())
                .unwrap_err()
                .code,
            ErrorCode::Invalid
        );
    }

    #[test]
    fn identifiers_are_bounded_printable_ascii() {
        let l = limits();
        assert!(identifier("roomId", "abc-123_x:y", &l).is_ok());
        assert!(identifier("roomId", "", &l).is_err());
        assert!(identifier("roomId", &"a".repeat(129), &l).is_err());
        assert!(identifier("roomId", "a\nb", &l).is_err());
        assert!(identifier("roomId", "é", &l).is_err());
    }

    #[test]
    fn emails_refuse_garbage_and_header_injection() {
        assert_eq!(email(" ada@example.org ").unwrap(), "ada@example.org");
        for bad in [
            "",
            "ada",
            "@example.org",
            "ada@example",
            "ada@@example.org",
            "ada@example.org\r\nBcc: x@y.z",
            "a <b@c.d>",
            "ada@.org",
            "ada@example..org",
        ] {
            assert!(email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names_are_single_line_and_bounded() {
        let l = limits();
        assert_eq!(name("name", " Ada\nLovelace ", &l).unwrap(), "Ada Lovelace");
        assert!(name("name", "   ", &l).is_err());
        assert!(name("name", &"x".repeat(101), &l).is_err());
    }

    #[test]
    fn emoji_is_short_and_visible() {
        assert_eq!(emoji("👍").unwrap(), "👍");
        assert!(emoji("").is_err());
        assert!(emoji("a b").is_err());
        assert!(emoji(&"x".repeat(17)).is_err());
    }
}
