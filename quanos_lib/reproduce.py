"""The runner behind ``./reproduce.sh``: execute the numbered notebooks with papermill, in order.

    python -m quanos_lib.reproduce --profile cpu --only 01,03 [--out DIR] [--threads N]
    python -m quanos_lib.reproduce --check cpu [--only 01,03] [--threads N] [--keep]

- Passes ``profile`` (resolved: never ``auto``) to each notebook's ``parameters`` cell and runs it
  in the project's own Jupyter kernel (``quanos``, registered by ``reproduce.sh``).
- Each profile has its own place, so that no profile's run overwrites another's: in place, ``cpu``'s executed
  notebooks replace the committed ``notebooks/`` and ``full``'s go to ``notebooks/full/`` (:func:`notebooks_dir`;
  both run with ``notebooks/`` as their working folder); figures go to ``figures/<profile>/``, results to
  ``results/<profile>/``. ``smoke`` (or any run with ``--out``) writes everything under a scratch folder and never
  touches committed files.
- One thread count for every notebook of a run (``--threads``, else ``$QUANOS_THREADS``, else torch's default):
  trained weights depend on it, and every result records it.
- ``--check PROFILE`` reruns the chosen notebooks into a fresh scratch folder and compares every metric of the
  results they write with the committed ones (:func:`check`, :func:`compare_results`).
- A notebook is written in place only after it has run to the end; on a failure the runner names the
  notebook and the failing cell's error, keeps everything finished so far, and exits with status 1.
- A notebook listed in ``VARIANTS`` runs once more per variant, with extra parameters, into its own
  output notebook (notebook 07 on CIFAR-100). When a variant's dataset cannot be had (offline, no local
  copy), its output notebook keeps only the introduction and says plainly that it was not run.
- A notebook listed in ``DATASETS`` needs data that may not be downloadable (notebook 08: ImageNet's panda and
  GoogLeNet's weights). Without it, the notebook says so in one cell and shows no number; its own cells stay below,
  unexecuted and skipped by nbval (tagged ``not-run``), so the code is never lost: the next run on a connected
  machine restores them (:func:`restored`) and runs the notebook in full.
- Executed notebooks are stripped of what changes on every run (execution timestamps, papermill's durations and
  machine paths), so a rerun whose numbers did not change leaves ``git diff`` empty; of widget state and widget
  outputs (a saved progress bar is a stuck "0%" line in any static view); and of papermill's injected parameters
  cell, so that the committed notebook, run top to bottom, does what its parameters cell says (``profile = "auto"``),
  while its outputs name the profile that produced them (:meth:`quanos_lib.experiment.Run.describe`).
- Each notebook's wall time goes to ``results/<profile>/_runtimes.json``, kept apart by kind: a run that trained
  models (it wrote new checkpoints) and a run that found every model cached.
- Ends with the scorecard of the profile; for ``cpu``/``full`` it also refreshes the README's scorecard and
  run-time tables.
"""
import argparse
import dataclasses
import json
import os
import pathlib
import re
import shutil
import sys
import tempfile
import time

from . import profiles, results

KERNEL = "quanos"
NOTEBOOKS = results.PROJECT_ROOT / "notebooks"
README = results.PROJECT_ROOT / "README.md"
SCORECARD_START, SCORECARD_END = "<!-- scorecard:start -->", "<!-- scorecard:end -->"
RUNTIMES_START, RUNTIMES_END = "<!-- runtimes:start -->", "<!-- runtimes:end -->"
TRAINING, CACHED = "training", "cached"  # the two kinds of run kept apart in _runtimes.json


# Notebooks that run more than once: {notebook: {output notebook: extra parameters}}.
VARIANTS = {"07_quanos_cifar10": {"07_quanos_cifar100": {"dataset": "cifar100"}}}
VARIANT_OUTPUTS = {output for variants in VARIANTS.values() for output in variants}
# Notebooks whose data may not be downloadable: {notebook: its `dataset` parameter}.
DATASETS = {"08_panda_googlenet": "imagenet-panda"}
NOT_RUN, NOT_RUN_NOTICE = "not-run", "not-run-notice"  # cell tags of a notebook written without its data


class UsageError(ValueError):
    pass


def writes_in_place(profile, out=None):
    """Whether a run replaces committed files: ``cpu`` and ``full`` without ``--out``."""
    return out is None and profile != "smoke"


