"""FGSM throughput against a bare forward + backward pass on the maxout network, measured side by side.

    .venv/bin/python benchmarks/fgsm_throughput.py

Prints ratios (our time / bare time; 1.0 means no overhead) from one run, and the measured wall time of
notebooks 02-04 at the cpu profile (from results/cpu/_runtimes.json, written by ./reproduce.sh).
"""
import json
import pathlib

import torch
import torch.nn.functional as F

from timing import median_seconds  # benchmarks/timing.py

from quanos_lib import attacks, data, models, training

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main():
    torch.manual_seed(0)
    model = models.MaxoutMLP(units=240).eval()
    x, y = torch.rand(10000, 1, 28, 28), torch.randint(0, 10, (10000,))
    batch_x, batch_y = x[:1000], y[:1000]

    def bare():  # what FGSM cannot avoid: one forward and one backward pass to the input
        x_in = batch_x.clone().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(model(x_in), batch_y, reduction="sum"), x_in)

    def bare_dataset():
        for xb, yb in zip(x.split(1000), y.split(1000)):
            x_in = xb.clone().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(x_in), yb, reduction="sum"), x_in)

    rows = [
        ("fgsm, one batch of 1000", median_seconds(lambda: attacks.fgsm(model, batch_x, batch_y, 0.25)), median_seconds(bare)),
        ("adversarial_examples, 10k images", median_seconds(lambda: attacks.adversarial_examples(model, x, y, 0.25), 3),
         median_seconds(bare_dataset, 3)),
    ]
    split = data.Split(x, y)
    clean = training.TrainConfig(epochs=1, batch_size=100)
    adversarial = training.TrainConfig(epochs=1, batch_size=100, adv_alpha=0.5, adv_eps=0.25)
    epoch = {name: median_seconds(lambda c=config: training.train(models.MaxoutMLP(units=240), split, c, progress=False), 1)
             for name, config in (("clean", clean), ("adversarial", adversarial))}
    print("FGSM on the 240-unit maxout network (2 x maxout 240 x 5), CPU threads:", torch.get_num_threads())
    for name, ours, base in rows:
        print(f"  {name:36s} {ours * 1000:8.1f} ms vs bare forward+backward {base * 1000:8.1f} ms  ratio {ours / base:.2f}")
    print(f"  training epoch on 10k images: adversarial {epoch['adversarial']:.2f} s vs clean {epoch['clean']:.2f} s"
          f"  ratio {epoch['adversarial'] / epoch['clean']:.2f} (the objective needs 2 forward + 2 backward passes)")
    runtimes = ROOT / "results" / "cpu" / "_runtimes.json"
    if runtimes.exists():
        known = json.loads(runtimes.read_text())
        chosen = {k: v["seconds"] for k, v in known.items() if k[:2] in ("02", "03", "04")}
        if chosen:
            print("cpu profile wall time (results/cpu/_runtimes.json):",
                  ", ".join(f"{k} {v / 60:.1f} min" for k, v in chosen.items()), f"; total {sum(chosen.values()) / 60:.1f} min")


if __name__ == "__main__":
    main()
