"""A training run killed with SIGKILL and started again ends with bitwise the same weights and history."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

# A maxout network with dropout (random streams), FGSM adversarial training, early stopping and the continued phase
# of the maxout protocol, on synthetic digits. The test kills it as soon as a resume file appears: "first", the state
# after the first epoch (the run then resumes mid-way); "first-done", the end of the early-stopped phase (the run
# then skips it and trains the continued phase).
SCRIPT = """
import torch
from quanos_lib import data, models, training, zoo
g = torch.Generator().manual_seed(0)
x = torch.rand(2000, 1, 28, 28, generator=g)
y = (x.flatten(1)[:, :392].sum(1) > x.flatten(1)[:, 392:].sum(1)).long()
train, val = data.Split(x[:1500], y[:1500]), data.Split(x[1500:], y[1500:])
config = training.TrainConfig(epochs=6, patience=10, continue_epochs=4, seed=3, **{**zoo.MAXOUT_RECIPE, "batch_size": 200},
                              **zoo.MAXOUT_VARIANTS["adversarial"])
training.trained_model("resumable", lambda: models.MaxoutMLP(units=30), train, config, val_split=val, progress=False)
"""


def _run(cache, *, kill_when=None):
    env = dict(os.environ, QUANOS_CACHE=str(cache), QUANOS_RESUME_SECONDS="0", TQDM_DISABLE="1")
    process = subprocess.Popen([sys.executable, "-c", SCRIPT], env=env)
    if kill_when is None:
        assert process.wait(timeout=600) == 0
        return
    deadline = time.monotonic() + 600
    while not list(cache.glob(f"*.{kill_when}.resume")):
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()


def _finished(cache):
    (path,) = cache.glob("resumable-*.pt")
    return torch.load(path, weights_only=True)


def _without_wall_time(history):
    return {k: _without_wall_time(v) if isinstance(v, dict) and k == "continued" else v
            for k, v in history.items() if k != "seconds"}


@pytest.mark.parametrize("phase", ["first", "first-done"])
def test_a_killed_run_resumes_to_bitwise_the_same_weights_and_history(tmp_path, phase):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    _run(whole)
    _run(killed, kill_when=phase)
    assert not list(killed.glob("*.pt"))  # killed before it finished
    _run(killed)
    expected, resumed = _finished(whole), _finished(killed)
    assert expected["state_dict"].keys() == resumed["state_dict"].keys()
    assert all(torch.equal(expected["state_dict"][k], resumed["state_dict"][k]) for k in expected["state_dict"])
    assert _without_wall_time(resumed["history"]) == _without_wall_time(expected["history"])
    assert not list(killed.glob("*.resume")) and not list(killed.glob("*.partial"))  # the checkpoint replaced them


def test_a_corrupt_or_foreign_resume_file_is_ignored_with_one_warning(tmp_path):
    from quanos_lib import training
    resume = training.ResumeFile(tmp_path / "a.first.resume", "a:first")
    resume.path.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="ignored"):
        assert resume.load() is None
    training.ResumeFile(resume.path, "b:first").save({"epoch": 3})
    with pytest.warns(UserWarning, match="another run"):
        assert resume.load() is None
    resume.save({"epoch": 3})
    assert resume.load()["epoch"] == 3
