//! The per-repository `.updatebot.yml` (Dependabot's `dependabot.yml` version 2 vocabulary).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use url::Url;

use super::enums::{PackageEcosystem, UNSUPPORTED_DEPENDABOT_ECOSYSTEMS};
use super::keys::{self, CREDENTIAL_KEYS, REPO_REGISTRY_KEYS, TOP_KEYS};
use super::problem::{show, ConfigErrors, Pos, Problem};
use super::registry;
use super::rules::{self, RepoPath};
use super::settings::{parse_settings, UpdateSettings};
use super::walk::{Field, Fields, KeySet, Walker};
use super::yaml::{self, Kind, Node, Value};

/// A parsed and validated `.updatebot.yml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoConfig {
    /// Registries the repository names (hosts only; credentials come from the operator).
    pub registries: BTreeMap<String, RepoRegistry>,
    /// The entries updatebot handles, in file order.
    pub updates: Vec<UpdateEntry>,
    pub enable_beta_ecosystems: bool,
    /// Things skipped but not wrong: entries and registries for Dependabot ecosystems
    /// updatebot does not handle (so a `dependabot.yml` also updating GitHub Actions loads).
    pub warnings: Vec<Problem>,
}

/// `registries.<name>` in `.updatebot.yml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoRegistry {
    pub kind: super::enums::RegistryKind,
    pub url: Url,
    pub replaces_base: bool,
    pub line: usize,
}

/// One `updates[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateEntry {
    /// Position in the file's `updates` list (skipped entries count too).
    pub index: usize,
    /// Line of the entry's first key.
    pub line: usize,
    pub package_ecosystem: PackageEcosystem,
    /// `directory` (one path) or `directories` (paths and globs), normalised to start with `/`.
    pub directories: Vec<RepoPath>,
    pub settings: UpdateSettings,
}

const CREDENTIALS_REFUSED: &str =
    "credentials belong in the operator config (`--config`), never in the repository";

/// Parses `.updatebot.yml`, reporting every problem with its line.
pub fn parse_repo_config(text: &str) -> Result<RepoConfig, ConfigErrors> {
    let (root, mut problems) = yaml::parse(text);
    let Some(root) = root else {
        if problems.is_empty() {
            problems.push(Problem::new(
                Pos::START,
                "the file is empty; expected a mapping with `version: 2` and `updates`",
            ));
        }
        return Err(ConfigErrors::new(problems));
    };
    let mut w = Walker::default();
    let mut warnings = Vec::new();
    let config = read_root(&mut w, &root, &mut warnings);
    problems.append(&mut w.problems);
    match config {
        Some(mut c) if problems.is_empty() => {
            super::problem::sort(&mut warnings);
            c.warnings = warnings;
            Ok(c)
        }
        _ => Err(ConfigErrors::new(problems)),
    }
}

fn read_root(w: &mut Walker, root: &Node, warnings: &mut Vec<Problem>) -> Option<RepoConfig> {
    let top = w.map(root, "", &KeySet::new(TOP_KEYS))?;
    w.require(&top, &["version", "updates"]);
    if let Some(f) = top.get("version") {
        if !matches!(f.value.kind, Kind::Scalar(Value::Int(2), _)) {
            let msg = format!(
                "version: updatebot reads version 2 of the dependabot.yml format, got {}",
                f.value.describe()
            );
            w.problem(f.value.pos, msg);
        }
    }
    let enable_beta_ecosystems = top
        .get("enable-beta-ecosystems")
        .and_then(|f| w.bool(f))
        .unwrap_or(false);
    let registries = top
        .get("registries")
        .map(|f| repo_registries(w, f, warnings))
        .unwrap_or_default();
    let mut updates = Vec::new();
    if let Some(f) = top.get("updates") {
        if let Some(items) = w.seq(f) {
            for (i, item) in items.iter().enumerate() {
                if let Some(entry) = update_entry(w, item, i, warnings) {
                    updates.push(entry);
                }
            }
        }
    }
    check_unique(w, &updates);
    Some(RepoConfig {
        registries,
        updates,
        enable_beta_ecosystems,
        warnings: Vec::new(),
    })
}

fn repo_registries(
    w: &mut Walker,
    f: Field<'_>,
    warnings: &mut Vec<Problem>,
) -> BTreeMap<String, RepoRegistry> {
    let mut out = BTreeMap::new();
    for (name, line, def) in registry::named_entries(w, f, "registries") {
        let path = format!("registries.{name}");
        if let Some(kind) = registry::unsupported_type(def) {
            refuse_credentials(w, def, &path);
            let msg = format!(
                "{path}: registry type `{}` is for an ecosystem updatebot does not handle; registry skipped",
                show(kind)
            );
            warnings.push(Problem::new(def.pos, msg));
            continue;
        }
        let keys = KeySet {
            allowed: REPO_REGISTRY_KEYS,
            refused: &CREDENTIAL_REFUSALS,
            free: false,
        };
        let Some(fields) = w.map(def, &path, &keys) else {
            continue;
        };
        if let Some(loc) = registry::location(w, &fields) {
            out.insert(
                name.to_owned(),
                RepoRegistry {
                    kind: loc.kind,
                    url: loc.url,
                    replaces_base: loc.replaces_base,
                    line,
                },
            );
        }
    }
    out
}

