"""The papers' architectures. Every model takes images in [0, 1] (N x C x H x W) and returns logits.

Models whose classes are independent probabilities (an RBF network, a sigmoid top) say so through
:func:`independent_classes`; :func:`probabilities` and :func:`loss` then use their own form, so the
training loop, FGSM and the evaluation treat every model the same way.

Linear models of the FGSM paper (notebook 01):
- :class:`SoftmaxRegression`: the "shallow softmax" of F1, one linear layer over the 784 pixels.
- :class:`LogisticRegression`: the binary model of F4/F5 with one score ``z = w.x + b``. It returns
  the two logits ``[0, z]`` so that cross-entropy on class c in {0, 1} is exactly the logistic loss
  ``softplus(-y z)`` with ``y = 2c - 1`` in {-1, +1}; FGSM, training and evaluation then treat it
  like any other classifier.
"""
import contextlib
import itertools
import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn


class SoftmaxRegression(nn.Module):
    def __init__(self, in_features=784, classes=10):
        super().__init__()
        self.linear = nn.Linear(in_features, classes)

    def forward(self, x):
        return self.linear(x.flatten(1))


class LogisticRegression(nn.Module):
    def __init__(self, in_features=784):
        super().__init__()
        self.linear = nn.Linear(in_features, 1)

    def score(self, x):
        """``z = w.x + b``: positive means class 1."""
        return self.linear(x.flatten(1)).squeeze(1)

    def forward(self, x):
        z = self.score(x)
        return torch.stack([torch.zeros_like(z), z], dim=1)


# --- Maxout networks (Goodfellow et al., 2013), as configured for permutation-invariant MNIST ---------------

class Maxout(nn.Module):
    """``units`` maxout units of ``pieces`` linear pieces each: ``h_i = max_j (W x + b)_{i, j}``.

    The pieces of a unit are adjacent rows of the one linear map (pylearn2's layout), so every row of
    ``linear.weight`` is one piece's incoming weights and the max-norm constraint applies per piece.
    """

    def __init__(self, in_features, units, pieces):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x):
        return self.linear(x).view(x.shape[0], self.units, self.pieces).amax(dim=2)


class MaxoutMLP(nn.Module):
    """784 -> maxout(units x pieces) -> maxout(units x pieces) -> 10, with dropout on each layer's input.

    The maxout paper's MNIST configuration: weights U(-0.005, 0.005), biases 0, dropout keeping 80% of
    the inputs and 50% of each hidden layer's inputs. ``top="softmax"`` is the usual classifier;
    ``top="sigmoid"`` gives one independent sigmoid per class (the FGSM paper's F17 variant), trained
    one-vs-rest.
    """

    def __init__(self, units=240, pieces=5, classes=10, in_features=784, top="softmax", init_range=0.005):
        super().__init__()
        if top not in ("softmax", "sigmoid"):
            raise ValueError(f"top must be 'softmax' or 'sigmoid', not {top!r}")
        self.top = top
        self.input_dropout = nn.Dropout(0.2)
        self.h0 = Maxout(in_features, units, pieces)
        self.h0_dropout = nn.Dropout(0.5)
        self.h1 = Maxout(units, units, pieces)
        self.h1_dropout = nn.Dropout(0.5)
        self.out = nn.Linear(units, classes)
        for layer in (self.h0.linear, self.h1.linear, self.out):
            nn.init.uniform_(layer.weight, -init_range, init_range)
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        x = self.h0(self.input_dropout(x.flatten(1)))
        x = self.h1(self.h0_dropout(x))
        return self.out(self.h1_dropout(x))

    def extra_repr(self):
        # the repr is part of every checkpoint's key: a sigmoid top must not share the softmax net's checkpoint (the
        # softmax repr stays as it was, so no softmax key moves)
        return "top=sigmoid" if self.top == "sigmoid" else ""

    def log_probabilities(self, outputs):
        """For the sigmoid top: ``(log p, log (1 - p))`` of each class independently."""
        return F.logsigmoid(outputs), F.logsigmoid(-outputs)


