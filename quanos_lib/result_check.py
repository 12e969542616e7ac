"""``./reproduce.sh --check``'s comparison of a rerun's results with the committed ones: per result file, identical,
the metrics that differ, missing, or skipped (computed on another kind of device, compared only there); the thread
count the committed results recorded, which a rerun must pin; and the processor they recorded, which a rerun
cannot choose (a difference on another CPU says so)."""
import dataclasses
import json
import pathlib
import re


IDENTICAL, DIFFERS, MISSING, SKIPPED = "identical", "differs", "missing", "skipped"  # what a check finds per file
CHECKED_PROFILES = ("cpu", "full")  # the profiles whose results are committed


@dataclasses.dataclass
class Comparison:
    """One result file of a check: its ``status``; for ``differs``, ``differences`` as ``(metric, committed,
    rerun)``; for ``missing`` and ``skipped``, a ``note`` saying why."""
    status: str
    differences: list = dataclasses.field(default_factory=list)
    note: str = ""

    def line(self, name):
        if self.status == DIFFERS:
            return f"{name}: " + "; ".join(f"{metric}: {_shown(old)} -> {_shown(new)}"
                                          for metric, old, new in self.differences) + \
                (f" ({self.note})" if self.note else "")
        return f"{name}: {self.status}" + (f" ({self.note})" if self.note else "")


_ABSENT = object()  # a metric (or one of its stored fields) that one side lacks


def _shown(value):
    return "absent" if value is _ABSENT else json.dumps(value)


def device_kind(device):
    """``"cpu"`` or ``"cuda"``: the kind of a recorded device (``"cuda: NVIDIA H100 80GB HBM3"`` is ``cuda``)."""
    return device.split(":", 1)[0].strip()


def same_kind(entry, device):
    """Whether a result was computed on ``device``'s kind of device (one that records no device counts as such)."""
    return not entry.get("device") or device_kind(entry["device"]) == device_kind(device)


def skipped(entry):
    return Comparison(SKIPPED, note=f"computed on {entry['device']}, compared only on a "
                                    f"{device_kind(entry['device'])} machine")


def recorded_cpu(entry):
    """The processor a result recorded (``training.cpu_name``), or None (older results record none)."""
    return (entry.get("compute") or {}).get("cpu")


def this_cpu(device):
    """The processor a check on ``device`` compares against: this one's (``training.cpu_name``) on the CPU, "" on a
    GPU, whose models train on the device (so no processor note)."""
    from .training import cpu_name
    return cpu_name() if device == "cpu" else ""


def same_cpu(recorded, cpu):
    """Whether a result recorded on ``recorded`` (None: it records none) was computed on processor ``cpu``: never
    where either cannot be identified (:func:`quanos_lib.training.cpu_name` says ``unknown``)."""
    from .training import UNKNOWN_CPU  # (torch is loaded by then: a check reruns notebooks)
    return bool(recorded) and recorded == cpu and not cpu.startswith(UNKNOWN_CPU)


def other_cpu_note(entry, cpu):
    """Why a file may differ when nothing else does, or "" : it was computed on another processor than ``cpu``
    (or records none, or either cannot be identified), and two processors can round a matrix product differently
    (README, "Determinism"). ``cpu`` "" (a check on a GPU): no note."""
    recorded = recorded_cpu(entry)
    if not cpu or same_cpu(recorded, cpu):  # "": a GPU check, whose models train on the device
        return ""
    if not recorded:
        where = "its CPU not recorded"
    elif recorded != cpu:
        where = f"computed on another CPU, {recorded}"
    else:
        where = f"its processor not identifiable ({recorded})"
    return f"{where}; this one is {cpu}: trained weights may differ between processors"


def result_files(folder):
    """``{file name: entry}`` of the result files in ``folder`` (``_runtimes.json`` and the like left out)."""
    if not folder.is_dir():
        return {}
    return {path.name: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))
            if not path.name.startswith("_")}


def _metric_differences(committed, rerun):
    """``(metric, committed, rerun)`` for every stored measurement that differs: the value, and for a metric over
    seeds its interval, seed count and per-seed values (the paper's value and claim are not measurements)."""
    differences = []
    for name in dict.fromkeys([*committed, *rerun]):
        old, new = committed.get(name), rerun.get(name)
        if old is None or new is None:
            differences.append((name, _ABSENT if old is None else old.get("value"),
                                _ABSENT if new is None else new.get("value")))
            continue
        for field in dict.fromkeys([*old, *new]):
            if field in ("paper", "claim") or old.get(field, _ABSENT) == new.get(field, _ABSENT):
                continue
            label = name if field == "value" else f"{name} ({field})"
            differences.append((label, old.get(field, _ABSENT), new.get(field, _ABSENT)))
    return differences


