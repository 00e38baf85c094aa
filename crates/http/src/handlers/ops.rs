use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Json;
use gatehouse_types::Error;
use serde_json::json;

/// Ready when the database answers.
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.hub.store.ping().await {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}

/// The client's daily agent-detection call (spec §0.8): nothing to detect here.
pub async fn agent_harnesses() -> impl IntoResponse {
    Json(json!({"standardEnvVars": [], "harnesses": {}}))
}

/// Unknown routes. A repository id of an unserved shape (a single segment, as `/api/models/gpt2/…` or
/// `/gpt2/resolve/…`) answers as a missing repository, so `repo_exists`/`file_exists` say False; an
/// unknown operation on a namespaced repository is a plain 404, not a misleading "repository not found".
pub async fn fallback(uri: Uri) -> ApiError {
    let p = uri.path();
    let segments: Vec<&str> = p.trim_start_matches('/').split('/').collect();
    let api_repo =
        segments.first() == Some(&"api") && matches!(segments.get(1), Some(&("models" | "datasets" | "spaces")));
    let single_segment_repo = (api_repo && segments.len() <= 3)
        || segments.get(1) == Some(&"resolve")
        || (matches!(segments.first(), Some(&("datasets" | "spaces"))) && segments.get(2) == Some(&"resolve"));
    if single_segment_repo {
        Error::repo_not_found().into()
    } else {
        Error::not_found(format!("Not found: {p}")).into()
    }
}

pub async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> ApiError {
    Error::new(gatehouse_types::ErrorCode::MethodNotAllowed, format!("{method} is not allowed on {}", uri.path()))
        .into()
}
