//! Gated repositories: access requests per user and gate (a repository, or a gating group collection),
//! the log of every gating decision, and the notifications a decision sends — written in the decision's
//! own transaction, so a request is never recorded without its notification or the other way round.

use gatehouse_authz::AccountId;
use gatehouse_types::{Millis, RequestStatus};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{is_unique_violation, StoreError, StoreResult};
use crate::notifications::{insert_notifications, NewNotification};
use crate::repos::{gate_mode, notifications_mode, GateSettings};
use crate::sql::{is_set, offset_param};
use crate::Store;

/// Whose requests: a repository's own, or a gating group's (shared by all its repositories).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gate {
    Repo(i64),
    Group(i64),
}

impl Gate {
    /// The column that holds this gate's id in `access_requests` and `gate_events`.
    fn column(self) -> (&'static str, i64) {
        match self {
            Gate::Repo(id) => ("repo_id", id),
            Gate::Group(id) => ("collection_id", id),
        }
    }
}

/// Which request: by its user, or by its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestRef {
    User(AccountId),
    Id(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    pub id: i64,
    pub gate: Gate,
    pub user_id: AccountId,
    pub user_name: String,
    pub user_fullname: String,
    pub user_email: Option<String>,
    pub status: RequestStatus,
    /// The request form's answers, a JSON object as text.
    pub fields: Option<String>,
    pub rejection_reason: Option<String>,
    /// When the user first asked (or was granted access).
    pub created_at: Millis,
    pub updated_at: Millis,
    pub decided_by: Option<AccountId>,
    /// The user asked (and so agreed to share their contact details); false when granted without asking.
    pub shared_contact: bool,
}

impl AccessRequest {
    /// The email the gate's owners may see: only a user who asked shared it.
    pub fn shared_email(&self) -> Option<&str> {
        self.user_email.as_deref().filter(|_| self.shared_contact)
    }
}

/// A gating group as the gate of its repositories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupGate {
    pub id: i64,
    pub object_id: String,
    pub owner_id: AccountId,
    pub title: String,
    pub slug_title: String,
    pub settings: GateSettings,
}

/// One gating decision, for the audit log. Names are copied: the record outlives renames and deletions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGateEvent {
    pub actor_id: Option<AccountId>,
    pub actor_name: String,
    /// `request`, `accept`, `reject`, `cancel`, `grant`, `settings`, …
    pub action: String,
    pub gate: Gate,
    /// What the decision was about, e.g. `model alice/llama` or `collection acme/family-…`.
    pub target: String,
    pub user_id: Option<AccountId>,
    pub user_name: Option<String>,
    /// JSON object with the details (previous and new status, reason, settings).
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateEventRecord {
    pub id: i64,
    pub at: Millis,
    pub actor_id: Option<AccountId>,
    pub actor_name: String,
    pub action: String,
    pub gate: Gate,
    pub target: String,
    pub user_id: Option<AccountId>,
    pub user_name: Option<String>,
    pub detail: String,
}

/// What a decision writes besides the request itself, in the same transaction.
pub struct Effects<'a> {
    pub event: &'a NewGateEvent,
    pub notices: &'a [NewNotification],
}

#[async_trait::async_trait]
pub trait GatingStore: Send + Sync {
    async fn gating_group(&self, id: i64) -> StoreResult<Option<GroupGate>>;
    async fn access_request(&self, gate: Gate, r: RequestRef) -> StoreResult<Option<AccessRequest>>;
    /// Whether `user` holds an accepted request for the gate.
    async fn has_accepted_request(&self, gate: Gate, user: AccountId) -> StoreResult<bool>;
    /// Oldest first; all statuses when `status` is None.
    async fn list_access_requests(
        &self,
        gate: Gate,
        status: Option<RequestStatus>,
        offset: u64,
        limit: u32,
    ) -> StoreResult<Vec<AccessRequest>>;
    /// A user's own request. Conflict if the user has one for this gate already (whatever its status).
    async fn create_access_request(
        &self,
        gate: Gate,
        user: AccountId,
        status: RequestStatus,
        fields: Option<&str>,
        effects: Effects<'_>,
        now: Millis,
    ) -> StoreResult<AccessRequest>;
    /// Moves a request to `to` (with the reason, for a rejection). NotFound if there is no such request
    /// or it is in `to` already; nothing is written then.
    #[allow(clippy::too_many_arguments)]
    async fn set_request_status(
        &self,
        gate: Gate,
        r: RequestRef,
        to: RequestStatus,
        rejection_reason: Option<&str>,
        decided_by: AccountId,
        effects: Effects<'_>,
        now: Millis,
    ) -> StoreResult<AccessRequest>;
    /// Access without a request (or past a pending or rejected one). Conflict if already accepted.
    async fn grant_access(
        &self,
        gate: Gate,
        user: AccountId,
        decided_by: AccountId,
        effects: Effects<'_>,
        now: Millis,
    ) -> StoreResult<AccessRequest>;
    /// Newest first.
    async fn gate_events(&self, gate: Gate, limit: u32) -> StoreResult<Vec<GateEventRecord>>;
    /// Pending requests created in `[from, to)` for gates in daily notification mode, oldest first.
    async fn pending_requests_for_digest(&self, from: Millis, to: Millis) -> StoreResult<Vec<AccessRequest>>;
}

