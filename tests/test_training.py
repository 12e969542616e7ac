import pytest
import torch
import torch.nn.functional as F

from quanos_lib import attacks, data, evaluation, models, training


def _toy_split(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 4, 4, generator=g)
    y = (x.flatten(1)[:, :8].sum(1) > x.flatten(1)[:, 8:].sum(1)).long()  # linearly separable
    return data.Split(x, y)


def test_closed_form_adversarial_logistic_loss_equals_loss_at_fgsm_point():
    torch.manual_seed(0)
    model = models.LogisticRegression(in_features=16)
    split = _toy_split()
    eps = 0.25
    y_pm = (2 * split.y - 1).float()
    w = model.linear.weight
    closed_form = F.softplus(-y_pm * model.score(split.x) + eps * w.abs().sum()).mean()
    x_adv = attacks.fgsm(model, split.x, split.y, eps, clip=None)
    assert torch.allclose(F.cross_entropy(model(x_adv), split.y), closed_form, atol=1e-5)
    # ... and the training objective with alpha = 0 and no clipping is that loss.
    config = training.TrainConfig(epochs=1, adv_alpha=0.0, adv_eps=eps, adv_clip=None)
    loss, _ = training._objective(model, split.x, split.y, config)
    assert torch.allclose(loss, closed_form, atol=1e-5)


def test_adversarial_objective_mixes_clean_and_fgsm_losses(tiny_mlp):
    split = data.Split(torch.rand(16, 1, 4, 4), torch.randint(0, 3, (16,)))
    tiny_mlp.eval()  # no dropout, so the two evaluations below are deterministic
    config = training.TrainConfig(epochs=1, adv_alpha=0.3, adv_eps=0.1)
    x_adv = attacks.fgsm(tiny_mlp, split.x, split.y, 0.1)
    expected = 0.3 * F.cross_entropy(tiny_mlp(split.x), split.y) + 0.7 * F.cross_entropy(tiny_mlp(x_adv), split.y)
    loss, _ = training._objective(tiny_mlp, split.x, split.y, config)
    assert torch.allclose(loss, expected, atol=1e-6)


def test_l1_penalty_is_added_on_the_first_layer_only(tiny_mlp):
    split = data.Split(torch.rand(16, 1, 4, 4), torch.randint(0, 3, (16,)))
    tiny_mlp.eval()
    plain, _ = training._objective(tiny_mlp, split.x, split.y, training.TrainConfig(epochs=1))
    penalized, _ = training._objective(tiny_mlp, split.x, split.y, training.TrainConfig(epochs=1, l1=0.01))
    assert torch.allclose(penalized - plain, 0.01 * tiny_mlp[1].weight.abs().sum(), atol=1e-6)


def test_same_seed_gives_identical_weights_and_other_seed_does_not():
    def fit(seed):
        training.seed_everything(seed)
        model = models.SoftmaxRegression(in_features=16, classes=2)
        training.train(model, _toy_split(), training.TrainConfig(epochs=3, batch_size=10, seed=seed), progress=False)
        return model.linear.weight.detach().clone()

    assert torch.equal(fit(0), fit(0))
    assert not torch.equal(fit(0), fit(1))


def test_max_col_norm_is_enforced_after_every_step():
    training.seed_everything(0)
    model = models.SoftmaxRegression(in_features=16, classes=2)
    training.train(model, _toy_split(), training.TrainConfig(epochs=2, lr=5.0, max_col_norm=0.5), progress=False)
    assert model.linear.weight.norm(dim=1).max() <= 0.5 + 1e-5


def _pylearn2_linear_decay(count, start, saturate, decay_factor, init_lr):
    """pylearn2's LinearDecayOverEpoch.current_lr (training_algorithms/sgd.py), ``count`` epochs finished."""
    step = (init_lr - init_lr * decay_factor) / (saturate - start + 1)
    if count >= start:
        return init_lr - step * (count - start + 1) if count < saturate else init_lr * decay_factor
    return init_lr


def _pylearn2_momentum(count, start, saturate, init_momentum, final_momentum):
    """pylearn2's MomentumAdjustor.current_momentum (training_algorithms/learning_rule.py)."""
    w = saturate - start
    if w == 0:
        return final_momentum if count >= start else init_momentum
    alpha = min(max(float(count - start) / float(w), 0.0), 1.0)
    return init_momentum * (1 - alpha) + alpha * final_momentum


