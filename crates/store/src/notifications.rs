//! Notifications: what users are told, shown in the web UI (to `user_id`) and mailed (to `email`).
//!
//! A notification is written in the transaction of the event it tells about ([`insert_notifications`]),
//! so the event is never recorded without it. Mail is a durable outbox: rows with `mail_state = 'queued'`
//! are due at `mail_next_at`. A sender claims a due row by moving `mail_next_at` to the end of a lease
//! with a compare-and-set on the value it read, so two server processes never send one row at the same
//! time; a sender that dies mid-send leaves the row to be claimed again when the lease ends.

use gatehouse_authz::AccountId;
use gatehouse_types::Millis;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{missing_on_fk, StoreError, StoreResult};
use crate::Store;

/// A notification to write. `dedupe_key` names the event (e.g. `gate-request:repo:12:user:7`): writing
/// the same key again is a no-op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// Shown in this user's web UI; None: mail only.
    pub user_id: Option<AccountId>,
    /// Mailed to this address; None: in-app only.
    pub email: Option<String>,
    pub subject: String,
    pub body: String,
    /// Where the notification points, as a path on this hub (`/alice/llama/settings/gated`).
    pub link: Option<String>,
    pub dedupe_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailState {
    /// In-app only.
    None,
    /// Waiting to be sent (or being sent under a lease).
    Queued,
    Sent,
    /// Given up after too many attempts or a permanent refusal.
    Failed,
}

