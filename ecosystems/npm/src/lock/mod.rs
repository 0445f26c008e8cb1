//! npm lockfiles.

use updatebot_core::LockfileUpdater;

/// The lockfile updaters of the npm ecosystem, tried in order.
pub fn updaters() -> Vec<Box<dyn LockfileUpdater>> {
    Vec::new()
}
