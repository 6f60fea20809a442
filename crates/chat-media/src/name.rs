//! File names as given by clients, made safe to store, show and put in a
//! `Content-Disposition` header.

use crate::sniff::Kind;

const MAX_CHARS: usize = 120;

fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '"' | '\'' | '<' | '>' | ':' | '*' | '?' | '|' | ';' | '\\' | '/' | '%' | '`')
        // bidi overrides and isolates, zero-width characters, BOM
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// The last path component, without dangerous characters, leading dots or
/// runs of spaces, at most 120 characters, and with an extension that fits the
/// content (the canonical one is appended when it does not).
pub fn sanitize(raw: &str, kind: Kind) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !unsafe_char(*c)).collect();
    let mut name = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    name = name
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' '])
        .to_owned();
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e))
            if !s.is_empty() && kind.extensions().contains(&e.to_ascii_lowercase().as_str()) =>
        {
            (s.to_owned(), e.to_ascii_lowercase())
        }
        _ => (name.clone(), kind.extensions()[0].to_owned()),
    };
    let stem = if stem.is_empty() {
        "file".to_owned()
    } else {
        stem
    };
    let max_stem = MAX_CHARS - ext.chars().count() - 1;
    let stem: String = stem.chars().take(max_stem).collect();
    format!("{}.{ext}", stem.trim_end())
}

/// An ASCII-only version for the plain `filename=` parameter.
pub fn ascii_fallback(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised() {
        assert_eq!(sanitize("photo.JPG", Kind::Jpeg), "photo.jpg");
        assert_eq!(sanitize("../../etc/passwd", Kind::Text), "passwd.txt");
        assert_eq!(
            sanitize("C:\\Users\\x\\report.pdf", Kind::Pdf),
            "report.pdf"
        );
        assert_eq!(sanitize("evil.exe", Kind::Png), "evil.exe.png");
        assert_eq!(sanitize("page.html", Kind::Text), "page.html.txt");
        assert_eq!(sanitize("a\"b;c\r\nd.txt", Kind::Text), "abcd.txt");
        assert_eq!(sanitize("\u{202E}gnp.exe", Kind::Png), "gnp.exe.png");
        assert_eq!(sanitize("...", Kind::Pdf), "file.pdf");
        assert_eq!(sanitize("", Kind::Webm), "file.webm");
        assert_eq!(sanitize(".hidden", Kind::Text), "hidden.txt");
        assert_eq!(
            sanitize("  lots   of   space  .md", Kind::Text),
            "lots of space.md"
        );
        let long = "x".repeat(500) + ".pdf";
        let s = sanitize(&long, Kind::Pdf);
        assert_eq!(s.chars().count(), 120);
        assert!(s.ends_with(".pdf"));
        assert_eq!(ascii_fallback("résumé.pdf"), "r_sum_.pdf");
    }
}
