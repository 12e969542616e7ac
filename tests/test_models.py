import torch
import torch.nn.functional as F

from quanos_lib import models


def test_logistic_regression_cross_entropy_is_the_logistic_loss():
    torch.manual_seed(0)
    model = models.LogisticRegression(in_features=16)
    x, y = torch.rand(20, 1, 4, 4), torch.randint(0, 2, (20,))
    z = model.score(x)
    expected = F.softplus(-(2 * y - 1).float() * z)
    assert torch.allclose(F.cross_entropy(model(x), y, reduction="none"), expected, atol=1e-6)
    assert torch.allclose(F.softmax(model(x), 1)[:, 1], torch.sigmoid(z), atol=1e-6)


def test_softmax_regression_is_one_affine_map():
    model = models.SoftmaxRegression(in_features=16, classes=3)
    x = torch.rand(5, 1, 4, 4)
    assert torch.allclose(model(x), x.flatten(1) @ model.linear.weight.T + model.linear.bias)


def test_eval_mode_restores_every_submodules_own_mode():
    model = models.VGG19(width=0.05)
    model.train()
    model.features.bn1_1.eval()  # a frozen batch norm inside a training model
    with models.eval_mode(model):
        assert not any(m.training for m in model.modules())
    assert model.training and model.features.conv1_1.training and not model.features.bn1_1.training


def test_device_of_a_model_and_of_one_without_parameters():
    assert models.device(models.SoftmaxRegression(4, 2)) == torch.device("cpu")
    assert models.device(torch.nn.ReLU(), default="meta") == torch.device("meta")
    assert models.device(models.Normalize((0.5,), (0.5,))) == torch.device("cpu")  # buffers only


def test_reestimated_batch_norm_statistics_are_those_of_the_given_images():
    from quanos_lib import data
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3)).eval()
    x = torch.randn(1000, 1, 2, 2) * 3 + 1
    models.reestimate_batch_norm(model, data.Split(x, torch.zeros(1000, dtype=torch.long)), batch_size=100)
    features = model[1](x.flatten(1)).detach()
    assert torch.allclose(model[2].running_mean, features.mean(0), atol=1e-5)
    # torch's cumulative average of each batch's (unbiased) variance
    assert torch.allclose(model[2].running_var, torch.stack([f.var(0) for f in features.split(100)]).mean(0), atol=1e-5)
    assert not model.training and model[2].momentum == 0.1  # mode and momentum as they were


def test_rbf_network_with_one_precision_per_class_is_isotropic():
    rbf = models.RBFNetwork(in_features=4, classes=2, precision="scalar")
    with torch.no_grad():
        rbf.prototypes.copy_(torch.tensor([[0.0, 0, 0, 0], [1, 1, 1, 1]]))
        rbf.log_beta.copy_(torch.log(torch.tensor([[2.0], [0.5]])))
    x = torch.tensor([[1.0, 0, 0, 0]])
    assert torch.allclose(rbf(x), torch.tensor([[-2.0 * 1, -0.5 * 3]]))  # -beta_i * ||x - w_i||^2
    assert rbf.log_beta.shape == (2, 1) and "precision=scalar" in repr(rbf)
    assert models.RBFNetwork(in_features=4).log_beta.shape == (10, 4)
