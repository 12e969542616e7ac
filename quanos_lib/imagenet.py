"""The FGSM paper's Figure 1 (F21): GoogLeNet on ImageNet calls a panda a gibbon after an imperceptible step.

The paper: GoogLeNet says "panda" at 57.7% confidence; ``x + 0.007 * sign(grad_x J)`` makes it "gibbon" at 99.3%.

- **The model**: torchvision's GoogLeNet with its ImageNet weights (``IMAGENET1K_V1``, downloaded by torchvision into
  its cache on first use and checked against the hash in the file name), behind the weights' own normalization, so
  that it takes images in [0, 1] like every model of the companion and the attack perturbs pixels.
- **The image**: the paper's ImageNet validation image is not freely distributable, so we use a public photograph of
  a giant panda, "Giant Panda in Beijing Zoo 1" on Wikimedia Commons (:data:`PANDA_URL`, a stable address that the
  TensorFlow model zoo's examples also use), resized and centre-cropped by the weights' own transforms (256, then
  224 x 224). Its SHA-256 is checked against :data:`PANDA_SHA256`; that value could not be recorded on the offline
  machine that wrote this module, so until it is, the digest of the downloaded file is shown with every result and
  the image is recorded as unverified (the same banner as the CIFAR-10 stand-in).
- **eps**: the paper's 0.007 is "the magnitude of the smallest bit of an 8 bit image encoding after GoogLeNet's
  conversion to real numbers": GoogLeNet's inputs spanned [-1, 1], where one 8-bit step is 2/255 = 0.0078. On our
  pixel scale [0, 1] the same step is 1/255 (:data:`quanos_lib.paper.FGSM_EPS_IMAGENET_PIXELS`), which is the eps
  we score; the adversarial image is clipped to [0, 1], so it remains an image.

Where the weights or the image cannot be downloaded (offline, no local copy), :func:`load_panda` and
:func:`googlenet` raise :class:`quanos_lib.data.DataUnavailableError` with one sentence, never a network traceback.
"""
import contextlib
import io
import pathlib

import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision.transforms import functional as TF

from . import attacks, data, evaluation, models
from .paper import FGSM_EPS_IMAGENET_PIXELS

PANDA_URL = "https://upload.wikimedia.org/wikipedia/commons/f/fe/Giant_Panda_in_Beijing_Zoo_1.JPG"
PANDA_FILE = "Giant_Panda_in_Beijing_Zoo_1.JPG"
PANDA_SHA256 = None  # to be recorded from the first download on a connected machine (see the module doc)
PANDA_CLASS, GIBBON_CLASS = 388, 368  # ImageNet's "giant panda" and "gibbon"
WEIGHTS = torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1


def class_names():
    """ImageNet's 1,000 class names, from torchvision's weights metadata (no download)."""
    return list(WEIGHTS.meta["categories"])


def panda_photo(root=None):
    """The path of the panda photograph in ``<data root>/imagenet-panda``, downloaded on first use."""
    folder = pathlib.Path(root or data.data_root()) / "imagenet-panda"
    path = folder / PANDA_FILE
    if not path.exists():
        try:
            torchvision.datasets.utils.download_url(PANDA_URL, str(folder), PANDA_FILE)
        except (RuntimeError, OSError) as error:
            raise data.DataUnavailableError(
                f"The panda photograph of Figure 1 is not in the data folder ({folder}) and could not be downloaded "
                f"({data.download_failure(error)}). Connect "
                f"to the internet and run again, or put {PANDA_URL} there as {PANDA_FILE}.") from None
    return path


