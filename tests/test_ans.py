import math

import pytest
import torch
from torch import nn

from quanos_lib import ans, data, models


def identity_classifier():
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU())
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
    return model


def test_ans_of_a_tiny_network_matches_the_hand_computed_value():
    # logits = x: the FGSM step changes each coordinate by eps, so ||a(x_adv) - a(x)|| = eps * sqrt(2)
    model = identity_classifier()
    x = torch.tensor([[3.0, 4.0], [6.0, 8.0]])
    y = torch.tensor([0, 1])
    values = ans.adversarial_noise_sensitivity(model, data.Split(x, y), eps=0.5, layers=["0"], clip=None)
    expected = (0.5 * math.sqrt(2) / 5 + 0.5 * math.sqrt(2) / 10) / 2  # per example, then the mean
    assert values["0"] == pytest.approx(expected, rel=1e-6)


def test_ans_removes_its_hooks_restores_the_mode_and_costs_two_forward_passes():
    model = models.VGG19(width=0.05)
    model.train()
    forwards = []
    model.register_forward_hook(lambda *args: forwards.append(1))
    x, y = torch.rand(6, 3, 32, 32), torch.randint(0, 10, (6,))
    values = ans.adversarial_noise_sensitivity(model, data.Split(x, y), eps=8 / 255, batch_size=3)
    assert list(values) == model.conv_names() + ["classifier"]
    assert all(v > 0 for v in values.values())
    assert len(forwards) == 2 * 2  # two batches, one forward inside FGSM and one adversarial forward each
    assert model.training
    assert all(not m._forward_hooks for name, m in model.named_modules() if name)


def test_ans_rejects_unknown_layers():
    with pytest.raises(KeyError, match="no module named nope"):
        ans.adversarial_noise_sensitivity(identity_classifier(), data.Split(torch.rand(2, 2), torch.tensor([0, 1])),
                                          0.1, layers=["nope"])


def test_removing_a_layer_makes_its_block_the_identity_and_keeps_the_original():
    model = models.VGG19(width=0.1)
    removable = ans.removable_layers(model)
    assert len(removable) == 12 and "features.conv2_1" not in removable and "features.conv5_1" in removable
    pruned = ans.remove_layers(model, ["features.conv3_2"])
    assert isinstance(pruned.features.conv3_2, nn.Identity) and isinstance(pruned.features.relu3_2, nn.Identity)
    assert isinstance(model.features.conv3_2, nn.Conv2d)
    assert pruned(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="channel count"):
        ans.remove_layers(model, ["features.conv2_1"])


def test_rank_correlation():
    a = {"x": 1.0, "y": 2.0, "z": 3.0}
    assert ans.rank_correlation(a, {"x": 10.0, "y": 20.0, "z": 30.0}) == pytest.approx(1.0)
    assert ans.rank_correlation(a, {"x": 3.0, "y": 2.0, "z": 1.0}) == pytest.approx(-1.0)


def test_other_models_default_to_their_conv_and_linear_layers_outputs():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3))
    assert ans.default_layers(model) == {"0": "0", "3": "3"}