def notebooks_dir(profile, out=None):
    """Where the executed notebooks of a run of ``profile`` go. In place, ``cpu``'s replace the committed ones in
    ``notebooks/`` and ``full``'s go to ``notebooks/full/`` (its committed outputs), so neither overwrites the other;
    with ``out`` (``--out``), ``<out>/notebooks/``; for ``smoke``, ``notebooks/`` under its scratch output root."""
    if out is not None:
        return pathlib.Path(out).resolve() / "notebooks"
    if not writes_in_place(profile):
        return results.output_root(profile) / "notebooks"
    return NOTEBOOKS if profile == "cpu" else NOTEBOOKS / profile


def select_notebooks(only=None):
    """The numbered notebooks to run, in order; ``only`` is a list of prefixes such as ``["01", "03"]``.

    The scorecard notebook (99) always runs last, since it summarizes whatever just ran. Only ``notebooks/`` itself
    holds sources: ``notebooks/full/`` holds the executed outputs of profile ``full``.
    """
    every = sorted(nb for nb in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb") if nb.stem not in VARIANT_OUTPUTS)
    if not only:
        return every
    unknown = [p for p in only if not any(nb.name.startswith(p) for nb in every)]
    if unknown:
        raise UsageError(f"no notebook numbered {', '.join(unknown)} "
                         f"(have: {', '.join(nb.name[:2] for nb in every)})")
    chosen = [nb for nb in every if any(nb.name.startswith(p) for p in only)]
    return chosen + [nb for nb in every if nb.name.startswith("99") and nb not in chosen]


def runs(notebooks):
    """``(source notebook, output name, extra parameters)`` for each run: every notebook once, then its variants."""
    for notebook in notebooks:
        yield notebook, notebook.name, {}
        for output, parameters in VARIANTS.get(notebook.stem, {}).items():
            yield notebook, f"{output}.ipynb", parameters


def _missing_dataset(parameters):
    """Why the variant's dataset cannot be loaded (offline and no local copy), or None when it can."""
    if "dataset" not in parameters:
        return None
    from . import data
    try:
        data.load(parameters["dataset"])
    except data.DataUnavailableError as error:
        return str(error)
    return None


def _after_parameters(cells):
    """The index just past a notebook's ``parameters`` cell."""
    return next(i for i, cell in enumerate(cells) if "parameters" in cell.metadata.get("tags", [])) + 1


def restored(notebook):
    """``notebook`` (an nbformat node) as its author wrote it: without the cells :func:`not_run_notebook` added, and
    with the cells it kept unexecuted runnable again. Returns the same node."""
    notebook.cells = [cell for cell in notebook.cells if NOT_RUN_NOTICE not in cell.metadata.get("tags", [])]
    for cell in notebook.cells:
        tags = cell.metadata.get("tags", [])
        if NOT_RUN in tags:
            cell.metadata["tags"] = [tag for tag in tags if tag not in (NOT_RUN, "nbval-skip")]
    return notebook


def not_run_notebook(source, dataset, destination, *, keep_cells=False):
    """Write the introduction and parameters of ``source``, one cell that tries to load ``dataset`` (its
    executed output is the data layer's own message), and one saying that the notebook was not run on it
    because the dataset is unavailable: no result, no invented number. ``keep_cells``: it says that the notebook's
    own cells follow (:func:`append_unexecuted` adds them after this notebook has run)."""
    import nbformat

    from . import data
    notebook = restored(nbformat.read(str(source), as_version=4))
    notebook.cells = [cell for cell in notebook.cells[:_after_parameters(notebook.cells)]
                      if "injected-parameters" not in cell.metadata.get("tags", [])]
    name = data.NAMES.get(dataset, dataset)
    notice = {"tags": [NOT_RUN_NOTICE]}
    notebook.cells.append(nbformat.v4.new_code_cell(id="not-run-check", metadata=notice, source=
        "from IPython.display import Markdown, display\n\n"
        "from quanos_lib import data, profiles\n\n"
        "run = profiles.get(profile)\n"
        "try:\n"
        "    data.load(dataset)\n"
        "except data.DataUnavailableError as error:\n"
        "    display(Markdown(f\"**Profile `{run.name}`, dataset `{dataset}`: not available.** {error}\"))"))
    elsewhere = ("" if keep_cells else
                 f" every number of notebook {source.name[:2]} is in `{source.name}`.")
    notebook.cells.append(nbformat.v4.new_markdown_cell(id="not-run-text", metadata=notice, source=(
        f"## Not run on {name}\n\n**{name} is not available on the machine that produced this notebook** "
        f"(no local copy under `$QUANOS_DATA` and no internet to download it), so this notebook was not run on it "
        f"and shows no result.{elsewhere} On a machine with internet, `./reproduce.sh --only {source.name[:2]}` "
        f"downloads it (torchvision) and runs this notebook in full"
        + (": its cells follow, not executed." if keep_cells else "."))))
    nbformat.write(notebook, str(destination))


def append_unexecuted(executed, source):
    """Append to the executed :func:`not_run_notebook` ``executed`` the cells of ``source`` after its parameters
    cell, unexecuted and tagged ``not-run`` and ``nbval-skip`` (no machine without the data can run them), so that
    the notebook's code is never lost; :func:`restored` makes them runnable again."""
    import nbformat
    rest = restored(nbformat.read(str(source), as_version=4)).cells
    rest = rest[_after_parameters(rest):]
    for cell in rest:
        cell.metadata["tags"] = [*cell.metadata.get("tags", []), NOT_RUN, "nbval-skip"]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    notebook = nbformat.read(str(executed), as_version=4)
    notebook.cells.extend(rest)
    nbformat.write(notebook, str(executed))


def _minutes(seconds):
    return f"{int(seconds // 60)}m{seconds % 60:04.1f}s"


WIDGET_OUTPUT = "application/vnd.jupyter.widget-view+json"


def clean_notebook(path, keep_parameters=None):
    """Strip the per-run noise from an executed notebook, in place: papermill's metadata (times, durations,
    machine paths), Jupyter's execution timestamps, the random ids pandas gives each styled table (``T_1a2b3``),
    which become the cell's id, and the memory addresses in plain-text reprs (``<pandas...Styler at 0x7f...>``);
    widget state and widget outputs; and papermill's injected parameters cell (see the module doc), except for
    ``keep_parameters`` (a variant's own, e.g. ``{"dataset": "cifar100"}``), which it keeps alone."""
    import nbformat
    notebook = nbformat.read(str(path), as_version=4)
    notebook.metadata.pop("papermill", None)
    notebook.metadata.pop("widgets", None)
    kept = []
    for cell in notebook.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            if not keep_parameters:
                continue
            cell.id, cell.outputs, cell.execution_count = "injected-parameters", [], None
            cell.source = "# Parameters of this variant\n" + "".join(f"{name} = {value!r}\n"
                                                                  for name, value in keep_parameters.items())
        kept.append(cell)
    notebook.cells = kept
    for cell in notebook.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = [output for output in cell.outputs if WIDGET_OUTPUT not in output.get("data", {})]
        for k, output in enumerate(cell.get("outputs", [])):
            if "text/plain" in output.get("data", {}):
                output["data"]["text/plain"] = re.sub(r" at 0x[0-9a-f]+>", ">", output["data"]["text/plain"])
            if "text/html" in output.get("data", {}):
                html = output["data"]["text/html"]
                for uuid in dict.fromkeys(re.findall(r"\bT_([0-9a-f]{5})_", html)):
                    html = html.replace(f"T_{uuid}", f"T_{cell.id}_{k}")
                output["data"]["text/html"] = html
    nbformat.write(notebook, str(path))


def _checkpoints():
    """The names of the checkpoint files in the cache: a notebook that adds some has trained models."""
    from . import checkpoints
    folder = checkpoints.cache_dir()
    return {path.name for path in folder.glob("*.pt")} if folder.exists() else set()


def _record_runtimes(profile, runtimes):
    """Keep each notebook's measured wall time, per kind of run (the README's run-time table is made from them):
    ``{notebook: {"training": {...}, "cached": {...}}}``; a new measurement replaces the one of its kind."""
    path = results.results_dir(profile) / "_runtimes.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    known = {name: kinds for name, kinds in known.items() if TRAINING in kinds or CACHED in kinds}  # drop old layout
    for name, measured in runtimes.items():
        known.setdefault(name, {})[TRAINING if measured["models_trained"] else CACHED] = measured
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(known.items())), indent=2) + "\n")


