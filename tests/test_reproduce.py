import pathlib
import subprocess

import pytest

from quanos_lib import reproduce

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "reproduce.sh"


@pytest.mark.parametrize("args", [["--bogus"], ["--profile", "gpu"], ["--only", "1"], ["--profile"]])
def test_wrong_flag_gives_one_line_of_usage(args):
    done = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: ./reproduce.sh") and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr + done.stdout


def test_select_notebooks_runs_the_scorecard_last_and_rejects_unknown_numbers():
    chosen = [nb.name[:2] for nb in reproduce.select_notebooks(["01"])]
    assert chosen == ["01", "99"]
    assert [nb.name for nb in reproduce.select_notebooks()] == sorted(nb.name for nb in reproduce.select_notebooks())
    with pytest.raises(reproduce.UsageError, match="no notebook numbered 42"):
        reproduce.select_notebooks(["42"])


def test_unknown_number_through_the_runner_is_one_line(capsys):
    assert reproduce.main(["--profile", "smoke", "--only", "42"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