const CREDENTIAL_REFUSALS: [(&str, &str); 6] = [
    (CREDENTIAL_KEYS[0], CREDENTIALS_REFUSED),
    (CREDENTIAL_KEYS[1], CREDENTIALS_REFUSED),
    (CREDENTIAL_KEYS[2], CREDENTIALS_REFUSED),
    (CREDENTIAL_KEYS[3], CREDENTIALS_REFUSED),
    (CREDENTIAL_KEYS[4], CREDENTIALS_REFUSED),
    (CREDENTIAL_KEYS[5], CREDENTIALS_REFUSED),
];

/// Reports credential keys in a registry definition that is otherwise not checked.
fn refuse_credentials(w: &mut Walker, def: &Node, path: &str) {
    if let Kind::Map(entries) = &def.kind {
        for (k, _) in entries {
            if let Some(key) = k.as_str().filter(|k| CREDENTIAL_KEYS.contains(k)) {
                w.problem(
                    k.pos,
                    format!("`{key}` is not allowed in {path}: {CREDENTIALS_REFUSED}"),
                );
            }
        }
    }
}

fn update_entry(
    w: &mut Walker,
    node: &Node,
    index: usize,
    warnings: &mut Vec<Problem>,
) -> Option<UpdateEntry> {
    let all_keys = keys::update_keys();
    let path = format!("updates[{index}]");
    let fields = w.map(node, &path, &KeySet::new(&all_keys))?;
    w.require(&fields, &["package-ecosystem"]);
    let ecosystem = fields
        .get("package-ecosystem")
        .and_then(|f| ecosystem(w, f, warnings));
    let directories = directories(w, &fields);
    let settings = parse_settings(w, &fields);
    if let (Some(Some(e)), Some(f)) = (ecosystem, fields.get(keys::PIN_DIGESTS)) {
        if e.ecosystem() != crate::config::Ecosystem::Docker {
            let msg = format!(
                "{}: digests are pinned in `docker` entries only, not in `{e}`",
                f.path()
            );
            w.problem(f.key_pos, msg);
        }
    }
    match ecosystem? {
        Some(package_ecosystem) => Some(UpdateEntry {
            index,
            line: fields.pos.line,
            package_ecosystem,
            directories: directories?,
            settings,
        }),
        None => None,
    }
}

/// `Some(None)` for a Dependabot ecosystem updatebot skips (with a warning).
fn ecosystem(
    w: &mut Walker,
    f: Field<'_>,
    warnings: &mut Vec<Problem>,
) -> Option<Option<PackageEcosystem>> {
    if let Some(name) = f.value.as_str() {
        if UNSUPPORTED_DEPENDABOT_ECOSYSTEMS.contains(&name) {
            let msg = format!(
                "{}: `{name}` is a Dependabot ecosystem updatebot does not handle; entry skipped",
                f.path()
            );
            warnings.push(Problem::new(f.value.pos, msg));
            return Some(None);
        }
    }
    w.choice(f).map(Some)
}

fn directories(w: &mut Walker, fields: &Fields<'_>) -> Option<Vec<RepoPath>> {
    match (fields.get("directory"), fields.get("directories")) {
        (Some(_), Some(f)) => {
            let msg = format!(
                "give either `directory` or `directories` in {}, not both",
                fields.path
            );
            w.problem(f.key_pos, msg);
            None
        }
        (None, None) if fields.misspelt("directory") || fields.misspelt("directories") => None,
        (None, None) => {
            let msg = format!(
                "missing required key `directory` (or `directories`) in {}",
                fields.path
            );
            w.problem(fields.pos, msg);
            None
        }
        (Some(f), None) => rules::repo_path(w, f.value, &f.path(), false).map(|p| vec![p]),
        (None, Some(f)) => {
            let items = w.seq(f)?;
            if items.is_empty() {
                w.problem(
                    f.value.pos,
                    format!("{}: list at least one directory", f.path()),
                );
                return None;
            }
            let path = f.path();
            let mut out = Vec::new();
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                match rules::repo_path(w, item, &format!("{path}[{i}]"), true) {
                    Some(p) => out.push(p),
                    None => ok = false,
                }
            }
            ok.then_some(out)
        }
    }
}

/// Dependabot refuses two entries with the same ecosystem, directories and target branch:
/// they would open the same merge requests twice.
fn check_unique(w: &mut Walker, updates: &[UpdateEntry]) {
    type Key<'e> = (PackageEcosystem, &'e [RepoPath], Option<&'e str>);
    let mut first: HashMap<Key<'_>, &UpdateEntry> = HashMap::new();
    for e in updates {
        let key = (
            e.package_ecosystem,
            e.directories.as_slice(),
            e.settings.target_branch.as_deref(),
        );
        if let Some(o) = first.get(&key) {
            let dirs: Vec<&str> = e.directories.iter().map(RepoPath::as_str).collect();
            let msg = format!(
                "updates[{}] repeats updates[{}] (line {}): same package-ecosystem `{}`, directory `{}` and target-branch",
                e.index,
                o.index,
                o.line,
                e.package_ecosystem,
                dirs.join("`, `")
            );
            w.problem(
                Pos {
                    line: e.line,
                    column: 1,
                },
                msg,
            );
        } else {
            first.insert(key, e);
        }
    }
}
