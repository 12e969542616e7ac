"""Adversarial Noise Sensitivity (QUANOS): how much each layer amplifies an FGSM perturbation.

    ANS_l = || a_l(x_adv) - a_l(x) ||_2 / || a_l(x) ||_2

Choices (QUANOS leaves them open), made once for the companion:
- ``a_l`` is the activation a layer passes on: for a VGG-19 conv layer ``features.conv{b}_{i}``, the
  output of its block *after batch norm and ReLU* (``features.relu{b}_{i}``); for the classifier,
  its logits. For any other model, by default, each conv and linear layer's own output; or name the
  modules to hook.
- ``x_adv`` is the FGSM example of ``x`` made from the model itself (clipped to [0, 1]), with the
  model in eval mode (batch-norm running statistics, no dropout).
- The ratio is computed per example and then averaged over the evaluation data.

Cost: the clean activations are captured during FGSM's own forward pass, so a batch costs one
forward + one backward pass (FGSM) and one more forward pass (the adversarial one), through forward
hooks that are removed afterwards; no model copies and no per-layer reruns.
"""
import copy

import pandas as pd
import torch

from . import attacks, evaluation, models, quantization


def default_layers(model):
    """``{layer name: module whose output is a_l}``: for VGG-19 its 16 convs (after ReLU) and the classifier;
    for any other model, every conv and linear layer (its own output)."""
    if hasattr(model, "conv_names"):
        layers = {name: name.replace(".conv", ".relu") for name in model.conv_names()}
        layers["classifier"] = "classifier"
        return layers
    return {name: name for name in quantization.quantizable_layers(model)}


def adversarial_noise_sensitivity(model, split, eps, layers=None, *, batch_size=500, clip=(0.0, 1.0)):
    """``{layer name: ANS}`` averaged over the examples of ``split`` (a :class:`quanos_lib.data.Split` of training
    or validation images: ANS chooses the bit widths, so it should not see the test images that score them).

    ``layers``: ``None`` (:func:`default_layers`), a list of module names, or ``{name: module name}``.
    """
    split = split.float()  # uint8 images (CIFAR in memory) -> [0, 1]
    layers = default_layers(model) if layers is None else layers
    if not isinstance(layers, dict):
        layers = {name: name for name in layers}
    modules = dict(model.named_modules())
    unknown = sorted(set(layers.values()) - set(modules))
    if unknown:
        raise KeyError(f"no module named {', '.join(unknown)} in {type(model).__name__}")
    captured = {}

    def keep(name):
        def hook(module, inputs, output):
            captured[name] = output.detach().flatten(1)
        return hook

    handles = [modules[target].register_forward_hook(keep(name)) for name, target in layers.items()]
    totals, count = dict.fromkeys(layers, 0.0), 0
    try:
        with models.eval_mode(model):
            for xb, yb in zip(split.x.split(batch_size), split.y.split(batch_size)):
                x_adv = attacks.fgsm(model, xb, yb, eps, clip=clip)  # its forward pass records the clean a_l
                clean = dict(captured)
                with torch.no_grad():
                    model(x_adv)
                for name in layers:
                    change = (captured[name] - clean[name]).norm(dim=1)
                    totals[name] += (change / clean[name].norm(dim=1).clamp_min(1e-12)).sum().item()
                count += len(yb)
    finally:
        for handle in handles:
            handle.remove()
    return {name: total / count for name, total in totals.items()}


def removable_layers(model):
    """The conv layers of a VGG-19 that can be removed: those whose input and output channels agree.

    Choice (the paper does not say): removing layer ``l`` replaces its conv, batch norm and ReLU by the
    identity, which is only possible when the channel count does not change; the four convs that
    change it (conv1_1, conv2_1, conv3_1, conv4_1) stay, and removal orders skip them.
    """
    modules = dict(model.named_modules())
    return [name for name in model.conv_names() if modules[name].in_channels == modules[name].out_channels]


def removal_orders(model, ans_values, random_orders=0, seed=0):
    """The orders in which Q2 removes the removable layers: by ANS, highest first and lowest first, and
    ``random_orders`` random orders (the controls; order k is drawn with seed ``seed + k``)."""
    removable = removable_layers(model)
    by_ans = sorted(removable, key=lambda name: ans_values[name], reverse=True)
    orders = {"highest ANS first": by_ans, "lowest ANS first": by_ans[::-1]}
    for k in range(random_orders):
        generator = torch.Generator().manual_seed(seed + k)
        shuffled = torch.randperm(len(removable), generator=generator, device=generator.device).tolist()
        orders[f"random order {k + 1}"] = [removable[i] for i in shuffled]
    return orders


def remove_layers(model, names):
    """A copy of ``model`` with the conv blocks ``names`` (``features.conv{b}_{i}``) replaced by the identity."""
    pruned = copy.deepcopy(model)
    for name in names:
        if name not in removable_layers(model):
            raise ValueError(f"{name} cannot be removed: it changes the channel count (or is no conv)")
        block = name.removeprefix("features.conv")
        for part in ("conv", "bn", "relu"):
            setattr(pruned.features, f"{part}{block}", torch.nn.Identity())
    return pruned


def rank_correlation(a, b):
    """Spearman's rank correlation of two equally keyed ``{layer: value}`` maps (1 = the same ranking)."""
    keys = list(a)
    ranks = [torch.tensor([d[k] for k in keys], dtype=torch.float64).argsort().argsort().double() for d in (a, b)]
    centered = [r - r.mean() for r in ranks]
    return float((centered[0] * centered[1]).sum() / (centered[0].norm() * centered[1].norm()))


def removal_curve(model, order, split, eps, *, batch_norm_split=None, finetune=None, per_example=None):
    """Clean and FGSM accuracy of ``model`` with the first 0, 1, ..., len(order) layers of ``order`` removed.

    ``batch_norm_split`` (training images), if given, re-estimates each pruned copy's batch-norm statistics
    (:func:`quanos_lib.models.reestimate_batch_norm`); ``finetune(pruned)``, if given, then trains it briefly
    before it is measured. ``per_example``: a list that receives, per point of the curve, each image's correctness
    under FGSM (for intervals over the images).
    Returns ``{"removed": [...], "clean": [...], "adversarial": [...]}`` (accuracies in [0, 1]).
    """
    curve = {"removed": [], "clean": [], "adversarial": []}
    for k in range(len(order) + 1):
        pruned = remove_layers(model, order[:k])
        if batch_norm_split is not None and k:
            models.reestimate_batch_norm(pruned, batch_norm_split)
        if finetune is not None and k:
            finetune(pruned)
        clean, attacked = evaluation.correct(pruned, split), evaluation.correct(pruned, evaluation.attacked(
            pruned, split, eps))
        if per_example is not None:
            per_example.append(attacked)
        curve["removed"].append(k)
        curve["clean"].append(clean.float().mean().item())
        curve["adversarial"].append(attacked.float().mean().item())
    return curve


def curve_means(curves):
    """Each removal curve's mean FGSM and clean accuracy over its points (a DataFrame, one row per order)."""
    return pd.DataFrame({label: {"mean FGSM accuracy": sum(curve["adversarial"]) / len(curve["adversarial"]),
                                 "mean clean accuracy": sum(curve["clean"]) / len(curve["clean"])}
                         for label, curve in curves.items()}).T
