//! Python package indexes: the PEP 691 JSON simple API (with the PEP 503 HTML form as a
//! fallback, as GitLab's PyPI registry serves it), and PyPI's `/pypi/<name>/json` API.

use crate::requirement::normalize_name;
use pep440_rs::Version;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use updatebot_core::http::{redact, HttpClient, Request, Response, LARGE_BODY};
use updatebot_core::registry::{Registry, RegistryError, Release, ReleaseFile, ReleaseList};
use url::Url;

const SIMPLE_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// A PEP 503/691 "simple" index: `<base>/<normalised-name>/`.
pub struct SimpleIndex {
    base: Url,
    key: String,
    shown: String,
    http: Arc<HttpClient>,
}

/// PyPI's JSON API: `<base>/<name>/json` with `base` ending in `/pypi/`.
pub struct JsonApi {
    base: Url,
    key: String,
    shown: String,
    http: Arc<HttpClient>,
}

/// A URL as it may appear in messages: user info and query removed, even when it does not parse.
fn shown(url: &str) -> String {
    match Url::parse(url) {
        Ok(parsed) => redact(&parsed),
        Err(_) => match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                format!("{}***{}", &url[..scheme + 3], &url[at..])
            }
            _ => url.to_string(),
        },
    }
}

fn base_url(url: &str) -> Result<Url, RegistryError> {
    if url.contains("${") || url.starts_with('$') {
        return Err(RegistryError::InvalidUrl {
            url: shown(url),
            detail: "it names an environment variable, which updatebot does not expand".into(),
        });
    }
    let with_slash = if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    };
    let parsed = Url::parse(&with_slash).map_err(|e| RegistryError::InvalidUrl {
        url: shown(url),
        detail: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(RegistryError::InvalidUrl {
            url: shown(url),
            detail: "only http and https indexes are supported".into(),
        });
    }
    Ok(parsed)
}

/// A registry client for `url`: the JSON API when the URL ends in `/pypi` (PyPI's own simple
/// index is asked through its JSON API, which also names source and changelog links), else
/// the simple API.
pub fn registry_for(url: &str, http: Arc<HttpClient>) -> Result<Arc<dyn Registry>, RegistryError> {
    let trimmed = |u: &str| u.trim_end_matches('/').to_ascii_lowercase();
    let url = if trimmed(url) == trimmed(updatebot_core::defaults::PYPI_SIMPLE_URL) {
        updatebot_core::defaults::PYPI_JSON_API_URL
    } else {
        url
    };
    let base = base_url(url)?;
    let shown = redact(&base);
    let key = base.to_string();
    if base.path().trim_end_matches('/').ends_with("/pypi") {
        Ok(Arc::new(JsonApi {
            base,
            key,
            shown,
            http,
        }))
    } else {
        Ok(Arc::new(SimpleIndex {
            base,
            key,
            shown,
            http,
        }))
    }
}

/// GET `path` (relative to `base`) for `package`, with errors naming the package and index.
async fn fetch(
    http: &HttpClient,
    base: &Url,
    shown: &str,
    path: &str,
    accept: &str,
    package: &str,
    json_only: bool,
) -> Result<Response, RegistryError> {
    let url = base
        .join(path)
        .map_err(|e| malformed(package, shown, e.to_string()))?;
    // Project pages of long-lived packages (thousands of files) run to megabytes.
    let mut request = Request::get(&url, accept).limit(LARGE_BODY);
    if json_only {
        request = request.json();
    }
    let response = http
        .send(request)
        .await
        .map_err(|e| RegistryError::from_http(package, shown, e))?;
    if !response.is_success() {
        return Err(RegistryError::from_status(package, shown, response.status));
    }
    Ok(response)
}

fn malformed(package: &str, registry: &str, detail: impl Into<String>) -> RegistryError {
    RegistryError::Malformed {
        package: package.to_string(),
        registry: registry.to_string(),
        detail: detail.into(),
    }
}

#[async_trait::async_trait]
impl Registry for SimpleIndex {
    fn url(&self) -> &str {
        &self.shown
    }

    fn cache_key(&self) -> &str {
        &self.key
    }

