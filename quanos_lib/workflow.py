"""``./reproduce.sh --cores N [--gpus G] [--executor slurm] [--dry-run]``: the companion as a Snakemake workflow.

One job per cached model (:func:`quanos_lib.jobs.registry`), one per notebook (the runner, reading the cache only:
``$QUANOS_CACHE_ONLY``), the scorecard last (``workflow/Snakefile``). This module is the launcher: it checks what it
was asked (one line when something is wrong), writes ``build/<profile>/workflow.json`` (the registry, the notebooks,
the code version and thread count every job records), and runs Snakemake — on this machine, or through SLURM with
``workflow/profiles/slurm/``. ``--dry-run`` prints each job with its estimated GPU time (:mod:`quanos_lib.estimates`),
the critical path and the wall time on 1, 8, 32 and the given number of GPUs, and runs nothing.

    python -m quanos_lib.workflow run --profile full --cores 8 --gpus 8
    python -m quanos_lib.workflow run --profile full --executor slurm
    python -m quanos_lib.workflow run --profile full --cores 8 --dry-run
"""
import argparse
import heapq
import json
import os
import shlex
import shutil
import subprocess
import sys

from . import jobs, profiles, results
from .formatting import format_duration

ROOT = results.PROJECT_ROOT
SNAKEFILE = ROOT / "workflow" / "Snakefile"
SLURM_PROFILE = ROOT / "workflow" / "profiles" / "slurm"
SCORECARD = "99"


class UsageError(ValueError):
    pass


def plan_path(profile):
    return ROOT / "build" / profile / "workflow.json"


def notebooks(only=None):
    """The notebooks a workflow runs (the runner's choice for ``only``; its variants run with them), without the
    scorecard, which is the workflow's last job."""
    from .reproduce import select_notebooks
    return [path.stem for path in select_notebooks(only) if not path.name.startswith(SCORECARD)]


def write_plan(profile, only=None, threads=None, gpu_per_job=0):
    """Write ``build/<profile>/workflow.json``, what the Snakefile reads: the registry, the chosen notebooks, the code
    version (fixed once for the run) and torch's thread count for every job."""
    chosen = notebooks(only)
    every = jobs.registry(profile)
    registry = [job for job in every if set(job["notebooks"]) & set(chosen)]
    needed = {need for job in registry for need in job["needs"]}
    registry += [job for job in every if job["id"] in needed and job not in registry]
    threads = threads or int(os.environ.get("QUANOS_THREADS") or 0) or os.cpu_count()
    planned = {"profile": profile, "notebooks": chosen, "jobs": registry, "code_version": results.code_version(),
               "threads": threads, "gpu_per_job": gpu_per_job}
    path = plan_path(profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(planned, indent=1) + "\n")
    return planned


def job_minutes(profile, registry):
    """``{job id: estimated GPU minutes}`` of training each job at its epoch caps (:mod:`quanos_lib.estimates`, from
    the plan of every model), and ``{notebook: minutes}`` of each notebook's own evaluation (None where unknown)."""
    from . import estimates
    by_call = {call: job["id"] for job in registry for call in job["call"].split("; ")}
    to_workflow = {job.id: by_call.get(job.call) for job in jobs.jobs(profile)}
    owned, seen = {job["id"]: [] for job in registry}, set()
    for model in estimates.planned(profile):  # each model once, in the workflow job whose call makes it
        owner = to_workflow.get(model["job"])
        if owner in owned and model["checkpoint"] not in seen:
            seen.add(model["checkpoint"])
            owned[owner].append(model)
    minutes = {job: estimates.training_minutes(found) for job, found in owned.items()}  # a stack's runs share it
    runtimes = estimates._cpu_runtimes()
    evaluation = {}
    for notebook in {nb for job in registry for nb in job["notebooks"]}:
        found = estimates.estimate_minutes(notebook, runtimes.get(notebook)) if profile == "full" else None
        evaluation[notebook] = found and found["evaluation"]
    return minutes, evaluation


def schedule(minutes, needs, workers):
    """The wall time of running jobs of ``minutes`` (``{id: minutes}``) with ``needs`` (``{id: [ids]}``) on
    ``workers`` at once, longest remaining path first (list scheduling); and that critical path."""
    below = {}

    def rest(job):  # the longest chain from ``job`` to the end
        if job not in below:
            after = [other for other, wanted in needs.items() if job in wanted]
            below[job] = minutes[job] + max((rest(other) for other in after), default=0.0)
        return below[job]

    done_at, running, clock, pending = {}, [], 0.0, set(minutes)
    while pending or running:
        ready = sorted((job for job in pending if all(need in done_at for need in needs[job])), key=rest, reverse=True)
        while ready and len(running) < workers:
            job = ready.pop(0)
            pending.discard(job)
            heapq.heappush(running, (clock + minutes[job], job))
        clock, job = heapq.heappop(running)
        done_at[job] = clock
    path, job = [], max(minutes, key=rest)
    while job is not None:
        path.append(job)
        after = [other for other, wanted in needs.items() if job in wanted]
        job = max(after, key=rest) if after else None
    return clock, path


