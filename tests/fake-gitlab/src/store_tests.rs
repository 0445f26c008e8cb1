//! The in-process object, ref and read paths against git itself: the same input gives the
//! same object names, git reads what was written, and the in-process reads equal git's.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::git::{Ident, Repo};
use crate::objects::{self, RawEntry, Signature};
use crate::{native, refs};

fn git_out(dir: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new("git");
    cmd.args(args)
        .env("GIT_DIR", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Tester")
        .env("GIT_AUTHOR_EMAIL", "tester@example.com")
        .env("GIT_COMMITTER_NAME", "Tester")
        .env("GIT_COMMITTER_EMAIL", "tester@example.com")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn git");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().expect("git");
    let text = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
    (out.status.success(), text)
}

fn git(dir: &Path, args: &[&str]) -> String {
    git_in(dir, args, b"")
}

fn git_in(dir: &Path, args: &[&str], stdin: &[u8]) -> String {
    let (ok, out) = git_out(dir, args, stdin, &[]);
    assert!(ok, "git {args:?} failed");
    out
}

fn repo() -> (tempfile::TempDir, Repo) {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::init(&tmp.path().join("r.git"), "main");
    (tmp, repo)
}

/// `git fsck --strict` finds nothing (notices about an unborn HEAD aside).
fn fsck_clean(dir: &Path) {
    let out = Command::new("git")
        .args(["fsck", "--strict", "--no-dangling"])
        .env("GIT_DIR", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let problems: Vec<&str> = text.lines().filter(|l| !l.starts_with("notice:")).collect();
    assert!(out.status.success() && problems.is_empty(), "fsck: {text}");
}

#[test]
fn blob_names_and_files_are_gits() {
    let (_tmp, repo) = repo();
    for content in [
        &b""[..],
        b"requests==2.25.0\n",
        b"no newline",
        "ünïcødé ✓\n".as_bytes(),
        b"\x00\x01binary\xff",
    ] {
        let sha = objects::write(&repo.dir, "blob", content).unwrap();
        assert_eq!(sha, git_in(&repo.dir, &["hash-object", "--stdin"], content));
        assert_eq!(
            git(&repo.dir, &["cat-file", "blob", &sha]).as_bytes(),
            String::from_utf8_lossy(content).trim_end().as_bytes()
        );
        assert_eq!(git(&repo.dir, &["cat-file", "-t", &sha]), "blob");
        assert_eq!(objects::kind(&repo.dir, &sha).as_deref(), Some("blob"));
        let (kind, back) = objects::read(&repo.dir, &sha).unwrap();
        assert_eq!((kind.as_str(), back.as_slice()), ("blob", content));
    }
    fsck_clean(&repo.dir);
}

/// Blobs written by git, so the tree test checks only the tree code.
fn git_blob(dir: &Path, content: &str) -> String {
    git_in(dir, &["hash-object", "-w", "--stdin"], content.as_bytes())
}

#[test]
fn trees_equal_update_index_and_write_tree() {
    let (_tmp, repo) = repo();
    let dir = &repo.dir;
    let a = git_blob(dir, "a\n");
    let b = git_blob(dir, "b\n");
    let link = git_blob(dir, "target/path");
    let sub = "1234567890abcdef1234567890abcdef12345678";
    let mut files = BTreeMap::new();
    for (path, mode, sha) in [
        ("a.b", "100644", &a),
        ("a/x", "100644", &b),
        ("a-c", "100755", &a),
        ("a0", "100644", &b),
        ("a/deep/er/file name.txt", "100644", &a),
        ("ünï/cødé ✓.txt", "100644", &b),
        ("run.sh", "100755", &b),
        ("link", "120000", &link),
        ("vendor/lib", "160000", &sub.to_string()),
        (".gitlab-ci.yml", "100644", &a),
        ("Z", "100644", &a),
    ] {
        files.insert(path.to_string(), (mode.to_string(), sha.clone()));
    }
    let (root, trees) = objects::build_trees(&files).unwrap();
    for (_, content) in &trees {
        objects::write(dir, "tree", content).unwrap();
    }
    // git's own way: a temporary index.
    let index = dir.join("test-index");
    let env = [("GIT_INDEX_FILE", index.to_str().unwrap())];
    let mut info = Vec::new();
    for (path, (mode, sha)) in &files {
        info.extend_from_slice(format!("{mode} {sha}\t{path}\0").as_bytes());
    }
    assert!(
        git_out(
            dir,
            &["update-index", "-z", "--add", "--index-info"],
            &info,
            &env
        )
        .0
    );
    let (ok, want) = git_out(dir, &["write-tree"], b"", &env);
    assert!(ok);
    assert_eq!(root, want);
    // The listing reads back as git lists it.
    let listing = git(dir, &["ls-tree", "-r", "-t", "-z", &root]);
    let mut ours = Vec::new();
    fn walk(dir: &Path, sha: &str, prefix: &str, out: &mut Vec<String>) {
        let (_, content) = objects::read(dir, sha).unwrap();
        for e in objects::parse_tree(&content).unwrap() {
            let path = format!("{prefix}{}", e.name);
            out.push(format!("{} {} {}\t{path}", e.ls_mode(), e.kind(), e.sha));
            if e.is_tree() {
                walk(dir, &e.sha, &format!("{path}/"), out);
            }
        }
    }
    walk(dir, &root, "", &mut ours);
    assert_eq!(
        listing
            .trim_end_matches('\0')
            .split('\0')
            .collect::<Vec<_>>(),
        ours
    );
    fsck_clean(dir);
}

#[test]
fn tree_order_and_modes_equal_mktree() {
    let (_tmp, repo) = repo();
    let dir = &repo.dir;
    let blob = git_blob(dir, "x\n");
    let sub_tree = git_in(
        dir,
        &["mktree"],
        format!("100644 blob {blob}\tinner\n").as_bytes(),
    );
    let sub = "1234567890abcdef1234567890abcdef12345678";
    let entries = [
        ("100644", "blob", blob.as_str(), "a.b"),
        ("040000", "tree", sub_tree.as_str(), "a"),
        ("100755", "blob", blob.as_str(), "a-b"),
        ("120000", "blob", blob.as_str(), "a0"),
        ("160000", "commit", sub, "a_"),
        ("100644", "blob", blob.as_str(), "space name"),
        ("100644", "blob", blob.as_str(), "ü"),
    ];
    let input: String = entries
        .iter()
        .map(|(m, k, s, n)| format!("{m} {k} {s}\t{n}\n"))
        .collect();
    let want = git_in(dir, &["mktree", "--missing"], input.as_bytes());
    let raw: Vec<RawEntry> = entries
        .iter()
        .map(|(m, _, s, n)| RawEntry {
            mode: m.trim_start_matches('0').to_string(),
            name: n.to_string(),
            sha: s.to_string(),
        })
        .collect();
    let content = objects::tree_content(&raw).unwrap();
    assert_eq!(objects::hash("tree", &content), want);
    // `a` (a tree) sorts as `a/`: after `a.b` and `a-b`, before `a0`.
    let names: Vec<String> = objects::parse_tree(&content)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["a-b", "a.b", "a", "a0", "a_", "space name", "ü"]);
}

#[test]
fn trees_git_would_refuse_are_left_to_git() {
    let sha = "1234567890abcdef1234567890abcdef12345678".to_string();
    for (path, mode) in [
        ("a/../b", "100644"),
        (".git/config", "100644"),
        ("x/.GIT./y", "100644"),
        ("a//b", "100644"),
        ("f", "100664"),
        ("f", "040000"),
        (".gitmodules", "120000"),
    ] {
        let files = BTreeMap::from([(path.to_string(), (mode.to_string(), sha.clone()))]);
        assert!(objects::build_trees(&files).is_none(), "{path} {mode}");
    }
    // A file that is also a directory.
    let files = BTreeMap::from([
        ("a".to_string(), ("100644".to_string(), sha.clone())),
        ("a/b".to_string(), ("100644".to_string(), sha.clone())),
    ]);
    assert!(objects::build_trees(&files).is_none());
}

#[test]
fn commits_equal_commit_tree() {
    let (_tmp, repo) = repo();
    let dir = &repo.dir;
    let tree = git_in(dir, &["mktree"], b"");
    let sig = |name: &str, email: &str, time| Signature {
        name: name.into(),
        email: email.into(),
        time,
    };
    let mut parents: Vec<String> = Vec::new();
    for (message, author, committer) in [
        (
            "root\n",
            sig("Ann", "ann@example.com", 1_700_000_000),
            sig("Bot", "bot@example.com", 1_700_000_100),
        ),
        (
            "no trailing newline",
            sig(" Ann Lee. ", " <ann@example.com> ", 1_700_000_200),
            sig("Böt 🤖", "bot@example.com", 1_700_000_300),
        ),
        (
            "title\n\nbody ünï\n\n\n",
            sig("\"Quoted\"", "q@example.com", 1_700_000_400),
            sig("Bot", "bot@example.com", 1_700_000_500),
        ),
    ] {
        let p: Vec<&str> = parents.iter().map(String::as_str).collect();
        let content = objects::commit_content(&tree, &p, &author, &committer, message).unwrap();
        let ours = objects::write(dir, "commit", &content).unwrap();
        let mut args = vec!["commit-tree", tree.as_str()];
        for p in &parents {
            args.extend(["-p", p]);
        }
        let adate = format!("@{} +0000", author.time);
        let cdate = format!("@{} +0000", committer.time);
        let env = [
            ("GIT_AUTHOR_NAME", author.name.as_str()),
            ("GIT_AUTHOR_EMAIL", author.email.as_str()),
            ("GIT_AUTHOR_DATE", adate.as_str()),
            ("GIT_COMMITTER_NAME", committer.name.as_str()),
            ("GIT_COMMITTER_EMAIL", committer.email.as_str()),
            ("GIT_COMMITTER_DATE", cdate.as_str()),
        ];
        let (ok, want) = git_out(dir, &args, message.as_bytes(), &env);
        assert!(ok);
        assert_eq!(ours, want, "{message:?}");
        // Read back in-process as git log describes it.
        let info = native::commit_info(dir, &ours).unwrap();
        let fmt = git(
            dir,
            &["show", "-s", "--format=%an|%ae|%at|%cn|%ce|%ct|%P", &ours],
        );
        assert_eq!(
            format!(
                "{}|{}|{}|{}|{}|{}|{}",
                info.author_name,
                info.author_email,
                info.author_time,
                info.committer_name,
                info.committer_email,
                info.committer_time,
                info.parents.join(" ")
            ),
            fmt
        );
        assert_eq!(
            info.message,
            git(dir, &["show", "-s", "--format=%B", &ours])
        );
        parents = vec![ours];
    }
    // What git would refuse stays git's to refuse.
    assert!(
        objects::commit_content(&tree, &[], &sig("", "e@x", 1), &sig("B", "b@x", 1), "m").is_none()
    );
    assert!(
        objects::commit_content(&tree, &[], &sig("<>", "e@x", 1), &sig("B", "b@x", 1), "m")
            .is_none()
    );
    assert!(
        objects::commit_content(&tree, &[], &sig("A", "a@x", 1), &sig("B", "b@x", 1), "a\0b")
            .is_none()
    );
    fsck_clean(dir);
}

#[test]
fn loose_refs_as_git_reads_them() {
    let (_tmp, repo) = repo();
    let dir = &repo.dir;
    let tree = git_in(dir, &["mktree"], b"");
    let c1 = git_in(dir, &["commit-tree", tree.as_str(), "-m", "one"], b"");
    let c2 = git_in(
        dir,
        &["commit-tree", tree.as_str(), "-p", &c1, "-m", "two"],
        b"",
    );
    assert_eq!(refs::write(dir, "refs/heads/main", &c1, None), Some(true));
    assert_eq!(
        refs::write(dir, "refs/heads/updatebot/npm/x-1.0", &c2, None),
        Some(true)
    );
    assert_eq!(
        git(dir, &["rev-parse", "refs/heads/updatebot/npm/x-1.0"]),
        c2
    );
    // Compare-and-swap.
    assert_eq!(
        refs::write(dir, "refs/heads/main", &c2, Some(&c2)),
        Some(false)
    );
    assert_eq!(git(dir, &["rev-parse", "main"]), c1);
    assert_eq!(
        refs::write(dir, "refs/heads/main", &c2, Some(&c1)),
        Some(true)
    );
    assert_eq!(git(dir, &["rev-parse", "main"]), c2);
    // A ref where a directory would go, and the other way round: refused, as git does.
    assert_eq!(
        refs::write(dir, "refs/heads/main/sub", &c1, None),
        Some(false)
    );
    assert!(!git_out(dir, &["update-ref", "refs/heads/main/sub", &c1], b"", &[]).0);
    assert_ne!(
        refs::write(dir, "refs/heads/updatebot", &c1, None),
        Some(true)
    );
    assert_eq!(
        git(
            dir,
            &["for-each-ref", "--format=%(refname:lstrip=2) %(objectname)"]
        ),
        format!("main {c2}\nupdatebot/npm/x-1.0 {c2}")
    );
    assert_eq!(
        refs::list(dir, "refs/heads/").unwrap(),
        [
            ("main".to_string(), c2.clone()),
            ("updatebot/npm/x-1.0".to_string(), c2.clone())
        ]
    );
    // Deleting removes the directories left empty, so the name is free again.
    assert_eq!(
        refs::delete(dir, "refs/heads/updatebot/npm/x-1.0"),
        Some(true)
    );
    assert!(!dir.join("refs/heads/updatebot").exists());
    assert!(dir.join("refs/heads").is_dir());
    assert_eq!(
        refs::write(dir, "refs/heads/updatebot", &c1, None),
        Some(true)
    );
    assert_eq!(refs::read(dir, "refs/heads/nope"), Some(None));
    assert_eq!(
        git(dir, &["for-each-ref", "--format=%(refname)"]),
        "refs/heads/main\nrefs/heads/updatebot"
    );
    fsck_clean(dir);
    // Packed refs: only git knows.
    git(dir, &["pack-refs", "--all"]);
    assert_eq!(refs::read(dir, "refs/heads/main"), None);
    assert_eq!(refs::write(dir, "refs/heads/main", &c1, None), None);
    assert_eq!(refs::delete(dir, "refs/heads/main"), None);
    assert_eq!(refs::list(dir, "refs/heads/"), None);
}

#[test]
fn plain_branch_names_are_valid_for_git() {
    let (_tmp, repo) = repo();
    for name in [
        "main",
        "updatebot/npm/left-pad-1.3.0",
        "updatebot/pip/requests_2.31.0+local",
        "a/b.c",
        "user@host",
        "x@{1}",
        "@",
        "a..b",
        ".hidden",
        "a/.b",
        "x.lock",
        "end.",
        "-dash",
        "HEAD",
        "sp ace",
        "a//b",
        "tilde~1",
        "ü",
    ] {
        let (git_ok, _) = git_out(&repo.dir, &["check-ref-format", "--branch", name], b"", &[]);
        if let Some(ours) = refs::valid_branch_name(name) {
            assert_eq!(ours, git_ok && !name.starts_with('-'), "{name}");
        }
        // The fake's answer, in-process or not, is git's.
        assert_eq!(
            repo.valid_branch_name(name),
            git_ok && !name.starts_with('-'),
            "{name}"
        );
    }
    assert_eq!(
        refs::valid_branch_name("updatebot/npm/left-pad-1.3.0"),
        Some(true)
    );
}

fn ident(name: &str) -> Ident {
    Ident {
        name: name.into(),
        email: format!("{}@example.com", name.to_lowercase()),
    }
}

/// A history with a merge, built through `Repo`: in-process reads equal git's.
#[test]
fn reads_equal_gits_answers() {
    let (_tmp, repo) = repo();
    let dir = repo.dir.clone();
    let commit = |parent: Option<&str>, files: &[(&str, &str)], msg: &str| -> String {
        let mut tree = parent.map(|p| repo.flat_tree(p)).unwrap_or_default();
        for (path, content) in files {
            tree.insert(
                path.to_string(),
                ("100644".into(), repo.write_blob(content.as_bytes())),
            );
        }
        let t = repo.write_tree(&tree);
        let parents: Vec<&str> = parent.into_iter().collect();
        repo.commit_tree(&t, &parents, msg, &ident("Ann"), None, &ident("Bot"))
    };
    let c1 = commit(None, &[("README.md", "hi\n"), ("src/a.py", "a\n")], "one");
    let c2 = commit(Some(&c1), &[("src/a.py", "a2\n")], "two");
    let c3 = commit(Some(&c2), &[("src/b.py", "b\n")], "three");
    let side = commit(Some(&c2), &[("README.md", "side\n")], "side");
    let tree = repo.write_tree(&repo.flat_tree(&c3));
    let merge = repo.commit_tree(
        &tree,
        &[&c3, &side],
        "merge",
        &ident("Ann"),
        None,
        &ident("Bot"),
    );
    assert!(repo.set_branch("main", &merge, None));

    // Trees and entries.
    for c in [&c1, &c2, &c3, &merge] {
        let flat = repo.flat_tree(c);
        let want = git(&dir, &["ls-tree", "-r", "--full-tree", c]);
        let ours: Vec<String> = flat
            .iter()
            .map(|(p, (m, s))| {
                format!(
                    "{m} {} {s}\t{p}",
                    if m == "160000" { "commit" } else { "blob" }
                )
            })
            .collect();
        assert_eq!(ours.join("\n"), want);
        let listing = native::ls_tree(&dir, c, "", true).unwrap().unwrap();
        let ours: Vec<String> = listing
            .iter()
            .map(|e| format!("{} {} {}\t{}", e.mode, e.kind, e.sha, e.path))
            .collect();
        assert_eq!(ours.join("\n"), git(&dir, &["ls-tree", "-r", "-t", c]));
        let e = native::entry(&dir, c, "src/a.py").unwrap().unwrap();
        assert_eq!(
            format!("{} {} {}\t{}", e.mode, e.kind, e.sha, e.path),
            git(&dir, &["ls-tree", "--full-tree", c, "--", "src/a.py"])
        );
        assert!(matches!(
            native::ls_tree(&dir, c, "README.md", false),
            Some(None)
        ));
    }
    // Ancestry and merge bases.
    for (a, b) in [
        (&c1, &c3),
        (&c3, &c1),
        (&side, &c3),
        (&c3, &merge),
        (&merge, &side),
    ] {
        let (git_yes, _) = git_out(&dir, &["merge-base", "--is-ancestor", a, b], b"", &[]);
        assert_eq!(native::is_ancestor(&dir, a, b), Some(git_yes), "{a} {b}");
        assert_eq!(
            repo.merge_base(a, b).unwrap(),
            git(&dir, &["merge-base", a, b])
        );
    }
    // Linear logs in-process; the merge is left to git.
    let shas = |v: Vec<crate::git::CommitInfo>| {
        v.into_iter().map(|c| c.sha).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(
        shas(native::log_line(&dir, &c3, None, false).unwrap()),
        git(&dir, &["log", "--format=%H", &c3])
    );
    let range = format!("{c1}..{c3}");
    assert_eq!(
        shas(native::log_line(&dir, &c3, Some(&c1), false).unwrap()),
        git(&dir, &["log", "--format=%H", &range])
    );
    assert!(native::log_line(&dir, &merge, None, false).is_none());
    assert_eq!(
        shas(repo.log(&merge, None, false)),
        git(&dir, &["log", "--format=%H", &merge])
    );
    assert_eq!(
        shas(repo.log(&merge, None, true)),
        git(&dir, &["log", "--first-parent", "--format=%H", &merge])
    );
    // The last commit that touched a path.
    for (c, path) in [
        (&c3, "src/a.py"),
        (&c3, "README.md"),
        (&c3, "src"),
        (&c3, "missing"),
        (&side, "README.md"),
    ] {
        let want = git(&dir, &["log", "-1", "--format=%H", c, "--", path]);
        assert_eq!(
            native::last_commit_for_path(&dir, c, path)
                .unwrap()
                .unwrap_or_default(),
            want
        );
    }
    assert_eq!(
        native::last_commit_for_path(&dir, &merge, "README.md"),
        None
    );
    // Change counts.
    for (a, b) in [(&c1, &c3), (&c2, &side), (&c1, &merge)] {
        let want = git(&dir, &["diff", "--raw", "-M", a, b]).lines().count();
        assert_eq!(repo.changed_file_count(a, b), want);
    }
    fsck_clean(&dir);
}

/// The patches split out of one `git diff --raw -p` equal one `git diff -- path` per file.
#[test]
fn combined_diff_equals_per_file_patches() {
    let (_tmp, repo) = repo();
    let dir = repo.dir.clone();
    let lines: String = (0..40).map(|i| format!("line {i}\n")).collect();
    let mut before = BTreeMap::new();
    for (path, content) in [
        ("keep.txt", "same\n"),
        ("edit.txt", "a\nb\nc\n"),
        ("gone.txt", "bye\n"),
        ("old name.txt", lines.as_str()),
        ("mode.sh", "echo\n"),
        ("bin.dat", "x\0y"),
        ("tail.txt", "no newline"),
    ] {
        before.insert(
            path.to_string(),
            ("100644".to_string(), repo.write_blob(content.as_bytes())),
        );
    }
    let mut after = before.clone();
    after.insert(
        "edit.txt".into(),
        ("100644".into(), repo.write_blob(b"a\nB\nc\ndiff --git x\n")),
    );
    after.remove("gone.txt");
    let moved = lines.replace("line 7\n", "line seven\n");
    after.remove("old name.txt");
    after.insert(
        "new ünï name.txt".into(),
        ("100644".into(), repo.write_blob(moved.as_bytes())),
    );
    after.insert(
        "mode.sh".into(),
        ("100755".into(), before["mode.sh"].1.clone()),
    );
    after.insert(
        "bin.dat".into(),
        ("100644".into(), repo.write_blob(b"x\0z")),
    );
    after.insert(
        "tail.txt".into(),
        ("100644".into(), repo.write_blob(b"no newline\n")),
    );
    after.insert(
        "added/file.txt".into(),
        ("100644".into(), repo.write_blob(b"new\n")),
    );
    let who = ident("Ann");
    let a = repo.commit_tree(&repo.write_tree(&before), &[], "a", &who, None, &who);
    let b = repo.commit_tree(&repo.write_tree(&after), &[&a], "b", &who, None, &who);

    let entries = repo.diff(&a, &b);
    let summary: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{} {} {}{}{}",
                e.old_path,
                e.new_path,
                e.new_file as u8,
                e.renamed_file as u8,
                e.deleted_file as u8
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "added/file.txt added/file.txt 100",
            "bin.dat bin.dat 000",
            "edit.txt edit.txt 000",
            "gone.txt gone.txt 001",
            "mode.sh mode.sh 000",
            "old name.txt new ünï name.txt 010",
            "tail.txt tail.txt 000",
        ]
    );
    for e in &entries {
        let text = git(
            &dir,
            &[
                "diff",
                "-M",
                "--no-color",
                &a,
                &b,
                "--",
                &e.old_path,
                &e.new_path,
            ],
        ) + "\n";
        let want = text
            .find("\n@@")
            .map(|i| text[i + 1..].to_string())
            .unwrap_or_default();
        assert_eq!(e.diff, want, "{}", e.new_path);
    }
    assert!(entries[2].diff.contains("+diff --git x\n"));
    assert_eq!(repo.changed_file_count(&a, &b), entries.len());
}

