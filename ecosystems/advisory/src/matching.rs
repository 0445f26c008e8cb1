//! Whether a version of a package is affected by an OSV record: the schema's evaluation
//! algorithm (`affected[].versions`, then `SEMVER`/`ECOSYSTEM` ranges of `introduced`,
//! `fixed`, `last_affected` and `limit` events) with the ecosystem's own version order.
//!
//! A bound the versioning scheme cannot read never makes a version look safe: an unreadable
//! `introduced` counts as "from the start", an unreadable `fixed`, `last_affected` or
//! `limit` is ignored (the range stays open).

use crate::osv::{Affected, Event, OsvEcosystem, Range, RangeKind, Vuln};
use std::cmp::Ordering;
use updatebot_core::VersionScheme;

/// The ordering of two versions by `scheme`, `None` when either does not parse.
fn cmp(scheme: &dyn VersionScheme, a: &str, b: &str) -> Option<Ordering> {
    scheme.compare(a, b).ok()
}

/// `version` is one of the listed ones (by the scheme's equality, or as text).
fn in_versions(versions: &[String], version: &str, scheme: &dyn VersionScheme) -> bool {
    versions
        .iter()
        .any(|v| v == version || cmp(scheme, v, version) == Some(Ordering::Equal))
}

/// A total order of version texts by `scheme`: readable versions by the scheme, after the
/// unreadable ones (by text), so sorting can never meet an inconsistent comparison.
pub fn order(scheme: &dyn VersionScheme, a: &str, b: &str) -> Ordering {
    match (scheme.is_valid_version(a), scheme.is_valid_version(b)) {
        (true, true) => cmp(scheme, a, b).unwrap_or_else(|| a.cmp(b)),
        (false, false) => a.cmp(b),
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
    }
}

/// Events ordered by their version, `introduced: "0"` first.
fn sorted<'a>(events: &'a [Event], scheme: &dyn VersionScheme) -> Vec<&'a Event> {
    let mut out: Vec<&Event> = events.iter().collect();
    let key = |e: &Event| -> Option<String> {
        e.introduced
            .clone()
            .or_else(|| e.fixed.clone())
            .or_else(|| e.last_affected.clone())
            .or_else(|| e.limit.clone())
    };
    let zero = |e: &Event| e.introduced.as_deref() == Some("0");
    out.sort_by(|a, b| match (zero(a), zero(b)) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => order(
            scheme,
            key(a).as_deref().unwrap_or(""),
            key(b).as_deref().unwrap_or(""),
        ),
    });
    out
}

fn before_limits(range: &Range, version: &str, scheme: &dyn VersionScheme) -> bool {
    let limits: Vec<&str> = range
        .events
        .iter()
        .filter_map(|e| e.limit.as_deref())
        .collect();
    if limits.is_empty() {
        return true;
    }
    limits.iter().any(|l| {
        l.contains('*')
            || match cmp(scheme, version, l) {
                Some(o) => o == Ordering::Less,
                // An unreadable limit does not narrow the range.
                None => true,
            }
    })
}

/// Whether `version` falls in one `SEMVER`/`ECOSYSTEM` range.
pub fn in_range(range: &Range, version: &str, scheme: &dyn VersionScheme) -> bool {
    if !matches!(range.kind, RangeKind::Semver | RangeKind::Ecosystem) {
        return false;
    }
    if !before_limits(range, version, scheme) {
        return false;
    }
    let mut affected = false;
    for event in sorted(&range.events, scheme) {
        if let Some(introduced) = &event.introduced {
            let at_or_after = introduced == "0"
                || cmp(scheme, version, introduced).is_none_or(|o| o != Ordering::Less);
            if at_or_after {
                affected = true;
            }
        } else if let Some(fixed) = &event.fixed {
            if cmp(scheme, version, fixed).is_some_and(|o| o != Ordering::Less) {
                affected = false;
            }
        } else if let Some(last) = &event.last_affected {
            if cmp(scheme, version, last) == Some(Ordering::Greater) {
                affected = false;
            }
        }
    }
    affected
}

