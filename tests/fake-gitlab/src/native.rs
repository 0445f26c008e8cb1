//! Reads that git would answer, answered in-process from the loose objects (see `objects`):
//! commits, trees, ancestry, linear history and change counts. Each function returns `None`
//! whenever its answer might differ from git's (a packed or missing object, a merge where
//! git's ordering or history simplification would matter, an unusual path); the caller then
//! runs git, so the answers stay git's.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::git::{CommitInfo, TreeEntry};
use crate::objects::{self, ParsedCommit, RawEntry};

/// Walks stop (and git answers) beyond this many commits.
const MAX_WALK: usize = 10_000;

/// Parsed commits and trees, per repository (objects never change).
struct Parsed {
    commits: HashMap<(PathBuf, String), ParsedCommit>,
    trees: HashMap<(PathBuf, String), Vec<RawEntry>>,
}

fn parsed() -> &'static Mutex<Parsed> {
    static PARSED: OnceLock<Mutex<Parsed>> = OnceLock::new();
    PARSED.get_or_init(|| {
        Mutex::new(Parsed {
            commits: HashMap::new(),
            trees: HashMap::new(),
        })
    })
}

pub fn commit(dir: &Path, sha: &str) -> Option<ParsedCommit> {
    let key = (dir.to_path_buf(), sha.to_string());
    if let Some(c) = parsed().lock().ok()?.commits.get(&key) {
        return Some(c.clone());
    }
    let (kind, content) = objects::read(dir, sha)?;
    let c = (kind == "commit").then(|| objects::parse_commit(&content))??;
    parsed().lock().ok()?.commits.insert(key, c.clone());
    Some(c)
}

fn tree(dir: &Path, sha: &str) -> Option<Vec<RawEntry>> {
    let key = (dir.to_path_buf(), sha.to_string());
    if let Some(t) = parsed().lock().ok()?.trees.get(&key) {
        return Some(t.clone());
    }
    let (kind, content) = objects::read(dir, sha)?;
    let t = (kind == "tree").then(|| objects::parse_tree(&content))??;
    parsed().lock().ok()?.trees.insert(key, t.clone());
    Some(t)
}

/// The object `kind` of `sha` (`git cat-file -t`), if stored loose.
pub fn kind(dir: &Path, sha: &str) -> Option<String> {
    objects::kind(dir, sha)
}

/// `git show -s --format=…` of a commit, as `parse_commit_record` reads it.
pub fn commit_info(dir: &Path, sha: &str) -> Option<CommitInfo> {
    let c = commit(dir, sha)?;
    Some(CommitInfo {
        sha: sha.to_string(),
        parents: c.parents,
        author_name: c.author.0,
        author_email: c.author.1,
        author_time: c.author.2,
        committer_name: c.committer.0,
        committer_email: c.committer.1,
        committer_time: c.committer.2,
        message: c.message.trim_end_matches('\n').to_string(),
    })
}

/// Path components git resolves literally (`rev:path`, a pathspec without magic).
fn components(path: &str) -> Option<Vec<&str>> {
    if path.starts_with(':') || path.contains(['*', '?', '[', '\\']) {
        return None;
    }
    let parts: Vec<&str> = path.split('/').collect();
    parts
        .iter()
        .all(|p| !p.is_empty() && *p != "." && *p != "..")
        .then_some(parts)
}

/// The entry at `path` (no leading or trailing `/`) under the tree `root`: `Some(None)` when
/// there is none.
fn entry_in(dir: &Path, root: &str, path: &str) -> Option<Option<RawEntry>> {
    let parts = components(path)?;
    let mut cur = RawEntry {
        mode: "40000".into(),
        name: String::new(),
        sha: root.to_string(),
    };
    for part in parts {
        if !cur.is_tree() {
            return Some(None);
        }
        match tree(dir, &cur.sha)?.into_iter().find(|e| e.name == part) {
            Some(e) => cur = e,
            None => return Some(None),
        }
    }
    Some(Some(cur))
}

fn tree_entry(e: &RawEntry, path: String) -> TreeEntry {
    TreeEntry {
        mode: e.ls_mode(),
        kind: e.kind().to_string(),
        sha: e.sha.clone(),
        path,
    }
}

/// `git ls-tree -z --full-tree COMMIT -- PATH`, the entry whose path is PATH.
pub fn entry(dir: &Path, commit_sha: &str, path: &str) -> Option<Option<TreeEntry>> {
    let root = commit(dir, commit_sha)?.tree;
    Some(entry_in(dir, &root, path)?.map(|e| tree_entry(&e, path.to_string())))
}

/// `git ls-tree [-r -t] COMMIT:PATH` with paths prefixed by `PATH/`; `Some(None)` when PATH
/// is not a tree.
pub fn ls_tree(
    dir: &Path,
    commit_sha: &str,
    path: &str,
    recursive: bool,
) -> Option<Option<Vec<TreeEntry>>> {
    let root = commit(dir, commit_sha)?.tree;
    let start = if path.is_empty() {
        root
    } else {
        match entry_in(dir, &root, path)? {
            Some(e) if e.is_tree() => e.sha,
            _ => return Some(None),
        }
    };
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let mut out = Vec::new();
    list(dir, &start, &prefix, recursive, true, &mut out)?;
    Some(Some(out))
}

