"""The one timing helper the benchmarks share: compared functions timed side by side, interleaved."""
import statistics
import time


def interleaved_medians(functions, repeats=5):
    """``{name: median wall time}`` of each function of ``functions`` (``{name: fn}``), called in turn, round after
    round, ``repeats`` rounds after one warm-up round: a slow spell of the machine (another process, a clock
    change) then falls on every function alike instead of on whichever ran during it."""
    times = {name: [] for name in functions}
    for round_ in range(repeats + 1):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            if round_:  # round 0 warms up (allocations, caches, lazy initialization)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}
