//! Configuration: the per-repository `.updatebot.yml` and the operator config.
//!
//! - [`parse_repo_config`] reads `.updatebot.yml`, which takes Dependabot's
//!   `dependabot.yml` version-2 vocabulary (plus GitLab spellings such as
//!   `open-merge-requests-limit`). A repository may name registry hosts but never
//!   credentials.
//! - [`load_operator_config`] reads the operator's file (`--config`): registries with the
//!   names of the environment variables or files holding their secrets, defaults for every
//!   repository entry, and HTTP settings. Secrets are read at load time into [`Secret`].
//! - [`effective_entries`] puts a repository's entries over the operator defaults and
//!   resolves the registries each entry names.
//!
//! Every function reports all problems it finds, each with its 1-based line and column,
//! in a [`ConfigErrors`]; none panics on any input.

pub mod edit;
mod enums;
mod fleet;
pub mod keys;
mod merge;
mod operator;
mod problem;
mod registry;
mod repo;
mod rules;
mod settings;
mod walk;
mod yaml;

pub use enums::{
    AllowDependencyType, AppliesTo, BranchSeparator, CommitMessageInclude, Ecosystem,
    GroupDependencyType, IgnoreUpdateType, InsecureExternalCodeExecution, Interval,
    PackageEcosystem, RebaseStrategy, RegistryKind, SemverLevel, VersioningStrategy, Weekday,
    UNSUPPORTED_DEPENDABOT_ECOSYSTEMS, UNSUPPORTED_DEPENDABOT_REGISTRY_TYPES,
};
pub use fleet::{
    BotSettings, Budgets, ClosedMergeRequest, FleetGroup, FleetSettings, GitlabSettings,
};
pub use merge::{
    effective_entries, EffectiveSecurity, EffectiveUpdate, RegistryOrigin, ResolvedRegistry,
    DEFAULT_OPEN_LIMIT, DEFAULT_SECURITY_OPEN_LIMIT,
};
pub use operator::{
    load_operator_config, Credentials, HttpSettings, OperatorConfig, OperatorRegistry, Secret,
};
pub use problem::{ConfigErrors, Problem};
pub use repo::{parse_repo_config, RepoConfig, RepoRegistry, UpdateEntry};
pub use rules::RepoPath;
pub use settings::{
    AllowRule, CommitMessage, Cooldown, Group, IgnoreRule, Milestone, RegistryRef,
    RegistrySelection, Schedule, SecurityUpdates, TimeOfDay, UpdateSettings,
};

/// The file name updatebot reads in each repository.
pub const REPO_CONFIG_FILE: &str = ".updatebot.yml";

#[cfg(test)]
mod tests;
