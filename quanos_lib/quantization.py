"""Hybrid-precision fake quantization: a model's layers at the bit widths of a mapping (QUANOS's rule that
picks the widths is :mod:`quanos_lib.quanos`).

A model is quantized per layer from a plain mapping ``{module name: bits}`` (2 to 16 bits) that must
name exactly its conv and linear layers: an unknown or a missing name is an error, never a silent
full-precision layer. For a layer with ``k`` bits (choices, made once for the companion):

- its **weights** are fake-quantized to k bits, uniform and symmetric, one scale per output channel
  (``max |w|`` of the channel over ``2^(k-1) - 1``), with torch's ``fake_quantize_per_channel_affine``;
- its **input activation** (the operand its multiply-accumulates see) is fake-quantized to k bits per
  tensor with torch's ``fake_quantize_per_tensor_affine``: unsigned ``[0, 2^k - 1]`` when the input is
  non-negative (after a ReLU), else signed; the scale comes from the batch's own maximum (dynamic).

Both ops pass gradients straight through inside the quantization range (the straight-through
estimator), so quantized models train, and white-box attacks differentiate them. Scales are treated as
constants. Nothing here is written by hand except wiring those ops to layers: weights through
``torch.nn.utils.parametrize``, inputs through a forward pre-hook.
"""
import copy

import torch
from torch import nn
from torch.nn.utils import parametrize

MIN_BITS, MAX_BITS = 2, 16


def _check_bits(bits):
    if not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"bit widths must be integers from {MIN_BITS} to {MAX_BITS}, not {bits!r}")


def fake_quantize_tensor(x, bits):
    """k-bit per-tensor fake quantization with a scale from the tensor's own range (see module doc)."""
    _check_bits(bits)
    signed = bool(x.detach().min() < 0)
    levels = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1
    scale = (x.detach().abs().max() / levels).clamp_min(1e-12).float().reshape(1)
    zero = torch.zeros(1, dtype=torch.int32, device=x.device)
    low = -levels - 1 if signed else 0
    return torch.fake_quantize_per_tensor_affine(x, scale.to(x.device), zero, low, levels)


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


def quantize(model, bits):
    """Fake-quantize ``model`` in place, layer by layer, from ``{module name: bits}``; returns the model.
    A model already quantized is first restored to float."""
    check_mapping(model, bits)
    dequantize(model)
    modules = dict(model.named_modules())
    for name, k in bits.items():
        module = modules[name]
        parametrize.register_parametrization(module, "weight", WeightFakeQuantize(k))
        module.quantization_bits = k
        module._input_quantizer = module.register_forward_pre_hook(
            lambda mod, inputs, k=k: (fake_quantize_tensor(inputs[0], k), *inputs[1:]))
    return model


def dequantize(model):
    """Remove every fake quantizer, keeping the float weights."""
    for module in model.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
        if hasattr(module, "_input_quantizer"):
            module._input_quantizer.remove()
            del module._input_quantizer, module.quantization_bits
    return model


def float_state_dict(model):
    """The state dict of ``model`` as its float (unquantized) twin would have it: a fake-quantized layer's
    ``parametrizations.weight.original`` becomes its ``weight``. (Not a deep copy of the model and
    ``dequantize``: a copy shares the parametrized class, and removing its parametrization would break
    the original.)"""
    return {name.replace(".parametrizations.weight.original", ".weight"): value.detach().cpu()
            for name, value in model.state_dict().items()}


def bits_of(model):
    """``{module name: bits}`` of a fake-quantized model (empty for a float one)."""
    return {name: module.quantization_bits for name, module in model.named_modules()
            if hasattr(module, "quantization_bits")}


def float_copy(model):
    """A float (unquantized) deep copy of ``model``, with its float weights; ``model`` is left as it was.

    A fake-quantized model is briefly restored to float, copied and quantized again (its quantizers hold no
    state, so nothing changes): a deep copy of the quantized model could not be dequantized on its own, since
    the copy shares its parametrized classes with the original (see :func:`float_state_dict`)."""
    bits = bits_of(model)
    if not bits:
        return copy.deepcopy(model)
    dequantize(model)
    try:
        return copy.deepcopy(model)
    finally:
        quantize(model, bits)


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