/// Whether one `affected[]` entry covers `version`.
pub fn affected_entry_covers(entry: &Affected, version: &str, scheme: &dyn VersionScheme) -> bool {
    in_versions(&entry.versions, version, scheme)
        || entry.ranges.iter().any(|r| in_range(r, version, scheme))
}

/// Whether `version` of `name` is affected by `vuln` (never when the record is withdrawn).
pub fn affects(
    vuln: &Vuln,
    ecosystem: OsvEcosystem,
    name: &str,
    version: &str,
    scheme: &dyn VersionScheme,
) -> bool {
    !vuln.is_withdrawn()
        && vuln
            .affected_for(ecosystem, name)
            .any(|a| affected_entry_covers(a, version, scheme))
}

/// The ranges of the record for `name`, as people read them: `>=1.0.0, <1.0.2 || >=3.0.0`;
/// a `versions` list alone as `1.0, 1.1, … (12 versions)`.
pub fn describe_affected(vuln: &Vuln, ecosystem: OsvEcosystem, name: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut listed: Vec<&str> = Vec::new();
    for entry in vuln.affected_for(ecosystem, name) {
        let mut described = false;
        for range in &entry.ranges {
            if !matches!(range.kind, RangeKind::Semver | RangeKind::Ecosystem) {
                continue;
            }
            described = true;
            let mut lower: Option<&str> = None;
            let mut open = false;
            for event in &range.events {
                if let Some(introduced) = &event.introduced {
                    if open {
                        parts.push(interval(lower, None, false));
                    }
                    lower = (introduced != "0").then_some(introduced.as_str());
                    open = true;
                } else if let Some(fixed) = &event.fixed {
                    parts.push(interval(lower, Some(fixed), false));
                    open = false;
                } else if let Some(last) = &event.last_affected {
                    parts.push(interval(lower, Some(last), true));
                    open = false;
                }
            }
            if open {
                parts.push(interval(lower, None, false));
            }
        }
        if !described {
            listed.extend(entry.versions.iter().map(String::as_str));
        }
    }
    if !listed.is_empty() {
        let shown: Vec<&str> = listed.iter().take(5).copied().collect();
        let more = if listed.len() > shown.len() {
            format!(", … ({} versions)", listed.len())
        } else {
            String::new()
        };
        parts.push(format!("{}{more}", shown.join(", ")));
    }
    parts.dedup();
    if parts.is_empty() {
        "unknown".to_string()
    } else {
        parts.join(" || ")
    }
}

fn interval(lower: Option<&str>, upper: Option<&str>, inclusive: bool) -> String {
    match (lower, upper) {
        (None, None) => "all versions".to_string(),
        (Some(l), None) => format!(">={l}"),
        (None, Some(u)) => format!("{}{u}", if inclusive { "<=" } else { "<" }),
        (Some(l), Some(u)) => format!(">={l}, {}{u}", if inclusive { "<=" } else { "<" }),
    }
}

/// The `fixed` versions the record names for `name`, lowest first (by `scheme`).
pub fn fixed_versions(
    vuln: &Vuln,
    ecosystem: OsvEcosystem,
    name: &str,
    scheme: &dyn VersionScheme,
) -> Vec<String> {
    let mut out: Vec<String> = vuln
        .affected_for(ecosystem, name)
        .flat_map(|a| a.ranges.iter())
        .filter(|r| matches!(r.kind, RangeKind::Semver | RangeKind::Ecosystem))
        .flat_map(|r| r.events.iter().filter_map(|e| e.fixed.clone()))
        .collect();
    out.sort_by(|a, b| order(scheme, a, b));
    out.dedup();
    out
}

/// The fix the record names for `version`: the lowest `fixed` above it.
pub fn fixed_for(
    vuln: &Vuln,
    ecosystem: OsvEcosystem,
    name: &str,
    version: &str,
    scheme: &dyn VersionScheme,
) -> Option<String> {
    fixed_versions(vuln, ecosystem, name, scheme)
        .into_iter()
        .find(|f| cmp(scheme, f, version) == Some(Ordering::Greater))
}

#[cfg(test)]
mod tests {
    use super::*;
    use updatebot_npm::Npm;
    use updatebot_python::pep440::Pep440;

