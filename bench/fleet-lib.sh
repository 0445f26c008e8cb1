# shellcheck shell=bash
# Sourced by bench/fleet and bench/vs-renovate: the pool of packages the local registries
# hold (from the test env's seed lists) and the synthetic projects drawn from the corpus.
# Needs REPO, OUT, CORPUS, UPDATEBOT (a built updatebot) and log/die.

load_pool() {
# Held packages and their versions, in the seed lists' order (pre-releases and
# platform-only packages left out: a project would not pin them).
declare -gA PY_VERSIONS=() NPM_VERSIONS=()
PY_NAMES=() NPM_NAMES=()
while read -r spec _; do
    name="${spec%%==*}" version="${spec#*==}"
    [[ "$version" =~ [a-z] && ! "$version" =~ post ]] && continue
    [[ -n "${PY_VERSIONS[$name]:-}" ]] || PY_NAMES+=("$name")
    PY_VERSIONS[$name]="${PY_VERSIONS[$name]:-} $version"
done < <(sed -e 's/#.*//' fixtures/python/index/seed.txt | grep -v '^[[:space:]]*$')
while read -r spec flag; do
    [[ "$flag" == optional* ]] && continue
    name="${spec%@*}" version="${spec##*@}"
    [[ "$version" == *-* ]] && continue
    [[ -n "${NPM_VERSIONS[$name]:-}" ]] || NPM_NAMES+=("$name")
    NPM_VERSIONS[$name]="${NPM_VERSIONS[$name]:-} $version"
done < <(sed -e 's/#.*//' fixtures/npm/registry/seed.txt | grep -v '^[[:space:]]*$')
log "pool: ${#PY_NAMES[@]} Python and ${#NPM_NAMES[@]} npm packages held by the local registries"

# The corpus repositories' own dependencies that the pool holds.
rm -rf "$OUT/corpus" && mkdir -p "$OUT/corpus"
tar -xJf "$CORPUS" -C "$OUT/corpus"
TEMPLATES=()
declare -gA TEMPLATE_PY=() TEMPLATE_NPM=()
for dir in "$OUT"/corpus/corpus/*/; do
    t="$(basename "$dir")"
    TEMPLATES+=("$t")
    deps="$("$UPDATEBOT" extract "$dir" --format json 2>/dev/null \
        | jq -r '.manifests[] | .ecosystem as $e | .dependencies[]? | "\($e) \(.name | ascii_downcase)"' \
        | sort -u || true)"
    while read -r eco name; do
        case "$eco" in
            pip) [[ -n "${PY_VERSIONS[$name]:-}" ]] && TEMPLATE_PY[$t]+=" $name" ;;
            npm) [[ -n "${NPM_VERSIONS[$name]:-}" ]] && TEMPLATE_NPM[$t]+=" $name" ;;
        esac
    done <<<"$deps"
done
(( ${#TEMPLATES[@]} > 0 )) || die "no repository in $CORPUS"
}

# pick I J VERSIONS...: the current version of pool package J in project I: one of the
# versions below the newest (the only one when there is one).
pick() {
    local i="$1" j="$2"
    shift 2
    local -a v=("$@")
    if (( ${#v[@]} == 1 )); then printf '%s' "${v[0]}"; return; fi
    printf '%s' "${v[$(( (i + j) % (${#v[@]} - 1) ))]}"
}

REPO_CONFIG='version: 2
updates:
  - package-ecosystem: pip
    directory: /
    schedule: {interval: daily}
    groups:
      python: {patterns: ["*"]}
  - package-ecosystem: npm
    directory: /
    schedule: {interval: daily}
    groups:
      npm: {patterns: ["*"]}
'

# make_fleet N DIR: N projects under DIR/bench/.
make_fleet() {
    local n="$1" dir="$2" i j t name
    rm -rf "$dir" && mkdir -p "$dir/bench"
    for ((i = 0; i < n; i++)); do
        t="${TEMPLATES[$(( i % ${#TEMPLATES[@]} ))]}"
        local p="$dir/bench/p$i-${t,,}"
        p="${p//_/-}"
        mkdir -p "$p"
        printf '%s' "$REPO_CONFIG" >"$p/.updatebot.yml"
        {
            printf '# drawn from %s\n' "$t"
            for ((j = 0; j < ${#PY_NAMES[@]}; j++)); do
                name="${PY_NAMES[$j]}"
                if [[ " ${TEMPLATE_PY[$t]:-} " == *" $name "* ]] || (( (i * 7 + j) % 3 != 0 )); then
                    # shellcheck disable=SC2086
                    printf '%s==%s\n' "$name" "$(pick "$i" "$j" ${PY_VERSIONS[$name]})"
                fi
            done
        } >"$p/requirements.txt"
        local deps=""
        for ((j = 0; j < ${#NPM_NAMES[@]}; j++)); do
            name="${NPM_NAMES[$j]}"
            if [[ " ${TEMPLATE_NPM[$t]:-} " == *" $name "* ]] || (( (i * 5 + j) % 3 != 0 )); then
                # shellcheck disable=SC2086
                deps+="${deps:+,
}    \"$name\": \"$(pick "$i" "$j" ${NPM_VERSIONS[$name]})\""
            fi
        done
        printf '{\n  "name": "p%s",\n  "private": true,\n  "dependencies": {\n%s\n  }\n}\n' "$i" "$deps" >"$p/package.json"
    done
}