def test_linear_decay_is_pylearn2s_and_reaches_its_final_rate_in_the_last_epoch_of_its_span():
    for span in (2, 3, 5, 20, 501):  # 501: the maxout paper's cifar10.yaml, saturate 500
        config = training.TrainConfig(epochs=span, lr=0.17, lr_linear_final=0.01, lr_linear_epochs=span)
        rates = [training.learning_rate(config, 0, epoch) for epoch in range(span + 3)]
        assert rates == pytest.approx([_pylearn2_linear_decay(c, 1, span - 1, 0.01, 0.17) for c in range(span + 3)])
        assert rates[0] == 0.17 and rates[span - 1] == pytest.approx(0.0017) and rates[-1] == pytest.approx(0.0017)
    # ... and a real run of 5 epochs takes its last one at 1% of the base rate
    training.seed_everything(0)
    history = training.train(models.SoftmaxRegression(in_features=16, classes=2), _toy_split(),
                             training.TrainConfig(epochs=5, batch_size=50, lr=0.1, lr_linear_final=0.01,
                                                  lr_linear_epochs=5), progress=False)
    assert history["lr"] == pytest.approx([0.1, 0.07525, 0.0505, 0.02575, 0.001])


def test_momentum_ramp_is_pylearn2s_momentum_adjustor():
    for reached in (2, 3, 5, 251):  # 251: the maxout paper's mnist_pi.yaml, start 1, saturate 250
        config = training.TrainConfig(epochs=1, momentum=0.5, momentum_final=0.7, momentum_epochs=reached)
        ours = [training.momentum(config, epoch) for epoch in range(reached + 3)]
        assert ours == pytest.approx([_pylearn2_momentum(c, 1, reached - 1, 0.5, 0.7) for c in range(reached + 3)])
        assert ours[reached - 1] == pytest.approx(0.7) and ours[reached - 2] < 0.7
    training.seed_everything(0)
    config = training.TrainConfig(epochs=5, batch_size=50, lr=0.1, lr_decay=1.01, lr_min=0.095,
                                  momentum=0.5, momentum_final=0.7, momentum_epochs=4)
    history = training.train(models.SoftmaxRegression(in_features=16, classes=2), _toy_split(), config, progress=False)
    assert history["momentum"] == pytest.approx([0.5, 0.5, 0.6, 0.7, 0.7])
    assert history["lr"][0] < 0.1 and history["lr"][-1] == 0.095


def test_continued_phase_resumes_the_schedules_where_the_kept_epoch_left_them():
    config = training.TrainConfig(epochs=300, lr=0.1, lr_decay=1.000004, lr_min=1e-6, momentum=0.5,
                                  momentum_final=0.7, momentum_epochs=251, patience=100, continue_epochs=50)
    history = {"best_epoch": 242, "best_step": 243 * 500}  # mnist_pi.yaml's first run: kept after 243 epochs
    continued = training.continued_config(config, history)
    # mnist_pi_continued.yaml starts at exactly these values
    assert continued.lr == pytest.approx(0.0615082606673, rel=1e-6)
    assert continued.momentum == pytest.approx(0.694376766682, rel=2e-6) and continued.momentum_final is None  # float32
    assert continued.lr_decay == config.lr_decay and continued.patience is None and continued.continue_epochs == 0


def test_continued_phase_stops_when_the_validation_objective_reaches_the_kept_training_objective():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(400, 1, 4, 4, generator=g)
    split = data.Split(x, (x.flatten(1)[:, :8].sum(1) > x.flatten(1)[:, 8:].sum(1)).long())
    train, val = split.holdout(100)
    config = training.TrainConfig(epochs=4, batch_size=50, lr=0.5, continue_epochs=30)
    model, history = training.trained_model("continued", lambda: models.SoftmaxRegression(16, 2), train, config,
                                            val_split=val, progress=False)
    target, measured = history["best_train_objective"], history["continued"]["match_objective"]
    assert len(measured) < 30 and measured[-1] <= target < min(measured[:-1], default=float("inf"))
    # the target is the objective of the kept weights on the training images, as the monitor measures it
    assert measured[-1] == pytest.approx(training.monitored_objective(model, val, config))


