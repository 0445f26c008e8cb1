//! The API client against a recorded OSV server (wiremock): batching, paging, one request
//! per record, withdrawn records, and failures named.

use super::*;
use std::time::Duration;
use updatebot_core::http::{HttpClient, HttpOptions};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(server: &MockServer) -> Advisories {
    let http = Arc::new(
        HttpClient::new(
            HttpOptions {
                backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(2),
                ..HttpOptions::default()
            },
            Vec::new(),
        )
        .unwrap(),
    );
    let transport = api::HttpTransport::new(http, Duration::from_secs(5), 1).unwrap();
    Advisories::api(&server.uri(), Arc::new(transport)).unwrap()
}

fn record(id: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut r = serde_json::json!({
        "id": id,
        "affected": [{"package": {"ecosystem": "npm", "name": "lodash"},
            "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.21"}]}]}]
    });
    if let (Some(o), Some(e)) = (r.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            o.insert(k.clone(), v.clone());
        }
    }
    r
}

#[tokio::test]
async fn batches_follow_pages_and_fetch_each_record_once() {
    let server = MockServer::start().await;
    // First page: one record for each query and a token for the first.
    Mock::given(method("POST"))
        .and(path("/v1/querybatch"))
        .and(body_partial_json(
            serde_json::json!({"queries": [{"page_token": "p2"}]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "results": [{"vulns": [{"id": "GHSA-2"}, {"id": "GHSA-W"}]}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/querybatch"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "results": [
                {"vulns": [{"id": "GHSA-1", "modified": "x"}], "next_page_token": "p2"},
                {"vulns": [{"id": "GHSA-1"}]},
                {}
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;
    for (id, extra) in [
        ("GHSA-1", serde_json::json!({"aliases": ["CVE-1"]})),
        ("GHSA-2", serde_json::json!({})),
        (
            "GHSA-W",
            serde_json::json!({"withdrawn": "2024-01-01T00:00:00Z"}),
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/v1/vulns/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(record(id, extra)))
            .expect(1)
            .mount(&server)
            .await;
    }
    let advisories = client(&server);
    let queries = [
        api::query(OsvEcosystem::Npm, "lodash", "4.17.20"),
        api::query(OsvEcosystem::Npm, "lodash", "4.17.19"),
        api::query(OsvEcosystem::Npm, "left-pad", "1.3.0"),
    ];
    let found = advisories.find(&queries).await.unwrap();
    let ids = |i: usize| -> Vec<&str> { found.records[i].iter().map(|v| v.id.as_str()).collect() };
    assert_eq!(ids(0), ["GHSA-1", "GHSA-2"], "paged, withdrawn left out");
    assert_eq!(ids(1), ["GHSA-1"]);
    assert!(ids(2).is_empty());
    // GHSA-1 was named twice and fetched once (the mocks expect one request each).
    assert_eq!(advisories.records_fetched(), 3);
}

#[tokio::test]
async fn failures_name_the_database() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/querybatch"))
        .respond_with(ResponseTemplate::new(200).set_body_string("not json"))
        .mount(&server)
        .await;
    let advisories = client(&server);
    let err = advisories
        .find(&[api::query(OsvEcosystem::PyPI, "six", "1.0")])
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().starts_with(&format!(
            "the advisory database {}/ gave a malformed answer",
            server.uri()
        )),
        "{err}"
    );
    let down = Advisories::api(
        "http://127.0.0.1:9/",
        Arc::new(
            api::HttpTransport::new(
                Arc::new(HttpClient::new(HttpOptions::default(), Vec::new()).unwrap()),
                Duration::from_secs(2),
                0,
            )
            .unwrap(),
        ),
    )
    .unwrap();
    let err = down
        .find(&[api::query(OsvEcosystem::PyPI, "six", "1.0")])
        .await
        .err()
        .unwrap();
    assert!(matches!(err, AdvisoryError::Unreachable { .. }), "{err}");
    assert!(Advisories::api(
        "ftp://x",
        Arc::new(
            api::HttpTransport::new(
                Arc::new(HttpClient::new(HttpOptions::default(), Vec::new()).unwrap()),
                Duration::from_secs(2),
                0,
            )
            .unwrap()
        )
    )
    .is_err());
}
