//! Git objects written and read in-process, byte for byte as git stores them, so that the hot
//! paths (a commit through the API: blobs, trees, the commit; reading them back) start no git
//! process. A loose object is `"<type> <len>\0<content>"`, named by the SHA-1 of those bytes
//! and stored zlib-compressed as `objects/<2 hex>/<38 hex>`.
//!
//! Every function here answers `None` where it cannot be sure to do exactly what git does
//! (a packed object, an unusual mode, a path git would refuse); the caller then runs git.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use sha1::{Digest, Sha1};

/// The SHA-1 object name of `content` stored as a `kind` object.
pub fn hash(kind: &str, content: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("{kind} {}\0", content.len()).as_bytes());
    h.update(content);
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

fn unhex(sha: &str) -> Option<[u8; 20]> {
    if sha.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(sha.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn loose_path(git_dir: &Path, sha: &str) -> std::path::PathBuf {
    git_dir.join("objects").join(&sha[..2]).join(&sha[2..])
}

/// Store `content` as a loose `kind` object (unless it is there already) and return its name.
/// The file is written to a temporary name and renamed into place, as git does, and made
/// read-only like git's own loose objects.
pub fn write(git_dir: &Path, kind: &str, content: &[u8]) -> std::io::Result<String> {
    let sha = hash(kind, content);
    let path = loose_path(git_dir, &sha);
    if path.exists() {
        return Ok(sha);
    }
    let dir = path.parent().expect("objects/xx");
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile::Builder::new()
        .prefix("tmp_obj_")
        .tempfile_in(dir)?;
    {
        let mut enc = ZlibEncoder::new(tmp.as_file(), Compression::fast());
        enc.write_all(format!("{kind} {}\0", content.len()).as_bytes())?;
        enc.write_all(content)?;
        enc.finish()?;
    }
    let mut perms = tmp.as_file().metadata()?.permissions();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        perms.set_mode(0o444);
    }
    #[cfg(not(unix))]
    perms.set_readonly(true);
    tmp.as_file().set_permissions(perms)?;
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(sha)
}

/// A loose object's type and content; `None` when it is not stored loose (packed, missing)
/// or does not read back as the object it is named after.
pub fn read(git_dir: &Path, sha: &str) -> Option<(String, Vec<u8>)> {
    unhex(sha)?;
    let file = std::fs::File::open(loose_path(git_dir, sha)).ok()?;
    let mut raw = Vec::new();
    ZlibDecoder::new(file).read_to_end(&mut raw).ok()?;
    let nul = raw.iter().position(|b| *b == 0)?;
    let header = std::str::from_utf8(&raw[..nul]).ok()?.to_string();
    let (kind, len) = header.split_once(' ')?;
    let content = raw.split_off(nul + 1);
    if len.parse::<usize>().ok()? != content.len() || hash(kind, &content) != sha {
        return None;
    }
    Some((kind.to_string(), content))
}

/// A loose object's type, from its header alone (without inflating the content); `None` when
/// it is not stored loose.
pub fn kind(git_dir: &Path, sha: &str) -> Option<String> {
    unhex(sha)?;
    let file = std::fs::File::open(loose_path(git_dir, sha)).ok()?;
    let mut head = Vec::with_capacity(32);
    ZlibDecoder::new(file)
        .take(32)
        .read_to_end(&mut head)
        .ok()?;
    let header = &head[..head.iter().position(|b| *b == 0)?];
    let (kind, len) = std::str::from_utf8(header).ok()?.split_once(' ')?;
    len.parse::<usize>().ok()?;
    Some(kind.to_string())
}

/// One entry of a tree object: mode as git writes it (`100644`, `100755`, `120000`,
/// `160000`, `40000`), name, object name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    pub mode: String,
    pub name: String,
    pub sha: String,
}

impl RawEntry {
    pub fn is_tree(&self) -> bool {
        self.mode == "40000"
    }

