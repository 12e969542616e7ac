"""QUANOS (Panda, ISLPED 2020): Algorithm 1 for any network with named conv and linear layers, in one call.

Algorithm 1, as the paper's slides give it:

1. train a randomly initialized network for a few epochs (20-30 for VGG-19): the *partially trained* model
   that :func:`quanos` starts from (the caller trains it);
2. measure every layer's Adversarial Noise Sensitivity on training or validation images
   (:func:`quanos_lib.ans.adversarial_noise_sensitivity`);
3. give each layer ``k_l = k_initial - round(k_initial * ANS_l)`` bits (:func:`bit_widths`);
4. fake-quantize the network to those widths and train it on (:func:`train_quantized`);
5. optionally repeat steps 2-4 from the trained hybrid-precision network (``iterations``).

:func:`quanos` runs steps 2-5 and returns a :class:`Result`; each step is callable on its own. How notebook 07 scores
the robustness of the result is :mod:`quanos_lib.protocol`; size and energy are :func:`quanos_lib.energy.cost_table`.

Example, on a model small enough to train in a second (layers are addressed by their module names)::

    >>> import torch
    >>> from quanos_lib import data, quantization, quanos, training
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 32), torch.nn.ReLU(),
    ...                             torch.nn.Linear(32, 2))
    >>> x = torch.rand(256, 1, 4, 4)
    >>> images = data.Split(x, (x.flatten(1)[:, :8].sum(1) > x.flatten(1)[:, 8:].sum(1)).long())
    >>> train, val = images.holdout(64)
    >>> result = quanos.quanos(model, train, val, training.TrainConfig(epochs=2, lr=0.1), eps=0.1,
    ...                        layers={"1": "2", "3": "3"}, progress=False)
    >>> sorted(result.bits) == ["1", "3"] and quantization.bits_of(result.model) == result.bits  # the model has them
    True
    >>> result.bits == quanos.bit_widths(result.ans) and len(result.history["loss"]) == 2
    True
    >>> quanos.quanos(model, train, val, training.TrainConfig(epochs=1, lr=0.1), eps=0.1, layers={"1": "2", "3": "3"},
    ...               fixed={"3": 8}, name="fixed", progress=False).bits["3"]
    8
"""
import copy
import dataclasses
import re

import torch

from . import ans, quantization, training
from .paper import QUANOS_K_INITIAL


CALIBRATION_IMAGES = 1000  # training images that set a newly quantized model's activation ranges


def bit_widths(ans_values, k_initial=QUANOS_K_INITIAL, k_min=quantization.MIN_BITS):
    """QUANOS's rule ``k_l = k_initial - round(k_initial * ANS_l)``, floored at ``k_min`` (choice: the
    paper states no floor; below 2 bits a symmetric quantizer has no non-zero level on one side)."""
    return {name: max(k_min, min(k_initial, k_initial - round(k_initial * value))) for name, value in ans_values.items()}


def train_quantized(model, bits, train_split, config, *, val_split=None, name="quanos", progress=True):
    """Step 4: a copy of ``model`` with its float weights (a fake-quantized model starts from its float twin),
    fake-quantized to ``bits`` (``{layer: bits}``; ``None`` keeps it in float), its activation ranges calibrated
    on ``CALIBRATION_IMAGES`` training images, and trained on ``train_split`` with ``config`` (early-stopped on
    ``val_split`` if given). ``model`` itself is left untouched.

    Cached like every trained model (:func:`quanos_lib.training.trained_model`), under ``name``; the starting
    weights are part of the cache key. Returns ``(model, history)``.
    """
    template, weights = quantization.float_copy(model), quantization.float_state_dict(model)
    calibration = training.dry_run_subset(train_split.subset(CALIBRATION_IMAGES, config.seed))

    def build():  # activation ranges start from training images, then follow the training (see quantization)
        fresh = copy.deepcopy(template)
        return quantization.quantize(fresh, bits, calibration=calibration) if bits else fresh

    name = re.sub(r"[^\w.-]+", "_", name)  # a file name
    return training.trained_model(name, build, train_split, config, val_split=val_split, start=weights,
                                  progress=progress)


@dataclasses.dataclass
class Iteration:
    """One pass of Algorithm 1's steps 2-4: the ANS measured, the bits it gave, the trained model and its history."""
    ans: dict
    bits: dict
    model: torch.nn.Module
    history: dict


@dataclasses.dataclass
class Result:
    """What :func:`quanos` returns: every iteration, and (as attributes) the last one's ``model``, ``bits``,
    ``ans`` and ``history``."""
    iterations: list

    model = property(lambda self: self.iterations[-1].model)
    bits = property(lambda self: self.iterations[-1].bits)
    ans = property(lambda self: self.iterations[-1].ans)
    history = property(lambda self: self.iterations[-1].history)


def quanos(model, train_split, val_split, config, *, eps, k_initial=QUANOS_K_INITIAL, k_min=quantization.MIN_BITS,
           iterations=1, layers=None, fixed=None, name="quanos", progress=True):
    """Algorithm 1's steps 2-4 on a partially trained ``model``, ``iterations`` times.

    ``train_split``: the images the quantized network trains on; ``val_split``: the images ANS is measured on
    (never the test images that later score the model) and the ones that pick the epoch step 4 keeps (and stop it
    early if ``config.patience`` is set); ``config``: the training budget of step 4 (a
    :class:`quanos_lib.training.TrainConfig`); ``eps``: the FGSM eps of ANS; ``layers``: which activation each
    quantizable layer's ANS is read from (see :func:`quanos_lib.ans.default_layers`: by default a layer's own output);
    ``fixed``: ``{layer: bits}`` set instead of read from ANS (a variant, e.g. the classifier kept at 8 bits);
    ``name``: the checkpoint name of the first iteration (later ones add ``(iteration k)``). ``model`` is left
    untouched.
    """
    steps, current = [], model
    for iteration in range(1, iterations + 1):
        sensitivity = ans.adversarial_noise_sensitivity(current, training.dry_run_subset(val_split), eps, layers)
        bits = {**bit_widths(sensitivity, k_initial, k_min), **(fixed or {})}
        label = name if iteration == 1 else f"{name} (iteration {iteration})"
        current, history = train_quantized(current, bits, train_split, config, name=label, progress=progress,
                                           val_split=val_split)
        steps.append(Iteration(sensitivity, bits, current, history))
    return Result(steps)