    fn vuln(json: &str) -> Vuln {
        serde_json::from_str(json).unwrap()
    }

    const MULTI: &str = r#"{"id":"GHSA-m","affected":[{"package":{"ecosystem":"npm","name":"x"},"ranges":[{"type":"SEMVER","events":[{"introduced":"3.0.0"},{"fixed":"3.2.5"},{"introduced":"1.0.0"},{"fixed":"1.0.2"}]}]}]}"#;

    #[test]
    fn semver_ranges_with_several_intervals_in_any_order() {
        let v = vuln(MULTI);
        let hit = |ver: &str| affects(&v, OsvEcosystem::Npm, "x", ver, &Npm);
        assert!(!hit("0.9.0"));
        assert!(hit("1.0.0"));
        assert!(hit("1.0.1"));
        assert!(!hit("1.0.2"));
        assert!(!hit("2.5.0"));
        assert!(hit("3.2.4"));
        assert!(!hit("3.2.5"));
        assert!(!affects(&v, OsvEcosystem::PyPI, "x", "1.0.0", &Pep440));
        assert_eq!(
            describe_affected(&v, OsvEcosystem::Npm, "x"),
            ">=3.0.0, <3.2.5 || >=1.0.0, <1.0.2"
        );
        assert_eq!(
            fixed_for(&v, OsvEcosystem::Npm, "x", "1.0.0", &Npm).as_deref(),
            Some("1.0.2")
        );
    }

    #[test]
    fn ecosystem_ranges_use_pep440_and_last_affected_is_inclusive() {
        let v = vuln(
            r#"{"id":"PYSEC-1","affected":[{"package":{"ecosystem":"PyPI","name":"Requests"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"last_affected":"2.0"}]}]}]}"#,
        );
        let hit = |ver: &str| affects(&v, OsvEcosystem::PyPI, "requests", ver, &Pep440);
        assert!(hit("1.0"));
        assert!(hit("2.0.0"), "2.0.0 == 2.0 in PEP 440");
        assert!(hit("2.0rc1"));
        assert!(!hit("2.0.post1"));
        assert!(!hit("2.1"));
        assert_eq!(
            describe_affected(&v, OsvEcosystem::PyPI, "requests"),
            "<=2.0"
        );
    }

    #[test]
    fn versions_lists_limits_and_withdrawn_records() {
        let listed = vuln(
            r#"{"id":"X","affected":[{"package":{"ecosystem":"PyPI","name":"a"},"versions":["1.0","1.1"]}]}"#,
        );
        assert!(affects(&listed, OsvEcosystem::PyPI, "a", "1.1.0", &Pep440));
        assert!(!affects(&listed, OsvEcosystem::PyPI, "a", "1.2", &Pep440));
        assert_eq!(
            describe_affected(&listed, OsvEcosystem::PyPI, "a"),
            "1.0, 1.1"
        );
        let limited = vuln(
            r#"{"id":"L","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"limit":"2.0.0"}]}]}]}"#,
        );
        assert!(affects(&limited, OsvEcosystem::Npm, "a", "1.9.9", &Npm));
        assert!(!affects(&limited, OsvEcosystem::Npm, "a", "2.0.0", &Npm));
        let mut withdrawn = listed.clone();
        withdrawn.withdrawn = Some("2024-05-01T00:00:00Z".into());
        assert!(!affects(
            &withdrawn,
            OsvEcosystem::PyPI,
            "a",
            "1.1",
            &Pep440
        ));
    }

    #[test]
    fn unreadable_bounds_never_make_a_version_look_safe() {
        let v = vuln(
            r#"{"id":"U","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"not a version"},{"fixed":"also not"}]},{"type":"GIT","events":[{"introduced":"0"}]}]}]}"#,
        );
        assert!(affects(&v, OsvEcosystem::Npm, "a", "1.0.0", &Npm));
        let open = vuln(
            r#"{"id":"O","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}"#,
        );
        assert!(affects(&open, OsvEcosystem::Npm, "a", "99.0.0", &Npm));
        assert_eq!(
            describe_affected(&open, OsvEcosystem::Npm, "a"),
            "all versions"
        );
    }
}
