"""Every model the notebooks train, notebook by notebook, in one list: what a run of a profile costs, and the jobs a
workflow engine runs before the notebooks (``workflow/Snakefile``, :mod:`quanos_lib.workflow`).

    python -m quanos_lib.jobs list --profile full            # the workflow's jobs (:func:`registry`), as JSON
    python -m quanos_lib.jobs train 06-vgg19 --profile full --receipt build/full/jobs/06-vgg19.json
    python -m quanos_lib.jobs manifest build/full/jobs/*.json  # the cache's checkpoints with their sha256
    python -m quanos_lib.jobs push DEST | pull SOURCE          # copy them; pull keeps only files the manifest names

A job is one zoo call, or a chain of them that must run in order (QUANOS and its baselines start from the trained
VGG-19): the calls a notebook makes, with the notebook's data, so that running a job puts into the checkpoint cache
exactly the models the notebook then reads from it (``tests/test_estimates.py`` checks the checkpoint names the list
gives at `cpu` against those the committed results recorded).

    datasets = jobs.Datasets("cpu")
    for job in jobs.jobs("cpu", notebooks=["03"]):
        job.run(datasets)                     # trains, or finds in the cache, the job's models

:func:`plan` runs jobs under :func:`quanos_lib.training.dry_run` (no step, no cache) and lists each model with its
configuration, images and multiply-accumulates per image: what :mod:`quanos_lib.estimates` prices.
"""
import dataclasses
import hashlib
import json
import os
import pathlib
import re
import shutil
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Callable

import torch

from . import checkpoints, data, energy, preprocessing, profiles, training, zoo

# The notebooks whose models are listed, and the scale group each one's data follows (experiment.start's group).
NOTEBOOKS = {"01_linear_models": "linear", "02_maxout_fgsm_and_linearity": "maxout",
             "03_adversarial_training": "maxout", "04_ensembles_rbf_rubbish": "maxout",
             "05_conv_maxout_cifar10": "conv_maxout", "06_ans_vgg19": "vgg", "07_quanos_cifar10": "vgg",
             "09_mpdbm_fgsm": "mpdbm"}


@dataclasses.dataclass(frozen=True)
class Job:
    """One cached training job: ``run(datasets)`` makes the zoo call(s) of ``notebook`` that train its models."""
    notebook: str
    name: str
    run: Callable = dataclasses.field(repr=False, compare=False)
    call: str = ""  # the zoo call, as text: two jobs with one call train one model
    needs: tuple = ()  # the calls of the jobs whose models this one reads (trained first)
    runs: tuple = ()  # the maxout runs it reaches (:func:`_maxout_runs`), which another job may reach too

    @property
    def id(self):
        """A name for files and workflow rules: ``03-maxout-adversarial-seed-0``."""
        return f"{self.notebook[:2]}-{re.sub(r'[^a-z0-9.]+', '-', self.name.lower()).strip('-')}"


class Datasets:
    """The data of each notebook at ``profile`` (as :func:`quanos_lib.experiment.start` loads it), loaded once.

    ``synthetic``: blank images of the same sizes and shapes instead (no file read, no preprocessing), enough for
    :func:`plan`, whose counts depend only on sizes."""

    def __init__(self, profile, synthetic=False):
        self.scales, self.synthetic, self._loaded = profiles.SCALES[profile], synthetic, {}

    def load(self, name, group):
        scale = self.scales[group]
        key = (name, scale.get("train_size"), scale.get("test_size"))
        if key not in self._loaded:
            self._loaded[key] = self._blank(*key) if self.synthetic else self._read(*key)
        return self._loaded[key]

    @staticmethod
    def _read(name, train_size, test_size):
        with warnings.catch_warnings():  # the notebooks show the stand-in's banner; a job need not
            warnings.simplefilter("ignore", data.UnverifiedDataWarning)
            return data.load(name, train_size=train_size, test_size=test_size, seed=0)

    @staticmethod
    def _blank(name, train_size, test_size):
        shape, sizes = ((1, 28, 28), (60000, 10000)) if name == "mnist" else ((3, 32, 32), (50000, 10000))

        def split(size):
            return data.Split(torch.zeros((size, *shape), dtype=torch.uint8), torch.arange(size) % 10)

        train, test = train_size or sizes[0], test_size or sizes[1]
        return data.Dataset(name, split(train), split(test), [str(k) for k in range(10)],
                            {"name": f"{name} (blank)", "verified": True})

    def mnist(self, group):
        return self.load("mnist", group)

    def cifar(self, group):
        return self.load("cifar10", group)

    def preprocessed(self, group):
        """Notebook 05's GCN + ZCA images (blank floats when synthetic)."""
        if ("preprocessed", group) not in self._loaded:
            cifar = self.cifar(group)
            self._loaded[("preprocessed", group)] = (
                dataclasses.replace(cifar, train=cifar.train.float(), test=cifar.test.float()) if self.synthetic
                else preprocessing.gcn_zca_dataset(cifar)[0])
        return self._loaded[("preprocessed", group)]