/// Line counts in-process equal `git diff --numstat` on many generated file pairs, repeated
/// lines included (they drive xdiff's discard heuristic).
#[test]
fn numstat_counts_equal_gits() {
    let (_tmp, repo) = repo();
    let dir = repo.dir.clone();
    let mut seed: u64 = 0x5eed;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let pool = [
        "}\n",
        "  },\n",
        "\n",
        "a\n",
        "b\n",
        "requests==2.25.0\n",
        "{\n",
        "x",
    ];
    let (mut answered, mut cases) = (0, 0);
    // Many blank lines, and a replaced block with a blank line in its middle: that blank line
    // matches many lines and sits among unmatched ones, so xdiff discards it when the run
    // around it is long enough (a plain longest common subsequence would match it).
    for case in 0..60 {
        let prefix: Vec<String> = (0..24 + next(20))
            .map(|i| {
                if i % 3 == 0 {
                    "\n".into()
                } else {
                    format!("head {i}\n")
                }
            })
            .collect();
        let block = |tag: &str, before: u64, after: u64| -> Vec<String> {
            let mut v: Vec<String> = (0..before).map(|i| format!("{tag} a{i}\n")).collect();
            v.push("\n".into());
            v.extend((0..after).map(|i| format!("{tag} b{i}\n")));
            v
        };
        let suffix: Vec<String> = (0..next(6)).map(|i| format!("tail {i}\n")).collect();
        let old = [
            prefix.clone(),
            block("old", 1 + next(7), 1 + next(7)),
            suffix.clone(),
        ]
        .concat();
        let new = [prefix, block("new", 1 + next(7), 1 + next(7)), suffix].concat();
        let (old, new) = (old.concat(), new.concat());
        cases += 1;
        let Some(ours) = crate::numstat::count(old.as_bytes(), new.as_bytes()) else {
            continue;
        };
        answered += 1;
        let a = repo.write_blob(old.as_bytes());
        let b = repo.write_blob(new.as_bytes());
        let out = git(&dir, &["diff", "--numstat", &a, &b]);
        let mut f = out.split('\t');
        let want = (
            f.next().unwrap_or("0").parse().unwrap_or(0),
            f.next().unwrap_or("0").parse().unwrap_or(0),
        );
        assert_eq!(ours, want, "block case {case}: {old:?} -> {new:?}");
    }
    for case in 0..160 {
        let len = next(if case < 80 { 12 } else { 70 }) as usize;
        let kinds = 2 + next(6);
        let old: Vec<String> = (0..len)
            .map(|_| match next(3) {
                0 => pool[next(kinds) as usize].to_string(),
                _ => format!("line {}\n", next(40)),
            })
            .collect();
        let mut new = old.clone();
        for _ in 0..1 + next(6) {
            let at = next(new.len() as u64 + 1) as usize;
            match next(3) {
                0 if at < new.len() => {
                    new.remove(at);
                }
                1 if at < new.len() => new[at] = pool[next(kinds) as usize].to_string(),
                _ => new.insert(at, format!("new {}\n", next(5))),
            }
        }
        let (old, new) = (old.concat(), new.concat());
        cases += 1;
        let Some(ours) = crate::numstat::count(old.as_bytes(), new.as_bytes()) else {
            continue;
        };
        answered += 1;
        let a = repo.write_blob(old.as_bytes());
        let b = repo.write_blob(new.as_bytes());
        let out = git(&dir, &["diff", "--numstat", &a, &b]);
        let mut f = out.split('\t');
        let want = (
            f.next().unwrap_or("0").parse().unwrap_or(0),
            f.next().unwrap_or("0").parse().unwrap_or(0),
        );
        assert_eq!(ours, want, "case {case}: {old:?} -> {new:?}");
    }
    assert!(
        answered * 10 >= cases * 9,
        "{answered} of {cases} answered in-process"
    );
    // Binary content is git's to count.
    assert_eq!(crate::numstat::count(b"a\0b", b"a\0c"), None);
}

