//! The dashboard: sections, the pause/resume form, escaping, failures and the preview box.

use axum::http::{StatusCode, header};
use serde_json::json;

use crate::support::{Client, scheduler};

/// The `<tr>` of a schedule in the page.
fn schedule_row<'a>(page: &'a str, id: &str) -> &'a str {
    let marker = format!("data-schedule-id=\"{id}\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("{id} in {page}"));
    let start = page[..at].rfind("<tr").unwrap();
    let end = at + page[at..].find("</tr>").unwrap();
    &page[start..end]
}

#[tokio::test]
async fn pausing_from_the_dashboard_form_shows_on_the_page_and_in_the_api() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    let created = client
        .post(
            "/api/v1/schedules",
            json!({"id": "nightly", "task_id": "add", "trigger": {"type": "cron", "hour": 3}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);

    let page = client.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.header(header::CONTENT_TYPE).starts_with("text/html"),
        "{:?}",
        page.headers
    );
    for section in [
        "id=\"schedules\"",
        "id=\"running-jobs\"",
        "id=\"results\"",
        "id=\"nodes\"",
        "id=\"preview\"",
    ] {
        assert!(page.text.contains(section), "{section}");
    }
    let row = schedule_row(&page.text, "nightly");
    assert!(row.contains("class=\"schedule\""), "{row}");
    assert!(row.contains("data-paused=\"false\""), "{row}");
    assert!(
        row.contains("action=\"/ui/schedules/nightly/pause\""),
        "{row}"
    );
    assert!(
        row.contains("class=\"next-fire-time\" data-time=\"20"),
        "{row}"
    );

    let paused = client.post_form("/ui/schedules/nightly/pause", "").await;
    assert_eq!(paused.status, StatusCode::SEE_OTHER);
    assert_eq!(paused.header(header::LOCATION), "/#schedule-nightly");
    assert_eq!(
        client.get("/api/v1/schedules/nightly").await.json()["paused"],
        true
    );
    let page = client.get("/").await;
    let row = schedule_row(&page.text, "nightly");
    assert!(row.contains("class=\"schedule paused\""), "{row}");
    assert!(row.contains("data-paused=\"true\""), "{row}");
    assert!(
        row.contains("action=\"/ui/schedules/nightly/resume\""),
        "{row}"
    );

    let resumed = client.post_form("/ui/schedules/nightly/resume", "").await;
    assert_eq!(resumed.status, StatusCode::SEE_OTHER);
    assert_eq!(
        client.get("/api/v1/schedules/nightly").await.json()["paused"],
        false
    );
    let missing = client.post_form("/ui/schedules/nope/pause", "").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.text.contains("nope"), "{}", missing.text);
    let invalid = client.post_form("/ui/schedules/-bad/pause", "").await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    scheduler.stop().await;
}

#[tokio::test]
async fn results_are_listed_with_failures_highlighted_and_escaped() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    for args in [json!([1, 1]), json!([-1])] {
        let job = client
            .post("/api/v1/jobs", json!({"task_id": "add", "args": args}))
            .await
            .json();
        let id = job["id"].as_str().unwrap();
        let result = client
            .get(&format!("/api/v1/results/{id}?wait=true&timeout=20"))
            .await;
        assert_eq!(result.status, StatusCode::OK, "{}", result.text);
    }
    let page = client.get("/").await.text;
    assert!(page.contains("class=\"result failed\""), "{page}");
    assert!(page.contains("data-outcome=\"error\""));
    assert!(page.contains("data-outcome=\"success\""));
    assert!(
        !page.contains("<b>negative</b>"),
        "the error text is escaped"
    );
    assert!(
        page.contains("&#60;b&#62;negative&#60;/b&#62; &#38; bad"),
        "{page}"
    );
    assert!(page.contains(" s</td>"), "a duration is shown");
    scheduler.stop().await;
}

#[tokio::test]
async fn the_preview_box_shows_fire_times_or_the_error() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    let trigger = "%7B%22type%22%3A%22interval%22%2C%22hours%22%3A1%2C%22start_time%22%3A%222030-01-01T00%3A00%3A00Z%22%7D";
    let page = client.get(&format!("/?trigger={trigger}&count=3")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("id=\"preview-times\""), "{}", page.text);
    for time in [
        "2030-01-01T00:00:00+00:00",
        "2030-01-01T01:00:00+00:00",
        "2030-01-01T02:00:00+00:00",
    ] {
        assert!(page.text.contains(time), "{time}");
    }
    assert!(!page.text.contains("2030-01-01T03:00:00+00:00"));
    let bad = client.get("/?trigger=%7B%22type%22%3A%22nope%22%7D").await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(bad.text.contains("id=\"preview-error\""), "{}", bad.text);
    assert!(bad.text.contains("unknown trigger type"));
    let script = client.get("/?trigger=%3Cscript%3E").await;
    assert!(
        script.text.contains(">&#60;script&#62;</textarea>"),
        "{}",
        script.text
    );
    scheduler.stop().await;
}

#[tokio::test]
async fn running_jobs_show_their_node_and_lease() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    let job = client
        .post("/api/v1/jobs", json!({"task_id": "add", "args": [0, 2500]}))
        .await
        .json();
    let id = job["id"].as_str().unwrap().to_owned();
    let mut page = String::new();
    for _ in 0..50 {
        page = client.get("/").await.text;
        if page.contains(&format!("class=\"job running\" data-job-id=\"{id}\"")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let at = page
        .find(&format!("data-job-id=\"{id}\""))
        .unwrap_or_else(|| panic!("running job in {page}"));
    let row = &page[at..at + page[at..].find("</tr>").unwrap()];
    assert!(row.contains("<code>it-node</code>"), "{row}");
    assert!(row.contains("class=\"lease-expiry\">20"), "{row}");
    scheduler.stop().await;
}
