#!/usr/bin/env bash
# Regenerate every notebook, figure and result of the companion, or run the test suite.
#
#   ./reproduce.sh [--profile auto|smoke|cpu|full] [--only 01,03] [--out DIR]
#   ./reproduce.sh --test        unit tests + nbval over every notebook at the smoke profile
#   ./reproduce.sh --setup       only create/refresh .venv (what the two commands above do first)
#
# Both create or reuse .venv, install the project into it (editable) and register its Jupyter
# kernel "quanos", so papermill and nbval run the notebooks in the project's own environment.
set -uo pipefail
cd "$(dirname "$0")"

USAGE="usage: ./reproduce.sh [--profile auto|smoke|cpu|full] [--only 01,03] [--out DIR] | --test | --setup"
die() { echo "$*" >&2; exit 2; }

mode=run profile=auto only="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) [ $# -ge 2 ] || die "$USAGE"; profile=$2; shift 2 ;;
    --profile=*) profile=${1#*=}; shift ;;
    --only) [ $# -ge 2 ] || die "$USAGE"; only=$2; shift 2 ;;
    --only=*) only=${1#*=}; shift ;;
    --out) [ $# -ge 2 ] || die "$USAGE"; out=$2; shift 2 ;;
    --out=*) out=${1#*=}; shift ;;
    --test) mode=test; shift ;;
    --setup) mode=setup; shift ;;
    -h|--help) echo "$USAGE"; exit 0 ;;
    *) die "$USAGE" ;;
  esac
done
case "$profile" in auto|smoke|cpu|full) ;; *) die "$USAGE" ;; esac
[[ -z "$only" || "$only" =~ ^[0-9]{2}(,[0-9]{2})*$ ]] || die "$USAGE"

setup() {
  local python=${PYTHON:-python3}
  if [ ! -x .venv/bin/python ]; then
    command -v "$python" >/dev/null || die "reproduce.sh: $python not found; install Python 3.11 (or set PYTHON=/path/to/python3.11)"
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
      || die "reproduce.sh: needs Python 3.11 or newer, $python is $("$python" --version 2>&1)"
    echo "creating .venv with $("$python" --version 2>&1)"
    "$python" -m venv .venv || die "reproduce.sh: could not create .venv"
  fi
  # Reinstall only when the pins change.
  local want have
  want=$(sha256sum pyproject.toml | cut -c1-16)
  have=$(cat .venv/.quanos-installed 2>/dev/null || true)
  if [ "$want" != "$have" ]; then
    echo "installing the project and its pinned dependencies into .venv (first time: a few minutes)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e . \
      || die "reproduce.sh: pip install failed (see above)"
    .venv/bin/python -m ipykernel install --sys-prefix --name quanos --display-name "Python (quanos)" >/dev/null \
      || die "reproduce.sh: could not register the Jupyter kernel"
    echo "$want" > .venv/.quanos-installed
  fi
}

setup
case "$mode" in
  setup) exit 0 ;;
  test)
    scratch=$(mktemp -d -t quanos-test-XXXXXX)
    # nbval runs every notebook as committed, with the parameters cell's profile "auto" resolved to
    # smoke through QUANOS_PROFILE; outputs, results, figures and checkpoints go to the scratch folder.
    QUANOS_PROFILE=smoke QUANOS_OUT="$scratch" QUANOS_CACHE="$scratch/checkpoints" TQDM_DISABLE=1 \
      .venv/bin/python -m pytest tests notebooks --nbval-lax --nbval-kernel-name quanos -p no:cacheprovider
    status=$?
    rm -rf "$scratch"
    exit $status ;;
  run)
    args=(--profile "$profile")
    [ -n "$only" ] && args+=(--only "$only")
    [ -n "$out" ] && args+=(--out "$out")
    exec .venv/bin/python -m quanos_lib.reproduce "${args[@]}" ;;
esac
