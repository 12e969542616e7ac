"""A notebook's bookkeeping, written once: :func:`start` sets a run up, :meth:`Run.record` records one result.

    run = experiment.start(profile, "maxout", "mnist", seed=seed)   # shows the profile, the scale, the data
    naive, naive_history = zoo.maxout(run.data, run.scale)
    with run.record("F2") as r:                                     # times the block, writes the JSON and
        r.model("naive maxout", naive_history)                      # shows the experiment's scorecard rows
        r.metrics(evaluation.fgsm_report(naive, run.data.test, run.scale["eps"]))

:func:`start` seeds everything, sets the plotting theme, loads the dataset at the profile's scale and shows, once,
the profile, the data (with a banner when its files are not the official ones) and the scale as a table.
:meth:`Run.record` stores every result with the run's profile, scale, data and seed, the training configuration and
training time of each model it names (taken from the training call, never rebuilt by hand), and its own wall time
(see :mod:`quanos_lib.results` for what ``seconds`` covers).
"""
import contextlib
import time
import warnings

import pandas as pd

from . import data, plotting, profiles, results, training
from .formatting import format_duration
from .profiles import eps_text  # noqa: F401 (notebooks format eps through experiment)


def show(markdown):
    """Display Markdown in a notebook; print it elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(Markdown(markdown))
    else:
        print(markdown)


def _value_text(key, value):
    if isinstance(value, (list, tuple)):
        return ", ".join(_value_text(key, v) for v in value) or "none"
    if value is None:
        return "all" if key.endswith("_size") else "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return profiles.eps_text(value) if "eps" in key else f"{value:g}"
    return str(value)


def scale_table(scale, columns=3):
    """The scale as a Markdown table, ``columns`` settings per row (eps as k/255 where it is one)."""
    cells = [f"`{key}` | {_value_text(key, value)}" for key, value in scale.items()]
    cells += [" | "] * (-len(cells) % columns)
    rows = [" | ".join(cells[i:i + columns]) for i in range(0, len(cells), columns)]
    return "\n".join(["| " + " | ".join(["setting | value"] * columns) + " |", "|---" * 2 * columns + "|"]
                     + [f"| {row} |" for row in rows])


def writes_text(profile):
    """Where a run of ``profile`` writes its results and figures, and what that replaces (no machine path)."""
    root = results.output_root(profile)
    if root != results.PROJECT_ROOT:
        return ("This run writes its results and figures to a scratch folder outside the project: no committed file "
                "changes.")
    return (f"This run writes its results to `results/{profile}/` and its figures to `figures/{profile}/`, replacing "
            "the committed ones of the experiments it records (`git diff` shows what changed).")


def data_text(info):
    """One paragraph on the data a run uses; a warning banner first when its files are not the official ones."""
    sizes = f"{info['train_size']:,} training and {info['test_size']:,} test images"
    if info["verified"]:
        return f"Data: **{info['name']}**, verified against the official checksums; {sizes}."
    return (f"> ⚠️ **Data: {info['name']}.** These files do not match the official checksums (fingerprint "
            f"`{info['fingerprint']}`). {info.get('notice', '')} Every number below is a result on this copy, not on "
            f"the official dataset.\n\nData: {sizes}.")


class Run:
    """One notebook's run: ``profile`` (resolved), ``name`` (the profile's), ``scale``, ``data``, ``seed``.

    ``variant`` (e.g. ``"cifar100"`` for notebook 07 on CIFAR-100) is added to every metric name, result file and
    figure name, so that a variant's results sit beside the main run's instead of replacing them.
    """

    def __init__(self, profile, group, dataset, seed=0, variant=None, notebook=None):
        self.profile = profiles.get(profile)
        self.name, self.scale, self.seed, self.variant = self.profile.name, self.profile[group], seed, variant
        self.group, self.notebook = group, notebook
        training.pin_threads()  # $QUANOS_THREADS (set by the runner), else torch's default; every result records it
        training.seed_everything(seed)
        plotting.set_theme()
        with warnings.catch_warnings():  # shown as a banner below, without the warning's machine path
            warnings.simplefilter("ignore", data.UnverifiedDataWarning)
            self.data = data.load(dataset, train_size=self.scale.get("train_size"),
                                  test_size=self.scale.get("test_size"), seed=seed)
        self.recorded = []

    def describe(self):
        return (f"**Profile `{self.name}`** — {self.profile.note_for(self.group)} Seed {self.seed}. "
                f"Computed on: {training.device_name()} ({training.compute_info()['threads']} CPU threads)."
                f"{f' Variant: `{self.variant}`.' if self.variant else ''} The outputs below come from this profile; "
                f"to run another, set `profile` in the parameters cell or run `./reproduce.sh --profile <name>`. "
                f"{writes_text(self.name)}{self._estimate_text()}\n\n{data_text(self.data.info)}\n\n"
                f"Scale of this notebook (`quanos_lib.profiles`):\n\n{scale_table(self.scale)}")

    def _estimate_text(self):
        """At ``full``, how long this notebook should take on one GPU (a GPU user learns it before spending it)."""
        if self.name != "full" or self.notebook is None:
            return ""
        from . import estimates  # builds the notebook's models once to count them (then cached): only at full
        minutes = estimates.alone_minutes(estimates.notebook_name(self.notebook))
        if minutes is None:
            return ""
        return (f" **Estimated time on one GPU: {format_duration(minutes)}** from an empty checkpoint cache "
                "(`quanos_lib.estimates`; every model at its epoch caps: an upper bound, since early stopping ends "
                "most trainings sooner; models already in the cache cost nothing).")

    def _suffix(self):
        return f"_{self.variant}" if self.variant else ""

    @contextlib.contextmanager
    def record(self, *exp_ids, data=None, part=None, notes=None, **setup):
        """Record experiments measured together: the ``with`` block fills one :class:`Recorder` per id (one
        recorder, or a tuple of them for several ids; they share the models and the setup); on leaving it without
        an error, ``results/<profile>/<id>.json`` is written for each (their scorecard rows are shown once, by
        :meth:`scorecard`).
        ``setup``: what the measurement used beyond the scale (eps, clipping, sample sizes, ...); ``data``: the
        dataset the numbers come from when it is not the run's own (a subset or a preprocessed copy)."""
        models, shared_setup = {}, dict(setup)
        recorders = [Recorder(self._suffix(), models, shared_setup) for _ in exp_ids]
        start = time.perf_counter()
        yield recorders[0] if len(recorders) == 1 else tuple(recorders)
        seconds = time.perf_counter() - start
        per_checkpoint = {model["checkpoint"]: model["training_seconds"] for model in models.values()}  # each once
        training_seconds = sum(per_checkpoint.values()) if models else None
        for exp_id, recorder in zip(exp_ids, recorders):
            results.record(exp_id, self.name, recorder.values,
                           setup={"scale": self.scale, **shared_setup, "models": models},
                           data=(data or self.data).info, seed=self.seed, seconds=seconds,
                           training_seconds=training_seconds, notes=notes, device=training.device_name(),
                           compute=training.compute_info(),
                           part=".".join(name for name in (part, self.variant) if name) or None)
            self.recorded.append(exp_id)

    def scorecard(self, ids=None):
        """Show, once, the compact scorecard of ``ids`` (default: every experiment recorded in this run so far), its
        notes and the status legend."""
        show(results.scorecard_markdown(self.name, list(dict.fromkeys(ids or self.recorded)), compact=True))

    def save(self, fig, name):
        """Save a figure as ``figures/<profile>/<name>.png`` and ``.pdf`` (with the run's variant in the name)."""
        plotting.save_figure(fig, name + self._suffix(), self.name)


