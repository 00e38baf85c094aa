//! Notifications: who is told about a gated repository's access requests, and the mailer that empties
//! the outbox.
//!
//! Notifications are rows (`gatehouse_store::NotificationStore`) written in the transaction of the event
//! they tell about: shown in the web UI to their user and, when they carry an address, mailed. The mailer
//! ([`run_mailer`], one per server process) claims due mail under a lease, so several processes never
//! send one mail at once; it retries failures with exponential backoff ([`retry_delay`]) and gives up after
//! [`MAX_ATTEMPTS`]. Each mail's Message-ID is derived from its notification ([`message_id`]), so a
//! resend after a crash between the SMTP server's acceptance and our record of it is recognisably the same
//! message. Without `smtp_url` nothing is mailed: queued mail waits in the database (and is sent if mail is
//! turned on within [`MAX_AGE`]); the web UI shows every notification either way.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use gatehouse_authz::AccountId;
use gatehouse_store::{
    Account, AccountKind, AccountStore, ClaimedMail, NewNotification, Notification, NotificationStore,
};
use gatehouse_types::{Error, Millis, Result};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rand::distributions::{Alphanumeric, DistString};

use crate::time::now_millis;
use crate::Hub;

/// Attempts (failed or not) after which a mail is given up (`failed`).
pub const MAX_ATTEMPTS: i64 = 10;
/// The wait after the first failure; it doubles with every further one (30 s, 1 min, 2 min, … ~2 h).
pub const FIRST_RETRY: Duration = Duration::from_secs(30);
const LONGEST_RETRY: Duration = Duration::from_secs(4 * 3600);
/// Mail older than this when it comes due is given up rather than sent (e.g. after mail was off for
/// weeks): a stale access-request notice is noise.
pub const MAX_AGE: Duration = Duration::from_secs(3 * 24 * 3600);
/// The most one send may take (connect, TLS, AUTH, the transaction).
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// How many mails one round claims, and how many of them are sent at once.
const BATCH: u32 = 8;
const PARALLEL: usize = 4;
/// A claim holds for two sends' worth of time (BATCH / PARALLEL rounds of at most SEND_TIMEOUT each),
/// plus slack; a process that dies holding it delays its mails by at most this.
const LEASE: Duration = Duration::from_secs(180);
/// How often the mailer looks for due mail when nobody wakes it.
const POLL: Duration = Duration::from_secs(1);
/// Who is told of an organization's access requests: its first admins.
pub const ORG_RECIPIENTS: u32 = 5;

// ---------------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------------

#[derive(Clone)]
pub struct MailConfig {
    /// `smtp://[user:pass@]host[:port]` (plain text: loopback relays and development),
    /// `smtp://…?tls=required` (or `tls=starttls`; `tls=opportunistic` if the server may lack it) for
    /// STARTTLS, `smtps://…` for TLS from the start. None: no mail is sent.
    pub smtp_url: Option<String>,
    /// The From of every mail: `hub@example.com` or `Gatehouse <hub@example.com>`. Its domain also names
    /// the Message-IDs, so every process of one hub gives a notification the same one.
    pub from: String,
    /// Put before the links in mails (`https://hub.example.com`); None: links stay paths.
    pub public_url: Option<String>,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig { smtp_url: None, from: "gatehouse@localhost".into(), public_url: None }
    }
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_smtp_url))
            .field("from", &self.from)
            .field("public_url", &self.public_url)
            .finish()
    }
}

impl MailConfig {
    /// Checks the URL and the From address, so a server refuses to start with a mail setup that cannot work.
    pub fn check(&self) -> Result<()> {
        Mailer::new(self).map(|_| ())
    }
}

/// `smtp://user:secret@host:25` → `smtp://user:***@host:25` (the last `@` ends the credentials, since a
/// password may contain one).
pub fn redact_smtp_url(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else { return url.to_string() };
    let authority_end = url[start..].find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    let Some(at) = url[start..authority_end].rfind('@').map(|i| start + i) else { return url.to_string() };
    match url[start..at].split_once(':') {
        Some((user, _)) => format!("{}{user}:***{}", &url[..start], &url[at..]),
        None => url.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Who is told
// ---------------------------------------------------------------------------------------------------------

/// Who hears of a gate's access requests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recipients {
    /// Told in the web UI — the owner, or the organization's first five admins — each with the address
    /// mailed on their behalf: their primary email, or None when a notifications email replaces it (or
    /// they have none).
    pub users: Vec<(AccountId, Option<String>)>,
    /// The gate's notifications email, mailed once instead of the users' addresses.
    pub notifications_email: Option<String>,
}

impl Recipients {
    /// The users told in the web UI.
    pub fn user_ids(&self) -> Vec<AccountId> {
        self.users.iter().map(|(id, _)| *id).collect()
    }

    /// Every address mailed, each once.
    pub fn emails(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in self.users.iter().filter_map(|(_, e)| e.as_ref()).chain(&self.notifications_email) {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(e)) {
                out.push(e.clone());
            }
        }
        out
    }
}

