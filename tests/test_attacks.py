import pytest
import torch
import torch.nn.functional as F
from torch import nn

from quanos_lib import attacks, models


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    return torch.rand(32, 1, 4, 4, generator=g), torch.randint(0, 3, (32,), generator=g)


def test_fgsm_perturbation_is_bounded_and_exact_on_unclipped_pixels(tiny_mlp, batch):
    x, y = batch
    eps = 0.1
    x_adv = attacks.fgsm(tiny_mlp, x, y, eps)
    delta = x_adv - x
    assert delta.abs().max() <= eps + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    unclipped = (x + delta.sign() * eps > 0) & (x + delta.sign() * eps < 1) & (delta != 0)
    assert unclipped.sum() > 100
    assert torch.allclose(delta[unclipped].abs(), torch.full_like(delta[unclipped], eps), atol=1e-6)


def test_fgsm_step_follows_sign_of_input_gradient(tiny_mlp, batch):
    x, y = batch
    x_in = x.clone().requires_grad_(True)
    tiny_mlp.eval()
    F.cross_entropy(tiny_mlp(x_in), y, reduction="sum").backward()
    expected = (x + 0.05 * x_in.grad.sign())
    assert torch.allclose(attacks.fgsm(tiny_mlp, x, y, 0.05, clip=None), expected, atol=1e-6)


def test_fgsm_eps_zero_is_identity_and_input_untouched(tiny_mlp, batch):
    x, y = batch
    before = x.clone()
    assert torch.equal(attacks.fgsm(tiny_mlp, x, y, 0.0), x)
    attacks.fgsm(tiny_mlp, x, y, 0.3)
    assert torch.equal(x, before) and not x.requires_grad


@pytest.mark.parametrize("mode", [True, False])
def test_fgsm_restores_mode_and_leaves_no_parameter_grad(tiny_mlp, batch, mode):
    tiny_mlp.train(mode)
    attacks.fgsm(tiny_mlp, *batch, 0.1)
    assert tiny_mlp.training is mode
    assert all(p.grad is None for p in tiny_mlp.parameters())


def test_fgsm_uses_eval_mode_so_dropout_does_not_randomize_it(tiny_mlp, batch):
    tiny_mlp.train()
    first, second = attacks.fgsm(tiny_mlp, *batch, 0.1), attacks.fgsm(tiny_mlp, *batch, 0.1)
    assert torch.equal(first, second)


def test_fgsm_increases_loss_and_targeted_moves_toward_target(tiny_mlp, batch):
    x, y = batch
    tiny_mlp.eval()
    loss = lambda inputs, labels: F.cross_entropy(tiny_mlp(inputs), labels).item()  # noqa: E731
    assert loss(attacks.fgsm(tiny_mlp, x, y, 0.1), y) > loss(x, y)
    target = (y + 1) % 3
    x_t = attacks.fgsm(tiny_mlp, x, target, 0.1, targeted=True)
    assert loss(x_t, target) < loss(x, target)
    p_before = F.softmax(tiny_mlp(x), 1).gather(1, target[:, None])
    p_after = F.softmax(tiny_mlp(x_t), 1).gather(1, target[:, None])
    assert (p_after > p_before).float().mean() > 0.9


def test_fgsm_on_a_linear_model_is_the_analytic_eps_sign_w():
    torch.manual_seed(0)
    model = models.LogisticRegression(in_features=16)
    x = torch.rand(10, 1, 4, 4)
    y = torch.tensor([0, 1] * 5)  # class 1 raises the score w.x + b, so FGSM moves it down, and vice versa
    w = model.linear.weight.detach().reshape(1, 1, 4, 4)
    y_pm = (2 * y - 1).float().reshape(-1, 1, 1, 1)
    expected = x - 0.2 * y_pm * w.sign()
    assert torch.allclose(attacks.fgsm(model, x, y, 0.2, clip=None), expected, atol=1e-6)


def test_adversarial_examples_matches_single_batch_attack(tiny_mlp, batch):
    x, y = batch
    batched = attacks.adversarial_examples(tiny_mlp, x, y, 0.1, batch_size=7)
    assert torch.allclose(batched, attacks.fgsm(tiny_mlp, x, y, 0.1))


