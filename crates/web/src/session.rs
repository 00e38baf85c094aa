//! The browser's identity: the session cookie (a random secret; the server keeps only its hash) turned
//! into a `Subject` by `gatehouse_core::sessions`, and an anonymous cookie that CSRF tokens of signed-out
//! forms (sign-in, sign-up) are bound to.

use crate::csrf;
use crate::page::PageError;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum_extra::extract::cookie::{Cookie, SameSite};
use gatehouse_authz::Subject;
use gatehouse_core::notify;
use gatehouse_core::sessions::{self, SessionState};
use gatehouse_http::auth::{cookie_value, SESSION_COOKIE};
use gatehouse_http::AppState;
use gatehouse_store::Account;
use rand::distributions::{Alphanumeric, DistString};
use std::net::SocketAddr;

/// Binds the CSRF tokens of signed-out visitors' forms.
pub const ANON_COOKIE: &str = "gh_anon";

/// Who is looking at a page.
pub struct Viewer {
    pub subject: Subject,
    /// The signed-in user (also set while their second factor is awaited; `subject` is then anonymous).
    pub user: Option<Account>,
    pub awaiting_second_factor: bool,
    /// The cookie named a session that has ended.
    pub expired: bool,
    /// The session cookie's secret, when the session is live.
    pub session_secret: Option<String>,
    /// The token every form on the page must send back.
    pub csrf: String,
    /// The client's address, for throttling sign-in attempts.
    pub client: Option<String>,
    /// Cookies must be `Secure` (the hub is served over https).
    pub secure: bool,
    /// The signed-in user's unread notifications (for the header).
    pub unread_notifications: i64,
}

impl Viewer {
    pub fn signed_in(&self) -> Option<&Account> {
        if self.awaiting_second_factor {
            None
        } else {
            self.user.as_ref()
        }
    }

    /// The signed-in user, or a redirect to the sign-in page that comes back to `here`.
    pub fn require_user(&self, here: &str) -> Result<&Account, PageError> {
        self.signed_in().ok_or_else(|| PageError::sign_in(here, self.expired))
    }

    /// A `Set-Cookie` value that starts a session.
    pub fn session_cookie(&self, secret: &str, max_age_secs: i64) -> String {
        Cookie::build((SESSION_COOKIE, secret.to_string()))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(time::Duration::seconds(max_age_secs))
            .build()
            .to_string()
    }

    /// A `Set-Cookie` value that removes the session cookie.
    pub fn clear_session_cookie(&self) -> String {
        Cookie::build((SESSION_COOKIE, ""))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(time::Duration::ZERO)
            .build()
            .to_string()
    }
}

fn secure(state: &AppState) -> bool {
    served_over_https(&state.config)
}

/// Cookies must be `Secure` when the hub's public URL is https.
pub fn served_over_https(config: &gatehouse_http::HttpConfig) -> bool {
    config.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let hub = &state.hub;
        let client = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        let mut viewer = Viewer {
            subject: Subject::Anonymous,
            user: None,
            awaiting_second_factor: false,
            expired: false,
            session_secret: None,
            csrf: String::new(),
            client,
            secure: secure(state),
            unread_notifications: 0,
        };
        let mut binding = cookie_value(&parts.headers, ANON_COOKIE).unwrap_or_default();
        if let Some(secret) = cookie_value(&parts.headers, SESSION_COOKIE) {
            match sessions::authenticate(hub, &secret).await.map_err(PageError::from)? {
                SessionState::Active { subject, user } => {
                    // One indexed count; a failure costs the badge, not the page.
                    viewer.unread_notifications = match notify::unread_count(hub, user.id).await {
                        Ok(n) => n,
                        Err(e) => {
                            tracing::warn!(error = %e.message, "cannot count unread notifications");
                            0
                        }
                    };
                    viewer.subject = subject;
                    viewer.user = Some(user);
                    binding = secret.clone();
                    viewer.session_secret = Some(secret);
                }
                SessionState::AwaitingSecondFactor { user } => {
                    viewer.user = Some(user);
                    viewer.awaiting_second_factor = true;
                    binding = secret.clone();
                    viewer.session_secret = Some(secret);
                }
                SessionState::Expired => viewer.expired = true,
            }
        }
        viewer.csrf = csrf::token(&hub.config.signing_key, &binding);
        Ok(viewer)
    }
}

/// Gives every browser an anonymous cookie before it sees a form, so signed-out forms have something
/// to bind their CSRF token to. The request is amended too, so this very page's forms carry a token.
/// `secure`: the hub is served over https, so the cookie is marked `Secure`.
pub async fn ensure_anon_cookie(State(secure): State<bool>, mut req: Request, next: Next) -> Response {
    if cookie_value(req.headers(), ANON_COOKIE).is_some() {
        return next.run(req).await;
    }
    let value = Alphanumeric.sample_string(&mut rand::rngs::OsRng, 32);
    let pair = format!("{ANON_COOKIE}={value}");
    let combined = match req.headers().get(header::COOKIE).and_then(|v| v.to_str().ok()) {
        Some(existing) if !existing.trim().is_empty() => format!("{existing}; {pair}"),
        _ => pair,
    };
    if let Ok(v) = HeaderValue::from_str(&combined) {
        req.headers_mut().insert(header::COOKIE, v);
    }
    let mut resp = next.run(req).await;
    let cookie =
        Cookie::build((ANON_COOKIE, value)).path("/").http_only(true).secure(secure).same_site(SameSite::Lax).build();
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}
