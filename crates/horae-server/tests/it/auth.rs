//! The token: bearer header, login cookie, open `/healthz`, and the same-origin check.

use axum::http::{StatusCode, header};
use horae_server::AppState;
use serde_json::json;

use crate::support::{Client, scheduler};

const TOKEN: &str = "s3cret token";

#[tokio::test]
async fn api_calls_need_the_bearer_token() {
    let scheduler = scheduler().await;
    let state = AppState::new(scheduler.clone()).with_token(Some(TOKEN.to_owned()));
    let anonymous = Client::new(state.clone());
    for path in [
        "/api/v1/tasks",
        "/api/v1/openapi.json",
        "/api/v1/events",
        "/readyz",
        "/metrics",
        "/api/v1/nope",
    ] {
        let reply = anonymous.get(path).await;
        reply.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(reply.header(header::WWW_AUTHENTICATE), "Bearer", "{path}");
    }
    anonymous
        .post("/api/v1/tasks", json!({"id": "t", "executor": "async"}))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let health = anonymous.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK, "/healthz stays open");

    let wrong =
        Client::new(state.clone()).with_header(header::AUTHORIZATION, "Bearer s3cret tokeN");
    wrong
        .get("/api/v1/tasks")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let basic = Client::new(state.clone()).with_header(header::AUTHORIZATION, "Basic czNjcmV0");
    basic
        .get("/api/v1/tasks")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");

    let authorized =
        Client::new(state).with_header(header::AUTHORIZATION, &format!("Bearer {TOKEN}"));
    assert_eq!(authorized.get("/api/v1/tasks").await.status, StatusCode::OK);
    assert_eq!(authorized.get("/readyz").await.status, StatusCode::OK);
    let created = authorized
        .post("/api/v1/tasks", json!({"id": "t", "executor": "async"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    scheduler.stop().await;
}

#[tokio::test]
async fn the_dashboard_redirects_to_a_login_that_sets_a_strict_cookie() {
    let scheduler = scheduler().await;
    let state = AppState::new(scheduler.clone()).with_token(Some(TOKEN.to_owned()));
    let anonymous = Client::new(state.clone());
    let page = anonymous.get("/").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.header(header::LOCATION), "/login");
    let deep = anonymous.get("/?trigger=x").await;
    assert_eq!(deep.header(header::LOCATION), "/login?next=/%3Ftrigger%3Dx");
    let form_post = anonymous.post_form("/ui/schedules/x/pause", "").await;
    assert_eq!(form_post.status, StatusCode::SEE_OTHER);
    assert_eq!(form_post.header(header::LOCATION), "/login");

    let login = anonymous.get("/login?next=/").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.text.contains("id=\"login-form\""), "{}", login.text);

    let wrong = anonymous.post_form("/login", "token=nope&next=%2F").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text.contains("wrong token"));
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());

    let ok = anonymous
        .post_form("/login", "token=s3cret+token&next=%2F%23schedules")
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    assert_eq!(ok.header(header::LOCATION), "/#schedules");
    let cookie = ok.header(header::SET_COOKIE).to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains(TOKEN), "the token is encoded: {cookie}");
    let pair = cookie.split(';').next().unwrap();

    let browser = Client::new(state.clone()).with_header(header::COOKIE, pair);
    let page = browser.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("id=\"schedules\""));
    assert!(page.text.contains("log out"));
    assert_eq!(
        browser.get("/api/v1/tasks").await.status,
        StatusCode::OK,
        "the cookie also opens the API (the page's EventSource)"
    );

    let escape = anonymous
        .post_form("/login", "token=s3cret+token&next=%2F%2Fevil.example")
        .await;
    assert_eq!(escape.header(header::LOCATION), "/", "no open redirect");

    let logout = browser.post_form("/logout", "").await;
    assert_eq!(logout.status, StatusCode::SEE_OTHER);
    assert!(logout.header(header::SET_COOKIE).contains("Max-Age=0"));
    scheduler.stop().await;
}

#[tokio::test]
async fn blank_tokens_mean_no_authentication() {
    let scheduler = scheduler().await;
    let state = AppState::new(scheduler.clone()).with_token(Some("  ".to_owned()));
    assert!(!state.requires_token());
    let client = Client::new(state);
    assert_eq!(client.get("/api/v1/tasks").await.status, StatusCode::OK);
    assert_eq!(client.get("/").await.status, StatusCode::OK);
    scheduler.stop().await;
}

#[tokio::test]
async fn cross_site_changes_are_refused() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler)
        .await
        .with_header(header::HOST, "127.0.0.1:8731")
        .with_header(header::ORIGIN, "http://evil.example");
    client
        .post("/api/v1/tasks", json!({"id": "t", "executor": "async"}))
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    client
        .post_form("/ui/schedules/x/pause", "")
        .await
        .assert_error(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        client.get("/api/v1/tasks").await.status,
        StatusCode::OK,
        "reads are fine"
    );
    let same = Client::of(&scheduler)
        .await
        .with_header(header::HOST, "127.0.0.1:8731")
        .with_header(header::ORIGIN, "http://127.0.0.1:8731");
    let created = same
        .post("/api/v1/tasks", json!({"id": "t", "executor": "async"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    scheduler.stop().await;
}

#[test]
fn non_loopback_binds_need_a_token() {
    let public = "0.0.0.0:8731".parse().unwrap();
    let err = horae_server::check_bind(public, None).unwrap_err();
    assert!(err.to_string().contains("0.0.0.0:8731"), "{err}");
    assert!(horae_server::check_bind(public, Some("")).is_err());
    assert!(horae_server::check_bind(public, Some("t")).is_ok());
    assert!(horae_server::check_bind("127.0.0.1:0".parse().unwrap(), None).is_ok());
    assert!(horae_server::check_bind("[::1]:0".parse().unwrap(), None).is_ok());
}
