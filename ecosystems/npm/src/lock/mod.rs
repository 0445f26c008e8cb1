//! npm lockfiles: `package-lock.json` and `npm-shrinkwrap.json` (v2, v3) kept in line natively;
//! the others (v1, `yarn.lock`, `pnpm-lock.yaml`, bun's) need their tool.

pub mod collate;
pub mod doc;
pub mod flags;
pub mod graph;
pub mod legacy;
pub mod locked;
pub mod place;
pub mod transitive;
pub mod tree;
pub mod update;

use updatebot_core::LockfileUpdater;

/// The lockfile updaters of the npm ecosystem, tried in order.
pub fn updaters() -> Vec<Box<dyn LockfileUpdater>> {
    vec![Box::new(update::PackageLock), Box::new(update::ToolLocks)]
}
