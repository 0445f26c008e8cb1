//! Every key the configuration accepts, listed once.
//!
//! The parser checks mappings against these lists and the JSON schema test checks that
//! `config/updatebot.schema.json` describes exactly the same keys.

/// Top level of `.updatebot.yml`.
pub const TOP_KEYS: &[&str] = &["version", "updates", "registries", "enable-beta-ecosystems"];

/// `registries.<name>` in `.updatebot.yml` (hosts only, never credentials).
pub const REPO_REGISTRY_KEYS: &[&str] = &["type", "url", "replaces-base"];

/// Credential keys Dependabot allows in `registries.<name>`; refused in a repository.
pub const CREDENTIAL_KEYS: &[&str] = &[
    "username",
    "password",
    "token",
    "key",
    "auth-key",
    "public-key-fingerprint",
];

/// `updates[]` keys that name where to look; not allowed in operator defaults.
pub const ENTRY_KEYS: &[&str] = &["package-ecosystem", "directory", "directories"];

/// `updates[]` keys that are settings; also allowed in the operator's `defaults`.
pub const SETTINGS_KEYS: &[&str] = &[
    "exclude-paths",
    "schedule",
    "allow",
    "ignore",
    "groups",
    "labels",
    "assignees",
    "reviewers",
    "milestone",
    OPEN_LIMIT,
    OPEN_LIMIT_GITLAB,
    "versioning-strategy",
    "commit-message",
    "target-branch",
    "registries",
    "cooldown",
    "rebase-strategy",
    BRANCH_NAME,
    BRANCH_NAME_GITLAB,
    "insecure-external-code-execution",
    "vendor",
    SECURITY_UPDATES,
    PIN_DIGESTS,
];

pub const OPEN_LIMIT: &str = "open-pull-requests-limit";
pub const OPEN_LIMIT_GITLAB: &str = "open-merge-requests-limit";
pub const BRANCH_NAME: &str = "pull-request-branch-name";
pub const BRANCH_NAME_GITLAB: &str = "merge-request-branch-name";
pub const SECURITY_UPDATES: &str = "security-updates";
/// Renovate's `pinDigests`: container references without a digest get their tag's digest.
pub const PIN_DIGESTS: &str = "pin-digests";

/// All keys of an `updates[]` entry.
pub fn update_keys() -> Vec<&'static str> {
    ENTRY_KEYS.iter().chain(SETTINGS_KEYS).copied().collect()
}

pub const SCHEDULE_KEYS: &[&str] = &["interval", "day", "time", "timezone", "cronjob"];
pub const ALLOW_KEYS: &[&str] = &["dependency-name", "dependency-type"];
pub const IGNORE_KEYS: &[&str] = &["dependency-name", "versions", "update-types"];
pub const GROUP_KEYS: &[&str] = &[
    "applies-to",
    "dependency-type",
    "patterns",
    "exclude-patterns",
    "update-types",
];
pub const COMMIT_MESSAGE_KEYS: &[&str] = &["prefix", "prefix-development", "include"];
pub const COOLDOWN_KEYS: &[&str] = &[
    "default-days",
    "semver-major-days",
    "semver-minor-days",
    "semver-patch-days",
    "digest-settle-hours",
    "include",
    "exclude",
];
pub const BRANCH_NAME_KEYS: &[&str] = &["separator"];
/// `security-updates` of an entry: merge requests for vulnerable locked versions.
pub const SECURITY_KEYS: &[&str] = &["enabled", OPEN_LIMIT, OPEN_LIMIT_GITLAB, "cooldown"];

/// Top level of the operator config.
pub const OPERATOR_TOP_KEYS: &[&str] = &[
    "registries",
    "defaults",
    "http",
    "gitlab",
    "fleet",
    "bot",
    "lockfiles",
];
/// `lockfiles` in the operator config: one entry per kind of lockfile.
/// `yarn.lock` is yarn 1's lock; `yarn-berry` the `yarn.lock` of yarn 2 and later;
/// `package-lock.json` covers `npm-shrinkwrap.json` too.
pub const LOCKFILE_KINDS: &[&str] = &[
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
    "pip-compile",
    "yarn.lock",
    "yarn-berry",
    "pnpm-lock.yaml",
    "package-lock.json",
    "corepack",
];
/// `lockfiles.<kind>` in the operator config.
pub const LOCKFILE_KEYS: &[&str] = &[
    "engine",
    "tool",
    "timeout-seconds",
    "insecure-external-code-execution",
    "integrity-keys",
];

/// `gitlab` in the operator config.
pub const GITLAB_KEYS: &[&str] = &["url", "token-env", "token-file"];
/// `fleet` in the operator config.
pub const FLEET_KEYS: &[&str] = &["projects", "groups", "discover", "concurrency"];
/// `fleet.groups[]` when written as a mapping.
pub const FLEET_GROUP_KEYS: &[&str] = &["path", "include-subgroups", "topics"];
/// `bot` in the operator config.
pub const BOT_KEYS: &[&str] = &[
    "schedule",
    "timezone",
    "branch-prefix",
    "ci-label",
    "closed-merge-request",
    "remove-source-branch",
    "squash",
    "rebase-limit",
    "dashboard",
    "dashboard-title",
    "check-ci",
    "budgets",
    "persist-ignores",
];
/// `bot.budgets` in the operator config.
pub const BUDGET_KEYS: &[&str] = &[
    "opened-per-run",
    "updated-per-run",
    "opened-per-project-per-day",
];
/// `registries.<name>` in the operator config.
pub const OPERATOR_REGISTRY_KEYS: &[&str] = &[
    "type",
    "url",
    "replaces-base",
    "username",
    "username-env",
    "username-file",
    "password-env",
    "password-file",
    "token-env",
    "token-file",
    DOCKER_CONFIG_FILE,
];
/// An operator `docker-registry`'s credentials from a Docker `config.json` (`auths`).
pub const DOCKER_CONFIG_FILE: &str = "docker-config-file";
pub const HTTP_KEYS: &[&str] = &[
    "timeout-seconds",
    "connect-timeout-seconds",
    "retries",
    "max-retry-wait-seconds",
    "per-host-concurrency",
    "circuit-breaker-failures",
    "circuit-breaker-seconds",
    "cache-dir",
];