def _kwargs(**changes):
    return "".join(f", {key}={value!r}" for key, value in changes.items())


def _maxout_runs(scale, variant="naive", seeds=(0,), **changes):
    """The runs a :func:`quanos_lib.zoo.maxouts` call reaches, one text each (its checkpoint name, network and
    configuration, seed included): a run two calls reach is one checkpoint, and where the profile stacks runs its
    weights depend on which runs it trained beside (a stack of 3 and a stack of 2 round differently), so the
    workflow trains it where the sequential runner does (:func:`registry`)."""
    name, build, configs = zoo.maxout_runs(scale, variant, seeds=list(seeds), **changes)
    return tuple(f"{name} {build.keywords} {config!r}" for config in configs)


def _fgsm_models(p, seed):
    """``{notebook: {model name: (zoo call as text, zoo call of a Datasets, maxout runs)}}`` of the FGSM notebooks:
    every model each one asks for, also those another notebook trains first (so that one notebook's list is all it
    needs, run alone). The text names the call, so that two notebooks asking for one model make one workflow job;
    the runs (:func:`_maxout_runs`, empty for other models) say which calls share a maxout run."""
    linear, maxout, conv, dbm = p["linear"], p["maxout"], p["conv_maxout"], p["mpdbm"]

    def mnist(d):  # notebooks 02-04 load MNIST by the maxout scale, 01 by the linear one (the same images at cpu)
        return d.mnist("maxout")

    def pair(d):
        return d.mnist("linear").where_label([3, 7])

    def softmax(group, **changes):
        return (f"zoo.softmax_regression(mnist[{group}], seed={seed}{_kwargs(**changes)})",
                lambda d: zoo.softmax_regression(d.mnist(group), linear, seed, **changes), ())

    def logistic(**changes):
        return (f"zoo.logistic_regression(mnist 3 vs 7, seed={seed}{_kwargs(**changes)})",
                lambda d: zoo.logistic_regression(pair(d), linear, seed, **changes), ())

    def net(variant="naive", s=seed, **changes):
        return (f"zoo.maxout(mnist, {variant!r}, seed={s}{_kwargs(**changes)})",
                lambda d: zoo.maxout(mnist(d), maxout, variant, seed=s, **changes),
                _maxout_runs(maxout, variant, [s], **changes))

    def nets(variant, seeds, **changes):  # one job: the seeds stacked where the profile stacks them
        return (f"zoo.maxouts(mnist, {variant!r}, seeds={list(seeds)}{_kwargs(**changes)})",
                lambda d: zoo.maxouts(mnist(d), maxout, variant, seeds=seeds, **changes),
                _maxout_runs(maxout, variant, seeds, **changes))

    def rbf(**changes):
        return (f"zoo.rbf_network(mnist, seed={seed}{_kwargs(**changes)})",
                lambda d: zoo.rbf_network(mnist(d), maxout, seed, **changes), ())

    confidence = {f"softmax {e} epochs": {"epochs": e} for e in linear["confidence_epochs"]}
    confidence |= {f"softmax weight decay {wd:g}": {"weight_decay": wd} for wd in linear["confidence_weight_decay"]}
    models = {"01_linear_models": {
        "softmax": softmax("linear"),
        **{name: softmax("linear", **changes) for name, changes in confidence.items()},
        "logistic": logistic(),
        **{f"logistic adversarial {e:g}": logistic(adv_alpha=0.0, adv_eps=e, adv_clip=linear["clip"], val_adv_eps=e)
           for e in linear["sweep_eps"]},
        **{f"logistic l1 {l1:g}": logistic(l1=l1) for l1 in linear["sweep_l1"]},
    }}
    decay = linear["confidence_weight_decay"][-1]
    models["02_maxout_fgsm_and_linearity"] = {
        "maxout naive": net(), "softmax": softmax("maxout"), "rbf": rbf(),
        f"softmax weight decay {decay:g}": softmax("maxout", weight_decay=decay)}
    f6 = {f"{label} ensemble caps seeds": nets(variant, maxout["f6_seeds"], budget="ensemble", **changes)
          for label, variant, changes in (("naive", "naive", {}), ("adversarial", "adversarial", {}),
                                          ("adversarial dropout FGSM", "adversarial", {"adv_dropout": True}))}
    l1 = {f"maxout l1 {c:g}": net(l1=c, budget="short") for c in maxout["l1_coefficients"]}
    probes = {f"l1 probe {c:g} seed {s}": (f"zoo.l1_probe(mnist, {c!r}, seed={s})",
                                            lambda d, c=c, s=s: zoo.l1_probe(mnist(d), maxout, c, seed=s),
                                            _maxout_runs(maxout, seeds=[s], l1=c, epochs=maxout["l1_probe_epochs"],
                                                         continue_epochs=0))
              for c in maxout["l1_coefficients"] for s in maxout["l1_seeds"]}
    large = {"units": maxout["units_large"], "epochs": maxout["large_epochs"],
             "continue_epochs": maxout["large_continue_epochs"]}
    large_nets = {"large naive": net(**large)} if maxout["large_seeds"] else {}
    if maxout["large_seeds"]:
        large_nets["large adversarial seeds"] = nets("adversarial", maxout["large_seeds"], val_adv_eps=maxout["eps"],
                                                     **large)
    models["03_adversarial_training"] = {
        "maxout naive": net(), "maxout adversarial": net("adversarial"), **f6, **l1, **probes,
        **{f"maxout {variant} short": net(variant, budget="short")
           for variant in ("sign_noise", "uniform_noise", "naive")},
        "transfer source": net(s=1, budget="ensemble"), **large_nets}
    models["04_ensembles_rbf_rubbish"] = {
        "ensemble members": ("zoo.maxout_ensemble(mnist)", lambda d: zoo.maxout_ensemble(mnist(d), maxout),
                             _maxout_runs(maxout, seeds=range(maxout["ensemble_size"]), budget="ensemble")),
        "rbf": rbf(), "rbf isotropic": rbf(precision="scalar"),
        "maxout naive": net(), "maxout sigmoid short": net(top="sigmoid", budget="short"),
        "softmax": softmax("maxout"), **{name: softmax("maxout", **changes) for name, changes in confidence.items()}}
    models["05_conv_maxout_cifar10"] = {"conv maxout": (
        f"zoo.conv_maxout(cifar10 GCN + ZCA, seed={seed})",
        lambda d: zoo.conv_maxout(d.preprocessed("conv_maxout"), conv, seed), ())}
    models["09_mpdbm_fgsm"] = {"mpdbm": (f"zoo.mpdbm(mnist, seed={seed})",
                                         lambda d: zoo.mpdbm(d.mnist("mpdbm"), dbm, seed), ())}
    return models