/// The Hub's rules for a gate owned by `owner`: a user's notices go to them at their primary email; an
/// organization's to its first five admins (by when they joined) at theirs. A configured notifications
/// email replaces the addresses, while the web UI still tells the owner or the admins, so nothing is lost.
pub async fn gate_recipients(hub: &Hub, owner: &Account, notifications_email: Option<&str>) -> Result<Recipients> {
    let people = match owner.kind {
        AccountKind::User => vec![owner.clone()],
        AccountKind::Org => hub.store.first_admins_of_org(owner.id, ORG_RECIPIENTS).await?,
    };
    let notifications_email = notifications_email.map(str::trim).filter(|e| !e.is_empty()).map(str::to_string);
    let users = people
        .into_iter()
        .map(|a| {
            let email = if notifications_email.is_some() { None } else { a.email.filter(|e| !e.is_empty()) };
            (a.id, email)
        })
        .collect();
    Ok(Recipients { users, notifications_email })
}

/// The rows that tell them: one per user (in-app, and mailed to their address unless replaced) and one
/// mail-only row for the notifications email. Keys are `{dedupe_key}:user:{id}` and `{dedupe_key}:email`,
/// so writing the same event twice writes nothing new.
pub fn notices(
    r: &Recipients,
    subject: &str,
    body: &str,
    link: Option<&str>,
    dedupe_key: &str,
) -> Vec<NewNotification> {
    let row = |user_id: Option<AccountId>, email: Option<String>, key: String| NewNotification {
        user_id,
        email,
        subject: subject.to_string(),
        body: body.to_string(),
        link: link.map(str::to_string),
        dedupe_key: key,
    };
    let mut rows: Vec<NewNotification> = Vec::new();
    for (id, email) in &r.users {
        // The same address twice (two accounts cannot share one, but be safe): mail it once.
        let email = email
            .clone()
            .filter(|e| !rows.iter().any(|r| r.email.as_deref().is_some_and(|seen| seen.eq_ignore_ascii_case(e))));
        rows.push(row(Some(*id), email, format!("{dedupe_key}:user:{id}")));
    }
    if let Some(email) = &r.notifications_email {
        rows.push(row(None, Some(email.clone()), format!("{dedupe_key}:email")));
    }
    rows
}

/// Writes notifications in a transaction of their own and wakes this process's mailer. (Code that writes
/// them inside its own transaction calls `gatehouse_store::insert_notifications`, then [`Hub::mail_queued`].)
pub async fn enqueue(hub: &Hub, items: &[NewNotification]) -> Result<u64> {
    let n = hub.store.enqueue_notifications(items, now_millis()).await?;
    if n > 0 {
        hub.mail_queued();
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------------------------------
// In the web UI: a user's own notifications (the store only ever answers rows of `user`)
// ---------------------------------------------------------------------------------------------------------

/// How many notifications the notifications page shows.
pub const INBOX_LIMIT: u32 = 100;

/// The user's notifications, newest first.
pub async fn inbox(hub: &Hub, user: AccountId, limit: u32) -> Result<Vec<Notification>> {
    Ok(hub.store.notifications_of_user(user, limit).await?)
}

pub async fn unread_count(hub: &Hub, user: AccountId) -> Result<i64> {
    Ok(hub.store.unread_count(user).await?)
}

/// False if the notification is not the user's, or was read already.
pub async fn mark_read(hub: &Hub, user: AccountId, id: i64) -> Result<bool> {
    Ok(hub.store.mark_read(user, id, now_millis()).await?)
}

/// Returns how many were unread.
pub async fn mark_all_read(hub: &Hub, user: AccountId) -> Result<u64> {
    Ok(hub.store.mark_all_read(user, now_millis()).await?)
}

// ---------------------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------------------

/// How long to wait before the next attempt, after `attempts` attempts have failed; None: give up.
pub fn retry_delay(attempts: i64) -> Option<Duration> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    Some(FIRST_RETRY.saturating_mul(1 << doublings).min(LONGEST_RETRY))
}

/// The Message-ID of a notification's mail: the same whichever process sends it, and however often.
pub fn message_id(id: i64, created_at: Millis, domain: &str) -> String {
    format!("<notification.{id}.{created_at}@{domain}>")
}

/// Why a mail was not sent.
#[derive(Debug)]
pub enum SendError {
    /// The mail cannot be built (an invalid recipient address): never retried.
    Invalid(String),
    /// The server or the network failed; retried with backoff. `kind` is safe to log (no addresses).
    Smtp { kind: String, detail: String },
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Invalid(m) => write!(f, "invalid mail: {m}"),
            SendError::Smtp { detail, .. } => f.write_str(detail),
        }
    }
}

