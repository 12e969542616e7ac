import pytest
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
    assert png_a.parent == tmp_path / "a" / "figures" / "cpu"  # one folder per profile, like results/<profile>/
    assert plotting.save_figure(_figure(), "demo", "full").parent == tmp_path / "b" / "figures" / "full"


def test_robustness_front_draws_the_homogeneous_line_and_the_hybrid_points():
    import pandas as pd
    table = pd.DataFrame({"size (kbit)": [10.0, 20.0, 40.0, 15.0], "energy (µJ)": [1.0, 2.0, 4.0, 1.2],
                          "area": [0.2, 0.3, 0.35, 0.32], "low": [0.18, 0.28, 0.33, 0.30], "high": [0.22, 0.32, 0.37, 0.34],
                          "family": ["homogeneous"] * 3 + ["QUANOS"]}, index=["2-bit", "4-bit", "8-bit", "QUANOS eps 8/255"])
    fig = plotting.robustness_front(table, robustness="area", family="family", interval=("low", "high"))
    size_panel, energy_panel = fig.axes
    line = size_panel.lines[0]
    assert list(line.get_xdata()) == [10.0, 20.0, 40.0] and list(line.get_ydata()) == [20.0, 30.0, 35.0]
    assert [text.get_text() for text in energy_panel.texts] == ["2-bit", "4-bit", "8-bit"]  # along the line only
    legend = energy_panel.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["homogeneous", "QUANOS eps 8/255"]  # the point's name
    point = energy_panel.containers[-1].lines[0]  # the data line of its errorbar, not a cap
    assert list(point.get_xdata()) == [1.2] and list(point.get_ydata()) == pytest.approx([32.0])
    caps = energy_panel.containers[-1].lines[1]  # its interval, low 0.30 and high 0.34, in percent
    assert sorted(float(cap.get_ydata()[0]) for cap in caps) == pytest.approx([30.0, 34.0])
    assert size_panel.get_xscale() == "log"


def _overlap(a, b):
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _legend_boxes(fig):
    return [legend.get_window_extent() for legend in fig.legends + [ax.get_legend() for ax in fig.axes] if legend]


def test_legends_stand_beside_the_data_never_over_it():
    import numpy as np
    import pandas as pd
    plotting.set_theme()
    history = {"loss": [1, 1, 1], "train_error": [0.5, 0.3, 0.2], "val_error": [0.6, 0.4, 0.3], "best_epoch": 2}
    eps_curve = {"eps": [0, 0.1, 0.3], "error": [0.01, 0.9, 1.0], "confidence": [0.99, 0.9, 0.97]}
    figures = {
        "bars": plotting.grouped_bars(pd.DataFrame({"a": [0.5, 1.0], "b": [0.9, 1.0], "c": [1.0, np.nan]},
                                                   index=["x", "y"]), ylabel="%"),
        "learning curves": plotting.learning_curves({"model": history}),
        "layers": plotting.per_layer_lines({"eps 1": {"conv1": 16, "conv2": 13}, "eps 2": {"conv1": 15, "conv2": 12}},
                                           ylabel="bits"),
        "removal": plotting.removal_curves({"order": {"removed": [0, 1, 2], "clean": [0.9, 0.5, 0.1],
                                                      "adversarial": [0.1, 0.05, 0.0]}}),
        "error vs eps": plotting.error_and_confidence_vs_eps({"softmax": eps_curve}),
    }
    for name, fig in figures.items():
        fig.canvas.draw()
        legends = _legend_boxes(fig)
        assert legends, name
        for legend in legends:
            assert not any(_overlap(legend, ax.get_window_extent()) for ax in fig.axes), name
        plt.close(fig)


def test_three_bars_side_by_side_carry_upright_labels_that_do_not_collide():
    import pandas as pd
    plotting.set_theme()
    table = pd.DataFrame({"noise": [0.0, 1.0], "ours": [0.53, 1.0], "paper": [0.25, 1.0]}, index=["automobile", "frog"])
    fig = plotting.grouped_bars(table, ylabel="share (%)")
    fig.canvas.draw()
    ax = fig.axes[0]
    labels = [text for text in ax.texts if text.get_text()]
    assert sorted(text.get_text() for text in labels) == ["0.0", "100.0", "100.0", "100.0", "25.0", "53.0"]
    assert all(text.get_rotation() == 90 for text in labels)
    boxes = [text.get_window_extent() for text in labels]
    assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])  # the three "100.0" above frog
    assert all(box.y1 <= ax.get_window_extent().y1 for box in boxes)  # inside the axes, under the title
    plt.close(fig)