class RBFNetwork(nn.Module):
    """A shallow RBF network with no hidden layer (F13, F17):
    ``p(y=i | x) = exp(-sum_d beta_id (x_d - w_id)^2)``, the paper's ``exp((x - mu)^T beta (x - mu))``
    with a diagonal precision.

    Choice of form: each class has a learned prototype ``w_i`` and learned per-pixel precisions
    ``beta_id > 0`` (so a class can ignore pixels that do not matter to it). The class scores are
    independent probabilities in (0, 1], not a softmax, so the confidence (the predicted class's score)
    falls far below 1/10 on inputs far from every prototype. Trained one-vs-rest:
    ``-log p_y - sum_{j != y} log(1 - p_j)``. ``forward`` returns ``log p``.
    Prototypes start at 0.5 and precisions at 1/50, which puts a typical digit's scores inside (0, 1).
    ``precision="scalar"`` gives each class one precision for all its pixels instead (``beta_i``, an isotropic RBF),
    the variant notebook 04 sets beside the scored one.
    """

    def __init__(self, in_features=784, classes=10, init_beta=1 / 50, precision="diagonal"):
        super().__init__()
        if precision not in ("diagonal", "scalar"):
            raise ValueError(f"precision must be 'diagonal' or 'scalar', not {precision!r}")
        self.precision = precision
        self.prototypes = nn.Parameter(torch.full((classes, in_features), 0.5))
        width = in_features if precision == "diagonal" else 1
        self.log_beta = nn.Parameter(torch.full((classes, width), math.log(init_beta)))

    def extra_repr(self):  # part of the checkpoint key
        return f"precision={self.precision}"

    def forward(self, x):
        x = x.flatten(1)
        beta = self.log_beta.exp().expand_as(self.prototypes)
        # sum_d beta (x - w)^2, expanded into matrix products instead of an N x classes x D tensor
        weighted_distance = (x * x) @ beta.T - 2 * x @ (beta * self.prototypes).T \
            + (beta * self.prototypes ** 2).sum(1)
        return -weighted_distance

    def log_probabilities(self, outputs):
        outputs = outputs.clamp(max=-1e-6)  # log(1 - p) is -inf at p = 1
        return outputs, torch.log(-torch.expm1(outputs))


class Ensemble(nn.Module):
    """The average of its members' softmax outputs (F15). ``forward`` returns the log of that average,
    so softmax, cross-entropy and FGSM apply to the ensemble as to any classifier: FGSM follows the
    gradient of ``-log mean_k p_k(y | x)``, the loss of the averaged output.
    """

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x):
        log_probs = torch.stack([F.log_softmax(member(x), dim=1) for member in self.members])
        return torch.logsumexp(log_probs, dim=0) - math.log(len(self.members))


class MemberOutputs(nn.Module):
    """An ensemble's members side by side: ``forward`` returns their logits stacked (members x N x classes), so that an
    attack can follow the mean of the members' cross-entropies (:func:`mean_member_cross_entropy`) instead of the loss
    of the averaged output, the other way the FGSM paper's unstated attack on an ensemble may have gone (F15)."""

    def __init__(self, ensemble):
        super().__init__()
        self.ensemble = ensemble

    def forward(self, x):
        return torch.stack([member(x) for member in self.ensemble.members])


def mean_member_cross_entropy(outputs, y):
    """The members' cross-entropies (``outputs`` of :class:`MemberOutputs`), summed over examples, averaged over
    members: the loss an attack on :class:`MemberOutputs` climbs."""
    return F.cross_entropy(outputs.flatten(0, 1), y.repeat(len(outputs)), reduction="sum") / len(outputs)


