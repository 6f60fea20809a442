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

/// The page a visitor opened the support widget on, as the widget reports
/// it: an absolute `http`/`https` URL of at most 2048 bytes with no spaces or
/// control characters. Anything else (a `javascript:` link, garbage) is
/// refused, so an agent's console never shows a link it should not follow.
pub fn page_url(raw: &str) -> ChatResult<String> {
    let u = raw.trim();
    let bad = || ChatError::invalid("pageUrl: must be an http(s) URL of at most 2048 bytes");
    let lower = u.get(..8).unwrap_or(u).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &u[8..]
    } else if lower.starts_with("http://") {
        &u[7..]
    } else {
        return Err(bad());
    };
    if u.len() > 2048
        || rest.is_empty()
        || rest.starts_with('/')
        || u.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    Ok(u.to_owned())
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

/// Longest reaction, in characters (a family ZWJ sequence with skin tones
/// fits; a sentence does not).
pub const MAX_EMOJI_CHARS: usize = 16;

/// An emoji reaction: exactly one Unicode emoji sequence (UTS #51): an emoji
/// character (with an optional presentation selector or skin-tone modifier,
/// and an optional tag sequence, as in subdivision flags), a keycap, or a
/// flag (two regional indicators), or several of these joined by ZWJ.
/// Letters, digits and punctuation on their own are not emoji.
pub fn emoji(raw: &str) -> ChatResult<String> {
    let e = raw.trim();
    let chars: Vec<char> = e.chars().collect();
    if chars.is_empty() || chars.len() > MAX_EMOJI_CHARS || !is_emoji_sequence(&chars) {
        return Err(ChatError::invalid("emoji must be a single emoji"));
    }
    Ok(e.to_owned())
}

fn is_emoji_sequence(chars: &[char]) -> bool {
    use unicode_properties::emoji::is_zwj;
    let mut i = 0;
    loop {
        match emoji_element(chars, i) {
            Some(next) => i = next,
            None => return false,
        }
        if i == chars.len() {
            return true;
        }
        if !is_zwj(chars[i]) {
            return false;
        }
        i += 1;
    }
}

/// Parses one emoji element at `i`; the index after it.
fn emoji_element(chars: &[char], mut i: usize) -> Option<usize> {
    use unicode_properties::emoji::{
        is_emoji_presentation_selector, is_regional_indicator, is_tag_character, UnicodeEmoji,
    };
    let c = *chars.get(i)?;
    if is_regional_indicator(c) {
        return chars
            .get(i + 1)
            .filter(|n| is_regional_indicator(**n))
            .map(|_| i + 2);
    }
    if matches!(c, '0'..='9' | '#' | '*') {
        i += 1;
        if chars
            .get(i)
            .is_some_and(|n| is_emoji_presentation_selector(*n))
        {
            i += 1;
        }
        return (chars.get(i) == Some(&'\u{20E3}')).then_some(i + 1);
    }
    if c.is_ascii() || !c.is_emoji_char() {
        return None;
    }
    i += 1;
    if let Some(n) = chars.get(i) {
        if is_emoji_presentation_selector(*n) || matches!(*n, '\u{1F3FB}'..='\u{1F3FF}') {
            i += 1;
        }
    }
    if chars
        .get(i)
        .is_some_and(|n| is_tag_character(*n) && *n != '\u{E007F}')
    {
        while chars
            .get(i)
            .is_some_and(|n| is_tag_character(*n) && *n != '\u{E007F}')
        {
            i += 1;
        }
        // A tag sequence ends with CANCEL TAG.
        return (chars.get(i) == Some(&'\u{E007F}')).then_some(i + 1);
    }
    Some(i)
}

/// Most different reactions one message may carry.
pub const MAX_REACTIONS_PER_MESSAGE: usize = 20;
/// Most reactions one user may put on one message.
pub const MAX_REACTIONS_PER_USER: usize = 5;

/// May `user` toggle `emoji` on a message whose reactions are `current`?
/// Taking a reaction back is always allowed; adding one is capped per
/// message (different emoji) and per user.
pub fn reaction_toggle(
    current: &crate::model::Reactions,
    user: &str,
    emoji: &str,
) -> ChatResult<()> {
    let mine = |users: &Vec<String>| users.iter().any(|u| u == user);
    if current.get(emoji).is_some_and(mine) {
        return Ok(());
    }
    if !current.contains_key(emoji) && current.len() >= MAX_REACTIONS_PER_MESSAGE {
        return Err(ChatError::too_large(format!(
            "a message carries at most {MAX_REACTIONS_PER_MESSAGE} different reactions"
        )));
    }
    if current.values().filter(|users| mine(users)).count() >= MAX_REACTIONS_PER_USER {
        return Err(ChatError::too_large(format!(
            "at most {MAX_REACTIONS_PER_USER} reactions per person on a message"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn page_urls_are_absolute_web_urls_only() {
        assert_eq!(
            page_url(" https://seitech.example/courses/python?ref=ad ").unwrap(),
            "https://seitech.example/courses/python?ref=ad"
        );
        assert!(page_url("HTTP://localhost:3000/").is_ok());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "/courses/python",
            "https://",
            "https:///path",
            "https://a b.example/",
            "https://a.example/\u{0}",
            "ftp://files.example/",
            "",
        ] {
            assert!(page_url(bad).is_err(), "{bad:?}");
        }
        assert!(page_url(&format!("https://a.example/{}", "x".repeat(2100))).is_err());
    }

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

    #[test]
    fn a_reaction_is_one_emoji_sequence() {
        for ok in [
            "👍",
            " 🎉 ",
            "❤️",
            "❤",
            "👍🏽",
            "1️⃣",
            "#⃣",
            "🇫🇷",
            "👩‍💻",
            "👨‍👩‍👧‍👦",
            "🏳️‍🌈",
            "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            "👩🏽‍🚀",
            "©️",
            // the frontend's picker
            "😀",
            "😊",
            "😂",
            "😍",
            "🤔",
            "😢",
            "😮",
            "👏",
            "🙏",
            "🔥",
            "✅",
            "📚",
            "💡",
        ] {
            assert!(emoji(ok).is_ok(), "{ok:?} is an emoji");
        }
        for bad in [
            "SCAM-LINK.io",
            "a",
            "1",
            "#",
            "ok",
            "👍 👍",
            "👍👍",
            "👍a",
            "\u{200D}",
            "👩\u{200D}",
            "\u{FE0F}",
            "🇫",
            "🏴\u{E0067}\u{E0062}",
            "\u{202E}👍",
            "<b>",
            "\u{200B}👍\u{200B}",
        ] {
            assert!(emoji(bad).is_err(), "{bad:?} is not one emoji");
        }
    }

    #[test]
    fn reactions_are_capped_per_message_and_per_user() {
        use crate::model::Reactions;
        let mut r = Reactions::new();
        for i in 0..MAX_REACTIONS_PER_USER {
            r.insert(format!("e{i}"), vec!["u".into()]);
        }
        assert!(reaction_toggle(&r, "u", "new").is_err(), "the user's cap");
        assert!(reaction_toggle(&r, "u", "e0").is_ok(), "taking one back");
        assert!(reaction_toggle(&r, "v", "e0").is_ok(), "another user");
        for i in MAX_REACTIONS_PER_USER..MAX_REACTIONS_PER_MESSAGE {
            r.insert(format!("e{i}"), vec!["w".into()]);
        }
        assert!(
            reaction_toggle(&r, "v", "new").is_err(),
            "the message's cap"
        );
        assert!(
            reaction_toggle(&r, "v", "e7").is_ok(),
            "joining an existing one"
        );
    }
}