def _quanos_jobs(p, seed):
    vgg = p["vgg"]
    base_call = f"zoo.vgg19(cifar10, seed={seed})"

    def base(d):  # notebook 06's checkpoint, which every QUANOS job starts from: read, never trained, by them
        with checkpoints.reading_only():
            return zoo.vgg19(d.cifar("vgg"), vgg, seed)[0]

    def vgg19(d, s=seed):
        return zoo.vgg19(d.cifar("vgg"), vgg, s)

    found = [Job("06_ans_vgg19", "vgg19", vgg19, base_call),
             Job("07_quanos_cifar10", "vgg19", vgg19, base_call),
             Job("07_quanos_cifar10", "front", lambda d: zoo.quanos_front(d.cifar("vgg"), vgg, base(d), seed),
                 f"zoo.quanos_front(cifar10, base, seed={seed})", needs=(base_call,))]
    for s in vgg["seeds"]:
        own_base = vgg["independent_bases"] and s != seed
        if own_base:  # Algorithm 1's step 1 with this seed: a job of its own, which the comparison reads
            found.append(Job("07_quanos_cifar10", f"vgg19 seed {s}", lambda d, s=s: vgg19(d, s),
                             f"zoo.vgg19(cifar10, seed={s})"))

        def comparison(d, s=s, own_base=own_base):
            if own_base:
                with checkpoints.reading_only():
                    start = zoo.vgg19(d.cifar("vgg"), vgg, s)[0]
            else:
                start = base(d)
            return zoo.quanos_comparison(d.cifar("vgg"), vgg, start, seed=s)
        needs = (f"zoo.vgg19(cifar10, seed={s})" if own_base else base_call,)
        found.append(Job("07_quanos_cifar10", f"comparison seed {s}", comparison,
                         f"zoo.quanos_comparison(cifar10, base, seed={s})", needs=needs))
    found.append(Job("07_quanos_cifar10", "substitute", lambda d: zoo.substitute_vgg19(d.cifar("vgg"), vgg, seed),
                     f"zoo.substitute_vgg19(cifar10, seed={seed})"))
    return found


