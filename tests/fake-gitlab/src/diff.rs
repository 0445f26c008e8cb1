//! Diffs between two commits: the list of changes and the patches (from git, one process
//! for both), change counts and line counts (in-process where exact, see `native` and
//! `numstat`).

use std::path::PathBuf;

use crate::git::{FlatTree, Repo};
use crate::{native, numstat, objects, refs};

/// A file changed between two commits.
#[derive(Debug, Clone)]
pub struct DiffEntry {
    pub old_path: String,
    pub new_path: String,
    pub a_mode: String,
    pub b_mode: String,
    pub new_file: bool,
    pub renamed_file: bool,
    pub deleted_file: bool,
    pub diff: String,
}

impl Repo {
    /// Lines added and removed between two commits (`from` None = the empty tree).
    pub fn numstat(&self, from: Option<&str>, to: &str) -> (u64, u64) {
        if let Some(counts) = self.numstat_native(from, to) {
            return counts;
        }
        let empty;
        let from = match from {
            Some(f) => f,
            None => {
                empty = self.empty_tree();
                &empty
            }
        };
        let out = self.run(&["diff", "--numstat", "--no-renames", from, to], None, &[]);
        let mut add = 0;
        let mut del = 0;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut it = line.split('\t');
            add += it.next().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
            del += it.next().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        }
        (add, del)
    }

    /// `numstat` in-process (see `numstat`), unless attributes could change how git diffs:
    /// a global or system attributes file or `info/attributes`; a `.gitattributes` in HEAD
    /// (which git can be told to read in a bare repository, `attr.tree`) is left to git too.
    fn numstat_native(&self, from: Option<&str>, to: &str) -> Option<(u64, u64)> {
        let xdg = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
        let attribute_files = [
            Some(self.dir.join("info/attributes")),
            xdg.map(|x| x.join("git/attributes")),
            Some(PathBuf::from("/etc/gitattributes")),
        ];
        if attribute_files.iter().flatten().any(|f| f.exists()) {
            return None;
        }
        let head = std::fs::read_to_string(self.dir.join("HEAD")).ok()?;
        if let Some(head_sha) = refs::read(&self.dir, head.strip_prefix("ref: ")?.trim_end())? {
            if numstat::has_attributes(&native::flat_tree(&self.dir, &head_sha)?) {
                return None;
            }
        }
        let old = match from {
            Some(f) => native::flat_tree(&self.dir, f)?,
            None => FlatTree::new(),
        };
        let new = native::flat_tree(&self.dir, to)?;
        numstat::between(&old, &new, |sha| match objects::read(&self.dir, sha)? {
            (kind, content) if kind == "blob" => Some(content),
            _ => None,
        })
    }

    pub fn empty_tree(&self) -> String {
        objects::hash("tree", b"")
    }

    /// `git diff --raw -M` between two commits.
    fn raw_diff(&self, from: &str, to: &str) -> Vec<RawChange> {
        let out = self.run(
            &["diff", "--raw", "-z", "-M", "--no-abbrev", from, to],
            None,
            &[],
        );
        parse_raw(&String::from_utf8_lossy(&out.stdout)).0
    }

    /// How many files `diff` lists (a rename counts once), without computing patches.
    pub fn changed_file_count(&self, from: &str, to: &str) -> usize {
        if let Some(n) = native::changed_file_count(&self.dir, from, to) {
            return n;
        }
        self.raw_diff(from, to).len()
    }

    /// Per-file diffs between two commits, GitLab style (patch text without the headers).
    /// One git process gives the list and the patches (`--raw -p -z`: the raw records, a NUL,
    /// then one `diff --git` section per record, in the same order).
    pub fn diff(&self, from: &str, to: &str) -> Vec<DiffEntry> {
        let out = self.run(
            &[
                "diff",
                "--raw",
                "-p",
                "-z",
                "-M",
                "--no-abbrev",
                "--no-color",
                from,
                to,
            ],
            None,
            &[],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let (changes, patch) = parse_raw(&text);
        let mut sections: Vec<&str> = Vec::new();
        let mut rest = patch;
        while !rest.is_empty() {
            let next = rest[1..]
                .find("\ndiff --git ")
                .map_or(rest.len(), |i| i + 2);
            sections.push(&rest[..next]);
            rest = &rest[next..];
        }
        let one_each = sections.len() == changes.len()
            && sections.iter().all(|s| s.starts_with("diff --git "));
        changes
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let section = if one_each {
                    sections[i].to_string()
                } else {
                    self.file_patch(from, to, &c)
                };
                let diff = match section.find("\n@@") {
                    Some(i) => section[i + 1..].to_string(),
                    None => String::new(),
                };
                DiffEntry {
                    new_file: c.status == "A",
                    renamed_file: c.status.starts_with('R'),
                    deleted_file: c.status == "D",
                    old_path: c.old_path,
                    new_path: c.new_path,
                    a_mode: c.a_mode,
                    b_mode: c.b_mode,
                    diff,
                }
            })
            .collect()
    }

    /// The patch of one file (when the combined output cannot be split).
    fn file_patch(&self, from: &str, to: &str, c: &RawChange) -> String {
        let patch = self.run(
            &[
                "diff",
                "-M",
                "--no-color",
                from,
                to,
                "--",
                &c.old_path,
                &c.new_path,
            ],
            None,
            &[],
        );
        String::from_utf8_lossy(&patch.stdout).into_owned()
    }
}

/// `git diff --raw -z` records, and what follows them (after `-p`: a NUL, then the patch).
fn parse_raw(text: &str) -> (Vec<RawChange>, &str) {
    let mut changes = Vec::new();
    let mut rest = text;
    let field = |rest: &mut &str| -> String {
        let (f, r) = rest.split_once('\0').unwrap_or((rest, ""));
        let f = f.to_string();
        *rest = r;
        f
    };
    while rest.starts_with(':') {
        let meta = field(&mut rest);
        let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        if parts.len() < 5 {
            break;
        }
        let status = parts[4].to_string();
        let first = field(&mut rest);
        let (old_path, new_path) = if status.starts_with('R') || status.starts_with('C') {
            (first, field(&mut rest))
        } else {
            (first.clone(), first)
        };
        changes.push(RawChange {
            status,
            a_mode: parts[0].to_string(),
            b_mode: parts[1].to_string(),
            old_path,
            new_path,
        });
    }
    (changes, rest.strip_prefix('\0').unwrap_or(rest))
}

struct RawChange {
    status: String,
    a_mode: String,
    b_mode: String,
    old_path: String,
    new_path: String,
}