const REQUEST_SELECT: &str = "SELECT q.id, q.repo_id, q.collection_id, q.user_id, a.name AS user_name, \
     a.fullname AS user_fullname, a.email AS user_email, q.status, q.fields, q.rejection_reason, q.created_at, \
     q.updated_at, q.decided_by, q.shared_contact FROM access_requests q JOIN accounts a ON a.id = q.user_id";

fn gate_from(repo_id: Option<i64>, collection_id: Option<i64>) -> StoreResult<Gate> {
    match (repo_id, collection_id) {
        (Some(r), None) => Ok(Gate::Repo(r)),
        (None, Some(c)) => Ok(Gate::Group(c)),
        _ => Err(StoreError::Corrupt("a gate row names neither or both of a repository and a group".into())),
    }
}

fn request_from_row(row: &AnyRow) -> StoreResult<AccessRequest> {
    let status: String = row.try_get("status")?;
    Ok(AccessRequest {
        id: row.try_get("id")?,
        gate: gate_from(row.try_get("repo_id")?, row.try_get("collection_id")?)?,
        user_id: row.try_get("user_id")?,
        user_name: row.try_get("user_name")?,
        user_fullname: row.try_get("user_fullname")?,
        user_email: row.try_get("user_email")?,
        status: RequestStatus::parse(&status)
            .map_err(|_| StoreError::Corrupt(format!("unknown request status '{status}'")))?,
        fields: row.try_get("fields")?,
        rejection_reason: row.try_get("rejection_reason")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        decided_by: row.try_get("decided_by")?,
        shared_contact: is_set(row.try_get("shared_contact")?),
    })
}

fn event_from_row(row: &AnyRow) -> StoreResult<GateEventRecord> {
    Ok(GateEventRecord {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        actor_id: row.try_get("actor_id")?,
        actor_name: row.try_get("actor_name")?,
        action: row.try_get("action")?,
        gate: gate_from(row.try_get("repo_id")?, row.try_get("collection_id")?)?,
        target: row.try_get("target")?,
        user_id: row.try_get("user_id")?,
        user_name: row.try_get("user_name")?,
        detail: row.try_get("detail")?,
    })
}

pub(crate) type Tx<'t> = sqlx::Transaction<'t, sqlx::Any>;

