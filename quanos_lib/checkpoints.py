"""A cache of trained models, keyed by a hash of everything that determines the training.

Where: ``$QUANOS_CACHE`` if set, else ``<data root>/checkpoints`` (outside git). A file holds the
state dict and the training history; it is read with ``torch.load(weights_only=True)``. A truncated
or corrupt file is reported with a warning and the model is retrained, never a crash.

For a workflow of many jobs (``workflow/Snakefile``): ``$QUANOS_CACHE_ONLY=1`` (or :func:`reading_only`) turns every
training into a :class:`CacheMiss` naming the checkpoint and the job that makes it; :data:`LEDGER` lists what this
process read and trained (a job's receipt); and a file lock per key (:func:`locked`) makes a second process that wants
the same model wait for the first and then read it, instead of training it twice.
"""
import contextlib
import dataclasses
import fcntl
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


# What this process read from the cache and trained into it: ``{"checkpoint": name, "action": "read" | "trained"}``.
LEDGER = []
_READING_ONLY = []  # set inside reading_only()


class CacheMiss(RuntimeError):
    """A model is not in the cache and this run may only read it (``$QUANOS_CACHE_ONLY``, :func:`reading_only`)."""


def cache_only():
    """Whether this process may only read the cache: ``$QUANOS_CACHE_ONLY`` set (to anything but 0), or inside
    :func:`reading_only`."""
    return bool(_READING_ONLY) or os.environ.get("QUANOS_CACHE_ONLY", "0") not in ("", "0")


@contextlib.contextmanager
def reading_only():
    """Inside, a missing model is a :class:`CacheMiss` (a job reading a model that an upstream job trains)."""
    _READING_ONLY.append(True)
    try:
        yield
    finally:
        _READING_ONLY.pop()


def _job_that_makes(path):
    """The job that trains the checkpoint at ``path``, from the registry file a workflow writes beside its jobs
    (``$QUANOS_JOBS_FILE``: ``{model name: job id}``), or None."""
    registry = os.environ.get("QUANOS_JOBS_FILE")
    if not registry or not pathlib.Path(registry).exists():
        return None
    return json.loads(pathlib.Path(registry).read_text()).get(path.name.rsplit("-", 1)[0])


def check_trainable(path):
    """Raise :class:`CacheMiss` (one line: the checkpoint and the job that makes it) where training is not allowed."""
    if not cache_only():
        return
    job = _job_that_makes(path)
    then = f"run job {job} first (python -m quanos_lib.jobs train {job})" if job else \
        "train it first (python -m quanos_lib.jobs list names the job that makes it)"
    raise CacheMiss(f"checkpoint {path.name} is not in the cache {path.parent} and this run only reads it "
                    f"(QUANOS_CACHE_ONLY): {then}")


@contextlib.contextmanager
def locked(paths):
    """Hold a file lock per checkpoint of ``paths`` (in a sorted order, so that two stacks never deadlock): a second
    process training the same key waits here, then finds the first one's checkpoint."""
    with contextlib.ExitStack() as stack:
        for path in sorted(set(paths)):
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = stack.enter_context(open(path.with_name(f"{path.name}.lock"), "a"))
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


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
    existed = path.exists()
    found = load(path, build())
    if found is not None:
        return found
    check_trainable(path)
    with locked([path]):
        found = load(path, build()) if path.exists() and not existed else None  # trained while this one waited
        if found is not None:
            return found
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
    except Exception as error:  # truncated, corrupt or from another architecture: the caller retrains
        warnings.warn(f"checkpoint {path.name} is unreadable ({type(error).__name__}: {error}); retraining",
                      stacklevel=2)
        return None
    LEDGER.append({"checkpoint": path.name, "action": "read"})
    return model, saved["history"]


def save(path, model, history):
    """Write a checkpoint atomically (a crash mid-write never leaves a truncated one behind; one partial file per
    writer, so two processes training the same key never write into one file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{socket.gethostname()}.{os.getpid()}.partial")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "history": history}, partial)
    os.replace(partial, path)
    LEDGER.append({"checkpoint": path.name, "action": "trained"})