def jobs(profile, notebooks=None, seed=0):
    """The jobs of ``profile`` (its notebooks' default ``seed``), optionally only those of ``notebooks`` (names or
    their number prefixes, ``["03", "07"]``), in an order that trains each model before a job that starts from it."""
    p = profiles.SCALES[profile]  # not profiles.get: $QUANOS_PROFILE (set while reproduce.sh runs) would override it
    found = [Job(notebook, name, run, call, runs=runs) for notebook, named in _fgsm_models(p, seed).items()
             for name, (call, run, runs) in named.items()]
    found += _quanos_jobs(p, seed)
    found.sort(key=lambda job: job.notebook)  # stable: within a notebook, the order above
    if notebooks is None:
        return found
    return [job for job in found if any(job.notebook.startswith(prefix) for prefix in notebooks)]


def plan(profile, notebooks=None, *, synthetic=True):
    """Every model of ``profile``'s jobs (optionally of ``notebooks``), as :func:`quanos_lib.training.dry_run`
    lists it (untrained, no cache), with ``job``, ``notebook``, ``macs`` (multiply-accumulates for one image)
    and ``layers`` (modules with weights of their own) added. A model two jobs ask for (a notebook reusing
    another's) is listed once, under the first. ``synthetic`` (default): blank images of the right sizes, which give
    the right counts in seconds (and
    ``checkpoint`` names from shapes only); with ``synthetic`` false, the notebooks' data and the cache's names."""
    datasets, listed, seen = Datasets(profile, synthetic=synthetic), [], set()
    for job in jobs(profile, notebooks):
        with training.dry_run(steps=False, exact_keys=not synthetic) as planned:
            job.run(datasets)
        for model in planned:
            if model["checkpoint"] in seen:
                continue
            seen.add(model["checkpoint"])
            network = model.pop("model")
            macs = sum(energy.mac_counts(network, model["input_shape"]).values())
            layers = sum(1 for module in network.modules() if any(True for _ in module.parameters(recurse=False)))
            listed.append({"job": job.id, "notebook": job.notebook, "macs": macs, "layers": layers, **model})
    return listed


# --- The workflow's registry: one job per model (or chain that must run in order), each call once ---------------------

