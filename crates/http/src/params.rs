//! Parsing what arrives in paths, queries and bodies into the domain's types, with Hub-style errors.

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Uri};
use gatehouse_types::{Error, ErrorCode, RepoType, Revision};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// `axum::extract::Path`, with malformed parameters answered through the error table (a plain-text
/// rejection would lack the Hub's error headers).
pub struct Path<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(Error::bad_request(format!("Invalid URL: {}", e.body_text())).into()),
        }
    }
}

/// JSON bodies of API calls are small; commits and uploads stream and are not subject to this.
pub const MAX_JSON_BODY: usize = 16 << 20;

/// `/api/{kind}/{ns}/{name}…` path parameters.
#[derive(Debug, Deserialize)]
pub struct RepoParams {
    pub kind: String,
    pub ns: String,
    pub name: String,
    #[serde(default)]
    pub rev: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
}

pub struct RepoRef {
    pub repo_type: RepoType,
    pub ns: String,
    pub name: String,
}

impl RepoParams {
    /// Unknown types and malformed names answer exactly like a missing repository.
    pub fn repo(&self) -> ApiResult<RepoRef> {
        let repo_type = match self.kind.as_str() {
            "models" => RepoType::Model,
            "datasets" => RepoType::Dataset,
            "spaces" => RepoType::Space,
            _ => return Err(Error::repo_not_found().into()),
        };
        Ok(RepoRef { repo_type, ns: self.ns.clone(), name: self.name.trim_end_matches(".git").to_string() })
    }

    pub fn revision(&self) -> ApiResult<Revision> {
        Ok(Revision::parse(self.rev.as_deref().unwrap_or("main"))?)
    }
}

/// Query pairs in order, with repeated keys kept (`expand=a&expand=b`).
pub fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

pub fn query_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

pub fn query_flag(pairs: &[(String, String)], key: &str) -> bool {
    matches!(query_get(pairs, key), Some("1" | "true" | "True"))
}

/// Reads a JSON body (bounded) into `T`; a malformed one is a 400 with the parser's reason.
pub async fn json_body<T: DeserializeOwned>(body: Body) -> ApiResult<T> {
    let bytes = read_bounded(body, MAX_JSON_BODY).await?;
    if bytes.is_empty() {
        return serde_json::from_slice(b"{}")
            .map_err(|e| Error::bad_request(format!("Request body is required: {e}")).into());
    }
    serde_json::from_slice(&bytes).map_err(|e| Error::bad_request(format!("Invalid JSON body: {e}")).into())
}

pub async fn read_bounded(body: Body, limit: usize) -> ApiResult<bytes::Bytes> {
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            Err(Error::new(ErrorCode::PayloadTooLarge, format!("Request body larger than {limit} bytes")).into())
        }
        Err(e) => Err(Error::bad_request(format!("Could not read the request body: {e}")).into()),
    }
}

/// The origin clients should use in URLs we return: configured, or the one they reached us by.
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &state.config.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let proto = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    format!("{proto}://{host}")
}

/// The web URL of a repository, which the client parses as a `RepoUrl`.
pub fn repo_url(base: &str, t: RepoType, ns: &str, name: &str) -> String {
    format!("{base}/{}{ns}/{name}", t.url_prefix())
}

/// Paging: `cursor` is the offset of the next page; `limit` is capped.
pub fn page(pairs: &[(String, String)], default_limit: usize, max_limit: usize) -> ApiResult<(usize, usize)> {
    let offset = match query_get(pairs, "cursor") {
        Some(c) => c.parse().map_err(|_| ApiError::from(Error::bad_request("Invalid cursor")))?,
        None => 0,
    };
    let limit = match query_get(pairs, "limit") {
        Some(l) => {
            l.parse::<usize>().map_err(|_| ApiError::from(Error::bad_request("Invalid limit")))?.clamp(1, max_limit)
        }
        None => default_limit,
    };
    Ok((offset, limit))
}

/// An absolute `Link: <…>; rel="next"` for the page after this one (the client refuses relative ones).
pub fn next_link(base: &str, uri: &Uri, next_offset: usize) -> Option<HeaderValue> {
    let mut pairs: Vec<(String, String)> = query_pairs(uri).into_iter().filter(|(k, _)| k != "cursor").collect();
    pairs.push(("cursor".into(), next_offset.to_string()));
    let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    HeaderValue::from_str(&format!("<{base}{}?{query}>; rel=\"next\"", uri.path())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_absolute_and_keep_the_query() {
        let uri: Uri = "/api/models?search=x&cursor=5&expand=a&expand=b".parse().unwrap();
        let link = next_link("http://h:1", &uri, 10).unwrap();
        assert_eq!(
            link.to_str().unwrap(),
            "<http://h:1/api/models?search=x&expand=a&expand=b&cursor=10>; rel=\"next\""
        );
        let pairs = query_pairs(&uri);
        assert_eq!(page(&pairs, 100, 1000).unwrap(), (5, 100));
        assert!(page(&[("cursor".into(), "x".into())], 1, 1).is_err());
    }
}
