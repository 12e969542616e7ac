"""Figure 1's code path, offline: GoogLeNet with random weights, a synthetic photograph, a refused download."""
import urllib.error

import pytest
import torch
import torchvision
from PIL import Image

from quanos_lib import data, imagenet, models, paper, plotting


@pytest.fixture(scope="module")
def network():
    torch.manual_seed(0)
    return imagenet.googlenet(pretrained=False)


@pytest.fixture(scope="module")
def linear_model():
    """A linear ImageNet classifier behind the same normalization: a random GoogLeNet is nearly flat in its input,
    so the tests of what the attack does to the prediction use this one, whose gradient is large."""
    torch.manual_seed(0)
    return torch.nn.Sequential(models.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]), torch.nn.Flatten(),
                               torch.nn.Linear(3 * 224 * 224, 1000)).eval()


@pytest.fixture
def photo_folder(tmp_path):
    """A synthetic 300 x 400 JPEG where the panda photograph would be."""
    folder = tmp_path / "imagenet-panda"
    folder.mkdir()
    g = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (300, 400, 3), generator=g, dtype=torch.uint8)
    Image.fromarray(image.numpy()).save(folder / imagenet.PANDA_FILE, quality=90)
    return tmp_path


def test_the_papers_eps_is_one_8_bit_step_on_pixels():
    assert paper.FGSM_EPS_IMAGENET_PIXELS == 1 / 255
    assert abs(2 * paper.FGSM_EPS_IMAGENET_PIXELS - paper.FGSM_EPS_IMAGENET) < 1e-3  # one step of GoogLeNet's [-1, 1]


def test_the_photograph_is_prepared_as_the_weights_transforms_do_and_recorded_unverified(photo_folder):
    panda = imagenet.load_panda(photo_folder)
    assert panda.test.x.shape == (1, 3, 224, 224) and panda.test.x.dtype == torch.uint8
    assert panda.test.y.tolist() == [imagenet.PANDA_CLASS] and panda.classes[imagenet.PANDA_CLASS] == "giant panda"
    assert panda.classes[imagenet.GIBBON_CLASS] == "gibbon" and len(panda.classes) == 1000
    assert not panda.info["verified"] and len(panda.info["sha256"]) == 64  # no recorded checksum to match yet


def test_offline_the_photograph_and_the_weights_are_one_sentence_not_a_traceback(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", refuse)
    with pytest.raises(data.DataUnavailableError, match=r"could not be downloaded \(no network connection\)") as error:
        imagenet.load_panda(tmp_path)
    assert "urlopen" not in str(error.value) and "Errno" not in str(error.value)
    monkeypatch.setattr(torchvision.models, "googlenet", lambda **kwargs: refuse() if kwargs.get("weights") else None)
    with pytest.raises(data.DataUnavailableError, match="GoogLeNet's ImageNet weights"):
        imagenet.googlenet()


def test_the_model_takes_pixels_and_normalizes_them_inside(network):
    x = torch.rand(2, 3, 224, 224)
    normalize = network[0]
    assert torch.allclose(normalize(x)[:, 0], (x[:, 0] - 0.485) / 0.229)
    assert network(x).shape == (2, 1000)


def test_figure1_is_fgsm_at_the_papers_step(network):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 224, 224, generator=g)
    eps = paper.FGSM_EPS_IMAGENET_PIXELS
    panels = imagenet.figure1(network, x, imagenet.PANDA_CLASS, eps=eps)
    moved = panels["adversarial"] - x[0]
    assert moved.abs().max() <= eps + 1e-6
    inside = (x[0] > eps) & (x[0] < 1 - eps) & (panels["sign"] != 0)
    assert inside.float().mean() > 0.9 and torch.allclose(moved[inside], eps * panels["sign"][inside], atol=1e-6)
    assert set(panels["sign"].unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert plotting.panda_figure(panels, imagenet.class_names(), paper="panda 57.7% -> gibbon 99.3%") is not None


def test_the_attack_takes_the_true_class_away_and_the_flip_eps_is_where_the_label_changes(linear_model):
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 3, 224, 224, generator=g)
    label = int(linear_model(x).argmax())  # the model's own label: no flip at eps 0
    panels = imagenet.figure1(linear_model, x, label)
    assert panels["clean_class"] == label and panels["true_class_confidence"][1] < panels["true_class_confidence"][0]
    eps = [0.0, 0.25 / 255, 1 / 255, 4 / 255, 16 / 255]
    curve = imagenet.confidence_vs_eps(linear_model, x, label, eps)
    assert curve["top_class"][0] == label and len(curve["true_confidence"]) == len(eps)
    flipped = [e for e, top in zip(eps, curve["top_class"]) if top != label]
    assert curve["flip_eps"] == (flipped[0] if flipped else None) and curve["flip_eps"] != 0.0
    assert curve["true_confidence"][-1] < curve["true_confidence"][0]
    assert plotting.confidence_vs_eps(curve, imagenet.class_names(), true_class=label, marked_eps=1 / 255) is not None