impl MailState {
    pub fn as_str(self) -> &'static str {
        match self {
            MailState::None => "none",
            MailState::Queued => "queued",
            MailState::Sent => "sent",
            MailState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> StoreResult<MailState> {
        match s {
            "none" => Ok(MailState::None),
            "queued" => Ok(MailState::Queued),
            "sent" => Ok(MailState::Sent),
            "failed" => Ok(MailState::Failed),
            other => Err(StoreError::Corrupt(format!("notification mail_state {other:?}"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: i64,
    pub user_id: Option<AccountId>,
    pub email: Option<String>,
    pub subject: String,
    pub body: String,
    pub link: Option<String>,
    pub dedupe_key: String,
    pub created_at: Millis,
    pub read_at: Option<Millis>,
    pub mail_state: MailState,
    /// Failed and successful sends so far.
    pub mail_attempts: i64,
    /// When queued: when it is due (or when the current sender's lease ends).
    pub mail_next_at: Option<Millis>,
    pub mail_sent_at: Option<Millis>,
    /// The last failure, as the mail server (or the connection) reported it.
    pub mail_error: Option<String>,
}

/// A mail this process may send now: nobody else will claim it before `lease_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMail {
    pub id: i64,
    pub email: String,
    pub subject: String,
    pub body: String,
    pub link: Option<String>,
    pub created_at: Millis,
    /// Attempts made before this one.
    pub attempts: i64,
    /// The lease: the claim's `mail_next_at`, also the token [`NotificationStore::mark_mail_failed`] checks.
    pub lease_until: Millis,
}

#[async_trait::async_trait]
pub trait NotificationStore: Send + Sync {
    /// [`insert_notifications`] in a transaction of its own. Returns how many were new.
    async fn enqueue_notifications(&self, items: &[NewNotification], now: Millis) -> StoreResult<u64>;
    async fn notification(&self, id: i64) -> StoreResult<Option<Notification>>;

    /// Claims up to `limit` queued mails due at `now` (oldest due first), each by a compare-and-set of
    /// `mail_next_at` to `lease_until`: a row another process claimed between our read and our write is
    /// skipped, so no row is ever claimed twice under one lease.
    async fn claim_due_mail(&self, now: Millis, lease_until: Millis, limit: u32) -> StoreResult<Vec<ClaimedMail>>;
    /// The mail was accepted by the server: `sent`, whatever its state (a sender whose lease ran out may
    /// still have delivered it). False if it was marked sent already.
    async fn mark_mail_sent(&self, id: i64, now: Millis) -> StoreResult<bool>;
    /// A send failed: counts the attempt and records the error, then queues the mail again at `retry_at`,
    /// or gives up (`failed`) when `retry_at` is None. Only while the caller's claim (`lease_until`) still
    /// holds; false (nothing written) if another sender has claimed or finished the mail since.
    async fn mark_mail_failed(
        &self,
        id: i64,
        lease_until: Millis,
        error: &str,
        retry_at: Option<Millis>,
    ) -> StoreResult<bool>;
    /// The earliest `mail_next_at` among queued mails (due or leased), if any.
    async fn next_mail_due(&self) -> StoreResult<Option<Millis>>;

    /// The user's notifications, newest first.
    async fn notifications_of_user(&self, user: AccountId, limit: u32) -> StoreResult<Vec<Notification>>;
    async fn unread_count(&self, user: AccountId) -> StoreResult<i64>;
    /// Marks one of the user's notifications read. False if it is not theirs, unknown, or read already.
    async fn mark_read(&self, user: AccountId, id: i64, now: Millis) -> StoreResult<bool>;
    /// Returns how many were unread.
    async fn mark_all_read(&self, user: AccountId, now: Millis) -> StoreResult<u64>;
}

const COLUMNS: &str = "id, user_id, email, subject, body, link, dedupe_key, created_at, read_at, mail_state, \
                       mail_attempts, mail_next_at, mail_sent_at, mail_error";

fn notification_from_row(row: &AnyRow) -> StoreResult<Notification> {
    Ok(Notification {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        email: row.try_get("email")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        link: row.try_get("link")?,
        dedupe_key: row.try_get("dedupe_key")?,
        created_at: row.try_get("created_at")?,
        read_at: row.try_get("read_at")?,
        mail_state: MailState::parse(&row.try_get::<String, _>("mail_state")?)?,
        mail_attempts: row.try_get("mail_attempts")?,
        mail_next_at: row.try_get("mail_next_at")?,
        mail_sent_at: row.try_get("mail_sent_at")?,
        mail_error: row.try_get("mail_error")?,
    })
}

/// Writes notifications inside the caller's transaction, so they commit (or roll back) with the event
/// they tell about. A notification whose `dedupe_key` exists already is skipped; returns how many were
/// new. With an email address the mail is queued, due at once. NotFound if a `user_id` names no account.
pub async fn insert_notifications(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    items: &[NewNotification],
    now: Millis,
) -> StoreResult<u64> {
    let mut inserted = 0;
    for n in items {
        let (state, next_at) = match n.email {
            Some(_) => (MailState::Queued, Some(now)),
            None => (MailState::None, None),
        };
        let done = sqlx::query(
            "INSERT INTO notifications (user_id, email, subject, body, link, dedupe_key, created_at, mail_state, \
             mail_next_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(n.user_id)
        .bind(n.email.as_deref())
        .bind(&n.subject)
        .bind(&n.body)
        .bind(n.link.as_deref())
        .bind(&n.dedupe_key)
        .bind(now)
        .bind(state.as_str())
        .bind(next_at)
        .execute(&mut **tx)
        .await
        .map_err(missing_on_fk(|| format!("account {:?}", n.user_id)))?;
        inserted += done.rows_affected();
    }
    Ok(inserted)
}

#[async_trait::async_trait]
impl NotificationStore for Store {
    async fn enqueue_notifications(&self, items: &[NewNotification], now: Millis) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let inserted = insert_notifications(&mut tx, items, now).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    async fn notification(&self, id: i64) -> StoreResult<Option<Notification>> {
        let sql = format!("SELECT {COLUMNS} FROM notifications WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(notification_from_row).transpose()
    }

    async fn claim_due_mail(&self, now: Millis, lease_until: Millis, limit: u32) -> StoreResult<Vec<ClaimedMail>> {
        let due = sqlx::query(
            "SELECT id, mail_next_at FROM notifications WHERE mail_state = 'queued' AND mail_next_at <= $1 \
             ORDER BY mail_next_at, id LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::with_capacity(due.len());
        for row in &due {
            let id: i64 = row.try_get("id")?;
            let seen: i64 = row.try_get("mail_next_at")?;
            // The compare-and-set: only if nobody moved mail_next_at since we read it.
            let won = sqlx::query(
                "UPDATE notifications SET mail_next_at = $3 \
                 WHERE id = $1 AND mail_state = 'queued' AND mail_next_at = $2 AND email IS NOT NULL \
                 RETURNING id, email, subject, body, link, created_at, mail_attempts",
            )
            .bind(id)
            .bind(seen)
            .bind(lease_until)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = won {
                claimed.push(ClaimedMail {
                    id: row.try_get("id")?,
                    email: row.try_get("email")?,
                    subject: row.try_get("subject")?,
                    body: row.try_get("body")?,
                    link: row.try_get("link")?,
                    created_at: row.try_get("created_at")?,
                    attempts: row.try_get("mail_attempts")?,
                    lease_until,
                });
            }
        }
        Ok(claimed)
    }

    async fn mark_mail_sent(&self, id: i64, now: Millis) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE notifications SET mail_state = 'sent', mail_sent_at = $2, mail_next_at = NULL, \
             mail_attempts = mail_attempts + 1, mail_error = NULL \
             WHERE id = $1 AND mail_state IN ('queued', 'failed')",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn mark_mail_failed(
        &self,
        id: i64,
        lease_until: Millis,
        error: &str,
        retry_at: Option<Millis>,
    ) -> StoreResult<bool> {
        let state = if retry_at.is_some() { MailState::Queued } else { MailState::Failed };
        let done = sqlx::query(
            "UPDATE notifications SET mail_state = $3, mail_next_at = $4, mail_attempts = mail_attempts + 1, \
             mail_error = $5 WHERE id = $1 AND mail_state = 'queued' AND mail_next_at = $2",
        )
        .bind(id)
        .bind(lease_until)
        .bind(state.as_str())
        .bind(retry_at)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn next_mail_due(&self) -> StoreResult<Option<Millis>> {
        let row = sqlx::query("SELECT MIN(mail_next_at) AS next_at FROM notifications WHERE mail_state = 'queued'")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("next_at")?)
    }

    async fn notifications_of_user(&self, user: AccountId, limit: u32) -> StoreResult<Vec<Notification>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM notifications WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql).bind(user).bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter().map(notification_from_row).collect()
    }

    async fn unread_count(&self, user: AccountId) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM notifications WHERE user_id = $1 AND read_at IS NULL")
            .bind(user)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    async fn mark_read(&self, user: AccountId, id: i64, now: Millis) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE notifications SET read_at = $3 WHERE id = $2 AND user_id = $1 AND read_at IS NULL")
                .bind(user)
                .bind(id)
                .bind(now)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn mark_all_read(&self, user: AccountId, now: Millis) -> StoreResult<u64> {
        let done = sqlx::query("UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL")
            .bind(user)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
