import math

import pytest
import torch
import torch.nn.functional as F

from quanos_lib import attacks, data, evaluation, models, training


def test_maxout_layer_is_the_max_of_its_pieces():
    torch.manual_seed(0)
    layer = models.Maxout(6, units=4, pieces=3)
    x = torch.randn(5, 6)
    pieces = (x @ layer.linear.weight.T + layer.linear.bias).view(5, 4, 3)
    out = layer(x)
    assert out.shape == (5, 4)
    assert torch.allclose(out, pieces.max(dim=2).values)
    assert torch.all(out >= pieces[..., 0]) and torch.all(out >= pieces[..., 2])


def test_maxout_mlp_shapes_init_and_dropout():
    model = models.MaxoutMLP(units=20, pieces=5)
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert model.h0.linear.weight.shape == (100, 784)
    assert model.h0.linear.weight.abs().max() <= 0.005 and model.out.bias.abs().max() == 0
    assert (model.input_dropout.p, model.h0_dropout.p, model.h1_dropout.p) == (0.2, 0.5, 0.5)
    with pytest.raises(ValueError, match="top"):
        models.MaxoutMLP(top="tanh")


def test_max_column_norm_holds_on_every_layer_after_a_step():
    training.seed_everything(0)
    model = models.MaxoutMLP(units=8, pieces=2, in_features=16, init_range=1.0)
    split = data.Split(torch.rand(100, 1, 4, 4), torch.randint(0, 10, (100,)))
    training.train(model, split, training.TrainConfig(epochs=1, lr=1.0, max_col_norm=0.3), progress=False)
    for layer in (model.h0.linear, model.h1.linear, model.out):
        assert layer.weight.norm(dim=1).max() <= 0.3 + 1e-5


def test_rbf_confidence_is_bounded_and_falls_far_below_a_tenth_off_the_data():
    model = models.RBFNetwork(in_features=16, classes=3)
    near = torch.full((2, 1, 4, 4), 0.5)  # on every prototype
    far = torch.full((2, 1, 4, 4), 5.0)
    p_near, p_far = (evaluation.predict_proba(model, x) for x in (near, far))
    assert torch.all((p_near > 0) & (p_near <= 1)) and torch.all((p_far >= 0) & (p_far <= 1))
    assert torch.allclose(p_near, torch.ones_like(p_near), atol=1e-5)
    assert p_far.max() < 0.1
    # the analytic score: exp(-sum_d beta (x_d - w_d)^2) with beta = 1/50
    assert math.isclose(p_far[0, 0].item(), math.exp(-16 * 4.5 ** 2 / 50), rel_tol=1e-4)


def test_independent_class_loss_is_one_vs_rest_log_loss():
    model = models.MaxoutMLP(units=4, pieces=2, in_features=16, top="sigmoid")
    outputs, y = torch.randn(6, 10), torch.randint(0, 10, (6,))
    expected = F.binary_cross_entropy_with_logits(outputs, F.one_hot(y, 10).float(), reduction="sum") / 6
    assert torch.allclose(models.loss(model, outputs, y), expected, atol=1e-5)
    assert torch.allclose(models.probabilities(model, outputs), torch.sigmoid(outputs))


def test_fgsm_on_an_ensemble_follows_the_gradient_of_the_averaged_output():
    torch.manual_seed(0)
    members = [torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)) for _ in range(3)]
    ensemble = models.Ensemble(members)
    x, y = torch.rand(8, 1, 4, 4), torch.randint(0, 3, (8,))
    x_in = x.clone().requires_grad_(True)
    averaged = torch.stack([F.softmax(m(x_in), 1) for m in members]).mean(0)
    assert torch.allclose(F.softmax(ensemble(x), 1), averaged.detach(), atol=1e-6)
    F.nll_loss(averaged.log(), y, reduction="sum").backward()
    assert torch.equal(attacks.fgsm(ensemble, x, y, 0.1, clip=None), x + 0.1 * x_in.grad.sign())


@pytest.mark.parametrize("kind", ["sign_noise", "uniform_noise"])
def test_noise_training_perturbations_are_random_and_of_size_eps(kind):
    torch.manual_seed(0)
    model = models.SoftmaxRegression(in_features=256, classes=2)
    x, y = torch.full((50, 1, 16, 16), 0.5), torch.randint(0, 2, (50,))
    config = training.TrainConfig(epochs=1, adv_alpha=0.5, adv_eps=0.25, adv_kind=kind)
    delta = training.perturb(model, x, y, config) - x
    assert delta.abs().max() <= 0.25 + 1e-6
    if kind == "sign_noise":
        assert torch.allclose(delta.abs(), torch.full_like(delta, 0.25))
        assert 0.4 < (delta > 0).float().mean() < 0.6
    else:
        assert delta.abs().mean() == pytest.approx(0.125, abs=0.01)
    fgsm_delta = attacks.fgsm(model, x, y, 0.25) - x
    assert (delta.sign() == fgsm_delta.sign()).float().mean() < 0.7  # not the adversarial direction
    with pytest.raises(ValueError, match="adv_kind"):
        training.perturb(model, x, y, training.TrainConfig(epochs=1, adv_alpha=0.5, adv_kind="gaussian"))


