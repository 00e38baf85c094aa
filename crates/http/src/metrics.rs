//! Prometheus metrics: requests and latency by route and status, bytes in and out. Labels use the
//! route pattern, never the concrete path (no repository names or signed URLs in metrics).

use axum::extract::{MatchedPath, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

/// One recorder per process (tests build many routers in one process).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // If another recorder is installed already (embedding), ours just stays empty.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

fn content_length(h: &axum::http::HeaderMap) -> u64 {
    h.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route =
        req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    let bytes_in = content_length(req.headers());
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(start.elapsed().as_secs_f64());
    metrics::counter!("http_request_bytes_total", &labels[..2]).increment(bytes_in);
    metrics::counter!("http_response_bytes_total", &labels[..2]).increment(content_length(resp.headers()));
    resp
}