    async fn releases(&self, package: &str) -> Result<ReleaseList, RegistryError> {
        let name = normalize_name(package);
        let response = fetch(
            &self.http,
            &self.base,
            &self.shown,
            &format!("{name}/"),
            SIMPLE_ACCEPT,
            package,
            false,
        )
        .await?;
        let content_type = response
            .header("content-type")
            .unwrap_or("")
            .to_ascii_lowercase();
        let files = if content_type.contains("json") {
            parse_simple_json(&response.body, &response.url)
        } else if content_type.contains("html") {
            parse_simple_html(&String::from_utf8_lossy(&response.body), &response.url)
        } else {
            parse_simple_json(&response.body, &response.url).or_else(|_| {
                let text = String::from_utf8_lossy(&response.body);
                if text.contains("<a") {
                    parse_simple_html(&text, &response.url)
                } else {
                    Err(format!("unexpected content type `{content_type}`"))
                }
            })
        }
        .map_err(|d| malformed(package, &self.shown, d))?;
        let mut list = group_files(&name, files);
        list.registry_url = self.shown.clone();
        Ok(list)
    }
}

/// A file as an index lists it, before grouping by version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexFile {
    pub filename: String,
    pub url: String,
    pub hashes: BTreeMap<String, String>,
    pub requires_python: Option<String>,
    pub yanked: Option<String>,
    pub upload_time: Option<String>,
    /// Bytes (PEP 700), when the index says.
    pub size: Option<u64>,
}

/// What an index said about one file beyond name, URL and hashes (PEP 700), kept in
/// [`Release::metadata`] for lockfiles that record it (`uv.lock`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileDetails {
    pub size: Option<u64>,
    pub upload_time: Option<String>,
}

/// The details the index gave for `filename` of `release`.
pub fn file_details(release: &Release, filename: &str) -> FileDetails {
    let entry = release
        .metadata
        .as_deref()
        .and_then(|m| m.get("files"))
        .and_then(|f| f.get(filename));
    FileDetails {
        size: entry.and_then(|e| e.get("size")).and_then(|s| s.as_u64()),
        upload_time: entry
            .and_then(|e| e.get("upload-time"))
            .and_then(|s| s.as_str())
            .map(str::to_string),
    }
}

#[derive(Deserialize)]
struct SimpleJson {
    #[serde(default)]
    files: Vec<SimpleJsonFile>,
}

#[derive(Deserialize)]
struct SimpleJsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
    #[serde(rename = "requires-python", default)]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: Option<serde_json::Value>,
    #[serde(rename = "upload-time", default)]
    upload_time: Option<String>,
    #[serde(default)]
    size: Option<u64>,
}

fn yanked_value(value: Option<serde_json::Value>) -> Option<String> {
    match value {
        Some(serde_json::Value::Bool(true)) => Some(String::new()),
        Some(serde_json::Value::String(reason)) => Some(reason),
        _ => None,
    }
}

pub fn parse_simple_json(body: &[u8], page: &Url) -> Result<Vec<IndexFile>, String> {
    let parsed: SimpleJson =
        serde_json::from_slice(body).map_err(|e| format!("invalid PEP 691 JSON: {e}"))?;
    Ok(parsed
        .files
        .into_iter()
        .map(|f| IndexFile {
            url: page.join(&f.url).map(|u| u.to_string()).unwrap_or(f.url),
            filename: f.filename,
            hashes: f.hashes,
            requires_python: f.requires_python.filter(|r| !r.trim().is_empty()),
            yanked: yanked_value(f.yanked),
            upload_time: f.upload_time,
            size: f.size,
        })
        .collect())
}

/// Decode the few HTML entities PEP 503 pages use in attributes (`&lt;`, `&gt;`, `&amp;`, …).
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// The attributes of one `<a …>` tag: `name="value"`, `name='value'`, `name=value`, `name`.
fn attributes(tag: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut rest = tag;
    loop {
        rest = rest.trim_start();
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '=' || c == '>' || c == '/')
            .unwrap_or(rest.len());
        if name_end == 0 {
            if rest.is_empty() || rest.starts_with('>') {
                break;
            }
            rest = &rest[1..];
            continue;
        }
        let name = rest[..name_end].to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (value, remaining) = match after.chars().next() {
                Some(q @ ('"' | '\'')) => match after[1..].find(q) {
                    Some(end) => (&after[1..1 + end], &after[end + 2..]),
                    None => (&after[1..], ""),
                },
                _ => {
                    let end = after
                        .find(|c: char| c.is_whitespace() || c == '>')
                        .unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            out.push((name, Some(unescape(value))));
            rest = remaining;
        } else {
            out.push((name, None));
        }
    }
    out
}