class MPDBM(nn.Module):
    """The multi-prediction deep Boltzmann machine of F16 (Goodfellow, Mirza, Courville & Bengio, NIPS 2013): one
    probabilistic model, trained by backpropagating through mean-field inference, that classifies by inference.

    **The model** (the MNIST DBM of Salakhutdinov & Hinton, 2009): binary visible units ``v`` (784 pixels, their
    intensities in [0, 1] read as probabilities), two binary hidden layers ``h1`` (``hidden[0]``, 500) and ``h2``
    (``hidden[1]``, 1000), and a one-of-10 label ``y`` attached to ``h2``, with the energy
    ``E = -v.W1.h1 - h1.W2.h2 - h2.U.y - b_v.v - b_1.h1 - b_2.h2 - b_y.y``.

    **Mean-field inference** (:meth:`infer`): the observed variables are clamped, the others start at ``Q(v_i) = 1/2``,
    ``Q(y) = 1/10`` and ``Q(h2) = 0``, then ``steps`` times, in this order,
    ``Q(h1) = sigmoid(v W1 + Q(h2) W2^T + b_1)``, ``Q(h2) = sigmoid(Q(h1) W2 + Q(y) U^T + b_2)``, and for the unobserved
    ones ``Q(v) = sigmoid(Q(h1) W1^T + b_v)``, ``Q(y) = softmax(Q(h2) U + b_y)``: each update is the exact fixed-point
    equation of its layer given its neighbours, so the iteration settles at a fixed point of the mean-field equations.

    **Classification** (``forward``): every pixel observed, the label not; the outputs are the label's logits after
    ``steps`` updates (``log Q(y)`` up to a constant), so the loss, softmax and FGSM apply as to any classifier; FGSM
    differentiates through the ``steps`` unrolled updates with autograd, as the MP-DBM's own training does.

    **Multi-prediction training** (:meth:`training_loss`): per example, each pixel and the label are independently
    *predicted* (hidden from the inference) with probability ``mask_rate`` (choice: 1/2), the rest observed; the loss is
    the negative log-likelihood of the predicted variables under their mean-field marginals (pixels: cross-entropy
    against their intensities; label: ``-log Q(y)``), summed over them and averaged over the batch, backpropagated
    through the unrolled inference. Choices (the FGSM paper reports the MP-DBM's numbers, not its recipe): no
    centering, no multi-inference trick, and the same ``steps`` in training and at test.

    **Initialization** (choice): weights normal with Glorot's scale, std ``sqrt(2 / (fan_in + fan_out))``, hidden and
    label biases zero, and, given ``visible_mean`` (the training images' mean pixel), visible biases at its logit, so
    that with no hidden input each pixel's prediction is its average (Hinton's practical guide to RBMs, 2010).
    Seen during development (all 50k training images, SGD, 5 epochs; not a recorded result): from weights of std
    0.01 the label stayed at chance (89-90% validation error); with this initialization the same training classified
    (5.9%). ``init_scale`` instead draws
    every weight with that std.
    """

    def __init__(self, visible=784, hidden=(500, 1000), classes=10, steps=10, mask_rate=0.5, init_scale=None,
                 visible_mean=None):
        super().__init__()
        self.steps, self.mask_rate, self.init_scale = steps, mask_rate, init_scale
        shapes = {"w1": (visible, hidden[0]), "w2": (hidden[0], hidden[1]), "u": (hidden[1], classes)}
        for name, shape in shapes.items():
            std = init_scale if init_scale is not None else (2 / sum(shape)) ** 0.5
            setattr(self, name, nn.Parameter(std * torch.randn(shape)))
        self.b_v, self.b_1 = nn.Parameter(torch.zeros(visible)), nn.Parameter(torch.zeros(hidden[0]))
        self.b_2, self.b_y = nn.Parameter(torch.zeros(hidden[1])), nn.Parameter(torch.zeros(classes))
        self.visible_biases_from_mean = visible_mean is not None
        if visible_mean is not None:
            with torch.no_grad():
                self.b_v.copy_(torch.logit(torch.as_tensor(visible_mean, dtype=torch.float32).flatten(), eps=0.01))

    def extra_repr(self):  # part of the checkpoint key: another initialization is another model
        init = f"weight std {self.init_scale:g}" if self.init_scale is not None else "Glorot"
        return (f"{self.w1.shape[0]}-{self.w1.shape[1]}-{self.w2.shape[1]} + {self.u.shape[1]} labels, steps={self.steps}, "
                f"mask_rate={self.mask_rate:g}, init={init}"
                + (", visible biases from the pixel means" if self.visible_biases_from_mean else ""))

    def infer(self, v, v_observed, y=None, y_observed=None, steps=None):
        """Mean-field inference: ``v`` (N x visible, in [0, 1]) where ``v_observed`` (same shape, bool) and ``y``
        (N, class indices) where ``y_observed`` (N, bool; None: the label is never observed). Returns the final
        ``(Q(v), Q(h1), Q(h2), label logits)`` with the observed values clamped in ``Q(v)``."""
        n = len(v)
        q_v = torch.where(v_observed, v, torch.full_like(v, 0.5))
        q_y = torch.full((n, self.u.shape[1]), 1 / self.u.shape[1], dtype=v.dtype, device=v.device)
        if y is not None:
            q_y = torch.where(y_observed[:, None], F.one_hot(y, self.u.shape[1]).to(v.dtype), q_y)
        q_h2 = torch.zeros(n, self.w2.shape[1], dtype=v.dtype, device=v.device)
        logits = None
        for _ in range(self.steps if steps is None else steps):
            q_h1 = torch.sigmoid(q_v @ self.w1 + q_h2 @ self.w2.T + self.b_1)
            q_h2 = torch.sigmoid(q_h1 @ self.w2 + q_y @ self.u.T + self.b_2)
            q_v = torch.where(v_observed, v, torch.sigmoid(q_h1 @ self.w1.T + self.b_v))
            logits = q_h2 @ self.u + self.b_y
            predicted_y = F.softmax(logits, dim=1)
            q_y = predicted_y if y is None else torch.where(y_observed[:, None], q_y, predicted_y)
        return q_v, q_h1, q_h2, logits

    def forward(self, x):
        v = x.flatten(1)
        return self.infer(v, torch.ones_like(v, dtype=torch.bool))[3]

    def training_loss(self, x, y, generator=None):
        """The multi-prediction loss of a mini-batch (see the class doc), its masks drawn from ``generator`` (default:
        torch's seeded global generator)."""
        v = x.flatten(1)
        drawn_on = generator.device if generator is not None else v.device
        v_predicted = (torch.rand(v.shape, generator=generator, device=drawn_on) < self.mask_rate).to(v.device)
        y_predicted = (torch.rand(len(v), generator=generator, device=drawn_on) < self.mask_rate).to(v.device)
        q_v, _, _, logits = self.infer(v, ~v_predicted, y, ~y_predicted)
        pixels = F.binary_cross_entropy(q_v.clamp(1e-6, 1 - 1e-6), v, reduction="none")
        label = F.cross_entropy(logits, y, reduction="none")
        return ((pixels * v_predicted).sum(1) + label * y_predicted).mean()


