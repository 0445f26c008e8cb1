//! yarn.lock (yarn 1 and yarn 4), pnpm-lock.yaml and package-lock.json v1 updated through
//! the real tools, end to end against the two verdaccio registries (main, and the
//! token-protected `@acme` scope). Each case under `fixtures/npm/<case>/` is updated by
//! `updatebot update` and compared with its `out/` tree; then the tool itself is the oracle:
//!
//! * it accepts the lock as it is (`yarn install --frozen-lockfile`, `yarn install
//!   --immutable --mode=skip-build`, `pnpm install --frozen-lockfile --lockfile-only`,
//!   `npm ci --dry-run` and `npm ls`);
//! * the lock is byte for byte what the tool writes itself for the same manual update (the
//!   edited `package.json` files, or `yarn upgrade` / `pnpm update --no-save` for a
//!   lockfile-only update: the fixture's `tool-oracle` file);
//! * no lifecycle script ran: every fixture's `package.json` has `preinstall`, `postinstall`
//!   and `prepare` scripts touching a marker file (and the yarn 4 case a `yarnPath` release
//!   that would write it), which must not exist afterwards.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

struct Env {
    registry: String,
    scoped: String,
    token: String,
    bin: String,
    yarn: String,
    yarn_berry: String,
    pnpm: String,
    npm: String,
    corepack: String,
}

fn env() -> Option<Env> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let all = (|| {
        Some(Env {
            registry: var("UPDATEBOT_TEST_NPM_REGISTRY")?,
            scoped: var("UPDATEBOT_TEST_NPM_SCOPED_REGISTRY")?,
            token: var("UPDATEBOT_TEST_NPM_SCOPED_TOKEN")?,
            bin: var("UPDATEBOT_TEST_NPM_BIN")?,
            yarn: var("UPDATEBOT_TEST_YARN")?,
            yarn_berry: var("UPDATEBOT_TEST_YARN_BERRY")?,
            pnpm: var("UPDATEBOT_TEST_PNPM")?,
            npm: var("UPDATEBOT_TEST_NPM")?,
            corepack: var("UPDATEBOT_TEST_COREPACK")?,
        })
    })();
    if all.is_none() {
        assert!(
            std::env::var_os("UPDATEBOT_REQUIRE_SERVICES").is_none(),
            "the npm registries and tools are not there: run the tests through scripts/test.sh"
        );
        eprintln!("skipped: no local npm registries and tools (run scripts/test.sh)");
    }
    all
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tool {
    Yarn,
    YarnBerry,
    Pnpm,
    Npm,
}

impl Tool {
    fn lock(&self) -> &'static str {
        match self {
            Tool::Yarn | Tool::YarnBerry => "yarn.lock",
            Tool::Pnpm => "pnpm-lock.yaml",
            Tool::Npm => "package-lock.json",
        }
    }

    /// What the tool does for a manual update (the edited manifests in place).
    fn manual(&self) -> &'static [&'static str] {
        match self {
            Tool::Yarn => &[
                "install",
                "--ignore-scripts",
                "--no-bin-links",
                "--non-interactive",
            ],
            Tool::YarnBerry => &["install", "--mode=update-lockfile"],
            Tool::Pnpm => &[
                "install",
                "--lockfile-only",
                "--ignore-scripts",
                "--config.manage-package-manager-versions=false",
            ],
            Tool::Npm => &[
                "install",
                "--package-lock-only",
                "--ignore-scripts",
                "--lockfile-version=1",
            ],
        }
    }

    /// Commands that must succeed on the updated lock without changing it.
    fn accept(&self) -> Vec<&'static [&'static str]> {
        match self {
            Tool::Yarn => vec![&[
                "install",
                "--frozen-lockfile",
                "--ignore-scripts",
                "--no-bin-links",
                "--non-interactive",
            ]],
            // `--immutable` refuses `--mode=update-lockfile`: this fetches and links (no
            // builds), failing if the lock would change.
            Tool::YarnBerry => vec![&["install", "--immutable", "--mode=skip-build"]],
            Tool::Pnpm => vec![&[
                "install",
                "--frozen-lockfile",
                "--lockfile-only",
                "--ignore-scripts",
                "--config.manage-package-manager-versions=false",
            ]],
            Tool::Npm => vec![
                &["ci", "--ignore-scripts", "--dry-run"],
                &["ls", "--all", "--package-lock-only"],
            ],
        }
    }
}

