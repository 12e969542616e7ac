import torch

from quanos_lib import attacks, autoattack, data, evaluation, training


def _trained_toy():
    """A small MLP trained on a separable toy problem, so that attacks have something to break."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(600, 1, 8, 8, generator=g)  # 8 x 8: ART's Square needs images larger than its first square
    y = (x.flatten(1)[:, :32].sum(1) > x.flatten(1)[:, 32:].sum(1)).long() + 2 * (x.flatten(1)[:, 0] > 0.5).long()
    training.seed_everything(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    training.train(model, data.Split(x, y), training.TrainConfig(epochs=30, batch_size=50, lr=0.5, momentum=0.5),
                   progress=False)
    return model, data.Split(x[:200], y[:200])


def test_autoattack_is_at_least_as_strong_as_our_pgd_and_stays_in_the_ball():
    model, split = _trained_toy()
    model.train()  # the attack must put it in eval mode and restore this
    x_before = split.x.clone()
    eps = 0.08
    found = autoattack.autoattack(model, split.x, split.y, eps, apgd_iterations=20, targets=2, square_queries=100)
    assert torch.equal(split.x, x_before) and model.training  # the caller's tensor and mode untouched
    assert (found - split.x).abs().max() <= eps + 1e-6 and found.min() >= 0 and found.max() <= 1
    robust = evaluation.accuracy(model, data.Split(found, split.y))
    pgd = evaluation.accuracy(model, evaluation.attacked(model, split, eps, attack=attacks.pgd, steps=10,
                                                         stop_when_fooled=True))
    assert robust <= pgd and robust < evaluation.accuracy(model, split)  # it fools images, at least as many as PGD
    again = autoattack.autoattack(model, split.x, split.y, eps, apgd_iterations=20, targets=2, square_queries=100)
    assert torch.equal(again, found)  # seeded
    assert torch.equal(autoattack.autoattack(model, split.x, split.y, 0.0), split.x)
