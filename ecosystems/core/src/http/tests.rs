//! The client under injected faults: wiremock for answers, raw TCP listeners for what a mock
//! server cannot do (resets, hangs, truncated and endless bodies), and a clock that records
//! the waits instead of sleeping.

use super::*;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wiremock::matchers::{header, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Records every wait and moves its own time on by it, at once.
#[derive(Default)]
struct RecordingClock {
    now: Mutex<Duration>,
    sleeps: Mutex<Vec<Duration>>,
    wall: Option<SystemTime>,
}

impl RecordingClock {
    fn at(wall: SystemTime) -> Self {
        RecordingClock {
            wall: Some(wall),
            ..Self::default()
        }
    }

    fn sleeps(&self) -> Vec<Duration> {
        self.sleeps.lock().unwrap().clone()
    }

    fn advance(&self, by: Duration) {
        *self.now.lock().unwrap() += by;
    }
}

impl Clock for RecordingClock {
    fn now(&self) -> Duration {
        *self.now.lock().unwrap()
    }

    fn wall(&self) -> SystemTime {
        self.wall.unwrap_or_else(SystemTime::now) + self.now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.sleeps.lock().unwrap().push(duration);
        self.advance(duration);
        Box::pin(std::future::ready(()))
    }
}

fn fast() -> HttpOptions {
    HttpOptions {
        backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..HttpOptions::default()
    }
}

/// A client whose waits are recorded, not slept.
fn recorded(options: HttpOptions) -> (HttpClient, Arc<RecordingClock>) {
    let clock = Arc::new(RecordingClock::default());
    let client = HttpClient::new(options, vec![])
        .unwrap()
        .with_clock(clock.clone())
        .with_seed(7);
    (client, clock)
}

fn url(base: &str, rest: &str) -> Url {
    Url::parse(&format!("{}{rest}", base.trim_end_matches('/'))).unwrap()
}

/// A loopback server whose connections are handed to `handle`; counts connections.
async fn raw_server<F, Fut>(handle: F) -> (String, Arc<AtomicUsize>)
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(handle(stream));
        }
    });
    (format!("http://{addr}"), accepted)
}

/// Reads one request's head.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A port nothing listens on.
async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

#[test]
fn base64_matches_rfc4648_vectors() {
    assert_eq!(base64_encode(b""), "");
    assert_eq!(base64_encode(b"f"), "Zg==");
    assert_eq!(base64_encode(b"fo"), "Zm8=");
    assert_eq!(base64_encode(b"foo"), "Zm9v");
    assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
}

#[test]
fn secrets_never_print() {
    let s = Secret::new("hunter2");
    assert_eq!(format!("{s} {s:?}"), "*** ***");
    let auth = Authorization::Header {
        name: "PRIVATE-TOKEN",
        value: Secret::new("hunter2"),
    };
    assert!(!format!("{auth:?}").contains("hunter2"));
    let target = Url::parse("https://u:pw@example.org/x?token=t").unwrap();
    let request = Request::get(&target, "*/*")
        .authorization(auth)
        .body(b"hunter2".to_vec());
    let shown = format!("{request:?}");
    assert!(!shown.contains("hunter2") && !shown.contains("pw") && !shown.contains("token=t"));
}

#[test]
fn redact_drops_user_info_and_query() {
    let url = Url::parse("https://user:pw@example.org/simple/?token=x").unwrap();
    assert_eq!(redact(&url), "https://example.org/simple/");
}

#[tokio::test]
async fn retries_a_500_then_succeeds_with_jittered_waits() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/x"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/x"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let (client, clock) = recorded(HttpOptions {
        backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(30),
        ..HttpOptions::default()
    });
    let resp = client.get(&url(&server.uri(), "/x"), "*/*").await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"ok");
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2);
    // Full jitter: the n-th wait is somewhere below base · 2^n.
    assert!(sleeps[0] <= Duration::from_secs(1), "{sleeps:?}");
    assert!(sleeps[1] <= Duration::from_secs(2), "{sleeps:?}");
    let key = authority(&url(&server.uri(), "/"));
    let stats = client.stats();
    assert_eq!(stats[&key].requests, 3);
    assert_eq!(stats[&key].retries, 2);
}

