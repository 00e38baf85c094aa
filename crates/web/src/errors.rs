//! API errors that reach a browser become pages: a person who follows a download link to a file they
//! may not see gets the 404 page, not a JSON body. Clients (huggingface_hub, git) do not ask for HTML, so
//! they keep the JSON and headers the Hub sends.

use crate::page::error_page;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

fn wants_html(req: &Request) -> bool {
    let path = req.uri().path();
    let api = path.starts_with("/api/") || path.starts_with("/cas/");
    !api && req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

pub async fn html_errors(req: Request, next: Next) -> Response {
    let html = wants_html(&req) && req.method() != axum::http::Method::HEAD;
    let resp = next.run(req).await;
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if !html || !is_json || !(resp.status().is_client_error() || resp.status().is_server_error()) {
        return resp;
    }
    let status = resp.status();
    let message = match status {
        StatusCode::NOT_FOUND => "This page does not exist, or you may not see it.".to_string(),
        _ => resp
            .headers()
            .get("x-error-message")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("Something went wrong.")
            .to_string(),
    };
    let mut page = error_page(status, &message);
    // Keep the Hub's error headers for anyone who looks.
    for name in ["x-error-code", "x-error-message", "x-request-id", "www-authenticate"] {
        if let Some(v) = resp.headers().get(name) {
            page.headers_mut().insert(name, v.clone());
        }
    }
    page
}