pub fn parse_simple_html(text: &str, page: &Url) -> Result<Vec<IndexFile>, String> {
    let mut files = Vec::new();
    let lower = text.to_ascii_lowercase();
    let mut cursor = 0;
    while let Some(found) = lower[cursor..].find("<a") {
        let start = cursor + found;
        let Some(tag_end) = lower[start..].find('>').map(|e| start + e) else {
            break;
        };
        let close = lower[tag_end..]
            .find("</a")
            .map(|e| tag_end + e)
            .unwrap_or(tag_end + 1);
        let attrs = attributes(&text[start + 2..tag_end]);
        let label = unescape(text.get(tag_end + 1..close).unwrap_or("").trim());
        cursor = close.max(tag_end + 1);
        let Some(href) = attrs
            .iter()
            .find(|(n, _)| n == "href")
            .and_then(|(_, v)| v.clone())
        else {
            continue;
        };
        let url = page
            .join(&href)
            .map_err(|e| format!("bad link `{href}`: {e}"))?;
        let mut hashes = BTreeMap::new();
        if let Some((algorithm, digest)) = url.fragment().and_then(|f| f.split_once('=')) {
            hashes.insert(algorithm.to_string(), digest.to_string());
        }
        let mut clean = url.clone();
        clean.set_fragment(None);
        let filename = if label.is_empty() {
            clean
                .path_segments()
                .and_then(|mut s| s.next_back())
                .unwrap_or_default()
                .to_string()
        } else {
            label
        };
        let attr = |name: &str| attrs.iter().find(|(n, _)| n == name);
        files.push(IndexFile {
            filename,
            url: clean.to_string(),
            hashes,
            requires_python: attr("data-requires-python")
                .and_then(|(_, v)| v.clone())
                .filter(|v| !v.trim().is_empty()),
            yanked: attr("data-yanked").map(|(_, v)| v.clone().unwrap_or_default()),
            upload_time: None,
            size: None,
        });
    }
    Ok(files)
}

/// The version in a distribution's file name, given the project's normalised name.
pub(crate) fn version_from_filename(name: &str, filename: &str) -> Option<String> {
    let lower = filename.to_ascii_lowercase();
    if lower.ends_with(".whl") || lower.ends_with(".egg") {
        let version = filename.split('-').nth(1)?;
        return Some(version.to_string());
    }
    let stem = [".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip", ".tar"]
        .iter()
        .find_map(|ext| {
            lower
                .ends_with(ext)
                .then(|| &filename[..filename.len() - ext.len()])
        })?;
    // The name part may be spelled differently (`python-dateutil`, `Django`); split where
    // the normalised prefix matches.
    stem.match_indices('-')
        .map(|(i, _)| i)
        .find(|i| normalize_name(&stem[..*i]) == name)
        .map(|i| stem[i + 1..].to_string())
}

pub fn group_files(name: &str, files: Vec<IndexFile>) -> ReleaseList {
    let mut by_version: BTreeMap<String, Vec<IndexFile>> = BTreeMap::new();
    for file in files {
        let Some(version) = version_from_filename(name, &file.filename) else {
            continue;
        };
        // Versions that are not PEP 440 (legacy) are not candidates.
        let Ok(parsed) = Version::from_str(&version) else {
            continue;
        };
        by_version.entry(parsed.to_string()).or_default().push(file);
    }
    let releases = by_version
        .into_iter()
        .map(|(version, files)| {
            let mut release = Release::new(version);
            release.yanked = files.iter().all(|f| f.yanked.is_some());
            release.yanked_reason = files
                .iter()
                .find_map(|f| f.yanked.clone())
                .filter(|r| !r.is_empty());
            release.released_at = files.iter().filter_map(|f| f.upload_time.clone()).min();
            if let Some(python) = files.iter().find_map(|f| f.requires_python.clone()) {
                release.constraints.insert("python".into(), python);
            }
            let details: serde_json::Map<String, serde_json::Value> = files
                .iter()
                .filter(|f| f.size.is_some() || f.upload_time.is_some())
                .map(|f| {
                    let mut d = serde_json::Map::new();
                    if let Some(size) = f.size {
                        d.insert("size".into(), size.into());
                    }
                    if let Some(time) = &f.upload_time {
                        d.insert("upload-time".into(), time.clone().into());
                    }
                    (f.filename.clone(), serde_json::Value::Object(d))
                })
                .collect();
            if !details.is_empty() {
                release.metadata = Some(Arc::new(serde_json::json!({ "files": details })));
            }
            release.files = files
                .into_iter()
                .map(|f| ReleaseFile {
                    filename: f.filename,
                    url: f.url,
                    hashes: f.hashes,
                })
                .collect();
            release
        })
        .collect();
    ReleaseList {
        name: name.to_string(),
        releases,
        ..ReleaseList::default()
    }
}