impl Env {
    fn program(&self, tool: Tool) -> &str {
        match tool {
            Tool::Yarn => &self.yarn,
            Tool::YarnBerry => &self.yarn_berry,
            Tool::Pnpm => &self.pnpm,
            Tool::Npm => &self.npm,
        }
    }

    fn fill(&self, text: &str, marker: &Path) -> String {
        text.replace("@@NPM_SCOPED@@/", &self.scoped)
            .replace("@@NPM@@/", &self.registry)
            .replace("@@MARKER@@", &marker.display().to_string())
    }

    fn unfill(&self, text: &str, marker: &Path) -> String {
        text.replace(&marker.display().to_string(), "@@MARKER@@")
            .replace(&self.scoped, "@@NPM_SCOPED@@/")
            .replace(&self.registry, "@@NPM@@/")
    }

    fn copy(&self, from: &Path, to: &Path, marker: &Path) {
        for file in files(from) {
            let target = to.join(&file);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            let text = std::fs::read_to_string(from.join(&file)).unwrap();
            std::fs::write(target, self.fill(&text, marker)).unwrap();
        }
    }

    /// The operator config of the cases: both registries, every tool, and corepack. Its
    /// `integrity-keys: "0"` turns off corepack's signature check, because the npm registry
    /// the local one was seeded from strips npm's signatures (corepack would refuse every
    /// release with "No compatible signature found"); a `+sha512` hash in `packageManager`
    /// is still checked.
    fn operator_config(&self, dir: &Path) -> PathBuf {
        self.operator_config_with(dir, true)
    }