def test_fgsm_works_inside_a_no_grad_block(tiny_mlp, batch):
    with torch.no_grad():
        inside = attacks.fgsm(tiny_mlp, *batch, 0.1)
    assert torch.equal(inside, attacks.fgsm(tiny_mlp, *batch, 0.1))


# --- PGD ---------------------------------------------------------------------------------------------------


def test_pgd_stays_in_the_eps_ball_and_the_image_range(tiny_mlp, batch):
    x, y = batch
    x_adv = attacks.pgd(tiny_mlp, x, y, 0.1, steps=7)
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv - x).abs().max() > 0.09  # it does move, up to the boundary


def test_pgd_with_one_full_step_and_no_random_start_is_fgsm(tiny_mlp, batch):
    x, y = batch
    assert torch.allclose(attacks.pgd(tiny_mlp, x, y, 0.1, steps=1, step_size=0.1, random_start=False),
                          attacks.fgsm(tiny_mlp, x, y, 0.1), atol=1e-6)


def test_pgd_is_at_least_as_strong_as_fgsm(tiny_mlp, batch):
    x, y = batch
    tiny_mlp.eval()
    loss = lambda inputs: F.cross_entropy(tiny_mlp(inputs), y, reduction="none")  # noqa: E731
    fgsm_loss, pgd_loss = loss(attacks.fgsm(tiny_mlp, x, y, 0.2)), loss(attacks.pgd(tiny_mlp, x, y, 0.2, steps=20))
    assert pgd_loss.mean() > fgsm_loss.mean()
    assert (pgd_loss >= fgsm_loss - 1e-4).float().mean() > 0.9


@pytest.mark.parametrize("mode", [True, False])
def test_pgd_keeps_fgsms_guarantees(tiny_mlp, batch, mode):
    x, y = batch
    before = x.clone()
    tiny_mlp.train(mode)
    assert torch.equal(attacks.pgd(tiny_mlp, x, y, 0.0), x)
    first, second = attacks.pgd(tiny_mlp, x, y, 0.1, seed=3), attacks.pgd(tiny_mlp, x, y, 0.1, seed=3)
    assert torch.equal(first, second)  # a seeded random start: deterministic ...
    assert not torch.equal(first, attacks.pgd(tiny_mlp, x, y, 0.1, seed=4))  # ... and the seed matters
    assert torch.equal(x, before) and tiny_mlp.training is mode
    assert all(p.grad is None for p in tiny_mlp.parameters())


def test_pgd_stop_when_fooled_keeps_the_fooling_iterate_and_is_never_weaker(tiny_mlp, batch):
    x, y = batch
    tiny_mlp.eval()
    correct = lambda inputs: tiny_mlp(inputs).argmax(1) == y  # noqa: E731
    fooled_clean = ~correct(x)
    assert fooled_clean.any() and not fooled_clean.all()
    stopped = attacks.pgd(tiny_mlp, x, y, 0.7, steps=10, random_start=False, stop_when_fooled=True)
    assert torch.equal(stopped[fooled_clean], x[fooled_clean])  # fooled at the start: never moved
    assert (stopped - x).abs().max() <= 0.7 + 1e-6 and stopped.min() >= 0 and stopped.max() <= 1
    last = attacks.pgd(tiny_mlp, x, y, 0.7, steps=10, random_start=False)
    robust = correct(stopped)
    assert 0 < robust.sum() < correct(x).sum()  # the attack bites, and some images resist it
    assert not (robust & ~correct(last)).any()  # robust here: robust to the last iterate too ...
    assert torch.allclose(stopped[robust], last[robust], atol=1e-6)  # ... the very same trajectory
    assert torch.equal(attacks.pgd(tiny_mlp, x, y, 0.2, steps=10, seed=5, stop_when_fooled=True),
                       attacks.pgd(tiny_mlp, x, y, 0.2, steps=10, seed=5, stop_when_fooled=True))  # deterministic


def test_white_box_attacks_differentiate_a_fake_quantized_model(batch):
    from quanos_lib import data, quantization
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))
    x, y = batch
    quantization.quantize(model, quantization.uniform_bits(model, 4), calibration=data.Split(x, y))
    model.eval()
    before = F.cross_entropy(model(x), y)
    assert F.cross_entropy(model(attacks.pgd(model, x, y, 0.1)), y) > before  # the STE gradient is useful
    assert F.cross_entropy(model(attacks.fgsm(model, x, y, 0.1)), y) > before


