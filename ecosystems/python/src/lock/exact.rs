//! Whether a native lock edit is exact for the rest of the lock: every other locked package
//! that depends on the updated one must admit its new version, under any marker or extra
//! (one environment whose requirement excludes it is enough for the tool to resolve
//! differently). The updated package's own dependencies are checked elsewhere
//! ([`super::requires`]).
//!
//! `poetry.lock` records each dependent's constraints (Poetry syntax) in its
//! `[package.dependencies]`; `uv.lock` records only names, so the constraints come from the
//! dependents' own wheel metadata (`Requires-Dist`) at their locked versions.

use super::metadata::MetadataCache;
use crate::requirement::{normalize_name, parse_requirement};
use updatebot_core::{LockRequest, VersionScheme};

/// Which lock the dependents are read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lock {
    Poetry,
    Uv,
}

fn admits(scheme: &dyn VersionScheme, range: &str, version: &str) -> Result<bool, String> {
    let range = range.trim();
    if range.is_empty() || range == "*" {
        return Ok(true);
    }
    scheme
        .satisfies(range, version)
        .map_err(|e| format!("cannot read the requirement `{range}`: {e}"))
}

/// `Err(reason)` when a locked package's requirement on `package` excludes `new_version`
/// (or cannot be read).
pub(crate) async fn dependents_admit(
    cache: &MetadataCache,
    request: &LockRequest<'_>,
    lock: Lock,
    text: &str,
    package: &str,
    new_version: &str,
) -> Result<(), String> {
    let path = request.lock_path;
    let wanted = normalize_name(package);
    let not_exact = |who: &str, version: &str, range: &str| {
        format!(
            "not exact: {who} {version} (locked) requires {wanted} `{range}`, which {new_version} does not satisfy, so the tool would move other locked packages or fail"
        )
    };
    match lock {
        Lock::Poetry => {
            let dependents =
                super::graph::poetry_dependents(path, text, &wanted).map_err(|e| e.to_string())?;
            for d in dependents {
                let range = d.range.unwrap_or_default();
                if !admits(&crate::poetry::Poetry, &range, new_version)? {
                    return Err(not_exact(&d.name, &d.version, &range));
                }
            }
        }
        Lock::Uv => {
            let dependents =
                super::graph::uv_dependents(path, text, &wanted).map_err(|e| e.to_string())?;
            let http = request
                .lookup
                .http()
                .ok_or_else(|| "no HTTP client to read release metadata".to_string())?;
            for d in dependents {
                if d.project {
                    // The project's own requirement, as the lock records it (edited already).
                    for range in d.range.iter().flat_map(|r| r.split(',')) {
                        if !admits(&crate::pep440::Pep440, range, new_version)? {
                            return Err(not_exact("the project", &d.version, range));
                        }
                    }
                    continue;
                }
                let releases = request
                    .lookup
                    .releases(&d.name)
                    .await
                    .map_err(|e| format!("cannot look up {} (a dependent): {e}", d.name))?;
                let release = releases
                    .releases
                    .iter()
                    .find(|r| super::versions_equal(&r.version, &d.version))
                    .ok_or_else(|| {
                        format!(
                            "the index no longer lists {} {}, which depends on {wanted}",
                            d.name, d.version
                        )
                    })?;
                let meta = cache.get(&http, &d.name, release).await?;
                for line in &meta.requires_dist {
                    let Ok(req) = parse_requirement(line) else {
                        return Err(format!("cannot read `{line}` of {} {}", d.name, d.version));
                    };
                    if normalize_name(&req.name) != wanted {
                        continue;
                    }
                    let range = req.specifier.map(|(s, _, _)| s).unwrap_or_default();
                    if !admits(&crate::pep440::Pep440, &range, new_version)? {
                        return Err(not_exact(&d.name, &d.version, &range));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_admit_or_not() {
        let p = &crate::poetry::Poetry;
        assert!(admits(p, "*", "3.0.5").unwrap());
        assert!(admits(p, ">=2.0.2,!=3.0.5", "3.0.6").unwrap());
        assert!(!admits(p, ">=2.0.2,!=3.0.5", "3.0.5").unwrap());
        assert!(!admits(&crate::pep440::Pep440, "<2", "2.0.0").unwrap());
        assert!(admits(&crate::pep440::Pep440, "", "2.0.0").unwrap());
        assert!(admits(p, "not a range", "1").is_err());
    }
}
