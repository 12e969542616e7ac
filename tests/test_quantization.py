import pytest
import torch
from torch import nn

from quanos_lib import data, evaluation, models, quantization, training


def _calibrated(bits, x):
    quantizer = quantization.InputFakeQuantize(bits)
    quantizer(x)  # in training mode (a new module's): the observer sets the range from x
    return quantizer.eval()


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_k_bits_give_at_most_2_to_the_k_values(bits):
    torch.manual_seed(0)
    model = models.SoftmaxRegression(in_features=64, classes=4)
    quantization.quantize(model, {"linear": bits})
    assert all(row.unique().numel() <= 2 ** bits for row in model.linear.weight)
    for x in (torch.rand(1000), torch.randn(1000)):
        assert _calibrated(bits, x)(x).unique().numel() <= 2 ** bits


def test_activation_range_is_the_calibrated_one_and_a_non_negative_input_uses_every_level():
    x = torch.linspace(0, 3, 1000)
    quantizer = _calibrated(2, x)
    assert torch.allclose(quantizer(x).unique(), torch.tensor([0.0, 1.0, 2.0, 3.0]))
    assert quantizer(torch.tensor([10.0, -5.0])).tolist() == [3.0, 0.0]  # frozen: outliers are clamped to it


def test_gradients_pass_straight_through():
    x = torch.linspace(-1, 1, 50, requires_grad=True)
    _calibrated(4, x.detach())(x).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))
    model = quantization.quantize(models.SoftmaxRegression(in_features=4, classes=2), {"linear": 3})
    model(torch.rand(5, 1, 2, 2)).sum().backward()
    original = model.linear.parametrizations.weight.original
    assert original.grad is not None and original.grad.abs().sum() > 0


def test_inputs_of_a_quantized_layer_are_quantized_too():
    model = quantization.quantize(nn.Sequential(nn.Linear(8, 3)), {"0": 2})
    seen = []
    model[0].register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))  # runs after the quantizer
    model(torch.rand(100, 8))
    assert seen[0].unique().numel() <= 4


def test_in_eval_mode_an_images_output_does_not_depend_on_its_batch():
    torch.manual_seed(0)
    model = models.VGG19(width=0.05)
    calibration = data.Split(torch.rand(256, 3, 32, 32), torch.zeros(256, dtype=torch.long))
    quantization.quantize(model, quantization.uniform_bits(model, 8), calibration=calibration).eval()
    ranges = {name: buffer.clone() for name, buffer in model.state_dict().items()
              if "input_quantizer" in name and name.endswith(("scale", "zero_point", "min_val", "max_val"))}
    x = torch.rand(64, 3, 32, 32)
    x[1:] *= 4  # other images far brighter: a range taken from the batch would move
    with torch.no_grad():
        alone, together = model(x[:1]), model(x)
    assert all(torch.equal(model.state_dict()[name], value) for name, value in ranges.items())
    # equal up to float rounding (a convolution's result may differ in the last bit with the batch size)
    assert torch.allclose(alone[0], together[0], atol=1e-5)
    quantizer = model.features.conv2_1.input_quantizer  # the quantizer itself is exactly per element
    assert torch.equal(quantizer(x[:1]), quantizer(x)[:1])


def test_calibration_leaves_batch_norm_alone_and_a_model_used_uncalibrated_is_an_error():
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    quantization.quantize(model, quantization.uniform_bits(model, 4)).eval()
    with pytest.raises(RuntimeError, match="calibrate"):
        model(torch.rand(4, 8))
    quantization.calibrate(model, data.Split(torch.rand(64, 8) + 5, torch.zeros(64, dtype=torch.long)))
    assert torch.equal(model[1].running_mean, torch.zeros(8)) and not model.training
    assert model[0].input_quantizer.calibrated and model(torch.rand(4, 8)).shape == (4, 3)


