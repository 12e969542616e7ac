"""quanos_lib: the shared library of the FGSM + QUANOS paper companion.

One module per idea, each arrow one way (see ``../shared/design/ARCHITECTURE.md``):

- ``data``, ``preprocessing``: datasets as in-memory tensors (and the maxout paper's GCN + ZCA);
- ``profiles``: the scale of every experiment per profile; ``paper``: the papers' numbers and settings;
- ``models``: the papers' architectures; ``attacks``: adversarial examples (FGSM, PGD), nothing else;
- ``training``: the one training loop; ``checkpoints``: the cache of trained models; ``zoo``: the shared models;
- ``evaluation``: every measurement of a trained model;
- ``ans``, ``quantization``, ``quanos``, ``energy``: QUANOS (sensitivity, fake quantization, Algorithm 1 in one
  call, MAC energy);
- ``experiment``: a notebook's set-up and its recorded results; ``results``: the registry and scorecard;
  ``plotting``: every figure; ``reproduce``: the runner behind ``./reproduce.sh``.
"""
__version__ = "0.1.0"