/// Commit stats in-process equal git's for added, changed, deleted and chmod-ed files.
#[test]
fn commit_numstat_equals_gits() {
    let (_tmp, repo) = repo();
    let dir = repo.dir.clone();
    let who = ident("Ann");
    let commit = |parent: Option<&str>, files: &[(&str, Option<&str>, &str)]| -> String {
        let mut tree = parent.map(|p| repo.flat_tree(p)).unwrap_or_default();
        for (path, content, mode) in files {
            match content {
                Some(c) => {
                    tree.insert(
                        path.to_string(),
                        (mode.to_string(), repo.write_blob(c.as_bytes())),
                    );
                }
                None => {
                    tree.remove(*path);
                }
            }
        }
        let t = repo.write_tree(&tree);
        let parents: Vec<&str> = parent.into_iter().collect();
        repo.commit_tree(&t, &parents, "m", &who, None, &who)
    };
    let c1 = commit(
        None,
        &[
            ("a.txt", Some("1\n2\n3\n"), "100644"),
            ("d/b.txt", Some("x"), "100644"),
        ],
    );
    let c2 = commit(
        Some(&c1),
        &[
            ("a.txt", Some("1\ntwo\n3\n4\n"), "100644"),
            ("d/b.txt", None, "100644"),
            ("run.sh", Some("#!/bin/sh\n"), "100755"),
        ],
    );
    let c3 = commit(Some(&c2), &[("run.sh", Some("#!/bin/sh\n"), "100644")]);
    for (from, to) in [(None, &c1), (Some(&c1), &c2), (Some(&c2), &c3)] {
        let base = from.cloned().unwrap_or_else(|| repo.empty_tree());
        let out = git(&dir, &["diff", "--numstat", "--no-renames", &base, to]);
        let want = out.lines().fold((0, 0), |(x, y), l| {
            let mut f = l.split('\t');
            (
                x + f.next().unwrap().parse::<u64>().unwrap(),
                y + f.next().unwrap().parse::<u64>().unwrap(),
            )
        });
        assert_eq!(repo.numstat(from.map(String::as_str), to), want);
    }
    assert_eq!(repo.numstat(Some(&c1), &c2), (3, 2));
    // Attributes can make a file binary: then git counts (nothing). `info/attributes`
    // always applies; a `.gitattributes` in HEAD is left to git as well.
    let c4 = commit(
        Some(&c3),
        &[(".gitattributes", Some("*.txt binary\n"), "100644")],
    );
    let c5 = commit(Some(&c4), &[("a.txt", Some("changed\n"), "100644")]);
    assert!(repo.set_branch("main", &c5, None));
    let counts = |out: String| {
        out.lines().fold((0, 0), |(x, y), l| {
            let mut f = l.split('\t');
            let mut n = || f.next().unwrap().parse::<u64>().unwrap_or(0);
            (x + n(), y + n())
        })
    };
    assert_eq!(
        repo.numstat(Some(&c4), &c5),
        counts(git(&dir, &["diff", "--numstat", &c4, &c5]))
    );
    std::fs::create_dir_all(dir.join("info")).unwrap();
    std::fs::write(dir.join("info/attributes"), "*.txt binary\n").unwrap();
    // (A pair not asked before: the fake keeps git's answers, its repositories' attributes
    // never change.)
    assert_eq!(
        git(&dir, &["diff", "--numstat", &c3, &c5]),
        "1\t0\t.gitattributes\n-\t-\ta.txt"
    );
    assert_eq!(repo.numstat(Some(&c3), &c5), (1, 0));
}