def family(call):
    """The kind of network a job trains (for a scheduler's resources): ``linear``, ``mlp``, ``conv``, ``vgg``,
    ``mpdbm``."""
    if "vgg19" in call or "quanos" in call:
        return "vgg"
    for word, kind in (("conv_maxout", "conv"), ("mpdbm", "mpdbm"), ("softmax", "linear"), ("logistic", "linear")):
        if word in call:
            return kind
    return "mlp"


def registry(profile, seed=0):
    """The workflow's jobs at ``profile``, computed from the profile alone (no data loaded): a list of
    ``{"id", "call", "needs", "notebooks", "family"}`` in an order that puts every job after those it needs. Jobs that
    several notebooks ask for (one zoo call) are one job, named after the first notebook; ``needs`` are job ids.

    A maxout run that two calls reach (F6's naive seeds are ensemble members; notebook 03's short naive net is one of
    them where the budgets agree) is trained by the first of them in the sequential runner's order, notebook by
    notebook: the later job needs the earlier, so that a stacked run trains in the same stack either way, and the
    workflow's checkpoints are the sequential runner's, bitwise."""
    merged, first_call = {}, {}
    for job in _workflow_jobs(profile, seed):
        if job.call in merged:
            merged[job.call]["notebooks"].append(job.notebook)
            continue
        merged[job.call] = {"id": job.id, "call": job.call, "needs": list(job.needs),
                            "notebooks": [job.notebook], "family": family(job.call)}
        for run in job.runs:
            earlier = first_call.setdefault(run, job.call)
            if earlier != job.call and earlier not in merged[job.call]["needs"]:
                merged[job.call]["needs"].append(earlier)
    ids = {call: entry["id"] for call, entry in merged.items()}
    for entry in merged.values():
        entry["needs"] = [ids[call] for call in entry["needs"]]
    return list(merged.values())


# Notebook 01's linear models train in seconds each: one job for all of them (a job's start costs more).
GROUPED = {"01_linear_models": "linear models"}


def _workflow_jobs(profile, seed=0):
    """:func:`jobs`, with each notebook of ``GROUPED`` as one job that makes all of its calls in order."""
    found, grouped = [], {}
    for job in jobs(profile, seed=seed):
        if job.notebook in GROUPED:
            grouped.setdefault(job.notebook, []).append(job)
        else:
            found.append(job)
    for notebook, members in grouped.items():
        def run(datasets, members=members):
            return [member.run(datasets) for member in members]
        found.append(Job(notebook, GROUPED[notebook], run, "; ".join(member.call for member in members),
                         runs=tuple(run for member in members for run in member.runs)))
    return sorted(found, key=lambda job: job.notebook)


def find(profile, job_id, seed=0):
    """The :class:`Job` of ``job_id`` at ``profile`` (the first notebook's, whose call is the job's)."""
    for job in _workflow_jobs(profile, seed):
        if job.id == job_id:
            return job
    known = ", ".join(entry["id"] for entry in registry(profile, seed))
    raise KeyError(f"no job {job_id!r} at profile {profile} (python -m quanos_lib.jobs list --profile {profile}; "
                   f"have: {known})")


def model_names(profile):
    """``{model name: job id}``: which job trains each cached model (by its checkpoint's name before the key), from
    the plan of every job (untrained models on blank data, seconds); a workflow writes it for
    ``$QUANOS_JOBS_FILE``, so that a cache-only miss names its job."""
    by_call = {}
    for entry in registry(profile):
        for call in entry["call"].split("; "):
            by_call[call] = entry["id"]
    ids = {job.id: by_call[job.call] for job in jobs(profile)}
    names = {}
    for model in plan(profile):
        names.setdefault(model["checkpoint"].rsplit("-", 1)[0], ids[model["job"]])
    return names


