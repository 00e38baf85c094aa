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

/// Unknown routes. Under the repository API prefixes, answer as a missing repository so the client's
/// `repo_exists`/`file_exists` work even for shapes we do not serve.
pub async fn fallback(uri: Uri) -> ApiError {
    let p = uri.path();
    let repo_like = ["/api/models/", "/api/datasets/", "/api/spaces/"].iter().any(|pre| p.starts_with(pre))
        || p.contains("/resolve/");
    if repo_like {
        Error::repo_not_found().into()
    } else {
        Error::not_found(format!("No route for {p}")).into()
    }
}