def test_ratio_panels_draw_each_bar_from_one_times_to_its_ratio():
    import pandas as pd
    table = pd.DataFrame({"compression vs 8-bit": [0.25, 4.0, 1.62], "energy saving vs 8-bit": [0.05, 9.0, 1.25]},
                         index=["32-bit float", "2-bit", "QUANOS"])
    fig = plotting.ratio_panels(table, highlight="QUANOS")
    compression, energy = fig.axes
    bars = compression.patches
    assert [bar.get_x() for bar in bars] == [1, 1, 1]
    assert [bar.get_x() + bar.get_width() for bar in bars] == pytest.approx([0.25, 4.0, 1.62])
    assert [text.get_text() for text in energy.texts] == ["0.05×", "9.00×", "1.25×"]  # results.format_value
    assert bars[2].get_facecolor() != bars[1].get_facecolor() == bars[0].get_facecolor()  # QUANOS highlighted
    assert [label.get_text() for label in compression.get_yticklabels()] == ["32-bit float", "2-bit", "QUANOS"]
    assert compression.get_xscale() == "log"
    plt.close(fig)


def test_learning_curves_read_plainly_log_errors_and_whole_epochs():
    history = {"loss": [1, 1, 1, 1, 1, 1, 1, 1], "train_error": [0.6, 0.3, 0.2, 0.12, 0.08, 0.07, 0.065, 0.06],
               "val_error": [0.5, 0.3, 0.2, 0.15, 0.1, 0.09, 0.095, 0.097], "best_epoch": 5}
    fig = plotting.learning_curves({"model": history})
    ax = fig.axes[0]
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels(minor=True) + ax.get_yticklabels()]
    assert labels and not any("10^" in text or "times" in text for text in labels)  # no 6x10^1
    assert all(float(t).is_integer() for t in ax.get_xticks())  # no epoch 2.5
    assert ax.get_legend().get_bbox_to_anchor().x0 > ax.get_position().x1 * fig.bbox.width - 1  # outside the curves


def test_example_grids_name_the_full_class_and_mark_right_and_wrong_predictions():
    import torch
    names = ["airplane", "automobile", "bird"]
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    with torch.no_grad():  # predicts the class of the brightest of the first three pixels
        model[1].weight.copy_(torch.eye(3, 4) * 10)
        model[1].bias.zero_()
    x = torch.zeros(3, 1, 2, 2)
    x.view(3, 4)[0, 1] = x.view(3, 4)[1, 1] = x.view(3, 4)[2, 2] = 1.0  # predicted: automobile, automobile, bird
    fig = plotting.attack_examples(model, x, x, names, labels=torch.tensor([1, 0, 2]))
    titles = [ax.title for ax in fig.axes[:3]]
    assert [t.get_text().split("\n")[0] for t in titles] == ["automobile ✓", "automobile ✗", "bird ✓"]
    assert [t.get_color() for t in titles] == [plotting.RIGHT, plotting.WRONG, plotting.RIGHT]
    plt.close(fig)


def test_a_value_nobody_reported_is_labelled_as_such_not_drawn_as_a_bar():
    import numpy as np
    import pandas as pd
    table = pd.DataFrame({"ours": [0.5, 0.2], "paper": [np.nan, 0.3]}, index=["frog", "truck"])
    fig = plotting.grouped_bars(table, ylabel="share (%)", missing="not reported")
    ax = fig.axes[0]
    notices = [t for t in ax.texts if t.get_text() == "not reported"]  # beside the bars' value labels
    assert len(notices) == 1
    assert notices[0].get_position()[0] == pytest.approx(0.2)  # the paper's slot of the first group (x = 0 +- 0.4)
    assert sorted(round(bar.get_height(), 6) for bar in ax.patches if bar.get_height() > 0) == [20.0, 30.0, 50.0]
    plt.close(fig)


def test_figure_4_draws_the_true_class_on_top_and_the_strip_of_inputs():
    import torch
    eps = torch.linspace(-2, 2, 5)
    fig = plotting.outputs_along_direction(eps, torch.randn(5, 10), 4, [str(c) for c in range(10)],
                                           strip=([-2, 0, 2], torch.rand(3, 1, 28, 28)))
    curves = fig.axes[0].get_lines()
    assert curves[-1].get_label() == "4 (true class)" and curves[-1].get_zorder() > max(c.get_zorder() for c in curves[:-1])
    assert [ax.get_title() for ax in fig.axes[1:]] == ["eps = -2", "eps = 0", "eps = 2"]
    plt.close(fig)
