"""The balancers and retry policies, used directly."""

import threading

import pytest

import drainstorm
from drainstorm import (
    BoundedLoad,
    LeastConn,
    LeastRequest,
    Maglev,
    PeakEwma,
    Policy,
    PowerOfTwo,
    Ring,
    SmoothWrr,
)


@pytest.mark.parametrize(
    "cls", [SmoothWrr, LeastConn, PowerOfTwo, Ring, Maglev, BoundedLoad, LeastRequest, PeakEwma]
)
def test_every_kind_picks_only_live_backends(cls):
    lb = cls([1, 1, 1, 0])
    picks = {lb.pick(k) for k in range(2000)}
    assert picks <= {0, 1, 2} and len(picks) >= 2
    lb.update([0, 0, 1, 0])
    assert {lb.pick(k) for k in range(200)} == {2}
    lb.update([0, 0, 0, 0])
    assert lb.pick(7) is None
    assert lb.pick_many([1, 2, 3]) == [-1, -1, -1]


def test_smooth_wrr_follows_the_weights_exactly():
    lb = SmoothWrr([5, 1, 1])
    assert lb.name == "smooth-wrr" and lb.weights() == [5, 1, 1]
    assert isinstance(lb, drainstorm.Balancer) and type(lb).__name__ == "SmoothWrr"
    picks = [lb.pick() for _ in range(7)]
    assert picks.count(0) == 5 and picks.count(1) == 1 and picks.count(2) == 1


def test_least_conn_sees_what_is_in_flight():
    lb = LeastConn([1, 1])
    first = lb.pick()
    with lb.begin(first):
        assert lb.in_flight(first) == 1
        assert lb.pick() != first
    assert lb.in_flight(first) == 0
    guard = lb.begin(1)
    guard.finish()
    guard.finish()  # a second finish does nothing
    assert lb.in_flight(1) == 0
    assert lb.start(0) and lb.finish(0)
    with pytest.raises(drainstorm.DrainstormError):
        lb.begin(9)


def test_least_request_takes_envoys_parameters():
    # Weights 3:1 with three requests on backend 0: dynamic weights
    # 3/(3+1)^1 = 0.75 and 1/1, so backend 1 takes 4/7 of the picks.
    lb = LeastRequest([3, 1], seed=2, active_request_bias=1.0)
    assert lb.name == "least-request"
    for _ in range(3):
        lb.start(0)
    picks = lb.pick_many([0] * 7000)
    assert 3700 < picks.count(1) < 4300, picks.count(1)
    # Bias 0 ignores what is in flight: 3 to 1.
    flat = LeastRequest([3, 1], seed=2, active_request_bias=0.0)
    for _ in range(3):
        flat.start(0)
    assert 1500 < flat.pick_many([0] * 8000).count(1) < 2500
    with pytest.raises(drainstorm.DrainstormError, match="choice_count"):
        LeastRequest([1, 1], choice_count=1)
    with pytest.raises(drainstorm.DrainstormError, match="active_request_bias"):
        LeastRequest([2, 1], active_request_bias=-1.0)


def test_peak_ewma_learns_latencies_from_finish_observed():
    lb = PeakEwma([1, 1], seed=4, decay_ms=1000.0)
    assert lb.name == "peak-ewma"
    lb.start(0)
    assert lb.finish_observed(0, 0.5, 2.0)  # 500 ms, at t = 2 s
    assert set(lb.pick_many([0] * 200)) == {1}
    with pytest.raises(drainstorm.DrainstormError, match="latency"):
        lb.finish_observed(0, -1.0, 3.0)
    with pytest.raises(drainstorm.DrainstormError, match="decay_ms"):
        PeakEwma([1, 1], decay_ms=0.0)


def test_subsets_are_equal_sized_and_cover_each_backend_once_per_round():
    ids = list(range(100, 112))
    covered = sorted(b for c in range(4) for b in drainstorm.deterministic_subset(ids, c, 3, seed=5))
    assert covered == ids
    a = drainstorm.random_subset(ids, 7, 4)
    assert len(a) == len(set(a)) == 4 and set(a) <= set(ids)
    assert drainstorm.random_subset(list(reversed(ids)), 7, 4) == a


