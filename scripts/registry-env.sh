#!/usr/bin/env bash
# Real OCI registries for updatebot's container tests: Debian's docker-registry
# (distribution 2.8) started three times on loopback, over one shared storage:
#   plain  - no authentication
#   basic  - htpasswd basic auth (user `updatebot`, a fresh random password)
#   token  - Docker's token auth, with tests/token-service (ES256 JWTs signed by
#            a key and certificate made here with openssl) as its token realm;
#            the same user and password get tokens
# No Docker engine is needed: the tests push blobs and manifests with plain HTTP
# PUTs (tests/containers.rs seeds them at start, idempotently).
#
#   scripts/registry-env.sh install   docker-registry, apache2-utils (htpasswd) and
#                                     openssl from Debian when missing (needs root)
#   scripts/registry-env.sh start     starts the three registries and the token
#                                     service on free loopback ports; writes
#                                     $UPDATEBOT_TEST_ENV/registry-env.sh
#   scripts/registry-env.sh stop      stops what `start` started, removes its dir
#   scripts/registry-env.sh status    tells whether they run
#
# $UPDATEBOT_TEST_ENV defaults to <repo>/.cache/test-env. `start` builds the token
# service with cargo (CARGO_TARGET_DIR is respected).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_DIR="${UPDATEBOT_TEST_ENV:-$REPO/.cache/test-env}"
ENV_FILE="$ENV_DIR/registry-env.sh"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
START_TIMEOUT="${UPDATEBOT_TEST_REGISTRY_START_TIMEOUT:-60}"
USER_NAME=updatebot
SERVICE=updatebot-test-registry
ISSUER=updatebot-test-token-service

