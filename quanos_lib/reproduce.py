"""The runner behind ``./reproduce.sh``: execute the numbered notebooks with papermill, in order.

    python -m quanos_lib.reproduce --profile cpu --only 01,03 [--out DIR]

- Passes ``profile`` (resolved: never ``auto``) to each notebook's ``parameters`` cell and runs it
  in the project's own Jupyter kernel (``quanos``, registered by ``reproduce.sh``).
- ``cpu``/``full``: executed notebooks replace the committed ones, figures go to ``figures/``,
  results to ``results/<profile>/``. ``smoke`` (or any run with ``--out``) writes everything under a
  scratch folder and never touches committed files.
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


def select_notebooks(only=None):
    """The numbered notebooks to run, in order; ``only`` is a list of prefixes such as ``["01", "03"]``.

    The scorecard notebook (99) always runs last, since it summarizes whatever just ran.
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
    in_place = out is None and profile != "smoke"
    if out is not None:
        os.environ["QUANOS_OUT"] = str(pathlib.Path(out).resolve())
    target_dir = NOTEBOOKS if in_place else results.output_root(profile) / "notebooks"
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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="reproduce.sh", add_help=True)
    parser.add_argument("--profile", default="auto")
    parser.add_argument("--only", default=None, help="comma-separated notebook numbers, e.g. 01,03")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    only = [p.strip() for p in args.only.split(",") if p.strip()] if args.only else None
    try:
        return run(args.profile, only, args.out)
    except (UsageError, profiles.UnknownProfileError) as error:
        print(f"reproduce.sh: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
