#!/usr/bin/env bash
# Real services for updatebot's integration tests: a local Python package index
# (devpi-server in offline mode, on loopback) seeded with the real packages
# listed in fixtures/python/index/seed.txt.
#
#   scripts/test-env.sh install   venv with devpi-server + devpi-client, a second
#                                 venv (tools/) with uv, poetry, pipenv, pip-tools,
#                                 Poetry 1.8 and 1.1 in venvs of their own (linked as
#                                 tools/bin/poetry-1, poetry-1.1), and the seed files
#                                 downloaded once from PyPI (cached)
#   scripts/test-env.sh start     fresh server on 127.0.0.1:<free port>, index
#                                 root/test (no bases) holding the seed files;
#                                 writes $UPDATEBOT_TEST_ENV/env.sh
#   scripts/test-env.sh stop      stops that server and removes its temp dir
#   scripts/test-env.sh status    tells whether a started server is running
#
# $UPDATEBOT_TEST_ENV (default <repo>/.cache/test-env) is the venv; it also holds
# dists/ (the seed files) and env.sh (written by `start`, removed by `stop`).
# Environment: UPDATEBOT_TEST_ENV, PYTHON (default python3),
# UPDATEBOT_TEST_DEVPI_CORE_METADATA=1 (serve PEP 658 metadata; off by default),
# UPDATEBOT_TEST_DEVPI_START_TIMEOUT (seconds, default 90).
# Needs only python3 (>= 3.9, with venv/ensurepip) and access to PyPI for
# `install`; `start` and `stop` work offline.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_DIR="${UPDATEBOT_TEST_ENV:-$REPO/.cache/test-env}"
SEED="$REPO/fixtures/python/index/seed.txt"
DISTS="$ENV_DIR/dists"
ENV_FILE="$ENV_DIR/env.sh"
PYTHON="${PYTHON:-python3}"

# Pinned so that what the tests see of devpi does not drift.
PIP_SPEC="pip==26.3"
DEVPI_SPECS=(devpi-server==6.20.3 devpi-client==7.3.0)
# The real lockfile tools, the oracles of tests/python_locks.rs; in their own venv
# ($ENV_DIR/tools) so that their dependencies never meet devpi's.
TOOL_SPECS=(uv==0.13.8 poetry==2.5.1 pipenv==2026.10.3 pip-tools==7.6.2)
# Older Poetry releases, the oracles of locks they wrote (1.8: lock-version 2.0; 1.1:
# lock-version 1.1), each in its own venv and linked into tools/bin under the names updatebot
# looks for beside `poetry` when a lock was written by an older Poetry.
OLD_POETRIES=("poetry-1:poetry==1.8.5" "poetry-1.1:poetry==1.1.15")
INDEX="root/test"
START_TIMEOUT="${UPDATEBOT_TEST_DEVPI_START_TIMEOUT:-90}"