def compare_results(committed_dir, rerun_dir, profile, *, expected=None, device=None, cpu=None):
    """Compare the results a rerun wrote with the committed ones: ``committed_dir`` and ``rerun_dir`` are the folders
    that hold ``results/<profile>/`` (the project, and the rerun's ``--out``). Returns ``{file name: Comparison}``,
    sorted by name, for every result file of the rerun and every committed one in ``expected`` (file names; None:
    every committed file). Stored values must be exactly equal (they are rounded to 6 decimals when stored).

    ``missing``: a file one side lacks. ``skipped``: the committed file was computed on another kind of device than
    ``device`` (default: this machine's, ``training.device_name()``), whose floating point differs: it is compared
    only on a machine of its kind. A committed file that records no device (older files) is compared. A file that
    differs and was computed on another processor than ``cpu`` (default: :func:`this_cpu`), or records none, says
    so."""
    from . import training
    device = device or training.device_name()
    cpu = this_cpu(device) if cpu is None else cpu
    committed = result_files(pathlib.Path(committed_dir) / "results" / profile)
    rerun = result_files(pathlib.Path(rerun_dir) / "results" / profile)
    names = set(rerun) | (set(committed) if expected is None else set(expected))
    found = {}
    for name in sorted(names):
        old, new = committed.get(name), rerun.get(name)
        if old is not None and not same_kind(old, device):
            found[name] = skipped(old)
        elif old is None or new is None:
            found[name] = Comparison(MISSING, note="not committed" if old is None else "the rerun did not write it")
        else:
            differences = _metric_differences(old.get("metrics", {}), new.get("metrics", {}))
            found[name] = (Comparison(DIFFERS, differences, other_cpu_note(old, cpu)) if differences
                           else Comparison(IDENTICAL))
    return found


def expected_results(notebooks, committed_dir, profile):
    """The committed result files of ``profile`` that the given notebooks write, from the notebook each experiment
    names in ``quanos_lib.paper`` (``"01_linear_models (linear), 03_adversarial_training (maxout)"``: only that
    part); a part no notebook is named for is compared only when the rerun writes it."""
    from .paper import PAPER
    prefixes = {notebook.name[:2] for notebook in notebooks}
    folder = pathlib.Path(committed_dir) / "results" / profile
    names = set()
    for exp_id, paper in PAPER.items():
        for number, part in re.findall(r"\b(\d\d)_\w+(?: \((\w+)\))?", paper["notebook"]):
            if number not in prefixes:
                continue
            patterns = [f"{exp_id}.{part}.json"] if part else [f"{exp_id}.json", f"{exp_id}.*.json"]
            names.update(path.name for pattern in patterns for path in folder.glob(pattern))
    return names


def recorded_threads(entries):
    """``{thread count: [file names]}`` from the ``compute`` the results recorded (older results record none)."""
    counts = {}
    for name, entry in entries.items():
        threads = (entry.get("compute") or {}).get("threads")
        if threads:
            counts.setdefault(int(threads), []).append(name)
    return dict(sorted(counts.items(), key=lambda item: -len(item[1])))


def check_threads(recorded, threads, default):
    """The thread count a check runs with, and one line saying so (None: nothing to say). ``recorded``: from
    :func:`_recorded_threads`; ``threads``: ``--threads`` (it wins); ``default``: what the run would use otherwise."""
    if threads is not None:
        if recorded and threads not in recorded:
            return threads, (f"running with --threads {threads}, though the committed results recorded "
                             f"{', '.join(map(str, recorded))}: they may differ")
        return threads, None
    if not recorded:
        return None, (f"the committed results record no thread count (written before results recorded it): "
                      f"running with the default here, {default}")
    threads = next(iter(recorded))
    if len(recorded) > 1:
        counts = ", ".join(f"{count} in {len(names)} file(s)" for count, names in recorded.items())
        return threads, (f"the committed results record several thread counts ({counts}): pinning QUANOS_THREADS="
                         f"{threads}, so those computed with another count may differ")
    if threads != default:
        return threads, (f"pinning QUANOS_THREADS={threads}, the thread count the committed results recorded "
                         f"(the default here is {default})")
    return threads, None
