"""Every trained model of the companion, at its ``full``-profile configuration, trains one step and is evaluated.

``full`` is the profile a reader with a GPU runs for hours; nothing else here runs it. Under
:func:`quanos_lib.training.dry_run` each zoo call (the very calls the notebooks make) builds its model at ``full``'s
architecture and width and trains it by ``full``'s configuration (optimizer, schedule, objective, early stopping)
for one step on a few images of the right shape, so a configuration or shape error fails here, in seconds.
"""
import pytest
import torch

from quanos_lib import data, evaluation, models, preprocessing, profiles, quantization, training, zoo

FULL = profiles.SCALES["full"]  # not profiles.get: the suite runs with $QUANOS_PROFILE=smoke, which would win


def _dataset(name, shape, n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    classes = [f"class {k}" for k in range(10)]
    split = lambda size: data.Split(torch.randint(0, 256, (size, *shape), generator=g, dtype=torch.uint8),  # noqa: E731
                                    torch.arange(size) % 10)
    return data.Dataset(name, split(n), split(n // 2), classes, {"name": name})


@pytest.fixture(scope="module")
def mnist():
    return _dataset("MNIST", (1, 28, 28))


@pytest.fixture(scope="module")
def cifar():
    return _dataset("CIFAR-10", (3, 32, 32))


def _trains_and_evaluates(result, test):
    model, history = result
    assert len(history["loss"]) == 1 and torch.isfinite(torch.tensor(history["loss"])).all()
    assert 0 <= evaluation.accuracy(model, test) <= 1
    return model, history


def test_every_mnist_model_at_full(mnist):
    linear, maxout = FULL["linear"], FULL["maxout"]
    threes_sevens = mnist.where_label([3, 7])
    with training.dry_run():
        _trains_and_evaluates(zoo.softmax_regression(mnist, linear), mnist.test)
        _trains_and_evaluates(zoo.softmax_regression(mnist, linear, epochs=linear["confidence_epochs"][-1]), mnist.test)
        _trains_and_evaluates(zoo.softmax_regression(mnist, linear, weight_decay=linear["confidence_weight_decay"][0]),
                              mnist.test)
        for objective in ({}, {"adv_alpha": 0.0, "adv_eps": linear["sweep_eps"][-1]}, {"l1": linear["sweep_l1"][-1]}):
            _trains_and_evaluates(zoo.logistic_regression(threes_sevens, linear, **objective), threes_sevens.test)
        for variant in zoo.MAXOUT_VARIANTS:
            model, history = _trains_and_evaluates(zoo.maxout(mnist, maxout, variant), mnist.test)
            assert history["config"]["momentum_final"] == 0.7 and "continued" in history  # then on all 60k
        assert model.out.in_features == maxout["units"] == 240  # the paper's width
        large = {"units": maxout["units_large"], "epochs": maxout["large_epochs"],
                 "continue_epochs": maxout["large_continue_epochs"]}
        _trains_and_evaluates(zoo.maxout(mnist, maxout, "adversarial", val_adv_eps=maxout["eps"], **large), mnist.test)
        model, _ = _trains_and_evaluates(zoo.maxout(mnist, maxout, "naive", **large), mnist.test)
        assert model.out.in_features == maxout["units_large"] == 1600
        _trains_and_evaluates(zoo.maxout(mnist, maxout, "naive", l1=maxout["l1_coefficients"][0], budget="short"),
                              mnist.test)
        _trains_and_evaluates(zoo.maxout(mnist, maxout, "naive", top="sigmoid", budget="short"), mnist.test)
        ensemble, histories = zoo.maxout_ensemble(mnist, maxout)
        assert len(histories) == maxout["ensemble_size"] and 0 <= evaluation.accuracy(ensemble, mnist.test) <= 1
        _trains_and_evaluates(zoo.rbf_network(mnist, maxout), mnist.test)
        mpdbm, _ = _trains_and_evaluates(zoo.mpdbm(mnist, FULL["mpdbm"]), mnist.test)
        assert mpdbm.w2.shape == (500, 1000) and mpdbm.steps == 10  # the MP-DBM paper's layers, 10 updates


def test_the_conv_maxout_network_at_full(cifar):
    scale = FULL["conv_maxout"]
    preprocessed, _ = preprocessing.gcn_zca_dataset(cifar)
    with training.dry_run():
        model, history = _trains_and_evaluates(zoo.conv_maxout(preprocessed, scale), preprocessed.test)
    assert history["config"]["lr"] == scale["lr"] == 0.17 and scale["width"] == 1.0 and scale["paper_init"]
    assert sum(p.numel() for p in model.parameters()) > 1_000_000  # the paper's full-width network


def test_every_quanos_model_at_full(cifar):
    scale = FULL["vgg"]
    with training.dry_run():
        base, history = _trains_and_evaluates(zoo.vgg19(cifar, scale), cifar.test)
        assert models.VGG19(width=1.0).features.conv1_1.out_channels == base.features.conv1_1.out_channels == 64
        assert set(zoo.vgg19_snapshots(cifar, scale, history)) == {"1"}  # full keeps more, past the first epoch
        finetune = zoo.layer_removal_finetune(cifar, scale)
        finetune(quantization.float_copy(base))
        compared, plans = zoo.quanos_comparison(cifar, scale, base, seed=0)
        assert set(compared) == {*zoo.CLASSIFIER_READINGS.values(), "8-bit",
                                 f"{quantization.iso_size_bits(base, plans['QUANOS'])}-bit",
                                 "32-bit float + PGD adv. training", "QUANOS + PGD adv. training"}
        assert plans["QUANOS, classifier at 8 bits"]["classifier"] == 8
        for label, result in compared.items():
            _trains_and_evaluates(result, cifar.test)
        assert compared["QUANOS + PGD adv. training"][1]["config"]["adv_steps"] == scale["adv_steps"]
        # the front (zoo.quanos_front) trains by the same two calls at other widths and ANS eps
        other = zoo.quanos_vgg19(cifar, scale, base, ans_eps=scale["eps_panel"][0])
        assert len(other.iterations) == scale["quanos_iterations"] == 2
        _trains_and_evaluates((other.model, other.history), cifar.test)
        _trains_and_evaluates(zoo.substitute_vgg19(cifar, scale), cifar.test)


def test_a_dry_run_neither_reads_nor_writes_the_cache(mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("QUANOS_CACHE", str(tmp_path))
    with training.dry_run():
        zoo.softmax_regression(mnist, FULL["linear"])
    assert not list(tmp_path.iterdir())
    _, history = zoo.softmax_regression(mnist, profiles.get("smoke")["linear"])  # outside: trained and cached
    assert len(list(tmp_path.glob("*.pt"))) == 1 and len(history["loss"]) >= 1