#[tokio::test]
async fn gives_up_after_the_retry_budget() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .expect(4)
        .mount(&server)
        .await;
    let (client, clock) = recorded(fast());
    let resp = client.get(&url(&server.uri(), "/x"), "*/*").await.unwrap();
    assert_eq!(resp.status, 503);
    assert_eq!(clock.sleeps().len(), 3);
}

#[tokio::test]
async fn the_total_wait_is_bounded() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let (client, clock) = recorded(HttpOptions {
        retries: 50,
        backoff: Duration::from_secs(4),
        max_backoff: Duration::from_secs(60),
        max_wait: Duration::from_secs(20),
        ..HttpOptions::default()
    });
    let resp = client.get(&url(&server.uri(), "/x"), "*/*").await.unwrap();
    assert_eq!(resp.status, 503);
    let total: Duration = clock.sleeps().iter().sum();
    assert!(total <= Duration::from_secs(20), "{total:?}");
    assert!(clock.sleeps().len() < 50);
}

#[tokio::test]
async fn a_429_storm_is_waited_out_as_the_server_asks() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "2"))
        .up_to_n_times(3)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let (client, clock) = recorded(fast());
    let resp = client.get(&url(&server.uri(), "/x"), "*/*").await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(2); 3]);
}

#[tokio::test]
async fn a_retry_after_beyond_the_wait_budget_is_not_waited_for() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "3600"))
        .expect(1)
        .mount(&server)
        .await;
    let (client, clock) = recorded(fast());
    let resp = client.get(&url(&server.uri(), "/x"), "*/*").await.unwrap();
    assert_eq!(resp.status, 429);
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn absurd_retry_after_values_are_no_reason_to_panic_or_wait() {
    for value in [
        "18446744073709551615",
        "99999999999999999999999",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503).insert_header("retry-after", value))
            .mount(&server)
            .await;
        let (client, clock) = recorded(HttpOptions {
            retries: 2,
            ..fast()
        });
        let resp = client.get(&url(&server.uri(), "/x"), "*/*").await.unwrap();
        assert_eq!(resp.status, 503);
        let total: Duration = clock.sleeps().iter().sum();
        assert!(total <= Duration::from_secs(60), "{value}: {total:?}");
    }
}

#[tokio::test]
async fn retry_after_as_an_http_date_counts_from_the_servers_date() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("date", "Wed, 21 Oct 2015 07:28:00 GMT")
                .insert_header("retry-after", "Wed, 21 Oct 2015 07:28:05 GMT"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let (client, clock) = recorded(fast());
    assert_eq!(
        client
            .get(&url(&server.uri(), "/x"), "*/*")
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(5)]);
}

