//! The route table: every route with the access it requires. The router is built from this table, and
//! the route-matrix test checks the table against its own expectations and against real requests, so a
//! route cannot be added without declaring (and testing) who may call it.

use crate::handlers::{account, collections, commit, content, gating, git, lfs, ops, repos, resolve, xet};
use crate::AppState;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Router};
use gatehouse_authz::Action;
use gatehouse_types::RepoType;
use std::collections::BTreeMap;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone; nothing private is involved.
    Public,
    /// Anyone; the answer is filtered by what the caller may see.
    Filtered,
    /// A signed-in user.
    User,
    /// A signed-in user asking for access to a repository they may see (hidden ones answer as missing).
    AccessRequest,
    /// The action on the repository named in the path (or body).
    Repo(Action),
    /// Creating in a namespace named in the body.
    Namespace(Action),
    /// The collection named in the path: `RepoRead` to see it (as its owner's repositories of the same
    /// visibility are seen), any other action on the namespace that owns it. A collection the caller may
    /// not see answers 404 like a missing one, whatever the action.
    Collection(Action),
    /// The Git-LFS batch: `RepoDownload` for downloads, `RepoWrite` for uploads.
    LfsBatch,
    /// The URL carries its own signature (LFS transfers; the client sends no credentials).
    Signed,
    /// Git smart HTTP: `RepoDownload` to fetch, `RepoWrite` to push; anonymous callers who would be
    /// refused (or for whom the repository is hidden) get a 401 challenge, so git sends credentials.
    Git,
    /// A Xet token for reading (`RepoDownload`) the repository it names; every call re-asks the decision.
    XetRead,
    /// A Xet token for writing (`RepoWrite`) the repository it names.
    XetWrite,
}

pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    handler: MethodRouter<AppState>,
}

fn route(method: Method, path: &'static str, access: Access, handler: MethodRouter<AppState>) -> Route {
    Route { method, path, access, handler }
}

const R: fn(Action) -> Access = Access::Repo;
const C: fn(Action) -> Access = Access::Collection;