def _runtime_text(measured):
    if not measured:
        return "—"
    count = measured["models_trained"]
    trained = f", {count} model{'s' if count != 1 else ''} trained" if count else ""
    device = measured.get("device", "cpu")
    machine = f"{measured['cpus']} CPUs" + (f", {device.removeprefix('cuda: ')}" if device != "cpu" else "")
    return f"{measured['seconds'] / 60:.1f} min ({machine}{trained})"


def runtimes_markdown():
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
    trained = results.training_seconds_by_notebook("cpu")
    estimated = []
    for name, kinds in measured["cpu"].items():
        if name in measured["full"] or name in VARIANT_OUTPUTS:
            continue
        minutes = estimates.estimate_minutes(name, kinds, training_seconds=trained.get(name))
        if minutes is not None:
            estimated.append(f"{name} {_estimate_text(minutes)}")
    if estimated:
        speedups = ", ".join(f"{estimates.gpu_speedup(family):.0f}x for {label}" for family, label in
                             (("vgg", "VGG-19"), ("conv_maxout", "conv maxout"), ("mlp", "the MNIST MLPs"),
                              ("mpdbm", "the MP-DBM")))
        lines += ["", "Estimated `full` time on one GPU, until a measured one replaces it (`quanos_lib.estimates`: the "
                  "cpu time scaled by the profiles' ratio of multiply-accumulates, divided by the GPU's speed-up in "
                  f"multiply-accumulates per second measured on one H100 by `benchmarks/epoch_times.py` ({speedups}); "
                  "upper bounds where early stopping ends before the epoch cap): " + "; ".join(estimated) + "."]
    return "\n".join(lines)


