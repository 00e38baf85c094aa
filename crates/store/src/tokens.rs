//! Access tokens. Only a hash of the secret is stored; lookups go by that hash.

use gatehouse_authz::{AccountId, TokenRole};
use gatehouse_types::Millis;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{is_unique_violation, StoreError, StoreResult};
use crate::Store;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: i64,
    pub user_id: AccountId,
    pub name: String,
    pub role: TokenRole,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

pub struct NewToken {
    pub user_id: AccountId,
    pub name: String,
    pub role: TokenRole,
    /// Hex SHA-256 of the secret; unique.
    pub secret_hash: String,
}

#[async_trait::async_trait]
pub trait TokenStore: Send + Sync {
    /// NotFound unless `user_id` is a user; Conflict if the hash is already stored.
    async fn create_token(&self, t: NewToken, now: Millis) -> StoreResult<TokenRecord>;
    /// Returns revoked tokens too (the caller decides); None if no such hash.
    async fn token_by_hash(&self, secret_hash: &str) -> StoreResult<Option<TokenRecord>>;
    /// Sets `last_used_at`; NotFound if there is no such token.
    async fn token_by_id(&self, id: i64) -> StoreResult<Option<TokenRecord>>;
    async fn touch_token(&self, id: i64, now: Millis) -> StoreResult<()>;
    /// False if unknown or already revoked.
    async fn revoke_token(&self, id: i64, now: Millis) -> StoreResult<bool>;
    /// Newest first.
    async fn tokens_of_user(&self, user: AccountId) -> StoreResult<Vec<TokenRecord>>;
}

const TOKEN_COLUMNS: &str = "id, user_id, name, role, created_at, last_used_at, revoked_at";

fn token_from_row(row: &AnyRow) -> StoreResult<TokenRecord> {
    let role: String = row.try_get("role")?;
    Ok(TokenRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        role: TokenRole::parse(&role).map_err(|_| StoreError::Corrupt(format!("unknown token role '{role}'")))?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

#[async_trait::async_trait]
impl TokenStore for Store {
    async fn create_token(&self, t: NewToken, now: Millis) -> StoreResult<TokenRecord> {
        // INSERT … SELECT so that only a user (never an org) can own a token, in one statement.
        let inserted = sqlx::query(
            "INSERT INTO tokens (user_id, name, role, secret_hash, created_at) \
             SELECT a.id, $2, $3, $4, $5 FROM accounts a WHERE a.id = $1 AND a.kind = 'user' RETURNING id",
        )
        .bind(t.user_id)
        .bind(&t.name)
        .bind(t.role.as_str())
        .bind(&t.secret_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await;
        let row = match inserted {
            Ok(Some(row)) => row,
            Ok(None) => return Err(StoreError::NotFound(format!("user {}", t.user_id))),
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict("token secret already in use".into()))
            }
            Err(e) => return Err(e.into()),
        };
        Ok(TokenRecord {
            id: row.try_get("id")?,
            user_id: t.user_id,
            name: t.name,
            role: t.role,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        })
    }

    async fn token_by_hash(&self, secret_hash: &str) -> StoreResult<Option<TokenRecord>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE secret_hash = $1");
        let row = sqlx::query(&sql).bind(secret_hash).fetch_optional(&self.pool).await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn token_by_id(&self, id: i64) -> StoreResult<Option<TokenRecord>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn touch_token(&self, id: i64, now: Millis) -> StoreResult<()> {
        let done = sqlx::query("UPDATE tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("token {id}")));
        }
        Ok(())
    }

    async fn revoke_token(&self, id: i64, now: Millis) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn tokens_of_user(&self, user: AccountId) -> StoreResult<Vec<TokenRecord>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE user_id = $1 ORDER BY created_at DESC, id DESC");
        let rows = sqlx::query(&sql).bind(user).fetch_all(&self.pool).await?;
        rows.iter().map(token_from_row).collect()
    }
}