    fn operator_config_with(&self, dir: &Path, corepack: bool) -> PathBuf {
        std::fs::write(dir.join("scoped-token"), format!("{}\n", self.token)).unwrap();
        let path = dir.join("operator.yml");
        let mut text = format!(
            "registries:\n  npm-main:\n    type: npm-registry\n    url: {}\n    replaces-base: true\n  npm-acme:\n    type: npm-registry\n    url: {}\n    token-file: scoped-token\nlockfiles:\n  yarn.lock: {{tool: {}}}\n  yarn-berry: {{tool: {}}}\n  pnpm-lock.yaml: {{tool: {}}}\n  package-lock.json: {{tool: {}}}\n",
            self.registry, self.scoped, self.yarn, self.yarn_berry, self.pnpm, self.npm
        );
        if corepack {
            text.push_str(&format!(
                "  corepack: {{tool: {}, integrity-keys: \"0\"}}\n",
                self.corepack
            ));
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A home for the oracle runs: the registries and the scope's token, as a user would
    /// configure them.
    fn oracle_home(&self, dir: &Path) -> PathBuf {
        let home = dir.join("oracle-home");
        std::fs::create_dir_all(&home).unwrap();
        let scoped_dart = self.scoped.trim_start_matches("http:");
        std::fs::write(
            home.join(".npmrc"),
            format!(
                "registry={}\n@acme:registry={}\n{scoped_dart}:_authToken={}\nfund=false\naudit=false\nupdate-notifier=false\n",
                self.registry, self.scoped, self.token
            ),
        )
        .unwrap();
        let server = |u: &str| u.trim_end_matches('/').to_string();
        std::fs::write(
            home.join(".yarnrc.yml"),
            format!(
                "npmRegistryServer: \"{}\"\nunsafeHttpWhitelist: [\"127.0.0.1\"]\nnpmMinimalAgeGate: 0\nnpmScopes:\n  acme:\n    npmRegistryServer: \"{}\"\n    npmMinimalAgeGate: 0\nnpmRegistries:\n  \"{}\":\n    npmAuthToken: \"{}\"\n",
                server(&self.registry),
                server(&self.scoped),
                server(&self.scoped),
                self.token
            ),
        )
        .unwrap();
        home
    }

    /// Run `tool ARGS` in `dir` as a user would, with scripts off.
    fn run(&self, tool: Tool, home: &Path, dir: &Path, args: &[&str]) -> (bool, String) {
        self.run_as(tool, None, home, dir, args)
    }

    /// [`Env::run`], or with `pin` (`pnpm@8.15.9`) that release run through corepack, which
    /// fetches it from the local registry into `home`.
    fn run_as(
        &self,
        tool: Tool,
        pin: Option<&str>,
        home: &Path,
        dir: &Path,
        args: &[&str],
    ) -> (bool, String) {
        let mut command = match pin {
            Some(pin) => {
                let mut c = Command::new(&self.corepack);
                c.arg(pin);
                c
            }
            None => Command::new(self.program(tool)),
        };
        command.args(args).current_dir(dir).env_clear();
        if pin.is_some() {
            command
                .env("COREPACK_HOME", home.join("corepack"))
                .env("COREPACK_ENABLE_DOWNLOAD_PROMPT", "0")
                .env("COREPACK_ENABLE_AUTO_PIN", "0")
                // the seeded registry has no npm signatures (see `operator_config`)
                .env("COREPACK_INTEGRITY_KEYS", "0")
                .env("COREPACK_NPM_REGISTRY", self.registry.trim_end_matches('/'));
        }
        let out = command
            .env("PATH", format!("{}:/usr/local/bin:/usr/bin:/bin", self.bin))
            .env("HOME", home)
            .env("YARN_ENABLE_SCRIPTS", "false")
            .env("YARN_IGNORE_PATH", "1")
            .env("YARN_ENABLE_TELEMETRY", "false")
            .env("COREPACK_ENABLE_STRICT", "0")
            .output()
            .expect("the tool runs");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

fn run_case(name: &str, tool: Tool) {
    run_case_as(name, tool, None);
}

/// A case whose `package.json` pins `pin` in `packageManager`: updatebot and the oracle runs
/// both use that release through corepack (updatebot with a fresh cache).
fn run_case_as(name: &str, tool: Tool, pin: Option<&str>) {
    let Some(env) = env() else { return };
    let case = repo_root().join("fixtures/npm").join(name);
    let work = tempfile::tempdir().unwrap();
    let marker = work.path().join("lifecycle-script-ran");
    let tree = work.path().join("repo");
    env.copy(&case.join("in"), &tree, &marker);
    let config = env.operator_config(work.path());
    let cache = work.path().join("cache");
    let started = std::time::Instant::now();
    let output = updatebot_env(
        &[
            "update",
            tree.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ],
        &[("XDG_CACHE_HOME", &cache)],
    );
    let elapsed = started.elapsed();
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        stdout(&output),
        stderr(&output)
    );
    eprintln!("{name}: updatebot update took {elapsed:?}");
    assert!(
        !marker.exists(),
        "a lifecycle script (or yarnPath) ran during the update"
    );
    // Compare with out/, addresses put back to placeholders.
    let actual = work.path().join("actual");
    for file in files(&tree) {
        let target = actual.join(&file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(
            target,
            env.unfill(&std::fs::read_to_string(tree.join(&file)).unwrap(), &marker),
        )
        .unwrap();
    }
    assert_same_tree(&case.join("out"), &actual);

    if let Some((name, version)) = pin.and_then(|p| p.split_once('@')) {
        // corepack fetched the release into the bot's cache (`$XDG_CACHE_HOME/updatebot`).
        let fetched = cache.join("updatebot/corepack/v1").join(name).join(version);
        assert!(fetched.is_dir(), "{} is not there", fetched.display());
    }
    let home = env.oracle_home(work.path());
    if pin.is_some_and(|p| p.starts_with("yarn@3.")) {
        // yarn 3 refuses settings it does not know (the age gate came with yarn 4.10).
        let rc = std::fs::read_to_string(home.join(".yarnrc.yml")).unwrap();
        let rc: String = rc
            .lines()
            .filter(|l| !l.contains("npmMinimalAgeGate"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(home.join(".yarnrc.yml"), rc).unwrap();
    }
    let lock = |dir: &Path| std::fs::read_to_string(dir.join(tool.lock())).unwrap();
    // The tool accepts the lock as it is.
    let check = work.path().join("check");
    env.copy(&case.join("out"), &check, &marker);
    for args in tool.accept() {
        let (ok, log) = env.run_as(tool, pin, &home, &check, args);
        assert!(ok, "{tool:?} {args:?} refused the lock:\n{log}");
        assert_eq!(
            lock(&check),
            lock(&tree),
            "{tool:?} {args:?} changed the lock"
        );
    }
    // The tool's own lock for the same update is the same file.
    let theirs = work.path().join("theirs");
    env.copy(&case.join("in"), &theirs, &marker);
    for file in files(&tree)
        .into_iter()
        .filter(|f| f.ends_with("package.json"))
    {
        std::fs::copy(tree.join(&file), theirs.join(&file)).unwrap();
    }
    let oracle = std::fs::read_to_string(case.join("tool-oracle")).ok();
    let args: Vec<&str> = match &oracle {
        Some(text) => text.split_whitespace().collect(),
        None => tool.manual().to_vec(),
    };
    let (ok, log) = env.run_as(tool, pin, &home, &theirs, &args);
    assert!(ok, "{tool:?} {args:?} failed:\n{log}");
    assert_eq!(
        env.unfill(&lock(&tree), &marker),
        env.unfill(&lock(&theirs), &marker),
        "ours (left) differs from {tool:?}'s own lock (right)"
    );
    assert!(!marker.exists(), "a lifecycle script ran in an oracle run");
}

#[test]
fn yarn_classic_bump() {
    run_case("yarn_classic_bump", Tool::Yarn);
}

#[test]
fn yarn_classic_in_range_update() {
    run_case("yarn_classic_in_range_update", Tool::Yarn);
}

#[test]
fn yarn_classic_workspace_member() {
    run_case("yarn_classic_workspace_member", Tool::Yarn);
}

#[test]
fn yarn_scoped_package_from_a_second_registry() {
    run_case("yarn_scoped_package_from_a_second_registry", Tool::Yarn);
}

#[test]
fn yarn_berry_bump() {
    run_case("yarn_berry_bump", Tool::YarnBerry);
}

#[test]
fn yarn_berry_in_range_update() {
    run_case("yarn_berry_in_range_update", Tool::YarnBerry);
}

#[test]
fn yarn_berry_workspace_member() {
    run_case("yarn_berry_workspace_member", Tool::YarnBerry);
}

#[test]
fn pnpm_bump() {
    run_case("pnpm_bump", Tool::Pnpm);
}

#[test]
fn pnpm_in_range_update() {
    run_case("pnpm_in_range_update", Tool::Pnpm);
}

#[test]
fn pnpm_workspace_member() {
    run_case("pnpm_workspace_member", Tool::Pnpm);
}

#[test]
fn pnpm_scoped_package_from_a_second_registry() {
    run_case("pnpm_scoped_package_from_a_second_registry", Tool::Pnpm);
}

/// `packageManager: pnpm@8.15.9` beside the env's pnpm 10: the lock stays pnpm 8's
/// `lockfileVersion: '6.0'` (pnpm 10 rewrites it as 9.0, see
/// `corepack_failures_say_which_release_is_needed`), is what pnpm 8 writes itself, and pnpm
/// 8's frozen install accepts it.
#[test]
fn pnpm_pinned_release_through_corepack() {
    run_case_as(
        "pnpm_corepack_pinned_release",
        Tool::Pnpm,
        Some("pnpm@8.15.9"),
    );
    let out = repo_root().join("fixtures/npm/pnpm_corepack_pinned_release/out/pnpm-lock.yaml");
    let lock = std::fs::read_to_string(out).unwrap();
    assert!(lock.starts_with("lockfileVersion: '6.0'\n"), "{lock}");
}

/// `packageManager: yarn@3.8.7` beside the env's yarn 4: the lock stays yarn 3's format
/// (`__metadata.version: 6`, `cacheKey: 8`; yarn 4 writes 8 and 10c0) and yarn 3 accepts it.
#[test]
fn yarn_berry_pinned_release_through_corepack() {
    run_case_as(
        "yarn_berry_corepack_pinned_release",
        Tool::YarnBerry,
        Some("yarn@3.8.7"),
    );
    let out = repo_root().join("fixtures/npm/yarn_berry_corepack_pinned_release/out/yarn.lock");
    let lock = std::fs::read_to_string(out).unwrap();
    assert!(
        lock.contains("__metadata:\n  version: 6\n  cacheKey: 8\n"),
        "{lock}"
    );
}

/// What keeps a pinned release from running is named and nothing is written: a wrong
/// `+sha512` hash (corepack refuses the download, even with the release already in the
/// bot's cache from an unhashed pin), and a pinned release with no corepack configured,
/// both "needs pnpm@8.15.9"; a `packageManager` naming another tool (`npm@…` on a pnpm
/// lock) is reported and the configured pnpm does the update.
#[test]
fn corepack_failures_say_which_release_is_needed() {
    let Some(env) = env() else { return };
    let work = tempfile::tempdir().unwrap();
    let marker = work.path().join("lifecycle-script-ran");
    let fixtures = repo_root().join("fixtures/npm");
    let pinned = fixtures.join("pnpm_corepack_pinned_release/in");
    let bad_hash = format!("pnpm@8.15.9+sha512.{}", "0".repeat(128));
    // One bot cache for all: `good` puts pnpm 8.15.9 in it.
    let cache = work.path().join("cache");
    let cases = [
        ("good", &pinned, None, true),
        ("bad-hash", &pinned, Some(bad_hash.as_str()), true),
        ("no-corepack", &pinned, None, false),
        (
            "other-tool",
            &fixtures.join("pnpm_bump/in"),
            Some("npm@11.21.2"),
            true,
        ),
    ];
    for (project, from, manager, with_corepack) in cases {
        let tree = work.path().join(project).join("repo");
        env.copy(from, &tree, &marker);
        if let Some(manager) = manager {
            let manifest = std::fs::read_to_string(tree.join("package.json")).unwrap();
            let edited = manifest
                .lines()
                .map(|l| {
                    if l.contains("\"packageManager\"") {
                        format!("  \"packageManager\": \"{manager}\",\n")
                    } else {
                        format!("{l}\n")
                    }
                })
                .collect::<String>();
            assert_ne!(manifest, edited);
            std::fs::write(tree.join("package.json"), edited).unwrap();
        }
        let before = work.path().join(project).join("before");
        copy_tree(&tree, &before);
        let config = env.operator_config_with(&work.path().join(project), with_corepack);
        let output = updatebot_env(
            &[
                "update",
                tree.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
            ],
            &[("XDG_CACHE_HOME", &cache)],
        );
        let all = format!("{}{}", stdout(&output), stderr(&output));
        if project == "good" {
            assert_eq!(output.status.code(), Some(0), "{all}");
            assert!(cache.join("updatebot/corepack/v1/pnpm/8.15.9").is_dir());
            continue;
        }
        if project == "other-tool" {
            assert_eq!(output.status.code(), Some(0), "{all}");
            assert!(
                all.contains("`packageManager` names npm, not pnpm: not used for the lock"),
                "{all}"
            );
            assert_eq!(
                env.unfill(
                    &std::fs::read_to_string(tree.join("pnpm-lock.yaml")).unwrap(),
                    &marker
                ),
                std::fs::read_to_string(fixtures.join("pnpm_bump/out/pnpm-lock.yaml")).unwrap()
            );
            continue;
        }
        assert_eq!(output.status.code(), Some(1), "{project}: {all}");
        assert!(all.contains("needs pnpm@8.15.9"), "{project}: {all}");
        let why = if with_corepack {
            "which corepack could not obtain: `"
        } else {
            "no corepack is set"
        };
        assert!(all.contains(why), "{project}: {all}");
        if project == "bad-hash" {
            assert!(
                all.contains("Error: Mismatch hashes. Expected 0000"),
                "{all}"
            );
        }
        for file in files(&before) {
            assert_eq!(
                std::fs::read_to_string(before.join(&file)).unwrap(),
                std::fs::read_to_string(tree.join(&file)).unwrap(),
                "{project}/{file} changed"
            );
        }
    }
    assert!(!marker.exists());
}

#[test]
fn npm_lockfile_v1() {
    run_case("npm_lockfile_v1", Tool::Npm);
}

/// A v3 lock the native engine refuses (the new debug needs an `ms` that `overrides` pins):
/// npm itself updates it (`engine: auto`).
#[test]
fn npm_overridden_package_through_npm() {
    run_case("npm_overridden_package_through_npm", Tool::Npm);
}

#[test]
fn npm_lockfile_v1_in_range_update() {
    run_case("npm_lockfile_v1_in_range_update", Tool::Npm);
}

/// What goes wrong is named and stays contained: in one repository, a yarn 1 project whose
/// yarn is missing, a pnpm project whose pnpm fails (printing its environment and its
/// `~/.npmrc`, which holds the scoped registry's token), a project whose `yarn.lock` is not a
/// lockfile, a yarn 2 lock that yarn 4 would rewrite in its newer format, and an npm project
/// that updates natively. The first four fail naming their lock and keep their manifest and
/// lock as they were (no edit without its lock); the npm one is updated; the exit code says
/// something failed; the token and the caller's environment never reach the tool or the
/// output.
#[test]
fn tool_errors_name_the_lock_and_the_run_goes_on() {
    let Some(env) = env() else { return };
    let work = tempfile::tempdir().unwrap();
    let marker = work.path().join("lifecycle-script-ran");
    let tree = work.path().join("repo");
    let fixtures = repo_root().join("fixtures/npm");
    env.copy(
        &fixtures.join("yarn_classic_bump/in"),
        &tree.join("missing"),
        &marker,
    );
    env.copy(
        &fixtures.join("pnpm_scoped_package_from_a_second_registry/in"),
        &tree.join("failing"),
        &marker,
    );
    env.copy(
        &fixtures.join("yarn_classic_bump/in"),
        &tree.join("malformed"),
        &marker,
    );
    std::fs::write(
        tree.join("malformed/yarn.lock"),
        "# yarn lockfile v1\n\ndebug@4.3.4:\n  version \"4.3.4\"\n\"unterminated:\n  version\n",
    )
    .unwrap();
    // A yarn 2 lock (format 6) that yarn 4 would rewrite in its own format.
    env.copy(
        &fixtures.join("yarn_berry_bump/in"),
        &tree.join("older"),
        &marker,
    );
    let lock = std::fs::read_to_string(tree.join("older/yarn.lock")).unwrap();
    let lock = lock.replacen(
        "__metadata:\n  version: 10\n",
        "__metadata:\n  version: 6\n",
        1,
    );
    assert!(lock.contains("  version: 6\n"));
    std::fs::write(tree.join("older/yarn.lock"), lock).unwrap();
    env.copy(
        &fixtures.join("npm_patch_bump_keeps_the_rest/in"),
        &tree.join("native"),
        &marker,
    );
    let before = work.path().join("before");
    copy_tree(&tree, &before);

    let fake_pnpm = work.path().join("fake-pnpm");
    std::fs::write(
        &fake_pnpm,
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 10.34.9; exit 0; fi\nenv >&2\ncat \"$HOME/.npmrc\" >&2\necho 'ERR_PNPM_FAKE the registry said no' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake_pnpm, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(work.path().join("scoped-token"), format!("{}\n", env.token)).unwrap();
    let config = work.path().join("operator.yml");
    std::fs::write(
        &config,
        format!(
            "registries:\n  npm-main:\n    type: npm-registry\n    url: {}\n    replaces-base: true\n  npm-acme:\n    type: npm-registry\n    url: {}\n    token-file: scoped-token\nlockfiles:\n  yarn.lock: {{tool: {}}}\n  pnpm-lock.yaml: {{tool: {}}}\n  yarn-berry: {{tool: {}}}\n",
            env.registry,
            env.scoped,
            work.path().join("no-such-yarn").display(),
            fake_pnpm.display(),
            env.yarn_berry
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_updatebot"))
        .args(["update", tree.to_str().unwrap(), "--config"])
        .arg(&config)
        .env_remove("UPDATEBOT_LOG")
        .env("GITLAB_TOKEN", "caller-secret-gitlab-token")
        .env("UPDATEBOT_TEST_SENTINEL", "caller-environment-leaked")
        .output()
        .unwrap();
    let all = format!("{}{}", stdout(&output), stderr(&output));
    assert_eq!(output.status.code(), Some(1), "{all}");
    for needle in [
        "missing/yarn.lock",
        "needs yarn",
        "failing/pnpm-lock.yaml",
        "ERR_PNPM_FAKE",
        "malformed/yarn.lock",
        "line 5: `\"unterminated:` has an unclosed quote",
        "older/yarn.lock",
        "rewrote the lock from berry lockfile version 6 to berry lockfile version 10",
    ] {
        assert!(all.contains(needle), "`{needle}` not in:\n{all}");
    }
    assert!(!all.contains(&env.token), "the scoped token leaked:\n{all}");
    assert!(!all.contains("caller-secret-gitlab-token"), "{all}");
    assert!(!all.contains("caller-environment-leaked"), "{all}");
    // The three failures changed nothing; the native update went through.
    for project in ["missing", "failing", "malformed", "older"] {
        for file in files(&before.join(project)) {
            assert_eq!(
                std::fs::read_to_string(before.join(project).join(&file)).unwrap(),
                std::fs::read_to_string(tree.join(project).join(&file)).unwrap(),
                "{project}/{file} changed"
            );
        }
    }
    let expected = fixtures.join("npm_patch_bump_keeps_the_rest/out");
    for file in files(&expected) {
        assert_eq!(
            env.unfill(
                &std::fs::read_to_string(tree.join("native").join(&file)).unwrap(),
                &marker
            ),
            std::fs::read_to_string(expected.join(&file)).unwrap(),
            "native/{file}"
        );
    }
    assert!(!marker.exists());
}

/// Code a repository ships for its package manager never runs: a `.pnpmfile.cjs`, `.npmrc`
/// keys that would load code (`pnpmfile`, `global-pnpmfile`, `node-options`, `script-shell`,
/// `ignore-scripts=false`), and yarn 4 `plugins` (beside the fixture's `yarnPath`). Each
/// writes the marker when loaded — shown first by running the tools naively on a copy — yet
/// updatebot's update of the same trees writes the same locks as the plain fixtures and no
/// marker.
#[test]
fn repository_hooks_for_the_tools_never_run() {
    let Some(env) = env() else { return };
    let work = tempfile::tempdir().unwrap();
    let marker = work.path().join("hook-ran");
    let fixtures = repo_root().join("fixtures/npm");
    let evil = format!(
        "require('fs').writeFileSync({:?}, 'repository code ran');\nmodule.exports = {{ name: 'plugin-evil', factory: () => ({{}}), hooks: {{}} }};\n",
        marker.display().to_string()
    );
    let hostile = |tree: &Path| {
        for name in [".pnpmfile.cjs", "evil.cjs", ".yarn/plugins/evil.cjs"] {
            let path = tree.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, &evil).unwrap();
        }
        std::fs::write(
            tree.join("evil.sh"),
            format!("#!/bin/sh\ntouch {}\n", marker.display()),
        )
        .unwrap();
    };
    let tree = work.path().join("repo");
    let pnpm_dir = tree.join("pnpm");
    let berry_dir = tree.join("berry");
    env.copy(&fixtures.join("pnpm_bump/in"), &pnpm_dir, &marker);
    env.copy(&fixtures.join("yarn_berry_bump/in"), &berry_dir, &marker);
    for dir in [&pnpm_dir, &berry_dir] {
        hostile(dir);
    }
    let mut npmrc = std::fs::read_to_string(pnpm_dir.join(".npmrc")).unwrap();
    npmrc.push_str(
        "pnpmfile=evil.cjs\nglobal-pnpmfile=evil.cjs\nnode-options=--require ./evil.cjs\nscript-shell=./evil.sh\nignore-scripts=false\n",
    );
    std::fs::write(pnpm_dir.join(".npmrc"), npmrc).unwrap();
    let mut yarnrc = std::fs::read_to_string(berry_dir.join(".yarnrc.yml")).unwrap();
    yarnrc.push_str("plugins:\n  - path: .yarn/plugins/evil.cjs\n");
    std::fs::write(berry_dir.join(".yarnrc.yml"), yarnrc).unwrap();

    // The hooks are real: the tools run naively on copies do load them.
    let home = env.oracle_home(work.path());
    for (tool, dir, args) in [
        (Tool::Pnpm, &pnpm_dir, &["install", "--lockfile-only"][..]),
        (
            Tool::YarnBerry,
            &berry_dir,
            &["install", "--mode=update-lockfile"][..],
        ),
    ] {
        let naive = work.path().join("naive");
        copy_tree(dir, &naive);
        let _ = env.run(tool, &home, &naive, args);
        assert!(marker.exists(), "{tool:?}: the hook did not run naively");
        std::fs::remove_file(&marker).unwrap();
        std::fs::remove_dir_all(&naive).unwrap();
    }

    let config = env.operator_config(work.path());
    let output = updatebot(&[
        "update",
        tree.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let all = format!("{}{}", stdout(&output), stderr(&output));
    assert_eq!(output.status.code(), Some(0), "{all}");
    assert!(
        !marker.exists(),
        "repository code ran during the update:\n{all}"
    );
    for (dir, case, lock) in [
        (&pnpm_dir, "pnpm_bump", "pnpm-lock.yaml"),
        (&berry_dir, "yarn_berry_bump", "yarn.lock"),
    ] {
        assert_eq!(
            env.unfill(&std::fs::read_to_string(dir.join(lock)).unwrap(), &marker),
            std::fs::read_to_string(fixtures.join(case).join("out").join(lock)).unwrap(),
            "{case}: the lock differs from the plain fixture's"
        );
    }
}

/// With no `lockfiles` settings the tools are found on `PATH` as in the -full image: `yarn`
/// (yarn 1) for a yarn 1 lock, `yarn-berry` for a yarn 2+ lock beside it, `pnpm`, `npm`.
#[test]
fn tools_are_found_on_path_by_default() {
    let Some(env) = env() else { return };
    let work = tempfile::tempdir().unwrap();
    let marker = work.path().join("lifecycle-script-ran");
    let fixtures = repo_root().join("fixtures/npm");
    let tree = work.path().join("repo");
    let cases = [
        ("yarn_classic_bump", "yarn.lock"),
        ("yarn_berry_bump", "yarn.lock"),
        ("pnpm_bump", "pnpm-lock.yaml"),
        ("npm_lockfile_v1", "package-lock.json"),
    ];
    for (case, _) in cases {
        env.copy(&fixtures.join(case).join("in"), &tree.join(case), &marker);
    }
    std::fs::write(work.path().join("scoped-token"), format!("{}\n", env.token)).unwrap();
    let config = work.path().join("operator.yml");
    std::fs::write(
        &config,
        format!(
            "registries:\n  npm-main:\n    type: npm-registry\n    url: {}\n    replaces-base: true\n",
            env.registry
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_updatebot"))
        .args(["update", tree.to_str().unwrap(), "--config"])
        .arg(&config)
        .env_remove("UPDATEBOT_LOG")
        .env("PATH", format!("{}:/usr/bin:/bin", env.bin))
        .output()
        .unwrap();
    let all = format!("{}{}", stdout(&output), stderr(&output));
    assert_eq!(output.status.code(), Some(0), "{all}");
    for (case, lock) in cases {
        assert_eq!(
            env.unfill(
                &std::fs::read_to_string(tree.join(case).join(lock)).unwrap(),
                &marker
            ),
            std::fs::read_to_string(fixtures.join(case).join("out").join(lock)).unwrap(),
            "{case}"
        );
    }
    assert!(!marker.exists());
}