def test_consistent_hashing_keeps_keys_where_they_were():
    a = Maglev(list([1] * 10), seed=1)
    before = a.pick_many(list(range(5000)))
    a.update([1] * 9 + [0])
    after = a.pick_many(list(range(5000)))
    moved = sum(1 for x, y in zip(before, after) if x != y and x != 9)
    assert moved < 5000 * 0.05, moved
    assert all(y != 9 for y in after)


def test_balancers_are_safe_across_threads():
    lb = PowerOfTwo([1] * 8, seed=3)

    def work():
        for k in range(2000):
            b = lb.pick(k)
            with lb.begin(b):
                pass

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(lb.in_flight(b) == 0 for b in range(8))


def test_bad_balancer_input_raises():
    with pytest.raises(drainstorm.DrainstormError):
        drainstorm.Balancer("round-robin-ish", [1])
    with pytest.raises(drainstorm.DrainstormError):
        LeastConn([])
    with pytest.raises(drainstorm.DrainstormError):
        Maglev([1, 1], table_size=4)
    with pytest.raises(TypeError):
        LeastConn("11")
    with pytest.raises(OverflowError):
        LeastConn([-1])


def test_a_preset_policy_retries_then_gives_up():
    p = Policy("naive", seed=1)
    assert p.admit(0.0) is None
    r = p.begin(0.0)
    assert r.attempts == 1
    decisions = [p.on_outcome(0.1 * i, r, "timeout") for i in range(1, 10)]
    kinds = [d[0] for d in decisions]
    assert "retry" in kinds and kinds[-1] == "give-up"
    assert decisions[kinds.index("give-up")][1] == "attempts"
    r2 = p.begin(5.0)
    assert p.on_outcome(5.1, r2, "success") == ("done", None)


def test_a_configured_policy_backs_off_with_jitter_within_its_cap():
    p = Policy(max_attempts=5, attempt_timeout="1s",
               backoff={"kind": "exponential", "base": "100ms", "multiplier": 2.0, "cap": "1s", "jitter": "full"},
               seed=7)
    r = p.begin(0.0)
    delays = []
    now = 0.0
    for _ in range(4):
        kind, delay = p.on_outcome(now, r, "failure")
        assert kind == "retry"
        assert 0.0 <= delay <= 1.0
        delays.append(delay)
        now += delay
    assert p.on_outcome(now, r, "failure") == ("give-up", "attempts")
    # Deterministic: the same seed gives the same delays.
    q = Policy(max_attempts=5, attempt_timeout="1s",
               backoff={"kind": "exponential", "base": "100ms", "multiplier": 2.0, "cap": "1s", "jitter": "full"},
               seed=7)
    r = q.begin(0.0)
    now = 0.0
    again = []
    for _ in range(4):
        _, d = q.on_outcome(now, r, "failure")
        again.append(d)
        now += d
    assert again == delays


def test_bad_policy_input_raises():
    with pytest.raises(drainstorm.DrainstormError, match="no preset"):
        Policy("sometimes")
    with pytest.raises(drainstorm.DrainstormError, match="max_attempts"):
        Policy(max_attempts=0, attempt_timeout="1s", backoff={"kind": "immediate"})
    with pytest.raises(drainstorm.DrainstormError, match="unknown field"):
        Policy(max_attempts=3, attempt_timout="1s", backoff={"kind": "immediate"})
    p = Policy("grpc")
    with pytest.raises(drainstorm.DrainstormError, match="allowed success, failure, timeout"):
        p.on_outcome(0.0, p.begin(0.0), "maybe")
    with pytest.raises(TypeError):
        Policy()


