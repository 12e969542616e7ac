import matplotlib.pyplot as plt

from quanos_lib import plotting


def _figure():
    plotting.set_theme()
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [0, 1, 4], label="x^2")
    ax.legend()
    return fig


def test_save_figure_is_byte_identical_on_rerun(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANOS_OUT", str(tmp_path / "a"))
    png_a = plotting.save_figure(_figure(), "demo", "cpu")
    monkeypatch.setenv("QUANOS_OUT", str(tmp_path / "b"))
    png_b = plotting.save_figure(_figure(), "demo", "cpu")
    assert png_a.read_bytes() == png_b.read_bytes()
    assert png_a.with_suffix(".pdf").read_bytes() == png_b.with_suffix(".pdf").read_bytes()
    assert png_a.parent == tmp_path / "a" / "figures"
