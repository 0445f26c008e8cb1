//! Lockfiles updatebot cannot update yet (`pdm.lock`). Their manifests must not move
//! without them: an update of such a manifest fails with "needs <tool>", so no merge
//! request ever carries a stale lock. (`poetry.lock`, `uv.lock` and `Pipfile.lock` are
//! kept by [`crate::lock`], which comes first; these entries only catch what it does not.)

use async_trait::async_trait;
use updatebot_core::{LockError, LockRequest, LockfileUpdater};

pub const UPDATER: &str = "unsupported-lockfile";

#[derive(Clone, Copy, Debug, Default)]
pub struct UnsupportedLocks;

/// (manifest file name, lockfile name, tool)
const LOCKS: [(&str, &str, &str); 4] = [
    ("pyproject.toml", "poetry.lock", "poetry"),
    ("pyproject.toml", "uv.lock", "uv"),
    ("pyproject.toml", "pdm.lock", "pdm"),
    ("Pipfile", "Pipfile.lock", "pipenv"),
];

fn sibling(manifest_path: &str, name: &str) -> String {
    match manifest_path.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{name}"),
        None => name.to_string(),
    }
}

fn lock_of(manifest_path: &str, repo_files: &[String]) -> Option<(String, &'static str)> {
    let file = manifest_path.rsplit('/').next().unwrap_or(manifest_path);
    LOCKS.iter().find_map(|(manifest, lock, tool)| {
        let path = sibling(manifest_path, lock);
        (file == *manifest && repo_files.contains(&path)).then_some((path, *tool))
    })
}

#[async_trait]
impl LockfileUpdater for UnsupportedLocks {
    fn name(&self) -> &'static str {
        UPDATER
    }

    fn lockfile_for(
        &self,
        manifest_path: &str,
        _manifest: &str,
        repo_files: &[String],
    ) -> Option<String> {
        lock_of(manifest_path, repo_files).map(|(path, _)| path)
    }

    fn preflight(&self, lock_path: &str) -> Result<(), LockError> {
        let tool = LOCKS
            .iter()
            .find(|(_, lock, _)| lock_path.ends_with(lock))
            .map(|(_, _, tool)| *tool)
            .unwrap_or("its tool");
        Err(LockError::NeedsTool {
            lockfile: lock_path.to_string(),
            tool: tool.to_string(),
            reason: "updating this lockfile is not supported yet, so the manifest is left as it is"
                .into(),
        })
    }

    async fn update(&self, request: LockRequest<'_>) -> Result<String, LockError> {
        self.preflight(request.lock_path)
            .map(|()| request.lock_content.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_lock_beside_its_manifest() {
        let files = vec![
            "svc/pyproject.toml".to_string(),
            "svc/uv.lock".to_string(),
            "Pipfile".to_string(),
        ];
        assert_eq!(
            lock_of("svc/pyproject.toml", &files),
            Some(("svc/uv.lock".to_string(), "uv"))
        );
        assert_eq!(lock_of("Pipfile", &files), None);
        assert_eq!(lock_of("pyproject.toml", &files), None);
    }
}
