"""The results registry: one small JSON file per experiment and profile, and the scorecard built from them.

``record("F1", "cpu", {"adv_error": 0.9998, ...}, setup=..., data=..., seed=0, seconds=8.1)`` writes
``results/cpu/F1.json`` atomically::

    {"id": "F1", "profile": "cpu", "title": ...,
     "metrics": {"adv_error": {"value": 0.9998, "paper": 0.999, "claim": "99.9% (±5%)"}, ...},
     "setup": {...}, "data": {...}, "seed": 0, "seconds": 8.1, "training_seconds": 12.0,
     "code_version": "<git sha>"}

A metric measured over several seeds is recorded from :func:`over_seeds` as its mean with a 95% interval
(``"value"``, ``"interval"``, ``"seeds"``, ``"per_seed"``), and the scorecard judges the claim on the
interval: ``reproduced`` if all of it satisfies the claim, ``differs`` if none of it does, ``inconclusive``
if it straddles the claim's edge.

``seconds`` is, for every id, the wall time of the measurement that recorded it (the block of a
:meth:`quanos_lib.experiment.Run.record`: attacking and evaluating, plus training any model first trained
inside it); ``training_seconds`` is how long the models the result names took to train, as measured when each
was trained (read from its checkpoint, so a rerun from the cache reports the same). A rerun that reproduces a
result exactly (everything but ``seconds`` and ``code_version`` equal) keeps the file as it was, so ``git diff``
shows only results that changed.

Where outputs go: ``$QUANOS_OUT`` if set (``reproduce.sh --out``); else, for ``smoke``, a scratch
folder in the temp directory (smoke never touches committed files); else the project's own
``results/<profile>/`` and ``figures/<profile>/``.
"""
import json
import re
import math
import os
import pathlib
import subprocess
import tempfile

from .formatting import format_interval, format_value, metric_words
from .paper import PAPER

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
STATUS_REPRODUCED, STATUS_DIFFERS, STATUS_INCONCLUSIVE = "reproduced", "differs", "inconclusive"
STATUS_HOLDS, STATUS_DOES_NOT_HOLD = "holds", "does not hold"
STATUS_VACUOUS, STATUS_STRUCTURAL, STATUS_NOT_COMPARABLE = "vacuous", "structural", "not comparable"
STATUS_NOT_MEASURED, STATUS_NOT_RUN = "not measured here", "not run yet"

# Every status of the scorecard, what it means, in the order the count line lists them: the one legend shown wherever
# a scorecard is (README, notebook 99, each notebook's own rows). Only "reproduced" and "differs" (and "holds" / "does
# not hold" for a trend) are results that could have come out either way.
STATUSES = {
    STATUS_REPRODUCED: "ours satisfies the paper's value within our tolerance (a mean over seeds: all of its 95% "
                       "interval does)",
    STATUS_DIFFERS: "ours does not (none of the interval does); the notebook says why",
    STATUS_INCONCLUSIVE: "the interval over seeds straddles the claim's edge",
    STATUS_HOLDS: "a trend or figure of the paper, tested by a rule written down before the row was run: it passes",
    STATUS_DOES_NOT_HOLD: "... it fails",
    STATUS_VACUOUS: "ours satisfies the claim, but so does a trivial baseline of its kind, measured beside it: "
                    "no evidence either way",
    STATUS_STRUCTURAL: "true by construction (the reason is given): not a reproduction",
    STATUS_NOT_COMPARABLE: "the claim is made at iso-something (e.g. accuracy), which we measured and did not meet in "
                           "every seed",
    STATUS_NOT_MEASURED: "the experiment ran, this number was not measured by it",
    STATUS_NOT_RUN: "no notebook has produced it at this profile",
}

