//! Loose refs read and written in-process, the way git's files backend stores them
//! (`refs/heads/<name>` holding `<sha>\n`, written as `<ref>.lock` then renamed into place).
//!
//! Each function answers `None` when only git can be exact (a `packed-refs` file, a name
//! outside the plain subset, a directory in the way); the caller then runs git. Writers are
//! serialised by the fake's state lock, so the compare-and-swap of [`write`] is safe.

use std::io::Write;
use std::path::Path;

/// A 40-digit lower-case hex object name.
pub fn is_full_sha(text: &str) -> bool {
    text.len() == 40
        && text
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// A ref name in the subset whose validity needs no git: slash-separated components of
/// letters, digits, `-`, `_`, `.`, `+` and `@`, none empty, starting with `.` or ending with
/// `.lock`; no `..`, no `@{`, not ending with `.`. Every such name passes
/// `git check-ref-format`.
pub fn plain_name(full: &str) -> bool {
    !full.contains("..")
        && !full.contains("@{")
        && !full.ends_with('.')
        && full.split('/').all(|part| {
            !part.is_empty()
                && part != "@"
                && !part.starts_with('.')
                && !part.ends_with(".lock")
                && part.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'@')
                })
        })
}

/// `git check-ref-format --branch NAME` for the names it can answer without git:
/// `Some(true)` for a valid plain name, `None` for any other (ask git).
pub fn valid_branch_name(name: &str) -> Option<bool> {
    (plain_name(name) && !name.starts_with('-') && name != "HEAD").then_some(true)
}

fn packed(git_dir: &Path) -> bool {
    git_dir.join("packed-refs").exists()
}

/// `Some(Some(sha))` a loose ref naming an object, `Some(None)` no such ref (neither loose
/// nor packed), `None` when only git can tell.
pub fn read(git_dir: &Path, full: &str) -> Option<Option<String>> {
    if !plain_name(full) {
        return None;
    }
    match std::fs::read_to_string(git_dir.join(full)) {
        Ok(text) => {
            let sha = text.trim();
            is_full_sha(sha).then(|| Some(sha.to_string()))
        }
        // (`a/b` when the ref `a` is a file cannot be loose either.)
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            (!packed(git_dir)).then_some(None)
        }
        Err(_) => None,
    }
}

/// `git update-ref FULL NEW [OLD]`: `Some(true)` written, `Some(false)` refused (OLD does not
/// match, another writer holds the lock, a ref is in the way as a file), `None` ask git.
/// The caller has checked that NEW names a commit.
pub fn write(git_dir: &Path, full: &str, new: &str, old: Option<&str>) -> Option<bool> {
    if !is_full_sha(new) || packed(git_dir) {
        return None;
    }
    let current = read(git_dir, full)?;
    if let Some(old) = old {
        if current.as_deref() != Some(old) {
            return Some(false);
        }
    }
    let path = git_dir.join(full);
    if path.is_dir() {
        return None;
    }
    let parent = path.parent()?;
    if std::fs::create_dir_all(parent).is_err() {
        // A ref `a` stands where the directory of `a/b` would go: git refuses too.
        return Some(false);
    }
    let lock = path.with_file_name(format!("{}.lock", path.file_name()?.to_str()?));
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Some(false),
        Err(_) => return None,
    };
    if file.write_all(format!("{new}\n").as_bytes()).is_err() {
        let _ = std::fs::remove_file(&lock);
        return None;
    }
    drop(file);
    if std::fs::rename(&lock, &path).is_err() {
        let _ = std::fs::remove_file(&lock);
        return None;
    }
    Some(true)
}

/// `git update-ref -d FULL`: removes the loose ref and the directories it leaves empty (up to
/// `refs/<kind>`), as git does. `None` ask git.
pub fn delete(git_dir: &Path, full: &str) -> Option<bool> {
    if packed(git_dir) || !plain_name(full) {
        return None;
    }
    let path = git_dir.join(full);
    if path.is_dir() {
        return None;
    }
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(true),
        Err(_) => return None,
    }
    let stop = full.split('/').take(2).count();
    let mut dir = Path::new(full).parent();
    while let Some(d) = dir {
        if d.components().count() <= stop {
            break;
        }
        if std::fs::remove_dir(git_dir.join(d)).is_err() {
            break;
        }
        dir = d.parent();
    }
    Some(true)
}

/// The loose refs under `prefix` (`refs/heads/`): (name after the prefix, sha), sorted by
/// name; `None` when only git can list them (packed refs, an unusual name or content).
pub fn list(git_dir: &Path, prefix: &str) -> Option<Vec<(String, String)>> {
    if packed(git_dir) {
        return None;
    }
    fn walk(base: &Path, rel: &str, out: &mut Vec<(String, String)>) -> Option<()> {
        let dir = if rel.is_empty() {
            base.to_path_buf()
        } else {
            base.join(rel)
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(()),
            Err(_) => return None,
        };
        for entry in entries {
            let entry = entry.ok()?;
            let name = entry.file_name().into_string().ok()?;
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if entry.file_type().ok()?.is_dir() {
                walk(base, &path, out)?;
            } else {
                if !plain_name(&path) {
                    return None;
                }
                let text = std::fs::read_to_string(entry.path()).ok()?;
                let sha = text.trim();
                if !is_full_sha(sha) {
                    return None;
                }
                out.push((path, sha.to_string()));
            }
        }
        Some(())
    }
    let mut out = Vec::new();
    walk(&git_dir.join(prefix.trim_end_matches('/')), "", &mut out)?;
    out.sort();
    Some(out)
}
