//! `fake-gitlab --port P --seed DIR [--token T] [--access LEVEL]`
//!
//! Serves the fake GitLab on 127.0.0.1:P with one project per `DIR/<group>/<project>/`
//! (its files, recursively, make the initial commit on `main`; `<group>` may be nested with
//! `--depth`), and a user `updatebot` who is a member of every project. Prints the URL and the
//! token, then serves until killed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use fake_gitlab::{FakeGitlab, ProjectOptions};

fn usage() -> ! {
    eprintln!("usage: fake-gitlab [--port P] [--seed DIR] [--token T] [--access 30] [--depth 1]");
    std::process::exit(2)
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        if e.file_name() == ".git" {
            continue;
        }
        if path.is_dir() {
            collect_files(root, &path, out);
        } else if let Ok(content) = std::fs::read(&path) {
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, content));
        }
    }
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn main() {
    let mut port = 0u16;
    let mut seed: Option<PathBuf> = None;
    let mut token: Option<String> = None;
    let mut access = 30u32;
    let mut depth = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--port" => port = val().parse().unwrap_or_else(|_| usage()),
            "--seed" => seed = Some(PathBuf::from(val())),
            "--token" => token = Some(val()),
            "--access" => access = val().parse().unwrap_or_else(|_| usage()),
            "--depth" => depth = val().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let gl = FakeGitlab::start_on(SocketAddr::from(([127, 0, 0, 1], port)), None);
    let user = match &token {
        Some(t) => gl.add_user_with_token("updatebot", t),
        None => gl.add_user("updatebot"),
    };
    let mut count = 0;
    if let Some(seed) = &seed {
        // Groups are the first `depth` folder levels; the next level is the project.
        let mut groups: Vec<(String, PathBuf)> = vec![(String::new(), seed.clone())];
        for _ in 0..depth {
            groups = groups
                .into_iter()
                .flat_map(|(prefix, dir)| {
                    subdirs(&dir).into_iter().map(move |d| {
                        let name = d
                            .file_name()
                            .unwrap_or_default()
                            .to_string_lossy()
                            .into_owned();
                        let full = if prefix.is_empty() {
                            name
                        } else {
                            format!("{prefix}/{name}")
                        };
                        (full, d)
                    })
                })
                .collect();
        }
        for (group, dir) in groups {
            for project_dir in subdirs(&dir) {
                let name = project_dir
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let mut opts = ProjectOptions::new(&group, &name);
                collect_files(&project_dir, &project_dir, &mut opts.files);
                let id = gl.add_project_with(opts);
                gl.add_member(id, user.id, access);
                count += 1;
            }
        }
    }
    println!("url: {}", gl.url());
    println!("token: {}", user.token);
    println!("projects: {count}");
    loop {
        std::thread::park();
    }
}