/// An SMTP client for the outbox.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
    public_url: Option<String>,
}

impl Mailer {
    /// None when no SMTP URL is configured.
    pub fn new(config: &MailConfig) -> Result<Option<Mailer>> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| Error::bad_request(format!("mail_from {:?} is not an email address: {e}", config.from)))?;
        let domain = from.email.domain().to_string();
        let Some(url) = &config.smtp_url else { return Ok(None) };
        let url = url.replace("tls=starttls", "tls=required");
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            .map_err(|e| Error::bad_request(format!("smtp_url {}: {e}", redact_smtp_url(&url))))?
            .timeout(Some(SEND_TIMEOUT))
            .build();
        let public_url = config.public_url.as_ref().map(|u| u.trim_end_matches('/').to_string());
        Ok(Some(Mailer { transport, from, domain, public_url }))
    }

    /// The mail for a notification. The Date is when the notification was written, so a resend is the same
    /// message byte for byte.
    pub fn compose(&self, mail: &ClaimedMail) -> std::result::Result<Message, SendError> {
        let created = UNIX_EPOCH + Duration::from_millis(u64::try_from(mail.created_at).unwrap_or(0));
        let mut text = mail.body.trim_end().to_string();
        if let Some(link) = &mail.link {
            let link = match (&self.public_url, link.starts_with('/')) {
                (Some(origin), true) => format!("{origin}{link}"),
                _ => link.clone(),
            };
            text.push_str(&format!("\n\n{link}"));
        }
        let id = message_id(mail.id, mail.created_at, &self.domain);
        self.build(&mail.email, &mail.subject, text, created.min(SystemTime::now()), id)
    }

    /// The hub's public origin (`https://hub.example.com`), when configured: mails that must carry a
    /// working link (a password reset) are only sent when there is one — never built from a request's Host.
    pub fn public_url(&self) -> Option<&str> {
        self.public_url.as_deref()
    }

    /// Sends a mail that is not a notification, now and once (no outbox, no retry): for messages carrying a
    /// secret that must not be stored, like a password-reset link.
    pub async fn send_now(&self, to: &str, subject: &str, body: &str) -> std::result::Result<(), SendError> {
        let id = format!("<{}@{}>", Alphanumeric.sample_string(&mut rand::rngs::OsRng, 24), self.domain);
        let message = self.build(to, subject, body.trim_end().to_string(), SystemTime::now(), id)?;
        self.send(message).await
    }

    fn build(
        &self,
        to: &str,
        subject: &str,
        mut text: String,
        date: SystemTime,
        message_id: String,
    ) -> std::result::Result<Message, SendError> {
        let to: Mailbox = to.parse().map_err(|e| SendError::Invalid(format!("recipient address: {e}")))?;
        text.push_str("\n\n-- \nSent by Gatehouse");
        if let Some(origin) = &self.public_url {
            text.push_str(&format!(" ({origin})"));
        }
        text.push('\n');
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .date(date)
            .message_id(Some(message_id))
            // RFC 3834: tells auto-responders not to answer.
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-generated".into()))
            .header(ContentType::TEXT_PLAIN)
            .body(text)
            .map_err(|e| SendError::Invalid(e.to_string()))
    }

    /// Sends one mail (nothing is recorded).
    pub async fn deliver(&self, mail: &ClaimedMail) -> std::result::Result<(), SendError> {
        self.send(self.compose(mail)?).await
    }

    async fn send(&self, message: Message) -> std::result::Result<(), SendError> {
        match tokio::time::timeout(SEND_TIMEOUT, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(SendError::Smtp { kind: smtp_error_kind(&e), detail: e.to_string() }),
            Err(_) => Err(SendError::Smtp { kind: "timeout".into(), detail: "timed out".into() }),
        }
    }

    /// One round: claims up to a batch of due mail, sends it, and records each outcome. Returns how many
    /// were claimed.
    pub async fn send_due(&self, hub: &Hub) -> Result<usize> {
        let now = now_millis();
        let lease_until = now.saturating_add(millis(LEASE));
        let claimed = hub.store.claim_due_mail(now, lease_until, BATCH).await?;
        let n = claimed.len();
        let outcomes: Vec<Result<()>> = futures::stream::iter(claimed)
            .map(|mail| self.send_claimed(hub, mail))
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        for outcome in outcomes {
            outcome?;
        }
        Ok(n)
    }

    async fn send_claimed(&self, hub: &Hub, mail: ClaimedMail) -> Result<()> {
        let too_old = now_millis().saturating_sub(mail.created_at) > millis(MAX_AGE);
        let outcome = if too_old {
            Err(SendError::Invalid("expired before it could be sent".into()))
        } else {
            self.deliver(&mail).await
        };
        match outcome {
            Ok(()) => {
                hub.store.mark_mail_sent(mail.id, now_millis()).await?;
                metrics::counter!("gatehouse_mail_sent_total").increment(1);
                tracing::debug!(notification = mail.id, "mail sent");
            }
            Err(e) => {
                let attempts = mail.attempts + 1;
                let retry_at = match &e {
                    SendError::Invalid(_) => None,
                    SendError::Smtp { .. } => retry_delay(attempts).map(|d| now_millis().saturating_add(millis(d))),
                };
                let kind = match &e {
                    SendError::Invalid(_) => "invalid",
                    SendError::Smtp { kind, .. } => kind.as_str(),
                };
                if retry_at.is_none() {
                    metrics::counter!("gatehouse_mail_failed_total").increment(1);
                    tracing::warn!(notification = mail.id, attempts, error = kind, "giving up on a mail");
                } else {
                    metrics::counter!("gatehouse_mail_retries_total").increment(1);
                    tracing::info!(notification = mail.id, attempts, error = kind, "mail not sent; will retry");
                }
                hub.store.mark_mail_failed(mail.id, mail.lease_until, &e.to_string(), retry_at).await?;
            }
        }
        Ok(())
    }
}

