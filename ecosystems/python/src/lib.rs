//! The Python ecosystem of updatebot: requirements files, `pyproject.toml` (PEP 621, PEP 735,
//! Poetry, uv), `Pipfile`; PEP 440 and Poetry versioning; PEP 691/503 indexes and PyPI's JSON
//! API; hash-pinned requirements as an in-manifest lockfile.

pub mod hashes;
pub mod index;
pub mod lock;
pub mod locks;
pub mod markers;
pub mod pep440;
pub mod pipfile;
pub mod plugin;
pub mod poetry;
pub mod pyproject;
pub mod requirement;
pub mod requirements;
mod toml_util;

pub use plugin::PythonPlugin;
