"""quanos_lib: the shared library of the FGSM + QUANOS paper companion.

One module per idea: ``data``, ``profiles``, ``models``, ``attacks``, ``training``, ``checkpoints``,
``paper`` (the papers' numbers), ``results`` (the registry and scorecard), ``plotting``, and
``reproduce`` (the runner behind ``./reproduce.sh``).
"""
__version__ = "0.1.0"