#[derive(Deserialize)]
struct JsonApiAnswer {
    info: JsonApiInfo,
    #[serde(default)]
    releases: BTreeMap<String, Vec<JsonApiFile>>,
}

#[derive(Deserialize)]
struct JsonApiInfo {
    name: String,
    #[serde(default)]
    home_page: Option<String>,
    #[serde(default)]
    project_urls: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct JsonApiFile {
    filename: String,
    url: String,
    #[serde(default)]
    digests: BTreeMap<String, String>,
    #[serde(default)]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: bool,
    #[serde(default)]
    yanked_reason: Option<String>,
    #[serde(default)]
    upload_time_iso_8601: Option<String>,
    #[serde(default)]
    size: Option<u64>,
}

/// Pick source and changelog links out of `project_urls` by their usual labels.
fn project_link(urls: &BTreeMap<String, String>, labels: &[&str]) -> Option<String> {
    urls.iter()
        .find(|(k, _)| {
            let k = k.to_ascii_lowercase();
            labels.iter().any(|l| k.contains(l))
        })
        .map(|(_, v)| v.clone())
}

pub fn parse_json_api(name: &str, body: &[u8]) -> Result<ReleaseList, String> {
    let answer: JsonApiAnswer =
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON API answer: {e}"))?;
    let files = answer
        .releases
        .into_values()
        .flatten()
        .map(|f| IndexFile {
            filename: f.filename,
            url: f.url,
            hashes: f
                .digests
                .into_iter()
                .filter(|(k, _)| k != "md5" && k != "blake2b_256")
                .collect(),
            requires_python: f.requires_python.filter(|r| !r.trim().is_empty()),
            yanked: f.yanked.then(|| f.yanked_reason.unwrap_or_default()),
            upload_time: f.upload_time_iso_8601,
            size: f.size,
        })
        .collect();
    let mut list = group_files(name, files);
    let urls = answer.info.project_urls.unwrap_or_default();
    list.source_url = project_link(&urls, &["source", "repository", "code", "github", "gitlab"]);
    list.changelog_url = project_link(&urls, &["changelog", "changes", "release notes", "history"]);
    list.homepage = answer
        .info
        .home_page
        .filter(|h| !h.is_empty())
        .or_else(|| project_link(&urls, &["homepage", "home"]));
    list.name = answer.info.name;
    Ok(list)
}

#[async_trait::async_trait]
impl Registry for JsonApi {
    fn url(&self) -> &str {
        &self.shown
    }

    fn cache_key(&self) -> &str {
        &self.key
    }

