//! Metadata storage: accounts, memberships, tokens, repositories and LFS links, and what the web UI keeps
//! (sessions, two-factor secrets, invitations), on SQLite (the default, one file in the data directory) or
//! PostgreSQL.
//!
//! Each aggregate has its own narrow trait ([`AccountStore`], [`TokenStore`], [`RepoStore`], [`LfsStore`],
//! [`XetStore`], [`WebStore`], [`CollectionStore`], [`NotificationStore`]);
//! [`Store`] implements all of them. The SQL is written once for both backends through the sqlx `Any`
//! driver: `$n` placeholders, integers for booleans and timestamps (unix milliseconds). Anything
//! backend-specific (migrations, connection pragmas) stays inside this crate.

mod accounts;
mod collections;
mod error;
mod gating;
mod lfs;
mod notifications;
mod pool;
mod repos;
mod sql;
mod tokens;
mod web;
mod xet;

pub use accounts::{Account, AccountKind, AccountStore, NewOrg, NewUser};
pub use collections::{
    CollectionItemRecord, CollectionQuery, CollectionRecord, CollectionSort, CollectionStore, CollectionUpdate,
    GroupRefusal, ItemKey, ItemType, ItemUpdate, NewCollection, NewCollectionItem,
};
pub use error::{StoreError, StoreResult};
pub use gatehouse_authz::{AccountId, OrgRole, RepoFilter, TokenRole};
pub use gating::{AccessRequest, Effects, Gate, GateEventRecord, GatingStore, GroupGate, NewGateEvent, RequestRef};
pub use lfs::{LfsObjectRecord, LfsStore};
pub use notifications::{
    insert_notifications, ClaimedMail, MailState, NewNotification, Notification, NotificationStore,
};
pub use pool::{Backend, Store};
pub use repos::{GateSettings, NewRepo, RepoQuery, RepoRecord, RepoSort, RepoStore};
pub use tokens::{NewToken, TokenRecord, TokenStore};
pub use web::{InvitationRecord, NewInvitation, NewSession, SessionRecord, TotpRecord, WebStore};
pub use xet::{FileTerm, GcRun, ShardRegistration, XetFile, XetLink, XetStats, XetStore, XorbRecord};
