//! Static assets, embedded in the binary: the stylesheet (with the highlighter's classes appended),
//! htmx 2.0.11 (0BSD, from the npm package `htmx.org`), our few lines of script (dialogs) and the icon. Their URLs in `base.html` carry
//! `?v=N` so browsers may cache them for a year: bump it when an asset changes.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::LazyLock;

const STYLE: &str = include_str!("../assets/style.css");
const HTMX: &str = include_str!("../assets/htmx.min.js");
const SCRIPT: &str = include_str!("../assets/gatehouse.js");
const FAVICON: &str = include_str!("../assets/favicon.svg");

static CSS: LazyLock<String> =
    LazyLock::new(|| format!("{STYLE}\n/* highlighting */\n{}", gatehouse_render::highlight_css()));

pub async fn serve(Path(file): Path<String>) -> Response {
    let (body, kind): (&str, &str) = match file.as_str() {
        "style.css" => (CSS.as_str(), "text/css; charset=utf-8"),
        "htmx.min.js" => (HTMX, "text/javascript; charset=utf-8"),
        "gatehouse.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "favicon.svg" => (FAVICON, "image/svg+xml"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")], body)
        .into_response()
}
