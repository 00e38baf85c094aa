//! Metadata storage: accounts, memberships, tokens, repositories and LFS links, and what the web UI keeps
//! (sessions, two-factor secrets, invitations), on SQLite (the default, one file in the data directory) or
//! PostgreSQL.
//!
//! Each aggregate has its own narrow trait ([`AccountStore`], [`TokenStore`], [`RepoStore`], [`LfsStore`],
//! [`XetStore`], [`WebStore`]);
//! [`Store`] implements all of them. The SQL is written once for both backends through the sqlx `Any`
//! driver: `$n` placeholders, integers for booleans and timestamps (unix milliseconds). Anything
//! backend-specific (migrations, connection pragmas) stays inside this crate.

mod accounts;
mod error;
mod lfs;
mod pool;
mod repos;
mod sql;
mod tokens;
mod web;
mod xet;

pub use accounts::{Account, AccountKind, AccountStore, NewOrg, NewUser};
pub use error::{StoreError, StoreResult};
pub use gatehouse_authz::{AccountId, OrgRole, RepoFilter, TokenRole};
pub use lfs::{LfsObjectRecord, LfsStore};
pub use pool::{Backend, Store};
pub use repos::{NewRepo, RepoQuery, RepoRecord, RepoSort, RepoStore};
pub use tokens::{NewToken, TokenRecord, TokenStore};
pub use web::{InvitationRecord, NewInvitation, NewSession, SessionRecord, TotpRecord, WebStore};
pub use xet::{FileTerm, GcRun, ShardRegistration, XetFile, XetLink, XetStats, XetStore, XorbRecord};
