//! What the web UI keeps: browser sessions, TOTP two-factor secrets with their recovery codes,
//! invitations for invite-only sign-up, and password-reset links. Secrets are never stored: sessions,
//! recovery codes, invitation codes and reset links by hash, the TOTP secret sealed by the caller.

use std::collections::BTreeSet;

use gatehouse_authz::AccountId;
use gatehouse_types::Millis;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::accounts::{insert_account, user_account, Account, NewUser};
use crate::error::{is_unique_violation, missing_on_fk, StoreError, StoreResult};
use crate::sql::{flag, is_set};
use crate::Store;

// ---- sessions (browser sign-ins). Only sha256 hex of the cookie secret is stored. ----

pub struct NewSession {
    pub id_hash: String,
    pub user_id: AccountId,
    pub expires_at: Millis,
    pub second_factor_pending: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id_hash: String,
    pub user_id: AccountId,
    pub created_at: Millis,
    pub last_seen_at: Millis,
    pub expires_at: Millis,
    pub second_factor_pending: bool,
}

// ---- TOTP two-factor ----

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    pub user_id: AccountId,
    pub sealed_secret: String,
    /// None while enrolment is unfinished.
    pub confirmed_at: Option<Millis>,
    /// The last time step accepted (0 before any).
    pub last_step: i64,
    pub created_at: Millis,
}

// ---- invitations (invite-only sign-up) ----

pub struct NewInvitation {
    pub code_hash: String,
    /// When set, only a user with this email (case-insensitive) may redeem it.
    pub email: Option<String>,
    pub created_by: Option<AccountId>,
    pub expires_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRecord {
    pub id: i64,
    pub code_hash: String,
    pub email: Option<String>,
    pub created_by: Option<AccountId>,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub used_by: Option<AccountId>,
    pub used_at: Option<Millis>,
}

#[async_trait::async_trait]
pub trait WebStore: Send + Sync {
    /// NotFound unless user_id is a user (kind='user'); Conflict if id_hash exists.
    async fn create_session(&self, s: NewSession, now: Millis) -> StoreResult<SessionRecord>;
    /// Expired sessions are returned too (the caller decides).
    async fn session(&self, id_hash: &str) -> StoreResult<Option<SessionRecord>>;
    /// Sets last_seen_at and expires_at (sliding expiry). False if no such session.
    async fn touch_session(&self, id_hash: &str, now: Millis, expires_at: Millis) -> StoreResult<bool>;
    async fn delete_session(&self, id_hash: &str) -> StoreResult<bool>;
    /// Deletes every session of the user except `keep` (if given); returns how many were deleted.
    async fn delete_sessions_of_user(&self, user: AccountId, keep: Option<&str>) -> StoreResult<u64>;
    /// Deletes sessions with expires_at <= now; returns how many.
    async fn delete_expired_sessions(&self, now: Millis) -> StoreResult<u64>;

    /// Starts (or restarts) enrolment: upserts an UNconfirmed secret. Conflict if the user already has a
    /// confirmed TOTP (they must disable it first). NotFound unless a user.
    async fn begin_totp(&self, user: AccountId, sealed_secret: &str, now: Millis) -> StoreResult<()>;
    async fn totp(&self, user: AccountId) -> StoreResult<Option<TotpRecord>>;
    /// In ONE transaction: mark confirmed (only if currently unconfirmed and the stored sealed secret equals
    /// `sealed_secret`), set last_step = step, and replace the user's recovery codes with `recovery_hashes`.
    /// False (and nothing changed) if the condition does not hold.
    async fn confirm_totp(
        &self,
        user: AccountId,
        sealed_secret: &str,
        step: i64,
        recovery_hashes: &[String],
        now: Millis,
    ) -> StoreResult<bool>;
    /// Compare-and-set against replay: sets last_step = step only if the TOTP is confirmed and last_step < step. True if set.
    async fn use_totp_step(&self, user: AccountId, step: i64) -> StoreResult<bool>;
    /// Removes the TOTP and all recovery codes in one transaction. False if there was none.
    async fn delete_totp(&self, user: AccountId) -> StoreResult<bool>;
    /// Marks an unused recovery code used (UPDATE … WHERE used_at IS NULL). True if it was unused and is now used.
    async fn use_recovery_code(&self, user: AccountId, code_hash: &str, now: Millis) -> StoreResult<bool>;
    async fn recovery_codes_left(&self, user: AccountId) -> StoreResult<i64>;
    /// Replaces all of the user's recovery codes (one transaction; duplicates ignored). NotFound if the
    /// account does not exist (and `hashes` is not empty).
    async fn replace_recovery_codes(&self, user: AccountId, hashes: &[String], now: Millis) -> StoreResult<()>;

