//! `token-service --key KEY.pem --cert CERT.pem --issuer I --service S --user U --password-file F`
//!
//! Docker's token authentication (distribution's `auth: token:`), as Docker Hub, GitLab's
//! container registry, ghcr and quay do it, for the registry tests: `GET /token?service=S&
//! scope=repository:NAME:ACTIONS` answers `{"token": JWT}`, an ES256-signed JWT whose `x5c`
//! header carries the certificate the registry trusts (`rootcertbundle`). A request with the
//! right basic credentials gets the actions it asks for; an anonymous one gets none; wrong
//! credentials get 401. Listens on 127.0.0.1 (`--port`, default any free port) and prints
//! `listening on http://127.0.0.1:PORT` once ready.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

struct Service {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    cert_der: Vec<u8>,
    issuer: String,
    service: String,
    user: String,
    password: String,
    issued: AtomicU64,
}

fn pem_body(text: &str) -> Result<Vec<u8>, String> {
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    STANDARD.decode(body).map_err(|e| format!("bad PEM: {e}"))
}

fn usage() -> ! {
    eprintln!(
        "usage: token-service --key KEY.pem --cert CERT.pem --issuer I --service S --user U --password-file F [--port P]"
    );
    std::process::exit(2)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `repository:team/app:pull,push` → (type, name, actions).
fn parse_scope(scope: &str) -> Option<(String, String, Vec<String>)> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    Some((
        kind.to_string(),
        name.to_string(),
        actions.split(',').map(str::to_string).collect(),
    ))
}

impl Service {
    fn sign(&self, claims: &serde_json::Value) -> Result<String, String> {
        let header = json!({
            "alg": "ES256",
            "typ": "JWT",
            "x5c": [STANDARD.encode(&self.cert_der)],
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| "signing failed".to_string())?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }

    /// `Some(true)`: the right user; `Some(false)`: anonymous; `None`: wrong credentials.
    fn authenticate(&self, headers: &HeaderMap) -> Option<bool> {
        let Some(value) = headers.get("authorization") else {
            return Some(false);
        };
        let encoded = value.to_str().ok()?.strip_prefix("Basic ")?;
        let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
        let (user, password) = decoded.split_once(':')?;
        (user == self.user && password == self.password).then_some(true)
    }
}

async fn token(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(known) = service.authenticate(&headers) else {
        return (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Basic realm=\"token\"")],
            "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}",
        )
            .into_response();
    };
    let mut requested_service = None;
    let mut access = Vec::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "service" => requested_service = Some(value.to_string()),
            "scope" => {
                for scope in value.split(' ') {
                    if let Some((kind, name, actions)) = parse_scope(scope) {
                        let granted: Vec<String> = if known { actions } else { Vec::new() };
                        access.push(json!({"type": kind, "name": name, "actions": granted}));
                    }
                }
            }
            _ => {}
        }
    }
    if requested_service
        .as_deref()
        .is_some_and(|s| s != service.service)
    {
        return (StatusCode::BAD_REQUEST, "unknown service").into_response();
    }
    let issued_at = now();
    let n = service.issued.fetch_add(1, Ordering::SeqCst);
    let claims = json!({
        "iss": service.issuer,
        "sub": if known { service.user.as_str() } else { "" },
        "aud": service.service,
        "exp": issued_at + 300,
        "nbf": issued_at.saturating_sub(10),
        "iat": issued_at,
        "jti": format!("t{issued_at}-{n}"),
        "access": access,
    });
    match service.sign(&claims) {
        Ok(jwt) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            json!({"token": jwt, "access_token": jwt, "expires_in": 300, "issued_at": issued_at})
                .to_string(),
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut key, mut cert, mut issuer, mut svc, mut user, mut password_file, mut port) =
        (None, None, None, None, None, None, 0u16);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--key" => key = Some(value),
            "--cert" => cert = Some(value),
            "--issuer" => issuer = Some(value),
            "--service" => svc = Some(value),
            "--user" => user = Some(value),
            "--password-file" => password_file = Some(value),
            "--port" => port = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let (Some(key), Some(cert), Some(issuer), Some(svc), Some(user), Some(password_file)) =
        (key, cert, issuer, svc, user, password_file)
    else {
        usage()
    };
    let read = |path: &str| {
        std::fs::read_to_string(path).unwrap_or_else(|e| {
            eprintln!("token-service: cannot read {path}: {e}");
            std::process::exit(1)
        })
    };
    let fail = |e: String| -> ! {
        eprintln!("token-service: {e}");
        std::process::exit(1)
    };
    let rng = SystemRandom::new();
    let key_der = pem_body(&read(&key)).unwrap_or_else(|e| fail(e));
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key_der, &rng)
        .unwrap_or_else(|e| fail(format!("{key} is not a P-256 PKCS#8 key: {e}")));
    let cert_der = pem_body(&read(&cert)).unwrap_or_else(|e| fail(e));
    let password = read(&password_file).trim_end_matches('\n').to_string();
    let service = Arc::new(Service {
        key,
        rng,
        cert_der,
        issuer,
        service: svc,
        user,
        password,
        issued: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/token", get(token))
        .with_state(service);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| fail(format!("cannot listen: {e}")));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| fail(e.to_string()));
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
    if let Err(e) = axum::serve(listener, app).await {
        fail(e.to_string());
    }
}