#[tokio::test]
async fn a_spent_gitlab_rate_limit_pauses_the_next_request_to_that_host() {
    // 2015-10-21T07:28:00Z
    let now = std::time::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/first"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("date", "Wed, 21 Oct 2015 07:28:00 GMT")
                .insert_header("ratelimit-remaining", "0")
                .insert_header("ratelimit-reset", "1445412487"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let clock = Arc::new(RecordingClock::at(now));
    let client = HttpClient::new(fast(), vec![])
        .unwrap()
        .with_clock(clock.clone());
    client
        .get(&url(&server.uri(), "/first"), "*/*")
        .await
        .unwrap();
    assert!(clock.sleeps().is_empty());
    // A clone shares the host's state.
    client
        .clone()
        .get(&url(&server.uri(), "/second"), "*/*")
        .await
        .unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(7)]);
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .expect(2)
        .mount(&server)
        .await;
    let (client, _) = recorded(HttpOptions {
        timeout: Duration::from_millis(200),
        retries: 1,
        ..fast()
    });
    let started = std::time::Instant::now();
    let err = client
        .get(&url(&server.uri(), "/slow"), "*/*")
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Timeout { .. }), "{err}");
    assert!(err.is_unavailable());
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn a_server_that_accepts_and_never_answers_times_out() {
    let (base, accepted) = raw_server(|mut stream| async move {
        let _ = read_head(&mut stream).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let (client, _) = recorded(HttpOptions {
        timeout: Duration::from_millis(200),
        retries: 0,
        ..fast()
    });
    let err = client.get(&url(&base, "/"), "*/*").await.unwrap_err();
    assert!(matches!(err, HttpError::Timeout { .. }), "{err}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn connection_resets_are_retried_for_reads_only() {
    let (base, accepted) = raw_server(|mut stream| async move {
        let _ = read_head(&mut stream).await;
        drop(stream);
    })
    .await;
    let (client, clock) = recorded(HttpOptions {
        retries: 2,
        ..fast()
    });
    let err = client.get(&url(&base, "/"), "*/*").await.unwrap_err();
    assert!(matches!(err, HttpError::Transport { .. }), "{err}");
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
    assert_eq!(clock.sleeps().len(), 2);
    // A write may have been acted on: not repeated.
    let target = url(&base, "/write");
    let err = client
        .send(Request::new(Method::Post, &target, "*/*").body(b"{}".to_vec()))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Transport { .. }), "{err}");
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn refused_connections_are_retried_even_for_writes() {
    let base = closed_port().await;
    let (client, clock) = recorded(HttpOptions {
        retries: 2,
        circuit_failures: 0,
        ..fast()
    });
    let target = url(&base, "/write");
    let err = client
        .send(Request::new(Method::Post, &target, "*/*"))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Connect { .. }), "{err}");
    assert!(err.to_string().contains(&base), "{err}");
    assert_eq!(clock.sleeps().len(), 2);
}

#[tokio::test]
async fn a_truncated_body_is_an_error_not_a_short_answer() {
    let (base, accepted) = raw_server(|mut stream| async move {
        let _ = read_head(&mut stream).await;
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: application/json\r\n\r\n{\"versions\":")
            .await;
        let _ = stream.shutdown().await;
    })
    .await;
    let (client, _) = recorded(HttpOptions {
        retries: 1,
        ..fast()
    });
    let err = client.get(&url(&base, "/pkg"), "*/*").await.unwrap_err();
    assert!(
        err.to_string().contains("broke off after 12 bytes"),
        "{err}"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 2, "retried once");
}

#[tokio::test]
async fn a_declared_huge_body_is_refused_before_reading() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let (base, _) = raw_server(move |mut stream| {
        let counter = counter.clone();
        async move {
            let _ = read_head(&mut stream).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
                .await;
            let chunk = vec![b'x'; 64 * 1024];
            while stream.write_all(&chunk).await.is_ok() {
                counter.fetch_add(chunk.len(), Ordering::SeqCst);
            }
        }
    })
    .await;
    let (client, _) = recorded(fast());
    let target = url(&base, "/huge");
    let err = client
        .send(Request::get(&target, "*/*").limit(MIB))
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::TooLarge { limit, .. } if limit == MIB),
        "{err}"
    );
    assert!(err.to_string().contains("/huge"), "{err}");
    // Stopped long before the gigabyte: only what the socket buffers took was written.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(sent.load(Ordering::SeqCst) < 64 * MIB, "{sent:?}");
}