# Student's t quantile t(0.975, df) for df = 1..30 (scipy is not a dependency); beyond, the normal's 1.96.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def over_seeds(values, bounds=None):
    """A metric measured once per seed, as the scorecard records it: the mean and its two-sided 95% Student-t
    interval, ``mean +- t(0.975, n - 1) * sd / sqrt(n)`` (needs at least two seeds), cut to ``bounds`` (``(0, 1)``
    for a rate: where seeds split into two outcomes, the t-interval would reach below 0% or above 100%)."""
    values = [float(v) for v in values]
    n = len(values)
    if n < 2:
        raise ValueError("an interval needs at least two seeds")
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = (_T975[n - 2] if n - 1 <= len(_T975) else 1.96) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"value": mean, "interval": [low, high], "seeds": n, "per_seed": values}


def bootstrap(samples, statistic, *, resamples=1000, seed=0):
    """A statistic of ``samples`` (a tensor or list whose first axis indexes examples, e.g. test images) with its 95%
    percentile bootstrap interval over them: ``statistic(samples)`` and the 2.5th and 97.5th percentiles of
    ``statistic`` on ``resamples`` resamples with replacement (seeded), in the stored form of :func:`over_seeds` with
    ``"resamples"`` in place of ``"seeds"``. For a difference measured on the same examples (paired), pass both as one
    tensor and let ``statistic`` take the difference, so the pairing is kept."""
    import torch  # only here: this module is read by light tools that need no torch
    samples = torch.as_tensor(samples) if not isinstance(samples, torch.Tensor) else samples
    generator = torch.Generator().manual_seed(seed)
    draws = torch.randint(len(samples), (resamples, len(samples)), generator=generator)
    values = sorted(float(statistic(samples[draw])) for draw in draws)
    low, high = values[int(0.025 * resamples)], values[min(resamples - 1, int(0.975 * resamples))]
    return {"value": float(statistic(samples)), "interval": [low, high], "resamples": resamples}


def output_root(profile):
    """The folder under which ``results/<profile>/`` and ``figures/<profile>/`` of this profile are written."""
    if os.environ.get("QUANOS_OUT"):
        return pathlib.Path(os.environ["QUANOS_OUT"]).expanduser().resolve()
    if profile == "smoke":
        return pathlib.Path(tempfile.gettempdir()) / "quanos-smoke"
    return PROJECT_ROOT


def results_dir(profile):
    return output_root(profile) / "results" / profile


def figures_dir(profile):
    """``figures/<profile>/`` under the output root: one folder per profile, like ``results/<profile>/``."""
    return output_root(profile) / "figures" / profile