def test_measuring_the_monitored_objective_leaves_the_random_stream_as_it_was(tiny_mlp):
    split = data.Split(torch.rand(64, 1, 4, 4), torch.randint(0, 3, (64,)))
    config = training.TrainConfig(epochs=1)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    first = training.monitored_objective(tiny_mlp, split, config)  # dropout on: it draws masks ...
    assert torch.equal(torch.rand(3), expected)  # ... from a fork of the generator
    assert first != training.monitored_objective(tiny_mlp.eval(), split, config) and not tiny_mlp.training


def test_early_stopping_keeps_the_best_epoch():
    training.seed_everything(0)
    model = models.SoftmaxRegression(in_features=16, classes=2)
    config = training.TrainConfig(epochs=30, batch_size=20, lr=0.5, patience=2)
    val = _toy_split(seed=1)
    history = training.train(model, _toy_split(), config, val_split=val, progress=False)
    assert len(history["val_error"]) <= history["best_epoch"] + 1 + 2
    final = evaluation.evaluate(model, val)["error"]
    assert final == min(history["val_error"])


def test_softmax_regression_learns_real_mnist(mnist_small):
    config = training.TrainConfig(epochs=2, lr=0.1, momentum=0.5)
    model, history = training.trained_model("softmax_test", models.SoftmaxRegression, mnist_small.train, config,
                                            progress=False)
    assert evaluation.evaluate(model, mnist_small.test)["error"] < 0.15
    assert history["loss"][1] < history["loss"][0]


def test_a_trained_model_records_what_trained_it_and_is_read_back_from_the_cache(monkeypatch):
    split = data.Split(torch.rand(64, 1, 4, 4), torch.randint(0, 2, (64,)))
    config = training.TrainConfig(epochs=1, batch_size=16)
    build = lambda: models.SoftmaxRegression(16, 2)
    _, history = training.trained_model("recorded", build, split, config, progress=False)
    assert history["trained_on"] == training.trained_on()  # the key names neither processor nor threads
    assert history["trained_on"]["device"] == training.device_name() and "cpu" in history["trained_on"]
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("read from the cache, not retrained"))
    _, again = training.trained_model("recorded", build, split, config, progress=False)  # loads weights_only
    assert again["trained_on"] == history["trained_on"]


def test_pgd_training_perturbs_inside_the_ball_with_a_new_random_start_per_batch(tiny_mlp):
    split = data.Split(torch.rand(32, 1, 4, 4), torch.randint(0, 3, (32,)))
    config = training.TrainConfig(epochs=1, adv_alpha=0.0, adv_eps=0.1, adv_kind="pgd", adv_steps=5)
    training.seed_everything(0)
    first, second = (training.perturb(tiny_mlp, split.x, split.y, config) for _ in range(2))
    for x_adv in (first, second):
        assert (x_adv - split.x).abs().max() <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    assert not torch.equal(first, second)  # a new random start, drawn from the seeded generator
    training.seed_everything(0)
    assert torch.equal(training.perturb(tiny_mlp, split.x, split.y, config), first)  # ... deterministically
    clean = F.cross_entropy(tiny_mlp.eval()(split.x), split.y)
    assert F.cross_entropy(tiny_mlp(first), split.y) > clean  # it climbs the loss


