//! The parts of the OSV schema (<https://ossf.github.io/osv-schema/>) updatebot reads.
//!
//! Every field is optional or defaulted: a record from a mirror or an export that leaves
//! something out still reads, and what is missing simply does not match.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The package ecosystems updatebot asks about, with their OSV names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OsvEcosystem {
    #[serde(rename = "npm")]
    Npm,
    #[serde(rename = "PyPI")]
    PyPI,
}

impl OsvEcosystem {
    /// The name in OSV records and queries (and the folder of an OSV data dump).
    pub fn as_str(self) -> &'static str {
        match self {
            OsvEcosystem::Npm => "npm",
            OsvEcosystem::PyPI => "PyPI",
        }
    }

    /// The ecosystem of an `affected[].package.ecosystem` value (`PyPI`, `npm`; a
    /// `:suffix` such as `npm:registry` is not ours).
    pub fn parse(text: &str) -> Option<OsvEcosystem> {
        match text {
            "npm" => Some(OsvEcosystem::Npm),
            "PyPI" => Some(OsvEcosystem::PyPI),
            _ => None,
        }
    }

    /// A package name as the ecosystem compares names: PyPI's are normalised (PEP 503),
    /// npm's are exact.
    pub fn normalize(self, name: &str) -> String {
        match self {
            OsvEcosystem::Npm => name.to_string(),
            OsvEcosystem::PyPI => {
                let mut out = String::with_capacity(name.len());
                let mut separator = false;
                for c in name.trim().chars() {
                    if matches!(c, '-' | '_' | '.') {
                        separator = true;
                    } else {
                        if separator && !out.is_empty() {
                            out.push('-');
                        }
                        separator = false;
                        out.push(c.to_ascii_lowercase());
                    }
                }
                out
            }
        }
    }
}

impl fmt::Display for OsvEcosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One OSV record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Vuln {
    pub id: String,
    #[serde(default)]
    pub modified: Option<String>,
    #[serde(default)]
    pub published: Option<String>,
    /// Set when the record was withdrawn: it no longer applies.
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub severity: Vec<SeverityScore>,
    #[serde(default)]
    pub affected: Vec<Affected>,
    #[serde(default)]
    pub references: Vec<Reference>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeverityScore {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4`, `Ubuntu`, …
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub score: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Package {
    #[serde(default)]
    pub ecosystem: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub purl: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    #[serde(default)]
    pub package: Option<Package>,
    #[serde(default)]
    pub severity: Vec<SeverityScore>,
    #[serde(default)]
    pub ranges: Vec<Range>,
    #[serde(default)]
    pub versions: Vec<String>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RangeKind {
    #[serde(rename = "SEMVER")]
    Semver,
    #[serde(rename = "ECOSYSTEM")]
    Ecosystem,
    #[serde(rename = "GIT")]
    Git,
    /// A type this reader does not know: never matched.
    #[serde(other)]
    Other,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: RangeKind,
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One event of a range: exactly one field is set in a valid record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub url: String,
}

impl Vuln {
    /// Whether the record was withdrawn (it then applies to nothing).
    pub fn is_withdrawn(&self) -> bool {
        self.withdrawn
            .as_deref()
            .is_some_and(|w| !w.trim().is_empty())
    }

    /// The `affected[]` entries about `name` in `ecosystem`.
    pub fn affected_for<'a>(
        &'a self,
        ecosystem: OsvEcosystem,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Affected> + 'a {
        let wanted = ecosystem.normalize(name);
        self.affected.iter().filter(move |a| {
            a.package.as_ref().is_some_and(|p| {
                OsvEcosystem::parse(&p.ecosystem) == Some(ecosystem)
                    && ecosystem.normalize(&p.name) == wanted
            })
        })
    }

    /// The packages (ecosystem, normalised name) the record is about.
    pub fn packages(&self) -> impl Iterator<Item = (OsvEcosystem, String)> + '_ {
        self.affected.iter().filter_map(|a| {
            let p = a.package.as_ref()?;
            let ecosystem = OsvEcosystem::parse(&p.ecosystem)?;
            Some((ecosystem, ecosystem.normalize(&p.name)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_sparse_record_and_knows_withdrawn_ones() {
        let v: Vuln = serde_json::from_str(
            r#"{"id":"X-1","affected":[{"package":{"ecosystem":"PyPI","name":"Foo_Bar"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.2"}]},{"type":"WEIRD","events":[]}]}],"withdrawn":"2024-01-01T00:00:00Z","extra":1}"#,
        )
        .unwrap();
        assert!(v.is_withdrawn());
        assert_eq!(v.affected_for(OsvEcosystem::PyPI, "foo-bar").count(), 1);
        assert_eq!(v.affected_for(OsvEcosystem::Npm, "foo-bar").count(), 0);
        assert_eq!(v.affected[0].ranges[1].kind, RangeKind::Other);
        assert_eq!(
            v.packages().collect::<Vec<_>>(),
            [(OsvEcosystem::PyPI, "foo-bar".to_string())]
        );
    }

    #[test]
    fn pypi_names_normalise() {
        assert_eq!(
            OsvEcosystem::PyPI.normalize("Zope.Interface"),
            "zope-interface"
        );
        assert_eq!(OsvEcosystem::PyPI.normalize("a__b--c"), "a-b-c");
        assert_eq!(OsvEcosystem::Npm.normalize("@Scope/X"), "@Scope/X");
    }
}