def test_two_phase_training_continues_on_train_plus_validation():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(300, 1, 4, 4, generator=g)
    split = data.Split(x, (x.flatten(1)[:, 0] > 0.5).long())
    train, val = split.holdout(100)
    assert len(train) == 200 and torch.equal(val.x, split.x[-100:])
    config = training.TrainConfig(epochs=3, batch_size=50, lr=0.5, continue_epochs=2)
    model, history = training.trained_model("two_phase", lambda: models.SoftmaxRegression(16, 2), train, config,
                                            val_split=val, progress=False)
    assert len(history["val_loss"]) == 3 and history["best_val_loss"] == history["val_loss"][history["best_epoch"]]
    assert 1 <= len(history["continued"]["loss"]) <= 2
    assert len(history["continued"]["loss"]) == len(history["continued"]["match_objective"])


def test_conv_maxout_layer_is_the_max_of_its_pieces_then_pooled():
    torch.manual_seed(0)
    layer = models.ConvMaxout(3, channels=4, pieces=2, kernel=3, padding=1, pool=2, pool_stride=2)
    x = torch.randn(2, 3, 8, 8)
    z = layer.conv(x).view(2, 4, 2, 8, 8)
    assert torch.allclose(layer(x), F.max_pool2d(torch.maximum(z[:, :, 0], z[:, :, 1]), 2, 2))


def test_conv_maxout_net_has_the_papers_shapes_norms_and_learning_rates():
    model = models.ConvMaxoutNet(width=0.25)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert model.h0.conv.weight.shape == (24 * 2, 3, 8, 8) and model.h3.linear.weight.shape == (125 * 5, 48 * 16)
    assert model.h0.conv.max_norm == 0.9 and not hasattr(model.h1.conv, "max_norm")
    groups = {g["lr_scale"]: len(g["params"]) for g in training._param_groups(model)}
    assert groups == {0.05: 6, 1.0: 4}
    assert models.ConvMaxoutNet(width=1.0).h1.conv.weight.shape == (384, 96, 8, 8)


def test_per_module_max_norm_and_linear_learning_rate_decay():
    training.seed_everything(0)
    model = models.ConvMaxoutNet(width=0.1, init_range=0.3)  # filters start above both limits
    split = data.Split(torch.randn(40, 3, 32, 32), torch.randint(0, 10, (40,)))
    config = training.TrainConfig(epochs=3, batch_size=20, lr=0.05, max_col_norm=1.9365,
                                  lr_linear_final=0.01, lr_linear_epochs=2, augment_padding=4, augment_flip=True)
    history = training.train(model, split, config, progress=False)
    assert model.h0.conv.weight.flatten(1).norm(dim=1).max() <= 0.9 + 1e-5
    assert model.h1.conv.weight.flatten(1).norm(dim=1).max() <= 1.9365 + 1e-5
    assert history["lr"] == pytest.approx([0.05, 0.0005, 0.0005])  # the final rate in epoch lr_linear_epochs


def test_random_crop_flip_moves_whole_images_and_keeps_them_otherwise():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4) + 1
    g = torch.Generator().manual_seed(0)
    flipped = data.random_crop_flip(x, padding=0, flip=True, generator=g)
    for original, out in zip(x, flipped):
        assert torch.equal(out, original) or torch.equal(out, original.flip(2))
    cropped = data.random_crop_flip(x, padding=2, generator=torch.Generator().manual_seed(1))
    assert cropped.shape == x.shape
    for original, out in zip(x, cropped):
        kept = out[out != 0]  # every non-padding value comes from the image, in order
        assert set(kept.tolist()) <= set(original.flatten().tolist())


def test_checkpoint_key_holds_only_the_changed_fields():
    assert training.TrainConfig(epochs=3, lr=0.2).changes() == {"epochs": 3, "lr": 0.2}


def test_a_sigmoid_top_never_shares_the_softmax_nets_checkpoint():
    """The key holds the model's repr: with the top missing from it, the sigmoid-top maxout of F17 was read from the
    checkpoint of the softmax net trained at the same caps (found by its rubbish rate: 100% at 100% confidence)."""
    from quanos_lib import checkpoints, data, training
    split = data.Split(torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))
    config = training.TrainConfig(epochs=1)
    paths = {top: checkpoints.path_for("maxout8_naive", training._cache_key(
        "maxout8_naive", models.MaxoutMLP(units=8, top=top), config, split, None)) for top in ("softmax", "sigmoid")}
    assert paths["softmax"] != paths["sigmoid"]
    assert "top" not in repr(models.MaxoutMLP(units=8))  # the softmax nets' keys did not move