def test_adversarial_early_stopping_can_measure_the_validation_error_under_pgd():
    training.seed_everything(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    split = _toy_split()
    training.train(model, split, training.TrainConfig(epochs=20, batch_size=20, lr=0.5), progress=False)
    config = training.TrainConfig(epochs=1, val_adv_eps=0.1, val_adv_kind="pgd", adv_steps=5, seed=3)
    error, _ = training._validate(model, split, config)
    x_pgd = attacks.pgd(model, split.x, split.y, 0.1, steps=5, seed=3, stop_when_fooled=True)
    assert error == evaluation.evaluate(model, data.Split(x_pgd, split.y))["error"]
    fgsm_error, _ = training._validate(model, split, training.TrainConfig(epochs=1, val_adv_eps=0.1))
    assert error > fgsm_error > training._validate(model, split, training.TrainConfig(epochs=1))[0]  # PGD > FGSM > clean
    try:
        training._validate(model, split, training.TrainConfig(epochs=1, val_adv_eps=0.1, val_adv_kind="cw"))
    except ValueError as error:
        assert "val_adv_kind" in str(error)
    else:
        raise AssertionError("an unknown validation attack must be refused")


def test_the_papers_adversarial_objective_perturbs_every_pixel_by_eps_unclipped(tiny_mlp):
    """The FGSM paper's training objective (zoo's adversarial variant) moves each pixel by exactly +-eps, leaving
    [0, 1] where the image is already at its edge; our clipped default stays inside."""
    from quanos_lib import paper, zoo
    x = torch.cat([torch.zeros(8, 1, 4, 4), torch.ones(8, 1, 4, 4)])
    y = torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(0))
    config = training.TrainConfig(epochs=1, **zoo.MAXOUT_VARIANTS["adversarial"])
    assert config.adv_clip is paper.FGSM_CLIP is None and config.adv_eps == paper.FGSM_EPS_MNIST
    moved = training.perturb(tiny_mlp, x, y, config) - x
    gradient_is_zero = attacks._loss_gradient(tiny_mlp, x, y) == 0
    assert torch.allclose(moved.abs()[~gradient_is_zero], torch.tensor(0.25))
    assert (moved[:8] < 0).any() and (moved[8:] > 0).any()  # below 0 and above 1: unclipped
    clipped = training.perturb(tiny_mlp, x, y, training.TrainConfig(epochs=1, adv_alpha=0.5, adv_eps=0.25))
    assert clipped.min() >= 0 and clipped.max() <= 1
    for kind in ("sign_noise", "uniform_noise"):
        noisy = training.perturb(tiny_mlp, x, y, training.TrainConfig(epochs=1, **zoo.MAXOUT_VARIANTS[kind]))
        assert noisy.min() < 0 and noisy.max() > 1 and (noisy - x).abs().max() <= 0.25 + 1e-6


def test_every_mnist_model_validates_on_the_last_10k_training_images(mnist):
    from quanos_lib import zoo
    train, val = zoo.train_and_validation(mnist.train)
    assert (len(train), len(val)) == (50000, 10000) and torch.equal(val.y, mnist.train.y[-10000:])


def test_the_quanos_experiments_choose_on_a_validation_split_carved_from_the_training_images():
    from quanos_lib import profiles, zoo
    scale = profiles.get("cpu")["vgg"]
    x = torch.arange(1000, dtype=torch.uint8).reshape(1000, 1, 1, 1) % 251
    cifar = data.Dataset("cifar10", data.Split(x, torch.arange(1000)), data.Split(x[:10], torch.arange(10)), list(range(10)),
                         {})
    splits = zoo.vgg_splits(cifar, dict(scale, finetune_size=400))
    assert torch.equal(splits.validation.y, torch.arange(900, 1000))  # the last tenth: never trained on
    assert torch.equal(splits.train.y, torch.arange(900)) and splits.validation.x.is_floating_point()
    assert len(splits.finetune) == 400 and set(splits.finetune.y.tolist()) <= set(range(900))
    assert torch.equal(zoo.vgg_splits(cifar, dict(scale, finetune_size=400)).finetune.y, splits.finetune.y)  # fixed