/// Entries of a tree in git's order; with `recursive`, sub-trees are listed (when
/// `with_trees`) and then descended into, as `ls-tree -r [-t]` does.
fn list(
    dir: &Path,
    sha: &str,
    prefix: &str,
    recursive: bool,
    with_trees: bool,
    out: &mut Vec<TreeEntry>,
) -> Option<()> {
    for e in tree(dir, sha)? {
        let path = format!("{prefix}{}", e.name);
        if recursive && e.is_tree() {
            if with_trees {
                out.push(tree_entry(&e, path.clone()));
            }
            list(dir, &e.sha, &format!("{path}/"), true, with_trees, out)?;
        } else {
            out.push(tree_entry(&e, path));
        }
    }
    Some(())
}

/// `git ls-tree -r COMMIT`: path → (mode, sha) of every blob and submodule.
pub fn flat_tree(dir: &Path, commit_sha: &str) -> Option<BTreeMap<String, (String, String)>> {
    let root = commit(dir, commit_sha)?.tree;
    let mut out = Vec::new();
    list(dir, &root, "", true, false, &mut out)?;
    Some(out.into_iter().map(|e| (e.path, (e.mode, e.sha))).collect())
}

/// Every commit reachable from `start` (itself included).
fn ancestors(dir: &Path, start: &str) -> Option<HashSet<String>> {
    let mut seen = HashSet::new();
    let mut todo = vec![start.to_string()];
    while let Some(sha) = todo.pop() {
        if seen.contains(&sha) {
            continue;
        }
        if seen.len() >= MAX_WALK {
            return None;
        }
        todo.extend(commit(dir, &sha)?.parents);
        seen.insert(sha);
    }
    Some(seen)
}

/// `git merge-base --is-ancestor A D`.
pub fn is_ancestor(dir: &Path, ancestor: &str, descendant: &str) -> Option<bool> {
    commit(dir, ancestor)?;
    Some(ancestors(dir, descendant)?.contains(ancestor))
}

/// `git merge-base A B` when there is exactly one best common ancestor (or none).
pub fn merge_base(dir: &Path, a: &str, b: &str) -> Option<Option<String>> {
    let of_a = ancestors(dir, a)?;
    let of_b = ancestors(dir, b)?;
    let common: HashSet<&String> = of_a.intersection(&of_b).collect();
    let mut below = HashSet::new();
    for c in &common {
        for p in commit(dir, c)?.parents {
            if !below.contains(&p) {
                below.extend(ancestors(dir, &p)?);
            }
        }
    }
    let best: Vec<&&String> = common.iter().filter(|c| !below.contains(**c)).collect();
    match best.as_slice() {
        [] => Some(None),
        [one] => Some(Some((**one).clone())),
        _ => None,
    }
}

/// `git log TIP` or `git log EXCLUDE..TIP` (newest first) when the commits listed form one
/// line (none has two parents), where git's order is that line whatever the dates.
/// `first_parent` follows first parents only (`--first-parent`), where the line is the order.
pub fn log_line(
    dir: &Path,
    tip: &str,
    exclude: Option<&str>,
    first_parent: bool,
) -> Option<Vec<CommitInfo>> {
    let hidden = match exclude {
        Some(x) => ancestors(dir, x)?,
        None => HashSet::new(),
    };
    let mut out = Vec::new();
    let mut cur = Some(tip.to_string());
    while let Some(sha) = cur {
        if hidden.contains(&sha) {
            break;
        }
        if out.len() >= MAX_WALK {
            return None;
        }
        let info = commit_info(dir, &sha)?;
        if info.parents.len() > 1 && !first_parent {
            return None;
        }
        cur = info.parents.first().cloned();
        out.push(info);
    }
    Some(out)
}

/// `git log -1 --format=%H COMMIT -- PATH` along a line of history (no merges on the way):
/// the newest commit whose entry at PATH differs from its parent's.
pub fn last_commit_for_path(dir: &Path, commit_sha: &str, path: &str) -> Option<Option<String>> {
    let mut sha = commit_sha.to_string();
    for _ in 0..MAX_WALK {
        let c = commit(dir, &sha)?;
        let here = entry_in(dir, &c.tree, path)?;
        match c.parents.as_slice() {
            [] => return Some(here.is_some().then_some(sha)),
            [parent] => {
                let before = entry_in(dir, &commit(dir, parent)?.tree, path)?;
                if here != before {
                    return Some(Some(sha));
                }
                sha = parent.clone();
            }
            _ => return None,
        }
    }
    None
}

/// The number of files `git diff --raw -M FROM TO` lists, when no rename can be found
/// (nothing both added and deleted): one per path whose mode or content changed.
pub fn changed_file_count(dir: &Path, from: &str, to: &str) -> Option<usize> {
    let a = flat_tree(dir, from)?;
    let b = flat_tree(dir, to)?;
    let added = b.keys().any(|k| !a.contains_key(k));
    let deleted = a.keys().any(|k| !b.contains_key(k));
    if added && deleted {
        return None;
    }
    let changed = a.iter().filter(|(k, v)| b.get(*k) != Some(v)).count();
    Some(changed + b.keys().filter(|k| !a.contains_key(*k)).count())
}
