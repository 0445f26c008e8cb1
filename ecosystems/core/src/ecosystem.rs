//! The ecosystems updatebot knows.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A package ecosystem. Names follow Dependabot's `package-ecosystem` vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Ecosystem {
    /// PyPI packages (pip, uv, poetry, pipenv).
    #[serde(rename = "pip")]
    Python,
    /// npm packages.
    #[serde(rename = "npm")]
    Npm,
    /// Container images.
    #[serde(rename = "docker")]
    Docker,
}

impl Ecosystem {
    /// The name used in configuration, branch names and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Python => "pip",
            Ecosystem::Npm => "npm",
            Ecosystem::Docker => "docker",
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