    /// Conflict if the code hash exists; NotFound if `created_by` names no account.
    async fn create_invitation(&self, i: NewInvitation, now: Millis) -> StoreResult<InvitationRecord>;
    async fn invitation(&self, code_hash: &str) -> StoreResult<Option<InvitationRecord>>;
    /// Newest first.
    async fn list_invitations(&self) -> StoreResult<Vec<InvitationRecord>>;
    /// In ONE transaction: redeem the invitation (only if unused, not expired at `now`, and — when it names an
    /// email — the user's email equals it case-insensitively) and create the user. If the invitation cannot be
    /// redeemed: StoreError::NotFound("invitation …"); if the name/email is taken: the same Conflict errors as
    /// create_user; either way nothing is written.
    async fn create_user_with_invitation(&self, u: NewUser, code_hash: &str, now: Millis) -> StoreResult<Account>;
    /// Deletes an invitation nobody has used yet. False if there is none, or it was used.
    async fn revoke_invitation(&self, id: i64) -> StoreResult<bool>;

    /// Records a reset link for a user. NotFound unless the account is a user.
    async fn create_password_reset(
        &self,
        user: AccountId,
        token_hash: &str,
        expires_at: Millis,
        now: Millis,
    ) -> StoreResult<()>;
    /// The user a reset link is for, if it is unused and unexpired at `now`.
    async fn password_reset_user(&self, token_hash: &str, now: Millis) -> StoreResult<Option<AccountId>>;
    /// How many reset links the user was sent since `since` (to limit how often one is mailed).
    async fn password_resets_since(&self, user: AccountId, since: Millis) -> StoreResult<i64>;
    /// In ONE transaction: use the link (only if unused and unexpired at `now`), set the user's password
    /// hash, use up their other links and delete all their sessions. None (nothing changed) if the link
    /// cannot be used.
    async fn reset_password(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<AccountId>>;
    /// Deletes links that expired before `now`; returns how many.
    async fn delete_expired_password_resets(&self, now: Millis) -> StoreResult<u64>;
}

const SESSION_COLUMNS: &str = "id_hash, user_id, created_at, last_seen_at, expires_at, second_factor_pending";

fn session_from_row(row: &AnyRow) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        id_hash: row.try_get("id_hash")?,
        user_id: row.try_get("user_id")?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        expires_at: row.try_get("expires_at")?,
        second_factor_pending: is_set(row.try_get("second_factor_pending")?),
    })
}

fn totp_from_row(row: &AnyRow) -> StoreResult<TotpRecord> {
    Ok(TotpRecord {
        user_id: row.try_get("user_id")?,
        sealed_secret: row.try_get("sealed_secret")?,
        confirmed_at: row.try_get("confirmed_at")?,
        last_step: row.try_get("last_step")?,
        created_at: row.try_get("created_at")?,
    })
}

const INVITATION_COLUMNS: &str = "id, code_hash, email, created_by, created_at, expires_at, used_by, used_at";

fn invitation_from_row(row: &AnyRow) -> StoreResult<InvitationRecord> {
    Ok(InvitationRecord {
        id: row.try_get("id")?,
        code_hash: row.try_get("code_hash")?,
        email: row.try_get("email")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        used_by: row.try_get("used_by")?,
        used_at: row.try_get("used_at")?,
    })
}

/// Deletes the user's recovery codes and inserts `hashes` (deduplicated), inside `tx`.
async fn write_recovery_codes(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: AccountId,
    hashes: &[String],
    now: Millis,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user).execute(&mut **tx).await?;
    let hashes: BTreeSet<&str> = hashes.iter().map(String::as_str).collect();
    for hash in hashes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)")
            .bind(user)
            .bind(hash)
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(missing_on_fk(|| format!("user {user}")))?;
    }
    Ok(())
}

fn invitation_unusable() -> StoreError {
    StoreError::NotFound("invitation (unknown, used, expired, or for another email address)".into())
}