/// What went wrong, without the server's text (which may quote an address).
fn smtp_error_kind(e: &lettre::transport::smtp::Error) -> String {
    if let Some(code) = e.status() {
        let class = if e.is_permanent() { "permanent" } else { "transient" };
        return format!("{class} {code}");
    }
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_tls() {
        "tls"
    } else if e.is_client() {
        "client"
    } else if e.is_response() {
        "response"
    } else {
        "connection"
    };
    kind.to_string()
}

fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

/// Runs for the life of the server: sends due mail as it comes (woken by [`Hub::mail_queued`] in this
/// process, and at least every second for mail queued elsewhere). Returns at once, after saying so, when
/// no SMTP server is configured.
pub async fn run_mailer(hub: Arc<Hub>) {
    let mailer = match Mailer::new(&hub.config.mail) {
        Ok(Some(m)) => m,
        Ok(None) => {
            tracing::info!("mail is off (no smtp_url): notifications are kept and shown in the web UI only");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e.message, "mail is off: the mail configuration is invalid");
            return;
        }
    };
    let url = hub.config.mail.smtp_url.as_deref().map(redact_smtp_url).unwrap_or_default();
    tracing::info!(smtp = %url, "mailer started");
    loop {
        match mailer.send_due(&hub).await {
            // A full batch: more may be due.
            Ok(n) if n == BATCH as usize => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e.message, "cannot work through the mail outbox"),
        }
        tokio::select! {
            () = hub.mail_wake.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_gives_up() {
        assert_eq!(retry_delay(1), Some(Duration::from_secs(30)));
        assert_eq!(retry_delay(2), Some(Duration::from_secs(60)));
        assert_eq!(retry_delay(3), Some(Duration::from_secs(120)));
        assert_eq!(retry_delay(9), Some(Duration::from_secs(30 << 8)));
        assert_eq!(retry_delay(MAX_ATTEMPTS), None);
        assert_eq!(retry_delay(MAX_ATTEMPTS + 5), None);
        let total: Duration = (1..MAX_ATTEMPTS).filter_map(retry_delay).sum();
        assert!(total > Duration::from_secs(3600) && total < MAX_AGE, "{total:?}");
    }

    #[test]
    fn smtp_passwords_are_redacted() {
        assert_eq!(redact_smtp_url("smtp://u:secret@h:25"), "smtp://u:***@h:25");
        assert_eq!(redact_smtp_url("smtps://a%40b.c:p@ss@h?tls=x"), "smtps://a%40b.c:***@h?tls=x");
        assert_eq!(redact_smtp_url("smtp://h:25"), "smtp://h:25");
        assert_eq!(redact_smtp_url("smtp://u@h:25"), "smtp://u@h:25");
        assert_eq!(redact_smtp_url("smtp://h:25/ehlo@name"), "smtp://h:25/ehlo@name");
        let config = MailConfig { smtp_url: Some("smtp://u:hunter2@h".into()), ..Default::default() };
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn urls_and_addresses_are_checked() {
        let with = |url: &str| MailConfig { smtp_url: Some(url.into()), ..Default::default() };
        for ok in [
            "smtp://127.0.0.1:2525",
            "smtp://user:pass@mail.example.com:587?tls=required",
            "smtp://mail.example.com?tls=starttls",
            "smtp://mail.example.com?tls=opportunistic",
            "smtps://user:pass@mail.example.com",
        ] {
            assert!(with(ok).check().is_ok(), "{ok}");
        }
        for bad in ["http://mail.example.com", "smtp://", "smtp://h?tls=bogus", "not a url"] {
            assert!(with(bad).check().is_err(), "{bad}");
        }
        assert!(MailConfig::default().check().is_ok());
        assert!(Mailer::new(&MailConfig::default()).is_ok_and(|m| m.is_none()), "no URL: no mailer");
        let bad_from = MailConfig { from: "not an address".into(), ..Default::default() };
        assert!(bad_from.check().is_err());
        assert!(MailConfig { from: "Gatehouse <hub@example.com>".into(), ..with("smtp://h") }.check().is_ok());
    }

    #[test]
    fn mails_carry_a_stable_message_id() {
        let config = MailConfig {
            smtp_url: Some("smtp://127.0.0.1:1".into()),
            from: "Gatehouse <hub@hub.example.com>".into(),
            public_url: Some("https://hub.example.com/".into()),
        };
        let mailer = Mailer::new(&config).expect("valid").expect("configured");
        let mail = ClaimedMail {
            id: 42,
            email: "alice@example.com".into(),
            subject: "New access request".into(),
            body: "bob asked".into(),
            link: Some("/alice/llama/settings".into()),
            created_at: 1_700_000_000_000,
            attempts: 0,
            lease_until: 0,
        };
        let a = mailer.compose(&mail).expect("composed").formatted();
        let b =
            mailer.compose(&ClaimedMail { attempts: 3, lease_until: 9, ..mail.clone() }).expect("again").formatted();
        assert_eq!(a, b, "a resend is the same message");
        let text = String::from_utf8(a).expect("ascii");
        assert!(text.contains("Message-ID: <notification.42.1700000000000@hub.example.com>"), "{text}");
        assert!(text.contains("To: alice@example.com"), "{text}");
        assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
        assert!(text.contains("https://hub.example.com/alice/llama/settings"), "{text}");
        assert!(matches!(
            mailer.compose(&ClaimedMail { email: "no address".into(), ..mail }),
            Err(SendError::Invalid(_))
        ));
    }

    #[test]
    fn recipients_make_one_row_each() {
        let r = Recipients {
            users: vec![(1, Some("a@example.com".into())), (2, None), (3, Some("A@example.com".into()))],
            notifications_email: None,
        };
        assert_eq!(r.user_ids(), [1, 2, 3]);
        assert_eq!(r.emails(), ["a@example.com"]);
        let rows = notices(&r, "s", "b", Some("/x"), "k");
        let keys: Vec<_> = rows.iter().map(|n| n.dedupe_key.as_str()).collect();
        assert_eq!(keys, ["k:user:1", "k:user:2", "k:user:3"]);
        assert_eq!(rows[2].email, None, "an address already mailed is not mailed twice");
        let replaced =
            Recipients { users: vec![(1, None), (2, None)], notifications_email: Some("gate@example.com".into()) };
        let rows = notices(&replaced, "s", "b", None, "k");
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (rows[2].user_id, rows[2].email.as_deref(), rows[2].dedupe_key.as_str()),
            (None, Some("gate@example.com"), "k:email")
        );
        assert!(rows[..2].iter().all(|n| n.email.is_none() && n.user_id.is_some()));
        assert_eq!(replaced.emails(), ["gate@example.com"]);
    }
}
