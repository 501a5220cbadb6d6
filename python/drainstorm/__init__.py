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
from ._drainstorm import DrainstormError, InFlight, Request, __version__, bundled

__all__ = [
    "Balancer",
    "BoundedLoad",
    "DrainstormError",
    "InFlight",
    "LeastConn",
    "Maglev",
    "Policy",
    "PowerOfTwo",
    "Request",
    "Result",
    "Ring",
    "Simulation",
    "SmoothWrr",
    "bundled",
    "run",
    "show",
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


def run(
    profile: str,
    *,
    seed: Optional[int] = None,
    set: Optional[Iterable[str]] = None,
    balancers: Optional[Iterable[str]] = None,
    policies: Optional[Iterable[str]] = None,
    seeds: Optional[int] = None,
    threads: Optional[int] = None,
) -> Result:
    """Run a profile's comparison, as ``drainstorm run`` does.

    ``profile`` is a bundled profile's name, a path, or TOML text. ``set``
    overrides keys (``"sites[1].backends[0].count=12"``); ``balancers`` and
    ``policies`` replace the profile's comparison; ``threads`` defaults to
    one per core. Bad input raises :class:`DrainstormError` with the
    command line's message (file, line, column, key).
    """
    if not isinstance(profile, str):
        raise TypeError(f"profile must be a str (a name, a path or TOML), not {type(profile).__name__}")
    summary, series, sites, timeline = _drainstorm.run(
        profile,
        seed=seed,
        set=_strings("set", set),
        balancers=_strings("balancers", balancers),
        policies=_strings("policies", policies),
        seeds=seeds,
        threads=threads,
    )
    return Result(json.loads(summary), _frame(series), _frame(sites), _frame(timeline))


def show(profile: str, *, set: Optional[Iterable[str]] = None) -> str:
    """The profile as TOML with every default filled in."""
    return _drainstorm.show(profile, set=_strings("set", set))


class Simulation:
    """One simulation of a profile as configured, advanced by its host:
    ``run_until(t)`` in simulated seconds, ``inject(action)``, ``now``,
    ``summary()`` and ``series()`` — so a SimPy model can move drainstorm
    in lock-step with its own clock."""

    def __init__(self, profile: str, *, seed: Optional[int] = None, set: Optional[Iterable[str]] = None):
        self._sim = _drainstorm.Simulation(profile, seed=seed, set=_strings("set", set))

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

    return _Kind


SmoothWrr = _kind("smooth-wrr", "Smooth weighted round-robin (nginx's).")
LeastConn = _kind("least-conn", "Least connections, ties rotating.")
PowerOfTwo = _kind("p2c", "Power of two choices by in-flight count.")
Ring = _kind("ring", "Consistent-hash ring (points_per_weight=...).")
Maglev = _kind("maglev", "Maglev consistent hashing (table_size=...).")
BoundedLoad = _kind("bounded-load", "Consistent hashing with bounded loads (epsilon=...).")
for _cls, _name in [
    (SmoothWrr, "SmoothWrr"),
    (LeastConn, "LeastConn"),
    (PowerOfTwo, "PowerOfTwo"),
    (Ring, "Ring"),
    (Maglev, "Maglev"),
    (BoundedLoad, "BoundedLoad"),
]:
    _cls.__name__ = _cls.__qualname__ = _name


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
