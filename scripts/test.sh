#!/usr/bin/env bash
# The one command that runs updatebot's whole test suite, on a fresh machine too:
# installs and starts the real local services (scripts/test-env.sh: devpi;
# scripts/registry-env.sh: OCI registries and a token service; scripts/deploy-env.sh:
# helm, kubectl and kubernetes-validate for the deployment files), then runs
# rustfmt, clippy and the tests with UPDATEBOT_REQUIRE_SERVICES=1, so a test
# that needs a service fails instead of skipping. The services are always
# stopped on exit. Extra arguments go to `cargo test`, e.g.
#   scripts/test.sh -p updatebot-core -- some_test_name
# Exit code: the first failing step's (0 if all pass).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_DIR="${UPDATEBOT_TEST_ENV:-$REPO/.cache/test-env}"
export UPDATEBOT_TEST_ENV="$ENV_DIR"
cd "$REPO"

step() { printf '\n==> %s\n' "$*" >&2; }

step "installing test services"
scripts/test-env.sh install
scripts/npm-env.sh install
scripts/registry-env.sh install
scripts/deploy-env.sh install

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    step "stopping test services"
    scripts/test-env.sh stop || true
    scripts/npm-env.sh stop || true
    scripts/registry-env.sh stop || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "starting test services"
scripts/test-env.sh start
scripts/npm-env.sh start
# shellcheck source=/dev/null
source "$ENV_DIR/env.sh"
# shellcheck source=/dev/null
source "${UPDATEBOT_TEST_NPM_ENV:-$REPO/.cache/npm-env}/env.sh"
scripts/registry-env.sh start
# shellcheck source=/dev/null
source "$ENV_DIR/registry-env.sh"
export UPDATEBOT_REQUIRE_SERVICES=1

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test --workspace $*"
cargo test --workspace "$@"
