import pytest
import torch
from torch import nn

from quanos_lib import energy, models, quantization


def test_mac_energy_reproduces_horowitz_at_8_and_32_bits():
    assert energy.mac_energy_pj(8, 8) == pytest.approx(0.2 + 0.03 * 2)       # 8-bit multiply + 16-bit add
    assert energy.mac_energy_pj(32, 32) == pytest.approx(3.2 + 0.24)          # Horowitz: 3.1 + 0.1 pJ
    assert energy.mac_energy_pj(None, 8) == energy.mac_energy_pj(None, None) == pytest.approx(4.6)


def test_multiplier_energy_scales_with_the_product_of_the_widths():
    multiply = lambda w, a: energy.mac_energy_pj(w, a) - 0.03 * (w + a) / 8  # noqa: E731
    assert multiply(4, 4) == pytest.approx(multiply(8, 8) / 4)
    assert multiply(2, 8) == pytest.approx(multiply(4, 4))
    assert energy.mac_energy_pj(2, 2) < energy.mac_energy_pj(4, 4) < energy.mac_energy_pj(8, 8)


def test_mac_counts_by_hand():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 5))
    counts = energy.mac_counts(model, (3, 8, 8))
    assert counts == {"0": 8 * 8 * 4 * 3 * 9, "4": 64 * 5}
    assert model.training  # its mode is restored


def test_energy_per_inference_sums_the_layers_at_their_widths():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 5))
    conv, linear = 6912, 320
    assert energy.energy_per_inference_uj(model, input_shape=(3, 8, 8)) == pytest.approx((conv + linear) * 4.6e-6)
    mixed = energy.energy_per_inference_uj(model, {"0": 8, "4": 2}, input_shape=(3, 8, 8))
    assert mixed == pytest.approx((conv * energy.mac_energy_pj(8, 8) + linear * energy.mac_energy_pj(2, 2)) * 1e-6)


def test_vgg19_costs_fall_with_the_bits():
    vgg = models.VGG19(width=0.125)
    hybrid = {**quantization.uniform_bits(vgg, 4), "features.conv1_1": 16}
    full, eight, quanos = (energy.costs(vgg, bits) for bits in (None, quantization.uniform_bits(vgg, 8), hybrid))
    assert full["mean bits"] == 32 and eight["mean bits"] == 8
    assert full["energy (µJ)"] / eight["energy (µJ)"] == pytest.approx(4.6 / 0.26, rel=1e-6)
    assert full["size (kbit)"] > eight["size (kbit)"] > quanos["size (kbit)"]
    assert eight["energy (µJ)"] > quanos["energy (µJ)"]
    # the first conv sees 32 x 32 inputs: 32 * 32 * out * 3 * 9 MACs
    assert energy.mac_counts(vgg)["features.conv1_1"] == 32 * 32 * 8 * 27
    assert torch.is_grad_enabled()
