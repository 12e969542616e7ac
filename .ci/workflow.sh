#!/usr/bin/env bash
# CI, issue 25: the whole smoke workflow on 2 cores (every notebook cache-only) against the sequential runner at the
# same thread count, then one target (notebook 02's models and notebook) through a real single-node SLURM. The
# workflow extra is installed by .ci/run; the SLURM daemons are stopped by their process ids whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d -t quanos-workflow-XXXXXX)
trap '.ci/slurm.sh stop "$scratch/slurm"; rm -rf "$scratch"' EXIT
export QUANOS_THREADS=2 TQDM_DISABLE=1

start=$(date +%s)
QUANOS_CACHE="$scratch/sequential" QUANOS_OUT="$scratch/sequential-out" ./reproduce.sh --profile smoke >/dev/null
echo "sequential smoke run: $(( $(date +%s) - start )) s"

start=$(date +%s)
rm -rf build/smoke
QUANOS_CACHE="$scratch/workflow" ./reproduce.sh --profile smoke --cores 2 > "$scratch/workflow.log" 2>&1 \
  || { tail -40 "$scratch/workflow.log"; exit 1; }
echo "smoke workflow, --cores 2: $(( $(date +%s) - start )) s"
.venv/bin/python .ci/check_workflow.py build/smoke build/smoke/out/results/smoke \
  --sequential-cache "$scratch/sequential" --workflow-cache "$scratch/workflow"

.ci/slurm.sh start "$scratch/slurm"
start=$(date +%s)
rm -rf build/smoke
# CI's node: 2 CPUs and a few GB, fake GPUs as GRES (one per training job)
QUANOS_CACHE="$scratch/slurm-cache" QUANOS_SLURM_GPUS_PER_JOB=1 \
  QUANOS_SNAKEMAKE_ARGS="--default-resources cpus_per_task=1 mem_mb=2000 runtime=30 slurm_partition=gpu" \
  ./reproduce.sh --profile smoke --only 02 --executor slurm > "$scratch/slurm.log" 2>&1 \
  || { tail -40 "$scratch/slurm.log"; exit 1; }
echo "notebook 02 through SLURM: $(( $(date +%s) - start )) s"
.venv/bin/python .ci/check_workflow.py build/smoke build/smoke/out/results/smoke --slurm