def _estimate_text(minutes):
    return "< 1 min" if minutes < 1 else f"~{minutes:.0f} min" if minutes < 90 else f"~{minutes / 60:.0f} h"


def _replace_between(text, start, end, content):
    if start not in text or end not in text:
        return text
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{content}\n{end}{tail}"


def _update_readme(profile):
    text = _replace_between(README.read_text(), SCORECARD_START, SCORECARD_END, results.scorecard_markdown(profile))
    README.write_text(_replace_between(text, RUNTIMES_START, RUNTIMES_END, runtimes_markdown()))


def run(profile, only=None, out=None, threads=None):
    import papermill  # imported here so that a usage error costs no import time
    from papermill.exceptions import PapermillExecutionError

    profile = profiles.resolve(profile)
    os.environ["QUANOS_PROFILE"] = profile  # the kernels resolve the same profile, whatever the notebook says
    chosen = select_notebooks(only)
    in_place = writes_in_place(profile, out)
    if out is not None:
        os.environ["QUANOS_OUT"] = str(pathlib.Path(out).resolve())
    target_dir = notebooks_dir(profile, out)
    target_dir.mkdir(parents=True, exist_ok=True)
    # In place, a notebook is executed into a scratch folder and moved over the committed one on success.
    staging = pathlib.Path(tempfile.mkdtemp(prefix="quanos-run-")) if in_place else target_dir
    # Progress bars inside the notebooks would be stored as widgets that no static viewer can show;
    # the runner prints its own progress instead.
    os.environ["TQDM_DISABLE"] = "1"
    from .training import device_name, pin_threads  # torch, imported once the usage is known to be right
    device = device_name()
    # One thread count for every notebook of the run (trained weights depend on it; results record it).
    os.environ["QUANOS_THREADS"] = str(pin_threads(threads))
    os.environ["QUANOS_CODE_VERSION"] = results.code_version()  # before the run rewrites any notebook
    if in_place and os.environ["QUANOS_CODE_VERSION"].endswith("+dirty"):
        print("warning: quanos_lib/ or notebooks/ have uncommitted changes, so the results will name no commit "
              "(+dirty); commit first, then run, for results to commit", file=sys.stderr)
    print(f"profile {profile}: {len(chosen)} notebook(s) -> {target_dir}; results -> {results.results_dir(profile)}")
    runtimes = {}
    planned = list(runs(chosen))
    for i, (notebook, output, extra) in enumerate(planned, 1):
        name = pathlib.Path(output).stem
        print(f"[{i}/{len(planned)}] {name} ...", flush=True)
        start, cached_before = time.perf_counter(), _checkpoints()
        executed, original = staging / output, notebook
        needs = {"dataset": DATASETS[notebook.stem]} if notebook.stem in DATASETS and not extra else extra
        missing = _missing_dataset(needs)
        stand_in = pathlib.Path(tempfile.mkdtemp(prefix="quanos-run-source-")) / output
        if missing:
            print(f"  {missing}\n  -> {output} says so and shows no result", flush=True)
            not_run_notebook(notebook, needs["dataset"], stand_in, keep_cells=not extra)
        else:  # as its author wrote it, should an earlier run have lacked its data
            import nbformat
            nbformat.write(restored(nbformat.read(str(notebook), as_version=4)), str(stand_in))
        notebook = stand_in
        try:  # the kernel's log level hides its start-up warnings, not the notebook's own output
            papermill.execute_notebook(str(notebook), str(executed), parameters={"profile": profile, **extra},
                                       kernel_name=KERNEL, cwd=str(NOTEBOOKS), progress_bar=sys.stderr.isatty(),
                                       log_output=False, extra_arguments=["--IPKernelApp.log_level=ERROR"])
        except PapermillExecutionError as error:
            print(f"FAILED {notebook.name}, cell {error.exec_count}: {error.ename}: {error.evalue}\n"
                  f"  the executed notebook with the error: {executed}", file=sys.stderr)
            if runtimes:
                _record_runtimes(profile, runtimes)
            return 1
        except Exception as error:  # no kernel, unreadable notebook, ...: one line, not a traceback
            print(f"FAILED {notebook.name}: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
        clean_notebook(executed, keep_parameters=extra)
        if missing and not extra:
            append_unexecuted(executed, original)
        if executed != target_dir / output:
            shutil.move(executed, target_dir / output)  # may cross file systems
        elapsed = time.perf_counter() - start
        runtimes[name] = {"seconds": round(elapsed, 1), "cpus": os.cpu_count(), "device": device,
                          "models_trained": len(_checkpoints() - cached_before),
                          "code_version": os.environ["QUANOS_CODE_VERSION"]}
        print(f"[{i}/{len(planned)}] {name} done in {_minutes(elapsed)}", flush=True)
    _record_runtimes(profile, runtimes)
    print(f"\nScorecard, profile {profile}" + (" (smoke numbers mean nothing)" if profile == "smoke" else ""))
    print(results.scorecard_markdown(profile))
    if in_place:
        _update_readme(profile)
    return 0


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
                                          for metric, old, new in self.differences)
        return f"{name}: {self.status}" + (f" ({self.note})" if self.note else "")


