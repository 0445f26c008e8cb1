//! A private index: HTTP basic auth in front of the real devpi (devpi-server 6.20 cannot
//! require a login for reading). Each request is checked, then forwarded to devpi with
//! `X-outside-url` (so the URLs devpi writes point back here) and `Connection: close`, and
//! devpi's answer is copied back as it is. Requests without the right credentials get a
//! 401 and are counted.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct AuthProxy {
    /// `http://127.0.0.1:<port>`
    pub origin: String,
    pub served: Arc<AtomicUsize>,
    pub refused: Arc<AtomicUsize>,
}

impl AuthProxy {
    /// Start in front of `upstream` (`http://127.0.0.1:<port>`), accepting `user:password`.
    pub fn start(upstream: &str, user: &str, password: &str) -> AuthProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let expected = format!(
            "Basic {}",
            updatebot_core::http::base64_encode(format!("{user}:{password}").as_bytes())
        );
        let served = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let (s, r, o) = (served.clone(), refused.clone(), origin.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, expected, origin) = (upstream.clone(), expected.clone(), o.clone());
                let (s, r) = (s.clone(), r.clone());
                std::thread::spawn(move || {
                    let _ = serve(client, &upstream, &expected, &origin, &s, &r);
                });
            }
        });
        AuthProxy {
            origin,
            served,
            refused,
        }
    }
}

fn serve(
    mut client: TcpStream,
    upstream: &str,
    expected: &str,
    origin: &str,
    served: &AtomicUsize,
    refused: &AtomicUsize,
) -> std::io::Result<()> {
    // The request head (GET and HEAD only carry no body; others are forwarded by length).
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 || head.len() > 64 * 1024 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if header("authorization") != Some(expected) {
        refused.fetch_add(1, Ordering::SeqCst);
        client.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"private index\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return Ok(());
    }
    served.fetch_add(1, Ordering::SeqCst);
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    client.read_exact(&mut body)?;
    let mut forward = format!(
        "{request_line}\r\nHost: {upstream}\r\nX-outside-url: {origin}\r\nConnection: close\r\n"
    );
    for (k, v) in &headers {
        let skip = [
            "host",
            "authorization",
            "connection",
            "keep-alive",
            "x-outside-url",
        ];
        if !skip.iter().any(|s| k.eq_ignore_ascii_case(s)) {
            forward.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    forward.push_str("\r\n");
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(forward.as_bytes())?;
    server.write_all(&body)?;
    std::io::copy(&mut server, &mut client)?;
    Ok(())
}