    async fn releases(&self, package: &str) -> Result<ReleaseList, RegistryError> {
        let name = normalize_name(package);
        let response = fetch(
            &self.http,
            &self.base,
            &self.shown,
            &format!("{name}/json"),
            "application/json",
            package,
            true,
        )
        .await?;
        let mut list = parse_json_api(&name, &response.body)
            .map_err(|d| malformed(package, &self.shown, d))?;
        list.registry_url = self.shown.clone();
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use updatebot_core::http::HttpOptions;
    use wiremock::matchers::{header_regex, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn client() -> Arc<HttpClient> {
        Arc::new(
            HttpClient::new(
                HttpOptions {
                    retries: 1,
                    backoff: std::time::Duration::from_millis(1),
                    ..HttpOptions::default()
                },
                vec![],
            )
            .unwrap(),
        )
    }

    #[test]
    fn pypi_is_asked_through_its_json_api() {
        let index = registry_for("https://pypi.org/simple", client()).unwrap();
        assert_eq!(index.url(), "https://pypi.org/pypi/");
        let other = registry_for("https://pypi.internal.example/simple", client()).unwrap();
        assert_eq!(other.url(), "https://pypi.internal.example/simple/");
    }

    #[test]
    fn bad_urls_never_show_their_credentials() {
        for url in [
            "ftp://u:s3cret@h.example/simple",
            "https://u:s3cret@h.example:99999/simple",
        ] {
            let err = base_url(url).unwrap_err().to_string();
            assert!(!err.contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn versions_from_file_names() {
        assert_eq!(
            version_from_filename("requests", "requests-2.32.3-py3-none-any.whl").as_deref(),
            Some("2.32.3")
        );
        assert_eq!(
            version_from_filename("python-dateutil", "python-dateutil-2.8.2.tar.gz").as_deref(),
            Some("2.8.2")
        );
        assert_eq!(
            version_from_filename("django", "Django-4.2.zip").as_deref(),
            Some("4.2")
        );
        assert_eq!(
            version_from_filename("zope-interface", "zope.interface-5.0.tar.gz").as_deref(),
            Some("5.0")
        );
        assert_eq!(version_from_filename("six", "six-1.16.0.exe"), None);
    }

    #[test]
    fn html_pages_give_hashes_requires_python_and_yanks() {
        let page =
            Url::parse("https://gitlab.example/api/v4/projects/1/packages/pypi/simple/demo/")
                .unwrap();
        let html = r#"<!DOCTYPE html><html><body>
<a href="../../files/abc/demo-1.0-py3-none-any.whl#sha256=aaa" data-requires-python="&gt;=3.8">demo-1.0-py3-none-any.whl</a><br>
<a href='https://files.example/demo-1.1.tar.gz#sha256=bbb' data-yanked="broken build">demo-1.1.tar.gz</a>
<A HREF="demo-0.9.tar.gz">demo-0.9.tar.gz</A>
</body></html>"#;
        let files = parse_simple_html(html, &page).unwrap();
        assert_eq!(files.len(), 3);
        assert_eq!(files[0].url, "https://gitlab.example/api/v4/projects/1/packages/pypi/files/abc/demo-1.0-py3-none-any.whl");
        assert_eq!(files[0].hashes["sha256"], "aaa");
        assert_eq!(files[0].requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(files[1].yanked.as_deref(), Some("broken build"));
        let list = group_files("demo", files);
        let versions: Vec<_> = list
            .releases
            .iter()
            .map(|r| (r.version.as_str(), r.yanked))
            .collect();
        assert_eq!(versions, [("0.9", false), ("1.0", false), ("1.1", true)]);
        assert_eq!(list.release("1.0").unwrap().constraints["python"], ">=3.8");
    }

    #[tokio::test]
    async fn simple_json_answers_are_grouped_by_version() {
        let server = MockServer::start().await;
        let body = serde_json::json!({
            "meta": {"api-version": "1.1"},
            "name": "demo",
            "files": [
                {"filename": "demo-1.0.tar.gz", "url": "../../files/demo-1.0.tar.gz", "hashes": {"sha256": "s1"}, "upload-time": "2024-01-02T00:00:00Z"},
                {"filename": "demo-1.0-py3-none-any.whl", "url": "https://files.example/demo-1.0-py3-none-any.whl", "hashes": {"sha256": "w1"}, "requires-python": ">=3.8", "upload-time": "2024-01-01T00:00:00Z"},
                {"filename": "demo-2.0b1-py3-none-any.whl", "url": "x", "hashes": {"sha256": "b"}},
                {"filename": "demo-1.5-py3-none-any.whl", "url": "y", "hashes": {}, "yanked": "oops"},
                {"filename": "demo-weird_version.tar.gz", "url": "z", "hashes": {}}
            ]
        });
        Mock::given(method("GET"))
            .and(path("/simple/demo/"))
            .and(header_regex(
                "accept",
                "application/vnd.pypi.simple.v1\\+json",
            ))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "application/vnd.pypi.simple.v1+json")
                    .set_body_json(body),
            )
            .mount(&server)
            .await;
        let index = registry_for(&format!("{}/simple", server.uri()), client()).unwrap();
        let list = index.releases("Demo").await.unwrap();
        let versions: Vec<_> = list.releases.iter().map(|r| r.version.as_str()).collect();
        assert_eq!(versions, ["1.0", "1.5", "2.0b1"]);
        let one = list.release("1.0").unwrap();
        assert_eq!(one.files.len(), 2);
        assert_eq!(one.released_at.as_deref(), Some("2024-01-01T00:00:00Z"));
        assert!(one.files[0].url.starts_with(&server.uri()));
        assert!(list.release("1.5").unwrap().yanked);
        assert_eq!(list.registry_url, format!("{}/simple/", server.uri()));
    }

    #[tokio::test]
    async fn errors_name_the_package_and_the_index() {
        let server = MockServer::start().await;
        Mock::given(path("/simple/missing/"))
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        Mock::given(path("/simple/secret/"))
            .respond_with(ResponseTemplate::new(401))
            .mount(&server)
            .await;
        Mock::given(path("/simple/broken/"))
            .respond_with(ResponseTemplate::new(500))
            .mount(&server)
            .await;
        Mock::given(path("/simple/garbage/"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "application/vnd.pypi.simple.v1+json")
                    .set_body_string("{not json"),
            )
            .mount(&server)
            .await;
        let index = registry_for(&format!("{}/simple/", server.uri()), client()).unwrap();
        let err = index.releases("missing").await.unwrap_err();
        assert!(matches!(err, RegistryError::NotFound { .. }));
        assert!(err.to_string().contains("`missing`"));
        assert!(matches!(
            index.releases("secret").await.unwrap_err(),
            RegistryError::Unauthorized { status: 401, .. }
        ));
        let err = index.releases("broken").await.unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        assert!(err.to_string().contains("HTTP 500 after retries"), "{err}");
        let err = index.releases("garbage").await.unwrap_err();
        assert!(matches!(err, RegistryError::Malformed { .. }));
        assert!(err.to_string().contains("`garbage`"), "{err}");
    }

    #[tokio::test]
    async fn json_api_gives_links_and_yanks() {
        let server = MockServer::start().await;
        let body = serde_json::json!({
            "info": {"name": "Demo", "home_page": "", "project_urls": {"Source": "https://github.com/o/demo", "Changelog": "https://github.com/o/demo/blob/main/CHANGES.md"}},
            "releases": {
                "1.0": [{"filename": "demo-1.0.tar.gz", "url": "https://files.example/demo-1.0.tar.gz", "digests": {"sha256": "s", "md5": "m"}, "requires_python": ">=3.8", "yanked": false, "upload_time_iso_8601": "2024-01-01T00:00:00.000Z"}],
                "1.1": [{"filename": "demo-1.1.tar.gz", "url": "https://files.example/demo-1.1.tar.gz", "digests": {"sha256": "t"}, "yanked": true, "yanked_reason": "bad"}],
                "0.1": []
            }
        });
        Mock::given(path("/pypi/demo/json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&server)
            .await;
        let index = registry_for(&format!("{}/pypi", server.uri()), client()).unwrap();
        let list = index.releases("demo").await.unwrap();
        assert_eq!(list.name, "Demo");
        assert_eq!(
            list.source_url.as_deref(),
            Some("https://github.com/o/demo")
        );
        assert!(list.changelog_url.is_some());
        assert_eq!(list.releases.len(), 2);
        assert_eq!(list.release("1.0").unwrap().files[0].hashes.len(), 1);
        assert_eq!(
            list.release("1.1").unwrap().yanked_reason.as_deref(),
            Some("bad")
        );
    }

    #[tokio::test]
    async fn json_api_refuses_an_html_page() {
        let server = MockServer::start().await;
        Mock::given(path("/pypi/demo/json"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw("<html><body>Just a moment...</body></html>", "text/html"),
            )
            .mount(&server)
            .await;
        let index = registry_for(&format!("{}/pypi", server.uri()), client()).unwrap();
        let err = index.releases("demo").await.unwrap_err();
        assert!(matches!(err, RegistryError::Malformed { .. }), "{err}");
        assert!(
            err.to_string().contains(&format!(
                "expected JSON, got `text/html` from {}/pypi/demo/json",
                server.uri()
            )),
            "{err}"
        );
    }
}
