"""The cost of ANS and of fake-quantized training on VGG-19, measured side by side in one run.

    .venv/bin/python benchmarks/ans_and_quantization.py [width]

Prints two ratios (1.0 = no overhead):
- one ANS pass over a batch vs one forward + backward pass (the target: about two forward passes and one
  backward pass, i.e. roughly 1.3-1.5x a forward + backward);
- a training epoch of the QUANOS-style fake-quantized network vs the same epoch in float (target <= 1.3x).
"""
import sys

import torch
import torch.nn.functional as F

from timing import median_seconds  # benchmarks/timing.py

from quanos_lib import ans, data, models, quantization, training


def main(width=0.25):
    torch.manual_seed(0)
    model = models.VGG19(width=width).eval()
    x, y = torch.rand(256, 3, 32, 32), torch.randint(0, 10, (256,))

    def forward_backward():
        x_in = x.clone().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(model(x_in), y, reduction="sum"), x_in)

    ans_time = median_seconds(lambda: ans.adversarial_noise_sensitivity(model, x, y, 8 / 255, batch_size=256))
    base_time = median_seconds(forward_backward)
    split = data.Split((torch.rand(2048, 3, 32, 32) * 255).to(torch.uint8), torch.randint(0, 10, (2048,)))
    config = training.TrainConfig(epochs=1, batch_size=128, lr=0.01, momentum=0.9)
    float_epoch = median_seconds(lambda: training.train(models.VGG19(width=width), split, config, progress=False), 3)
    bits = {name: k for name, k in zip(quantization.quantizable_layers(model), [16, 14, 12, 10, 8, 6, 4] * 3)}
    quantized_epoch = median_seconds(lambda: training.train(
        quantization.quantize(models.VGG19(width=width), bits), split, config, progress=False), 3)
    print(f"VGG-19 width {width}, batch 256, CPU threads {torch.get_num_threads()}")
    print(f"  ANS pass {ans_time * 1000:.0f} ms vs forward+backward {base_time * 1000:.0f} ms: ratio {ans_time / base_time:.2f}")
    print(f"  training epoch (2048 images): fake-quantized {quantized_epoch:.2f} s vs float {float_epoch:.2f} s: "
          f"ratio {quantized_epoch / float_epoch:.2f}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 0.25)
