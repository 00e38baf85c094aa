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

/// Sub-routes of a repository (spec §0.1): after one of these, the segment before is the repo id.
const REPO_SUBROUTES: &[&str] = &[
    "resolve",
    "tree",
    "blob",
    "raw",
    "refs",
    "commit",
    "commits",
    "discussions",
    "settings",
    "revision",
    "preupload",
    "paths-info",
    "branch",
    "tag",
    "user-access-request",
    "auth-check",
    "super-squash",
    "lfs-files",
    "xet-read-token",
    "xet-write-token",
    "likers",
];

/// Unknown routes. A repository id of an unserved shape — a single segment, as `/api/models/gpt2`,
/// `/api/models/gpt2/revision/main` or `/gpt2/resolve/…` — answers as a missing repository, so
/// `repo_exists`/`revision_exists`/`file_exists` say False; an unknown operation on a namespaced
/// repository is a plain 404, not a misleading "repository not found".
pub async fn fallback(uri: Uri) -> ApiError {
    let p = uri.path();
    let seg: Vec<&str> = p.trim_start_matches('/').split('/').collect();
    let is_sub = |i: usize| seg.get(i).is_some_and(|s| REPO_SUBROUTES.contains(s));
    let api_repo = seg.first() == Some(&"api") && matches!(seg.get(1), Some(&("models" | "datasets" | "spaces")));
    let single_segment_repo = (api_repo && (seg.len() <= 3 || is_sub(3)))
        || is_sub(1)
        || (matches!(seg.first(), Some(&("datasets" | "spaces"))) && is_sub(2));
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
