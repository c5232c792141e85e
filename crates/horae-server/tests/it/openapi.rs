//! `/api/v1/openapi.json`: a valid OpenAPI 3.1 document listing every route.

use axum::http::StatusCode;
use serde_json::Value;

use crate::support::{Client, scheduler};

/// Every documented route: (path, methods).
const ROUTES: &[(&str, &[&str])] = &[
    ("/api/v1/tasks", &["get", "post"]),
    ("/api/v1/tasks/{id}", &["get", "put", "delete"]),
    ("/api/v1/schedules", &["get", "post"]),
    ("/api/v1/schedules/{id}", &["get", "delete"]),
    ("/api/v1/schedules/{id}/pause", &["post"]),
    ("/api/v1/schedules/{id}/resume", &["post"]),
    ("/api/v1/schedules/{id}/preview", &["get"]),
    ("/api/v1/triggers/preview", &["post"]),
    ("/api/v1/jobs", &["get", "post"]),
    ("/api/v1/jobs/{id}", &["get"]),
    ("/api/v1/results", &["get"]),
    ("/api/v1/results/{job_id}", &["get"]),
    ("/api/v1/nodes", &["get"]),
    ("/api/v1/events", &["get"]),
    ("/api/v1/openapi.json", &["get"]),
    ("/healthz", &["get"]),
    ("/readyz", &["get"]),
    ("/metrics", &["get"]),
];

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                refs.push(target.clone());
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_lists_every_route() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    let reply = client.get("/api/v1/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = reply.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "horae");
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), ROUTES.len(), "{:?}", paths.keys());
    for (path, methods) in ROUTES {
        let item = paths.get(*path).unwrap_or_else(|| panic!("{path} missing"));
        let mut documented: Vec<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        documented.sort_unstable();
        let mut expected = methods.to_vec();
        expected.sort_unstable();
        assert_eq!(documented, expected, "{path}");
        for method in *methods {
            let operation = &item[*method];
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|code| code.starts_with('2')),
                "{method} {path}"
            );
            if *path != "/healthz" {
                assert!(responses.contains_key("401"), "{method} {path}");
            }
            if operation.get("requestBody").is_some() {
                for code in ["413", "415", "422"] {
                    assert!(responses.contains_key(code), "{code} for {method} {path}");
                }
            }
            // Path parameters are declared.
            for segment in path.split('/').filter(|s| s.starts_with('{')) {
                let name = segment.trim_matches(|c| c == '{' || c == '}');
                let declared = operation["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path"));
                assert!(declared, "{name} of {method} {path}");
            }
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for target in refs {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{target}"));
        assert!(schemas.contains_key(name), "{target} does not resolve");
    }
    for name in [
        "Task",
        "Schedule",
        "Job",
        "JobResult",
        "Node",
        "ErrorBody",
        "TriggerSpec",
    ] {
        assert!(schemas.contains_key(name), "{name}");
    }
    assert_eq!(
        doc,
        serde_json::to_value(horae_server::openapi()).unwrap(),
        "served as generated"
    );
    scheduler.stop().await;
}

#[tokio::test]
async fn every_documented_get_route_exists() {
    let scheduler = scheduler().await;
    let client = Client::of(&scheduler).await;
    for (path, methods) in ROUTES {
        if !methods.contains(&"get") || path.contains("events") {
            continue;
        }
        let concrete = path
            .replace("{job_id}", "0190b7a4-0000-7000-8000-000000000001")
            .replace("{id}", "x");
        let reply = client.get(&concrete).await;
        let route_missing =
            reply.status == StatusCode::NOT_FOUND && reply.text.contains("no route");
        assert!(!route_missing, "{path}: {}", reply.text);
        assert!(!reply.status.is_server_error(), "{path}: {}", reply.text);
    }
    scheduler.stop().await;
}
