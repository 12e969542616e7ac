"""Energy per inference on precision-scalable multiply-accumulate (MAC) units (QUANOS, Q5).

QUANOS reports energy on precision-scalable MAC units with data gating and sub-word parallelism, but
its numbers per bit width are not available here. The companion's model, written down once:

- **Source**: M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
  45 nm, 0.9 V: 8-bit integer multiply 0.2 pJ, 8-bit add 0.03 pJ, 32-bit add 0.1 pJ, 32-bit multiply
  3.1 pJ; 32-bit float multiply 3.7 pJ, 32-bit float add 0.9 pJ.
- **Integer MAC with a b_w-bit weight and a b_a-bit activation**: an array multiplier does one
  partial-product bit per weight bit x activation bit, so a gated (unused bits switched off) or
  sub-word-parallel unit spends ``0.2 pJ * b_w * b_a / 64``; the accumulation adds a (b_w + b_a)-bit
  product, ``0.03 pJ * (b_w + b_a) / 8``. The scaling reproduces Horowitz's 32-bit values within 5%
  (3.2 vs 3.1 pJ; 0.12 vs 0.1 pJ). It is the ideal scaling of such units: real ones lose some of it
  to control overhead, so savings computed with it are an upper bound.
- **32-bit float MAC** (a layer left unquantized): 3.7 + 0.9 = 4.6 pJ.
- Only the MACs of conv and linear layers count; memory traffic, batch norm, pooling and the
  activation functions are left out (the paper's figure is MAC energy as well, as far as the abstract says).

Layers are quantized with one width for their weights and input activations
(:mod:`quanos_lib.quantization`), so a layer with k bits costs ``mac_energy_pj(k, k)`` per MAC.
"""
import pandas as pd
import torch
from torch import nn

from . import models, quantization

INT8_MULTIPLY_PJ, INT8_ADD_PJ = 0.2, 0.03      # Horowitz 2014, 45 nm
FLOAT32_MAC_PJ = 3.7 + 0.9                     # float multiply + float add


def mac_energy_pj(weight_bits, activation_bits):
    """Energy of one integer MAC (pJ) with the given operand widths; ``None`` for either: a 32-bit float MAC."""
    if weight_bits is None or activation_bits is None:
        return FLOAT32_MAC_PJ
    multiply = INT8_MULTIPLY_PJ * weight_bits * activation_bits / 64
    add = INT8_ADD_PJ * (weight_bits + activation_bits) / 8
    return multiply + add


@torch.no_grad()
def mac_counts(model, input_shape=(3, 32, 32)):
    """``{layer name: MACs for one input}`` for every conv and linear layer, from one forward pass."""
    counts, handles = {}, []

    def count(name):
        def hook(module, inputs, output):
            if isinstance(module, nn.Conv2d):
                per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
                counts[name] = output[0].numel() * per_output
            else:
                counts[name] = module.in_features * module.out_features
        return hook

    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            handles.append(module.register_forward_hook(count(name)))
    try:
        with models.eval_mode(model):
            model(torch.zeros(1, *input_shape, device=models.device(model)))
    finally:
        for handle in handles:
            handle.remove()
    return counts


def energy_per_inference_uj(model, bits=None, input_shape=(3, 32, 32)):
    """MAC energy of one inference in microjoules: each layer named in ``bits`` at its width (weights and
    activations), every other conv and linear layer in 32-bit float."""
    bits = bits or {}
    total_pj = sum(macs * mac_energy_pj(bits.get(name), bits.get(name))
                   for name, macs in mac_counts(model, input_shape).items())
    return total_pj / 1e6


def costs(model, bits=None, input_shape=(3, 32, 32)):
    """What a bit mapping costs (``None``: 32-bit float): mean bits per layer, model size (kbit, from
    :func:`quanos_lib.quantization.model_size_bits`) and MAC energy per inference (µJ)."""
    return {"mean bits": sum(bits.values()) / len(bits) if bits else 32,
            "size (kbit)": quantization.model_size_bits(model, bits) / 1e3,
            "energy (µJ)": energy_per_inference_uj(model, bits, input_shape)}


def cost_table(model, plans, references, input_shape=(3, 32, 32)):
    """:func:`costs` of every mapping in ``plans`` (``{label: bits or None}``), one row each, with the ratios
    against each reference row of ``references`` (``{short name: row label}``): ``compression vs <short name>``
    (the reference's size over the row's) and ``energy saving vs <short name>``."""
    table = pd.DataFrame({label: costs(model, bits, input_shape) for label, bits in plans.items()}).T
    for short, row in references.items():
        table[f"compression vs {short}"] = table.loc[row, "size (kbit)"] / table["size (kbit)"]
        table[f"energy saving vs {short}"] = table.loc[row, "energy (µJ)"] / table["energy (µJ)"]
    return table