def test_16_bit_fake_quantization_leaves_a_trained_model_unchanged(mnist_small):
    training.seed_everything(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    training.train(model, mnist_small.train, training.TrainConfig(epochs=2, lr=0.1, momentum=0.5), progress=False)
    before = evaluation.predict(model, mnist_small.test.x)
    quantization.quantize(model, quantization.uniform_bits(model, 16), calibration=mnist_small.train)
    after = evaluation.predict(model, mnist_small.test.x)
    assert (before == after).float().mean() > 0.999
    assert evaluation.evaluate(model, mnist_small.test)["error"] < 0.2
    quantization.quantize(model, quantization.uniform_bits(model, 2), calibration=mnist_small.train)
    two_bits = evaluation.predict(model, mnist_small.test.x)
    assert (before == two_bits).float().mean() < 0.99  # ... while 2 bits does change it


def test_mapping_must_name_exactly_the_models_layers():
    model = models.VGG19(width=0.05)
    good = quantization.uniform_bits(model, 8)
    assert len(good) == 17
    with pytest.raises(KeyError, match="unknown layers: features.conv9_9"):
        quantization.quantize(model, {**good, "features.conv9_9": 8})
    with pytest.raises(KeyError, match="missing layers: classifier"):
        quantization.quantize(model, {k: v for k, v in good.items() if k != "classifier"})
    with pytest.raises(ValueError, match="from 2 to 16"):
        quantization.quantize(model, {**good, "classifier": 1})


def test_model_size_and_dequantize():
    model = models.SoftmaxRegression(in_features=10, classes=3)  # 30 weights, 3 biases
    assert quantization.model_size_bits(model) == 33 * 32
    assert quantization.model_size_bits(model, {"linear": 4}) == 30 * 4 + 3 * 32
    quantization.quantize(model, {"linear": 4})
    assert quantization.model_size_bits(model, {"linear": 4}) == 30 * 4 + 3 * 32
    weight = model.linear.parametrizations.weight.original.detach().clone()
    quantization.dequantize(model)
    assert torch.equal(model.linear.weight, weight) and not model.linear._forward_pre_hooks


def _two_layer_model():
    return nn.Sequential(nn.Linear(100, 100, bias=False), nn.Linear(100, 100, bias=False))


def test_baselines_bit_widths_and_iso_compression_width():
    model = _two_layer_model()
    assert quantization.uniform_bits(model, 8) == {"0": 8, "1": 8}
    for k in (2, 5, 16):
        assert quantization.iso_size_bits(model, quantization.uniform_bits(model, k)) == k
    assert quantization.iso_size_bits(model, {"0": 2, "1": 16}) == 9  # equal layers: the mean width
    assert quantization.iso_size_bits(model, {"0": 2, "1": 3}) == 3   # a tie (2.5): the larger width


def test_weight_quantizer_says_its_width_in_the_models_repr():
    model = quantization.quantize(_two_layer_model(), {"0": 3, "1": 7})
    assert "bits=3" in repr(model) and "bits=7" in repr(model)


def test_float_state_dict_loads_into_the_float_twin_and_leaves_the_quantized_model_intact():
    torch.manual_seed(0)
    model = _two_layer_model()
    weights = model[0].weight.detach().clone()
    quantization.quantize(model, {"0": 2, "1": 2})
    twin = _two_layer_model()
    twin.load_state_dict(quantization.float_state_dict(model))
    assert torch.equal(twin[0].weight, weights)
    assert model(torch.rand(3, 100)).shape == (3, 100)  # still quantized and working


def test_float_copy_is_float_with_the_float_weights_and_leaves_the_quantized_model_as_it_was():
    torch.manual_seed(0)
    model = _two_layer_model()
    weights = model[0].weight.detach().clone()
    quantization.quantize(model, {"0": 2, "1": 5})
    x = torch.rand(3, 100)
    quantized_output = model(x)
    twin = quantization.float_copy(model)
    assert quantization.bits_of(twin) == {} and torch.equal(twin[0].weight, weights)
    assert quantization.bits_of(model) == {"0": 2, "1": 5}
    assert torch.equal(model(x), quantized_output)  # the original still quantizes exactly as before
    twin[0].weight.data.zero_()
    assert torch.equal(model[0].parametrizations.weight.original, weights)  # a copy, not a view
