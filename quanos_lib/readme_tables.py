"""The README's generated tables: the scorecard of a profile and the notebooks' run times, written between their
markers (never by hand), and the run-time records they are made from (``results/<profile>/_runtimes.json``: each
notebook's wall time, kept apart by kind, a run that trained models and a run that found every model cached)."""
import fcntl
import json

from . import results
from .formatting import format_duration

README = results.PROJECT_ROOT / "README.md"
SCORECARD_START, SCORECARD_END = "<!-- scorecard:start -->", "<!-- scorecard:end -->"
RUNTIMES_START, RUNTIMES_END = "<!-- runtimes:start -->", "<!-- runtimes:end -->"
TRAINING, CACHED = "training", "cached"  # the two kinds of run kept apart in _runtimes.json


def record_runtimes(profile, runtimes):
    """Keep each notebook's measured wall time, per kind of run (the README's run-time table is made from them):
    ``{notebook: {"training": {...}, "cached": {...}}}``; a new measurement replaces the one of its kind."""
    path = results.results_dir(profile) / "_runtimes.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name("_runtimes.lock"), "a") as lock:  # a workflow's notebook jobs write it concurrently
        fcntl.flock(lock, fcntl.LOCK_EX)
        known = json.loads(path.read_text()) if path.exists() else {}
        known = {name: kinds for name, kinds in known.items() if TRAINING in kinds or CACHED in kinds}  # old layout
        for name, measured in runtimes.items():
            known.setdefault(name, {})[TRAINING if measured["models_trained"] else CACHED] = measured
        path.write_text(json.dumps(dict(sorted(known.items())), indent=2) + "\n")


def _runtime_text(measured):
    if not measured:
        return "—"
    count = measured["models_trained"]
    trained = f", {count} model{'s' if count != 1 else ''} trained" if count else ""
    device = measured.get("device", "cpu")
    machine = f"{measured['cpus']} CPUs" + (f", {device.removeprefix('cuda: ')}" if device != "cpu" else "")
    return f"{measured['seconds'] / 60:.1f} min ({machine}{trained})"


def runtimes_markdown(skip=()):
    """The README's run-time table, from ``results/{cpu,full}/_runtimes.json``; for ``full`` where it has not run,
    the estimate of :mod:`quanos_lib.estimates` from the ``cpu`` times."""
    from . import estimates
    lines = ["| notebook | profile | run that trained its models | run with every model cached |", "|---|---|---|---|"]
    measured = {}
    for profile in ("cpu", "full"):
        path = results.results_dir(profile) / "_runtimes.json"
        measured[profile] = json.loads(path.read_text()) if path.exists() else {}
        for name, kinds in measured[profile].items():
            lines.append(f"| {name} | `{profile}` | {_runtime_text(kinds.get(TRAINING))} | "
                         f"{_runtime_text(kinds.get(CACHED))} |")
        if profile == "full" and not measured[profile]:
            lines.append("| all | `full` | not measured yet | not measured yet |")
    estimated, whole = [], 0.0
    for name, kinds in measured["cpu"].items():
        if name in measured["full"] or name in skip:
            continue
        estimate = estimates.estimate_minutes(name, kinds)
        if estimate is not None:
            attacks = estimate["evaluation"]
            parts = format_duration(estimate["training"]) + " of training" + (
                "" if attacks is None else f" + {format_duration(attacks)} of attacks")
            estimated.append(f"{name} {format_duration(estimates.total(estimate))} ({parts})")
            whole += estimates.total(estimate)
    if estimated:
        lines += ["", "Estimated `full` time on one GPU, until a measured one replaces it (`quanos_lib.estimates`: "
                  "every model of the notebook's jobs (`quanos_lib.jobs`) priced per training step at its epoch caps, from "
                  "epoch times measured on one H100 by `benchmarks/epoch_times.py` — the MNIST networks bound by "
                  "kernel launches, VGG-19 and conv maxout by arithmetic — and the attacks scaled from the `cpu` "
                  "run; **upper bounds**, since early stopping ends most trainings long before their caps): "
                  + "; ".join(estimated) + f". In all: {format_duration(whole)}."]
    return "\n".join(lines)


def _replace_between(text, start, end, content):
    if start not in text or end not in text:
        return text
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{content}\n{end}{tail}"


def update_readme(profile, skip=()):
    text = _replace_between(README.read_text(), SCORECARD_START, SCORECARD_END, results.scorecard_markdown(profile))
    README.write_text(_replace_between(text, RUNTIMES_START, RUNTIMES_END, runtimes_markdown(skip)))
