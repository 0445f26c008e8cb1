//! npm lockfiles: `package-lock.json` and `npm-shrinkwrap.json` (v2, v3) kept in line natively;
//! v1, `yarn.lock` (yarn 1 and 2+) and `pnpm-lock.yaml` through their own tool, sandboxed
//! ([`tools`]); bun's need bun.

pub mod collate;
pub mod corepack;
pub mod doc;
pub mod flags;
pub mod graph;
pub mod legacy;
pub mod locked;
pub mod place;
pub mod pnpm;
pub mod rc;
pub mod tools;
pub mod transitive;
pub mod tree;
pub mod update;
pub mod yaml;
pub mod yarn;

use updatebot_core::LockfileUpdater;

/// The lockfile updaters of the npm ecosystem, tried in order.
pub fn updaters() -> Vec<Box<dyn LockfileUpdater>> {
    vec![Box::new(update::PackageLock), Box::new(update::ToolLocks)]
}
