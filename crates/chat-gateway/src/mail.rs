//! Outgoing email over SMTP (lettre): support transcripts, and the email side
//! of offline notifications. Plain SMTP to the configured relay; TLS, where
//! wanted, is the relay's (a local MTA) business.

use chat_core::clock::format_millis;
use chat_core::model::Message;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("no SMTP server is configured")]
    NotConfigured,
    #[error("bad address: {0}")]
    Address(String),
    #[error("could not build the email: {0}")]
    Build(String),
    #[error("SMTP delivery failed: {0}")]
    Smtp(String),
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// One email: a subject, and the same content as plain text and HTML.
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mailer {
    pub fn new(smtp_url: &str, from: &str) -> Result<Self, MailError> {
        let url =
            url::Url::parse(smtp_url).map_err(|e| MailError::Build(format!("SMTP_URL: {e}")))?;
        if url.scheme() != "smtp" {
            return Err(MailError::Build(
                "SMTP_URL must be smtp://[user:password@]host[:port]".into(),
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| MailError::Build("SMTP_URL has no host".into()))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(url.port().unwrap_or(25))
            .timeout(Some(std::time::Duration::from_secs(15)));
        if !url.username().is_empty() {
            let password = url.password().unwrap_or_default();
            builder =
                builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
                    url.username().to_owned(),
                    password.to_owned(),
                ));
        }
        let transport = builder.build();
        let from = from
            .parse()
            .map_err(|_| MailError::Address(from.to_owned()))?;
        Ok(Self { transport, from })
    }

    pub async fn send(&self, email: Email) -> Result<(), MailError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|_| MailError::Address(email.to.clone()))?;
        let message = lettre::Message::builder()
            // RFC 5322 wants one, and spam filters count its absence against a mail.
            .message_id(None)
            .from(self.from.clone())
            .to(to)
            .subject(email.subject)
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(email.text),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(email.html),
                    ),
            )
            .map_err(|e| MailError::Build(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| MailError::Smtp(e.to_string()))?;
        Ok(())
    }
}

/// A conversation as an email: every message in order, with attachment links.
/// Everything a participant wrote is escaped in the HTML part.
pub fn transcript(title: &str, messages: &[Message], public_url: &str) -> (String, String) {
    let mut text = format!("{title}\n\n");
    let mut html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\"><h2>{}</h2>",
        html_escape::encode_text(title)
    );
    for m in messages {
        let when = format_millis(m.created_at);
        // Minutes are enough; the zone is said because readers are anywhere.
        let when = format!("{} UTC", when.get(..16).unwrap_or(&when).replace('T', " "));
        text.push_str(&format!("[{when}] {}: {}\n", m.author_name, m.content));
        html.push_str(&format!(
            "<p><small>{when}</small> <strong>{}</strong>: {}</p>",
            html_escape::encode_text(&m.author_name),
            html_escape::encode_text(&m.content).replace('\n', "<br>")
        ));
        for a in &m.attachments {
            let url = absolute(public_url, &a.url);
            text.push_str(&format!("    attachment: {} <{url}>\n", a.name));
            html.push_str(&format!(
                "<p>&#128206; <a href=\"{}\">{}</a></p>",
                html_escape::encode_double_quoted_attribute(&url),
                html_escape::encode_text(&a.name)
            ));
        }
    }
    html.push_str("</body></html>");
    (text, html)
}

fn absolute(base: &str, url: &str) -> String {
    if url.starts_with("http://") || url.starts_with("https://") {
        url.to_owned()
    } else {
        format!("{}{}", base.trim_end_matches('/'), url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_core::model::{MessageType, Reactions};

    #[test]
    fn transcript_escapes_html_and_keeps_order() {
        let m = |content: &str, at| Message {
            id: "x".into(),
            room_id: "r".into(),
            author_id: "a".into(),
            author_name: "Eve <b>".into(),
            content: content.into(),
            kind: MessageType::Text,
            attachments: vec![],
            parent_id: None,
            client_id: None,
            created_at: at,
            edited_at: None,
            reactions: Reactions::new(),
            deleted_at: None,
        };
        let (text, html) = transcript(
            "Chat",
            &[m("first", 1), m("<script>x</script>", 2)],
            "http://h",
        );
        assert!(text.find("first").unwrap() < text.find("<script>").unwrap());
        assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"));
        assert!(html.contains("Eve &lt;b&gt;"));
    }
}
