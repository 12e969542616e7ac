"""Progress bars for the library's long loops that leave nothing behind when the loop ends.

tqdm's notebook bar stays on the page after its loop: a loop that stops early (an early stop) is drawn as a
red failure, and a saved notebook keeps the bar's text fallback, a stuck "training: 0%" line, for every
reader who opens it later. Here the notebook bar is shown through a display handle that is emptied when the
loop ends, however it ends (the ``with`` block closes it); outside a notebook it is tqdm's own console bar.
``$TQDM_DISABLE`` turns every bar off, the notebook bar included (which tqdm's ignores).
"""

import contextlib
import os

from tqdm import notebook
from tqdm.auto import tqdm


def disabled():
    """Whether ``$TQDM_DISABLE`` asks for no progress bars (the runner sets it for headless runs)."""
    return os.environ.get("TQDM_DISABLE", "") not in ("", "0", "false", "False")


@contextlib.contextmanager
def bar(iterable, *, desc, unit, **options):
    """A progress bar over ``iterable`` (``with progress.bar(range(n), desc=..., unit=...) as epochs:``),
    gone from the page and the saved notebook when the block ends."""
    options = {"leave": False, **options, "disable": options.get("disable", False) or disabled()}
    if not issubclass(tqdm, notebook.tqdm) or options["disable"]:  # a console, or no bars
        shown = tqdm(iterable, desc=desc, unit=unit, **options)
        try:
            yield shown
        finally:
            shown.close()
        return
    from IPython.display import display

    shown = tqdm(iterable, desc=desc, unit=unit, display=False, **options)
    handle = display(shown.container, display_id=True)
    try:
        yield shown
    finally:
        shown.n = shown.total or shown.n  # an early stop is not a failure: no red bar on the way out
        shown.close()
        handle.update({"text/plain": ""}, raw=True)
