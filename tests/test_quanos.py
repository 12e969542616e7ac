import doctest

import torch
from torch import nn

from quanos_lib import checkpoints, data, quanos, quantization, training


def test_the_docstring_example_runs():
    failures, tried = doctest.testmod(quanos, verbose=False)
    assert tried > 5 and failures == 0


def test_quanos_bit_rule_on_known_ans():
    widths = quanos.bit_widths({"a": 0.0, "b": 0.1, "c": 0.5, "d": 0.97, "e": 2.0})
    assert widths == {"a": 16, "b": 14, "c": 8, "d": 2, "e": 2}  # 16 - round(1.6) = 14; floor at 2
    assert quanos.bit_widths({"x": 0.3}, k_initial=8) == {"x": 6}


def _task(n=192, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 4, 4, generator=g)
    return data.Split(x, (x.flatten(1)[:, :8].sum(1) > x.flatten(1)[:, 8:].sum(1)).long())


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2))


def test_train_quantized_starts_from_the_float_weights_and_leaves_the_start_untouched():
    start = _model()
    before = {k: v.clone() for k, v in start.state_dict().items()}
    config = training.TrainConfig(epochs=1, lr=0.5)
    model, history = quanos.train_quantized(start, {"1": 4, "3": 6}, _task(), config, name="t (1)", progress=False)
    assert quantization.bits_of(model) == {"1": 4, "3": 6} and quantization.bits_of(start) == {}
    assert all(torch.equal(v, before[k]) for k, v in start.state_dict().items())
    assert history["checkpoint"].startswith("t_1_-") and history["config"]["lr"] == 0.5
    # the same start and bits come back from the cache; another start is another model
    assert quanos.train_quantized(start, {"1": 4, "3": 6}, _task(), config, name="t (1)", progress=False)[1][
        "checkpoint"] == history["checkpoint"]
    other = quanos.train_quantized(model, {"1": 4, "3": 6}, _task(), config, name="t (1)", progress=False)[1]
    assert other["checkpoint"] != history["checkpoint"]
    assert len(list(checkpoints.cache_dir().glob("t_1_-*.pt"))) == 2


def test_quanos_iterates_ans_bits_and_training():
    train, val = _task().holdout(64)
    result = quanos.quanos(_model(), train, val, training.TrainConfig(epochs=1, lr=0.5), eps=0.1, iterations=2,
                           name="q", progress=False)
    assert len(result.iterations) == 2 and result.model is result.iterations[1].model
    assert list(result.ans) == ["1", "3"]  # a generic model: its linear layers' own outputs
    for step in result.iterations:
        assert step.bits == quanos.bit_widths(step.ans)
        assert quantization.bits_of(step.model) == step.bits
    assert result.iterations[1].history["checkpoint"].startswith("q_iteration_2_-")
