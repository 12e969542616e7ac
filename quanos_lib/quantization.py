"""Hybrid-precision fake quantization: a model's layers at the bit widths of a mapping (QUANOS's rule that
picks the widths is :mod:`quanos_lib.quanos`).

A model is quantized per layer from a plain mapping ``{module name: bits}`` (2 to 16 bits) that must
name exactly its conv and linear layers: an unknown or a missing name is an error, never a silent
full-precision layer. For a layer with ``k`` bits (choices, made once for the companion):

- its **weights** are fake-quantized to k bits, uniform and symmetric, one scale per output channel
  (``max |w|`` of the channel over ``2^(k-1) - 1``), with torch's ``fake_quantize_per_channel_affine``;
- its **input activation** (the operand its multiply-accumulates see) is fake-quantized to k bits per
  tensor, affine (``2^k`` levels between a calibrated minimum and maximum, so a non-negative input after
  a ReLU uses them all), with torch's own ``torch.ao.quantization.FakeQuantize`` and its moving-average
  min/max observer. The range is **static**: the observer runs while the model trains (quantization-aware
  training) or is calibrated on training images (:func:`calibrate`), and is frozen otherwise, so in eval
  mode an image's quantization never depends on the other images of its batch, and an attacker cannot
  move the scale, as in a deployed quantized network.

Both ops pass gradients straight through inside the quantization range (the straight-through
estimator), so quantized models train, and white-box attacks differentiate them. Nothing here is
written by hand except wiring torch's ops to layers: weights through ``torch.nn.utils.parametrize``,
inputs through a forward pre-hook calling the layer's ``input_quantizer`` submodule (its calibrated
range is part of the layer's state dict, so it travels with a checkpoint).
"""
import copy

import torch
from torch import nn
from torch.ao.quantization import FakeQuantize, MovingAverageMinMaxObserver
from torch.nn.utils import parametrize

from . import models

MIN_BITS, MAX_BITS = 2, 16


def _check_bits(bits):
    if not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"bit widths must be integers from {MIN_BITS} to {MAX_BITS}, not {bits!r}")


class InputFakeQuantize(nn.Module):
    """k-bit fake quantization of a layer's input with a static range (see the module doc).

    ``calibrating`` lets :func:`calibrate` run the observer with the model in eval mode (batch-norm
    statistics untouched). Used before any calibration it raises instead of quantizing with a made-up range."""

    def __init__(self, bits):
        super().__init__()
        _check_bits(bits)
        self.bits, self.calibrating = bits, False
        # qint32 only as the observer's container: the range is [0, 2^k - 1] for every k up to 16
        self.quantizer = FakeQuantize(observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=2 ** bits - 1,
                                      dtype=torch.qint32, qscheme=torch.per_tensor_affine)

    def extra_repr(self):
        return f"bits={self.bits}"

    @property
    def calibrated(self):
        return bool(torch.isfinite(self.quantizer.activation_post_process.min_val))

    def forward(self, x):
        observing = self.training or self.calibrating
        if not observing and not self.calibrated:
            raise RuntimeError("a fake-quantized layer was run before its activation range was set: train the "
                               "model or call quantization.calibrate(model, training_images) first")
        self.quantizer.enable_observer(observing)
        return self.quantizer(x)


def calibrate(model, split, *, batch_size=500):
    """Set the activation ranges of a fake-quantized ``model`` from the images of ``split`` (training or
    validation images, never test) without training it: the observers see every batch with the model in
    eval mode, so batch norm and dropout are untouched. Returns ``model``."""
    quantizers = [module for module in model.modules() if isinstance(module, InputFakeQuantize)]
    split = split.float()
    try:
        for quantizer in quantizers:
            quantizer.calibrating = True
        with models.eval_mode(model), torch.no_grad():
            for xb in split.x.split(batch_size):
                model(xb.to(models.device(model)))
    finally:
        for quantizer in quantizers:
            quantizer.calibrating = False
    return model


class WeightFakeQuantize(nn.Module):
    """A parametrization: the weight seen by the layer is its k-bit symmetric per-channel quantization."""

    def __init__(self, bits):
        super().__init__()
        _check_bits(bits)
        self.bits = bits

    def extra_repr(self):  # the model's repr (a checkpoint key) then says each layer's width
        return f"bits={self.bits}"

    def forward(self, weight):
        levels = 2 ** (self.bits - 1) - 1
        scale = (weight.detach().abs().flatten(1).max(dim=1).values / levels).clamp_min(1e-12).float()
        zero = torch.zeros(len(weight), dtype=torch.int32, device=weight.device)
        return torch.fake_quantize_per_channel_affine(weight, scale, zero, 0, -levels - 1, levels)


