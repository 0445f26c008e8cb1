#!/usr/bin/env bash
# Fuzz every parser of updatebot for a fixed budget and report, per target, the executions,
# executions per second, crashes and peak RSS.
#   bench/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
# The targets are fuzz/fuzz_targets/*.rs (entry points in fuzz/src/entries.rs). Working
# corpora are seeded from fuzz/seeds/, fuzz/regressions/, fixtures/ and the public corpus
# (../shared/corpus.tar.xz) into fuzz/corpus/ (not committed); crash inputs land in
# fuzz/artifacts/<target>/. A crash worth keeping goes to fuzz/regressions/<target>/ with
# its fix: `cargo test --test fuzz_corpus` replays those on every test run.
# Exit status: 0 when no target crashed, 1 otherwise.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_TARGET="${1:-60}"
shift || true
cd "$REPO/fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz from crates.io" >&2
    cargo install cargo-fuzz --locked >&2
fi
# cargo fuzz passes -Z flags (sanitizer, coverage): a stable toolchain takes them with
# RUSTC_BOOTSTRAP=1; a nightly one needs nothing.
if ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi

mapfile -t TARGETS < <(if [ "$#" -gt 0 ]; then printf '%s\n' "$@"; else cargo fuzz list; fi)

# --- seeds ---------------------------------------------------------------------------
corpus_dir="$(mktemp -d)"
trap 'rm -rf "$corpus_dir"' EXIT
if [ -f "$REPO/../shared/corpus.tar.xz" ]; then
    tar -xJf "$REPO/../shared/corpus.tar.xz" -C "$corpus_dir"
fi
# seed TARGET FIND-ARGS...: files of fixtures/ and of the corpus matching FIND-ARGS
seed() {
    local target="$1"
    shift
    local out="corpus/$target"
    mkdir -p "$out"
    find "$REPO/fixtures" "$corpus_dir" -type f -size -256k \( "$@" \) -print0 |
        while IFS= read -r -d '' f; do
            cp "$f" "$out/$(sha1sum "$f" | cut -c1-16)"
        done
}
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t"
    for d in "seeds/$t" "regressions/$t"; do
        if [ -d "$d" ]; then cp -r "$d/." "corpus/$t/"; fi
    done
done
seed requirements -name '*requirements*.txt' -o -name '*.in' -o -path '*/requirements/*.txt'
seed pyproject -name pyproject.toml
seed pipfile -name Pipfile
seed package_json -name package.json
seed npmrc -name .npmrc
seed npm_lock -name package-lock.json -o -name npm-shrinkwrap.json
seed dockerfile -name 'Dockerfile*' -o -name '*.Dockerfile' -o -name Containerfile
seed compose -name '*compose*.yml' -o -name '*compose*.yaml'
seed gitlab_ci -name '*gitlab-ci.yml' -o -path '*/.gitlab/ci/*.yml'
seed kubernetes -path '*k8s*' -name '*.yaml' -o -path '*deploy*' -name '*.yaml'
seed helm_values -name 'values*.yaml' -o -name '*-values.yaml'
seed repo_config -name .updatebot.yml -o -path '*/fixtures/config/*.yml'
seed operator_config -name 'operator*.yml'
seed pypi_simple_json -path '*/python/index/*.json'
seed npm_packument -path '*/npm/registry/*.json'
cp "$REPO"/config/*.yml corpus/repo_config/ 2>/dev/null || true
cp "$REPO"/config/operator*.yml corpus/operator_config/ 2>/dev/null || true

# --- build once, then run each target's binary --------------------------------------------
# FUZZ_SKIP_BUILD=1 runs the binaries already built (the build takes half an hour on 2 cores).
if [ -z "${FUZZ_SKIP_BUILD:-}" ]; then
    cargo fuzz build >&2
fi
bin_dir="${CARGO_TARGET_DIR:-$REPO/fuzz/target}/$(rustc -vV | sed -n 's/^host: //p')/release"

report="$(mktemp)"
printf '%-18s %12s %10s %8s %10s\n' target executions exec/s crashes peak-RSS >"$report"
failed=0
for t in "${TARGETS[@]}"; do
    mkdir -p "artifacts/$t"
    before=$(find "artifacts/$t" -type f | wc -l)
    log="$(mktemp)"
    # -rss_limit_mb: an input that makes a parser take 2 GB is a bug (an OOM crash).
    # -timeout: 10 s on one input is a hang. -max_len: manifests rarely exceed 64 KB.
    set +e
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}" \
        "$bin_dir/$t" -artifact_prefix="artifacts/$t/" "corpus/$t" \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 \
        -max_len=65536 -print_final_stats=1 -close_fd_mask=1 >"$log" 2>&1
    status=$?
    set -e
    after=$(find "artifacts/$t" -type f | wc -l)
    crashes=$((after - before))
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes=1 # died without writing an artifact (stack overflow in a build step, …)
    fi
    [ "$crashes" -eq 0 ] || failed=1
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    printf '%-18s %12s %10s %8s %8s MB\n' "$t" "${runs:-?}" "${speed:-?}" "$crashes" "${rss:-?}" >>"$report"
    if [ "$crashes" -ne 0 ]; then
        echo "== $t crashed; the end of its log:" >&2
        grep -v '^#' "$log" | tail -30 >&2
        ls -t "artifacts/$t" | head -3 | sed "s|^|   fuzz/artifacts/$t/|" >&2
    fi
    rm -f "$log"
done
cat "$report"
rm -f "$report"
exit "$failed"
