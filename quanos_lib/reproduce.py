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
  machine restores them and runs the notebook in full.
- Executed notebooks are saved clean (:mod:`quanos_lib.notebook_hygiene`: no per-run noise, no widgets, no injected
  parameters cell), so a rerun whose numbers did not change leaves ``git diff`` empty.
- Each notebook's wall time goes to ``results/<profile>/_runtimes.json``, kept apart by kind: a run that trained
  models (it wrote new checkpoints) and a run that found every model cached.
- Ends with the scorecard of the profile; for ``cpu``/``full`` it also refreshes the README's scorecard and
  run-time tables (:mod:`quanos_lib.readme_tables`). ``--check`` compares by :mod:`quanos_lib.result_check`.
"""
import argparse
import os
import pathlib
import re
import shutil
import sys
import tempfile
import time

from . import notebook_hygiene, profiles, readme_tables, result_check, results
from .formatting import format_duration

KERNEL = "quanos"
NOTEBOOKS = results.PROJECT_ROOT / "notebooks"


# Notebooks that run more than once: {notebook: {output notebook: extra parameters}}.
VARIANTS = {"07_quanos_cifar10": {"07_quanos_cifar100": {"dataset": "cifar100"}}}
VARIANT_OUTPUTS = {output for variants in VARIANTS.values() for output in variants}
# Notebooks whose data may not be downloadable: {notebook: its `dataset` parameter}.
DATASETS = {"08_panda_googlenet": "imagenet-panda"}


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


def _full_estimate(chosen, only):
    """GPU minutes of running ``chosen`` at ``full``: each notebook's models counted once, in the first notebook of
    a whole run that trains them; each alone when ``only`` picks some."""
    from . import estimates
    names = [notebook.stem for notebook in chosen]  # those without an estimate (08, 99) count as None
    found = [estimates.alone_minutes(name) for name in names] if only else estimates.full_minutes(names).values()
    return sum(minutes for minutes in found if minutes is not None)


def _minutes(seconds):
    return f"{int(seconds // 60)}m{seconds % 60:04.1f}s"


def cache_only():
    from . import checkpoints
    return checkpoints.cache_only()


def _checkpoints():
    """The names of the checkpoint files in the cache: a notebook that adds some has trained models."""
    from . import checkpoints
    folder = checkpoints.cache_dir()
    return {path.name for path in folder.glob("*.pt")} if folder.exists() else set()


def run(profile, only=None, out=None, threads=None, scorecard=True):
    import papermill  # imported here so that a usage error costs no import time
    from papermill.exceptions import PapermillExecutionError

    profile = profiles.resolve(profile)
    os.environ["QUANOS_PROFILE"] = profile  # the kernels resolve the same profile, whatever the notebook says
    chosen = select_notebooks(only)
    if not scorecard:  # a workflow's notebook job: its scorecard job runs 99 once, after every notebook
        chosen = [notebook for notebook in chosen if not notebook.name.startswith("99")]
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
    if profile == "full":  # hours: say so before spending them
        print(f"estimated on one GPU: {format_duration(_full_estimate(chosen, only))} (upper bound at the epoch caps; "
              "cached models cost nothing; quanos_lib.estimates)", flush=True)
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
            notebook_hygiene.not_run_notebook(notebook, needs["dataset"], stand_in, keep_cells=not extra)
        else:  # as its author wrote it, should an earlier run have lacked its data
            import nbformat
            nbformat.write(notebook_hygiene.restored(nbformat.read(str(notebook), as_version=4)), str(stand_in))
        notebook = stand_in
        try:  # the kernel's log level hides its start-up warnings, not the notebook's own output
            papermill.execute_notebook(str(notebook), str(executed), parameters={"profile": profile, **extra},
                                       kernel_name=KERNEL, cwd=str(NOTEBOOKS), progress_bar=sys.stderr.isatty(),
                                       log_output=False, extra_arguments=["--IPKernelApp.log_level=ERROR"])
        except PapermillExecutionError as error:
            print(f"FAILED {notebook.name}, cell {error.exec_count}: {error.ename}: {error.evalue}\n"
                  f"  the executed notebook with the error: {executed}", file=sys.stderr)
            if runtimes:
                readme_tables.record_runtimes(profile, runtimes)
            return 1
        except Exception as error:  # no kernel, unreadable notebook, ...: one line, not a traceback
            print(f"FAILED {notebook.name}: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
        notebook_hygiene.clean_notebook(executed, keep_parameters=extra)
        if missing and not extra:
            notebook_hygiene.append_unexecuted(executed, original)
        if executed != target_dir / output:
            shutil.move(executed, target_dir / output)  # may cross file systems
        elapsed = time.perf_counter() - start
        runtimes[name] = {"seconds": round(elapsed, 1), "cpus": os.cpu_count(), "device": device,
                          # a cache-only notebook trains nothing (in a workflow, other jobs write to the cache meanwhile)
                          "models_trained": 0 if cache_only() else len(_checkpoints() - cached_before),
                          "code_version": os.environ["QUANOS_CODE_VERSION"]}
        print(f"[{i}/{len(planned)}] {name} done in {_minutes(elapsed)}", flush=True)
    readme_tables.record_runtimes(profile, runtimes)
    if not scorecard:
        return 0
    print(f"\nScorecard, profile {profile}" + (" (smoke numbers mean nothing)" if profile == "smoke" else ""))
    print(results.scorecard_markdown(profile))
    if in_place:
        readme_tables.update_readme(profile, VARIANT_OUTPUTS)
    return 0


def check(profile, only=None, threads=None, keep=False):
    """``--check``: rerun the chosen notebooks at ``profile`` into a fresh scratch folder (as ``--out`` does, with the
    normal checkpoint cache), then print one line per result file (:func:`compare_results`). Threads are pinned to
    the count the committed results recorded (``threads`` overrides it). Returns 0 when every compared file is
    identical, else 1."""
    if profile not in result_check.CHECKED_PROFILES:
        raise UsageError(f"--check takes {' or '.join(result_check.CHECKED_PROFILES)} (the profiles with committed results), "
                         f"not {profile!r}")
    chosen = select_notebooks(only)
    import torch

    from . import checkpoints
    from .training import device_name
    device = device_name()
    expected = result_check.expected_results(chosen, results.PROJECT_ROOT, profile) if only else None
    committed = result_check.result_files(results.PROJECT_ROOT / "results" / profile)
    committed = {name: entry for name, entry in committed.items() if expected is None or name in expected}
    here = {name: entry for name, entry in committed.items() if result_check.same_kind(entry, device)}
    recorded = result_check.recorded_threads(here)
    if committed and not here:  # nothing this machine can compare: no rerun
        print(f"every committed result of these notebooks was computed on another kind of device than this "
              f"machine's ({device}): nothing to rerun here")
        for name, entry in committed.items():
            print(result_check.skipped(entry).line(name))
        return 0
    threads, note = result_check.check_threads(recorded, threads,
                                  default=int(os.environ.get("QUANOS_THREADS") or 0) or torch.get_num_threads())
    if note:
        print(note)
    cpu = result_check.this_cpu(device)  # "" on a GPU, whose models train on the device (the ZCA does not)
    elsewhere = [name for name, entry in here.items()
                 if cpu and not result_check.same_cpu(result_check.recorded_cpu(entry), cpu)]
    if elsewhere:
        print(f"{len(elsewhere)} of {len(here)} committed file(s) were computed on another or an unidentifiable CPU, "
              f"or record none (this one: {cpu}); two processors can round a matrix product differently, so a "
              f"retrained model may differ")
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="quanos-check-"))
    os.environ["QUANOS_PROFILE"] = profile  # the checked profile, whatever the environment says
    cached_before = _checkpoints()
    status = run(profile, only, out=scratch, threads=threads)
    trained = len(_checkpoints() - cached_before)
    print(f"the rerun trained {trained} model(s) and read the others from the cache ({checkpoints.cache_dir()}), "
          f"where they were trained earlier, here or elsewhere; for a rerun from scratch, point QUANOS_CACHE at an "
          f"empty folder")
    if status != 0:
        print(f"the rerun failed; its notebooks are kept in {scratch}", file=sys.stderr)
        return status
    found = result_check.compare_results(results.PROJECT_ROOT, scratch, profile, expected=expected, device=device,
                                         cpu=cpu)
    print(f"\nCheck of profile {profile} on {device}: the rerun's results/{profile}/ against the committed ones")
    for name, comparison in found.items():
        print(comparison.line(name))
    compared = [comparison for comparison in found.values() if comparison.status != result_check.SKIPPED]
    same = sum(comparison.status == result_check.IDENTICAL for comparison in compared)
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
    parser.add_argument("--no-scorecard", action="store_true",
                        help="run only the chosen notebooks (a workflow runs the scorecard as its last job)")
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
        if args.no_scorecard:  # a workflow's notebook job
            return run(args.profile or "auto", only, args.out, threads, scorecard=False)
        return run(args.profile or "auto", only, args.out, threads)
    except (UsageError, profiles.UnknownProfileError) as error:
        print(f"reproduce.sh: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
