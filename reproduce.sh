#!/usr/bin/env bash
# Regenerate every notebook, figure and result of the companion, or run the test suite.
#
#   ./reproduce.sh [--profile auto|smoke|cpu|full] [--only 01,03] [--out DIR] [--threads N]
#   ./reproduce.sh --check cpu|full [--only 01,03] [--threads N] [--keep]
#   ./reproduce.sh --test        unit tests + nbval over every notebook at the smoke profile
#   ./reproduce.sh --setup       only create/refresh .venv (what the commands above do first)
#   ./reproduce.sh [--profile P] [--only 01,03] --cores N [--gpus G] [--dry-run]
#   ./reproduce.sh [--profile P] [--only 01,03] --executor slurm [--dry-run]
#
# --cores / --executor run the same notebooks as a Snakemake workflow (workflow/Snakefile, quanos_lib.workflow):
# one job per trained model, then each notebook reading the cache only, then the scorecard; on this machine with
# --cores N (and --gpus G), or on a SLURM cluster (workflow/profiles/slurm/; the profile defaults to full there).
# The first such run installs the workflow extra (Snakemake) into .venv. --dry-run prints the jobs, the critical
# path and the estimated wall time, and runs nothing.
#
# In place, each profile writes its own files: cpu's notebooks replace notebooks/, full's go to
# notebooks/full/; figures go to figures/<profile>/, results to results/<profile>/. smoke and --out DIR
# write under a scratch folder instead.
# --threads N    torch's CPU threads for every notebook of the run (a positive integer; default
#                $QUANOS_THREADS, else one per core); trained weights depend on it, every result records it.
# --check P      rerun the chosen notebooks at profile P into a fresh scratch folder, with threads pinned to
#                the count the committed results recorded, and compare every metric of the results with the
#                committed results/P/: one line per file (identical, the metrics that differ, missing, or
#                skipped when computed on another kind of device). Exit 0 if every compared file is
#                identical, else 1. --keep keeps the scratch folder. It uses the checkpoint cache
#                ($QUANOS_CACHE): point that at an empty folder to check from scratch.
#
# All of them create or reuse .venv, install the project into it (editable) and register its Jupyter
# kernel "quanos", so papermill and nbval run the notebooks in the project's own environment.
set -uo pipefail
cd "$(dirname "$0")"

USAGE="usage: ./reproduce.sh [--profile auto|smoke|cpu|full] [--only 01,03] [--out DIR] [--threads N] [--cores N [--gpus G] | --executor slurm] [--dry-run] | --check cpu|full [--only 01,03] [--threads N] [--keep] | --test | --setup"
die() { echo "$*" >&2; exit 2; }

mode=run profile=auto profile_given="" only="" out="" threads="" check="" keep="" cores="" gpus="" executor="" dry=""
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) [ $# -ge 2 ] || die "$USAGE"; profile=$2; profile_given=1; shift 2 ;;
    --profile=*) profile=${1#*=}; profile_given=1; shift ;;
    --threads) [ $# -ge 2 ] || die "$USAGE"; threads=$2; shift 2 ;;
    --threads=*) threads=${1#*=}; shift ;;
    --check) [ $# -ge 2 ] || die "$USAGE"; mode=check; check=$2; shift 2 ;;
    --check=*) mode=check; check=${1#*=}; shift ;;
    --keep) keep=1; shift ;;
    --only) [ $# -ge 2 ] || die "$USAGE"; only=$2; shift 2 ;;
    --only=*) only=${1#*=}; shift ;;
    --out) [ $# -ge 2 ] || die "$USAGE"; out=$2; shift 2 ;;
    --out=*) out=${1#*=}; shift ;;
    --cores) [ $# -ge 2 ] || die "$USAGE"; cores=$2; shift 2 ;;
    --cores=*) cores=${1#*=}; shift ;;
    --gpus) [ $# -ge 2 ] || die "$USAGE"; gpus=$2; shift 2 ;;
    --gpus=*) gpus=${1#*=}; shift ;;
    --executor) [ $# -ge 2 ] || die "$USAGE"; executor=$2; shift 2 ;;
    --executor=*) executor=${1#*=}; shift ;;
    --dry-run) dry=1; shift ;;
    --test) mode=test; shift ;;
    --setup) mode=setup; shift ;;
    -h|--help) echo "$USAGE"; exit 0 ;;
    *) die "$USAGE" ;;
  esac