def _pick_gpu():
    """On a machine with several GPUs and no ``CUDA_VISIBLE_DEVICES`` (a local workflow: Snakemake counts GPUs but
    does not assign them), take the first GPU no other job holds (a file lock per device, held for this process's
    life); return its index, or None."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None or not torch.cuda.is_available():
        return None
    import fcntl
    for index in range(torch.cuda.device_count()):
        handle = open(pathlib.Path(tempfile.gettempdir()) / f"quanos-gpu-{index}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _HELD.append(handle)
        torch.cuda.set_device(index)
        return index
    return None  # every GPU busy: share the default one


_HELD = []


def train(profile, job_id, receipt=None, threads=None):
    """Train job ``job_id`` of ``profile`` into the cache (its upstream models read, never trained) and return its
    receipt: the checkpoints read and trained, host, device, ``SLURM_JOB_ID``, ``CUDA_VISIBLE_DEVICES``, seconds;
    written as JSON to ``receipt`` if given."""
    from . import results
    job = find(profile, job_id)
    threads = training.pin_threads(threads)
    gpu = _pick_gpu()
    start, before = time.perf_counter(), len(checkpoints.LEDGER)
    job.run(Datasets(profile))
    seconds = time.perf_counter() - start
    done = checkpoints.LEDGER[before:]
    found = {"job": job_id, "profile": profile, "call": job.call,
             "checkpoints": {action: sorted({e["checkpoint"] for e in done if e["action"] == action})
                             for action in ("read", "trained")},
             "host": socket.gethostname(), "device": training.device_name(), "gpu_index": gpu,
             "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
             "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
             "threads": threads, "seconds": round(seconds, 1), "code_version": results.code_version()}
    if receipt:
        pathlib.Path(receipt).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(receipt).write_text(json.dumps(found, indent=2) + "\n")
    return found


def fetch_data(profile):
    """Download (or find) every dataset of ``profile``'s notebooks and notebook 08's weights and photograph, as the
    notebooks load them: a workflow's first rule, on the submitting host (compute nodes are often offline). Returns
    ``{what: "ready" | the reason it is not}``; what cannot be had is reported, not fatal (those notebooks say so)."""
    from . import imagenet
    found, datasets = {}, Datasets(profile)
    for name, load in (("mnist", lambda: datasets.mnist("maxout")), ("cifar10", lambda: datasets.cifar("vgg")),
                       ("cifar100", lambda: data.load("cifar100")), ("panda", imagenet.load_panda),
                       ("googlenet weights", imagenet.googlenet)):
        try:
            load()
            found[name] = "ready"
        except data.DataUnavailableError as error:
            found[name] = str(error).split(". ")[0]
    return found


# --- Train once, read everywhere: a manifest of the cache, and copies of it checked against it ------------------------

MANIFEST = "manifest.json"


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest(receipts, profile):
    """Write ``<cache>/manifest.json`` for the checkpoints the ``receipts`` (paths of job receipts) trained or read:
    each file's name, sha256 and size, with the profile, code version and device that made it. Returns its path."""
    from . import results
    folder, entries = checkpoints.cache_dir(), {}
    for receipt in receipts:
        made = json.loads(pathlib.Path(receipt).read_text())
        for name in [*made["checkpoints"]["trained"], *made["checkpoints"]["read"]]:
            path = folder / name
            if name not in entries and path.exists():
                entries[name] = {"sha256": _sha256(path), "bytes": path.stat().st_size, "job": made["job"],
                                 "device": made["device"]}
    document = {"profile": profile, "code_version": results.code_version(), "checkpoints": dict(sorted(entries.items()))}
    (folder / MANIFEST).write_text(json.dumps(document, indent=2) + "\n")
    return folder / MANIFEST


def push(destination):
    """Copy the cache's manifest and every checkpoint it lists to the folder ``destination``."""
    folder, target = checkpoints.cache_dir(), pathlib.Path(destination.removeprefix("file://"))
    listed = json.loads((folder / MANIFEST).read_text())
    target.mkdir(parents=True, exist_ok=True)
    for name in listed["checkpoints"]:
        shutil.copyfile(folder / name, target / name)
    shutil.copyfile(folder / MANIFEST, target / MANIFEST)
    return len(listed["checkpoints"])


