"""The log of notebook 07's protocol: every change of a setting that decides Q4-Q7, with the commit that made it, its
reason (the commit's message) and the scored results before and after, from the project's own history.

    python -m quanos_lib.protocol_log          # rebuild results/cpu/protocol_log.json from git (committed)

The protocol was not fixed before any result: its settings changed after results were seen, each for a stated reason
(a collapsed adversarial training, a stop rule that ended training before robustness, a weak PGD scoring...). The log
says so, change by change, so that a reader can weigh the forking paths. Each entry stands for a commit that changed
``results/cpu/Q4.json`` or ``Q7.json``: the settings its results record (their ``setup``: the scale and each model's
training configuration) and how ``quanos_lib/protocol.py`` scored PGD at that commit; "not recorded" where a result
did not record a setting. Notebook 07 reads the committed file and adds its own run when the protocol changed
(:func:`with_run`).
"""
import json
import subprocess
import sys

from . import results

RESULTS = ("results/cpu/Q4.json", "results/cpu/Q7.json")
NOT_RECORDED = "not recorded"
# Q4's and Q7's headline gains and Q4's clean accuracies, under the names they had over time.
HEADLINES = {"Q4 gain (PGD area)": ("Q4", ("pgd_area_gain_vs_8bit", "robustness_gain_vs_8bit")),
             "Q7 gain (PGD area)": ("Q7", ("pgd_area_gain_with_adv_training", "robustness_gain_with_adv_training")),
             "QUANOS clean": ("Q4", ("clean_accuracy_vs_8bit_ours", "clean_accuracy_quanos")),
             "8-bit clean": ("Q4", ("clean_accuracy_vs_8bit_baseline", "clean_accuracy_8bit"))}


def settings(q4, q7, protocol_source):
    """The settings that decide the scored comparisons, from a commit's recorded Q4 and Q7 results and its
    ``protocol.py``."""
    scale = q7["setup"].get("scale", q7["setup"])
    adversarial = next((model["config"] for label, model in q7["setup"].get("models", {}).items()
                        if "adv" in label.lower()), {})
    value = lambda mapping, key: mapping.get(key, NOT_RECORDED) if mapping else NOT_RECORDED  # noqa: E731
    return {
        "width": value(scale, "width"),
        "eps (ANS, attacks, adversarial training)": value(scale, "eps"),
        "fine-tuning epochs": value(scale, "quanos_epochs"),
        "fine-tuning patience": value(scale, "patience"),
        "adversarial training": value(adversarial, "adv_kind"),
        "its alpha (clean term)": value(adversarial, "adv_alpha"),
        "its epochs": value(adversarial, "epochs"),
        "its patience": value(adversarial, "patience"),
        "its early stopping on": (NOT_RECORDED if not adversarial else
                                  f"{adversarial.get('val_adv_kind') or 'fgsm'} validation error"
                                  if adversarial.get("val_adv_eps") else "clean validation error"),
        "scored measure": next(iter(q4["metrics"]), NOT_RECORDED).removesuffix("_vs_8bit"),
        "scored PGD steps": value(scale, "pgd_steps"),
        "PGD scored by": "its strongest iterate" if "stop_when_fooled=True" in protocol_source else "its last iterate",
        "seeds": value(scale, "seeds"),
        "test images attacked": value(scale, "attack_size"),
    }


def headlines(q4, q7):
    """The scored results a change moved, under whichever of their names the commit used."""
    found = {}
    for label, (exp_id, names) in HEADLINES.items():
        metrics = (q4 if exp_id == "Q4" else q7)["metrics"]
        found[label] = next((metrics[name]["value"] for name in names if name in metrics), None)
    return found


def _git(*args):
    return subprocess.run(["git", "-C", str(results.PROJECT_ROOT), *args], capture_output=True, text=True,
                          check=True).stdout


def from_history():
    """The log's entries, oldest first, one per commit that changed the recorded Q4 or Q7 results."""
    entries = []
    for line in _git("log", "--reverse", "--format=%H|%ad|%s", "--date=short", "--", *RESULTS).splitlines():
        commit, date, subject = line.split("|", 2)
        try:
            q4, q7 = (json.loads(_git("show", f"{commit}:{path}")) for path in RESULTS)
        except subprocess.CalledProcessError:  # one of them not yet committed
            continue
        source = _git("show", f"{commit}:quanos_lib/protocol.py") if "protocol.py" in _git(
            "ls-tree", "--name-only", commit, "quanos_lib/") else ""
        entries.append({"date": date, "commit": commit[:7], "code_version": q7.get("code_version"),
                        "why": subject, "settings": settings(q4, q7, source), "results": headlines(q4, q7)})
    return entries


def changes(entries):
    """Keep the entries whose settings differ from the one before (the first always), each with ``changed``: the
    settings it changed, ``{setting: [before, after]}``, and ``before``: the previous entry's results."""
    kept, previous = [], None
    for entry in entries:
        changed = {key: [previous["settings"].get(key), value] for key, value in entry["settings"].items()
                   if previous is not None and previous["settings"].get(key) != value}
        if previous is None or changed:
            kept.append(dict(entry, changed=changed, before=previous["results"] if previous else None))
        previous = entry
    return kept


def path(profile="cpu"):
    return results.results_dir(profile) / "protocol_log.json"


def load(profile="cpu"):
    """The committed log, or an empty one."""
    return json.loads(path(profile).read_text()) if path(profile).exists() else []


def save(log, profile="cpu"):
    """Write ``log`` as the profile's protocol log (notebook 07 keeps it this way)."""
    path(profile).parent.mkdir(parents=True, exist_ok=True)
    path(profile).write_text(json.dumps(log, indent=2) + "\n")


def with_run(log, q4, q7, *, date, code_version):
    """``log`` with this run appended where its settings (from its Q4 and Q7 results and today's ``protocol.py``)
    differ from the last entry's: how the log is kept from now on."""
    source = (results.PROJECT_ROOT / "quanos_lib" / "protocol.py").read_text()
    entry = {"date": date, "commit": code_version, "code_version": code_version, "why": "this run",
             "settings": settings(q4, q7, source), "results": headlines(q4, q7)}
    if log and log[-1]["settings"] == entry["settings"]:
        return log
    changed = {key: [log[-1]["settings"].get(key), value] for key, value in entry["settings"].items()
               if log and log[-1]["settings"].get(key) != value}
    return [*log, dict(entry, changed=changed, before=log[-1]["results"] if log else None)]


def table(log):
    """The log as a table a reader reads top to bottom: date, commit, what changed (before → after), why, and the
    scored results before and after."""
    import pandas as pd
    show = lambda value: f"{value:g}" if isinstance(value, float) else str(value)  # noqa: E731
    rows = []
    for entry in log:
        changed = "; ".join(f"{key}: {show(before)} → {show(after)}" for key, (before, after) in entry["changed"].items())
        rows.append({"date": entry["date"], "commit": entry["commit"], "what changed": changed or "(the first run)",
                     "why": entry["why"],
                     **{f"{label} before": None if entry["before"] is None else entry["before"].get(label)
                        for label in HEADLINES},
                     **{f"{label} after": entry["results"].get(label) for label in HEADLINES}})
    return pd.DataFrame(rows)


def main():
    log = changes(from_history())
    save(log)
    print(f"{len(log)} protocol changes -> {path().relative_to(results.PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