def test_rfgsm_stays_within_eps_and_is_fgsm_from_its_random_start(tiny_mlp, batch):
    x, y = batch
    x_adv = attacks.rfgsm(tiny_mlp, x, y, 0.3, seed=4, clip=None)
    assert (x_adv - x).abs().max() <= 0.3 + 1e-6
    signs = torch.randint(0, 2, x.shape, generator=torch.Generator().manual_seed(4)).mul(2).sub(1)
    start = x + 0.15 * signs
    assert torch.equal(x_adv, attacks.fgsm(tiny_mlp, start, y, 0.15, clip=None))
    assert torch.equal(attacks.rfgsm(tiny_mlp, x, y, 0.3, seed=4, clip=None), x_adv)  # seeded
    assert torch.equal(attacks.rfgsm(tiny_mlp, x, y, 0.0), x)
    clipped = attacks.rfgsm(tiny_mlp, x, y, 0.3)
    assert clipped.min() >= 0 and clipped.max() <= 1


def test_random_sign_noise_has_the_attacks_size_in_no_chosen_direction(tiny_mlp, batch):
    x, y = batch
    noisy = attacks.random_sign(tiny_mlp, x, y, 0.25, seed=3, clip=None)
    delta = noisy - x
    assert torch.allclose(delta.abs(), torch.full_like(delta, 0.25))
    assert 0.4 < (delta > 0).float().mean() < 0.6  # both signs, about as often
    assert torch.equal(attacks.random_sign(tiny_mlp, x, y, 0.25, seed=3, clip=None), noisy)  # seeded
    assert not torch.equal(attacks.random_sign(tiny_mlp, x, y, 0.25, seed=4, clip=None), noisy)
    clipped = attacks.random_sign(tiny_mlp, x, y, 0.25, seed=3)
    assert clipped.min() >= 0 and clipped.max() <= 1


def test_fgsm_can_take_its_gradient_in_training_mode_for_an_adversarial_objective(tiny_mlp, batch):
    x, y = batch
    tiny_mlp.train()
    torch.manual_seed(0)
    first = attacks.fgsm(tiny_mlp, x, y, 0.1, eval_mode=False)
    second = attacks.fgsm(tiny_mlp, x, y, 0.1, eval_mode=False)
    assert not torch.equal(first, second)  # a fresh dropout mask each time
    assert torch.equal(attacks.fgsm(tiny_mlp, x, y, 0.1), attacks.fgsm(tiny_mlp, x, y, 0.1))  # eval mode: none
    assert tiny_mlp.training


def test_margin_loss_is_the_largest_wrong_logit_minus_the_true_one():
    outputs = torch.tensor([[2.0, 1.0, -1.0], [0.0, 3.0, 1.0]])
    assert attacks.margin_loss(outputs, torch.tensor([0, 2])) == pytest.approx((1.0 - 2.0) + (3.0 - 1.0))


def test_pgd_restarts_is_at_least_as_strong_as_one_start_and_stays_in_the_ball(tiny_mlp, batch):
    x, y = batch
    tiny_mlp.eval()
    y = tiny_mlp(x).argmax(1)  # every image starts correctly classified
    one = attacks.pgd(tiny_mlp, x, y, 0.3, steps=5, seed=0, stop_when_fooled=True)
    many = attacks.pgd_restarts(tiny_mlp, x, y, 0.3, steps=5, restarts=4, seed=0, batch_size=8)
    assert (many - x).abs().max() <= 0.3 + 1e-6 and many.min() >= 0 and many.max() <= 1
    fooled = lambda images: (tiny_mlp(images).argmax(1) != y).sum().item()  # noqa: E731
    assert fooled(many) >= fooled(one) and fooled(many) > 0
    margin = attacks.pgd_restarts(tiny_mlp, x, y, 0.3, steps=5, restarts=2, loss_fn=attacks.margin_loss)
    assert (margin - x).abs().max() <= 0.3 + 1e-6
    # each batch of a restart gets its own start: identical images in two batches end up in different places
    twins = torch.cat([x[:8], x[:8]])
    moved = attacks.pgd_restarts(tiny_mlp, twins, y[:8].repeat(2), 0.3, steps=1, restarts=1, batch_size=8)
    assert not torch.equal(moved[:8], moved[8:])
