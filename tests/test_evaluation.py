import pytest
import torch

from quanos_lib import attacks, data, evaluation, models


def test_summarize_error_and_confidence():
    probs = torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])
    y = torch.tensor([0, 0, 0])
    summary = evaluation.summarize(probs, y)
    assert abs(summary["error"] - 1 / 3) < 1e-6
    assert abs(summary["confidence"] - (0.9 + 0.7 + 0.6) / 3) < 1e-6
    assert abs(summary["confidence_on_errors"] - 0.7) < 1e-6


def test_targeted_success_rates_on_a_linear_model():
    torch.manual_seed(0)
    model = models.SoftmaxRegression(in_features=16, classes=3)
    with torch.no_grad():
        model.linear.weight.normal_()
    samples = torch.randn(200, 1, 4, 4)
    untouched = evaluation.targeted_success_rates(model, samples, 3, 0.0)
    assert sum(untouched) == pytest.approx(1.0)  # eps = 0: just the share predicted as each class
    stepped = evaluation.targeted_success_rates(model, samples, 3, 2.0)
    assert all(after > before for after, before in zip(stepped, untouched))  # each step moves toward its class
    for c in range(3):  # ... and is exactly one targeted FGSM step, unclipped
        x_c = attacks.fgsm(model, samples, torch.full((200,), c), 2.0, targeted=True, clip=None)
        assert stepped[c] == pytest.approx((model(x_c).argmax(1) == c).float().mean().item())
    assert model.training  # mode restored


def test_gradient_masking_checks_flag_each_symptom():
    fgsm = {0.0: 0.9, 0.1: 0.5, 0.3: 0.3}
    honest = evaluation.gradient_masking_checks(fgsm, {0.0: 0.9, 0.1: 0.2, 0.3: 0.0}, {0.1: 0.6}, chance=0.1)
    assert all(honest.values())
    masked = evaluation.gradient_masking_checks(fgsm, {0.0: 0.9, 0.1: 0.6, 0.3: 0.7}, {0.1: 0.4}, chance=0.1)
    assert not any(check for name, check in masked.items() if name != "fgsm_monotone_in_eps")
    overshoot = evaluation.gradient_masking_checks({0.0: 0.9, 0.1: 0.1, 0.3: 0.2}, {0.0: 0.9, 0.1: 0.0, 0.3: 0.0},
                                                {0.1: 0.5}, chance=0.1)
    assert not overshoot["fgsm_monotone_in_eps"]  # FGSM's rise alone is no masking:
    assert all(overshoot[name] for name in evaluation.MASKING_CHECKS) and len(evaluation.MASKING_CHECKS) == len(overshoot) - 1


def test_outputs_along_the_fgsm_direction_are_exactly_linear_for_a_linear_model():
    torch.manual_seed(0)
    model = models.SoftmaxRegression(in_features=16, classes=3)
    eps = torch.linspace(-15, 15, 31)
    outputs = evaluation.outputs_along_fgsm_direction(model, torch.rand(1, 1, 4, 4), torch.tensor([1]), eps)
    assert outputs.shape == (31, 3)
    assert min(evaluation.linearity_r2(eps, outputs)) > 0.999999
    relu_outputs = torch.relu(outputs)  # piecewise linear with a kink: a straight line no longer explains it all
    assert min(evaluation.linearity_r2(eps, relu_outputs)) < 0.99


def test_rubbish_report_and_concentration():
    class Fixed(torch.nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.logits = logits
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return self.logits[: len(x)]

    logits = torch.tensor([[5.0, 0.0], [0.0, 0.0], [0.0, 3.0]])
    report = evaluation.rubbish_report(Fixed(logits), torch.zeros(3, 1))
    assert report["error"] == pytest.approx(2 / 3)
    assert report["confidence"] == pytest.approx((torch.sigmoid(torch.tensor(5.0)) + torch.sigmoid(torch.tensor(3.0))).item() / 2)
    assert evaluation.weight_concentration(torch.tensor([[1.0] + [0.0] * 9]), top=0.1) == pytest.approx(1.0)
    assert evaluation.weight_concentration(torch.ones(2, 10), top=0.1) == pytest.approx(0.1)


def test_rubbish_classes_are_the_shares_of_the_fooled_samples():
    model = models.SoftmaxRegression(in_features=2, classes=3)
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([[10.0, 0.0], [0.0, 10.0], [0.0, 0.0]]))
        model.linear.bias.zero_()
    samples = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 0.0]]).reshape(4, 1, 1, 2)
    assert evaluation.rubbish_classes(model, samples, 3) == pytest.approx([2 / 3, 1 / 3, 0.0])


class Lookup(torch.nn.Module):
    """A classifier whose prediction for input ``i`` (a one-pixel image holding i) is ``classes[i]``."""

    def __init__(self, classes, count=3):
        super().__init__()
        self.logits = 5 * torch.nn.functional.one_hot(torch.tensor(classes), count).float()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.logits[x.flatten(1)[:, 0].long()] + 0 * self.dummy


def test_agreement_on_errors_is_conditioned_on_the_source_models_mistakes():
    split = data.Split(torch.arange(4.0).reshape(4, 1, 1, 1), torch.zeros(4, dtype=torch.long))
    source = Lookup([1, 2, 0, 1])  # wrong on examples 0, 1 and 3, with classes 1, 2, 1
    others = {"a": Lookup([1, 0, 0, 2]), "b": Lookup([1, 0, 1, 1])}
    report = evaluation.agreement_on_errors(source, others, split, eps=0.0)  # eps 0: the images themselves
    assert report == {"a_misclassified": pytest.approx(2 / 3), "a_same_class": pytest.approx(1 / 3),
                      "b_misclassified": pytest.approx(2 / 3), "b_same_class": pytest.approx(2 / 3),
                      "a_b_agreement": pytest.approx(2 / 3)}


