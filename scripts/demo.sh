#!/usr/bin/env bash
# The quick start: run updatebot's main local job on the sample repository
# (fixtures/sample) against a real, local Python index (devpi on loopback, seeded
# with real packages by scripts/test-env.sh), then show what `update` would write.
#   scripts/demo.sh            check + dry-run diff
#   scripts/demo.sh --json     the check report as JSON
# Nothing in fixtures/ is modified: the sample is copied to a temporary folder.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_DIR="${UPDATEBOT_TEST_ENV:-$REPO/.cache/test-env}"
export UPDATEBOT_TEST_ENV="$ENV_DIR"
cd "$REPO"

scripts/test-env.sh install >&2
work="$(mktemp -d)"
cleanup() {
    scripts/test-env.sh stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
scripts/test-env.sh start >/dev/null
# shellcheck source=/dev/null
source "$ENV_DIR/env.sh"

cp -r fixtures/sample "$work/sample"
cat >"$work/operator.yml" <<YAML
# The operator config: the local index replaces PyPI for every project.
registries:
  local-pypi:
    type: python-index
    url: $UPDATEBOT_TEST_PYPI_SIMPLE
    replaces-base: true
YAML

cargo build --quiet --bin updatebot
bot="${CARGO_TARGET_DIR:-$REPO/target}/debug/updatebot"
format=table
[ "${1:-}" = "--json" ] && format=json

printf '\n==> updatebot check fixtures/sample\n\n' >&2
status=0
"$bot" check "$work/sample" --config "$work/operator.yml" --format "$format" 2>/dev/null || status=$?
if [ "$format" = table ]; then
    printf '\n==> updatebot update --dry-run fixtures/sample\n\n' >&2
    "$bot" update --dry-run "$work/sample" --config "$work/operator.yml" 2>/dev/null || status=$?
fi
exit "$status"
