"""A cache of trained models, keyed by a hash of everything that determines the training.

Where: ``$QUANOS_CACHE`` if set, else ``<data root>/checkpoints`` (outside git). A file holds the
state dict and the training history; it is read with ``torch.load(weights_only=True)``. A truncated
or corrupt file is reported with a warning and the model is retrained, never a crash.
"""
import dataclasses
import hashlib
import json
import os
import pathlib
import socket
import warnings

import torch

from . import data

# Bump when a change to the training code makes earlier checkpoints stale. 2: the schedules as pylearn2 computes them
# (a linear decay reaches its final rate in its last epoch; the momentum ramp of MomentumAdjustor) and the continued
# phase of the maxout protocol as mnist_pi_continued.yaml runs it (schedules resumed, MatchChannel's stop rule).
CACHE_VERSION = 2


def cache_dir():
    if os.environ.get("QUANOS_CACHE"):
        return pathlib.Path(os.environ["QUANOS_CACHE"]).expanduser().resolve()
    return data.data_root() / "checkpoints"


def _jsonable(value, exact=True):
    if isinstance(value, torch.Tensor):  # hash the exact bytes: a different subset is a different key
        tensor = value.detach().cpu().contiguous() if exact else value
        digest = hashlib.sha256(tensor.numpy().tobytes()).hexdigest() if exact else None
        return {"tensor": digest, "shape": list(tensor.shape), "dtype": str(tensor.dtype)}
    if dataclasses.is_dataclass(value):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"cannot hash {type(value).__name__} into a checkpoint key")


def key_hash(key, exact=True):
    """A stable hash of ``key`` (dicts, lists, numbers, strings, tensors, dataclasses). ``exact=False``: tensors
    count by their shape and type only, not their values (fast: a plan of models that will not be cached)."""
    text = json.dumps({"cache_version": CACHE_VERSION, "key": key}, sort_keys=True,
                      default=lambda value: _jsonable(value, exact))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def path_for(name, key, exact=True):
    return cache_dir() / f"{name}-{key_hash(key, exact)}.pt"


def load_or_train(name, key, build, train):
    """Return ``(model, history)``: the cached state for ``key`` if readable, else ``train(build())``.

    ``build()`` makes an untrained model; ``train(model)`` trains it in place and returns its history
    (plain numbers and lists, so the file loads with ``weights_only=True``).
    """
    path = path_for(name, key)
    model = build()
    if path.exists():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(saved["state_dict"])
            return model, saved["history"]
        except Exception as error:  # truncated, corrupt or from another architecture: retrain
            warnings.warn(f"checkpoint {path.name} is unreadable ({type(error).__name__}: {error}); retraining",
                          stacklevel=2)
            model = build()
    history = train(model)
    save(path, model, history)
    return model, history


def load(path, model):
    """``model`` with the weights of the checkpoint at ``path`` and its history, or None (absent or unreadable)."""
    if not path.exists():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["state_dict"])
        return model, saved["history"]
    except Exception as error:  # truncated, corrupt or from another architecture: the caller retrains
        warnings.warn(f"checkpoint {path.name} is unreadable ({type(error).__name__}: {error}); retraining",
                      stacklevel=2)
        return None


def save(path, model, history):
    """Write a checkpoint atomically (a crash mid-write never leaves a truncated one behind; one partial file per
    writer, so two processes training the same key never write into one file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{socket.gethostname()}.{os.getpid()}.partial")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "history": history}, partial)
    os.replace(partial, path)
