import pytest
import torch

from quanos_lib import data


@pytest.fixture(autouse=True)
def scratch_outputs(tmp_path, monkeypatch):
    """No test writes into the project's results/, figures/ or the shared checkpoint cache."""
    monkeypatch.setenv("QUANOS_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("QUANOS_CACHE", str(tmp_path / "checkpoints"))


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST from $QUANOS_DATA (or the default data folder); never downloads in CI."""
    return data.load("mnist")


@pytest.fixture(scope="session")
def mnist_small(mnist):
    return mnist.subset(train_size=5000, test_size=1000, seed=0)


@pytest.fixture
def tiny_mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.Dropout(0.5),
                               torch.nn.ReLU(), torch.nn.Linear(8, 3))
