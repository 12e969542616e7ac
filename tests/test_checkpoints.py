import torch

from quanos_lib import checkpoints, models


def _build():
    torch.manual_seed(0)
    return models.SoftmaxRegression(in_features=4, classes=2)


def _counting_train():
    calls = []

    def train(model):
        calls.append(1)
        with torch.no_grad():
            model.linear.weight.add_(1.0)
        return {"loss": [0.5]}
    return train, calls


def test_cache_miss_trains_then_hit_reuses():
    train, calls = _counting_train()
    first, history = checkpoints.load_or_train("m", {"a": 1}, _build, train)
    again, history_again = checkpoints.load_or_train("m", {"a": 1}, _build, train)
    assert len(calls) == 1 and history_again == history == {"loss": [0.5]}
    assert torch.equal(first.linear.weight, again.linear.weight)
    checkpoints.load_or_train("m", {"a": 2}, _build, train)  # another key: a miss
    assert len(calls) == 2


def test_key_hash_depends_on_tensor_contents():
    a, b = torch.zeros(3), torch.zeros(3)
    assert checkpoints.key_hash({"x": a}) == checkpoints.key_hash({"x": b})
    b[1] = 1
    assert checkpoints.key_hash({"x": a}) != checkpoints.key_hash({"x": b})


def test_truncated_checkpoint_is_retrained_not_a_crash(recwarn):
    train, calls = _counting_train()
    checkpoints.load_or_train("m", {"a": 1}, _build, train)
    path = checkpoints.path_for("m", {"a": 1})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    model, _ = checkpoints.load_or_train("m", {"a": 1}, _build, train)
    assert len(calls) == 2
    assert any("unreadable" in str(w.message) for w in recwarn)
    assert torch.load(path, weights_only=True)["history"] == {"loss": [0.5]}  # rewritten whole
