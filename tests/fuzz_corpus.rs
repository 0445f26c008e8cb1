//! Replays the committed fuzz seeds and crash inputs (`fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/`) through the same entry points the `cargo fuzz` targets call
//! (`fuzz/src/entries.rs`), so that every crash the fuzzer found stays fixed without running
//! the fuzzer (that is `bench/fuzz.sh`, too slow for the test command).

#[path = "../fuzz/src/entries.rs"]
#[allow(dead_code)]
mod entries;

use std::path::Path;

#[test]
fn committed_fuzz_inputs_replay_without_panic() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for kind in ["seeds", "regressions"] {
        let Ok(targets) = std::fs::read_dir(fuzz.join(kind)) else {
            continue;
        };
        for target in targets {
            let target = target.unwrap();
            let name = target.file_name().to_string_lossy().into_owned();
            let entry = entries::entry(&name)
                .unwrap_or_else(|| panic!("fuzz/{kind}/{name}: no fuzz target `{name}`"));
            for input in std::fs::read_dir(target.path()).unwrap() {
                let path = input.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                // A panic here names the input: `cargo fuzz run <target> <file>` reproduces.
                eprintln!("replaying {}", path.display());
                entry(&data);
                replayed += 1;
            }
        }
    }
    assert!(replayed > 20, "only {replayed} inputs under fuzz/");
}

#[test]
fn every_target_has_a_fuzz_binary_and_seeds() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
    for (name, _) in entries::TARGETS {
        assert!(
            fuzz.join(format!("fuzz_targets/{name}.rs")).exists(),
            "fuzz_targets/{name}.rs is missing"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml lists no `{name}` binary"
        );
        assert!(
            fuzz.join("seeds").join(name).is_dir(),
            "fuzz/seeds/{name}/ is missing"
        );
    }
}