@contextlib.contextmanager
def eval_mode(model):
    """Put ``model`` in eval mode (batch-norm running statistics, no dropout) and restore, afterwards, the mode
    every submodule had before, one by one (as advertorch's ``ctx_noparamgrad_and_eval`` does): a model with a
    frozen part (say, a batch-norm layer kept in eval mode while the rest trains) comes back exactly as it was."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


def reestimate_batch_norm(model, split, *, batch_size=500):
    """Recompute every batch-norm layer's running statistics of ``model`` from the images of ``split``
    (training images), with torch's ``torch.optim.swa_utils.update_bn`` (exact averages over the split, no
    gradient step). After a layer is removed (QUANOS's Q2), the layers behind it see inputs other than the
    ones their statistics were kept for. Returns ``model``, in the mode it had."""
    batches = [xb for xb in split.float().x.split(batch_size)]
    torch.optim.swa_utils.update_bn(batches, model, device=device(model))
    return model


def device(model, default="cpu"):
    """The device a model lives on: that of its first parameter (or buffer); ``default`` for a model with neither."""
    tensor = next(itertools.chain(model.parameters(), model.buffers()), None)
    return tensor.device if tensor is not None else torch.device(default)


def independent_classes(model):
    """True for models whose class scores are independent probabilities (sigmoid top, RBF)."""
    return isinstance(model, RBFNetwork) or getattr(model, "top", "softmax") == "sigmoid"


def probabilities(model, outputs):
    """Per-class probabilities from a model's outputs: softmax, or the independent scores."""
    if independent_classes(model):
        return model.log_probabilities(outputs)[0].exp()
    return F.softmax(outputs, dim=1)


def loss(model, outputs, y, reduction="mean"):
    """The model's training loss: cross-entropy, or one-vs-rest log loss for independent classes."""
    if not independent_classes(model):
        return F.cross_entropy(outputs, y, reduction=reduction)
    log_p, log_not_p = model.log_probabilities(outputs)
    per_example = -torch.where(F.one_hot(y, outputs.shape[1]).bool(), log_p, log_not_p).sum(dim=1)
    return per_example.sum() if reduction == "sum" else per_example.mean()


# --- The convolutional maxout network of the maxout paper's CIFAR-10 configuration ---------------------------

class ConvMaxout(nn.Module):
    """A convolution with ``channels x pieces`` filters, the max over each channel's ``pieces`` adjacent
    filters, then max-pooling: pylearn2's convolutional maxout layer."""

    def __init__(self, in_channels, channels, pieces, kernel, padding, pool, pool_stride, max_norm=None):
        super().__init__()
        self.channels, self.pieces = channels, pieces
        self.conv = nn.Conv2d(in_channels, channels * pieces, kernel, padding=padding)
        if max_norm is not None:  # this layer's own max filter norm; else the training config's applies
            self.conv.max_norm = max_norm
        self.pool = nn.MaxPool2d(pool, pool_stride)

    def forward(self, x):
        z = self.conv(x)
        n, _, h, w = z.shape
        return self.pool(z.view(n, self.channels, self.pieces, h, w).amax(dim=2))


class ConvMaxoutNet(nn.Module):
    """The maxout paper's CIFAR-10 network, on GCN + ZCA preprocessed 3 x 32 x 32 inputs:

    conv maxout 96 x 2 pieces, 8x8 kernel, pad 4, pool 4/2 -> 192 x 2, 8x8, pad 3, pool 4/2 ->
    192 x 2, 5x5, pad 3, pool 2/2 -> maxout 500 x 5 -> softmax(10). Weights U(-0.005, 0.005);
    max kernel norm 0.9 on the first layer, 1.9365 elsewhere (set through the training config's
    ``max_col_norm``); dropout keeping 80% of the input and 50% of every later layer's input; the conv
    layers learn at 0.05 times the rate (``lr_scale``). ``width`` scales every layer's channels and units
    (``width=1`` is the paper's network; the `cpu` profile trains a narrower one). ``init_range=None``
    keeps PyTorch's default initialization instead of the paper's U(-0.005, 0.005).
    """

    def __init__(self, width=1.0, classes=10, init_range=0.005, conv_lr_scale=0.05):
        super().__init__()
        c0, c1, c2, units = (max(1, round(n * width)) for n in (96, 192, 192, 500))
        self.input_dropout = nn.Dropout(0.2)
        self.h0 = ConvMaxout(3, c0, 2, 8, padding=4, pool=4, pool_stride=2, max_norm=0.9)
        self.h1 = ConvMaxout(c0, c1, 2, 8, padding=3, pool=4, pool_stride=2)
        self.h2 = ConvMaxout(c1, c2, 2, 5, padding=3, pool=2, pool_stride=2)
        self.hidden_dropout = nn.Dropout(0.5)
        self.h3 = Maxout(c2 * 4 * 4, units, 5)  # 32 -> 15 -> 6 -> 4 pixels a side
        self.out = nn.Linear(units, classes)
        if init_range is not None:
            for layer in (self.h0.conv, self.h1.conv, self.h2.conv, self.h3.linear, self.out):
                nn.init.uniform_(layer.weight, -init_range, init_range)
                nn.init.zeros_(layer.bias)
        for layer in (self.h0.conv, self.h1.conv, self.h2.conv):
            layer.lr_scale = conv_lr_scale

    def forward(self, x):
        x = self.h0(self.input_dropout(x))
        x = self.h1(self.hidden_dropout(x))
        x = self.h2(self.hidden_dropout(x))
        x = self.h3(self.hidden_dropout(x.flatten(1)))
        return self.out(self.hidden_dropout(x))


# --- VGG-19 for 32 x 32 inputs (QUANOS) -------------------------------------------------------------------

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
VGG19_LAYOUT = [64, 64, "pool", 128, 128, "pool", 256, 256, 256, 256, "pool",
                512, 512, 512, 512, "pool", 512, 512, 512, 512, "pool"]


class Normalize(nn.Module):
    """Per-channel standardization inside the model, so that attacks see inputs in [0, 1]."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


class VGG19(nn.Module):
    """VGG-19 (configuration E) for 32 x 32 images, the usual CIFAR form: 16 conv layers (3x3, batch norm,
    ReLU) in five blocks, each block ending in 2x2 max-pooling, then one linear classifier.

    Module names are stable and readable, and every per-layer table uses them: ``features.conv{b}_{i}``,
    ``features.bn{b}_{i}``, ``features.relu{b}_{i}``, ``features.pool{b}`` and ``classifier``.
    ``width`` scales every layer's channels (1 = the paper's network; `cpu` trains a narrower copy).
    Inputs are images in [0, 1]; the CIFAR-10 normalization is the model's first step.
    """

    def __init__(self, width=1.0, classes=10, mean=CIFAR10_MEAN, std=CIFAR10_STD):
        super().__init__()
        self.normalize = Normalize(mean, std)
        layers, block, index, channels = {}, 1, 1, 3
        for entry in VGG19_LAYOUT:
            if entry == "pool":
                layers[f"pool{block}"] = nn.MaxPool2d(2)
                block, index = block + 1, 1
                continue
            out = max(1, round(entry * width))
            layers[f"conv{block}_{index}"] = nn.Conv2d(channels, out, 3, padding=1, bias=False)
            layers[f"bn{block}_{index}"] = nn.BatchNorm2d(out)
            layers[f"relu{block}_{index}"] = nn.ReLU()
            channels, index = out, index + 1
        self.features = nn.Sequential(OrderedDict(layers))
        self.classifier = nn.Linear(channels, classes)

    def forward(self, x):
        return self.classifier(self.features(self.normalize(x)).flatten(1))

    def conv_names(self):
        return [f"features.{name}" for name, m in self.features.named_children() if isinstance(m, nn.Conv2d)]
