"""Type stubs of the native module; the documented API is `drainstorm`."""

from typing import Any, List, Optional, Tuple

__version__: str

class DrainstormError(ValueError):
    file: Optional[str]
    line: Optional[int]
    column: Optional[int]
    key: Optional[str]

def run(
    profile: str,
    *,
    seed: Optional[int] = ...,
    set: Optional[List[str]] = ...,
    balancers: Optional[List[str]] = ...,
    policies: Optional[List[str]] = ...,
    seeds: Optional[int] = ...,
    threads: Optional[int] = ...,
) -> Tuple[str, str, str, str]: ...
def explain(
    profile: str,
    *,
    set: Optional[List[str]] = ...,
    balancers: Optional[List[str]] = ...,
    policies: Optional[List[str]] = ...,
    seeds: Optional[int] = ...,
    threads: Optional[int] = ...,
) -> Tuple[str, str]: ...
def bundled() -> List[str]: ...
def deterministic_subset(backends: List[int], client: int, size: int, *, seed: int = ...) -> List[int]: ...
def random_subset(backends: List[int], client_seed: int, size: int) -> List[int]: ...
def show(profile: str, *, set: Optional[List[str]] = ...) -> str: ...

class Simulation:
    def __init__(self, profile: str, *, seed: Optional[int] = ..., set: Optional[List[str]] = ...) -> None: ...
    @property
    def now(self) -> float: ...
    @property
    def end(self) -> float: ...
    def run_until(self, t: float) -> None: ...
    def inject(self, action: str) -> None: ...
    def summary_json(self) -> str: ...
    def series_csv(self) -> str: ...
    def sites_csv(self) -> str: ...

class InFlight:
    def finish(self) -> None: ...
    def __enter__(self) -> "InFlight": ...
    def __exit__(self, *args: Any) -> bool: ...

class Balancer:
    def __new__(
        cls,
        kind: str,
        weights: List[int],
        *,
        seed: int = ...,
        points_per_weight: Optional[int] = ...,
        table_size: Optional[int] = ...,
        epsilon: Optional[float] = ...,
        choice_count: Optional[int] = ...,
        active_request_bias: Optional[float] = ...,
        decay_ms: Optional[float] = ...,
        default_rtt_ms: Optional[float] = ...,
    ) -> "Balancer": ...
    @property
    def name(self) -> str: ...
    def pick(self, key: int = ...) -> Optional[int]: ...
    def pick_many(self, keys: List[int]) -> List[int]: ...
    def pick_many_packed(self, keys: bytes) -> bytes: ...
    def start(self, backend: int) -> bool: ...
    def finish(self, backend: int) -> bool: ...
    def finish_observed(self, backend: int, latency: float, now: float) -> bool: ...
    def begin(self, backend: int) -> InFlight: ...
    def in_flight(self, backend: int) -> Optional[int]: ...
    def update(self, weights: List[int]) -> None: ...
    def weights(self) -> List[int]: ...

class Request:
    @property
    def attempts(self) -> int: ...

class Policy:
    def __new__(cls, *, preset: Optional[str] = ..., config_json: Optional[str] = ..., seed: int = ...) -> "Policy": ...
    def admit(self, now: float) -> Optional[str]: ...
    def begin(self, now: float) -> Request: ...
    def attempt_deadline(self, now: float, request: Request) -> Optional[float]: ...
    def on_outcome(self, now: float, request: Request, outcome: str) -> Tuple[str, Any]: ...

def sweep_shard(
    profile: str,
    vary: List[str],
    *,
    seeds: Optional[int] = ...,
    set: Optional[List[str]] = ...,
    balancers: Optional[List[str]] = ...,
    policies: Optional[List[str]] = ...,
    shard: Tuple[int, int] = ...,
    threads: Optional[int] = ...,
) -> str: ...
def sweep_merge(parts: List[str]) -> Tuple[str, str, str]: ...
def combinations(
    profile: str,
    *,
    set: Optional[List[str]] = ...,
    balancers: Optional[List[str]] = ...,
    policies: Optional[List[str]] = ...,
) -> List[Tuple[str, str]]: ...
def plan_json(
    profile: str,
    question: str,
    *,
    set: Optional[List[str]] = ...,
    balancers: Optional[List[str]] = ...,
    policies: Optional[List[str]] = ...,
    target: str = ...,
    probability: float = ...,
    confidence: float = ...,
    seeds: Optional[int] = ...,
    fresh_seeds: Optional[int] = ...,
    curve_seeds: Optional[int] = ...,
    tolerance: Optional[float] = ...,
    capacity: str = ...,
    min_value: Optional[float] = ...,
    max_value: Optional[float] = ...,
    full_runs: bool = ...,
    threads: Optional[int] = ...,
) -> str: ...
