#!/usr/bin/env bash
# Native vs tool time for the same single-package lockfile update (six 1.16.0 -> 1.17.0 in
# a uv.lock and a poetry.lock project), against the local devpi of scripts/test-env.sh.
#   bench/python-lock.sh [runs]      (default 5; needs `scripts/test-env.sh install start`)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${1:-5}"
ENV_DIR="${UPDATEBOT_TEST_ENV:-$REPO/.cache/test-env}"
# shellcheck source=/dev/null
source "$ENV_DIR/env.sh"
T="$UPDATEBOT_TEST_TOOLS"
INDEX="$UPDATEBOT_TEST_PYPI_SIMPLE"
# UPDATEBOT_BIN: a binary already built (else a release build is made first).
if [[ -z "${UPDATEBOT_BIN:-}" ]]; then
    cargo build --release --quiet --manifest-path "$REPO/Cargo.toml"
fi
BIN="${UPDATEBOT_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/updatebot}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
clean() { env -i PATH="$T:/usr/bin:/bin" HOME="$WORK/home" UV_NO_CONFIG=1 "$@"; }
for kind in uv poetry; do
    case "$kind" in
        uv) case_dir=uv_pin lock=uv.lock tool=uv ;;
        poetry) case_dir=poetry_pin lock=poetry.lock tool=poetry ;;
    esac
    base="$WORK/$kind"
    mkdir -p "$base/original"
    for f in "$REPO/fixtures/python/lock_cases/$case_dir"/*; do
        sed "s|@INDEX@|$INDEX|g" "$f" >"$base/original/$(basename "$f")"
    done
    (cd "$base/original" && if [[ $kind == uv ]]; then clean UV_DEFAULT_INDEX="$INDEX" "$T/uv" lock --no-build -q; else clean "$T/poetry" lock -q; fi)
    for engine in native tool; do
        cat >"$base/op-$engine.yml" <<YML
registries:
  local: {type: python-index, url: "$INDEX", replaces-base: true}
lockfiles:
  $lock: {engine: $engine, tool: "$T/$tool"}
YML
        start=$(date +%s.%N)
        for ((i = 0; i < RUNS; i++)); do
            rm -rf "$base/run" && cp -r "$base/original" "$base/run"
            "$BIN" update "$base/run" --config "$base/op-$engine.yml" >/dev/null 2>&1
            grep -q '1.17.0' "$base/run/$lock" || { echo "$kind $engine: lock not updated" >&2; exit 1; }
            cp "$base/run/$lock" "$base/$engine.$lock"
        done
        end=$(date +%s.%N)
        printf '%-7s %-6s %6.0f ms per update (whole run: scan, lookup, edit)\n' "$lock" "$engine" \
            "$(echo "($end - $start) * 1000 / $RUNS" | bc -l)"
    done
    if cmp -s "$base/native.$lock" "$base/tool.$lock"; then echo "$lock: native and tool locks identical"; else echo "$lock: native and tool locks DIFFER"; fi
done
