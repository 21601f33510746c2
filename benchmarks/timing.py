"""Wall-clock timing shared by the benchmark scripts (each runs from this folder, so `from timing import ...` finds it).

The machine is shared: the smallest of several times is the least disturbed (`best`, `timed`); `median_time` where
a typical run is wanted."""
import statistics
import time


def wall_times(fn, reps):
    "The wall time of each of `reps` calls of `fn`, and the last call's result."
    ts, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter(); out = fn(); ts.append(time.perf_counter() - t0)
    return ts, out


def timed(fn, reps):
    "(smallest wall time of `reps` calls, the last call's result); inf when `reps` is 0."
    ts, out = wall_times(fn, reps)
    return min(ts, default=float('inf')), out


def best(fn, reps):
    "Smallest wall time of `reps` calls."
    return timed(fn, reps)[0]


def median_time(fn, reps=1):
    "Median wall time of `reps` calls."
    return statistics.median(wall_times(fn, reps)[0])