def pull(source):
    """Copy into the cache every checkpoint of the manifest at ``source`` (a folder, ``file://`` or ``http(s)://``)
    whose bytes match the manifest's sha256; a file that does not match is left out, with a warning. Returns
    ``(copied, rejected)``."""
    import urllib.request
    remote = source.startswith(("http://", "https://"))

    def read(name):
        if remote:
            with urllib.request.urlopen(f"{source.rstrip('/')}/{name}") as response:
                return response.read()
        return (pathlib.Path(source.removeprefix("file://")) / name).read_bytes()

    listed, folder = json.loads(read(MANIFEST)), checkpoints.cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    copied, rejected = [], []
    for name, entry in listed["checkpoints"].items():
        content = read(name)
        if hashlib.sha256(content).hexdigest() != entry["sha256"]:
            warnings.warn(f"{name} from {source} does not match the manifest's sha256: not copied", stacklevel=2)
            rejected.append(name)
            continue
        partial = folder / f"{name}.{socket.gethostname()}.{os.getpid()}.partial"
        partial.write_bytes(content)
        os.replace(partial, folder / name)
        copied.append(name)
    return copied, rejected


def main(argv=None):
    """``python -m quanos_lib.jobs list|train|data|manifest|push|pull``: the workflow's command line."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m quanos_lib.jobs", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="every job of a profile, as JSON")
    listing.add_argument("--profile", default="cpu")
    listing.add_argument("--names", default=None, help="also write {model name: job id} to this file")
    training_job = commands.add_parser("train", help="train one job into the cache and write its receipt")
    training_job.add_argument("job")
    training_job.add_argument("--profile", default="cpu")
    training_job.add_argument("--receipt", default=None)
    training_job.add_argument("--threads", type=int, default=None)
    fetching = commands.add_parser("data", help="download every dataset and weight file the notebooks need")
    fetching.add_argument("--profile", default="cpu")
    fetching.add_argument("--marker", default=None)
    listing_cache = commands.add_parser("manifest", help="write the cache's manifest from job receipts")
    listing_cache.add_argument("receipts", nargs="+")
    listing_cache.add_argument("--profile", default="cpu")
    commands.add_parser("push", help="copy the manifest's checkpoints to a folder").add_argument("destination")
    commands.add_parser("pull", help="copy checkpoints that match a manifest into the cache").add_argument("source")
    args = parser.parse_args(argv)
    profile = getattr(args, "profile", None)
    if profile is not None and profile not in profiles.PROFILES:
        parser.error(f"unknown profile {profile!r} (choose from {', '.join(profiles.PROFILES)})")
    try:
        if args.command == "list":
            print(json.dumps(registry(profile), indent=1))
            if args.names:
                pathlib.Path(args.names).parent.mkdir(parents=True, exist_ok=True)
                pathlib.Path(args.names).write_text(json.dumps(model_names(profile), indent=1) + "\n")
        elif args.command == "train":
            made = train(profile, args.job, args.receipt, args.threads)
            print(f"{args.job}: {len(made['checkpoints']['trained'])} trained, {len(made['checkpoints']['read'])} "
                  f"read, {made['seconds']:.1f} s on {made['device']}")
        elif args.command == "data":
            found = fetch_data(profile)
            for what, state in found.items():
                print(f"{what}: {state}")
            if args.marker:
                pathlib.Path(args.marker).parent.mkdir(parents=True, exist_ok=True)
                pathlib.Path(args.marker).write_text(json.dumps(found, indent=1) + "\n")
        elif args.command == "manifest":
            print(manifest(args.receipts, profile))
        elif args.command == "push":
            print(f"{push(args.destination)} checkpoints -> {args.destination}")
        else:
            copied, rejected = pull(args.source)
            print(f"{len(copied)} checkpoints copied, {len(rejected)} rejected (sha256 mismatch)")
    except (KeyError, checkpoints.CacheMiss, FileNotFoundError, OSError) as error:
        print(f"error: {error.args[0] if isinstance(error, KeyError) else error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