def quantizable_layers(model):
    """The names of the layers a bit mapping must cover: every ``nn.Conv2d`` and ``nn.Linear``."""
    return [name for name, module in model.named_modules() if isinstance(module, (nn.Conv2d, nn.Linear))]


def check_mapping(model, bits):
    """Raise if ``bits`` does not name exactly the model's quantizable layers, or a width is out of range."""
    expected, given = set(quantizable_layers(model)), set(bits)
    if given != expected:
        problems = []
        if given - expected:
            problems.append(f"unknown layers: {', '.join(sorted(given - expected))}")
        if expected - given:
            problems.append(f"missing layers: {', '.join(sorted(expected - given))}")
        raise KeyError("bit mapping does not match the model — " + "; ".join(problems))
    for value in bits.values():
        _check_bits(value)


def quantize(model, bits, calibration=None):
    """Fake-quantize ``model`` in place, layer by layer, from ``{module name: bits}``; returns the model.
    A model already quantized is first restored to float. Its activation ranges are set by ``calibration``
    (a split of training images, see :func:`calibrate`) or, without it, by the model's own training."""
    check_mapping(model, bits)
    dequantize(model)
    modules = dict(model.named_modules())
    for name, k in bits.items():
        module = modules[name]
        parametrize.register_parametrization(module, "weight", WeightFakeQuantize(k))
        module.quantization_bits = k
        with torch.device(models.device(module)):  # the observer's buffers made on the layer's device
            module.input_quantizer = InputFakeQuantize(k)
        module._input_hook = module.register_forward_pre_hook(
            lambda mod, inputs: (mod.input_quantizer(inputs[0]), *inputs[1:]))
    return model if calibration is None else calibrate(model, calibration)


def dequantize(model):
    """Remove every fake quantizer, keeping the float weights."""
    for module in model.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
        if hasattr(module, "_input_hook"):
            module._input_hook.remove()
            del module._input_hook, module.input_quantizer, module.quantization_bits
    return model


def float_state_dict(model):
    """The state dict of ``model`` as its float (unquantized) twin would have it: a fake-quantized layer's
    ``parametrizations.weight.original`` becomes its ``weight``. (Not a deep copy of the model and
    ``dequantize``: a copy shares the parametrized class, and removing its parametrization would break
    the original.)"""
    return {name.replace(".parametrizations.weight.original", ".weight"): value.detach().cpu()
            for name, value in model.state_dict().items() if ".input_quantizer." not in name}


def bits_of(model):
    """``{module name: bits}`` of a fake-quantized model (empty for a float one)."""
    return {name: module.quantization_bits for name, module in model.named_modules()
            if hasattr(module, "quantization_bits")}


def float_copy(model):
    """A float (unquantized) deep copy of ``model``, with its float weights; ``model`` is left as it was.

    A fake-quantized model is briefly restored to float, copied, and quantized again with its own state
    (calibrated ranges included): a deep copy of the quantized model could not be dequantized on its own,
    since the copy shares its parametrized classes with the original (see :func:`float_state_dict`)."""
    bits = bits_of(model)
    if not bits:
        return copy.deepcopy(model)
    state = model.state_dict()
    dequantize(model)
    try:
        return copy.deepcopy(model)
    finally:
        quantize(model, bits)
        model.load_state_dict(state)


def uniform_bits(model, k):
    """The homogeneous mapping: every quantizable layer at ``k`` bits."""
    return {name: k for name in quantizable_layers(model)}


def model_size_bits(model, bits=None):
    """Parameters' storage in bits: quantized layers' weights at their width, everything else at 32."""
    bits = bits or {}
    modules = dict(model.named_modules())
    total = 0
    for name, parameter in model.named_parameters():
        owner, _, leaf = name.rpartition(".")
        owner = owner.replace(".parametrizations.weight", "")
        is_weight = leaf == "weight" or name.endswith("parametrizations.weight.original")
        width = bits.get(owner, 32) if is_weight and owner in modules else 32
        total += parameter.numel() * width
    return total


def iso_size_bits(model, bits):
    """The homogeneous width whose model is closest in size to the hybrid mapping ``bits`` (the
    iso-compression baseline; on a tie, the larger width, which favours the baseline)."""
    target = model_size_bits(model, bits)
    widths = range(MIN_BITS, MAX_BITS + 1)
    return min(widths, key=lambda k: (abs(model_size_bits(model, uniform_bits(model, k)) - target), -k))