def code_version():
    """The git commit of the code, with ``+dirty`` if the library or notebooks have uncommitted edits.

    ``reproduce.sh`` fixes it once at the start of a run (``$QUANOS_CODE_VERSION``), since the run itself
    rewrites the notebooks it has finished.
    """
    if os.environ.get("QUANOS_CODE_VERSION"):
        return os.environ["QUANOS_CODE_VERSION"]
    def git(*args):
        return subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    try:
        dirty = git("status", "--porcelain", "--", "quanos_lib", "notebooks")
        return git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _clean(value):
    """JSON has no NaN: store it as null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _stored(v):
    """Six decimals, as every stored metric has; below 0.001 four significant digits instead (a gradient of 7.9e-7
    would store as 1e-06)."""
    return float(f"{v:.4g}") if v != 0 and abs(v) < 1e-3 else round(v, 6)


def _measured(value):
    """A metric's stored form: ``{"value": v}``, or for :func:`over_seeds`'s dict its mean, interval and seeds; None
    (a value that does not exist, e.g. an eps that never flips a label) stays None."""
    number = lambda v: None if v is None else _clean(_stored(float(v)))  # noqa: E731
    if isinstance(value, dict) and "resamples" in value:  # bootstrap
        return {"value": number(value["value"]), "interval": [number(v) for v in value["interval"]],
                "resamples": value["resamples"]}
    if isinstance(value, dict):
        return {"value": number(value["value"]), "interval": [number(v) for v in value["interval"]],
                "seeds": value["seeds"], "per_seed": [number(v) for v in value["per_seed"]]}
    return {"value": number(value)}


def record(exp_id, profile, metrics, *, setup, data, seed, seconds, training_seconds=None, notes=None, part=None,
           device=None, compute=None):
    """Write ``results/<profile>/<exp_id>.json`` (``<exp_id>.<part>.json`` for one part of an experiment
    that two notebooks share, e.g. F5's linear and maxout parts) and return its path.

    ``metrics`` maps a metric name to our value; the paper's claim for that metric (if it has one)
    is stored beside it. ``setup`` is the scale and configuration, ``data`` the dataset's ``info``, ``device``
    what it was computed on (``training.device_name``), ``compute`` what a CPU result also depends on
    (``training.compute_info``: torch's version and threads, the BLAS, the instruction set).
    """
    if exp_id not in PAPER:
        raise KeyError(f"unknown experiment id {exp_id!r}")
    claims = PAPER[exp_id]["claims"]
    entry = {
        "id": exp_id, "profile": profile, "title": PAPER[exp_id]["title"],
        "metrics": {name: {**_measured(value), "paper": claims[name].value if name in claims else None,
                           **({"claim": claims[name].text()} if name in claims else {})}
                    for name, value in metrics.items()},
        "setup": setup, "data": data, "seed": seed, **({"device": device} if device else {}),
        **({"compute": compute} if compute else {}),
        "seconds": round(float(seconds), 2),
        **({"training_seconds": round(float(training_seconds), 2)} if training_seconds is not None else {}),
        "code_version": code_version(),
    }
    if notes:
        entry["notes"] = notes
    if part:
        entry["part"] = part
    path = results_dir(profile) / (f"{exp_id}.{part}.json" if part else f"{exp_id}.json")
    text = json.dumps(entry, indent=2, sort_keys=False) + "\n"
    if path.exists() and _same_result(json.loads(path.read_text()), json.loads(text)):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(text)
    os.replace(partial, path)
    return path


def _same_result(old, new, volatile=("seconds", "code_version")):
    return {k: v for k, v in old.items() if k not in volatile} == {k: v for k, v in new.items() if k not in volatile}


def load(exp_id, profile):
    """The recorded result, or None if this profile has not run the experiment. An experiment recorded
    in parts comes back as one result whose ``metrics`` hold every part's and ``parts`` each part."""
    folder = results_dir(profile)
    paths = sorted(folder.glob(f"{exp_id}.json")) + sorted(folder.glob(f"{exp_id}.*.json"))
    if not paths:
        return None
    entries = [json.loads(path.read_text()) for path in paths]
    if len(entries) == 1:
        return entries[0]
    merged = dict(entries[0], metrics={}, parts={})
    for entry in entries:
        merged["metrics"].update(entry["metrics"])
        merged["parts"][entry.get("part", "main")] = entry
    return merged


def training_seconds_by_notebook(profile, folder=None):
    """``{notebook: seconds}``: the training time of every model the notebook's results name (each checkpoint once),
    from the results of ``profile`` (in ``folder``, default :func:`results_dir`); a notebook's models may have been
    trained before it ran (the checkpoint cache)."""
    seconds = {}
    for path in sorted((folder or results_dir(profile)).glob("[A-Z]*.json")):
        entry = json.loads(path.read_text())
        if entry.get("id") not in PAPER:
            continue
        notebook = PAPER[entry["id"]]["notebook"]
        for model in entry.get("setup", {}).get("models", {}).values():
            seconds.setdefault(notebook, {})[model["checkpoint"]] = model["training_seconds"]
    return {notebook: sum(per_checkpoint.values()) for notebook, per_checkpoint in seconds.items()}


def data_status(result):
    """Which data a result stands on: ``official`` (files matching the official checksums), ``unverified copy``
    (e.g. the JPEG-derived CIFAR-10 stand-in) or ``—`` (no result)."""
    if not result:
        return "—"
    return "official" if result.get("data", {}).get("verified") else "unverified copy"


def _number(measured):
    return None if measured is None else measured.get("value")


def _verdict(claim, value, interval):
    """True / False / None (straddles) for ``value`` or, over seeds, its ``interval``."""
    return claim.holds_on(*interval) if interval else claim.holds(value)


def _iso_gaps(claim, metrics):
    """The per-seed gaps of an iso claim's ``what`` (ours minus the baseline's), or None where they were not
    measured per seed."""
    ours, baseline = metrics.get(claim.iso.ours, {}), metrics.get(claim.iso.baseline, {})
    if not ours.get("per_seed") or not baseline.get("per_seed"):
        return None
    return [a - b for a, b in zip(ours["per_seed"], baseline["per_seed"])]


def judge(claim, name, metrics):
    """``(status, ours, why)`` for the claim on metric ``name`` against a result's ``metrics`` (``{name: stored
    metric}``): the status (:data:`STATUSES`), our value as text (with its interval over seeds) and, for ``vacuous``,
    ``structural``, ``not comparable`` and some ``not measured here``, what decided it."""
    measured = metrics.get(name, {})
    if claim.derive is not None:
        value = claim.derive({name: _number(m) for name, m in metrics.items()})
        interval = None
    else:
        value, interval = _number(measured), measured.get("interval")
    ours = format_value(value, claim.unit)
    if interval:
        over = f"{measured['seeds']} seeds" if "seeds" in measured else "bootstrap over the test images"
        ours = f"{format_interval(measured, claim.unit)}, {over}"
    if claim.structural:
        return STATUS_STRUCTURAL, ours, claim.structural
    if value is None:
        return STATUS_NOT_MEASURED, ours, ""
    if claim.iso is not None:
        gaps = _iso_gaps(claim, metrics)
        if gaps is None:
            return STATUS_NOT_MEASURED, ours, f"{claim.iso.what} not measured per seed"
        if any(abs(gap) > claim.iso.tol for gap in gaps):
            gap_text = ", ".join(format_value(gap, "points") for gap in gaps)
            return STATUS_NOT_COMPARABLE, ours, f"{claim.iso.what}, ours minus baseline per seed: {gap_text}"
    verdict = _verdict(claim, value, interval)
    if verdict and claim.baseline:
        baseline = metrics.get(claim.baseline)
        if baseline is None or _number(baseline) is None:
            return STATUS_NOT_MEASURED, ours, f"the baseline ({claim.baseline_label}) was not measured"
        if _verdict(claim, _number(baseline), baseline.get("interval")):
            return (STATUS_VACUOUS, ours,
                    f"{claim.baseline_label} gets {format_value(_number(baseline), claim.unit)} and passes too")
    if claim.trend:
        return {True: STATUS_HOLDS, False: STATUS_DOES_NOT_HOLD, None: STATUS_INCONCLUSIVE}[verdict], ours, ""
    return {True: STATUS_REPRODUCED, False: STATUS_DIFFERS, None: STATUS_INCONCLUSIVE}[verdict], ours, ""


def scorecard(profile, ids=None):
    """One row per paper claim: paper vs ours, our tolerance or test, and a status (:data:`STATUSES`)."""
    rows = []
    for exp_id in ids or PAPER:
        entry, result = PAPER[exp_id], load(exp_id, profile)
        base = {"id": exp_id, "experiment": entry["title"], "notebook": entry["notebook"], "profile": profile,
                "data": data_status(result)}
        metrics = (result or {}).get("metrics", {})
        for metric, claim in entry["claims"].items():
            status, ours, why = (STATUS_NOT_RUN, "—", "") if result is None else judge(claim, metric, metrics)
            paper_text = claim.paper_text() + (f" — {claim.note}" if claim.note else "")
            rows.append(dict(base, metric=metric, paper=paper_text, ours=ours, rule=claim.rule_text(),
                             status=status, why=why))
    return rows


def _notebook_links(text, folder):
    """``02_maxout_fgsm_and_linearity (maxout)`` as ``[02](<folder>02_maxout_fgsm_and_linearity.ipynb) (maxout)``: a
    number, not an unbreakable name, in a narrow column, and the notebook one click away."""
    return re.sub(r"\b(\d\d)_[a-z0-9_]+", lambda m: f"[{m[1]}]({folder}{m[0]}.ipynb)", text)


def scorecard_markdown(profile, ids=None, *, legend=True, compact=False, ran_only=False, notebooks="notebooks/"):
    """The scorecard as a Markdown table, with the legend of its statuses below it (``legend``); the whole scorecard
    opens with the count per status. The full table (README, notebook 99) has every column; ``compact`` (each
    notebook's own rows) keeps id, metric, paper, ours, our tolerance or test and status, the experiment's title once
    per id and the long texts (a claim's note, what decided a status) as numbered notes under the table, so that it fits
    a page. ``ran_only``: only the rows that ran, with a count of the rest (a profile that has run a few notebooks).
    ``notebooks``: the notebooks' folder relative to where the table is read (its links)."""
    rows = scorecard(profile, ids)
    summary = status_summary(rows)
    if ran_only:
        rest = sum(row["status"] == STATUS_NOT_RUN for row in rows)
        rows = [row for row in rows if row["status"] != STATUS_NOT_RUN]
        summary += f" (the {rest} rows not run yet are not listed)" if rest else ""
    if compact:
        lines, notes = _compact_lines(rows, profile)
    else:
        lines, notes = [f"| id | experiment | metric | paper | ours ({profile}) | our tolerance or test | status | "
                        "data | notebook |", "|---|---|---|---|---|---|---|---|---|"], []
        for row in rows:
            status = f"{row['status']} ({row['why']})" if row["why"] else row["status"]
            lines.append(f"| {row['id']} | {row['experiment']} | {metric_words(row['metric'])} | {row['paper']} "
                         f"| {row['ours']} | {row['rule']} | {status} | {row['data']} | {_notebook_links(row['notebook'], notebooks)} |")
    if ids is None or ran_only:  # the whole scorecard: a summary line first
        lines.insert(0, summary + "\n")
    text = "\n".join(lines) + "".join(f"\n\n{k}. {note}" for k, note in enumerate(notes, 1))
    return text + ("\n\n" + status_legend() if legend else "")


def _compact_lines(rows, profile):
    """The compact table of :func:`scorecard_markdown` (each experiment's title once, above it) and its notes (the
    claims' notes and what decided a status, each written once)."""
    titles = dict.fromkeys(f"**{row['id']}**: {row['experiment']}" for row in rows)
    lines = ["; ".join(titles) + ".", "", f"| id | metric | paper | ours ({profile}) | our tolerance or test | status |",
             "|---|---|---|---|---|---|"]
    notes = {}
    for row in rows:
        paper, _, claim_note = row["paper"].partition(" — ")
        marks = "".join(f" ({notes.setdefault(text, len(notes) + 1)})" for text in (claim_note, row["why"]) if text)
        lines.append(f"| {row['id']} | {metric_words(row['metric'])} | {paper} | {row['ours']} | {row['rule']} "
                     f"| {row['status']}{marks} |")
    return lines, [note[0].upper() + note[1:] + ("" if note.endswith(".") else ".") for note in notes]


def status_legend():
    """The one legend of :data:`STATUSES`, as Markdown."""
    return "Statuses: " + "; ".join(f"**{status}**: {meaning}" for status, meaning in STATUSES.items()) + "."


def status_summary(rows):
    """One line counting the scorecard's rows per status, e.g. ``**cpu**, 68 rows: 21 reproduced · 12 differs · ...``;
    "reproduced" counts only rows that could have failed (vacuous and structural ones have statuses of their own)."""
    counts = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    profile = rows[0]["profile"] if rows else "?"
    return f"**{profile}**, {len(rows)} rows: " + " · ".join(f"{counts[s]} {s}" for s in STATUSES if s in counts)