def load_panda(root=None):
    """The panda as a one-image :class:`quanos_lib.data.Dataset` (its test split; label "giant panda"), 224 x 224,
    uint8, prepared by the weights' transforms without their normalization (the model holds it)."""
    path = panda_photo(root)
    digest = data.file_digest(path, "sha256")
    with Image.open(path) as photo:  # Pillow: torchvision's own image decoding is deprecated
        image = TF.pil_to_tensor(photo.convert("RGB"))
    size = WEIGHTS.transforms()
    image = TF.center_crop(TF.resize(image, size.resize_size, antialias=True), size.crop_size)
    verified = PANDA_SHA256 is not None and digest == PANDA_SHA256
    info = {"name": "a giant panda photograph (Wikimedia Commons)", "source": f"imagenet-panda/{PANDA_FILE}",
            "verified": verified, "fingerprint": digest[:16], "sha256": digest, "url": PANDA_URL,
            "notice": "Not the paper's ImageNet validation image (not freely distributable); its SHA-256 is not "
                      "recorded in quanos_lib.imagenet yet: compare it with a fresh download."}
    empty = data.Split(torch.zeros(0, *image.shape, dtype=torch.uint8), torch.zeros(0, dtype=torch.long))
    return data.Dataset("ImageNet panda", empty, data.Split(image[None], torch.tensor([PANDA_CLASS])), class_names(),
                        info)


def googlenet(pretrained=True):
    """GoogLeNet taking images in [0, 1]: the weights' normalization, then torchvision's GoogLeNet. ``pretrained``:
    its ImageNet weights (downloaded on first use); else randomly initialized (for tests)."""
    if pretrained:
        try:  # torch.hub announces the download on stdout with a machine path: kept out of the notebook
            with contextlib.redirect_stdout(io.StringIO()):
                network = torchvision.models.googlenet(weights=WEIGHTS, progress=False)
        except (RuntimeError, OSError) as error:
            raise data.DataUnavailableError(
                f"GoogLeNet's ImageNet weights are not in torch's cache and could not be downloaded "
                f"({data.download_failure(error)}). Connect "
                f"to the internet and run again (torchvision downloads {WEIGHTS.url}).") from None
    else:
        network = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)
    preset = WEIGHTS.transforms()
    return nn.Sequential(models.Normalize(preset.mean, preset.std), network).eval()


def figure1(model, image, label, eps=FGSM_EPS_IMAGENET_PIXELS):
    """The three panels of Figure 1 for ``image`` (1 x 3 x H x W in [0, 1]) of class ``label``: the image, the sign of
    the input gradient of the loss, and the FGSM image ``clip(x + eps * sign(grad))``, with the model's top class and
    its confidence on both images. Returns a dict (tensors on the CPU)."""
    y = torch.tensor([label])
    adversarial = attacks.fgsm(model, image, y, eps)
    direction = (attacks.fgsm(model, image, y, 1.0, clip=None) - image.to(adversarial.device)).round()  # exactly +-1, 0
    probs = evaluation.predict_proba(model, torch.cat([image.to(adversarial.device), adversarial]))
    confidence, top = probs.max(1)
    return {"image": image.cpu()[0], "sign": direction.cpu()[0], "adversarial": adversarial.cpu()[0], "eps": eps,
            "clean_class": int(top[0]), "clean_confidence": float(confidence[0]),
            "adv_class": int(top[1]), "adv_confidence": float(confidence[1]),
            "true_class_confidence": [float(probs[0, label]), float(probs[1, label])]}


def confidence_vs_eps(model, image, label, eps_values):
    """Along FGSM (clipped to [0, 1]) at each eps: the model's top class, its confidence and the true class's
    probability, ``{"eps", "top_class", "top_confidence", "true_confidence"}``, and ``flip_eps``, the smallest eps of
    ``eps_values`` where the top class is no longer ``label`` (None if it never changes)."""
    y = torch.tensor([label])
    images = torch.cat([attacks.fgsm(model, image, y, eps).cpu() for eps in eps_values])
    probs = evaluation.predict_proba(model, images)
    confidence, top = probs.max(1)
    flips = [eps for eps, c in zip(eps_values, top.tolist()) if c != label]
    return {"eps": list(eps_values), "top_class": top.tolist(), "top_confidence": confidence.tolist(),
            "true_confidence": probs[:, label].tolist(), "flip_eps": min(flips) if flips else None}


def load_dataset(root):
    """Figure 1's data as a dataset (:data:`quanos_lib.data.LOADERS`' ``imagenet-panda``): GoogLeNet's weights and the
    panda photograph, both downloaded on first use, so that one check says whether notebook 08 can run."""
    googlenet()
    return load_panda(root)

