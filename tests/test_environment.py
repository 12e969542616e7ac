"""environment.yml must pin exactly what pyproject.toml pins."""
import pathlib
import tomllib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_environment_yml_matches_pyproject():
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert sorted(pip_section) == sorted(pins)
    assert all("==" in pin for pin in pins)
    assert "python=3.11" in env["dependencies"]
    assert {"torch==2.14.1", "torchvision==0.29.1"} <= set(pins)


def test_environment_yml_names_the_workflow_extra_with_its_pins():
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["workflow"]
    text = (ROOT / "environment.yml").read_text()
    assert extra and all("==" in pin and pin in text for pin in extra)
