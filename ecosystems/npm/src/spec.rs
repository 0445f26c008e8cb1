//! What a dependency spec in `package.json` names, as npm-package-arg reads it: a registry
//! range, an alias (`npm:real@^1`), or something that is not a registry version (git, GitHub
//! shorthand, file, link, URL, workspace, dist-tag).

use updatebot_core::SkipReason;

/// A classified spec: the registry package and the range text with its byte offset in the
/// spec, or why it is not a registry range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec<'a> {
    Range {
        /// The real package (an alias's target), if not the dependency's own name.
        alias_of: Option<&'a str>,
        range: &'a str,
        offset: usize,
    },
    Skip(SkipReason),
}

fn is_git(spec: &str) -> bool {
    const PREFIXES: [&str; 9] = [
        "git+",
        "git://",
        "github:",
        "gitlab:",
        "bitbucket:",
        "gist:",
        "ssh://",
        "git@",
        "git:",
    ];
    if PREFIXES.iter().any(|p| spec.starts_with(p)) {
        return true;
    }
    // GitHub shorthand `user/repo` or `user/repo#ref` (not a path, not a scope).
    let bare = spec.split('#').next().unwrap_or(spec);
    let mut parts = bare.split('/');
    matches!((parts.next(), parts.next(), parts.next()), (Some(u), Some(r), None)
        if !u.is_empty() && !r.is_empty() && !u.starts_with(['.', '@', '~']) && !u.contains(':')
            && u.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && r.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
}

/// Classify `spec` (the value of a `dependencies` entry).
pub fn classify(spec: &str) -> Spec<'_> {
    let trimmed = spec.trim();
    if let Some(rest) = trimmed.strip_prefix("npm:") {
        // `npm:name@range`; a scoped name starts with `@`, so the separator is the last `@`
        // after the first character.
        let first = rest.chars().next().map_or(0, char::len_utf8);
        let at = rest[first..].rfind('@').map(|i| i + first);
        let lead = spec.len() - spec.trim_start().len() + 4;
        return match at {
            Some(at) => Spec::Range {
                alias_of: Some(&rest[..at]),
                range: &rest[at + 1..],
                offset: lead + at + 1,
            },
            None => Spec::Range {
                alias_of: Some(rest),
                range: "",
                offset: lead + rest.len(),
            },
        };
    }
    if trimmed.starts_with("workspace:") {
        return Spec::Skip(SkipReason::LocalPackage);
    }
    if trimmed.starts_with("file:")
        || trimmed.starts_with("link:")
        || trimmed.starts_with("portal:")
        || trimmed.starts_with("./")
        || trimmed.starts_with("../")
        || trimmed.starts_with('/')
        || trimmed.starts_with("~/")
    {
        return Spec::Skip(SkipReason::PathDependency);
    }
    if is_git(trimmed) {
        return Spec::Skip(SkipReason::GitDependency);
    }
    if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        return Spec::Skip(SkipReason::UrlDependency);
    }
    if crate::versioning::is_npm_range(trimmed) {
        return Spec::Range {
            alias_of: None,
            range: spec,
            offset: 0,
        };
    }
    Spec::Skip(SkipReason::DistTag)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzzer (`fuzz/regressions/npm_spec`): an alias whose name starts with a
    /// multi-byte character, or is empty, panicked on a byte index.
    #[test]
    fn aliases_starting_with_any_character_do_not_panic() {
        assert!(matches!(
            classify("npm:ʌcope/real@~1.2"),
            Spec::Range {
                alias_of: Some("ʌcope/real"),
                range: "~1.2",
                ..
            }
        ));
        assert!(matches!(
            classify("npm:"),
            Spec::Range {
                alias_of: Some(""),
                range: "",
                ..
            }
        ));
        assert!(matches!(
            classify("npm:é"),
            Spec::Range {
                alias_of: Some("é"),
                range: "",
                ..
            }
        ));
    }

    #[test]
    fn specs_are_classified_like_npm_package_arg() {
        assert_eq!(
            classify("^1.2.3"),
            Spec::Range {
                alias_of: None,
                range: "^1.2.3",
                offset: 0
            }
        );
        assert_eq!(
            classify("npm:@scope/real@^2.0.0"),
            Spec::Range {
                alias_of: Some("@scope/real"),
                range: "^2.0.0",
                offset: 16
            }
        );
        assert_eq!(
            classify("npm:lodash@4.17.21"),
            Spec::Range {
                alias_of: Some("lodash"),
                range: "4.17.21",
                offset: 11
            }
        );
        for (spec, reason) in [
            ("git+https://github.com/a/b.git", SkipReason::GitDependency),
            ("github:a/b", SkipReason::GitDependency),
            ("expressjs/express#4.x", SkipReason::GitDependency),
            ("file:../lib", SkipReason::PathDependency),
            ("link:../lib", SkipReason::PathDependency),
            ("./vendor/x.tgz", SkipReason::PathDependency),
            ("https://example.org/x.tgz", SkipReason::UrlDependency),
            ("workspace:*", SkipReason::LocalPackage),
            ("latest", SkipReason::DistTag),
            ("next", SkipReason::DistTag),
        ] {
            assert_eq!(classify(spec), Spec::Skip(reason.clone()), "{spec}");
        }
        assert!(matches!(classify("1.x || >=2.5.0"), Spec::Range { .. }));
        assert!(matches!(classify(""), Spec::Range { .. }));
        assert!(matches!(classify("*"), Spec::Range { .. }));
    }
}