done
case "$profile" in auto|smoke|cpu|full) ;; *) die "$USAGE" ;; esac
[[ -z "$only" || "$only" =~ ^[0-9]{2}(,[0-9]{2})*$ ]] || die "$USAGE"
[[ -z "$threads" || "$threads" =~ ^[1-9][0-9]*$ ]] || die "$USAGE"
[[ -z "$cores" || "$cores" =~ ^[1-9][0-9]*$ ]] || die "reproduce.sh: --cores takes a positive whole number, not '$cores'"
[[ -z "$gpus" || "$gpus" =~ ^[1-9][0-9]*$ ]] || die "reproduce.sh: --gpus takes a positive whole number, not '$gpus'"
case "$executor" in ""|local|slurm) ;; *) die "reproduce.sh: unknown executor '$executor' (choose local or slurm)" ;; esac
if [ -n "$cores$gpus$executor$dry" ]; then
  [ "$mode" = run ] && [ -z "$out" ] || die "reproduce.sh: --cores, --gpus, --executor and --dry-run run the workflow: not with --check, --test, --setup or --out"
  [ -n "$gpus" ] && [ -z "$cores" ] && [ "$executor" != slurm ] && die "reproduce.sh: --gpus goes with --cores N (or --executor slurm)"
  [ -n "$cores$executor$dry" ] || die "$USAGE"
  [ -z "$profile_given" ] && [ "$executor" = slurm ] && profile=full  # auto on a login node would say cpu
  mode=workflow
fi
if [ "$mode" = check ]; then
  case "$check" in cpu|full) ;; *) die "$USAGE" ;; esac
  [ -z "$profile_given" ] && [ -z "$out" ] || die "$USAGE"  # a check reruns into its own scratch folder
else
  [ -z "$keep" ] || die "$USAGE"
fi

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
    # notebooks/full/ holds the committed outputs of profile full, run at an older commit: not collected.
    QUANOS_PROFILE=smoke QUANOS_OUT="$scratch" QUANOS_CACHE="$scratch/checkpoints" TQDM_DISABLE=1 \
      .venv/bin/python -m pytest tests notebooks --ignore=notebooks/full --nbval-lax --nbval-kernel-name quanos \
      -p no:cacheprovider
    status=$?
    rm -rf "$scratch"
    exit $status ;;
  workflow)
    if [ -z "$dry" ] && [ ! -x .venv/bin/snakemake ]; then
      echo "installing the workflow extra (Snakemake and its SLURM plugin) into .venv"
      .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[workflow]" \
        || die "reproduce.sh: pip install of the workflow extra failed (see above)"
    fi
    args=(run --profile "$profile")
    [ -n "$only" ] && args+=(--only "$only")
    [ -n "$threads" ] && args+=(--threads "$threads")
    [ -n "$cores" ] && args+=(--cores "$cores")
    [ -n "$gpus" ] && args+=(--gpus "$gpus")
    [ -n "$executor" ] && args+=(--executor "$executor")
    [ -n "$dry" ] && args+=(--dry-run)
    exec .venv/bin/python -m quanos_lib.workflow "${args[@]}" ;;
  run|check)
    if [ "$mode" = check ]; then
      args=(--check "$check")
      [ -n "$keep" ] && args+=(--keep)
    else
      args=(--profile "$profile")
      [ -n "$out" ] && args+=(--out "$out")
    fi
    [ -n "$only" ] && args+=(--only "$only")
    [ -n "$threads" ] && args+=(--threads "$threads")
    exec .venv/bin/python -m quanos_lib.reproduce "${args[@]}" ;;
esac
