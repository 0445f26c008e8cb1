//! `.npmrc` files of a project: the default registry and registries per scope. Credentials in
//! them are never used (a repository cannot point credentials at a host); tokens come from the
//! operator's configuration.

use std::collections::BTreeMap;

/// What a `.npmrc` says about where packages come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Npmrc {
    pub registry: Option<String>,
    /// `@scope` → registry URL.
    pub scopes: BTreeMap<String, String>,
}

fn with_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

/// Read the registry settings of a `.npmrc`. Values naming environment variables (`${X}`)
/// cannot be known and are left out.
pub fn parse(text: &str) -> Npmrc {
    let mut out = Npmrc::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim().trim_matches('"'));
        if value.contains("${") || !(value.starts_with("http://") || value.starts_with("https://"))
        {
            continue;
        }
        if key == "registry" {
            out.registry = Some(with_slash(value));
        } else if let Some(scope) = key.strip_suffix(":registry") {
            if scope.starts_with('@') && scope.len() > 1 {
                out.scopes.insert(scope.to_string(), with_slash(value));
            }
        }
    }
    out
}

/// The settings that apply to a manifest: every `.npmrc` from the repository root down to the
/// manifest's directory, nearer ones winning.
pub fn effective(manifest_path: &str, files: &BTreeMap<String, String>) -> Npmrc {
    let dir = manifest_path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let mut chain = vec![String::new()];
    let mut acc = String::new();
    for part in dir.split('/').filter(|p| !p.is_empty()) {
        if !acc.is_empty() {
            acc.push('/');
        }
        acc.push_str(part);
        chain.push(acc.clone());
    }
    let mut out = Npmrc::default();
    for d in chain {
        let path = if d.is_empty() {
            ".npmrc".to_string()
        } else {
            format!("{d}/.npmrc")
        };
        if let Some(text) = files.get(&path) {
            let rc = parse(text);
            if rc.registry.is_some() {
                out.registry = rc.registry;
            }
            out.scopes.extend(rc.scopes);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_and_scopes_nearer_files_win() {
        let mut files = BTreeMap::new();
        files.insert(
            ".npmrc".to_string(),
            "registry=https://npm.example/\n@acme:registry=https://gitlab.example/api/v4/packages/npm\n//gitlab.example/:_authToken=${NPM_TOKEN}\n; comment\n".to_string(),
        );
        files.insert(
            "web/.npmrc".to_string(),
            "@acme:registry=https://other.example/npm/\n@env:registry=${X}\n".to_string(),
        );
        let root = effective("package.json", &files);
        assert_eq!(root.registry.as_deref(), Some("https://npm.example/"));
        assert_eq!(
            root.scopes["@acme"],
            "https://gitlab.example/api/v4/packages/npm/"
        );
        let web = effective("web/package.json", &files);
        assert_eq!(web.scopes["@acme"], "https://other.example/npm/");
        assert!(!web.scopes.contains_key("@env"));
        assert_eq!(web.registry.as_deref(), Some("https://npm.example/"));
    }
}
