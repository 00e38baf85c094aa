//! Gatehouse's domain: the operations behind every route. Each operation takes the caller's
//! [`Subject`](gatehouse_authz::Subject), asks the one decision function through [`access`], and only
//! then touches the store, the git repositories or the blob store. Handlers stay thin: parse, call one
//! function here, render.

pub mod access;
pub mod accounts;
pub mod collections;
pub mod content;
pub mod gating;
pub mod git_http;
pub mod hub;
pub mod lfs;
pub mod lfs_gc;
pub mod notify;
pub mod password_reset;
pub mod repos;
pub mod sessions;
pub mod signing;
pub mod signup;
pub mod time;
pub mod tokens;
pub mod two_factor;
pub mod xet;

pub use hub::{Hub, HubConfig};
