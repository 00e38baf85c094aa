//! Gatehouse's HTTP surface: the Hugging Face Hub API, resolve downloads and Git-LFS, on axum.
//!
//! Every route is declared once in [`routes::table`] together with the access it requires; the router
//! is built from that table. Handlers are thin: parse, call one domain function in `gatehouse_core`
//! (which asks the one authorization decision), render.

pub mod auth;
pub mod error;
mod handlers;
mod metrics;
pub mod params;
pub mod routes;

use gatehouse_core::lfs::Multipart;
use gatehouse_core::Hub;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The origin clients reach us by (`https://hub.example.com`); derived from `Host` when unset.
    pub public_url: Option<String>,
    /// Largest commit body accepted (inline content is base64 inside it).
    pub max_commit_bytes: u64,
    pub multipart: Multipart,
    /// Where clients reach the Xet CAS (`casUrl`); default: `/cas` on the origin they used.
    pub xet_cas_url: Option<String>,
    /// The `pre-receive` hook enforcing push rules (None: pushes are not checked — tests only).
    pub git_hook: Option<gatehouse_git::transport::PushHook>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            public_url: None,
            max_commit_bytes: 64 << 30,
            multipart: Multipart::default(),
            xet_cas_url: None,
            git_hook: None,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    pub config: Arc<HttpConfig>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

/// The API router alone.
pub fn router(hub: Arc<Hub>, config: HttpConfig) -> axum::Router {
    router_with(hub, config, axum::Router::new())
}

/// The API router with more routes (the web pages) sharing its state, fallback and middleware.
pub fn router_with(hub: Arc<Hub>, config: HttpConfig, extra: axum::Router<AppState>) -> axum::Router {
    let state = AppState { hub, config: Arc::new(config), metrics: metrics::handle() };
    routes::build(state, extra)
}