_ABSENT = object()  # a metric (or one of its stored fields) that one side lacks


def _shown(value):
    return "absent" if value is _ABSENT else json.dumps(value)


def device_kind(device):
    """``"cpu"`` or ``"cuda"``: the kind of a recorded device (``"cuda: NVIDIA H100 80GB HBM3"`` is ``cuda``)."""
    return device.split(":", 1)[0].strip()


def _same_kind(entry, device):
    """Whether a result was computed on ``device``'s kind of device (one that records no device counts as such)."""
    return not entry.get("device") or device_kind(entry["device"]) == device_kind(device)


def _skipped(entry):
    return Comparison(SKIPPED, note=f"computed on {entry['device']}, compared only on a "
                                    f"{device_kind(entry['device'])} machine")


def _result_files(folder):
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


def compare_results(committed_dir, rerun_dir, profile, *, expected=None, device=None):
    """Compare the results a rerun wrote with the committed ones: ``committed_dir`` and ``rerun_dir`` are the folders
    that hold ``results/<profile>/`` (the project, and the rerun's ``--out``). Returns ``{file name: Comparison}``,
    sorted by name, for every result file of the rerun and every committed one in ``expected`` (file names; None:
    every committed file). Stored values must be exactly equal (they are rounded to 6 decimals when stored).

    ``missing``: a file one side lacks. ``skipped``: the committed file was computed on another kind of device than
    ``device`` (default: this machine's, ``training.device_name()``), whose floating point differs: it is compared
    only on a machine of its kind. A committed file that records no device (older files) is compared."""
    if device is None:
        from .training import device_name
        device = device_name()
    committed = _result_files(pathlib.Path(committed_dir) / "results" / profile)
    rerun = _result_files(pathlib.Path(rerun_dir) / "results" / profile)
    names = set(rerun) | (set(committed) if expected is None else set(expected))
    found = {}
    for name in sorted(names):
        old, new = committed.get(name), rerun.get(name)
        if old is not None and not _same_kind(old, device):
            found[name] = _skipped(old)
        elif old is None or new is None:
            found[name] = Comparison(MISSING, note="not committed" if old is None else "the rerun did not write it")
        else:
            differences = _metric_differences(old.get("metrics", {}), new.get("metrics", {}))
            found[name] = Comparison(DIFFERS, differences) if differences else Comparison(IDENTICAL)
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


