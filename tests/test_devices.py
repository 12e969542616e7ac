"""Every tensor follows the model's (or the data's) device, proved on a CPU-only machine.

Inside ``with torch.device("meta")`` torch makes every tensor whose device is not named on the "meta" device, and
the first operation that meets it with the model's CPU tensors fails: exactly what happens on a GPU machine to a
tensor made on the default device (the CPU) beside a model on the GPU. The models and data are made outside the
block, as a user makes them; everything the library does with them runs inside.
"""
import pytest
import torch

from quanos_lib import (ans, attacks, data, energy, evaluation, models, protocol, quanos, quantization, training)


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(0)
    return data.Split(torch.rand(24, 3, 32, 32, generator=g), torch.randint(0, 10, (24,), generator=g))


@pytest.fixture
def vgg():
    torch.manual_seed(0)
    return models.VGG19(width=0.05, classes=10).eval()


def test_attacks_and_scoring_follow_the_models_device(vgg, images):
    quantization.quantize(vgg, quantization.uniform_bits(vgg, 4), calibration=images)
    scale = {"curve_eps": [2 / 255, 8 / 255], "area_max_eps": 8 / 255, "gain_eps": [2 / 255], "eps": 8 / 255,
             "pgd_steps": 2, "masking_eps": [0.0, 64 / 255]}
    with torch.device("meta"):
        assert attacks.fgsm(vgg, images.x, images.y, 0.1).device.type == "cpu"
        for stop in (False, True):
            assert attacks.pgd(vgg, images.x, images.y, 0.1, steps=2, stop_when_fooled=stop).device.type == "cpu"
        transfer = protocol.transfer_images(vgg, images, scale)
        summary, curves = protocol.table({"4-bit": vgg}, images, scale, transfer=transfer)
        protocol.masking_checks(vgg, images, curves["4-bit"], scale, chance=0.1)
        ans.adversarial_noise_sensitivity(vgg, images, 8 / 255)
        evaluation.linearity_along_fgsm(vgg, images.x[:1], images.y[:1], [-0.1, 0.0, 0.1])
        energy.cost_table(vgg, {"32-bit float": None, "4-bit": quantization.uniform_bits(vgg, 4)}, {"32-bit": "32-bit float"})
    assert 0 <= summary.at["4-bit", "PGD area"] <= 1


def test_training_follows_the_models_device(vgg, images):
    config = training.TrainConfig(epochs=1, batch_size=12, momentum=0.9, weight_decay=5e-4, augment_padding=4,
                                  augment_flip=True, adv_alpha=0.5, adv_kind="pgd", adv_steps=2, adv_eps=8 / 255,
                                  patience=1, val_adv_eps=8 / 255, val_adv_kind="pgd")
    maxout = models.MaxoutMLP(units=8)
    mnist_like = data.Split(torch.rand(20, 1, 28, 28), torch.randint(0, 10, (20,)))
    with torch.device("meta"):
        training.train(vgg, images, config, val_split=images, progress=False)
        for kind in ("fgsm", "sign_noise", "uniform_noise"):
            training.train(maxout, mnist_like, training.TrainConfig(epochs=1, batch_size=10, adv_alpha=0.5, adv_kind=kind,
                                                                    max_col_norm=1.9, l1=1e-4), progress=False)
        ans.removal_curve(vgg, ans.removable_layers(vgg)[:1], images, 8 / 255, batch_norm_split=images,
                          finetune=lambda pruned: training.train(pruned, images, training.TrainConfig(epochs=1, batch_size=12),
                                                                 progress=False))
    # where training put the model (the GPU when there is one), never where the context pointed unnamed tensors
    assert all(p.device.type == training.default_device().type for p in vgg.parameters())


def test_quanos_follows_the_models_device(vgg, images, tmp_path, monkeypatch):
    monkeypatch.setenv("QUANOS_CACHE", str(tmp_path))
    with torch.device("meta"):
        result = quanos.quanos(vgg, images, images, training.TrainConfig(epochs=1, batch_size=12, patience=1),
                               eps=8 / 255, progress=False)
        evaluation.accuracy(result.model, images)
    assert set(result.bits) == set(quantization.quantizable_layers(vgg))


def test_the_meta_default_device_catches_a_tensor_made_on_the_default_device(vgg, images):
    """The check itself can fail: an operation that makes a tensor without its device is caught."""
    def careless_noise(x):
        return x + torch.rand(x.shape)  # on the default device, not x's

    with torch.device("meta"), pytest.raises((RuntimeError, NotImplementedError)):
        vgg(careless_noise(images.x)).sum().item()