def test_pick_many_takes_numpy_arrays_and_agrees_with_pick():
    np = pytest.importorskip("numpy")
    lb = Maglev([1] * 16, seed=5)
    keys = np.arange(10_000, dtype=np.uint64) * 7919
    got = lb.pick_many(keys)
    assert got.dtype == np.int64 and len(got) == len(keys)
    assert list(got[:50]) == [lb.pick(int(k)) for k in keys[:50]]
    assert list(got) == lb.pick_many([int(k) for k in keys])
    lb.update([0] * 16)
    assert (lb.pick_many(np.arange(3)) == -1).all()
    with pytest.raises(drainstorm.DrainstormError):
        lb.pick_many_packed(b"123")


def test_an_adaptive_limiter_falls_when_round_trips_grow():
    from drainstorm import AdaptiveLimiter
    lim = AdaptiveLimiter("gradient2", initial_limit=100, min_limit=10)
    assert lim.limit == 100

    def send(rtt):
        n = lim.try_acquire()
        assert n is not None
        lim.complete(rtt, max(n, lim.limit))

    for _ in range(50):
        send(0.010)
    grown = lim.limit
    assert grown > 100
    for _ in range(50):
        send(0.100)
    assert lim.limit < grown // 2
    assert lim.in_flight == 0
    # The limit is a hard cap on attempts in flight.
    held = [lim.try_acquire() for _ in range(lim.limit + 5)]
    assert held[-1] is None and held[lim.limit - 1] == lim.limit
    with pytest.raises(drainstorm.DrainstormError, match="initial_limit"):
        AdaptiveLimiter("aimd", initial_limit=5)
    with pytest.raises(drainstorm.DrainstormError, match="unknown field"):
        AdaptiveLimiter("vegas", min_limt=5)
    with pytest.raises(drainstorm.DrainstormError, match="without an attempt"):
        AdaptiveLimiter("vegas").ignore()


def test_a_concurrency_filter_measures_then_follows_latency():
    from drainstorm import ConcurrencyFilter
    f = ConcurrencyFilter(request_count=10)
    assert f.in_min_rtt_window and f.limit == 3
    assert [f.try_forward() for _ in range(4)] == [True, True, True, False]
    t = 0.0
    for i in range(10):
        if i >= 3:
            assert f.try_forward()
        t += 0.010
        f.record(t - 0.010, t)
    assert not f.in_min_rtt_window and f.outstanding == 0
    assert f.min_rtt == pytest.approx(0.010)
    # Answers as fast as the minRTT: each update raises the limit.
    for _ in range(5):
        due = f.next_deadline
        assert f.try_forward()
        f.record(due - 0.010, due)
        f.advance(due)
    assert f.limit > 3
    with pytest.raises(drainstorm.DrainstormError, match="max_concurrency_limit"):
        ConcurrencyFilter(max_concurrency_limit=2)
    with pytest.raises(drainstorm.DrainstormError, match="unknown field"):
        ConcurrencyFilter(min_concurency=5)
    with pytest.raises(drainstorm.DrainstormError, match="without a request"):
        ConcurrencyFilter().cancel()


def test_a_hedge_sends_on_delay_and_on_failure_and_ends_on_success():
    from drainstorm import Hedge, Policy
    p = Policy(max_attempts=3, backoff={"kind": "immediate"}, hedging={"delay": "50ms"})
    assert p.hedging_delay == pytest.approx(0.05)
    h = p.hedge()
    h.sent()
    assert h.may_send  # the delay passes without an answer
    h.sent()
    assert h.on_outcome(False) == "send"
    h.sent()
    assert not h.may_send and h.outstanding == 2
    assert h.on_outcome(True) == "won"
    assert h.attempts == 3
    with pytest.raises(drainstorm.DrainstormError, match="no attempt may be sent"):
        h.sent()
    lost = Hedge(1)
    lost.sent()
    assert lost.on_outcome(False) == "lost"
    with pytest.raises(drainstorm.DrainstormError, match="gRPC's cap"):
        Hedge(6)
    with pytest.raises(drainstorm.DrainstormError, match="no `hedging`"):
        Policy("grpc").hedge()
