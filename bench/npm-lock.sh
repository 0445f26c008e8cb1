#!/usr/bin/env bash
# Native package-lock update vs npm's own, on the same update against the same local
# registry: `updatebot update` (look-ups, manifest edit and lock update) versus
# `npm install --package-lock-only --ignore-scripts` after the same package.json edit.
# Prints the median wall time of each over N runs (default 15) and the ratio.
#   bench/npm-lock.sh [CASE] [N]     CASE: a folder of fixtures/npm (default: the one
#                                    that adds transitive dependencies)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CASE="${1:-npm_bump_adds_transitive_dependencies}"
RUNS="${2:-15}"
cd "$REPO"
scripts/npm-env.sh install >&2
scripts/npm-env.sh start >/dev/null
trap 'scripts/npm-env.sh stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
# shellcheck source=/dev/null
source "${UPDATEBOT_TEST_NPM_ENV:-$REPO/.cache/npm-env}/env.sh"
cargo build --release --quiet --bin updatebot
bot="${CARGO_TARGET_DIR:-$REPO/target}/release/updatebot"
work="$(mktemp -d)"
fill() { # copy fixtures/npm/$CASE/$1 to $2 with the registries' addresses
    mkdir -p "$2"; cp -r "fixtures/npm/$CASE/$1/." "$2/"
    grep -rl '@@NPM' "$2" | while read -r f; do
        sed -i -e "s|@@NPM_SCOPED@@/|$UPDATEBOT_TEST_NPM_SCOPED_REGISTRY|g" -e "s|@@NPM@@/|$UPDATEBOT_TEST_NPM_REGISTRY|g" "$f"
    done
}
printf '%s\n' "scoped-token" >/dev/null
printf '%s\n' "$UPDATEBOT_TEST_NPM_SCOPED_TOKEN" > "$work/token"
cat > "$work/operator.yml" <<YAML
registries:
  npm-main: {type: npm-registry, url: $UPDATEBOT_TEST_NPM_REGISTRY, replaces-base: true}
  npm-acme: {type: npm-registry, url: $UPDATEBOT_TEST_NPM_SCOPED_REGISTRY, token-file: token}
YAML
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ours=(); theirs=()
for _ in $(seq "$RUNS"); do
    rm -rf "$work/a" "$work/b"; fill in "$work/a"; fill in "$work/b"
    cp "fixtures/npm/$CASE/out/package.json" "$work/b/package.json"
    t0=$(now); "$bot" update "$work/a" --config "$work/operator.yml" >/dev/null 2>&1; t1=$(now)
    (cd "$work/b" && env npm_config_userconfig="$UPDATEBOT_TEST_NPMRC" PATH="$UPDATEBOT_TEST_NODE:$PATH" \
        "$UPDATEBOT_TEST_NPM" install --package-lock-only --ignore-scripts >/dev/null 2>&1); t2=$(now)
    cmp -s "$work/a/package-lock.json" "$work/b/package-lock.json" || { echo "locks differ" >&2; exit 1; }
    ours+=($(( (t1 - t0) / 1000 ))); theirs+=($(( (t2 - t1) / 1000 )))
done
o=$(printf '%s\n' "${ours[@]}" | median); t=$(printf '%s\n' "${theirs[@]}" | median)
echo "case: $CASE, $RUNS runs, identical locks every run"
echo "updatebot update (release): median ${o} µs"
echo "npm install --package-lock-only: median ${t} µs"
awk -v o="$o" -v t="$t" 'BEGIN { printf "npm / updatebot: %.1fx\n", t / o }'