def dry_run(profile, planned, gpus=None):
    """Print every job with its estimated GPU time, the critical path and the wall time on 1, 8, 32 (and ``gpus``)
    GPUs; return the wall times ``{gpus: minutes}``."""
    minutes, evaluation = job_minutes(profile, planned["jobs"])
    needs = {job["id"]: list(job["needs"]) for job in planned["jobs"]}
    for notebook in planned["notebooks"]:  # each notebook job after the jobs that train its models
        minutes[notebook] = evaluation.get(notebook) or 0.0
        needs[notebook] = [job["id"] for job in planned["jobs"] if notebook in job["notebooks"]]
    minutes["scorecard"], needs["scorecard"] = 0.0, list(planned["notebooks"])
    kind = "GPU estimate at full" if profile == "full" else f"GPU cost model at {profile}"
    print(f"profile {profile}: {len(planned['jobs'])} training jobs, {len(planned['notebooks'])} notebook jobs, "
          f"the scorecard ({kind}; upper bounds at the epoch caps; quanos_lib.estimates)")
    for job in planned["jobs"]:
        after = f"  after {', '.join(job['needs'])}" if job["needs"] else ""
        print(f"  {job['id']:<50} {job['family']:<6} {format_duration(minutes[job['id']]):>10}{after}")
    for notebook in planned["notebooks"]:
        known = evaluation.get(notebook)
        print(f"  {notebook:<50} {'notebook':<6} {format_duration(known) if known else '—':>10}")
    walls = {}
    for count in sorted({1, 8, 32, *([gpus] if gpus else [])}):
        walls[count], path = schedule(minutes, needs, count)
    print(f"critical path: {' -> '.join(path)} ({format_duration(sum(minutes[job] for job in path))})")
    print("estimated wall time: " + ", ".join(f"{format_duration(m)} on {n} GPU{'s' if n > 1 else ''}"
                                              for n, m in walls.items()))
    return walls


def snakemake_command(profile, cores, gpus=None, executor=None, targets=()):
    # the targets first: Snakemake's options of several values (--config, --resources) would take them as values
    command = [str(ROOT / ".venv" / "bin" / "snakemake"), *targets, "--snakefile", str(SNAKEFILE), "--directory", str(ROOT),
               "--config", f"profile={profile}", "--keep-going", "--rerun-incomplete", "--printshellcmds"]
    if executor == "slurm":
        command += ["--workflow-profile", str(SLURM_PROFILE)]
    else:
        command += ["--cores", str(cores), "--resources", f"gpu={gpus or 0}"]
    # the cluster's own options, e.g. "--default-resources slurm_account=lab mem_mb=16000" (CI's small node)
    return command + shlex.split(os.environ.get("QUANOS_SNAKEMAKE_ARGS", ""))


def check(executor=None, gpus=None):
    """One line for what cannot work here: an unknown executor, GPUs without CUDA, no SLURM client, no Snakemake."""
    if executor not in (None, "local", "slurm"):
        raise UsageError(f"unknown executor {executor!r} (choose local or slurm)")
    if gpus and executor != "slurm":
        import torch
        if not torch.cuda.is_available():
            raise UsageError(f"--gpus {gpus}: this machine has no CUDA GPU (run without --gpus, or on a GPU machine)")
        if torch.cuda.device_count() < gpus:
            raise UsageError(f"--gpus {gpus}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if executor == "slurm" and shutil.which("sbatch") is None:
        raise UsageError("--executor slurm: no SLURM client here (sbatch not found); run on the cluster's login node")
    if not (ROOT / ".venv" / "bin" / "snakemake").exists():
        raise UsageError("Snakemake is not in .venv: ./reproduce.sh installs the workflow extra "
                         "(pip install -e '.[workflow]')")


def run(profile, cores=None, gpus=None, executor=None, only=None, threads=None, dry=False):
    profile = profiles.resolve(profile)
    executor = None if executor == "local" else executor
    gpu_per_job = 1 if (gpus or executor == "slurm") and profile != "smoke" else 0
    if executor == "slurm" and profile == "smoke":
        gpu_per_job = int(os.environ.get("QUANOS_SLURM_GPUS_PER_JOB", "0"))  # CI's single node: fake GPUs as GRES
    planned = write_plan(profile, only, threads, gpu_per_job)
    if dry:
        dry_run(profile, planned, gpus)
        return 0
    check(executor, gpus)
    targets = [f"build/{profile}/scorecard.done", f"build/{profile}/manifest.done"]
    status = subprocess.run(snakemake_command(profile, cores or 1, gpus, executor, targets), cwd=ROOT).returncode
    if status != 0:  # --keep-going finished every branch it could: the scorecard of those, the rest "not run yet"
        print("workflow: some jobs failed (their logs: build/<profile>/logs/); the scorecard of what finished:",
              file=sys.stderr)
        subprocess.run([sys.executable, "-m", "quanos_lib.reproduce", "--profile", profile, "--only", SCORECARD],
                       cwd=ROOT, env={**os.environ, "QUANOS_CODE_VERSION": planned["code_version"]})
    return status


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m quanos_lib.workflow")
    commands = parser.add_subparsers(dest="command", required=True)
    planning = commands.add_parser("plan", help="write build/<profile>/workflow.json")
    running = commands.add_parser("run", help="run the workflow (or --dry-run it)")
    for sub in (planning, running):
        sub.add_argument("--profile", default="auto")
        sub.add_argument("--only", default=None)
        sub.add_argument("--threads", type=int, default=None)
    running.add_argument("--cores", type=int, default=None)
    running.add_argument("--gpus", type=int, default=None)
    running.add_argument("--executor", default=None)
    running.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    only = [part for part in args.only.split(",") if part] if args.only else None
    try:
        if args.command == "plan":
            write_plan(profiles.resolve(args.profile), only, args.threads)
            return 0
        return run(args.profile, args.cores, args.gpus, args.executor, only, args.threads, args.dry_run)
    except (UsageError, profiles.UnknownProfileError, ValueError) as error:
        print(f"reproduce.sh: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