#[async_trait::async_trait]
impl WebStore for Store {
    async fn create_session(&self, s: NewSession, now: Millis) -> StoreResult<SessionRecord> {
        // INSERT … SELECT so that only a user (never an org) can sign in, in one statement.
        let inserted = sqlx::query(
            "INSERT INTO web_sessions (id_hash, user_id, created_at, last_seen_at, expires_at, second_factor_pending) \
             SELECT $2, a.id, $3, $3, $4, $5 FROM accounts a WHERE a.id = $1 AND a.kind = 'user'",
        )
        .bind(s.user_id)
        .bind(&s.id_hash)
        .bind(now)
        .bind(s.expires_at)
        .bind(flag(s.second_factor_pending))
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(done) if done.rows_affected() == 0 => Err(StoreError::NotFound(format!("user {}", s.user_id))),
            Ok(_) => Ok(SessionRecord {
                id_hash: s.id_hash,
                user_id: s.user_id,
                created_at: now,
                last_seen_at: now,
                expires_at: s.expires_at,
                second_factor_pending: s.second_factor_pending,
            }),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict("session id already in use".into())),
            Err(e) => Err(e.into()),
        }
    }

    async fn session(&self, id_hash: &str) -> StoreResult<Option<SessionRecord>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM web_sessions WHERE id_hash = $1");
        let row = sqlx::query(&sql).bind(id_hash).fetch_optional(&self.pool).await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn touch_session(&self, id_hash: &str, now: Millis, expires_at: Millis) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE web_sessions SET last_seen_at = $2, expires_at = $3 WHERE id_hash = $1")
            .bind(id_hash)
            .bind(now)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1").bind(id_hash).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_sessions_of_user(&self, user: AccountId, keep: Option<&str>) -> StoreResult<u64> {
        let done = match keep {
            Some(keep) => {
                sqlx::query("DELETE FROM web_sessions WHERE user_id = $1 AND id_hash <> $2")
                    .bind(user)
                    .bind(keep)
                    .execute(&self.pool)
                    .await?
            }
            None => sqlx::query("DELETE FROM web_sessions WHERE user_id = $1").bind(user).execute(&self.pool).await?,
        };
        Ok(done.rows_affected())
    }

    async fn delete_expired_sessions(&self, now: Millis) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1").bind(now).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn begin_totp(&self, user: AccountId, sealed_secret: &str, now: Millis) -> StoreResult<()> {
        // One statement: only a user, and a confirmed secret is never replaced (the upsert's WHERE). The
        // WHERE clause of the SELECT also keeps SQLite from reading `ON CONFLICT` as a join constraint.
        let done = sqlx::query(
            "INSERT INTO user_totp (user_id, sealed_secret, last_step, created_at) \
             SELECT a.id, $2, 0, $3 FROM accounts a WHERE a.id = $1 AND a.kind = 'user' \
             ON CONFLICT (user_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, last_step = 0, \
             created_at = excluded.created_at WHERE user_totp.confirmed_at IS NULL",
        )
        .bind(user)
        .bind(sealed_secret)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() > 0 {
            return Ok(());
        }
        let is_user = sqlx::query("SELECT 1 AS one FROM accounts WHERE id = $1 AND kind = 'user'")
            .bind(user)
            .fetch_optional(&self.pool)
            .await?
            .is_some();
        Err(if is_user {
            StoreError::Conflict("two-factor authentication is already enabled".into())
        } else {
            StoreError::NotFound(format!("user {user}"))
        })
    }

    async fn totp(&self, user: AccountId) -> StoreResult<Option<TotpRecord>> {
        let row = sqlx::query(
            "SELECT user_id, sealed_secret, confirmed_at, last_step, created_at FROM user_totp WHERE user_id = $1",
        )
        .bind(user)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(totp_from_row).transpose()
    }

    async fn confirm_totp(
        &self,
        user: AccountId,
        sealed_secret: &str,
        step: i64,
        recovery_hashes: &[String],
        now: Millis,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE user_totp SET confirmed_at = $3, last_step = $4 \
             WHERE user_id = $1 AND sealed_secret = $2 AND confirmed_at IS NULL",
        )
        .bind(user)
        .bind(sealed_secret)
        .bind(now)
        .bind(step)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        write_recovery_codes(&mut tx, user, recovery_hashes, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn use_totp_step(&self, user: AccountId, step: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE user_totp SET last_step = $2 WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_step < $2",
        )
        .bind(user)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_totp(&self, user: AccountId) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM user_totp WHERE user_id = $1").bind(user).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1").bind(user).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn use_recovery_code(&self, user: AccountId, code_hash: &str, now: Millis) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user)
        .bind(code_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn recovery_codes_left(&self, user: AccountId) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .bind(user)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    async fn replace_recovery_codes(&self, user: AccountId, hashes: &[String], now: Millis) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        write_recovery_codes(&mut tx, user, hashes, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_invitation(&self, i: NewInvitation, now: Millis) -> StoreResult<InvitationRecord> {
        let inserted = sqlx::query(
            "INSERT INTO invitations (code_hash, email, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(&i.code_hash)
        .bind(i.email.as_deref())
        .bind(i.created_by)
        .bind(now)
        .bind(i.expires_at)
        .fetch_one(&self.pool)
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict("invitation code already in use".into()))
            }
            Err(e) => return Err(missing_on_fk(|| format!("account {:?}", i.created_by))(e)),
        };
        Ok(InvitationRecord {
            id: row.try_get("id")?,
            code_hash: i.code_hash,
            email: i.email,
            created_by: i.created_by,
            created_at: now,
            expires_at: i.expires_at,
            used_by: None,
            used_at: None,
        })
    }

    async fn invitation(&self, code_hash: &str) -> StoreResult<Option<InvitationRecord>> {
        let sql = format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE code_hash = $1");
        let row = sqlx::query(&sql).bind(code_hash).fetch_optional(&self.pool).await?;
        row.as_ref().map(invitation_from_row).transpose()
    }

    async fn list_invitations(&self) -> StoreResult<Vec<InvitationRecord>> {
        let sql = format!("SELECT {INVITATION_COLUMNS} FROM invitations ORDER BY created_at DESC, id DESC");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(invitation_from_row).collect()
    }

    async fn create_user_with_invitation(&self, u: NewUser, code_hash: &str, now: Millis) -> StoreResult<Account> {
        let mut account = user_account(u, now);
        let mut tx = self.pool.begin().await?;
        // Claim the invitation first: a write, so SQLite takes its write lock at once (no lock upgrade
        // later), and PostgreSQL locks the row, so two redemptions of one code queue and the second finds
        // it used. The email is compared here rather than in SQL because `lower()` differs between the
        // backends beyond ASCII.
        let claimed = sqlx::query(
            "UPDATE invitations SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING id, email",
        )
        .bind(code_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(claimed) = claimed else {
            tx.rollback().await?;
            return Err(invitation_unusable());
        };
        let invitation_id: i64 = claimed.try_get("id")?;
        let bound_to: Option<String> = claimed.try_get("email")?;
        let email_matches = match (&bound_to, &account.email) {
            (None, _) => true,
            (Some(want), Some(have)) => want.to_lowercase() == have.to_lowercase(),
            (Some(_), None) => false,
        };
        if !email_matches {
            tx.rollback().await?;
            return Err(invitation_unusable());
        }
        match insert_account(&mut *tx, &account).await {
            Ok(id) => account.id = id,
            Err(e) if is_unique_violation(&e) => {
                // PostgreSQL has aborted the transaction: roll back, then name the conflict.
                tx.rollback().await?;
                return Err(self.account_conflict(&account).await?);
            }
            Err(e) => return Err(e.into()),
        }
        sqlx::query("UPDATE invitations SET used_by = $2 WHERE id = $1")
            .bind(invitation_id)
            .bind(account.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(account)
    }
    async fn revoke_invitation(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM invitations WHERE id = $1 AND used_at IS NULL")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_password_reset(
        &self,
        user: AccountId,
        token_hash: &str,
        expires_at: Millis,
        now: Millis,
    ) -> StoreResult<()> {
        // INSERT … SELECT: only a user (never an organization) can have a password to reset.
        let done = sqlx::query(
            "INSERT INTO password_resets (user_id, token_hash, created_at, expires_at) \
             SELECT a.id, $2, $3, $4 FROM accounts a WHERE a.id = $1 AND a.kind = 'user'",
        )
        .bind(user)
        .bind(token_hash)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict("reset token already in use".into())
            } else {
                e.into()
            }
        })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {user}")));
        }
        Ok(())
    }

    async fn password_reset_user(&self, token_hash: &str, now: Millis) -> StoreResult<Option<AccountId>> {
        let row = sqlx::query(
            "SELECT user_id FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("user_id")).transpose()?)
    }

    async fn password_resets_since(&self, user: AccountId, since: Millis) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM password_resets WHERE user_id = $1 AND created_at >= $2")
            .bind(user)
            .bind(since)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    async fn reset_password(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: Millis,
    ) -> StoreResult<Option<AccountId>> {
        let mut tx = self.pool.begin().await?;
        // The claim is the first statement and a write, so two uses of one link queue and only one wins.
        let claimed = sqlx::query(
            "UPDATE password_resets SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING user_id",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(claimed) = claimed else {
            tx.rollback().await?;
            return Ok(None);
        };
        let user: AccountId = claimed.try_get("user_id")?;
        sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1 AND kind = 'user'")
            .bind(user)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL")
            .bind(user)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM web_sessions WHERE user_id = $1").bind(user).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(user))
    }

    async fn delete_expired_password_resets(&self, now: Millis) -> StoreResult<u64> {
        let done =
            sqlx::query("DELETE FROM password_resets WHERE expires_at <= $1").bind(now).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}