def test_q7s_adversarial_training_objective_mixes_the_clean_loss_with_the_loss_at_a_pgd_point(tiny_mlp):
    """The objective of zoo.finetune_config(adversarial=True) is alpha * J(x) + (1 - alpha) * J(x_pgd), x_pgd being
    Madry's PGD (its steps, a random start drawn from the seeded generator, eps) and not one FGSM step."""
    from quanos_lib import profiles, zoo
    scale = profiles.get("cpu")["vgg"]
    config = zoo.finetune_config(scale, adversarial=True, seed=2)
    assert config.epochs == scale["adv_epochs"] and config.patience is None  # the same budget for every model
    x, y = torch.rand(32, 1, 4, 4, generator=torch.Generator().manual_seed(3)), torch.randint(0, 3, (32,))
    tiny_mlp.eval()  # no dropout: the forward passes below are deterministic
    with torch.no_grad():  # curved enough within 8/255 that PGD's iterates leave FGSM's corner
        tiny_mlp[1].weight.mul_(60)
    torch.manual_seed(7)
    loss, _ = training._objective(tiny_mlp, x, y, config)
    torch.manual_seed(7)
    start = int(torch.randint(2 ** 31 - 1, ()))  # the start's seed, drawn as perturb draws it
    x_pgd = attacks.pgd(tiny_mlp, x, y, 8 / 255, steps=scale["adv_steps"], clip=(0.0, 1.0), seed=start)
    clean = F.cross_entropy(tiny_mlp(x), y)
    assert torch.allclose(loss, 0.5 * clean + 0.5 * F.cross_entropy(tiny_mlp(x_pgd), y), atol=1e-6)
    x_fgsm = attacks.fgsm(tiny_mlp, x, y, 8 / 255)
    assert not torch.allclose(loss, 0.5 * clean + 0.5 * F.cross_entropy(tiny_mlp(x_fgsm), y), atol=1e-6)
    # ... and it early-stops on the validation error under that PGD attack
    error, _ = training._validate(tiny_mlp, data.Split(x, y), config)
    x_val = attacks.pgd(tiny_mlp, x, y, 8 / 255, steps=scale["adv_steps"], seed=2, stop_when_fooled=True)
    assert error == evaluation.evaluate(tiny_mlp, data.Split(x_val, y))["error"]


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("case", ["maxout, FGSM objective, schedules, max-norm", "conv maxout, uint8, augmented",
                                  "VGG-19, PGD objective, linear decay"])
def test_the_sync_free_loop_gives_bitwise_the_weights_and_history_of_the_loop_before_it(case):
    """tests/reference_training.py is the loop as it was (two host reads per step, batches gathered on the CPU); the
    loop of today keeps the split, the running loss and the error on the device and must not move a single bit."""
    import reference_training
    from quanos_lib import zoo
    g = torch.Generator().manual_seed(0)
    if case.startswith("maxout"):
        x, y = torch.rand(500, 1, 28, 28, generator=g), torch.randint(0, 10, (500,), generator=g)
        build = lambda: models.MaxoutMLP(units=20)  # noqa: E731
        config = training.TrainConfig(epochs=3, patience=2, seed=1, l1=0.001,
                                      **{**zoo.MAXOUT_RECIPE, "momentum_epochs": 3}, **zoo.MAXOUT_VARIANTS["adversarial"])
    elif case.startswith("conv"):
        x, y = torch.randint(0, 256, (96, 3, 32, 32), dtype=torch.uint8, generator=g), torch.randint(0, 10, (96,), generator=g)
        build = lambda: models.ConvMaxoutNet(width=0.1, init_range=None)  # noqa: E731
        config = training.TrainConfig(epochs=2, **{**zoo.CONV_MAXOUT_RECIPE, "batch_size": 32, "lr": 0.05},
                                      lr_linear_epochs=2, momentum_epochs=2)
    else:
        x, y = torch.rand(96, 3, 32, 32, generator=g), torch.randint(0, 10, (96,), generator=g)
        build = lambda: models.VGG19(width=0.05)  # noqa: E731
        config = training.TrainConfig(epochs=2, lr_linear_epochs=2, adv_alpha=0.5, adv_kind="pgd", adv_steps=2,
                                      adv_eps=8 / 255, **{**zoo.FINETUNE_RECIPE, "batch_size": 32})
    split, val = data.Split(x[:-32], y[:-32]), data.Split(x[-32:], y[-32:])
    found = []
    for loop in (training.train, reference_training.train):
        training.seed_everything(config.seed)
        model = build()
        history = loop(model, split, config, val_split=val, progress=False)
        found.append((_weights(model), {k: v for k, v in history.items() if k != "snapshots"}))
    (today, today_history), (before, before_history) = found
    assert torch.equal(today, before) and today_history == before_history