    /// The type `git ls-tree` names: `tree`, `commit` (a submodule) or `blob`.
    pub fn kind(&self) -> &'static str {
        match self.mode.as_str() {
            "40000" => "tree",
            "160000" => "commit",
            _ => "blob",
        }
    }

    /// The mode as `git ls-tree` prints it (six digits).
    pub fn ls_mode(&self) -> String {
        format!("{:0>6}", self.mode)
    }
}

/// The content of a tree object: entries in git's order (by name, a tree's name compared
/// as if it ended in `/`). `None` for a name or object name git would not write.
pub fn tree_content(entries: &[RawEntry]) -> Option<Vec<u8>> {
    let mut sorted: Vec<&RawEntry> = entries.iter().collect();
    sorted.sort_by_key(|e| sort_key(e));
    let mut out = Vec::new();
    for e in sorted {
        if e.name.is_empty() || e.name.contains(['/', '\0']) {
            return None;
        }
        out.extend_from_slice(e.mode.as_bytes());
        out.push(b' ');
        out.extend_from_slice(e.name.as_bytes());
        out.push(0);
        out.extend_from_slice(&unhex(&e.sha)?);
    }
    Some(out)
}

fn sort_key(e: &RawEntry) -> Vec<u8> {
    let mut k = e.name.as_bytes().to_vec();
    if e.is_tree() {
        k.push(b'/');
    }
    k
}

/// The entries of a tree object; `None` if it does not parse.
pub fn parse_tree(content: &[u8]) -> Option<Vec<RawEntry>> {
    let mut out = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        let sp = rest.iter().position(|b| *b == b' ')?;
        let nul = rest.iter().position(|b| *b == 0)?;
        if nul < sp || rest.len() < nul + 21 {
            return None;
        }
        out.push(RawEntry {
            mode: std::str::from_utf8(&rest[..sp]).ok()?.to_string(),
            name: String::from_utf8(rest[sp + 1..nul].to_vec()).ok()?,
            sha: hex(&rest[nul + 1..nul + 21]),
        });
        rest = &rest[nul + 21..];
    }
    Some(out)
}

/// A path component `git update-index` takes as it is: not `.`/`..`, no `.git` in any
/// spelling git guards against (NTFS short names and trailing dots/spaces included), none of
/// the characters git's path checks look at.
fn plain_component(name: &str, mode: &str) -> bool {
    if name.is_empty() || name == "." || name == ".." {
        return false;
    }
    if name.contains(['\0', '\\', ':', '~']) {
        return false;
    }
    let lower = name.to_ascii_lowercase();
    let trimmed = lower.trim_end_matches(['.', ' ']);
    if trimmed == ".git" || trimmed.is_empty() {
        return false;
    }
    // git refuses `.gitmodules` & co. as symbolic links.
    !(mode == "120000" && lower.starts_with(".git"))
}

/// A tree object to write: (sha, content).
pub type Tree = (String, Vec<u8>);

/// The tree objects for a flat path → (mode, blob) map, as `git update-index --index-info`
/// plus `git write-tree` build them: `(root sha, [(sha, content)] of every tree)`. `None`
/// when git might treat the input differently (a mode other than 100644, 100755, 120000 or
/// 160000; a path it refuses; a file that is also a directory).
pub fn build_trees(files: &BTreeMap<String, (String, String)>) -> Option<(String, Vec<Tree>)> {
    #[derive(Default)]
    struct Dir<'a> {
        files: Vec<RawEntry>,
        dirs: BTreeMap<&'a str, Dir<'a>>,
    }
    fn emit(dir: &Dir<'_>, out: &mut Vec<Tree>) -> Option<String> {
        let mut entries = dir.files.clone();
        for (name, sub) in &dir.dirs {
            if dir.files.iter().any(|f| f.name == *name) {
                return None;
            }
            let sha = emit(sub, out)?;
            entries.push(RawEntry {
                mode: "40000".into(),
                name: (*name).to_string(),
                sha,
            });
        }
        let content = tree_content(&entries)?;
        let sha = hash("tree", &content);
        out.push((sha.clone(), content));
        Some(sha)
    }
    let mut root = Dir::default();
    for (path, (mode, sha)) in files {
        if !matches!(mode.as_str(), "100644" | "100755" | "120000" | "160000") {
            return None;
        }
        unhex(sha)?;
        let mut parts: Vec<&str> = path.split('/').collect();
        let name = parts.pop()?;
        if !parts.iter().all(|p| plain_component(p, "40000")) || !plain_component(name, mode) {
            return None;
        }
        let mut dir = &mut root;
        for p in parts {
            dir = dir.dirs.entry(p).or_default();
        }
        dir.files.push(RawEntry {
            mode: mode.clone(),
            name: name.to_string(),
            sha: sha.clone(),
        });
    }
    let mut out = Vec::new();
    let root_sha = emit(&root, &mut out)?;
    Some((root_sha, out))
}

