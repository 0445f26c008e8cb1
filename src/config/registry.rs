//! Registry locations (`type`, `url`, `replaces-base`), shared by both configuration files.

use url::Url;

use super::enums::{RegistryKind, UNSUPPORTED_DEPENDABOT_REGISTRY_TYPES};
use super::problem::show;
use super::rules::NAME_PATTERN;
use super::walk::{Field, Fields, KeySet, Walker};
use super::yaml::{Kind, Node};

/// Where a registry is and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    pub kind: RegistryKind,
    pub url: Url,
    pub replaces_base: bool,
}

/// The value of `key` in a raw mapping node, if the node is a mapping holding it.
pub(crate) fn raw_get<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    match &node.kind {
        Kind::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// The `type` of a registry if it is a Dependabot type updatebot does not handle.
pub(crate) fn unsupported_type(node: &Node) -> Option<&str> {
    let t = raw_get(node, "type")?.as_str()?;
    UNSUPPORTED_DEPENDABOT_REGISTRY_TYPES
        .contains(&t)
        .then_some(t)
}

/// Reads the names of a `registries` mapping, reporting duplicates and bad names.
/// Returns `(name, line, definition)` for each first occurrence.
pub(crate) fn named_entries<'a>(
    w: &mut Walker,
    f: Field<'a>,
    path: &'a str,
) -> Vec<(&'a str, usize, &'a Node)> {
    let Some(fields) = w.map(f.value, path, &KeySet::free()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, pos, value) in fields.keys() {
        if !w.matches(NAME_PATTERN, name) {
            let msg = format!(
                "{path}: registry name `{}` may only hold letters, digits, `.`, `_` and `-`",
                show(name)
            );
            w.problem(pos, msg);
            continue;
        }
        out.push((name, pos.line, value));
    }
    out
}

/// Reads `type`, `url` and `replaces-base` of a registry definition.
pub(crate) fn location(w: &mut Walker, fields: &Fields<'_>) -> Option<Location> {
    w.require(fields, &["type", "url"]);
    let kind = fields.get("type").and_then(|f| w.choice::<RegistryKind>(f));
    let url = fields.get("url").and_then(|f| url(w, f, kind));
    let replaces_base = fields
        .get("replaces-base")
        .and_then(|f| w.bool(f))
        .unwrap_or(false);
    Some(Location {
        kind: kind?,
        url: url?,
        replaces_base,
    })
}

/// Hides the user-info part of a URL-like text (`https://***@host`), for messages.
pub(crate) fn redact(text: &str) -> String {
    let (scheme, rest) = match text.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), text),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => text.to_owned(),
    }
}

fn url(w: &mut Walker, f: Field<'_>, kind: Option<RegistryKind>) -> Option<Url> {
    let path = f.path();
    let text = w.string_node(f.value, &path)?;
    let shown = show(&redact(&text));
    // Dependabot writes Docker registries as bare hosts (`registry.example.com`).
    let full = if !text.contains("://") && kind == Some(RegistryKind::DockerRegistry) {
        format!("https://{text}")
    } else {
        text.clone()
    };
    let url = match Url::parse(&full) {
        Ok(u) => u,
        Err(e) => {
            w.problem(
                f.value.pos,
                format!("{path}: `{shown}` is not a valid URL ({e})"),
            );
            return None;
        }
    };
    if !url.username().is_empty() || url.password().is_some() {
        let msg = format!(
            "{path}: `{shown}` carries credentials in the URL; credentials belong in the operator config (`username`, `password-env`, …)"
        );
        w.problem(f.value.pos, msg);
        return None;
    }
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        let msg = format!("{path}: `{shown}` must be an http or https URL with a host");
        w.problem(f.value.pos, msg);
        return None;
    }
    Some(url)
}

/// Whether two registry URLs point at the same place (trailing `/` ignored).
pub(crate) fn same_location(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path().trim_end_matches('/') == b.path().trim_end_matches('/')
        && a.query() == b.query()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_user_info_only() {
        assert_eq!(redact("https://u:p@host/x"), "https://***@host/x");
        assert_eq!(redact("https://host/x@y"), "https://host/x@y");
        assert_eq!(redact("u:p@host"), "***@host");
    }

    #[test]
    fn locations_compare_without_trailing_slash() {
        let a = Url::parse("https://Host.example/simple/").expect("url");
        let b = Url::parse("https://host.example:443/simple").expect("url");
        let c = Url::parse("https://evil.example/simple").expect("url");
        assert!(same_location(&a, &b));
        assert!(!same_location(&a, &c));
    }
}
