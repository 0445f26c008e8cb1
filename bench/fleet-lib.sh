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

# The image pool: official-image names with the tags the local registry gets, oldest first
# (each tag its own single-platform image, `created` in tag order). Pushed under both
# `library/NAME` (Docker Hub's path, which updatebot asks a registry standing in for Docker
# Hub) and `NAME` (what Renovate asks a custom registry URL).
IMAGE_POOL=(
    "python 3.11.9-slim 3.11.10-slim 3.12.6-slim 3.12.7-slim 3.13.0-slim"
    "node 20.17.0-alpine 20.18.0-alpine 22.10.0-alpine 22.11.0-alpine"
    "nginx 1.25.5 1.26.2 1.27.2 1.27.3"
    "redis 7.2.5 7.2.6 7.4.1"
    "postgres 15.8 16.4 17.0"
)

# push_blob REGISTRY NAME FILE: upload FILE as a blob of NAME (monolithic); prints its digest.
push_blob() {
    local reg="$1" name="$2" file="$3" digest location
    digest="sha256:$(sha256sum "$file" | cut -d' ' -f1)"
    if ! curl -fsS -o /dev/null -I "http://$reg/v2/$name/blobs/$digest" 2>/dev/null; then
        location="$(curl -fsS -o /dev/null -D - -X POST "http://$reg/v2/$name/blobs/uploads/" \
            | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')"
        [[ -n "$location" ]] || die "registry $reg: no upload location for $name"
        [[ "$location" == http* ]] || location="http://$reg$location"
        case "$location" in *\?*) location+="&digest=$digest" ;; *) location+="?digest=$digest" ;; esac
        curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' \
            --data-binary @"$file" "$location" || die "registry $reg: pushing a blob of $name failed"
    fi
    printf '%s' "$digest"
}

# seed_images REGISTRY: push IMAGE_POOL into the plain-HTTP registry at host:port REGISTRY.
seed_images() {
    local reg="$1" tmp entry name tags tag n path config layer manifest
    tmp="$(mktemp -d)"
    printf 'bench layer\n' | gzip -n >"$tmp/layer"
    for entry in "${IMAGE_POOL[@]}"; do
        read -r name tags <<<"$entry"
        n=0
        for tag in $tags; do
            n=$((n + 1))
            printf '{"architecture":"amd64","os":"linux","created":"2024-0%d-01T00:00:00Z","config":{"Labels":{"bench.tag":"%s:%s"}},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
                "$n" "$name" "$tag" "$(gzip -dc "$tmp/layer" | sha256sum | cut -d' ' -f1)" >"$tmp/config"
            for path in "library/$name" "$name"; do
                config="$(push_blob "$reg" "$path" "$tmp/config")"
                layer="$(push_blob "$reg" "$path" "$tmp/layer")"
                manifest="$(printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%d,"digest":"%s"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":%d,"digest":"%s"}]}' \
                    "$(stat -c %s "$tmp/config")" "$config" "$(stat -c %s "$tmp/layer")" "$layer")"
                curl -fsS -o /dev/null -X PUT \
                    -H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' \
                    --data-binary "$manifest" "http://$reg/v2/$path/manifests/$tag" \
                    || die "registry $reg: pushing $path:$tag failed"
            done
        done
    done
    rm -rf "$tmp"
    log "images: ${#IMAGE_POOL[@]} repositories seeded into $reg"
}

# add_dockerfiles DIR: give every project under DIR/bench/ a multi-stage Dockerfile of two
# images from IMAGE_POOL at tags below the newest, and a docker entry in its .updatebot.yml.
add_dockerfiles() {
    local dir="$1" p i=0 a b
    for p in "$dir"/bench/*/; do
        a=(${IMAGE_POOL[$(( i % ${#IMAGE_POOL[@]} ))]})
        b=(${IMAGE_POOL[$(( (i + 2) % ${#IMAGE_POOL[@]} ))]})
        {
            printf 'FROM %s:%s AS build\nRUN true\n' "${a[0]}" "${a[$(( 1 + i % (${#a[@]} - 2) ))]}"
            printf 'FROM %s:%s\nCOPY --from=build / /\n' "${b[0]}" "${b[$(( 1 + (i + 1) % (${#b[@]} - 2) ))]}"
        } >"$p/Dockerfile"
        printf '  - package-ecosystem: docker\n    directory: /\n    schedule: {interval: daily}\n' \
            >>"$p/.updatebot.yml"
        i=$((i + 1))
    done
}
