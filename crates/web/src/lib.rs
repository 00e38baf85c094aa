//! Gatehouse's web pages: server-rendered HTML (askama templates compiled into the binary), with htmx
//! for a few partial updates and every asset embedded. No front-end build step.
//!
//! Pages are thin, like the API's handlers: they turn the browser's session into a `Subject`
//! ([`session::Viewer`]) and call the same `gatehouse_core` functions the API calls, so a page can never
//! show what the API would refuse. Every form carries a CSRF token bound to the session
//! ([`csrf::CsrfForm`]); errors render as pages ([`page::PageError`]), and API errors reaching a browser
//! become pages too ([`errors::html_errors`]).

mod assets;
pub mod csrf;
pub mod errors;
mod format;
mod forms;
mod headers;
pub mod page;
mod pages;
pub mod session;

use axum::middleware;
use gatehouse_core::Hub;
use gatehouse_http::HttpConfig;
use std::sync::Arc;

pub use pages::{table, PageAccess, PageRoute};

/// The whole application: the API and the pages, with API errors rendered as pages for browsers.
pub fn app(hub: Arc<Hub>, config: HttpConfig) -> axum::Router {
    let pages = pages::router()
        .layer(middleware::from_fn_with_state(session::served_over_https(&config), session::ensure_anon_cookie))
        .layer(middleware::from_fn(headers::security_headers));
    gatehouse_http::router_with(hub, config, pages).layer(middleware::from_fn(errors::html_errors))
}
