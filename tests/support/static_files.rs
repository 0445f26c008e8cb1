//! A small static file server for tests (a Helm chart repository's folder): plain HTTP/1.1
//! on loopback, one thread per connection, `GET`/`HEAD` of files below a root, 404 for
//! anything else. Paths under a protected prefix need HTTP basic auth with the given
//! `user:password` (401 with a `WWW-Authenticate` challenge otherwise), so tests can see
//! that credentials configured for the host go along.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};

pub struct StaticServer {
    /// `127.0.0.1:PORT`.
    pub host: String,
}

/// Serve `root` until the test process ends. `protected`: a path prefix (`/private/`) and
/// the `user:password` it needs.
pub fn serve(root: &Path, protected: Option<(&str, &str)>) -> StaticServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let root = root.to_path_buf();
    let protected = protected.map(|(prefix, pair)| {
        (
            prefix.to_string(),
            format!("Basic {}", base64(pair.as_bytes())),
        )
    });
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            let protected = protected.clone();
            std::thread::spawn(move || {
                let _ = answer(stream, &root, protected.as_ref());
            });
        }
    });
    StaticServer { host }
}

fn answer(
    mut stream: TcpStream,
    root: &Path,
    protected: Option<&(String, String)>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_string());
            }
        }
    }
    let path = target.split('?').next().unwrap_or("/");
    let (status, extra, body) = if let Some((prefix, expected)) =
        protected.filter(|(prefix, _)| path.starts_with(prefix.as_str()))
    {
        let _ = prefix;
        if authorization.as_deref() == Some(expected.as_str()) {
            file(root, path)
        } else {
            (
                "401 Unauthorized",
                "WWW-Authenticate: Basic realm=\"charts\"\r\n",
                b"unauthorized\n".to_vec(),
            )
        }
    } else {
        file(root, path)
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if method != "HEAD" {
        stream.write_all(&body)?;
    }
    stream.flush()
}

fn file(root: &Path, path: &str) -> (&'static str, &'static str, Vec<u8>) {
    let relative = PathBuf::from(path.trim_start_matches('/'));
    let inside = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    match std::fs::read(root.join(&relative)) {
        Ok(bytes) if inside => ("200 OK", "", bytes),
        _ => ("404 Not Found", "", b"not found\n".to_vec()),
    }
}

fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