#[tokio::test]
async fn an_endless_chunked_body_stops_at_the_limit() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let (base, _) = raw_server(move |mut stream| {
        let counter = counter.clone();
        async move {
            let _ = read_head(&mut stream).await;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
                .await;
            let data = vec![b' '; 16 * 1024];
            let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
            chunk.extend_from_slice(&data);
            chunk.extend_from_slice(b"\r\n");
            // Up to 1 GiB, unless the client hangs up first.
            for _ in 0..65_536 {
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
                counter.fetch_add(data.len(), Ordering::SeqCst);
            }
        }
    })
    .await;
    let (client, _) = recorded(fast());
    let target = url(&base, "/stream");
    let err = client
        .send(Request::get(&target, "*/*").limit(256 * 1024))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::TooLarge { .. }), "{err}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let written = sent.load(Ordering::SeqCst);
    assert!(written < 64 * MIB, "wrote {written} bytes");
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(2048)))
        .mount(&server)
        .await;
    let client = HttpClient::new(
        HttpOptions {
            max_body: 1024,
            ..fast()
        },
        vec![],
    )
    .unwrap();
    let target = url(&server.uri(), "/");
    let err = client.get(&target, "*/*").await.unwrap_err();
    assert!(matches!(err, HttpError::TooLarge { limit: 1024, .. }));
    // A call may allow more.
    let resp = client
        .send(Request::get(&target, "*/*").limit(4096))
        .await
        .unwrap();
    assert_eq!(resp.body.len(), 2048);
}

#[tokio::test]
async fn html_where_json_is_expected_is_a_clear_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/login"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("<html>Sign in</html>", "text/html; charset=utf-8"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"a": 1})))
        .mount(&server)
        .await;
    let (client, clock) = recorded(fast());
    let target = url(&server.uri(), "/login?token=x");
    let err = client
        .send(Request::get(&target, "application/json").json())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "expected JSON, got `text/html` from {}",
            url(&server.uri(), "/login")
        )
    );
    assert!(clock.sleeps().is_empty(), "not retried");
    let target = url(&server.uri(), "/json");
    let resp = client
        .send(Request::get(&target, "application/json").json())
        .await
        .unwrap();
    assert_eq!(resp.body, br#"{"a":1}"#);
    // Without the expectation the page is returned.
    let target = url(&server.uri(), "/login");
    assert!(client.get(&target, "*/*").await.is_ok());
}

#[tokio::test]
async fn credentials_go_only_to_their_origin() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/private"))
        .and(header("authorization", "Basic dXNlcjpzM2NyZXQ="))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(418))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let configured = Url::parse(&server.uri()).unwrap();
    let client = HttpClient::new(
        fast(),
        vec![Credential {
            url: configured,
            auth: Auth::Basic {
                username: "user".into(),
                password: Secret::new("s3cret"),
            },
        }],
    )
    .unwrap();
    let target = url(&server.uri(), "/private");
    assert_eq!(client.get(&target, "*/*").await.unwrap().status, 200);
    // Same host, other port: a different origin, so no credentials.
    let other = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(418))
        .mount(&other)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&other)
        .await;
    let target = url(&other.uri(), "/private");
    assert_eq!(client.get(&target, "*/*").await.unwrap().status, 204);
}

/// Answers 302 to `location`.
fn redirect_to(location: String) -> ResponseTemplate {
    ResponseTemplate::new(302).insert_header("location", location.as_str())
}

#[tokio::test]
async fn a_redirect_to_another_host_drops_every_credential() {
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/landing"))
        .respond_with(ResponseTemplate::new(200).set_body_string("landed"))
        .mount(&elsewhere)
        .await;
    let home = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/away"))
        .respond_with(redirect_to(format!("{}/landing", elsewhere.uri())))
        .mount(&home)
        .await;
    Mock::given(method("GET"))
        .and(path("/here"))
        .respond_with(redirect_to("/there".into()))
        .mount(&home)
        .await;
    Mock::given(method("GET"))
        .and(path("/there"))
        .and(header("authorization", "Basic dXNlcjpzM2NyZXQ="))
        .respond_with(ResponseTemplate::new(200).set_body_string("kept"))
        .mount(&home)
        .await;
    let client = HttpClient::new(
        fast(),
        vec![Credential {
            url: Url::parse(&home.uri()).unwrap(),
            auth: Auth::Basic {
                username: "user".into(),
                password: Secret::new("s3cret"),
            },
        }],
    )
    .unwrap();
    // The configured credential, a token handed in, a token header: none crosses over.
    let away = url(&home.uri(), "/away");
    for authorization in [
        Authorization::Configured,
        Authorization::Use(Auth::Bearer(Secret::new("t0ken"))),
        Authorization::Header {
            name: "PRIVATE-TOKEN",
            value: Secret::new("glpat-t0ken"),
        },
    ] {
        let resp = client
            .send(Request::get(&away, "*/*").authorization(authorization))
            .await
            .unwrap();
        assert_eq!(resp.body, b"landed");
        assert_eq!(resp.url, url(&elsewhere.uri(), "/landing"));
    }
    let seen = elsewhere.received_requests().await.unwrap();
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert!(request.headers.get("authorization").is_none());
        assert!(request.headers.get("private-token").is_none());
    }
    // On the same origin the credential stays.
    let here = url(&home.uri(), "/here");
    let resp = client.get(&here, "*/*").await.unwrap();
    assert_eq!(resp.body, b"kept");
}

