use crate::auth::Caller;
use crate::error::ApiResult;
use crate::AppState;
use axum::extract::State;
use axum::Json;
use gatehouse_core::content::read::object_id;
use gatehouse_core::time::iso8601;
use gatehouse_store::{AccountStore, StoreResult};
use gatehouse_types::Error;
use serde_json::{json, Value};

/// `GET /api/whoami-v2`: the caller, their organizations and the token in use.
pub async fn whoami(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let user = caller.subject.user().ok_or_else(Error::auth_required)?;
    let store = &state.hub.store;
    let account = store.account_by_id(user.user_id).await?.ok_or_else(Error::auth_required)?;
    let orgs: StoreResult<_> = store.memberships_of_user(account.id).await;
    let orgs: Vec<Value> = orgs?
        .into_iter()
        .map(|(org, role)| {
            json!({"type": "org", "id": object_id(0, org.id), "name": org.name, "fullname": org.fullname,
                   "roleInOrg": role.as_str(), "isEnterprise": false})
        })
        .collect();
    let auth = match &caller.token {
        Some(t) => json!({"type": "access_token", "accessToken": {
            "displayName": t.name, "role": t.role.as_str(), "createdAt": iso8601(t.created_at)}}),
        None => json!({"type": "session"}),
    };
    Ok(Json(json!({
        "type": "user",
        "id": object_id(0, account.id),
        "name": account.name,
        "fullname": account.fullname,
        "email": account.email,
        "emailVerified": true,
        "isPro": false,
        "canPay": false,
        "isSiteAdmin": account.site_admin,
        "avatarUrl": "",
        "orgs": orgs,
        "auth": auth,
    })))
}