def test_robustness_table_transfer_and_curves_on_a_model_whose_accuracy_is_known():
    split = data.Split(torch.arange(4.0).reshape(4, 1, 1, 1), torch.tensor([1, 2, 2, 1]))
    model = Lookup([1, 2, 0, 1])  # right on 3 of 4
    table = evaluation.robustness_table({"m": model}, split, {"FGSM 0": (attacks.fgsm, 0.0, {})},
                                        transfer={"given": split.x[[1, 1, 2, 3]]})
    assert table.loc["m"].to_dict() == {"clean": 0.75, "FGSM 0": 0.75, "given": 0.5}
    assert evaluation.accuracy_curve(model, split, attacks.pgd, [0.0]) == {0.0: 0.75}
    assert evaluation.transfer_error(model, model, split, 0.0) == 0.25


def test_linearity_along_fgsm_finds_where_the_true_class_wins():
    torch.manual_seed(0)
    model = models.SoftmaxRegression(in_features=16, classes=3)
    x, y = torch.rand(1, 1, 4, 4), torch.tensor([1])
    eps = torch.linspace(-15, 15, 61)
    report = evaluation.linearity_along_fgsm(model, x, y, eps)
    wins = eps[report["outputs"].argmax(1) == 1]
    assert report["band"] == (float(wins.min()), float(wins.max()))
    assert report["band"][0] <= 0 <= report["band"][1] or model(x).argmax(1).item() != 1
    assert min(report["r2_right"]) > 0.999999 and min(report["r2_left"]) > 0.999999


def test_robustness_area_is_the_mean_accuracy_over_the_eps_range():
    curve = {0.0: 1.0, 0.5: 0.5, 1.0: 0.0, 2.0: 0.0}
    assert evaluation.robustness_area(curve, 1.0) == 0.5
    assert abs(evaluation.robustness_area(curve, 2.0) - 0.25) < 1e-12
    assert evaluation.robustness_area({0.0: 0.7, 0.1: 0.7}, 0.1) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="must include"):
        evaluation.robustness_area({0.1: 1.0, 0.5: 0.5}, 0.5)
    with pytest.raises(ValueError, match="must include"):
        evaluation.robustness_area(curve, 0.75)


def test_validation_error_at_caps_is_the_best_error_early_stopping_would_have_kept():
    history = {"val_error": [0.5, 0.3, 0.4, 0.2, 0.25], "config": {"epochs": 8}}
    assert evaluation.validation_error_at_caps(history) == {1: 0.5, 2: 0.3, 4: 0.2, 8: 0.2}
    assert evaluation.validation_error_at_caps(history, [3]) == {3: 0.3}


def test_attack_suite_and_masking_report_pass_the_clipping_on():
    suite = evaluation.attack_suite([0.25], pgd_steps=3, clip=None)
    assert all(kwargs["clip"] is None for _, _, kwargs in suite.values())
    split = data.Split(torch.full((4, 1, 1, 1), 0.9), torch.tensor([0, 0, 1, 1]))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(1, 2))
    with torch.no_grad():  # logits (1.1, x): class 1 only beyond x = 1.1, outside the pixel range
        model[1].weight.copy_(torch.tensor([[0.0], [1.0]]))
        model[1].bias.copy_(torch.tensor([1.1, 0.0]))
    unclipped, _ = evaluation.masking_report(model, split, [0.0, 0.5], {}, 0.5, pgd_steps=2, clip=None)
    clipped, _ = evaluation.masking_report(model, split, [0.0, 0.5], {}, 0.5, pgd_steps=2)
    assert unclipped["FGSM"] == {0.0: 0.5, 0.5: 0.0} and unclipped["PGD-2"][0.5] == 0.0  # pushed past 1.1
    assert clipped["FGSM"] == {0.0: 0.5, 0.5: 0.5} and clipped["PGD-2"][0.5] == 0.5      # stopped at 1.0


def test_loss_gradient_size_is_the_analytic_gradient_of_a_linear_model():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2, 2))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.zero_()
    split = data.Split(torch.tensor([[[[1.0, 2.0]]], [[[3.0, 4.0]]]]), torch.tensor([0, 0]))
    # Uniform softmax: dJ/dW = mean over examples of (p - onehot) x^T = [[-0.5], [0.5]] * mean(x) = (2, 3)
    size = evaluation.loss_gradient_size(model, split, model[1].weight)
    assert size == pytest.approx({"mean": (1 + 1.5 + 1 + 1.5) / 4, "max": 1.5})
    assert model[1].weight.grad is None


def test_the_inputs_along_the_fgsm_direction_step_by_eps_times_the_gradients_sign():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    x, y = torch.rand(1, 1, 4, 4), torch.tensor([1])
    images = evaluation.images_along_fgsm_direction(model, x, y, [-2.0, 0.0, 0.5])
    sign = torch.sign(attacks._loss_gradient(model, x, y))
    assert torch.equal(images[1:2], x)
    assert torch.allclose(images[0:1], x - 2 * sign) and torch.allclose(images[2:3], x + 0.5 * sign)
