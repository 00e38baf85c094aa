//! The page routes, declared once with who may see each (as the API's route table does), so the
//! page-matrix tests can drive every page as every kind of viewer.

mod auth;
mod browse;
mod collections;
mod diff;
mod gating;
mod invitations;
mod manage;
mod notifications;
mod password_reset;
mod repo;
mod settings;

use crate::assets;
use axum::http::Method;
use axum::routing::{get, post, MethodRouter};
use axum::{Extension, Router};
use gatehouse_authz::Action;
use gatehouse_http::AppState;
use gatehouse_types::RepoType;

/// Who may use a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageAccess {
    /// Anyone (lists are filtered by what the viewer may see).
    Public,
    /// A signed-in user; others are sent to the sign-in page.
    User,
    /// The action on the repository in the path; hidden repositories are 404 pages.
    Repo(Action),
    /// The action on the organization in the path (managing members: its admins).
    Org(Action),
    /// The action on the hub as a whole (inviting people: site administrators); others are sent to
    /// the sign-in page, or refused (403).
    Site(Action),
    /// The collection in the path: `RepoRead` to see it, any other action on the namespace that owns it;
    /// hidden collections are 404 pages.
    Collection(Action),
}

pub struct PageRoute {
    pub method: Method,
    pub path: &'static str,
    pub access: PageAccess,
    handler: MethodRouter<AppState>,
}

fn page(method: Method, path: &'static str, access: PageAccess, handler: MethodRouter<AppState>) -> PageRoute {
    PageRoute { method, path, access, handler }
}