class Recorder:
    """What one experiment of a :meth:`Run.record` block collects: metric ``values``; the ``trained`` models
    behind them and extra ``setup`` (both shared by the experiments of the block)."""

    def __init__(self, suffix="", trained=None, setup=None):
        self.suffix, self.values = suffix, {}
        self.trained = {} if trained is None else trained
        self.setup = {} if setup is None else setup

    def metric(self, name, value):
        """Record one metric; returns ``value``."""
        self.values[name + self.suffix] = value
        return value

    def metrics(self, values, *, keys=None, suffix=""):
        """Record every metric of ``values`` (``{name: value}``; only ``keys`` if given), each name followed by
        ``suffix``; returns ``values``."""
        for name in keys or values:
            self.metric(name + suffix, values[name])
        return values

    def table(self, frame, name="{row}_{column}"):
        """Record every cell of a DataFrame as a metric named by ``name`` from its row and column labels (a
        float label as ``:g``, spaces as underscores); returns ``frame``."""
        text = lambda label: (f"{label:g}" if isinstance(label, float) else str(label)).replace(" ", "_")  # noqa: E731
        for row, values in frame.iterrows():
            for column, value in values.items():
                self.metric(name.format(row=text(row), column=text(column)), value)
        return frame

    def models(self, trained):
        """Name the models behind the result: ``trained`` is ``{label: (model, history)}`` as the training calls
        (``quanos_lib.zoo``) return them. Records each model's checkpoint, the configuration that trained it, the
        epochs it ran, the epoch it kept, its training time and what it was trained on (``trained_on``: device, torch,
        threads and processor at training time, for checkpoints that record it; the result's own ``compute`` is the
        machine that computed the result, which read the model from the cache where it did not train it); returns
        ``{label: model}``."""
        for label, (_, history) in trained.items():
            kept = history.get("best_epoch")
            self.trained[label] = {
                "checkpoint": history["checkpoint"], "config": history["config"], "epochs_run": len(history["loss"]),
                **({"epoch_kept": kept + 1} if kept is not None else {}),
                **({"continued_epochs_run": len(history["continued"]["loss"])} if "continued" in history else {}),
                "training_seconds": round(history["seconds"], 2),
                **({"trained_on": history["trained_on"]} if "trained_on" in history else {})}
        return {label: model for label, (model, _) in trained.items()}