# This machine points pip at an empty local folder of wheels; we want PyPI.
unset PIP_FIND_LINKS PIP_NO_INDEX
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf 'test-env: %s\n' "$*" >&2; }
die() { printf 'test-env: error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---------------------------------------------------------------- install ---

install_stamp_content() {
    printf '%s\n' "$("$PYTHON" -c 'import sys; print(sys.version)' 2>/dev/null | head -n1)" \
        "$PIP_SPEC" "${DEVPI_SPECS[@]}"
}

install_venv() {
    local stamp="$ENV_DIR/.installed" want
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
    want="$(install_stamp_content)"
    if [[ -f "$stamp" && -x "$ENV_DIR/bin/devpi-server" && -x "$ENV_DIR/bin/devpi" ]] \
        && [[ "$(cat "$stamp")" == "$want" ]]; then
        log "venv up to date: $ENV_DIR"
        return
    fi
    log "creating venv $ENV_DIR"
    mkdir -p "$ENV_DIR"
    rm -f "$stamp"
    "$PYTHON" -m venv "$ENV_DIR"
    "$ENV_DIR/bin/python" -m pip install --quiet --upgrade "$PIP_SPEC"
    log "installing ${DEVPI_SPECS[*]}"
    "$ENV_DIR/bin/python" -m pip install --quiet "${DEVPI_SPECS[@]}"
    printf '%s\n' "$want" >"$stamp"
}

# Lines of seed.txt as "name==version kinds", comments and blanks removed.
seed_lines() {
    sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$SEED" | grep -v '^$' || true
}

download_dists() {
    local stamp="$DISTS/.seed.sha256" want
    [[ -f "$SEED" ]] || die "seed list not found: $SEED"
    want="$(sha256sum "$SEED" | cut -d' ' -f1)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        log "seed files cached: $DISTS ($(find "$DISTS" -maxdepth 1 -type f ! -name '.*' | wc -l) files)"
        return
    fi
    rm -rf "$ENV_DIR"/dists.tmp.*   # left by an interrupted download
    local tmp
    tmp="$(mktemp -d "$ENV_DIR/dists.tmp.XXXXXX")"
    # pip refuses two versions of one project in a single call (even with
    # --no-deps), so the n-th version of every project goes into call n.
    local -A seen=()
    local -a wheel_rounds=() sdist_rounds=()
    local line spec kinds name n kind
    while read -r spec kinds; do
        [[ "$spec" == *==* ]] || die "bad line in $SEED: '$spec $kinds' (want name==version [kinds])"
        name="${spec%%==*}"
        name="$(printf '%s' "$name" | tr 'A-Z_.' 'a-z--')"
        kinds="${kinds:-wheel}"
        for kind in ${kinds//,/ }; do
            n="${seen[$name:$kind]:-0}"
            seen[$name:$kind]=$((n + 1))
            case "$kind" in
                wheel) wheel_rounds[n]="${wheel_rounds[n]:-} $spec" ;;
                sdist) sdist_rounds[n]="${sdist_rounds[n]:-} $spec" ;;
                *) die "unknown kind '$kind' for $spec in $SEED (want wheel, sdist)" ;;
            esac
        done
    done < <(seed_lines)

    log "downloading seed files from PyPI into $DISTS"
    local pip=("$ENV_DIR/bin/python" -m pip download --quiet --no-deps --ignore-requires-python --dest "$tmp")
    local -a specs
    for line in "${wheel_rounds[@]}"; do
        read -r -a specs <<<"$line"
        # platform `any` + abi `none`: only pure-python wheels qualify
        "${pip[@]}" --only-binary=:all: --platform any --implementation py --abi none "${specs[@]}" \
            || die "pip download of wheels failed: ${specs[*]}"
    done
    for line in "${sdist_rounds[@]}"; do
        read -r -a specs <<<"$line"
        "${pip[@]}" --no-binary=:all: "${specs[@]}" || die "pip download of sdists failed: ${specs[*]}"
    done

    local expected got
    expected=0
    for line in "${wheel_rounds[@]}" "${sdist_rounds[@]}"; do
        read -r -a specs <<<"$line"
        expected=$((expected + ${#specs[@]}))
    done
    got="$(find "$tmp" -maxdepth 1 -type f | wc -l)"
    [[ "$got" -eq "$expected" ]] || die "expected $expected seed files, pip gave $got: $(ls "$tmp")"

    rm -rf "$DISTS"
    mv "$tmp" "$DISTS"
    printf '%s\n' "$want" >"$stamp"
    log "downloaded $got seed files"
}

install_tools() {
    local tools="$ENV_DIR/tools" stamp="$ENV_DIR/tools/.installed" want
    want="$(printf '%s\n' "$PIP_SPEC" "${TOOL_SPECS[@]}")"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$tools/bin/poetry" ]]; then
        log "lockfile tools up to date: $tools/bin"
        return
    fi
    log "installing ${TOOL_SPECS[*]} into $tools"
    rm -rf "$tools"
    "$PYTHON" -m venv "$tools"
    "$tools/bin/python" -m pip install --quiet --upgrade "$PIP_SPEC"
    "$tools/bin/python" -m pip install --quiet "${TOOL_SPECS[@]}"
    printf '%s\n' "$want" >"$stamp"
}

install_old_poetries() {
    local entry link spec venv stamp want
    for entry in "${OLD_POETRIES[@]}"; do
        link="${entry%%:*}" spec="${entry#*:}"
        venv="$ENV_DIR/${spec/==/-}" stamp="$venv/.installed"
        want="$(printf '%s\n' "$PIP_SPEC" "$spec")"
        if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" || ! -x "$venv/bin/poetry" ]]; then
            log "installing $spec into $venv"
            rm -rf "$venv"
            "$PYTHON" -m venv "$venv"
            "$venv/bin/python" -m pip install --quiet --upgrade "$PIP_SPEC"
            "$venv/bin/python" -m pip install --quiet "$spec"
            printf '%s\n' "$want" >"$stamp"
        else
            log "$spec up to date: $venv/bin/poetry"
        fi
        ln -sfn "$venv/bin/poetry" "$ENV_DIR/tools/bin/$link"
    done
}

cmd_install() {
    install_venv
    install_tools
    install_old_poetries
    download_dists
}

# ------------------------------------------------------------ start / stop ---

# Is $1 the pid of a running devpi-server?
is_devpi_pid() {
    [[ -n "${1:-}" && -r "/proc/$1/cmdline" ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q devpi-server
}

cmd_stop() {
    if [[ ! -f "$ENV_FILE" ]]; then
        log "no server recorded ($ENV_FILE absent); nothing to stop"
        return 0
    fi
    local pid dir
    pid="$(sed -n 's/^export UPDATEBOT_TEST_DEVPI_PID=//p' "$ENV_FILE")"
    dir="$(sed -n "s/^export UPDATEBOT_TEST_DEVPI_TMPDIR='\(.*\)'\$/\1/p" "$ENV_FILE")"
    if is_devpi_pid "$pid"; then
        log "stopping devpi-server (pid $pid)"
        kill "$pid" 2>/dev/null || true
        local i
        for ((i = 0; i < 100; i++)); do
            is_devpi_pid "$pid" || break
            sleep 0.1
        done
        if is_devpi_pid "$pid"; then
            log "devpi-server (pid $pid) still running after 10 s; killing it"
            kill -9 "$pid" 2>/dev/null || true
        fi
    else
        log "devpi-server (pid ${pid:-?}) is not running"
    fi
    # only ever remove a dir that `start` made
    if [[ -n "$dir" && -d "$dir" && "$(basename "$dir")" == updatebot-devpi.* ]]; then
        rm -rf "$dir"
    fi
    rm -f "$ENV_FILE"
}

cmd_status() {
    [[ -f "$ENV_FILE" ]] || { echo "not started"; return 1; }
    local pid
    pid="$(sed -n 's/^export UPDATEBOT_TEST_DEVPI_PID=//p' "$ENV_FILE")"
    if is_devpi_pid "$pid"; then
        sed -n 's/^export UPDATEBOT_TEST_PYPI_SIMPLE=//p' "$ENV_FILE"
    else
        echo "recorded server (pid $pid) is not running"
        return 1
    fi
}

cmd_start() {
    [[ -x "$ENV_DIR/bin/devpi-server" ]] || die "devpi-server not installed; run: $0 install"
    [[ -f "$DISTS/.seed.sha256" ]] || die "seed files not downloaded; run: $0 install"
    if [[ -f "$ENV_FILE" ]]; then
        log "a server was recorded by an earlier start; stopping it first"
        cmd_stop
    fi

    local tmp server_dir server_log client_dir pid
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/updatebot-devpi.XXXXXX")"
    server_dir="$tmp/server"
    server_log="$tmp/server.log"
    client_dir="$tmp/client"

    fail() {
        log "error: $*"
        if [[ -f "$server_log" ]]; then
            log "---- devpi-server log ($server_log) ----"
            tail -n 60 "$server_log" >&2 || true
            log "----"
        fi
        if [[ -n "${pid:-}" ]]; then
            kill "$pid" 2>/dev/null || true
            local i
            for ((i = 0; i < 50; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
        fi
        rm -rf "$tmp"
        exit 1
    }

    "$ENV_DIR/bin/devpi-init" --serverdir "$server_dir" --no-root-pypi >"$tmp/init.log" 2>&1 \
        || { cat "$tmp/init.log" >&2; rm -rf "$tmp"; die "devpi-init failed"; }

    # Port 0: the kernel picks a free port (no race); waitress logs the real one.
    # setsid: the server outlives this script and its terminal.
    # --argon2-*: hidden options (devpi-server uses them in its own tests) that
    # make deriving the auth-token key take ms instead of 5-8 s; the key only
    # has to be consistent within this throwaway server.
    local launcher=() server_args=(
        --serverdir "$server_dir" --offline-mode
        --host 127.0.0.1 --port 0
        --argon2-time-cost 1 --argon2-memory-cost 1024 --argon2-parallelism 1
    )
    # Opt-in: PEP 658/714 metadata (`core-metadata: true`, `.metadata` files).
    if [[ "${UPDATEBOT_TEST_DEVPI_CORE_METADATA:-0}" == 1 ]]; then
        server_args+=(--enable-core-metadata)
    fi
    if command -v setsid >/dev/null; then launcher=(setsid); fi
    # The log exists before the server starts: reading it must not race the redirection.
    : >"$server_log"
    "${launcher[@]}" "$ENV_DIR/bin/devpi-server" "${server_args[@]}" \
        </dev/null >"$server_log" 2>&1 &
    pid=$!

    local port="" waited=0
    while [[ -z "$port" ]]; do
        kill -0 "$pid" 2>/dev/null || fail "devpi-server exited during startup"
        port="$(sed -n 's|.*Serving on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$server_log" | head -n1)"
        [[ -n "$port" ]] && break
        ((waited < START_TIMEOUT * 10)) || fail "devpi-server not ready after ${START_TIMEOUT} s"
        sleep 0.1
        waited=$((waited + 1))
    done
    local url="http://127.0.0.1:$port"

    local devpi=("$ENV_DIR/bin/devpi" --clientdir "$client_dir")
    {
        "${devpi[@]}" use "$url" &&
        "${devpi[@]}" login root --password '' &&
        "${devpi[@]}" index -c "$INDEX" bases= volatile=False &&
        "${devpi[@]}" use "$INDEX"
    } >"$tmp/setup.log" 2>&1 || { cat "$tmp/setup.log" >&2; fail "creating index $INDEX failed"; }

    log "uploading $(find "$DISTS" -maxdepth 1 -type f ! -name '.*' | wc -l) seed files to $INDEX"
    "${devpi[@]}" upload --index "$INDEX" --from-dir "$DISTS" >"$tmp/upload.log" 2>&1 \
        || { cat "$tmp/upload.log" >&2; fail "upload failed"; }

    # Yanking (PEP 592) tomli 2.0.1 is not possible here: devpi-server 6.20
    # serves `yanked` only for mirror indexes; for indexes one uploads to it says
    # "PEP 592 isn't supported for private stages yet" (model.py,
    # get_simplelinks_perstage) and devpi-client has no yank command.
    log "note: tomli 2.0.1 is NOT yanked (devpi cannot yank on an upload index)"

    cat >"$ENV_FILE" <<EOF
# Written by scripts/test-env.sh start; removed by scripts/test-env.sh stop.
export UPDATEBOT_TEST_PYPI_SIMPLE=$url/$INDEX/+simple/
export UPDATEBOT_TEST_DEVPI_URL=$url
export UPDATEBOT_TEST_DEVPI_PID=$pid
export UPDATEBOT_TEST_DEVPI_SERVERDIR='$server_dir'
export UPDATEBOT_TEST_DEVPI_TMPDIR='$tmp'
export UPDATEBOT_TEST_DEVPI_LOG='$server_log'
export UPDATEBOT_TEST_PIP='$ENV_DIR/bin/pip'
export UPDATEBOT_TEST_TOOLS='$ENV_DIR/tools/bin'
EOF
    log "devpi-server (pid $pid) serving $url/$INDEX/+simple/ ; env in $ENV_FILE"
    echo "$url/$INDEX/+simple/"
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    -h | --help | help) usage ;;
    *) usage ;;
esac
