"""Every model the notebooks train, notebook by notebook, in one list: what a run of a profile costs, and the jobs a
workflow engine runs before the notebooks.

A job is one zoo call, or a chain of them that must run in order (QUANOS and its baselines start from the trained
VGG-19): the calls a notebook makes, with the notebook's data, so that running a job puts into the checkpoint cache
exactly the models the notebook then reads from it (``tests/test_jobs.py`` checks the checkpoint names the list
gives at `cpu` against those the committed results recorded).

    datasets = jobs.Datasets("cpu")
    for job in jobs.jobs("cpu", notebooks=["03"]):
        job.run(datasets)                     # trains, or finds in the cache, the job's models

:func:`plan` runs jobs under :func:`quanos_lib.training.dry_run` (no step, no cache) and lists each model with its
configuration, images and multiply-accumulates per image: what :mod:`quanos_lib.estimates` prices.
"""
import dataclasses
import re
import warnings
from collections.abc import Callable

import torch

from . import data, energy, preprocessing, profiles, training, zoo

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


def _fgsm_models(p, seed):
    """``{notebook: {model name: zoo call of a Datasets}}`` of the FGSM notebooks: every model each one asks for,
    also those another notebook trains first (so that one notebook's list is all it needs, run alone)."""
    linear, maxout, conv, dbm = p["linear"], p["maxout"], p["conv_maxout"], p["mpdbm"]

    def mnist(d):  # notebooks 02-04 load MNIST by the maxout scale, 01 by the linear one (the same images at cpu)
        return d.mnist("maxout")

    def pair(d):
        return d.mnist("linear").where_label([3, 7])

    def softmax(group, **changes):
        return lambda d: zoo.softmax_regression(d.mnist(group), linear, seed, **changes)

    def net(variant="naive", s=seed, **changes):
        return lambda d: zoo.maxout(mnist(d), maxout, variant, seed=s, **changes)

    def nets(variant, seeds, **changes):  # one job: the seeds stacked where the profile stacks them
        return lambda d: zoo.maxouts(mnist(d), maxout, variant, seeds=seeds, **changes)

    confidence = {f"softmax {e} epochs": {"epochs": e} for e in linear["confidence_epochs"]}
    confidence |= {f"softmax weight decay {wd:g}": {"weight_decay": wd} for wd in linear["confidence_weight_decay"]}
    models = {"01_linear_models": {
        "softmax": softmax("linear"),
        **{name: softmax("linear", **changes) for name, changes in confidence.items()},
        "logistic": lambda d: zoo.logistic_regression(pair(d), linear, seed),
        **{f"logistic adversarial {e:g}": lambda d, e=e: zoo.logistic_regression(
            pair(d), linear, seed, adv_alpha=0.0, adv_eps=e, adv_clip=linear["clip"], val_adv_eps=e)
           for e in linear["sweep_eps"]},
        **{f"logistic l1 {l1:g}": lambda d, l1=l1: zoo.logistic_regression(pair(d), linear, seed, l1=l1)
           for l1 in linear["sweep_l1"]},
    }}
    decay = linear["confidence_weight_decay"][-1]
    models["02_maxout_fgsm_and_linearity"] = {
        "maxout naive": net(), "softmax": softmax("maxout"), "rbf": lambda d: zoo.rbf_network(mnist(d), maxout, seed),
        f"softmax weight decay {decay:g}": softmax("maxout", weight_decay=decay)}
    f6 = {f"{label} ensemble caps seeds": nets(variant, maxout["f6_seeds"], budget="ensemble", **changes)
          for label, variant, changes in (("naive", "naive", {}), ("adversarial", "adversarial", {}),
                                          ("adversarial dropout FGSM", "adversarial", {"adv_dropout": True}))}
    l1 = {f"maxout l1 {c:g}": net(l1=c, budget="short") for c in maxout["l1_coefficients"]}
    probes = {f"l1 probe {c:g} seed {s}": lambda d, c=c, s=s: zoo.l1_probe(mnist(d), maxout, c, seed=s)
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
        "ensemble members": lambda d: zoo.maxout_ensemble(mnist(d), maxout),
        "rbf": lambda d: zoo.rbf_network(mnist(d), maxout, seed),
        "rbf isotropic": lambda d: zoo.rbf_network(mnist(d), maxout, seed, precision="scalar"),
        "maxout naive": net(), "maxout sigmoid short": net(top="sigmoid", budget="short"),
        "softmax": softmax("maxout"), **{name: softmax("maxout", **changes) for name, changes in confidence.items()}}
    models["05_conv_maxout_cifar10"] = {
        "conv maxout": lambda d: zoo.conv_maxout(d.preprocessed("conv_maxout"), conv, seed)}
    models["09_mpdbm_fgsm"] = {"mpdbm": lambda d: zoo.mpdbm(d.mnist("mpdbm"), dbm, seed)}
    return models


def _quanos_jobs(p, seed):
    vgg = p["vgg"]

    def base(d):  # every QUANOS job starts from notebook 06's checkpoint (cached after its first job)
        return zoo.vgg19(d.cifar("vgg"), vgg, seed)[0]

    found = [Job("06_ans_vgg19", "vgg19", lambda d: zoo.vgg19(d.cifar("vgg"), vgg, seed)),
             Job("07_quanos_cifar10", "vgg19", lambda d: zoo.vgg19(d.cifar("vgg"), vgg, seed)),
             Job("07_quanos_cifar10", "front", lambda d: zoo.quanos_front(d.cifar("vgg"), vgg, base(d), seed))]
    for s in vgg["seeds"]:
        def comparison(d, s=s):
            start = zoo.vgg19(d.cifar("vgg"), vgg, s)[0] if vgg["independent_bases"] and s != seed else base(d)
            return zoo.quanos_comparison(d.cifar("vgg"), vgg, start, seed=s)
        found.append(Job("07_quanos_cifar10", f"comparison seed {s}", comparison))
    found.append(Job("07_quanos_cifar10", "substitute", lambda d: zoo.substitute_vgg19(d.cifar("vgg"), vgg, seed)))
    return found


def jobs(profile, notebooks=None, seed=0):
    """The jobs of ``profile`` (its notebooks' default ``seed``), optionally only those of ``notebooks`` (names or
    their number prefixes, ``["03", "07"]``), in an order that trains each model before a job that starts from it."""
    p = profiles.SCALES[profile]  # not profiles.get: $QUANOS_PROFILE (set while reproduce.sh runs) would override it
    found = [Job(notebook, name, run) for notebook, named in _fgsm_models(p, seed).items()
             for name, run in named.items()]
    found += _quanos_jobs(p, seed)
    found.sort(key=lambda job: job.notebook)  # stable: within a notebook, the order above
    if notebooks is None:
        return found
    return [job for job in found if any(job.notebook.startswith(prefix) for prefix in notebooks)]


def plan(profile, notebooks=None, *, synthetic=True):
    """Every model of ``profile``'s jobs (optionally of ``notebooks``), as :func:`quanos_lib.training.dry_run`
    lists it (untrained, no cache), with ``job``, ``notebook``, ``macs`` (multiply-accumulates for one image)
    and ``layers`` (modules with weights of their own) added. A model two jobs ask for (a notebook reusing another's) is listed once, under the first.
    ``synthetic`` (default): blank images of the right sizes, which give the right counts in seconds (and
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
