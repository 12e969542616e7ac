"""The MP-DBM of F16: mean-field inference, the multi-prediction objective, FGSM through the unrolled inference."""
import pytest
import torch

from quanos_lib import attacks, models


def _tiny(steps=10, seed=0):
    torch.manual_seed(seed)
    model = models.MPDBM(visible=6, hidden=(4, 3), classes=2, steps=steps, init_scale=0.5).double()
    with torch.no_grad():
        for bias in (model.b_v, model.b_1, model.b_2, model.b_y):
            bias.normal_(0, 0.5)
    return model


def test_mean_field_inference_reaches_a_fixed_point_of_its_equations():
    model = _tiny()
    v = torch.rand(5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    observed = torch.rand(5, 6, generator=torch.Generator().manual_seed(2)) < 0.5
    q_v, q_h1, q_h2, logits = model.infer(v, observed, steps=200)
    q_y = torch.softmax(logits, 1)
    # every layer is its own update given its neighbours: a fixed point of the mean-field equations
    assert torch.allclose(q_h1, torch.sigmoid(q_v @ model.w1 + q_h2 @ model.w2.T + model.b_1), atol=1e-10)
    assert torch.allclose(q_h2, torch.sigmoid(q_h1 @ model.w2 + q_y @ model.u.T + model.b_2), atol=1e-10)
    assert torch.allclose(q_v[~observed], torch.sigmoid(q_h1 @ model.w1.T + model.b_v)[~observed], atol=1e-10)
    assert torch.equal(q_v[observed], v[observed])  # observed pixels stay clamped
    again = model.infer(v, observed, steps=201)
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(again, (q_v, q_h1, q_h2, logits)))


class _TrainingLoss(torch.nn.Module):
    """The MP-DBM's training loss as a module's forward, with the same masks at every call (a fresh seeded
    generator), so that torch.func.functional_call can evaluate it at other parameters."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, y):
        return self.model.training_loss(x, y, generator=torch.Generator().manual_seed(4))


def test_the_multi_prediction_objective_has_the_gradient_finite_differences_give():
    model = _tiny(steps=3)
    x = torch.rand(4, 1, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    y = torch.tensor([0, 1, 1, 0])
    loss, names = _TrainingLoss(model), [f"model.{name}" for name, _ in model.named_parameters()]
    parameters = tuple(p.detach().clone().requires_grad_(True) for p in model.parameters())
    assert loss(x, y) > 0
    assert torch.autograd.gradcheck(lambda *p: torch.func.functional_call(loss, dict(zip(names, p)), (x, y)),
                                    parameters, eps=1e-6, atol=1e-6)


def test_fgsm_through_the_unrolled_inference_moves_every_pixel_by_exactly_eps():
    torch.manual_seed(0)
    model = models.MPDBM(visible=16, hidden=(8, 6), classes=3, steps=5, init_scale=0.3)
    x, y = torch.rand(10, 1, 4, 4), torch.randint(0, 3, (10,))
    x_adv = attacks.fgsm(model, x, y, 0.25, clip=None)
    gradient = attacks._loss_gradient(model, x, y)
    assert (gradient != 0).float().mean() > 0.99  # the inference carries the gradient to every pixel
    moved = (x_adv - x)[gradient != 0]
    assert torch.allclose(moved.abs(), torch.tensor(0.25))
    assert torch.equal(torch.sign(moved), torch.sign(gradient[gradient != 0]))
    assert models.loss(model, model(x_adv), y) > models.loss(model, model(x), y)


def test_the_training_loop_trains_an_mpdbm_on_its_own_objective():
    from quanos_lib import data, training
    g = torch.Generator().manual_seed(5)
    x = torch.rand(200, 1, 4, 4, generator=g).round()
    split = data.Split(x, x.flatten(1)[:, :2].sum(1).long())  # a label the pixels determine: something to learn
    training.seed_everything(0)
    model = models.MPDBM(visible=16, hidden=(12, 8), classes=3, steps=5, visible_mean=split.x.flatten(1).mean(0))
    history = training.train(model, split, training.TrainConfig(epochs=20, batch_size=20, lr=0.05, momentum=0.5),
                             progress=False)
    # the multi-prediction loss falls (towards its floor: the entropy of the random pixels it predicts)
    assert history["loss"][-1] < history["loss"][0] - 0.1
    try:
        training.train(model, split, training.TrainConfig(epochs=1, adv_alpha=0.5), progress=False)
    except ValueError as error:
        assert "own objective" in str(error)
    else:
        raise AssertionError("an adversarial objective must be refused for the MP-DBM")


def test_visible_biases_start_at_the_logit_of_the_mean_pixel_and_glorot_sets_the_weights():
    mean = torch.tensor([0.5, 0.9, 0.0, 1.0])
    torch.manual_seed(0)
    model = models.MPDBM(visible=4, hidden=(300, 200), classes=10, visible_mean=mean)
    # with no input from h1, each unobserved pixel's mean-field value is its mean (clamped away from 0 and 1)
    assert torch.allclose(torch.sigmoid(model.b_v), mean.clamp(0.01, 0.99), atol=1e-6)
    assert model.w2.std().item() == pytest.approx((2 / (300 + 200)) ** 0.5, rel=0.05)
    assert "visible biases from the pixel means" in repr(model)  # the checkpoint key sees the initialization
    assert repr(models.MPDBM(visible=4, hidden=(3, 2), init_scale=0.01)) != repr(models.MPDBM(visible=4, hidden=(3, 2)))


def test_an_mpdbm_trained_briefly_on_mnist_classifies(mnist):
    """On real digits (10,000 training images, 3 epochs, the zoo's recipe on a smaller model) the label inferred by
    mean-field inference beats chance by far (66% measured): the initialization and recipe let the label's signal
    form (from weights of std 0.01 it stayed at chance)."""
    from quanos_lib import evaluation, training, zoo
    train = mnist.train.subset(10000)
    training.seed_everything(0)
    model = models.MPDBM(hidden=(100, 200), steps=5, visible_mean=train.float().x.flatten(1).mean(0))
    training.train(model, train, training.TrainConfig(epochs=3, **zoo.MPDBM_RECIPE), progress=False)
    assert evaluation.accuracy(model, mnist.test.subset(1000)) > 0.5