#[tokio::test]
async fn writes_are_not_redirected_and_loops_end() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(redirect_to("/elsewhere".into()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/loop"))
        .respond_with(redirect_to("/loop".into()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/bad"))
        .respond_with(redirect_to("ftp://example.org/x".into()))
        .mount(&server)
        .await;
    let (client, _) = recorded(fast());
    let target = url(&server.uri(), "/write");
    let resp = client
        .send(Request::new(Method::Post, &target, "*/*"))
        .await
        .unwrap();
    assert_eq!(resp.status, 302);
    let target = url(&server.uri(), "/loop");
    let err = client.get(&target, "*/*").await.unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("more than {MAX_REDIRECTS} redirects")),
        "{err}"
    );
    let target = url(&server.uri(), "/bad");
    let err = client.get(&target, "*/*").await.unwrap_err();
    assert!(matches!(err, HttpError::Redirect { .. }), "{err}");
}

#[tokio::test]
async fn send_heads_and_replaces_the_configured_credential() {
    let server = MockServer::start().await;
    Mock::given(method("HEAD"))
        .and(path("/m"))
        .and(header("authorization", "Bearer t0ken"))
        .respond_with(ResponseTemplate::new(200).insert_header("x-digest", "d"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/anon"))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(418))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/anon"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let client = HttpClient::new(
        fast(),
        vec![Credential {
            url: Url::parse(&server.uri()).unwrap(),
            auth: Auth::Basic {
                username: "u".into(),
                password: Secret::new("p"),
            },
        }],
    )
    .unwrap();
    let target = url(&server.uri(), "/m");
    let resp = client
        .send(
            Request::new(Method::Head, &target, "*/*")
                .authorization(Authorization::Use(Auth::Bearer(Secret::new("t0ken")))),
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-digest"), Some("d"));
    let target = url(&server.uri(), "/anon");
    let resp = client
        .send(Request::get(&target, "*/*").authorization(Authorization::Anonymous))
        .await
        .unwrap();
    assert_eq!(resp.status, 204);
}

#[tokio::test]
async fn a_host_that_keeps_failing_is_left_alone_then_probed() {
    let base = closed_port().await;
    let (client, clock) = recorded(HttpOptions {
        retries: 1,
        circuit_failures: 2,
        circuit_open_for: Duration::from_secs(60),
        ..fast()
    });
    let target = url(&base, "/pkg");
    for _ in 0..2 {
        let err = client.get(&target, "*/*").await.unwrap_err();
        assert!(matches!(err, HttpError::Connect { .. }), "{err}");
    }
    let key = authority(&target);
    assert_eq!(client.stats()[&key].requests, 4);
    // Open: refused without a connection attempt, by every clone.
    for c in [client.clone(), client.clone()] {
        let err = c.get(&target, "*/*").await.unwrap_err();
        assert!(matches!(err, HttpError::CircuitOpen { .. }), "{err}");
        assert!(err.is_unavailable());
        assert!(err.to_string().contains(&key), "{err}");
        assert!(err.to_string().contains("cannot connect"), "{err}");
    }
    assert_eq!(client.stats()[&key].requests, 4);
    assert_eq!(client.stats()[&key].refused, 2);
    // Other hosts are not affected.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    assert!(client.get(&url(&server.uri(), "/"), "*/*").await.is_ok());
    // After the cool-off one request probes the host (and fails again).
    clock.advance(Duration::from_secs(61));
    let err = client.get(&target, "*/*").await.unwrap_err();
    assert!(matches!(err, HttpError::Connect { .. }), "{err}");
    assert!(matches!(
        client.get(&target, "*/*").await.unwrap_err(),
        HttpError::CircuitOpen { .. }
    ));
}

#[tokio::test]
async fn five_hundreds_after_retries_open_the_circuit_and_a_success_closes_it() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let (client, clock) = recorded(HttpOptions {
        retries: 0,
        circuit_failures: 2,
        ..fast()
    });
    let target = url(&server.uri(), "/");
    assert_eq!(client.get(&target, "*/*").await.unwrap().status, 502);
    assert_eq!(client.get(&target, "*/*").await.unwrap().status, 502);
    let err = client.get(&target, "*/*").await.unwrap_err();
    assert!(err.to_string().contains("HTTP 502"), "{err}");
    clock.advance(Duration::from_secs(301));
    assert_eq!(client.get(&target, "*/*").await.unwrap().status, 200);
    assert_eq!(client.get(&target, "*/*").await.unwrap().status, 200);
}

/// Counts requests in flight at once.
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

#[tokio::test]
async fn the_per_host_limit_holds_across_clones() {
    let gauge = Arc::new(Gauge {
        now: AtomicUsize::new(0),
        max: AtomicUsize::new(0),
    });
    let g = gauge.clone();
    let (base, _) = raw_server(move |mut stream| {
        let g = g.clone();
        async move {
            loop {
                let head = read_head(&mut stream).await;
                if head.is_empty() {
                    return;
                }
                let in_flight = g.now.fetch_add(1, Ordering::SeqCst) + 1;
                g.max.fetch_max(in_flight, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                g.now.fetch_sub(1, Ordering::SeqCst);
                if stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    })
    .await;
    let (client, _) = recorded(HttpOptions {
        per_host: 3,
        ..fast()
    });
    let target = url(&base, "/");
    let clones: Vec<HttpClient> = (0..4).map(|_| client.clone()).collect();
    let requests = (0..24).map(|i| {
        let c = clones[i % clones.len()].clone();
        let target = target.clone();
        async move { c.get(&target, "*/*").await.map(|r| r.status) }
    });
    let statuses = futures::future::join_all(requests).await;
    assert!(
        statuses.iter().all(|s| matches!(s, Ok(200))),
        "{statuses:?}"
    );
    assert_eq!(gauge.max.load(Ordering::SeqCst), 3);
}

// ------------------------------------------------------------------ disk cache ---

/// A client keeping answers in `dir` (each run of the bot makes a new one).
fn cached_client(dir: &std::path::Path, credentials: Vec<Credential>) -> HttpClient {
    HttpClient::new(fast(), credentials)
        .unwrap()
        .with_disk_cache(dir)
        .unwrap()
}

#[tokio::test]
async fn a_second_run_revalidates_with_the_etag_and_reads_the_304_from_disk() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    // The conditional request first: wiremock tries mocks in the order they were mounted.
    Mock::given(method("GET"))
        .and(path("/pkg"))
        .and(header("if-none-match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304).insert_header("etag", "\"v1\""))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/pkg"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", "\"v1\"")
                .set_body_raw(r#"{"versions":["1.0"]}"#, "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let url = Url::parse(&format!("{}/pkg", server.uri())).unwrap();
    let first = cached_client(dir.path(), vec![]);
    let answer = first
        .send(Request::get(&url, "application/json").json())
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    let second = cached_client(dir.path(), vec![]);
    let again = second
        .send(Request::get(&url, "application/json").json())
        .await
        .unwrap();
    assert_eq!(again.status, 200);
    assert_eq!(again.body, br#"{"versions":["1.0"]}"#);
    assert_eq!(again.header("content-type"), Some("application/json"));
    let stats = second.stats();
    let host = stats.values().next().unwrap();
    assert_eq!((host.requests, host.not_modified), (1, 1));
}

#[tokio::test]
async fn last_modified_is_revalidated_too_and_a_changed_answer_replaces_the_stored_one() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let stamp = "Tue, 24 Nov 2026 10:00:00 GMT";
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    Mock::given(method("GET"))
        .and(path("/simple/six/"))
        .respond_with(move |req: &wiremock::Request| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            match n {
                0 => {
                    assert!(!req.headers.contains_key("if-modified-since"));
                    ResponseTemplate::new(200)
                        .insert_header("last-modified", stamp)
                        .set_body_string("old")
                }
                1 => {
                    assert_eq!(req.headers["if-modified-since"], stamp);
                    ResponseTemplate::new(200)
                        .insert_header("last-modified", "Wed, 25 Nov 2026 10:00:00 GMT")
                        .set_body_string("new")
                }
                _ => {
                    assert_eq!(
                        req.headers["if-modified-since"],
                        "Wed, 25 Nov 2026 10:00:00 GMT"
                    );
                    ResponseTemplate::new(304)
                }
            }
        })
        .mount(&server)
        .await;
    let url = Url::parse(&format!("{}/simple/six/", server.uri())).unwrap();
    for expected in ["old", "new", "new"] {
        let client = cached_client(dir.path(), vec![]);
        let answer = client.get(&url, "text/html").await.unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, expected.as_bytes());
    }
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn answers_without_validators_or_for_writes_are_not_stored() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x"))
        .mount(&server)
        .await;
    let url = Url::parse(&format!("{}/a", server.uri())).unwrap();
    let client = cached_client(dir.path(), vec![]);
    client.get(&url, "*/*").await.unwrap();
    client
        .send(Request::get(&url, "*/*").purpose(Purpose::Forge))
        .await
        .unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    for request in server.received_requests().await.unwrap() {
        assert!(!request.headers.contains_key("if-none-match"));
    }
}

#[tokio::test]
async fn another_credential_never_revalidates_an_answer_given_to_the_first() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    Mock::given(method("GET"))
        .and(header_exists("if-none-match"))
        .respond_with(ResponseTemplate::new(304))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", "\"private\"")
                .set_body_string("secret list"),
        )
        .mount(&server)
        .await;
    let url = Url::parse(&format!("{}/private", server.uri())).unwrap();
    let credential = |token: &str| Credential {
        url: Url::parse(&server.uri()).unwrap(),
        auth: Auth::Bearer(Secret::new(token)),
    };
    cached_client(dir.path(), vec![credential("alice-token")])
        .get(&url, "*/*")
        .await
        .unwrap();
    // Another credential, and none: both asked without a validator, neither served from disk.
    for creds in [vec![credential("bob-token")], vec![]] {
        let client = cached_client(dir.path(), creds);
        let answer = client.get(&url, "*/*").await.unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(client.stats().values().next().unwrap().not_modified, 0);
    }
    let sent = server.received_requests().await.unwrap();
    assert_eq!(sent.len(), 3);
    assert!(sent
        .iter()
        .all(|r| !r.headers.contains_key("if-none-match")));
    // The token itself is nowhere in the cache.
    for file in std::fs::read_dir(dir.path()).unwrap() {
        let path = file.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("token"), "{}", path.display());
        assert!(!path.to_string_lossy().contains("token"));
    }
}

/// Plain-HTTP registries never make the client read the system's CA store: the TLS client is
/// built on the first `https://` URL only, once, and shared by the clones.
#[tokio::test]
async fn the_tls_client_is_built_on_the_first_https_url_only() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/x"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let client = HttpClient::new(fast(), Vec::new()).unwrap();
    let resp = client.get(&url(&server.uri(), "/x"), "*/*").await.unwrap();
    assert_eq!(resp.status, 200);
    assert!(
        client.tls.get().is_none(),
        "an http request built the TLS client"
    );
    let clone = client.clone();
    let https = Url::parse("https://registry.example.invalid/pkg").unwrap();
    assert!(clone.client_for(&https).is_ok());
    assert!(client.tls.get().is_some(), "clones share the TLS client");
}