log() { printf 'registry-env: %s\n' "$*" >&2; }
die() { printf 'registry-env: error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

cmd_install() {
    local missing=()
    command -v docker-registry >/dev/null || missing+=(docker-registry)
    command -v htpasswd >/dev/null || missing+=(apache2-utils)
    command -v openssl >/dev/null || missing+=(openssl)
    if ((${#missing[@]} == 0)); then
        log "docker-registry, htpasswd and openssl are installed"
        return
    fi
    local sudo=()
    [[ "$(id -u)" == 0 ]] || sudo=(sudo)
    log "installing ${missing[*]} from Debian"
    export DEBIAN_FRONTEND=noninteractive
    if ! "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
        "${sudo[@]}" apt-get update -qq
        "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    # The package may start a system registry on :5000; ours never use that port's
    # service, and we leave it alone.
}

# Is $1 the pid of a process whose command line contains $2?
is_pid_of() {
    [[ -n "${1:-}" && -r "/proc/$1/cmdline" ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -- "$2"
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
    local port i
    for ((i = 0; i < 200; i++)); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if ! port_in_use "$port"; then
            echo "$port"
            return
        fi
    done
    die "no free port found"
}

recorded() { sed -n "s/^export $1=//p" "$ENV_FILE" | tr -d "'"; }

cmd_stop() {
    if [[ ! -f "$ENV_FILE" ]]; then
        log "nothing recorded ($ENV_FILE absent); nothing to stop"
        return 0
    fi
    local name pid dir
    for name in PLAIN BASIC TOKEN; do
        pid="$(recorded "UPDATEBOT_TEST_REGISTRY_${name}_PID")"
        if is_pid_of "$pid" docker-registry; then
            kill "$pid" 2>/dev/null || true
        fi
    done
    pid="$(recorded UPDATEBOT_TEST_TOKEN_SERVICE_PID)"
    if is_pid_of "$pid" token-service; then
        kill "$pid" 2>/dev/null || true
    fi
    dir="$(recorded UPDATEBOT_TEST_REGISTRY_TMPDIR)"
    sleep 0.2
    # only ever remove a dir that `start` made
    if [[ -n "$dir" && -d "$dir" && "$(basename "$dir")" == updatebot-registry.* ]]; then
        rm -rf "$dir"
    fi
    rm -f "$ENV_FILE"
    log "stopped"
}

cmd_status() {
    [[ -f "$ENV_FILE" ]] || { echo "not started"; return 1; }
    local name pid ok=0
    for name in PLAIN BASIC TOKEN; do
        pid="$(recorded "UPDATEBOT_TEST_REGISTRY_${name}_PID")"
        if is_pid_of "$pid" docker-registry; then
            echo "$name: $(recorded "UPDATEBOT_TEST_REGISTRY_${name}")"
        else
            echo "$name: not running"
            ok=1
        fi
    done
    return "$ok"
}

# registry_config FILE PORT STORAGE [AUTH-YAML]
registry_config() {
    cat >"$1" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $3
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$2
  secret: updatebot-test-only
${4:-}
EOF
}

cmd_start() {
    command -v docker-registry >/dev/null || die "docker-registry not installed; run: $0 install"
    command -v htpasswd >/dev/null || die "htpasswd not installed; run: $0 install"
    if [[ -f "$ENV_FILE" ]]; then
        log "an earlier start was recorded; stopping it first"
        cmd_stop
    fi
    mkdir -p "$ENV_DIR"
    local tmp pids=()
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/updatebot-registry.XXXXXX")"
    fail() {
        log "error: $*"
        local f
        for f in "$tmp"/*.log; do
            [[ -f "$f" ]] || continue
            log "---- $f ----"
            tail -n 30 "$f" >&2 || true
        done
        local p
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
        rm -rf "$tmp"
        exit 1
    }
    # Whatever fails unexpectedly still stops what was started.
    trap 'fail "unexpected failure at line $LINENO"' ERR

    log "building the token service"
    (cd "$REPO" && cargo build --quiet -p token-service) || fail "cargo build -p token-service failed"
    local token_bin="$TARGET_DIR/debug/token-service"
    [[ -x "$token_bin" ]] || fail "no token-service binary at $token_bin"

    local password
    password="$(openssl rand -hex 16)"
    printf '%s\n' "$password" >"$tmp/password"
    htpasswd -Bbc "$tmp/htpasswd" "$USER_NAME" "$password" 2>/dev/null || fail "htpasswd failed"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/token.key" 2>/dev/null \
        || fail "openssl genpkey failed"
    openssl req -new -x509 -key "$tmp/token.key" -out "$tmp/token.crt" -days 3 \
        -subj "/CN=$ISSUER" 2>/dev/null || fail "openssl req failed"

    local launcher=()
    if command -v setsid >/dev/null; then launcher=(setsid); fi

    "${launcher[@]}" "$token_bin" --key "$tmp/token.key" --cert "$tmp/token.crt" \
        --issuer "$ISSUER" --service "$SERVICE" --user "$USER_NAME" \
        --password-file "$tmp/password" </dev/null >"$tmp/token-service.log" 2>&1 &
    local token_pid=$!
    pids+=("$token_pid")
    local token_url="" waited=0
    while [[ -z "$token_url" ]]; do
        kill -0 "$token_pid" 2>/dev/null || fail "token-service exited during startup"
        token_url="$(sed -n 's|^listening on \(http://127\.0\.0\.1:[0-9]*\)$|\1|p' "$tmp/token-service.log" 2>/dev/null | head -n1 || true)"
        [[ -n "$token_url" ]] && break
        ((waited < START_TIMEOUT * 10)) || fail "token-service not ready after ${START_TIMEOUT} s"
        sleep 0.1
        waited=$((waited + 1))
    done

    mkdir -p "$tmp/storage"
    local -A ports=() registry_pids=()
    local name auth
    for name in plain basic token; do
        case "$name" in
            plain) auth="" ;;
            basic) auth="auth:
  htpasswd:
    realm: updatebot-test
    path: $tmp/htpasswd" ;;
            token) auth="auth:
  token:
    realm: $token_url/token
    service: $SERVICE
    issuer: $ISSUER
    rootcertbundle: $tmp/token.crt" ;;
        esac
        local attempt started=""
        for ((attempt = 0; attempt < 5; attempt++)); do
            ports[$name]="$(free_port)"
            registry_config "$tmp/$name.yml" "${ports[$name]}" "$tmp/storage" "$auth"
            "${launcher[@]}" docker-registry serve "$tmp/$name.yml" </dev/null >"$tmp/$name.log" 2>&1 &
            registry_pids[$name]=$!
            local i
            for ((i = 0; i < START_TIMEOUT * 10; i++)); do
                if ! kill -0 "${registry_pids[$name]}" 2>/dev/null; then break; fi
                if grep -q "listening on 127.0.0.1:${ports[$name]}" "$tmp/$name.log" 2>/dev/null; then
                    started=1
                    break
                fi
                sleep 0.1
            done
            [[ -n "$started" ]] && break
            kill "${registry_pids[$name]}" 2>/dev/null || true
            log "registry $name did not start on port ${ports[$name]}; trying another port"
        done
        [[ -n "$started" ]] || fail "registry $name did not start"
        pids+=("${registry_pids[$name]}")
    done

    cat >"$ENV_FILE" <<EOF
# Written by scripts/registry-env.sh start; removed by scripts/registry-env.sh stop.
export UPDATEBOT_TEST_REGISTRY_PLAIN=127.0.0.1:${ports[plain]}
export UPDATEBOT_TEST_REGISTRY_BASIC=127.0.0.1:${ports[basic]}
export UPDATEBOT_TEST_REGISTRY_TOKEN=127.0.0.1:${ports[token]}
export UPDATEBOT_TEST_REGISTRY_USER=$USER_NAME
export UPDATEBOT_TEST_REGISTRY_PASSWORD_FILE='$tmp/password'
export UPDATEBOT_TEST_TOKEN_SERVICE=$token_url
export UPDATEBOT_TEST_REGISTRY_PLAIN_PID=${registry_pids[plain]}
export UPDATEBOT_TEST_REGISTRY_BASIC_PID=${registry_pids[basic]}
export UPDATEBOT_TEST_REGISTRY_TOKEN_PID=${registry_pids[token]}
export UPDATEBOT_TEST_TOKEN_SERVICE_PID=$token_pid
export UPDATEBOT_TEST_REGISTRY_TMPDIR='$tmp'
EOF
    trap - ERR
    log "registries: plain 127.0.0.1:${ports[plain]}, basic 127.0.0.1:${ports[basic]}, token 127.0.0.1:${ports[token]} (realm $token_url/token); env in $ENV_FILE"
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    -h | --help | help) usage ;;
    *) usage ;;
esac
