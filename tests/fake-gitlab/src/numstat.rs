//! `git diff --numstat` line counts computed in-process, for the commit `stats` the API
//! returns with every commit it creates.
//!
//! git counts the lines of the edit script xdiff's Myers algorithm finds. Its preparation
//! trims the common head and tail, discards lines without a match in the other file, and
//! (a heuristic) some lines with many matches that sit among discarded ones; on what is left
//! the search is exact while the edit cost stays below 256. This module follows that
//! preparation step by step and computes the same counts from a longest common subsequence;
//! it answers `None` (ask git) beyond that cost, for binary or large files, submodules,
//! file/symlink changes and repositories with attributes that could change how git diffs.

use std::collections::{BTreeMap, HashMap};

/// xdiff's `XDL_MAX_EQLIMIT`, `XDL_SIMSCAN_WINDOW`, `XDL_KPDIS_RUN` and `XDL_MAX_COST_MIN`.
const MAX_EQLIMIT: usize = 1024;
const SIMSCAN_WINDOW: usize = 100;
const KPDIS_RUN: usize = 4;
const MAX_COST_MIN: usize = 256;
/// Files above this size are left to git (which may treat them as binary).
const MAX_SIZE: usize = 1 << 20;

/// xdiff's `xdl_bogosqrt`.
fn bogosqrt(mut n: usize) -> usize {
    let mut i = 1;
    while n > 0 {
        i <<= 1;
        n >>= 2;
    }
    i
}

/// Lines as xdiff's records: each with its `\n` (the last one may have none).
fn records(data: &[u8]) -> Vec<&[u8]> {
    data.split_inclusive(|b| *b == b'\n').collect()
}

/// git's `buffer_is_binary`: a NUL in the first 8000 bytes.
pub fn is_binary(data: &[u8]) -> bool {
    data[..data.len().min(8000)].contains(&0)
}

/// xdiff's `xdl_clean_mmatch`: is the multi-match line `i` (of `dis`, indices `s..=e`)
/// discarded, because it sits in a run of unmatched and multi-match lines?
fn clean_mmatch(dis: &[u8], i: usize, s: usize, e: usize) -> bool {
    let s = s.max(i.saturating_sub(SIMSCAN_WINDOW));
    let e = e.min(i + SIMSCAN_WINDOW);
    let (mut rdis0, mut rpdis0) = (0, 1);
    let mut r = 1;
    while r <= i && i - r >= s {
        match dis[i - r] {
            0 => rdis0 += 1,
            2 => rpdis0 += 1,
            _ => break,
        }
        r += 1;
    }
    if rdis0 == 0 {
        return false;
    }
    let (mut rdis1, mut rpdis1) = (0, 1);
    r = 1;
    while i + r <= e {
        match dis[i + r] {
            0 => rdis1 += 1,
            2 => rpdis1 += 1,
            _ => break,
        }
        r += 1;
    }
    if rdis1 == 0 {
        return false;
    }
    let rdis = rdis0 + rdis1;
    let rpdis = rpdis0 + rpdis1;
    rpdis * KPDIS_RUN < rpdis + rdis
}

/// The lines of `mid` (a trimmed middle of a file with `nrec` lines) that xdiff keeps for the
/// search; `others` counts each line's occurrences in the other whole file.
fn kept<'a>(mid: &[&'a [u8]], nrec: usize, others: &HashMap<&[u8], usize>) -> Vec<&'a [u8]> {
    let mlim = bogosqrt(nrec).min(MAX_EQLIMIT);
    let dis: Vec<u8> = mid
        .iter()
        .map(|line| match others.get(line).copied().unwrap_or(0) {
            0 => 0,
            nm if nm >= mlim => 2,
            _ => 1,
        })
        .collect();
    let last = dis.len().saturating_sub(1);
    mid.iter()
        .enumerate()
        .filter(|(i, _)| dis[*i] == 1 || dis[*i] == 2 && !clean_mmatch(&dis, *i, 0, last))
        .map(|(_, line)| *line)
        .collect()
}

fn lcs(a: &[&[u8]], b: &[&[u8]]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                cur[j].max(prev[j + 1])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// (added, deleted) lines between two versions of a text file, as `git diff --numstat`
/// counts them; `None` where this model of xdiff is not sure to be exact.
pub fn count(old: &[u8], new: &[u8]) -> Option<(u64, u64)> {
    if old.len() > MAX_SIZE || new.len() > MAX_SIZE || is_binary(old) || is_binary(new) {
        return None;
    }
    let a = records(old);
    let b = records(new);
    let lim = a.len().min(b.len());
    let head = (0..lim).take_while(|&i| a[i] == b[i]).count();
    let tail = (0..lim - head)
        .take_while(|&i| a[a.len() - 1 - i] == b[b.len() - 1 - i])
        .count();
    let mid_a = &a[head..a.len() - tail];
    let mid_b = &b[head..b.len() - tail];
    let mut count_a: HashMap<&[u8], usize> = HashMap::new();
    for line in &a {
        *count_a.entry(line).or_default() += 1;
    }
    let mut count_b: HashMap<&[u8], usize> = HashMap::new();
    for line in &b {
        *count_b.entry(line).or_default() += 1;
    }
    let kept_a = kept(mid_a, a.len(), &count_b);
    let kept_b = kept(mid_b, b.len(), &count_a);
    if kept_a.len().saturating_mul(kept_b.len()) > 4_000_000 {
        return None;
    }
    let common = lcs(&kept_a, &kept_b);
    let cost = kept_a.len() + kept_b.len() - 2 * common;
    if cost >= MAX_COST_MIN {
        return None;
    }
    Some(((mid_b.len() - common) as u64, (mid_a.len() - common) as u64))
}

/// Path → (mode, blob) of a commit (`git ls-tree -r`).
pub type Flat = BTreeMap<String, (String, String)>;

/// Does the tree hold a `.gitattributes` file (in any folder)?
pub fn has_attributes(tree: &Flat) -> bool {
    tree.keys()
        .any(|p| p.rsplit('/').next() == Some(".gitattributes"))
}

/// The summed counts of `git diff --numstat --no-renames OLD NEW` for two flat trees;
/// `read` gives a blob's content. `None`: ask git.
pub fn between(
    old: &Flat,
    new: &Flat,
    read: impl Fn(&str) -> Option<Vec<u8>>,
) -> Option<(u64, u64)> {
    if has_attributes(old) || has_attributes(new) {
        return None;
    }
    let regular = |mode: &str| matches!(mode, "100644" | "100755");
    let (mut added, mut deleted) = (0, 0);
    let paths: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for path in paths {
        let (a, b) = (old.get(path), new.get(path));
        if a == b {
            continue;
        }
        if !a.is_none_or(|(m, _)| regular(m)) || !b.is_none_or(|(m, _)| regular(m)) {
            return None;
        }
        if let (Some((_, x)), Some((_, y))) = (a, b) {
            if x == y {
                continue; // a mode change only
            }
        }
        let content = |side: Option<&(String, String)>| match side {
            Some((_, sha)) => read(sha),
            None => Some(Vec::new()),
        };
        let (plus, minus) = count(&content(a)?, &content(b)?)?;
        added += plus;
        deleted += minus;
    }
    Some((added, deleted))
}