pub(crate) async fn insert_event(tx: &mut Tx<'_>, e: &NewGateEvent, now: Millis) -> StoreResult<()> {
    let (repo_id, collection_id) = match e.gate {
        Gate::Repo(id) => (Some(id), None),
        Gate::Group(id) => (None, Some(id)),
    };
    sqlx::query(
        "INSERT INTO gate_events (at, actor_id, actor_name, action, repo_id, collection_id, target, user_id, \
         user_name, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(now)
    .bind(e.actor_id)
    .bind(&e.actor_name)
    .bind(&e.action)
    .bind(repo_id)
    .bind(collection_id)
    .bind(&e.target)
    .bind(e.user_id)
    .bind(e.user_name.as_deref())
    .bind(&e.detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn write_effects(tx: &mut Tx<'_>, effects: &Effects<'_>, now: Millis) -> StoreResult<()> {
    insert_event(tx, effects.event, now).await?;
    insert_notifications(tx, effects.notices, now).await?;
    Ok(())
}

async fn fetch_request(tx: &mut Tx<'_>, gate: Gate, r: RequestRef) -> StoreResult<Option<AccessRequest>> {
    let (col, gid) = gate.column();
    let (key, val) = match r {
        RequestRef::User(u) => ("q.user_id", u),
        RequestRef::Id(id) => ("q.id", id),
    };
    let sql = format!("{REQUEST_SELECT} WHERE q.{col} = $1 AND {key} = $2");
    let row = sqlx::query(&sql).bind(gid).bind(val).fetch_optional(&mut **tx).await?;
    row.as_ref().map(request_from_row).transpose()
}

fn no_request() -> StoreError {
    StoreError::NotFound("access request".into())
}

#[async_trait::async_trait]
impl GatingStore for Store {
    async fn gating_group(&self, id: i64) -> StoreResult<Option<GroupGate>> {
        let row = sqlx::query(
            "SELECT id, object_id, owner_id, title, slug_title, gated, gated_notifications_mode, \
             gated_notifications_email FROM collections WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(GroupGate {
            id: row.try_get("id")?,
            object_id: row.try_get("object_id")?,
            owner_id: row.try_get("owner_id")?,
            title: row.try_get("title")?,
            slug_title: row.try_get("slug_title")?,
            settings: GateSettings {
                mode: gate_mode(row.try_get("gated")?)?,
                notifications_mode: notifications_mode(&row.try_get::<String, _>("gated_notifications_mode")?)?,
                notifications_email: row.try_get("gated_notifications_email")?,
            },
        }))
    }

    async fn access_request(&self, gate: Gate, r: RequestRef) -> StoreResult<Option<AccessRequest>> {
        let mut tx = self.pool.begin().await?;
        let found = fetch_request(&mut tx, gate, r).await?;
        tx.commit().await?;
        Ok(found)
    }

    async fn has_accepted_request(&self, gate: Gate, user: AccountId) -> StoreResult<bool> {
        let (col, gid) = gate.column();
        let sql =
            format!("SELECT 1 AS one FROM access_requests WHERE {col} = $1 AND user_id = $2 AND status = 'accepted'");
        Ok(sqlx::query(&sql).bind(gid).bind(user).fetch_optional(&self.pool).await?.is_some())
    }

    async fn list_access_requests(
        &self,
        gate: Gate,
        status: Option<RequestStatus>,
        offset: u64,
        limit: u32,
    ) -> StoreResult<Vec<AccessRequest>> {
        let (col, gid) = gate.column();
        let rows = match status {
            Some(s) => {
                let sql = format!(
                    "{REQUEST_SELECT} WHERE q.{col} = $1 AND q.status = $2 ORDER BY q.created_at, q.id LIMIT $3 OFFSET $4"
                );
                sqlx::query(&sql)
                    .bind(gid)
                    .bind(s.as_str())
                    .bind(i64::from(limit))
                    .bind(offset_param(offset))
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!("{REQUEST_SELECT} WHERE q.{col} = $1 ORDER BY q.created_at, q.id LIMIT $2 OFFSET $3");
                sqlx::query(&sql)
                    .bind(gid)
                    .bind(i64::from(limit))
                    .bind(offset_param(offset))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(request_from_row).collect()
    }

    async fn create_access_request(
        &self,
        gate: Gate,
        user: AccountId,
        status: RequestStatus,
        fields: Option<&str>,
        effects: Effects<'_>,
        now: Millis,
    ) -> StoreResult<AccessRequest> {
        let (col, gid) = gate.column();
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "INSERT INTO access_requests ({col}, user_id, status, fields, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)"
        );
        let inserted =
            sqlx::query(&sql).bind(gid).bind(user).bind(status.as_str()).bind(fields).bind(now).execute(&mut *tx).await;
        match inserted {
            Ok(_) => {}
            // PostgreSQL has aborted the transaction: nothing was written.
            Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict("access already requested".into())),
            Err(e) => return Err(crate::error::missing_on_fk(|| format!("user {user} or gate {gid}"))(e)),
        }
        write_effects(&mut tx, &effects, now).await?;
        let created = fetch_request(&mut tx, gate, RequestRef::User(user)).await?.ok_or_else(no_request)?;
        tx.commit().await?;
        Ok(created)
    }

    #[allow(clippy::too_many_arguments)]
    async fn set_request_status(
        &self,
        gate: Gate,
        r: RequestRef,
        to: RequestStatus,
        rejection_reason: Option<&str>,
        decided_by: AccountId,
        effects: Effects<'_>,
        now: Millis,
    ) -> StoreResult<AccessRequest> {
        let (col, gid) = gate.column();
        let (key, val) = match r {
            RequestRef::User(u) => ("user_id", u),
            RequestRef::Id(id) => ("id", id),
        };
        let mut tx = self.pool.begin().await?;
        // Compare-and-set: a request already in `to` (or a concurrent identical decision) changes nothing.
        let sql = format!(
            "UPDATE access_requests SET status = $3, rejection_reason = $4, updated_at = $5, decided_by = $6 \
             WHERE {col} = $1 AND {key} = $2 AND status <> $3"
        );
        let done = sqlx::query(&sql)
            .bind(gid)
            .bind(val)
            .bind(to.as_str())
            .bind(rejection_reason)
            .bind(now)
            .bind(decided_by)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Err(no_request());
        }
        write_effects(&mut tx, &effects, now).await?;
        let changed = fetch_request(&mut tx, gate, r).await?.ok_or_else(no_request)?;
        tx.commit().await?;
        Ok(changed)
    }

    async fn grant_access(
        &self,
        gate: Gate,
        user: AccountId,
        decided_by: AccountId,
        effects: Effects<'_>,
        now: Millis,
    ) -> StoreResult<AccessRequest> {
        let (col, gid) = gate.column();
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "UPDATE access_requests SET status = 'accepted', rejection_reason = NULL, updated_at = $3, decided_by = $4 \
             WHERE {col} = $1 AND user_id = $2 AND status <> 'accepted'"
        );
        let updated = sqlx::query(&sql).bind(gid).bind(user).bind(now).bind(decided_by).execute(&mut *tx).await?;
        if updated.rows_affected() == 0 {
            if fetch_request(&mut tx, gate, RequestRef::User(user)).await?.is_some() {
                tx.rollback().await?;
                return Err(StoreError::Conflict("this user already has access".into()));
            }
            // Granted without asking: the user shared no contact details.
            let sql = format!(
                "INSERT INTO access_requests ({col}, user_id, status, created_at, updated_at, decided_by, shared_contact) \
                 VALUES ($1, $2, 'accepted', $3, $3, $4, 0)"
            );
            let inserted = sqlx::query(&sql).bind(gid).bind(user).bind(now).bind(decided_by).execute(&mut *tx).await;
            match inserted {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    return Err(StoreError::Conflict("this user already has access".into()))
                }
                Err(e) => return Err(crate::error::missing_on_fk(|| format!("user {user} or gate {gid}"))(e)),
            }
        }
        write_effects(&mut tx, &effects, now).await?;
        let granted = fetch_request(&mut tx, gate, RequestRef::User(user)).await?.ok_or_else(no_request)?;
        tx.commit().await?;
        Ok(granted)
    }

    async fn gate_events(&self, gate: Gate, limit: u32) -> StoreResult<Vec<GateEventRecord>> {
        let (col, gid) = gate.column();
        let sql = format!(
            "SELECT id, at, actor_id, actor_name, action, repo_id, collection_id, target, user_id, user_name, detail \
             FROM gate_events WHERE {col} = $1 ORDER BY at DESC, id DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql).bind(gid).bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn pending_requests_for_digest(&self, from: Millis, to: Millis) -> StoreResult<Vec<AccessRequest>> {
        let sql = format!(
            "{REQUEST_SELECT} LEFT JOIN repos r ON r.id = q.repo_id LEFT JOIN collections c ON c.id = q.collection_id \
             WHERE q.status = 'pending' AND q.created_at >= $1 AND q.created_at < $2 \
             AND COALESCE(r.gated_notifications_mode, c.gated_notifications_mode) = 'daily' \
             ORDER BY q.created_at, q.id"
        );
        let rows = sqlx::query(&sql).bind(from).bind(to).fetch_all(&self.pool).await?;
        rows.iter().map(request_from_row).collect()
    }
}