/// Every route Gatehouse serves.
pub fn table() -> Vec<Route> {
    use axum::routing::{delete, get, patch, post, put};
    use Action::*;
    use Method as M;
    let typed = |t: RepoType| Extension(t);
    let mut routes = vec![
        route(M::GET, "/healthz", Access::Public, get(ops::healthz)),
        route(M::GET, "/metrics", Access::Public, get(ops::metrics)),
        route(M::GET, "/api/agent-harnesses", Access::Public, get(ops::agent_harnesses)),
        route(M::POST, "/api/validate-yaml", Access::Public, post(content::validate_yaml)),
        route(M::GET, "/api/whoami-v2", Access::User, get(account::whoami)),
        route(M::POST, "/api/repos/create", Access::Namespace(RepoCreate), post(repos::create)),
        route(M::DELETE, "/api/repos/delete", R(RepoManage), delete(repos::delete)),
        route(M::POST, "/api/repos/move", R(RepoManage), post(repos::rename)),
        route(M::GET, "/api/collections", Access::Filtered, get(collections::list)),
        route(M::POST, "/api/collections", Access::Namespace(RepoCreate), post(collections::create)),
        route(M::GET, "/api/collections/{owner}/{slug}", C(RepoRead), get(collections::get)),
        route(M::PATCH, "/api/collections/{owner}/{slug}", C(CollectionManage), patch(collections::update)),
        route(M::DELETE, "/api/collections/{owner}/{slug}", C(CollectionManage), delete(collections::delete)),
        route(M::POST, "/api/collections/{owner}/{slug}/items", C(CollectionManage), post(collections::add_item)),
        route(
            M::PATCH,
            "/api/collections/{owner}/{slug}/items/{item}",
            C(CollectionManage),
            patch(collections::update_item),
        ),
        route(
            M::DELETE,
            "/api/collections/{owner}/{slug}/items/{item}",
            C(CollectionManage),
            delete(collections::delete_item),
        ),
        route(M::GET, "/api/collections/{owner}/{slug}/gating", C(OrgManageMembers), get(collections::get_gating)),
        route(M::PUT, "/api/collections/{owner}/{slug}/gating", C(OrgManageMembers), put(collections::set_gating)),
        route(M::GET, "/api/{kind}", Access::Filtered, get(repos::list)),
        route(M::GET, "/api/{kind}/{ns}", Access::Public, get(repos::unnamespaced)),
        route(M::GET, "/api/{kind}/{ns}/{name}", R(RepoRead), get(repos::info)),
        route(M::GET, "/api/{kind}/{ns}/{name}/revision/{rev}", R(RepoRead), get(repos::info)),
        route(M::PUT, "/api/{kind}/{ns}/{name}/settings", R(RepoManage), put(repos::settings)),
        route(M::GET, "/api/{kind}/{ns}/{name}/auth-check", R(RepoDownload), get(repos::auth_check)),
        route(M::GET, "/api/{kind}/{ns}/{name}/auth-check/write", R(RepoWrite), get(repos::auth_check_write)),
        route(M::GET, "/api/{kind}/{ns}/{name}/tree/{rev}", R(RepoRead), get(content::tree)),
        route(M::GET, "/api/{kind}/{ns}/{name}/tree/{rev}/{*path}", R(RepoRead), get(content::tree)),
        route(M::POST, "/api/{kind}/{ns}/{name}/paths-info/{rev}", R(RepoRead), post(content::paths_info)),
        route(M::GET, "/api/{kind}/{ns}/{name}/refs", R(RepoRead), get(content::refs_list)),
        route(M::GET, "/api/{kind}/{ns}/{name}/commits/{rev}", R(RepoRead), get(content::commits)),
        route(M::POST, "/api/{kind}/{ns}/{name}/branch/{rev}", R(RepoWrite), post(content::create_branch)),
        route(M::DELETE, "/api/{kind}/{ns}/{name}/branch/{rev}", R(RepoWrite), delete(content::delete_branch)),
        route(M::POST, "/api/{kind}/{ns}/{name}/tag/{rev}", R(RepoWrite), post(content::create_tag)),
        route(M::DELETE, "/api/{kind}/{ns}/{name}/tag/{rev}", R(RepoWrite), delete(content::delete_tag)),
        route(M::POST, "/api/{kind}/{ns}/{name}/super-squash/{rev}", R(RepoWrite), post(content::squash)),
        route(M::POST, "/api/{kind}/{ns}/{name}/preupload/{rev}", R(RepoWrite), post(content::preupload)),
        route(M::POST, "/api/{kind}/{ns}/{name}/commit/{rev}", R(RepoWrite), post(commit::commit)),
        route(M::GET, "/api/{kind}/{ns}/{name}/lfs-files", R(RepoWrite), get(content::lfs_files)),
        route(M::POST, "/api/{kind}/{ns}/{name}/lfs-files/batch", R(RepoManage), post(content::delete_lfs_files)),
        route(M::PUT, "/api/lfs/objects/{repo_id}/{oid}/{size}", Access::Signed, put(lfs::upload)),
        route(M::POST, "/api/lfs/objects/{repo_id}/{oid}/{size}", Access::Signed, post(lfs::complete)),
        route(M::PUT, "/api/lfs/objects/{repo_id}/{oid}/{size}/parts/{part}", Access::Signed, put(lfs::upload_part)),
        route(M::GET, "/api/lfs/objects/{repo_id}/{oid}", Access::Signed, get(lfs::download)),
        route(M::POST, "/api/{kind}/{ns}/{name}/user-access-request", Access::AccessRequest, post(gating::request)),
        route(M::GET, "/api/{kind}/{ns}/{name}/user-access-request/{status}", R(RepoManage), get(gating::list)),
        route(M::POST, "/api/{kind}/{ns}/{name}/user-access-request/handle", R(RepoManage), post(gating::handle)),
        route(M::POST, "/api/{kind}/{ns}/{name}/user-access-request/grant", R(RepoManage), post(gating::grant)),
        route(M::GET, "/api/{kind}/{ns}/{name}/user-access-report", R(RepoManage), get(gating::report)),
        route(M::GET, "/api/{kind}/{ns}/{name}/xet-read-token/{rev}", R(RepoDownload), get(xet::read_token)),
        route(M::GET, "/api/{kind}/{ns}/{name}/xet-write-token/{rev}", R(RepoWrite), get(xet::write_token)),
        // The Xet CAS (its own base URL as far as clients know; unknown CAS routes answer 404).
        route(M::GET, "/cas/v1/chunks/{prefix}/{hash}", Access::XetRead, get(xet::dedup)),
        route(M::POST, "/cas/v1/xorbs/{prefix}/{hash}", Access::XetWrite, post(xet::upload_xorb)),
        route(M::POST, "/cas/v1/shards", Access::XetWrite, post(xet::upload_shard_v1)),
        route(M::POST, "/cas/v2/shards", Access::XetWrite, post(xet::upload_shard_v2)),
        route(M::GET, "/cas/v1/reconstructions/{file_id}", Access::XetRead, get(xet::reconstruction_v1)),
        route(M::GET, "/cas/v2/reconstructions/{file_id}", Access::XetRead, get(xet::reconstruction_v2)),
        route(M::GET, "/cas/fetch/{xorb}", Access::Signed, get(xet::fetch)),
        route(M::POST, "/cas/v1/telemetry", Access::Public, post(xet::telemetry)),
        route(M::POST, "/v1/telemetry", Access::Public, post(xet::telemetry)),
    ];
    // Web-style URLs: models have no prefix, other types a `datasets/` or `spaces/` one.
    let prefixed: [(&'static str, RepoType); 3] =
        [("", RepoType::Model), ("/datasets", RepoType::Dataset), ("/spaces", RepoType::Space)];
    for (prefix, t) in prefixed {
        let path = |suffix: &str| -> &'static str { Box::leak(format!("{prefix}{suffix}").into_boxed_str()) };
        let resolve_path = path("/{ns}/{name}/resolve/{rev}/{*path}");
        routes.push(route(M::GET, resolve_path, R(RepoDownload), get(resolve::serve).layer(typed(t))));
        routes.push(route(
            M::HEAD,
            resolve_path,
            R(RepoDownload),
            on(MethodFilter::HEAD, resolve::serve).layer(typed(t)),
        ));
        routes.push(route(M::GET, path("/{ns}/{name}/info/refs"), Access::Git, get(git::info_refs).layer(typed(t))));
        routes.push(route(
            M::POST,
            path("/{ns}/{name}/git-upload-pack"),
            Access::Git,
            post(git::upload_pack).layer(typed(t)),
        ));
        routes.push(route(
            M::POST,
            path("/{ns}/{name}/git-receive-pack"),
            Access::Git,
            post(git::receive_pack).layer(typed(t)),
        ));
        routes.push(route(
            M::POST,
            path("/{ns}/{name}/info/lfs/objects/batch"),
            Access::LfsBatch,
            post(lfs::batch).layer(typed(t)),
        ));
        routes.push(route(
            M::POST,
            path("/{ns}/{name}/info/lfs/objects/verify"),
            R(RepoWrite),
            post(lfs::verify).layer(typed(t)),
        ));
        let locks = path("/{ns}/{name}/info/lfs/locks");
        routes.push(route(M::GET, locks, Access::Public, get(lfs::locks_unsupported)));
        routes.push(route(M::POST, locks, Access::Public, post(lfs::locks_unsupported)));
        let verify_locks = path("/{ns}/{name}/info/lfs/locks/verify");
        routes.push(route(M::POST, verify_locks, Access::Public, post(lfs::locks_unsupported)));
    }
    routes
}

/// Builds the router from the table, with request ids, metrics and no body limit (commits and uploads
/// stream; JSON bodies are bounded where they are read).
pub fn build(state: AppState, extra: Router<AppState>) -> Router {
    let mut by_path: BTreeMap<&'static str, MethodRouter<AppState>> = BTreeMap::new();
    for r in table() {
        let merged = match by_path.remove(r.path) {
            Some(existing) => existing.merge(r.handler),
            None => r.handler,
        };
        by_path.insert(r.path, merged);
    }
    let mut router = extra;
    for (path, handler) in by_path {
        router = router.route(path, handler);
    }
    router
        .fallback(ops::fallback)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(middleware::from_fn(crate::metrics::track))
        .layer(middleware::from_fn(request_id))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Echoes the client's trace id (the Python client sends `X-Amzn-Trace-Id`) as `X-Request-Id`, so it is
/// printed in client errors; logs carry it with the route, never the query string.
async fn request_id(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .or_else(|| req.headers().get("x-amzn-trace-id"))
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 128)
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
    let route = req.extensions().get::<axum::extract::MatchedPath>().map(|p| p.as_str().to_string());
    let span = tracing::info_span!("request", method = %req.method(), route = route.as_deref().unwrap_or("-"), request_id = %id);
    let start = std::time::Instant::now();
    let has_body = req.headers().contains_key(axum::http::header::TRANSFER_ENCODING)
        || req.headers().get(axum::http::header::CONTENT_LENGTH).is_some_and(|v| v != "0");
    let mut resp = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    // A request refused before its body was read leaves that body on the connection: close it rather
    // than let the client's next request be parsed out of the leftover bytes.
    if has_body && (resp.status().is_client_error() || resp.status().is_server_error()) {
        resp.headers_mut().insert(axum::http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    span.in_scope(|| {
        tracing::debug!(status = resp.status().as_u16(), elapsed_ms = start.elapsed().as_millis() as u64, "done")
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}
