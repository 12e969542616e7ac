"""CI's checks of a finished workflow run (issue 25), from its receipts (build/<profile>/jobs/*.json):

    check_workflow.py BUILD RESULTS [--sequential-cache DIR --workflow-cache DIR] [--slurm]

- every checkpoint the results name (RESULTS/*.json) was made by a job, and every checkpoint a job trained is named;
- with the two caches: the workflow trained exactly the checkpoints the sequential runner did (the same keys), each
  with bitwise the same weights (the same thread count);
- with --slurm: each training job ran as its own SLURM job and saw a GPU of the node's GRES (CUDA_VISIBLE_DEVICES).
"""
import argparse
import json
import pathlib
import sys

import torch


def named_checkpoints(results):
    found = set()

    def walk(value):
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "checkpoint" and isinstance(inner, str):
                    found.add(inner)
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    for path in pathlib.Path(results).glob("[A-Z]*.json"):
        walk(json.loads(path.read_text()))
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build")
    parser.add_argument("results")
    parser.add_argument("--sequential-cache")
    parser.add_argument("--workflow-cache")
    parser.add_argument("--slurm", action="store_true")
    args = parser.parse_args()
    receipts = [json.loads(path.read_text()) for path in sorted(pathlib.Path(args.build, "jobs").glob("*.json"))]
    trained = set().union(*(receipt["checkpoints"]["trained"] for receipt in receipts))
    trained = {name for name in trained if not name.startswith("zca-")}  # notebook 05's whitening, not a model
    named = named_checkpoints(args.results)
    problems = []
    if named - trained:
        problems.append(f"named by the results but trained by no job: {sorted(named - trained)}")
    if trained - named:
        problems.append(f"trained by a job but named by no result: {sorted(trained - named)}")
    if args.sequential_cache:
        ours = {path.name for path in pathlib.Path(args.workflow_cache).glob("*.pt")}
        theirs = {path.name for path in pathlib.Path(args.sequential_cache).glob("*.pt")}
        if ours != theirs:
            problems.append(f"checkpoints differ: only the workflow's {sorted(ours - theirs)}, "
                            f"only the sequential run's {sorted(theirs - ours)}")
        for name in sorted(ours & theirs):
            a, b = (torch.load(pathlib.Path(folder, name), weights_only=True)["state_dict"]
                    for folder in (args.workflow_cache, args.sequential_cache))
            if a.keys() != b.keys() or not all(torch.equal(a[key], b[key]) for key in a):
                problems.append(f"{name}: the weights differ from the sequential run's")
    if args.slurm:
        ids = [receipt["slurm_job_id"] for receipt in receipts]
        if None in ids or len(set(ids)) != len(ids):
            problems.append(f"training jobs without a SLURM job of their own: {ids}")
        if not all(receipt["cuda_visible_devices"] in {"0", "1"} for receipt in receipts):
            problems.append(f"a job without a GPU of the GRES: {[r['cuda_visible_devices'] for r in receipts]}")
    for problem in problems:
        print(f"workflow check: {problem}", file=sys.stderr)
    print(f"workflow check: {len(receipts)} training jobs, {len(trained)} checkpoints trained, "
          f"{len(named)} named by the results: {'FAILED' if problems else 'ok'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
