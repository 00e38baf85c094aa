//! The one authorization decision.
//!
//! Every route — API, resolve, LFS, and later git, Xet and web pages — turns its request into a
//! [`Subject`], an [`Action`] and a [`Resource`], and asks [`decide`]. Listings use [`RepoFilter`], which is
//! the very rule `decide` uses for visibility, so a list can never show what a point check hides.
//!
//! Pure: no IO, no clock. The caller loads the facts (memberships, repo owner, visibility) first.

mod decide;
mod subject;

pub use decide::{decide, repo_power, Action, Decision, DenyReason, NamespaceFacts, RepoFacts, RepoPower, Resource};
pub use subject::{AccountId, OrgRole, RepoFilter, Subject, TokenGrant, TokenRole, UserSubject};
