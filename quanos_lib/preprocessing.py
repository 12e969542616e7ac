"""The maxout paper's CIFAR-10 preprocessing, which the FGSM paper's CIFAR-10 results are measured in.

1. Global contrast normalization, per image: subtract its mean, divide by its L2 norm, multiply by 55
   (pylearn2's ``global_contrast_normalize(scale=55)``): every image becomes a vector of norm 55.
2. ZCA whitening fitted on the (normalized) training set: ``z = (x - mean) @ P`` with
   ``P = V diag(1 / sqrt(lambda + filter_bias)) V^T`` from the eigendecomposition of the covariance,
   ``filter_bias = 0.1``. The bias keeps directions of tiny variance from being blown up, so the
   whitened covariance is ``V diag(lambda / (lambda + bias)) V^T``: the identity on the directions that
   carry the images, less on the noise directions.

FGSM's eps (0.1 for F3) is measured in this preprocessed space, as in the paper (its pixels have a
standard deviation of about 0.5 there). Written by hand because neither torchvision nor torch offers
ZCA whitening or pylearn2's GCN; the fit is cached next to the checkpoints, keyed by the data. Both the fit and its
application run on one CPU thread (:func:`one_thread`): their bytes enter the conv maxout's checkpoint key.
"""
import contextlib

import torch

from . import checkpoints, data

GCN_SCALE = 55.0
ZCA_FILTER_BIAS = 0.1


def global_contrast_normalize(x, scale=GCN_SCALE, min_divisor=1e-8):
    """Per image: subtract the mean, divide by the L2 norm, times ``scale``. ``x``: N x ... (any shape)."""
    flat = x.reshape(len(x), -1).to(torch.float64)
    flat = flat - flat.mean(dim=1, keepdim=True)
    norms = flat.norm(dim=1, keepdim=True) / scale
    norms[norms < min_divisor] = 1.0  # a constant image stays zero instead of dividing by zero
    return (flat / norms).reshape(x.shape).to(torch.float32)


class ZCA:
    """ZCA whitening with a filter bias; ``fit`` on N x D data, then ``__call__`` and ``inverse``."""

    def __init__(self, filter_bias=ZCA_FILTER_BIAS):
        self.filter_bias = filter_bias
        self.mean = self.matrix = self.inverse_matrix = None

    def fit(self, x):
        flat = x.reshape(len(x), -1).to(torch.float64)
        self.mean = flat.mean(dim=0)
        centered = flat - self.mean
        eigenvalues, eigenvectors = torch.linalg.eigh(centered.T @ centered / len(flat))
        eigenvalues = eigenvalues.clamp_min(0.0)
        self.matrix = (eigenvectors / (eigenvalues + self.filter_bias).sqrt()) @ eigenvectors.T
        self.inverse_matrix = (eigenvectors * (eigenvalues + self.filter_bias).sqrt()) @ eigenvectors.T
        return self

    def __call__(self, x):
        flat = x.reshape(len(x), -1).to(torch.float64)
        return ((flat - self.mean) @ self.matrix).reshape(x.shape).to(torch.float32)

    def inverse(self, z):
        flat = z.reshape(len(z), -1).to(torch.float64)
        return (flat @ self.inverse_matrix + self.mean).reshape(z.shape).to(torch.float32)

    def state_dict(self):
        return {"mean": self.mean, "matrix": self.matrix, "inverse_matrix": self.inverse_matrix,
                "filter_bias": torch.tensor(self.filter_bias)}

    def load_state_dict(self, state):
        self.mean, self.matrix, self.inverse_matrix = state["mean"], state["matrix"], state["inverse_matrix"]
        self.filter_bias = float(state["filter_bias"])


class _Holder(torch.nn.Module):
    """Lets the checkpoint cache store a fitted ZCA like a model's state dict."""

    def __init__(self, zca):
        super().__init__()
        self.zca = zca

    def state_dict(self, *args, **kwargs):
        return self.zca.state_dict()

    def load_state_dict(self, state, strict=True):
        self.zca.load_state_dict(state)


@contextlib.contextmanager
def one_thread():
    """Run the block on one CPU thread. Why: a matrix product sums in an order that depends on torch's thread count,
    so the ZCA and the preprocessed images (whose bytes key the conv maxout's checkpoint) would differ between a 1- and
    a 2-thread run; on one thread they are the same whatever count the run was given."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def fitted_zca(train_images, filter_bias=ZCA_FILTER_BIAS):
    """The ZCA fitted on GCN-normalized ``train_images`` (float in [0, 1]), from the cache if present."""
    def fit(holder):
        with one_thread():
            holder.zca.fit(global_contrast_normalize(train_images))
        return {}
    key = {"name": "zca", "filter_bias": filter_bias, "gcn_scale": GCN_SCALE, "train": train_images}
    holder, _ = checkpoints.load_or_train("zca", key, lambda: _Holder(ZCA(filter_bias)), fit)
    return holder.zca


def preprocess(images, zca):
    """GCN then ZCA: float images in [0, 1] -> the maxout paper's input space (on one thread: :func:`one_thread`)."""
    with one_thread():
        return zca(global_contrast_normalize(images))


def for_display(z, zca):
    """Back to something viewable: undo ZCA (GCN cannot be undone: each image's mean and norm are gone),
    then stretch each image to [0, 1]."""
    x = zca.inverse(z)
    flat = x.reshape(len(x), -1)
    low, high = flat.min(dim=1, keepdim=True).values, flat.max(dim=1, keepdim=True).values
    return ((flat - low) / (high - low).clamp_min(1e-12)).reshape(x.shape)


def gcn_zca_dataset(dataset):
    """``(preprocessed dataset, zca)``: both splits through GCN + the ZCA fitted on the training split."""
    train = dataset.train.float()
    zca = fitted_zca(train.x)
    splits = [data.Split(preprocess(split.x, zca), split.y) for split in (train, dataset.test.float())]
    info = dict(dataset.info, preprocessing=f"GCN (scale {GCN_SCALE:g}) + ZCA (filter bias {zca.filter_bias:g}) "
                                            f"fitted on the training split")
    return data.Dataset(dataset.name, *splits, dataset.classes, info), zca