def test_tf32_is_off_unless_the_configuration_asks_for_it_and_then_the_key_says_so():
    training.seed_everything(0)
    model = models.SoftmaxRegression(in_features=16, classes=2)
    training.train(model, _toy_split(), training.TrainConfig(epochs=1), progress=False)
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert "allow_tf32" not in training.TrainConfig(epochs=1).changes()  # the fp32 keys of today do not move
    assert training.TrainConfig(epochs=1, allow_tf32=True).changes()["allow_tf32"] is True
    training.train(model, _toy_split(), training.TrainConfig(epochs=1, allow_tf32=True), progress=False)
    assert torch.backends.cuda.matmul.allow_tf32
    training.train(model, _toy_split(), training.TrainConfig(epochs=1), progress=False)
    assert not torch.backends.cuda.matmul.allow_tf32


def test_a_compiled_step_trains_as_the_eager_step_does_and_its_key_says_it_was_compiled():
    """torch.compile's step (inductor on a CPU; CUDA graphs on a GPU) is not bitwise the eager one, so it has its own
    checkpoint key, but it must train the same model: the same weights up to float reassociation without dropout,
    and with dropout a net that still learns (its masks drawn fresh each step, not frozen into the graph)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(256, 1, 28, 28, generator=g)
    y = (x.flatten(1)[:, :392].mean(1) > x.flatten(1)[:, 392:].mean(1)).long()  # learnable: which half is brighter
    split = data.Split(x, y)
    assert "compile_step" not in training.TrainConfig(epochs=1).changes()
    assert training.TrainConfig(epochs=1, compile_step=True).changes()["compile_step"] is True
    found = []
    for compiled in (False, True):
        training.seed_everything(0)
        model = models.SoftmaxRegression(classes=2)
        training.train(model, split, training.TrainConfig(epochs=3, batch_size=32, lr=0.5, compile_step=compiled),
                       progress=False)
        found.append(_weights(model))
    eager, compiled = found
    assert not torch.equal(eager, torch.zeros_like(eager)) and torch.allclose(eager, compiled, atol=1e-5)
    y = torch.randint(0, 2, (256,), generator=g)
    x = torch.rand(256, 1, 28, 28, generator=g) * 0.5
    x[:, :, :14] += 0.5 * y[:, None, None, None]  # class 1: its top half brighter
    split = data.Split(x, y)
    training.seed_everything(0)
    dropout_net = models.MaxoutMLP(units=16, pieces=2, classes=2, init_range=0.05)
    stepped = training._compiled_model(dropout_net)
    assert isinstance(stepped, torch._dynamo.eval_frame.OptimizedModule)
    dropout_net.train()
    assert not torch.equal(stepped(x[:8]), stepped(x[:8]))  # fresh dropout masks on every call of the graph
    before = evaluation.evaluate(dropout_net, split)["error"]
    training.train(dropout_net, split, training.TrainConfig(epochs=6, batch_size=32, lr=0.1, momentum=0.5,
                                                            compile_step=True), progress=False)
    assert evaluation.evaluate(dropout_net, split)["error"] < 0.05 and before > 0.2


def test_every_compared_model_trains_one_budget_to_its_end_and_keeps_its_best_validation_epoch():
    """QUANOS's comparisons (zoo.finetune_config): one rule for every model and seed, no early stop inside the budget,
    and the kept weights are those of the epoch of lowest validation error, wherever it falls in the budget."""
    from quanos_lib import profiles, zoo
    for profile in profiles.PROFILES:
        scale = profiles.SCALES[profile]["vgg"]
        for adversarial, budget in ((False, scale["quanos_epochs"]), (True, scale["adv_epochs"])):
            rules = [zoo.finetune_config(scale, adversarial=adversarial, seed=s).asdict() for s in (0, 1)]
            assert rules[0]["epochs"] == budget and rules[0]["patience"] is None
            assert rules[0]["lr_linear_epochs"] == budget  # the rate reaches its end in the budget's last epoch
            assert {**rules[0], "seed": None} == {**rules[1], "seed": None}
    training.seed_everything(0)
    model = models.SoftmaxRegression(in_features=16, classes=2)
    config = training.TrainConfig(epochs=12, batch_size=20, lr=2.0, patience=None)  # a rate that overshoots
    val = _toy_split(seed=1)
    history = training.train(model, _toy_split(), config, val_split=val, progress=False)
    assert len(history["val_error"]) == 12  # the whole budget ran
    assert history["val_error"][history["best_epoch"]] == min(history["val_error"])
    assert evaluation.evaluate(model, val)["error"] == min(history["val_error"])
