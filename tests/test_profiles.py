import pytest

from quanos_lib import profiles


@pytest.fixture(autouse=True)
def no_profile_override(monkeypatch):
    """`./reproduce.sh --test` sets $QUANOS_PROFILE=smoke for the notebooks; these tests name profiles."""
    monkeypatch.delenv("QUANOS_PROFILE", raising=False)


def test_auto_follows_env_then_hardware(monkeypatch):
    monkeypatch.setenv("QUANOS_PROFILE", "smoke")
    assert profiles.resolve("auto") == "smoke"
    assert profiles.resolve("cpu") == "smoke"  # also over a notebook's injected profile
    monkeypatch.delenv("QUANOS_PROFILE")
    assert profiles.resolve("auto") in ("cpu", "full")
    assert profiles.resolve("cpu") == "cpu"


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(profiles.UnknownProfileError, match="choose one of"):
        profiles.get("gpu")


def test_every_profile_scales_every_experiment_and_smoke_is_smallest():
    groups = {name: set(scales) for name, scales in profiles.SCALES.items()}
    assert groups["smoke"] == groups["cpu"] == groups["full"]
    assert profiles.get("smoke")["linear"]["train_size"] < 60000
    assert profiles.get("cpu")["linear"]["train_size"] is None  # MNIST at the paper's scale
    with pytest.raises(KeyError, match="no scale"):
        profiles.get("cpu")["nonexistent"]
