//! Moving a package nobody in the project declares (a transitive dependency) to a newer
//! version through the lock alone, as `npm update <name>` does: every copy below the new
//! version moves where everything depending on that copy admits it, its own dependencies
//! are settled again, and a copy some dependent would not accept is refused, naming who.

use super::graph::real_name;
use super::place::Placer;
use super::tree::{folder, is_top, registry_range};
use serde_json::Value;
use updatebot_core::registry::Release;
use updatebot_core::{LockError, VersionScheme};

impl Placer<'_> {
    /// Move every copy of `package` older than `release` to it.
    pub async fn update_transitive(
        &mut self,
        package: &str,
        release: &Release,
    ) -> Result<(), LockError> {
        let npm = crate::versioning::Npm;
        let older = |v: &str| {
            npm.compare(v, &release.version)
                .map(|o| o.is_lt())
                .unwrap_or(false)
        };
        let locations: Vec<String> = self
            .packages
            .iter()
            .filter(|(location, entry)| {
                !is_top(location)
                    && entry.get("link").and_then(Value::as_bool) != Some(true)
                    && real_name(&self.packages, location) == package
            })
            .filter(|(_, entry)| {
                entry
                    .get("version")
                    .and_then(Value::as_str)
                    .is_some_and(older)
            })
            .map(|(location, _)| location.clone())
            .collect();
        if locations.is_empty() {
            let locked = self
                .packages
                .iter()
                .any(|(l, _)| !is_top(l) && real_name(&self.packages, l) == package);
            return if locked {
                Ok(())
            } else {
                Err(super::doc::failed(
                    self.lock_path,
                    format!("`{package}` is not in this lockfile"),
                ))
            };
        }
        for location in &locations {
            for (from, edge) in self.dependents_of(location) {
                let Some((_, range)) = registry_range(&edge.name, &edge.spec) else {
                    continue;
                };
                if !npm.satisfies(range, &release.version).unwrap_or(false) {
                    let who = folder(&self.packages, &from);
                    let who = if is_top(who) {
                        if who.is_empty() {
                            "package.json".to_string()
                        } else {
                            format!("{who}/package.json")
                        }
                    } else {
                        real_name(&self.packages, who).to_string()
                    };
                    return Err(super::doc::failed(
                        self.lock_path,
                        format!(
                            "{who} requires `{package}@{range}`, which does not admit {}",
                            release.version
                        ),
                    ));
                }
            }
        }
        for location in &locations {
            self.put(location, package, release)?;
        }
        self.settle(locations).await
    }
}
