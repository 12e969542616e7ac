"""The papers' architectures. Every model takes images in [0, 1] (N x C x H x W) and returns logits.

Linear models of the FGSM paper (notebook 01):
- :class:`SoftmaxRegression`: the "shallow softmax" of F1, one linear layer over the 784 pixels.
- :class:`LogisticRegression`: the binary model of F4/F5 with one score ``z = w.x + b``. It returns
  the two logits ``[0, z]`` so that cross-entropy on class c in {0, 1} is exactly the logistic loss
  ``softplus(-y z)`` with ``y = 2c - 1`` in {-1, +1}; FGSM, training and evaluation then treat it
  like any other classifier.
"""
import torch
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