/// Every page Gatehouse serves.
pub fn table() -> Vec<PageRoute> {
    use Method as M;
    use PageAccess::*;
    let mut routes = vec![
        page(M::GET, "/", Public, get(browse::home)),
        page(M::GET, "/models", Public, get(browse::models)),
        page(M::GET, "/datasets", Public, get(browse::datasets)),
        page(M::GET, "/static/{file}", Public, get(assets::serve)),
        page(M::GET, "/login", Public, get(auth::login_form)),
        page(M::POST, "/login", Public, post(auth::login)),
        page(M::GET, "/login/two-factor", Public, get(auth::second_factor_form)),
        page(M::POST, "/login/two-factor", Public, post(auth::second_factor)),
        page(M::POST, "/logout", Public, post(auth::logout)),
        page(M::GET, "/login/forgot", Public, get(password_reset::forgot_form)),
        page(M::POST, "/login/forgot", Public, post(password_reset::forgot)),
        page(M::GET, "/login/reset/{token}", Public, get(password_reset::reset_form)),
        page(M::POST, "/login/reset/{token}", Public, post(password_reset::reset)),
        page(M::GET, "/join", Public, get(auth::join_form)),
        page(M::POST, "/join", Public, post(auth::join)),
        page(M::GET, "/settings/profile", User, get(settings::profile)),
        page(M::POST, "/settings/profile", User, post(settings::save_profile)),
        page(M::POST, "/settings/password", User, post(settings::change_password)),
        page(M::POST, "/settings/sessions/sign-out-others", User, post(settings::sign_out_others)),
        page(M::GET, "/settings/tokens", User, get(settings::tokens_list)),
        page(M::POST, "/settings/tokens", User, post(settings::create_token)),
        page(M::POST, "/settings/tokens/{id}/revoke", User, post(settings::revoke_token)),
        page(M::GET, "/settings/two-factor", User, get(settings::two_factor_settings)),
        page(M::POST, "/settings/two-factor/enrol", User, post(settings::two_factor_begin)),
        page(M::POST, "/settings/two-factor/cancel", User, post(settings::two_factor_cancel)),
        page(M::POST, "/settings/two-factor/confirm", User, post(settings::two_factor_confirm)),
        page(M::POST, "/settings/two-factor/disable", User, post(settings::two_factor_disable)),
        page(M::POST, "/settings/two-factor/recovery-codes", User, post(settings::two_factor_recovery)),
        page(M::GET, "/settings/invitations", Site(Action::InviteUsers), get(invitations::list)),
        page(M::POST, "/settings/invitations", Site(Action::InviteUsers), post(invitations::create)),
        page(M::POST, "/settings/invitations/{id}/revoke", Site(Action::InviteUsers), post(invitations::revoke)),
        page(M::GET, "/new", User, get(manage::new_repo_form)),
        page(M::POST, "/new", User, post(manage::create_repo)),
        page(M::GET, "/organizations/new", User, get(manage::new_org_form)),
        page(M::POST, "/organizations/new", User, post(manage::create_org)),
        page(M::GET, "/organizations/{ns}/members", Org(Action::OrgManageMembers), get(manage::members)),
        page(M::POST, "/organizations/{ns}/members", Org(Action::OrgManageMembers), post(manage::change_member)),
        page(M::GET, "/notifications", User, get(notifications::list)),
        page(M::POST, "/notifications/read-all", User, post(notifications::read_all)),
        page(M::POST, "/notifications/{id}/read", User, post(notifications::read_one)),
        page(M::GET, "/collections/{ns}", Public, get(collections::namespace)),
        page(M::POST, "/collections/{ns}", User, post(collections::create)),
        page(M::GET, "/collections/{ns}/{slug}", Collection(Action::RepoRead), get(collections::show)),
        page(
            M::POST,
            "/collections/{ns}/{slug}/items",
            Collection(Action::CollectionManage),
            post(collections::add_item),
        ),
        page(
            M::POST,
            "/collections/{ns}/{slug}/items/remove",
            Collection(Action::CollectionManage),
            post(collections::remove_item),
        ),
        page(
            M::POST,
            "/collections/{ns}/{slug}/delete",
            Collection(Action::CollectionManage),
            post(collections::delete),
        ),
        page(
            M::POST,
            "/collections/{ns}/{slug}/gating",
            Collection(Action::OrgManageMembers),
            post(collections::set_gating),
        ),
        page(M::GET, "/{ns}", Public, get(browse::account)),
    ];
    // The same pages for models (no prefix) and datasets; the handlers take the type from the route.
    macro_rules! repo_pages {
        ($prefix:literal, $t:expr) => {
            let pages = [
                (M::GET, concat!($prefix, "/{ns}/{name}"), Repo(Action::RepoRead), get(repo::handlers::card)),
                (
                    M::GET,
                    concat!($prefix, "/{ns}/{name}/tree/{rev}"),
                    Repo(Action::RepoRead),
                    get(repo::handlers::tree_root),
                ),
                (
                    M::GET,
                    concat!($prefix, "/{ns}/{name}/tree/{rev}/{*path}"),
                    Repo(Action::RepoRead),
                    get(repo::handlers::tree),
                ),
                (
                    M::GET,
                    concat!($prefix, "/{ns}/{name}/blob/{rev}/{*path}"),
                    Repo(Action::RepoRead),
                    get(repo::handlers::blob),
                ),
                (
                    M::GET,
                    concat!($prefix, "/{ns}/{name}/commits/{rev}"),
                    Repo(Action::RepoRead),
                    get(repo::handlers::commits),
                ),
                (
                    M::GET,
                    concat!($prefix, "/{ns}/{name}/commit/{rev}"),
                    Repo(Action::RepoRead),
                    get(repo::handlers::commit),
                ),
                (M::GET, concat!($prefix, "/{ns}/{name}/refs"), Repo(Action::RepoRead), get(repo::handlers::refs)),
                (
                    M::GET,
                    concat!($prefix, "/{ns}/{name}/settings"),
                    Repo(Action::RepoManage),
                    get(repo::handlers::settings),
                ),
                (
                    M::POST,
                    concat!($prefix, "/{ns}/{name}/settings/visibility"),
                    Repo(Action::RepoManage),
                    post(manage::handlers::visibility),
                ),
                (
                    M::POST,
                    concat!($prefix, "/{ns}/{name}/settings/move"),
                    Repo(Action::RepoManage),
                    post(manage::handlers::rename),
                ),
                (
                    M::POST,
                    concat!($prefix, "/{ns}/{name}/settings/delete"),
                    Repo(Action::RepoManage),
                    post(manage::handlers::delete),
                ),
                // Gated repositories: the request form and the owners' review.
                (
                    M::POST,
                    concat!($prefix, "/{ns}/{name}/ask-access"),
                    Repo(Action::RepoRead),
                    post(gating::ask_access),
                ),
                (
                    M::POST,
                    concat!($prefix, "/{ns}/{name}/settings/gating"),
                    Repo(Action::RepoManage),
                    post(gating::save_settings),
                ),
                (
                    M::GET,
                    concat!($prefix, "/{ns}/{name}/settings/access-requests"),
                    Repo(Action::RepoManage),
                    get(gating::review),
                ),
                (
                    M::POST,
                    concat!($prefix, "/{ns}/{name}/settings/access-requests"),
                    Repo(Action::RepoManage),
                    post(gating::decide),
                ),
                (
                    M::GET,
                    concat!($prefix, "/{ns}/{name}/settings/access-requests/users"),
                    Repo(Action::RepoManage),
                    get(gating::user_options),
                ),
            ];
            routes.extend(
                pages.into_iter().map(|(m, path, access, handler)| page(m, path, access, handler.layer(Extension($t)))),
            );
        };
    }
    repo_pages!("", RepoType::Model);
    repo_pages!("/datasets", RepoType::Dataset);
    routes
}

/// The pages' router (merged into the API's by `gatehouse_http::router_with`).
pub fn router() -> Router<AppState> {
    let mut by_path: std::collections::BTreeMap<&'static str, MethodRouter<AppState>> = Default::default();
    for r in table() {
        let merged = match by_path.remove(r.path) {
            Some(existing) => existing.merge(r.handler),
            None => r.handler,
        };
        by_path.insert(r.path, merged);
    }
    by_path.into_iter().fold(Router::new(), |router, (path, handler)| router.route(path, handler))
}
