//! Authentication: the bearer token, the dashboard's login cookie, the same-origin check
//! for state-changing requests, and the bind-address rule of DESIGN.md section 7.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::dashboard;
use crate::error::ApiError;
use crate::state::AppState;

/// The name of the dashboard's login cookie; its value is the token, hex-encoded.
pub(crate) const COOKIE: &str = "horae_token";

/// A bind address that would expose the server without a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refusing to serve HTTP on {addr} without a token: a non-loopback bind requires \
     [http] token (or HORAE_TOKEN)"
)]
pub struct BindError {
    /// The address that was refused.
    pub addr: SocketAddr,
}

/// Checks DESIGN.md section 7's rule: a non-loopback bind requires a token. A token that is
/// empty or blank counts as none.
///
/// # Errors
///
/// [`BindError`] when `addr` is not a loopback address (`127.0.0.0/8`, `::1`) and there is
/// no token.
///
/// # Example
///
/// ```
/// use horae_server::check_bind;
///
/// assert!(check_bind("127.0.0.1:8731".parse()?, None).is_ok());
/// assert!(check_bind("0.0.0.0:8731".parse()?, None).is_err());
/// assert!(check_bind("0.0.0.0:8731".parse()?, Some("s3cret")).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_bind(addr: SocketAddr, token: Option<&str>) -> Result<(), BindError> {
    let has_token = token.is_some_and(|t| !t.trim().is_empty());
    if addr.ip().is_loopback() || has_token {
        Ok(())
    } else {
        Err(BindError { addr })
    }
}

/// Compares a presented secret with the token in time that depends only on the token's
/// length, not on where they first differ.
pub(crate) fn constant_time_eq(presented: &[u8], token: &[u8]) -> bool {
    let mut diff = u8::from(presented.len() != token.len());
    for (i, expected) in token.iter().enumerate() {
        let got = presented.get(i).copied().unwrap_or(0);
        diff |= got ^ expected;
    }
    std::hint::black_box(diff) == 0
}

fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

fn cookie_token(headers: &HeaderMap) -> Option<Vec<u8>> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .and_then(|(_, value)| hex_decode(value))
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Whether the request carries the token (as a bearer token or the login cookie).
pub(crate) fn is_authenticated(headers: &HeaderMap, token: &str) -> bool {
    let token = token.as_bytes();
    bearer(headers).is_some_and(|presented| constant_time_eq(presented, token))
        || cookie_token(headers).is_some_and(|presented| constant_time_eq(&presented, token))
}

/// Whether a browser sent this request from another site: its `Origin` header (browsers
/// send one with every POST) names a different host than the request's `Host`.
fn is_cross_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    host != Some(origin_host)
}

/// Paths answered with JSON (a 401) rather than a redirect to the login page.
fn is_machine_path(path: &str) -> bool {
    path.starts_with("/api/") || path == "/metrics" || path == "/readyz"
}

/// The middleware in front of every route: refuses cross-site state changes (CSRF), and,
/// when a token is configured, requests without it — except `/healthz` and the login page.
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe && is_cross_origin(request.headers()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "cross-origin requests may not change anything",
        )
        .into_response();
    }
    let Some(token) = state.token() else {
        return next.run(request).await;
    };
    if path == "/healthz" || path == "/login" || is_authenticated(request.headers(), token) {
        return next.run(request).await;
    }
    if is_machine_path(path) {
        return ApiError::unauthorized().into_response();
    }
    let back = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let target = if safe && back != "/" {
        format!("/login?next={}", percent_encode(&back))
    } else {
        "/login".to_owned()
    };
    Redirect::to(&target).into_response()
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Where to go after logging in: a local path only (no `//host`, no scheme).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path
        }
        _ => "/",
    }
}

/// Query of `GET /login`.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
}

/// Form of `POST /login`.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    token: String,
    next: Option<String>,
}

/// `GET /login`: the login form.
pub(crate) async fn login_page(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = query.ok().and_then(|q| q.0.next);
    dashboard::render_login(state.requires_token(), safe_next(next.as_deref()), None)
}

/// `POST /login`: checks the token and sets the cookie.
pub(crate) async fn login(
    State(state): State<AppState>,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return dashboard::render_login(
            state.requires_token(),
            "/",
            Some((StatusCode::BAD_REQUEST, "the login form was malformed")),
        );
    };
    let next = safe_next(form.next.as_deref()).to_owned();
    let Some(token) = state.token() else {
        return Redirect::to(&next).into_response();
    };
    if !constant_time_eq(form.token.trim().as_bytes(), token.as_bytes()) {
        return dashboard::render_login(
            true,
            &next,
            Some((StatusCode::UNAUTHORIZED, "wrong token")),
        );
    }
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        hex_encode(token.as_bytes())
    );
    let mut response = Redirect::to(&next).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST /logout`: clears the cookie.
pub(crate) async fn logout() -> Response {
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("horae_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

/// Renders a plain HTML error page for the dashboard's form posts.
pub(crate) fn html_error(status: StatusCode, message: &str) -> Response {
    (status, Html(dashboard::render_error(status, message))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_exactly() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secreT", b"secret"));
        assert!(!constant_time_eq(b"secret2", b"secret"));
        assert!(!constant_time_eq(b"secre", b"secret"));
        assert!(!constant_time_eq(b"", b"secret"));
    }

    #[test]
    fn bearer_and_cookie_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer  tok "),
        );
        assert!(is_authenticated(&headers, "tok"));
        assert!(!is_authenticated(&headers, "tok2"));
        let mut headers = HeaderMap::new();
        let cookie = format!("a=b; {COOKIE}={}", hex_encode(b"tok"));
        headers.insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
        assert!(is_authenticated(&headers, "tok"));
        headers.insert(header::COOKIE, HeaderValue::from_static("horae_token=zz"));
        assert!(!is_authenticated(&headers, "tok"));
    }

    #[test]
    fn bind_rule() {
        let public: SocketAddr = "0.0.0.0:1".parse().unwrap();
        let v6_loopback: SocketAddr = "[::1]:1".parse().unwrap();
        assert!(check_bind(v6_loopback, None).is_ok());
        assert!(check_bind("127.0.0.2:1".parse().unwrap(), None).is_ok());
        assert_eq!(check_bind(public, None), Err(BindError { addr: public }));
        assert!(check_bind(public, Some("  ")).is_err());
        assert!(check_bind(public, Some("t")).is_ok());
    }

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next(Some("/ui?x=1")), "/ui?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn cross_origin_is_detected() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8731"));
        assert!(!is_cross_origin(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8731"),
        );
        assert!(!is_cross_origin(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(is_cross_origin(&headers));
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(is_cross_origin(&headers));
    }
}