/// Who and when, for a commit's `author`/`committer` line.
#[derive(Debug, Clone)]
pub struct Signature {
    pub name: String,
    pub email: String,
    /// Seconds since the epoch (UTC, written with `+0000`).
    pub time: i64,
}

/// git's `crud`: what it trims from both ends of a name or e-mail.
fn crud(c: char) -> bool {
    c <= ' ' || matches!(c, ',' | ':' | ';' | '<' | '>' | '"' | '\\' | '\'')
}

/// A name or e-mail as git writes it into an ident line: crud trimmed, `<`, `>` and line
/// breaks dropped. `None` when nothing is left (git then refuses or substitutes).
fn ident_part(text: &str) -> Option<String> {
    let s: String = text
        .trim_matches(crud)
        .chars()
        .filter(|c| !matches!(c, '\n' | '<' | '>'))
        .collect();
    (!s.is_empty()).then_some(s)
}

/// The content of a commit object as `git commit-tree` writes it (message verbatim, no
/// encoding header); `None` where git would refuse or alter the input (an empty name or
/// e-mail, a NUL byte in the message).
pub fn commit_content(
    tree: &str,
    parents: &[&str],
    author: &Signature,
    committer: &Signature,
    message: &str,
) -> Option<Vec<u8>> {
    if message.contains('\0') || unhex(tree).is_none() {
        return None;
    }
    let mut out = format!("tree {tree}\n");
    for p in parents {
        unhex(p)?;
        out.push_str(&format!("parent {p}\n"));
    }
    for (role, sig) in [("author", author), ("committer", committer)] {
        let name = ident_part(&sig.name)?;
        let email = ident_part(&sig.email)?;
        out.push_str(&format!("{role} {name} <{email}> {} +0000\n", sig.time));
    }
    out.push('\n');
    out.push_str(message);
    Some(out.into_bytes())
}

/// The fields of a commit object: (tree, parents, author line, committer line, message).
#[derive(Debug, Clone)]
pub struct ParsedCommit {
    pub tree: String,
    pub parents: Vec<String>,
    /// `(name, email, time)`
    pub author: (String, String, i64),
    pub committer: (String, String, i64),
    pub message: String,
}

fn parse_ident(line: &str) -> Option<(String, String, i64)> {
    let lt = line.find('<')?;
    let gt = lt + line.get(lt..)?.find('>')?;
    let name = line.get(..lt)?.trim_end().to_string();
    let email = line.get(lt + 1..gt)?.to_string();
    let time = line
        .get(gt + 1..)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((name, email, time))
}

/// Parse a commit object; `None` for anything but the plain headers `commit_content`
/// writes (an encoding, a signature, …), which git then reads instead.
pub fn parse_commit(content: &[u8]) -> Option<ParsedCommit> {
    let text = std::str::from_utf8(content).ok()?;
    let (headers, message) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut tree = None;
    let mut parents = Vec::new();
    let mut author = None;
    let mut committer = None;
    for line in headers.lines() {
        let (key, value) = line.split_once(' ')?;
        match key {
            "tree" if tree.is_none() => tree = Some(value.to_string()),
            "parent" => parents.push(value.to_string()),
            "author" if author.is_none() => author = Some(parse_ident(value)?),
            "committer" if committer.is_none() => committer = Some(parse_ident(value)?),
            _ => return None,
        }
    }
    Some(ParsedCommit {
        tree: tree?,
        parents,
        author: author?,
        committer: committer?,
        message: message.to_string(),
    })
}
