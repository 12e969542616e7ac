"""FGSM throughput against a bare forward + backward pass on the maxout network, measured side by side.

    .venv/bin/python benchmarks/fgsm_throughput.py

Prints ratios (our time / the other's; 1.0 means no overhead), each pair timed interleaved in one run
(``timing.interleaved_medians``). Where torchattacks is installed (optional, not a dependency of the project),
its FGSM is timed beside ours, and the share of identical adversarial images is printed.
"""
import torch
import torch.nn.functional as F

from timing import interleaved_medians  # benchmarks/timing.py

from quanos_lib import attacks, data, models, training
from quanos_lib.paper import FGSM_EPS_MNIST


def main():
    torch.manual_seed(0)
    model = models.MaxoutMLP(units=240).eval()
    x, y = torch.rand(10000, 1, 28, 28), torch.randint(0, 10, (10000,))
    batch_x, batch_y = x[:1000], y[:1000]

    def bare(xs, ys):  # what FGSM cannot avoid: one forward and one backward pass to the input
        for xb, yb in zip(xs.split(1000), ys.split(1000)):
            x_in = xb.clone().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(x_in), yb, reduction="sum"), x_in)

    pairs = {
        "fgsm, one batch of 1000": {"ours": lambda: attacks.fgsm(model, batch_x, batch_y, FGSM_EPS_MNIST),
                                    "bare forward+backward": lambda: bare(batch_x, batch_y)},
        "adversarial_examples, 10k images": {"ours": lambda: attacks.adversarial_examples(model, x, y, FGSM_EPS_MNIST),
                                             "bare forward+backward": lambda: bare(x, y)},
    }
    try:
        import torchattacks
        theirs = torchattacks.FGSM(model, eps=FGSM_EPS_MNIST)
        pairs["fgsm vs torchattacks.FGSM, batch of 1000"] = {
            "ours": lambda: attacks.fgsm(model, batch_x, batch_y, FGSM_EPS_MNIST), "torchattacks": lambda: theirs(batch_x, batch_y)}
        same = (attacks.fgsm(model, batch_x, batch_y, FGSM_EPS_MNIST) == theirs(batch_x, batch_y)).float().mean().item()
    except ImportError:
        same = None
    print("FGSM on the 240-unit maxout network (2 x maxout 240 x 5), CPU threads:", torch.get_num_threads())
    for name, functions in pairs.items():
        (ours_name, ours), (base_name, base) = interleaved_medians(functions, repeats=15).items()
        print(f"  {name:42s} {ours * 1000:8.1f} ms vs {base_name} {base * 1000:8.1f} ms  ratio {ours / base:.2f}")
    print("  torchattacks: " + ("not installed (optional)" if same is None else
                                f"{same:.2%} of the adversarial pixels identical to ours"))
    split = data.Split(x, y)
    clean = training.TrainConfig(epochs=1, batch_size=100)
    adversarial = training.TrainConfig(epochs=1, batch_size=100, adv_alpha=0.5, adv_eps=FGSM_EPS_MNIST)
    epoch = interleaved_medians({name: lambda c=config: training.train(models.MaxoutMLP(units=240), split, c, progress=False)
                                 for name, config in (("clean", clean), ("adversarial", adversarial))}, repeats=1)
    print(f"  training epoch on 10k images: adversarial {epoch['adversarial']:.2f} s vs clean {epoch['clean']:.2f} s"
          f"  ratio {epoch['adversarial'] / epoch['clean']:.2f} (the objective needs 2 forward + 2 backward passes)")


if __name__ == "__main__":
    main()
