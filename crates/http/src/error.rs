//! Rendering errors the Hub's way: the status and `X-Error-Code` from the one error table,
//! `X-Error-Message` (HEAD responses have no body), and a JSON `{"error": …}` body.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_types::{Error, ErrorCode};

#[derive(Debug)]
pub struct ApiError {
    pub error: Error,
    extra: Vec<(HeaderName, HeaderValue)>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.extra.push((HeaderName::from_static(name), v));
        }
        self
    }
}

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError { error: e.into(), extra: Vec::new() }
    }
}

/// Header values must be visible ASCII; messages are short and safe to show.
fn header_safe(msg: &str) -> String {
    msg.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).take(500).collect()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.error.code;
        let message = if code == ErrorCode::Internal {
            // The detail goes to the log, once, here at the boundary; never to the caller.
            tracing::error!(error = %self.error.message, "internal error");
            "Internal server error".to_string()
        } else {
            self.error.message
        };
        let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(serde_json::json!({ "error": message }))).into_response();
        let h = resp.headers_mut();
        h.insert("x-error-code", HeaderValue::from_static(code.header()));
        if let Ok(v) = HeaderValue::from_str(&header_safe(&message)) {
            h.insert("x-error-message", v);
        }
        for (k, v) in self.extra {
            h.insert(k, v);
        }
        resp
    }
}
