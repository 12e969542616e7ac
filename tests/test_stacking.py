"""Stacked training (quanos_lib.stacking) against the same runs trained alone."""
import pytest
import torch

from quanos_lib import checkpoints, data, models, stacking, training, zoo


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.fixture
def digits():
    """A learnable task (class 1: the top half brighter), so that validation error moves and early stopping acts."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (600,), generator=g)
    x = torch.randint(0, 128, (600, 1, 28, 28), dtype=torch.uint8, generator=g)
    x[:, :, :14] += (127 * y).to(torch.uint8)[:, None, None, None]
    return data.Split(x[:480], y[:480]), data.Split(x[480:], y[480:])


def _configs(variant, seeds, **changes):
    return [training.TrainConfig(**{**zoo.MAXOUT_RECIPE, **zoo.MAXOUT_VARIANTS[variant], "epochs": 5, "patience": 2,
                                    "momentum_epochs": 4, "seed": s, **changes}) for s in seeds]


def _build(seed):
    training.seed_everything(seed)
    return models.MaxoutMLP(units=24, pieces=3, classes=2, init_range=0.05)


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


_ADVERSARIAL = {"adv_eps": 0.05, "val_adv_eps": 0.05, "lr": 0.3, "patience": 3}


@pytest.mark.parametrize("variant, changes", [("naive", {}), ("adversarial", {"l1": 1e-4, **_ADVERSARIAL}),
                                              ("adversarial", {"adv_dropout": True, **_ADVERSARIAL})])
def test_a_stacked_run_is_the_run_alone_up_to_rounding_far_below_the_seed_to_seed_spread(digits, variant, changes,
                                                                                          one_thread):
    """Measured: 4e-9 apart after 5 epochs (the batched kernels' rounding; each run draws its batches and dropout
    masks bitwise as alone), against 0.1 between two seeds; the histories (losses to 1e-7) and the kept epochs agree."""
    split, val = digits
    configs = _configs(variant, (0, 1, 2), **changes)
    alone = []
    for config in configs:
        model = _build(config.seed)
        alone.append((model, training.train(model, split, config, val_split=val, progress=False)))
    stacked = [_build(c.seed) for c in configs]
    histories = stacking.train_many(stacked, split, configs, val_split=val, progress=False)
    spread = (_weights(alone[0][0]) - _weights(alone[1][0])).abs().max()
    for (model, history), twin, twin_history in zip(alone, stacked, histories, strict=True):
        assert (_weights(model) - _weights(twin)).abs().max() < 1e-6 < spread / 1000
        assert twin_history["best_epoch"] == history["best_epoch"] and twin_history["val_error"] == history["val_error"]
        assert twin_history["lr"] == history["lr"] and twin_history["momentum"] == history["momentum"]
        assert twin_history["loss"] == pytest.approx(history["loss"], abs=1e-7)
    assert min(h["train_error"][-1] for h in histories) < 0.2  # it learned: the comparison is not of untrained nets


def test_a_stack_of_three_gives_each_run_bitwise_what_a_stack_of_one_gives_it_with_one_thread(digits, one_thread):
    """Bitwise with one CPU thread (measured; with two, a reduction may split differently across stack sizes)."""
    split, val = digits
    configs = _configs("naive", (0, 1, 2))
    three = [_build(c.seed) for c in configs]
    stacking.train_many(three, split, configs, val_split=val, progress=False)
    one = _build(1)
    stacking.train_many([one], split, configs[1:2], val_split=val, progress=False)
    assert torch.equal(_weights(three[1]), _weights(one))


def test_a_run_that_stops_leaves_the_stack_with_its_best_epoch_and_the_continued_rule_stops_each_run(digits):
    split, val = digits
    configs = _configs("naive", (0, 1), epochs=6)
    configs[0] = training.TrainConfig(**{**configs[0].asdict(), "patience": 1, "epochs": 6})
    runs = [_build(c.seed) for c in configs]
    histories = stacking.train_many(runs, split, configs, val_split=val, progress=False)
    alone = _build(0)
    history = training.train(alone, split, configs[0], val_split=val, progress=False)
    assert len(histories[0]["loss"]) == len(history["loss"]) < len(histories[1]["loss"]) == 6
    assert (_weights(alone) - _weights(runs[0])).abs().max() < 1e-6
    # the continued phase: each run until its own objective on the split reaches its own target
    targets = [(split, h["loss"][-1] * 1.5) for h in histories]
    continued = stacking.train_many(runs, split, configs, match=targets, epochs=4, progress=False)
    for h, (_, target) in zip(continued, targets, strict=True):
        assert h["match_objective"][-1] <= target or len(h["match_objective"]) == 4
        assert all(value > target for value in h["match_objective"][:-1])


def test_what_a_stack_cannot_share_is_refused_in_one_line(digits):
    split, _ = digits
    with pytest.raises(ValueError, match="one architecture"):
        stacking.train_many([_build(0), models.MaxoutMLP(units=8, classes=2)], split, _configs("naive", (0, 1)))
    with pytest.raises(ValueError, match="same batch_size"):
        stacking.train_many([_build(0), _build(1)], split, _configs("naive", (0,)) + _configs("naive", (1,),
                                                                                               batch_size=50))
    pgd = _configs("naive", (0,), adv_alpha=0.5, adv_kind="pgd", adv_eps=0.1)
    with pytest.raises(ValueError, match="naive objective and FGSM"):
        stacking.train_many([_build(0)], split, pgd)


def test_stacked_runs_train_with_their_continued_phase_into_their_own_checkpoints_and_are_read_back(digits,
                                                                                                   monkeypatch,
                                                                                                   tmp_path):
    monkeypatch.setenv("QUANOS_CACHE", str(tmp_path))
    split, val = digits
    configs = _configs("naive", (0, 1), epochs=3, continue_epochs=2)
    build = lambda: models.MaxoutMLP(units=24, pieces=3, classes=2, init_range=0.05)
    alone = training.trained_model("net", build, split, configs[0], val_split=val, progress=False)
    stacked_configs = [training.TrainConfig(**{**c.asdict(), "stacked": True}) for c in configs]
    stacked = stacking.trained_models("net", build, split, stacked_configs, val_split=val, progress=False)
    assert (_weights(alone[0]) - _weights(stacked[0][0])).abs().max() < 1e-6  # both phases, as alone
    twin = stacked[0][1]
    assert twin["best_train_objective"] == pytest.approx(alone[1]["best_train_objective"], abs=1e-6)
    assert twin["continued"]["match_objective"] == pytest.approx(alone[1]["continued"]["match_objective"], abs=1e-6)
    names = {history["checkpoint"] for _, history in stacked}
    assert len(names) == 2 and alone[1]["checkpoint"] not in names  # a key of their own: not bitwise the alone run
    monkeypatch.setattr(stacking, "train_many", lambda *a, **k: pytest.fail("read from the cache, not retrained"))
    again = stacking.trained_models("net", build, split, stacked_configs, val_split=val, progress=False)
    assert all(torch.equal(_weights(a), _weights(b)) for (a, _), (b, _) in zip(stacked, again, strict=True))


def test_every_run_keeps_its_own_settings_inside_the_stack(digits, one_thread):
    """Learning rate, momentum ramp from 0 (its buffer starts at the first non-zero momentum, as torch's SGD starts
    it), weight decay, L1, a max-norm that binds and a clipped FGSM point, different in each run."""
    split, val = digits
    shared = {"adv_eps": 0.05, "adv_clip": (0.0, 1.0), "val_adv_eps": 0.05, "max_col_norm": 0.3, "momentum": 0.0,
              "momentum_epochs": 3, "patience": None, "epochs": 4}
    configs = [training.TrainConfig(**{**c.asdict(), **changes}) for c, changes in zip(
        _configs("adversarial", (0, 1, 2), **shared),
        ({"lr": 0.3, "momentum_final": 0.6}, {"lr": 0.1, "weight_decay": 1e-3, "momentum_final": 0.9},
         {"lr": 0.2, "l1": 1e-4, "momentum_final": None}), strict=True)]
    stacked = [_build(c.seed) for c in configs]
    stacking.train_many(stacked, split, configs, val_split=val, progress=False)
    for config, twin in zip(configs, stacked, strict=True):
        model = _build(config.seed)
        training.train(model, split, config, val_split=val, progress=False)
        assert (_weights(model) - _weights(twin)).abs().max() < 1e-6
    norms = stacked[0].h0.linear.weight.detach().norm(dim=1)
    assert norms.max().item() == pytest.approx(0.3, abs=1e-6)  # the constraint bound: the comparison covers it


def test_a_stacked_run_killed_mid_way_resumes_to_bitwise_the_uninterrupted_run(digits, one_thread, monkeypatch,
                                                                               tmp_path):
    split, val = digits
    configs = _configs("naive", (0, 1), epochs=4, patience=None)
    whole = [_build(c.seed) for c in configs]
    stacking.train_many(whole, split, configs, val_split=val, progress=False)
    resume = training.ResumeFile(tmp_path / "stack.resume", "stack")
    calls, validate = [], training._validate

    def dies_in_the_third_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) > 4:  # two runs validated per epoch
            raise KeyboardInterrupt
        return validate(*args, **kwargs)

    monkeypatch.setattr(training, "_validate", dies_in_the_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        stacking.train_many([_build(c.seed) for c in configs], split, configs, val_split=val, progress=False,
                            resume=resume, resume_every=0)
    monkeypatch.setattr(training, "_validate", validate)
    resumed = [_build(c.seed) for c in configs]
    histories = stacking.train_many(resumed, split, configs, val_split=val, progress=False, resume=resume,
                                    resume_every=0)
    assert all(torch.equal(_weights(a), _weights(b)) for a, b in zip(whole, resumed, strict=True))
    assert all(len(h["val_error"]) == 4 for h in histories)


def test_a_cache_only_stack_fails_in_one_line_and_only_the_runs_missing_from_the_cache_train(digits, monkeypatch):
    split, val = digits
    configs = [training.TrainConfig(**{**c.asdict(), "stacked": True})
               for c in _configs("naive", (0, 1), epochs=1)]
    build = lambda: models.MaxoutMLP(units=24, pieces=3, classes=2, init_range=0.05)
    monkeypatch.setenv("QUANOS_CACHE_ONLY", "1")
    with pytest.raises(checkpoints.CacheMiss, match="only reads it"):
        stacking.trained_models("net", build, split, configs, val_split=val, progress=False)
    monkeypatch.setenv("QUANOS_CACHE_ONLY", "0")
    first = stacking.trained_models("net", build, split, configs[:1], val_split=val, progress=False)
    # the first run is in the cache: read; only the second trains
    trained = []
    real = stacking._train_missing
    monkeypatch.setattr(stacking, "_train_missing",
                        lambda *args: trained.append([path.name for _, path in args[5]]) or real(*args))
    both = stacking.trained_models("net", build, split, configs, val_split=val, progress=False)
    assert trained == [[both[1][1]["checkpoint"]]]
    assert torch.equal(_weights(first[0][0]), _weights(both[0][0]))