def training_text(history):
    """How a model was trained, in one sentence: its epochs (early-stopped and continued) and training time."""
    best = f" (best: epoch {history['best_epoch'] + 1})" if history.get("best_epoch") is not None else ""
    continued = f" and {len(history['continued']['loss'])} continued epochs" if "continued" in history else ""
    return f"after {len(history['loss'])} epochs{best}{continued}; trained in {history['seconds'] / 60:.1f} min."


def training_table(trained):
    """How each model of ``trained`` (``{label: (model, history)}``) was trained, one row each: the epochs run and
    the cap, the epoch kept, its validation error, what stopped training (``patience``; the epoch ``cap`` of an
    early-stopped run; ``budget`` for a run that keeps its best epoch of a fixed budget; ``fixed`` for a fixed budget
    with no validation) and the training time. Shows whether the cap, rather than convergence, ended a run."""
    rows = {}
    for label, (_, history) in trained.items():
        config, run = history["config"], len(history["loss"])
        best = history.get("best_epoch")
        stopped = ("fixed" if best is None else "budget" if not config.get("patience") else
                   "patience" if run < config["epochs"] else "cap")
        rows[label] = {"epochs": run, "cap": config["epochs"], "patience": config.get("patience"),
                       "kept epoch": None if best is None else best + 1,
                       "validation error": None if best is None else history["val_error"][best],
                       "stopped by": stopped, "minutes": history["seconds"] / 60}
    return pd.DataFrame(rows).T


def start(profile, group, dataset, *, seed=0, variant=None, notebook=None):
    """Set up a notebook's run of the experiments of ``group`` (a key of :data:`quanos_lib.profiles.SCALES`) on
    ``dataset`` at ``profile``, and show what it is (at ``full``, with the estimated time of ``notebook``, its
    number); returns the :class:`Run`."""
    run = Run(profile, group, dataset, seed, variant, notebook)
    show(run.describe())
    return run
