//! Users, organizations and organization memberships.

use gatehouse_authz::{AccountId, OrgRole};
use gatehouse_types::{AccountName, Millis};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{is_foreign_key_violation, is_unique_violation, StoreError, StoreResult};
use crate::sql::{flag, fold, is_set};
use crate::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    User,
    Org,
}

impl AccountKind {
    fn as_str(self) -> &'static str {
        match self {
            AccountKind::User => "user",
            AccountKind::Org => "org",
        }
    }
    fn parse(s: &str) -> StoreResult<Self> {
        match s {
            "user" => Ok(AccountKind::User),
            "org" => Ok(AccountKind::Org),
            other => Err(StoreError::Corrupt(format!("unknown account kind '{other}'"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub kind: AccountKind,
    pub name: String,
    pub fullname: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub site_admin: bool,
    pub created_at: Millis,
}

pub struct NewUser {
    pub name: AccountName,
    pub fullname: String,
    pub email: String,
    pub password_hash: Option<String>,
    pub site_admin: bool,
}

pub struct NewOrg {
    pub name: AccountName,
    pub fullname: String,
}

#[async_trait::async_trait]
pub trait AccountStore: Send + Sync {
    /// Conflict if the name is taken by any user or org (case-insensitive) or the email by another user (case-insensitive).
    async fn create_user(&self, u: NewUser, now: Millis) -> StoreResult<Account>;
    /// Conflict if the name is taken by any user or org (case-insensitive).
    async fn create_org(&self, o: NewOrg, now: Millis) -> StoreResult<Account>;
    /// Case-insensitive lookup among users and orgs.
    async fn account_by_name(&self, name: &str) -> StoreResult<Option<Account>>;
    async fn account_by_id(&self, id: AccountId) -> StoreResult<Option<Account>>;
    /// Case-insensitive; users only.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<Account>>;
    /// Changes a user's full name and email. NotFound unless a user; Conflict("this email address is already
    /// in use") if another user has that email (case-insensitive).
    async fn update_profile(&self, user: AccountId, fullname: &str, email: &str) -> StoreResult<Account>;
    /// NotFound unless `user` is a user.
    async fn set_password_hash(&self, user: AccountId, hash: &str) -> StoreResult<()>;
    /// Insert or change the role (upsert). NotFound unless `org` is an org and `user` a user.
    async fn set_membership(&self, org: AccountId, user: AccountId, role: OrgRole, now: Millis) -> StoreResult<()>;
    async fn remove_membership(&self, org: AccountId, user: AccountId) -> StoreResult<bool>;
    /// The orgs a user belongs to, ordered by org name.
    async fn memberships_of_user(&self, user: AccountId) -> StoreResult<Vec<(Account, OrgRole)>>;
    /// The members of an org, ordered by username.
    async fn members_of_org(&self, org: AccountId) -> StoreResult<Vec<(Account, OrgRole)>>;
    /// The org's first `limit` admins by when they joined (who is told of an org's access requests).
    async fn first_admins_of_org(&self, org: AccountId, limit: u32) -> StoreResult<Vec<Account>>;
    /// Users whose name starts with `prefix` (case-insensitive; `%` and `_` are literal), by name.
    async fn users_by_prefix(&self, prefix: &str, limit: u32) -> StoreResult<Vec<Account>>;
}

/// The columns `account_from_row` reads, from an `accounts` table aliased `a`.
const ACCOUNT_COLUMNS: &str = "a.id, a.kind, a.name, a.fullname, a.email, a.password_hash, a.site_admin, a.created_at";

fn account_from_row(row: &AnyRow) -> StoreResult<Account> {
    Ok(Account {
        id: row.try_get("id")?,
        kind: AccountKind::parse(&row.try_get::<String, _>("kind")?)?,
        name: row.try_get("name")?,
        fullname: row.try_get("fullname")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        site_admin: is_set(row.try_get("site_admin")?),
        created_at: row.try_get("created_at")?,
    })
}

fn role_from_row(row: &AnyRow) -> StoreResult<OrgRole> {
    let role: String = row.try_get("role")?;
    OrgRole::parse(&role).map_err(|_| StoreError::Corrupt(format!("unknown organization role '{role}'")))
}

/// The account a new user becomes (its id is assigned on insert).
pub(crate) fn user_account(u: NewUser, now: Millis) -> Account {
    Account {
        id: 0,
        kind: AccountKind::User,
        name: u.name.as_str().to_string(),
        fullname: u.fullname,
        email: Some(u.email),
        password_hash: u.password_hash,
        site_admin: u.site_admin,
        created_at: now,
    }
}

/// Inserts `a` (whose name was validated as an `AccountName`) through `exec` — the pool or an open
/// transaction — and returns its new id. A unique violation comes back as the database error: on
/// PostgreSQL it aborts an enclosing transaction, so the caller names it with [`Store::account_conflict`]
/// once that transaction is gone.
pub(crate) async fn insert_account<'c, E>(exec: E, a: &Account) -> Result<AccountId, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let row = sqlx::query(
        "INSERT INTO accounts (kind, name, name_lower, fullname, email, email_lower, password_hash, site_admin, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(a.kind.as_str())
    .bind(&a.name)
    .bind(fold(&a.name))
    .bind(&a.fullname)
    .bind(a.email.as_deref())
    .bind(a.email.as_deref().map(email_key))
    .bind(a.password_hash.as_deref())
    .bind(flag(a.site_admin))
    .bind(a.created_at)
    .fetch_one(exec)
    .await?;
    row.try_get("id")
}

/// The stored `email_lower`: emails are unique and looked up under this key.
fn email_key(email: &str) -> String {
    email.to_lowercase()
}

fn email_taken() -> StoreError {
    StoreError::Conflict("this email address is already in use".into())
}

impl Store {
    /// Inserts `a` and returns it with its new id.
    async fn create_account(&self, mut a: Account) -> StoreResult<Account> {
        match insert_account(&self.pool, &a).await {
            Ok(id) => {
                a.id = id;
                Ok(a)
            }
            Err(e) if is_unique_violation(&e) => Err(self.account_conflict(&a).await?),
            Err(e) => Err(e.into()),
        }
    }

    /// Tells which unique rule inserting `a` broke: two unique columns can collide; the name wins if both.
    pub(crate) async fn account_conflict(&self, a: &Account) -> StoreResult<StoreError> {
        Ok(if a.email.is_none() || self.account_by_name(&a.name).await?.is_some() {
            StoreError::Conflict(format!("the name '{}' is already taken", a.name))
        } else {
            email_taken()
        })
    }

    async fn members(&self, sql: &str, id: AccountId) -> StoreResult<Vec<(Account, OrgRole)>> {
        let rows = sqlx::query(sql).bind(id).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((account_from_row(r)?, role_from_row(r)?))).collect()
    }
}

#[async_trait::async_trait]
impl AccountStore for Store {
    async fn create_user(&self, u: NewUser, now: Millis) -> StoreResult<Account> {
        self.create_account(user_account(u, now)).await
    }

    async fn create_org(&self, o: NewOrg, now: Millis) -> StoreResult<Account> {
        self.create_account(Account {
            id: 0,
            kind: AccountKind::Org,
            name: o.name.as_str().to_string(),
            fullname: o.fullname,
            email: None,
            password_hash: None,
            site_admin: false,
            created_at: now,
        })
        .await
    }

    async fn account_by_name(&self, name: &str) -> StoreResult<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.name_lower = $1");
        let row = sqlx::query(&sql).bind(fold(name)).fetch_optional(&self.pool).await?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn account_by_id(&self, id: AccountId) -> StoreResult<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.email_lower = $1 AND a.kind = 'user'");
        let row = sqlx::query(&sql).bind(email_key(email)).fetch_optional(&self.pool).await?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn update_profile(&self, user: AccountId, fullname: &str, email: &str) -> StoreResult<Account> {
        let done = sqlx::query(
            "UPDATE accounts SET fullname = $2, email = $3, email_lower = $4 WHERE id = $1 AND kind = 'user'",
        )
        .bind(user)
        .bind(fullname)
        .bind(email)
        .bind(email_key(email))
        .execute(&self.pool)
        .await
        .map_err(|e| if is_unique_violation(&e) { email_taken() } else { e.into() })?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {user}")));
        }
        self.account_by_id(user).await?.ok_or_else(|| StoreError::NotFound(format!("user {user}")))
    }

    async fn set_password_hash(&self, user: AccountId, hash: &str) -> StoreResult<()> {
        let done = sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1 AND kind = 'user'")
            .bind(user)
            .bind(hash)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {user}")));
        }
        Ok(())
    }

    async fn set_membership(&self, org: AccountId, user: AccountId, role: OrgRole, now: Millis) -> StoreResult<()> {
        // One statement checks both kinds and upserts, so no transaction (and no SQLite lock upgrade) is
        // needed. The WHERE clause also keeps SQLite from reading `ON CONFLICT` as a join constraint.
        let done = sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) \
             SELECT o.id, u.id, $3, $4 FROM accounts o, accounts u \
             WHERE o.id = $1 AND o.kind = 'org' AND u.id = $2 AND u.kind = 'user' \
             ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(org)
        .bind(user)
        .bind(role.as_str())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| if is_foreign_key_violation(&e) { not_member_pair(org, user) } else { e.into() })?;
        if done.rows_affected() == 0 {
            return Err(not_member_pair(org, user));
        }
        Ok(())
    }

    async fn remove_membership(&self, org: AccountId, user: AccountId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org)
            .bind(user)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn memberships_of_user(&self, user: AccountId) -> StoreResult<Vec<(Account, OrgRole)>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, m.role FROM memberships m JOIN accounts a ON a.id = m.org_id \
             WHERE m.user_id = $1 ORDER BY a.name_lower, a.id"
        );
        self.members(&sql, user).await
    }

    async fn members_of_org(&self, org: AccountId) -> StoreResult<Vec<(Account, OrgRole)>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, m.role FROM memberships m JOIN accounts a ON a.id = m.user_id \
             WHERE m.org_id = $1 ORDER BY a.name_lower, a.id"
        );
        self.members(&sql, org).await
    }

    async fn first_admins_of_org(&self, org: AccountId, limit: u32) -> StoreResult<Vec<Account>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM memberships m JOIN accounts a ON a.id = m.user_id \
             WHERE m.org_id = $1 AND m.role = 'admin' ORDER BY m.created_at, m.user_id LIMIT $2"
        );
        let rows = sqlx::query(&sql).bind(org).bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter().map(account_from_row).collect()
    }

    async fn users_by_prefix(&self, prefix: &str, limit: u32) -> StoreResult<Vec<Account>> {
        let pattern = crate::sql::prefix_pattern(&fold(prefix));
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.kind = 'user' AND a.name_lower LIKE $1 ESCAPE '\\' \
             ORDER BY a.name_lower LIMIT $2"
        );
        let rows = sqlx::query(&sql).bind(pattern).bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter().map(account_from_row).collect()
    }
}

fn not_member_pair(org: AccountId, user: AccountId) -> StoreError {
    StoreError::NotFound(format!("organization {org} or user {user}"))
}
