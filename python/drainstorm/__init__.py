"""drainstorm from Python: replay a datacenter drain in a deterministic
simulation, and use drainstorm's lock-free balancers and client retry
policies inside your own models (SimPy, Ciw, notebooks).

The simulation runs in Rust with the GIL released. Results come back as
the command line writes them: the summary as a dict (the schema of
``summary.json``), the series as pandas DataFrames (the columns and units
of ``series.csv``, ``sites.csv`` and ``timeline.csv``).

>>> import drainstorm
>>> r = drainstorm.run("mm1", set=["duration=20s"])
>>> r.summary["runs"][0]["summary"]["verdict"]
'absorbed'
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional

from . import _drainstorm
from ._drainstorm import (
    DrainstormError,
    Hedge,
    InFlight,
    Request,
    __version__,
    bundled,
    deterministic_subset,
    random_subset,
    zone_split,
)

__all__ = [
    "AdaptiveLimiter",
    "Balancer",
    "ConcurrencyFilter",
    "BoundedLoad",
    "DrainstormError",
    "Hedge",
    "InFlight",
    "LeastConn",
    "LeastRequest",
    "Maglev",
    "PeakEwma",
    "Policy",
    "PowerOfTwo",
    "Request",
    "Result",
    "Ring",
    "Simulation",
    "SmoothWrr",
    "bundled",
    "deterministic_subset",
    "random_subset",
    "zone_split",
    "explain",
    "Explanation",
    "SweepResult",
    "plan",
    "plan_size",
    "run",
    "show",
    "sweep",
]


def _frame(csv_text: str):
    import pandas as pd

    return pd.read_csv(io.StringIO(csv_text))


@dataclass
class Result:
    """A comparison's results: ``summary`` is the parsed ``summary.json``;
    ``series``, ``sites`` and ``timeline`` are DataFrames with the columns
    of the CSV files of the same names."""

    summary: Dict[str, Any]
    series: Any
    sites: Any
    timeline: Any


def _strings(name: str, values: Optional[Iterable[str]]) -> Optional[List[str]]:
    if values is None:
        return None
    if isinstance(values, str):
        raise TypeError(f"{name} must be a list of strings, not a string")
    out = list(values)
    for v in out:
        if not isinstance(v, str):
            raise TypeError(f"{name} must be a list of strings, found {type(v).__name__}")
    return out


def _changes(set: Optional[Iterable[str]], scale: Optional[float]) -> Optional[List[str]]:
    """``set`` overrides, then ``scale`` (the profile's size factor) as one more."""
    out = _strings("set", set)
    if scale is None:
        return out
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise TypeError(f"scale must be a number, not {type(scale).__name__}")
    return (out or []) + [f"scale={float(scale)!r}"]


def run(
    profile: str,
    *,
    seed: Optional[int] = None,
    set: Optional[Iterable[str]] = None,
    scale: Optional[float] = None,
    balancers: Optional[Iterable[str]] = None,
    policies: Optional[Iterable[str]] = None,
    seeds: Optional[int] = None,
    threads: Optional[int] = None,
) -> Result:
    """Run a profile's comparison, as ``drainstorm run`` does.

    ``profile`` is a bundled profile's name, a path, or TOML text. ``set``
    overrides keys (``"sites[1].backends[0].count=12"``); ``scale`` runs the
    profile at that many times its size (``drainstorm run --scale``);
    ``balancers`` and ``policies`` replace the profile's comparison;
    ``threads`` defaults to one per core. Bad input raises :class:`DrainstormError` with the
    command line's message (file, line, column, key).
    """
    if not isinstance(profile, str):
        raise TypeError(f"profile must be a str (a name, a path or TOML), not {type(profile).__name__}")
    summary, series, sites, timeline = _drainstorm.run(
        profile,
        seed=seed,
        set=_changes(set, scale),
        balancers=_strings("balancers", balancers),
        policies=_strings("policies", policies),
        seeds=seeds,
        threads=threads,
    )
    return Result(json.loads(summary), _frame(series), _frame(sites), _frame(timeline))


@dataclass
class Explanation:
    """What :func:`explain` returns: ``document`` (``explain.json``'s
    contents as a dict: per combination its trigger, margin, ablations and
    the sentences that say why) and ``runs`` (``explain.csv`` as a
    DataFrame: one row per counterfactual of each combination)."""

    document: Dict[str, Any]
    runs: Any


def explain(
    profile: str,
    *,
    set: Optional[Iterable[str]] = None,
    scale: Optional[float] = None,
    balancers: Optional[Iterable[str]] = None,
    policies: Optional[Iterable[str]] = None,
    seeds: Optional[int] = None,
    threads: Optional[int] = None,
) -> Explanation:
    """Why each balancer × policy went as it did, as ``drainstorm explain``
    says it: which timeline action (or load rise) triggered it, how close to
    its limits the system ran then, and which effect sustained it after the
    trigger's end — from runs with the same seeds and one thing changed.
    Arguments as for :func:`run`; ``seeds`` defaults to the profile's."""
    if not isinstance(profile, str):
        raise TypeError(f"profile must be a str (a name, a path or TOML), not {type(profile).__name__}")
    document, runs = _drainstorm.explain(
        profile,
        set=_changes(set, scale),
        balancers=_strings("balancers", balancers),
        policies=_strings("policies", policies),
        seeds=seeds,
        threads=threads,
    )
    return Explanation(json.loads(document), _frame(runs))


def show(profile: str, *, set: Optional[Iterable[str]] = None, scale: Optional[float] = None) -> str:
    """The profile as TOML with every default filled in, at its size (with
    ``scale``, at that many times the size it is written at)."""
    return _drainstorm.show(profile, set=_changes(set, scale))


class Simulation:
    """One simulation of a profile as configured, advanced by its host:
    ``run_until(t)`` in simulated seconds, ``inject(action)``, ``now``,
    ``summary()`` and ``series()`` — so a SimPy model can move drainstorm
    in lock-step with its own clock."""

    def __init__(self, profile: str, *, seed: Optional[int] = None, set: Optional[Iterable[str]] = None,
                 scale: Optional[float] = None):
        self._sim = _drainstorm.Simulation(profile, seed=seed, set=_changes(set, scale))

    @property
    def now(self) -> float:
        """Simulated seconds."""
        return self._sim.now

    @property
    def end(self) -> float:
        """The run's end, simulated seconds."""
        return self._sim.end

    def run_until(self, t: float) -> None:
        """Run every event up to ``t`` seconds (capped at the end)."""
        self._sim.run_until(float(t))

    def inject(self, action: Any) -> None:
        """Apply an action now: a dict (``{"action": "drain", "site":
        "east"}``) or a TOML inline table string."""
        text = json.dumps(action) if isinstance(action, dict) else action
        if not isinstance(text, str):
            raise TypeError("an action is a dict or a TOML inline table string")
        self._sim.inject(text)

    def summary(self) -> Dict[str, Any]:
        """The summary of the intervals closed so far."""
        return json.loads(self._sim.summary_json())

    def series(self):
        """The per-interval series so far (``series.csv``'s columns)."""
        return _frame(self._sim.series_csv())

    def sites(self):
        """The per-site series so far (``sites.csv``'s columns)."""
        return _frame(self._sim.sites_csv())


Balancer = _drainstorm.Balancer


def _kind(name: str, doc: str):
    class _Kind(Balancer):
        __doc__ = doc

        def __new__(cls, weights, *, seed: int = 0, **params):
            return super().__new__(cls, name, list(weights), seed=seed, **params)

        def pick_many(self, keys):
            """One pick per key; a NumPy array of keys gives a NumPy array of
            backends (int64, -1 for none) without a Python object per key."""
            if type(keys).__module__ == "numpy" and hasattr(keys, "astype"):
                import numpy as np

                packed = np.ascontiguousarray(keys, dtype="<u8").tobytes()
                return np.frombuffer(self.pick_many_packed(packed), dtype="<i8")
            return Balancer.pick_many(self, list(keys))

    return _Kind


SmoothWrr = _kind("smooth-wrr", "Smooth weighted round-robin (nginx's).")
LeastConn = _kind("least-conn", "Least connections, ties rotating.")
PowerOfTwo = _kind("p2c", "Power of two choices by in-flight count.")
Ring = _kind("ring", "Consistent-hash ring (points_per_weight=...).")
Maglev = _kind("maglev", "Maglev consistent hashing (table_size=...).")
BoundedLoad = _kind("bounded-load", "Consistent hashing with bounded loads (epsilon=...).")
PeakEwma = _kind(
    "peak-ewma",
    "Two choices by Peak-EWMA latency (decay_ms=..., default_rtt_ms=...); "
    "teach it with finish_observed.",
)
LeastRequest = _kind(
    "least-request",
    "Envoy's weighted least request (choice_count=..., active_request_bias=...).",
)
for _cls, _name in [
    (SmoothWrr, "SmoothWrr"),
    (LeastConn, "LeastConn"),
    (PowerOfTwo, "PowerOfTwo"),
    (Ring, "Ring"),
    (Maglev, "Maglev"),
    (BoundedLoad, "BoundedLoad"),
    (LeastRequest, "LeastRequest"),
    (PeakEwma, "PeakEwma"),
]:
    _cls.__name__ = _cls.__qualname__ = _name


class AdaptiveLimiter:
    """One client's adaptive limit on attempts in flight (Netflix's
    concurrency-limits): ``AdaptiveLimiter("vegas")``,
    ``AdaptiveLimiter("gradient2", min_limit=5)`` or ``AdaptiveLimiter("aimd")``
    with the keys of a profile's ``limits.adaptive`` table. Call
    ``try_acquire()`` before sending an attempt (``None``: do not send it),
    then ``complete(rtt_seconds, in_flight, dropped=...)`` with what it
    returned, or ``ignore()``."""

    def __init__(self, algorithm: str, *, seed: int = 0, **params: Any):
        self._l = _drainstorm.AdaptiveLimiter(
            json.dumps({"algorithm": algorithm, **params}), seed=seed
        )

    def try_acquire(self) -> Optional[int]:
        """The attempts in flight with this one, or ``None`` if the limit is full."""
        return self._l.try_acquire()

    def complete(self, rtt: float, in_flight: int, *, dropped: bool = False) -> None:
        """An attempt ended after ``rtt`` seconds (``dropped``: timed out or refused)."""
        self._l.complete(float(rtt), int(in_flight), dropped=bool(dropped))

    def ignore(self) -> None:
        """An attempt ended with nothing to learn from."""
        self._l.ignore()

    @property
    def limit(self) -> int:
        """The current limit."""
        return self._l.limit

    @property
    def in_flight(self) -> int:
        """Attempts in flight."""
        return self._l.in_flight


class ConcurrencyFilter:
    """Envoy's adaptive concurrency filter (its gradient controller) for a
    server or proxy: ``ConcurrencyFilter()`` with Envoy's defaults, or
    ``ConcurrencyFilter(min_concurrency=10, interval="30s")`` with the keys
    of a site's ``adaptive_concurrency`` table. Times are seconds on your
    clock, from ``now``. Call ``try_forward()`` for each request
    (``False``: answer it with a 503), then ``record(sent_at, now)`` when
    it is answered or ``cancel()`` if it is not, and ``advance(now)`` by
    ``next_deadline``."""

    def __init__(self, *, now: float = 0.0, seed: int = 0, **params: Any):
        self._f = _drainstorm.ConcurrencyFilter(json.dumps(params), now=float(now), seed=seed)

    def try_forward(self) -> bool:
        """Whether a new request may go on."""
        return self._f.try_forward()

    def record(self, sent_at: float, now: float) -> None:
        """A request let on at ``sent_at`` was answered at ``now``."""
        self._f.record(float(sent_at), float(now))

    def cancel(self) -> None:
        """A request let on ended without an answer."""
        self._f.cancel()

    def advance(self, now: float) -> None:
        """Runs the timers due by ``now``."""
        self._f.advance(float(now))

    @property
    def next_deadline(self) -> Optional[float]:
        """When a timer is next due, if any is armed."""
        return self._f.next_deadline

    @property
    def limit(self) -> int:
        """The limit in effect."""
        return self._f.limit

    @property
    def outstanding(self) -> int:
        """Requests let on and not yet answered or cancelled."""
        return self._f.outstanding

    @property
    def min_rtt(self) -> Optional[float]:
        """The minRTT in use (seconds), once measured."""
        return self._f.min_rtt

    @property
    def in_min_rtt_window(self) -> bool:
        """Whether a minRTT window is open (the limit pinned to its minimum)."""
        return self._f.in_min_rtt_window


class Policy:
    """A client retry policy: ``Policy("grpc")`` for a preset, or
    ``Policy(max_attempts=4, attempt_timeout="2s", backoff={...})`` with the
    keys of a profile's ``[policies.NAME]`` table. Times are seconds on your
    clock; ``seed`` seeds the policy's own jitter generator."""

    def __init__(self, preset: Optional[str] = None, *, seed: int = 0, **config: Any):
        if preset is not None and config:
            raise TypeError("give a preset or configuration keys, not both")
        if preset is None and not config:
            raise TypeError("give a preset name or configuration keys")
        self._p = _drainstorm.Policy(
            preset=preset, config_json=json.dumps(config) if config else None, seed=seed
        )

    def admit(self, now: float) -> Optional[str]:
        """``None`` if an attempt may go now, else why not."""
        return self._p.admit(float(now))

    def begin(self, now: float) -> Request:
        """A request whose first attempt goes at ``now``."""
        return self._p.begin(float(now))

    def attempt_deadline(self, now: float, request: Request) -> Optional[float]:
        """The current attempt's deadline, if the policy sets one."""
        return self._p.attempt_deadline(float(now), request)

    def on_outcome(self, now: float, request: Request, outcome: str):
        """``("done", None)``, ``("retry", delay_seconds)`` or
        ``("give-up", reason)`` after an attempt's outcome (``"success"``,
        ``"failure"``, ``"timeout"``)."""
        return self._p.on_outcome(float(now), request, outcome)

    @property
    def hedging_delay(self) -> Optional[float]:
        """The hedging delay in seconds, if the policy hedges instead of retrying."""
        return self._p.hedging_delay

    def hedge(self) -> "Hedge":
        """A new hedged request's attempts (the policy must hedge)."""
        return self._p.hedge()


@dataclass
class SweepResult:
    """A finished sweep: ``runs`` is ``sweep.csv`` as a DataFrame (one row
    per run, the varied keys first); ``csv``, ``map_html`` and ``table``
    are the command line's files and table, byte for byte."""

    runs: Any
    csv: str
    map_html: str
    table: str


def _sweep_shard(profile, vary, seeds, set, balancers, policies, k, n, threads):
    """One shard of a sweep, as a journal: what an executor runs."""
    return _drainstorm.sweep_shard(
        profile, vary, seeds=seeds, set=set, balancers=balancers, policies=policies,
        shard=(k, n), threads=threads,
    )


def sweep(
    profile: str,
    *,
    vary: Iterable[str],
    seeds: Optional[int] = None,
    set: Optional[Iterable[str]] = None,
    scale: Optional[float] = None,
    balancers: Optional[Iterable[str]] = None,
    policies: Optional[Iterable[str]] = None,
    executor: Any = None,
    shards: Optional[int] = None,
    threads: Optional[int] = None,
) -> SweepResult:
    """Run a sweep, as ``drainstorm sweep`` does: every point of the
    ``vary`` grid (``"KEY=LO..HI:STEPS"`` or ``"KEY=a,b,c"``) × balancer ×
    policy × the same ``seeds`` at every point.

    With ``executor`` (any ``concurrent.futures.Executor``, e.g. the one of
    a ``dask.distributed.Client``), the sweep is cut into ``shards``
    (default: 4 per worker the executor reports, else 8) that run there;
    the merged result is byte for byte the local one.
    """
    args = (
        profile,
        _strings("vary", vary),
        seeds,
        _changes(set, scale),
        _strings("balancers", balancers),
        _strings("policies", policies),
    )
    if executor is None:
        parts = [_sweep_shard(*args, 1, 1, threads)]
    else:
        n = shards or 8
        if n < 1:
            raise ValueError("shards must be at least 1")
        futures = [executor.submit(_sweep_shard, *args, k, n, threads) for k in range(1, n + 1)]
        parts = [f.result() for f in futures]
    csv, html, table = _drainstorm.sweep_merge(parts)
    return SweepResult(_frame(csv), csv, html, table)


def _plan_one(profile, question, set, balancer, policy, kwargs):
    return json.loads(
        _drainstorm.plan_json(profile, question, set=set, balancers=[balancer] if balancer != "configured" else None,
                              policies=[policy] if policy != "configured" else None, **kwargs)
    )


def plan(
    profile: str,
    question: str = "headroom",
    *,
    set: Optional[Iterable[str]] = None,
    scale: Optional[float] = None,
    balancers: Optional[Iterable[str]] = None,
    policies: Optional[Iterable[str]] = None,
    target: str = "absorbed",
    probability: float = 0.95,
    confidence: float = 0.95,
    seeds: Optional[int] = None,
    fresh_seeds: Optional[int] = None,
    curve_seeds: Optional[int] = None,
    tolerance: Optional[float] = None,
    capacity: str = "both",
    min_value: Optional[float] = None,
    max_value: Optional[float] = None,
    full_runs: bool = False,
    executor: Any = None,
    threads: Optional[int] = None,
) -> Dict[str, Any]:
    """``drainstorm plan headroom`` or ``plan drain`` as a dict (the JSON
    the command line writes). Each answer claims P(``target``) ≥
    ``probability`` with ``confidence``, checked on ``fresh_seeds`` seeds
    the search never used (``seeds`` defaults to the fewest the claim
    needs: 59 at 0.95/0.95); ``target`` is ``"absorbed"``, ``"degraded"``
    (no collapse) or ``"loss=1%"``. ``min_value``/``max_value`` bound the
    factor (headroom) or the ramp in minutes (drain); ``capacity`` is what
    the headroom factor scales (``"both"``, ``"backends"``, ``"lb"``), and
    ``scale`` the profile's size. With ``executor``, each balancer × policy
    is searched there; the answers are the same.
    """
    set_ = _changes(set, scale)
    kwargs = dict(target=target, probability=probability, confidence=confidence, seeds=seeds,
                  fresh_seeds=fresh_seeds, curve_seeds=curve_seeds, tolerance=tolerance,
                  capacity=capacity, min_value=min_value, max_value=max_value, full_runs=full_runs,
                  threads=threads)
    if executor is None:
        return json.loads(_drainstorm.plan_json(
            profile, question, set=set_, balancers=_strings("balancers", balancers),
            policies=_strings("policies", policies), **kwargs))
    combos = _drainstorm.combinations(
        profile, set=set_, balancers=_strings("balancers", balancers), policies=_strings("policies", policies))
    futures = [executor.submit(_plan_one, profile, question, set_, b, p, kwargs) for b, p in combos]
    parts = [f.result() for f in futures]
    merged = dict(parts[0])
    merged["answers"] = [a for part in parts for a in part["answers"]]
    return merged


def _size_one(profile, set, balancer, policy, kwargs):
    return json.loads(
        _drainstorm.size_json(profile, set=set, balancers=[balancer] if balancer != "configured" else None,
                              policies=[policy] if policy != "configured" else None, **kwargs)
    )


def plan_size(
    profile: str,
    *,
    sizes: Iterable[float] = (1, 3, 10, 30),
    seeds: int = 3,
    tolerance: float = 0.1,
    set: Optional[Iterable[str]] = None,
    scale: Optional[float] = None,
    balancers: Optional[Iterable[str]] = None,
    policies: Optional[Iterable[str]] = None,
    executor: Any = None,
    threads: Optional[int] = None,
) -> Dict[str, Any]:
    """``drainstorm plan size`` as a dict (the JSON the command line writes):
    every balancer × policy at each of ``sizes`` (factors of the profile's
    scale), ``seeds`` seeds each, and where each combination converged.
    With ``executor``, each combination's ladder runs there."""
    set_ = _changes(set, scale)
    kwargs = dict(sizes=[float(k) for k in sizes], seeds=seeds, tolerance=tolerance, threads=threads)
    if executor is None:
        return json.loads(_drainstorm.size_json(
            profile, set=set_, balancers=_strings("balancers", balancers),
            policies=_strings("policies", policies), **kwargs))
    combos = _drainstorm.combinations(
        profile, set=set_, balancers=_strings("balancers", balancers), policies=_strings("policies", policies))
    futures = [executor.submit(_size_one, profile, set_, b, p, kwargs) for b, p in combos]
    parts = [f.result() for f in futures]
    merged = dict(parts[0])
    merged["answers"] = [a for part in parts for a in part["answers"]]
    merged["runs"] = sum(part["runs"] for part in parts)
    merged["simulated_s"] = sum(part["simulated_s"] for part in parts)
    return merged
