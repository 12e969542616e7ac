"""The cost of ANS and of fake-quantized training on VGG-19, measured side by side in one run.

    .venv/bin/python benchmarks/ans_and_quantization.py [width]

Prints two ratios (1.0 = no overhead), each from functions timed interleaved (``timing.interleaved_medians``):
- one ANS pass over a batch vs one forward + backward pass (the bound: two forward passes and one backward pass,
  i.e. about 1.4x a forward + backward, measured here as well);
- a training epoch of the QUANOS-style fake-quantized network vs the same epoch in float (target <= 1.3x).
"""
import sys

import torch
import torch.nn.functional as F

from timing import interleaved_medians  # benchmarks/timing.py

from quanos_lib import ans, data, models, quantization, training


def main(width=0.25):
    torch.manual_seed(0)
    model = models.VGG19(width=width).eval()
    batch = data.Split(torch.rand(256, 3, 32, 32), torch.randint(0, 10, (256,)))

    def forward_backward():
        x_in = batch.x.clone().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(model(x_in), batch.y, reduction="sum"), x_in)

    def bound():  # what ANS cannot avoid: FGSM's forward + backward, then one more forward
        forward_backward()
        with torch.no_grad():
            model(batch.x)

    passes = interleaved_medians({"ANS": lambda: ans.adversarial_noise_sensitivity(model, batch, 8 / 255, batch_size=256),
                                  "forward+backward": forward_backward, "bound": bound})
    split = data.Split((torch.rand(2048, 3, 32, 32) * 255).to(torch.uint8), torch.randint(0, 10, (2048,)))
    config = training.TrainConfig(epochs=1, batch_size=128, lr=0.01, momentum=0.9)
    bits = {name: k for name, k in zip(quantization.quantizable_layers(model), [16, 14, 12, 10, 8, 6, 4] * 3)}
    epochs = interleaved_medians({
        "float": lambda: training.train(models.VGG19(width=width), split, config, progress=False),
        "fake-quantized": lambda: training.train(quantization.quantize(models.VGG19(width=width), bits), split, config,
                                                 progress=False)}, repeats=3)
    print(f"VGG-19 width {width}, batch 256, CPU threads {torch.get_num_threads()}; each pair timed interleaved")
    print(f"  ANS pass {passes['ANS'] * 1000:.0f} ms vs forward+backward {passes['forward+backward'] * 1000:.0f} ms: "
          f"ratio {passes['ANS'] / passes['forward+backward']:.2f} (two forwards + one backward: "
          f"{passes['bound'] / passes['forward+backward']:.2f}; ANS / that bound {passes['ANS'] / passes['bound']:.2f})")
    print(f"  training epoch (2048 images): fake-quantized {epochs['fake-quantized']:.2f} s vs float {epochs['float']:.2f} s: "
          f"ratio {epochs['fake-quantized'] / epochs['float']:.2f}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 0.25)