def _recorded_threads(entries):
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


def check(profile, only=None, threads=None, keep=False):
    """``--check``: rerun the chosen notebooks at ``profile`` into a fresh scratch folder (as ``--out`` does, with the
    normal checkpoint cache), then print one line per result file (:func:`compare_results`). Threads are pinned to
    the count the committed results recorded (``threads`` overrides it). Returns 0 when every compared file is
    identical, else 1."""
    if profile not in CHECKED_PROFILES:
        raise UsageError(f"--check takes {' or '.join(CHECKED_PROFILES)} (the profiles with committed results), "
                         f"not {profile!r}")
    chosen = select_notebooks(only)
    import torch

    from .training import device_name
    device = device_name()
    expected = expected_results(chosen, results.PROJECT_ROOT, profile) if only else None
    committed = _result_files(results.PROJECT_ROOT / "results" / profile)
    committed = {name: entry for name, entry in committed.items() if expected is None or name in expected}
    here = {name: entry for name, entry in committed.items() if _same_kind(entry, device)}
    recorded = _recorded_threads(here)
    if committed and not here:  # nothing this machine can compare: no rerun
        print(f"every committed result of these notebooks was computed on another kind of device than this "
              f"machine's ({device}): nothing to rerun here")
        for name, entry in committed.items():
            print(_skipped(entry).line(name))
        return 0
    threads, note = check_threads(recorded, threads,
                                  default=int(os.environ.get("QUANOS_THREADS") or 0) or torch.get_num_threads())
    if note:
        print(note)
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="quanos-check-"))
    os.environ["QUANOS_PROFILE"] = profile  # the checked profile, whatever the environment says
    status = run(profile, only, out=scratch, threads=threads)
    if status != 0:
        print(f"the rerun failed; its notebooks are kept in {scratch}", file=sys.stderr)
        return status
    found = compare_results(results.PROJECT_ROOT, scratch, profile, expected=expected, device=device)
    print(f"\nCheck of profile {profile} on {device}: the rerun's results/{profile}/ against the committed ones")
    for name, comparison in found.items():
        print(comparison.line(name))
    compared = [comparison for comparison in found.values() if comparison.status != SKIPPED]
    same = sum(comparison.status == IDENTICAL for comparison in compared)
    print(f"{same} of {len(compared)} compared file(s) identical" +
          (f", {len(found) - len(compared)} skipped" if len(found) > len(compared) else ""))
    if keep:
        print(f"scratch folder kept: {scratch}")
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if same == len(compared) else 1


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line (reproduce.sh's usage errors are one line), exit status 2 through main
        raise UsageError(message)


def _positive(text, flag):
    if not re.fullmatch(r"[1-9][0-9]*", text or ""):
        raise UsageError(f"{flag} takes a positive whole number, not {text!r}")
    return int(text)


def main(argv=None):
    parser = _Parser(prog="reproduce.sh", add_help=True, allow_abbrev=False)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--only", default=None, help="comma-separated notebook numbers, e.g. 01,03")
    parser.add_argument("--out", default=None)
    parser.add_argument("--threads", default=None, help="torch's CPU threads for every notebook of the run")
    parser.add_argument("--check", default=None, metavar="PROFILE",
                        help="rerun into a scratch folder and compare the results with the committed ones")
    parser.add_argument("--keep", action="store_true", help="with --check: keep the scratch folder")
    try:
        args = parser.parse_args(argv)
        only = [p.strip() for p in args.only.split(",") if p.strip()] if args.only else None
        threads = _positive(args.threads, "--threads") if args.threads is not None else None
        if args.check is not None:
            if args.profile is not None or args.out is not None:
                raise UsageError("--check PROFILE takes no --profile and no --out (it reruns into its own scratch folder)")
            return check(args.check, only, threads, keep=args.keep)
        if args.keep:
            raise UsageError("--keep goes with --check")
        return run(args.profile or "auto", only, args.out, threads)
    except (UsageError, profiles.UnknownProfileError) as error:
        print(f"reproduce.sh: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
