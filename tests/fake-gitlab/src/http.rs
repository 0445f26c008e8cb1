//! Requests, responses, GitLab's error bodies and pagination headers.

use serde_json::{json, Value};

use crate::params::Params;

/// One request as the handlers see it.
#[derive(Debug)]
pub struct Req {
    /// The path as received (still percent-encoded).
    pub raw_path: String,
    pub raw_query: String,
    /// Query and body parameters merged (body wins).
    pub params: Params,
    /// The authenticated user.
    pub user: u64,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
}

/// A response ready to send.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(status: u16, value: &Value) -> Resp {
        Resp {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(value).expect("json"),
        }
    }

    pub fn ok(value: Value) -> Resp {
        Resp::json(200, &value)
    }

    pub fn created(value: Value) -> Resp {
        Resp::json(201, &value)
    }

    pub fn no_content() -> Resp {
        Resp {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Resp {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// An error answer: a status and GitLab's JSON body.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub body: Value,
}

pub type ApiResult = Result<Resp, ApiError>;

impl ApiError {
    pub fn new(status: u16, body: Value) -> ApiError {
        ApiError { status, body }
    }

    /// `{"message": msg}`
    pub fn message(status: u16, msg: impl Into<String>) -> ApiError {
        ApiError::new(status, json!({ "message": msg.into() }))
    }

    /// Grape's validation format: 400 `{"error": msg}`.
    pub fn grape(msg: impl Into<String>) -> ApiError {
        ApiError::new(400, json!({ "error": msg.into() }))
    }

    /// `<param> is invalid` (a type coercion failure).
    pub fn invalid(param: &str) -> ApiError {
        ApiError::grape(format!("{param} is invalid"))
    }

    /// `<param> does not have a valid value` (a value outside `values:`).
    pub fn not_valid(param: &str) -> ApiError {
        ApiError::grape(format!("{param} does not have a valid value"))
    }

    /// `404 <What> Not Found`
    pub fn not_found(what: &str) -> ApiError {
        ApiError::message(404, format!("404 {what} Not Found"))
    }

    /// Unknown route: `{"error":"404 Not Found"}`.
    pub fn no_route() -> ApiError {
        ApiError::new(404, json!({ "error": "404 Not Found" }))
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(405, json!({ "error": "405 Not Allowed" }))
    }

    pub fn unauthorized() -> ApiError {
        ApiError::message(401, "401 Unauthorized")
    }

    pub fn forbidden() -> ApiError {
        ApiError::message(403, "403 Forbidden")
    }

    pub fn forbidden_because(reason: &str) -> ApiError {
        ApiError::message(403, format!("403 Forbidden - {reason}"))
    }

    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::message(400, msg)
    }

    /// A model validation error: 400 `{"message": {"field": ["msg"]}}`.
    pub fn validation(field: &str, msg: &str) -> ApiError {
        ApiError::new(400, json!({ "message": { field: [msg] } }))
    }

    /// The status line GitLab uses in generic bodies, e.g. `500 Internal Server Error`.
    pub fn generic(status: u16) -> ApiError {
        ApiError::message(status, format!("{status} {}", reason(status)))
    }

    pub fn into_resp(self) -> Resp {
        Resp::json(self.status, &self.body)
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

/// The URL of this request with some query parameters replaced (others kept in order).
fn url_with(req: &Req, set: &[(&str, String)], drop: &[&str]) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(req.raw_query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .filter(|(k, _)| !set.iter().any(|(s, _)| s == k) && !drop.contains(&k.as_str()))
        .collect();
    for (k, v) in set {
        pairs.push((k.to_string(), v.clone()));
    }
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        ser.append_pair(k, v);
    }
    format!("{}{}?{}", req.base_url, req.raw_path, ser.finish())
}

fn page_params(req: &Req) -> Result<(usize, usize), ApiError> {
    let page = match req.params.value("page") {
        None => 1,
        Some(v) => crate::params::coerce_u64(v).ok_or_else(|| ApiError::invalid("page"))? as usize,
    };
    let per_page = match req.params.value("per_page") {
        None => 20,
        Some(v) => {
            crate::params::coerce_u64(v).ok_or_else(|| ApiError::invalid("per_page"))? as usize
        }
    };
    let page = page.max(1);
    let per_page = if per_page == 0 { 20 } else { per_page.min(100) };
    Ok((page, per_page))
}

/// Offset pagination with GitLab's headers: `X-Page`, `X-Per-Page`, `X-Total`,
/// `X-Total-Pages`, `X-Next-Page`, `X-Prev-Page` and `Link`.
pub fn paginate(req: &Req, items: Vec<Value>) -> ApiResult {
    let (page, per_page) = page_params(req)?;
    let total = items.len();
    let total_pages = total.div_ceil(per_page).max(1);
    let start = (page - 1).saturating_mul(per_page);
    let slice: Vec<Value> = items.into_iter().skip(start).take(per_page).collect();
    let next = if page < total_pages {
        (page + 1).to_string()
    } else {
        String::new()
    };
    let prev = if page > 1 && page - 1 <= total_pages {
        (page - 1).to_string()
    } else {
        String::new()
    };
    let pp = per_page.to_string();
    let link_for = |p: usize| {
        url_with(
            req,
            &[("page", p.to_string()), ("per_page", pp.clone())],
            &[],
        )
    };
    let mut links = Vec::new();
    if !prev.is_empty() {
        links.push(format!("<{}>; rel=\"prev\"", link_for(page - 1)));
    }
    if !next.is_empty() {
        links.push(format!("<{}>; rel=\"next\"", link_for(page + 1)));
    }
    links.push(format!("<{}>; rel=\"first\"", link_for(1)));
    links.push(format!("<{}>; rel=\"last\"", link_for(total_pages)));
    Ok(Resp::ok(Value::Array(slice))
        .header("X-Page", page.to_string())
        .header("X-Per-Page", pp.clone())
        .header("X-Total", total.to_string())
        .header("X-Total-Pages", total_pages.to_string())
        .header("X-Next-Page", next)
        .header("X-Prev-Page", prev)
        .header("Link", links.join(", ")))
}

/// Keyset pagination (`pagination=keyset`): `items` are `(cursor, value)` in order; the page
/// starts after the item whose cursor equals `after` (the value of `cursor_param`). Only a
/// `Link: <…>; rel="next"` header is sent, as GitLab does.
pub fn paginate_keyset(req: &Req, items: Vec<(String, Value)>, cursor_param: &str) -> ApiResult {
    let (_, per_page) = page_params(req)?;
    let after = req.params.str(cursor_param)?;
    let start = match after {
        None => 0,
        Some(a) => match items.iter().position(|(c, _)| *c == a) {
            Some(i) => i + 1,
            None => items.len(),
        },
    };
    let rest = &items[start.min(items.len())..];
    let page: Vec<Value> = rest.iter().take(per_page).map(|(_, v)| v.clone()).collect();
    let mut resp = Resp::ok(Value::Array(page)).header("X-Per-Page", per_page.to_string());
    if rest.len() > per_page {
        let last = rest[per_page - 1].0.clone();
        let url = url_with(
            req,
            &[
                ("pagination", "keyset".to_string()),
                ("per_page", per_page.to_string()),
                (cursor_param, last),
            ],
            &["page"],
        );
        resp = resp.header("Link", format!("<{url}>; rel=\"next\""));
    }
    Ok(resp)
}

/// `true` when the request asks for keyset pagination.
pub fn wants_keyset(req: &Req) -> bool {
    req.params.str("pagination").ok().flatten().as_deref() == Some("keyset")
}
