"""drainstorm.run, show and the Simulation step API against the real
simulator."""

import pathlib
import threading
import time

import pandas as pd
import pytest

import drainstorm

TINY = (pathlib.Path(__file__).parent / "tiny.toml").read_text()


def test_run_returns_the_summary_and_the_series_as_the_cli_writes_them():
    r = drainstorm.run(TINY)
    assert r.summary["profile"]["name"] == "tiny"
    assert [x["balancer"] for x in r.summary["runs"]] == ["least-conn", "maglev"]
    s = r.summary["runs"][0]["summary"]
    assert s["verdict"] in {"absorbed", "degraded", "collapsed", "metastable"}
    assert 150 < s["offered_per_s"] < 250
    assert isinstance(r.series, pd.DataFrame)
    assert {"balancer", "policy", "seed", "time_s", "offered", "attempts"} <= set(r.series.columns)
    assert len(r.series) == 2 * 20  # two runs, 1-second intervals
    assert set(r.sites.site) == {"east", "west"}
    assert list(r.timeline.action) == ["drain"]


def test_a_run_is_reproducible_for_any_number_of_threads():
    one = drainstorm.run(TINY, threads=1)
    two = drainstorm.run(TINY, threads=2)
    assert one.summary == two.summary
    pd.testing.assert_frame_equal(one.series, two.series)
    other = drainstorm.run(TINY, seed=99)
    assert other.summary != one.summary


def test_overrides_and_the_comparison_can_be_changed():
    r = drainstorm.run(TINY, set=["clients[0].workload.rate=50"], balancers=["p2c"], policies=["envoy"], seeds=2)
    assert [(x["balancer"], x["policy"]) for x in r.summary["runs"]] == [("p2c", "envoy")] * 2
    assert 30 < r.summary["runs"][0]["summary"]["offered_per_s"] < 70


def test_bundled_profiles_by_name_and_show():
    assert "cheyenne-2026" in drainstorm.bundled()
    text = drainstorm.show("mm1", set=["sites[0].backends[0].count=3"])
    assert "count = 3" in text


def test_scale_runs_the_profile_at_another_size():
    small = drainstorm.run(TINY, balancers=["least-conn"])
    big = drainstorm.run(TINY, balancers=["least-conn"], scale=3)
    assert big.summary["profile"]["scale"] == 3.0
    assert small.summary["profile"]["scale"] == 1.0
    rate = lambda r: r.summary["runs"][0]["summary"]["offered_per_s"]
    assert 2.5 < rate(big) / rate(small) < 3.5
    # show prints the scaled profile, which runs the same as the scaled one.
    text = drainstorm.show(TINY, scale=2.7)
    assert text.startswith("# at scale 2.7")
    assert "`sites[0].backends[0].count` 4 × 2.7 = 10.8 → 11" in text
    again = drainstorm.run(text, balancers=["least-conn"])
    scaled = drainstorm.run(TINY, balancers=["least-conn"], scale=2.7)
    assert again.summary["runs"] == scaled.summary["runs"]
    with pytest.raises(drainstorm.DrainstormError, match="size factor"):
        drainstorm.run(TINY, scale=0)
    with pytest.raises(TypeError):
        drainstorm.run(TINY, scale="big")
    sim = drainstorm.Simulation(TINY, scale=2)
    sim.run_until(5.0)
    assert 1500 < sim.summary()["offered"] < 2500  # 400 requests/s for 5 s


def test_bad_input_raises_with_the_located_message():
    with pytest.raises(drainstorm.DrainstormError) as e:
        drainstorm.run(TINY.replace("rate = 200", "rate = -5"))
    assert "<string>:" in str(e.value) and "rate" in str(e.value)
    assert e.value.line is not None and e.value.column is not None
    assert e.value.key == "clients[0].workload.rate"
    with pytest.raises(drainstorm.DrainstormError, match="unknown field `cuont`"):
        drainstorm.run(TINY, set=["sites[0].backends[0].cuont=3"])
    with pytest.raises(drainstorm.DrainstormError, match="no bundled profile"):
        drainstorm.run("no-such-profile")
    with pytest.raises(drainstorm.DrainstormError, match="unknown balancer|not a balancer|balancers"):
        drainstorm.run(TINY, balancers=["round-robin-ish"])
    with pytest.raises(drainstorm.DrainstormError, match="no policy named"):
        drainstorm.run(TINY, policies=["nope"])
    with pytest.raises(TypeError):
        drainstorm.run(42)
    with pytest.raises(TypeError):
        drainstorm.run(TINY, set="duration=5s")
    with pytest.raises(TypeError):
        drainstorm.run(TINY, seed="three")


def test_runs_release_the_gil():
    # A ticking thread keeps running while a run is inside Rust: it could
    # not if the run held the GIL. Judged by when the ticks happened, not
    # how many (a fast machine finishes the run in a few milliseconds, a
    # loaded one gives the ticker little time): at least one tick in the
    # middle half of a run that lasts long enough to see one.
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.monotonic())
            stop.wait(0.001)

    t = threading.Thread(target=tick)
    t.start()
    try:
        for duration in ["60s", "600s", "3600s", "36000s"]:
            start = time.monotonic()
            drainstorm.run(TINY, set=[f"duration={duration}"], threads=1)
            end = time.monotonic()
            if end - start >= 0.2:
                break
    finally:
        stop.set()
        t.join()
    assert end - start >= 0.2, f"the longest run took {end - start:.3f} s"
    quarter = (end - start) / 4
    inside = [x for x in ticks if start + quarter < x < end - quarter]
    assert inside, f"no tick in the middle of a {end - start:.3f} s run"


def test_simulation_steps_with_its_host():
    sim = drainstorm.Simulation(TINY)
    assert sim.now == 0.0 and sim.end == 20.0
    sim.run_until(5)
    assert sim.now == 5.0
    early = sim.series()
    assert len(early) == 5
    sim.inject({"action": "drain", "site": "east"})
    sim.inject('{ action = "restore", site = "east" }')
    sim.run_until(100)
    assert sim.now == 20.0
    assert len(sim.series()) == 20
    s = sim.summary()
    assert s["offered"] > 0
    sites = sim.sites()
    assert set(sites.site) == {"east", "west"} and len(sites) == 2 * 20
    # Drained and restored at 5 s by the host, then drained at 10 s by the
    # profile's timeline.
    east = sites[sites.site == "east"].set_index("time_s").weight
    assert east.loc[7] > 0 and east.iloc[-1] == 0
    with pytest.raises(drainstorm.DrainstormError, match="inject"):
        sim.inject({"action": "drain", "site": "nowhere"})
    with pytest.raises(drainstorm.DrainstormError):
        sim.run_until(-1)


def test_envoys_retry_budget_as_a_preset_and_as_limits():
    r = drainstorm.run(TINY, policies=["envoy", "envoy-retry-budget"], balancers=["p2c"])
    assert [x["policy"] for x in r.summary["runs"]] == ["envoy", "envoy-retry-budget"]
    assert "20% of those outstanding" in drainstorm.show(
        TINY, set=['clients[0].retry="envoy-retry-budget"'])
    with pytest.raises(drainstorm.DrainstormError, match="budget_percent"):
        drainstorm.run(TINY, set=['clients[0].retry={ max_attempts = 2, backoff = { kind = "immediate" }, '
                                  'limits = { retry_budget = { budget_percent = 120 } } }'])


def test_controlled_delay_queues_from_a_profile_key():
    codel = 'sites[0].backends[0].discipline={ kind = "codel", target = "20ms", interval = "100ms" }'
    r = drainstorm.run(TINY, set=[codel], balancers=["least-conn"])
    assert r.summary["runs"][0]["summary"]["verdict"] in {"absorbed", "degraded", "collapsed", "metastable"}
    assert "kind = \"codel\"" in drainstorm.show(TINY, set=[codel])
    with pytest.raises(drainstorm.DrainstormError, match="discipline.target"):
        drainstorm.run(TINY, set=['sites[0].backends[0].discipline={ kind = "codel", target = "1s" }'])


def test_outlier_detection_from_a_profile_key():
    od = 'sites[0].outlier_detection={ consecutive_errors = 2, base_ejection = "5s" }'
    r = drainstorm.run(TINY, set=[od], balancers=["least-conn"])
    assert r.summary["runs"][0]["summary"]["verdict"] in {"absorbed", "degraded", "collapsed", "metastable"}
    shown = drainstorm.show(TINY, set=[od])
    assert "consecutive_errors = 2" in shown
    assert "success_rate_stdev_factor = 1900" in shown and "enforcing_failure_percentage = 0" in shown
    with pytest.raises(drainstorm.DrainstormError, match="max_ejection_percent"):
        drainstorm.run(TINY, set=['sites[0].outlier_detection={ max_ejection_percent = 101 }'])
    with pytest.raises(drainstorm.DrainstormError, match="success_rate_request_volume"):
        drainstorm.run(TINY, set=['sites[0].outlier_detection={ success_rate_request_volume = 0 }'])


def test_the_2026_aws_retry_mode_as_a_preset():
    r = drainstorm.run(TINY, policies=["aws-standard", "aws-standard-2026"], balancers=["least-conn"])
    assert [x["policy"] for x in r.summary["runs"]] == ["aws-standard", "aws-standard-2026"]
    shown = drainstorm.show(TINY, set=['clients[0].retry="aws-standard-2026"'])
    assert "14 a retry (14 after a timeout)" in shown and "backoff 50ms" in shown


def test_adaptive_concurrency_limits_from_a_profile_key():
    vegas = 'clients[0].retry={ max_attempts = 2, backoff = { kind = "immediate" }, limits = { adaptive = { algorithm = "vegas" } } }'
    r = drainstorm.run(TINY, set=[vegas], balancers=["least-conn"])
    assert r.summary["runs"][0]["summary"]["verdict"] in {"absorbed", "degraded", "collapsed", "metastable"}
    assert 'algorithm = "vegas"' in drainstorm.show(TINY, set=[vegas])
    with pytest.raises(drainstorm.DrainstormError, match="limits.adaptive.smoothing"):
        drainstorm.run(TINY, set=[vegas.replace('"vegas"', '"vegas", smoothing = 2.0')])


def test_backend_autoscaling_from_a_profile_key():
    scale = 'sites[0].autoscaling={ initial = 2, target_utilisation = 0.5, lag = "5s" }'
    r = drainstorm.run(TINY, set=[scale], balancers=["least-conn"])
    assert r.summary["runs"][0]["summary"]["verdict"] in {"absorbed", "degraded", "collapsed", "metastable"}
    assert "target_utilisation = 0.5" in drainstorm.show(TINY, set=[scale])
    with pytest.raises(drainstorm.DrainstormError, match="autoscaling.initial"):
        drainstorm.run(TINY, set=['sites[0].autoscaling={ initial = 99, target_utilisation = 0.5 }'])
    sim = drainstorm.Simulation(TINY, set=[scale])
    sim.run_until(3.0)
    sites = sim.sites()
    assert list(sites[sites["site"] == sites["site"].iloc[0]]["in_service"])[0] == 2


def test_backend_reported_weights_from_a_profile_key():
    orca = 'sites[0].orca={ blackout_period = "2s" }'
    r = drainstorm.run(TINY, set=[orca], balancers=["smooth-wrr"])
    assert r.summary["runs"][0]["summary"]["verdict"] in {"absorbed", "degraded", "collapsed", "metastable"}
    assert 'blackout_period = "2s"' in drainstorm.show(TINY, set=[orca])
    with pytest.raises(drainstorm.DrainstormError, match="orca.update_period"):
        drainstorm.run(TINY, set=['sites[0].orca={ update_period = "0s" }'])


def test_zone_aware_routing_from_a_profile_key():
    zone = ['router.mode="zone-aware"', 'router.dns_ttl="0s"']
    r = drainstorm.run(TINY, set=zone, balancers=["least-conn"])
    assert r.summary["runs"][0]["summary"]["verdict"] in {"absorbed", "degraded", "collapsed", "metastable"}
    assert 'mode = "zone-aware"' in drainstorm.show(TINY, set=zone)
    with pytest.raises(drainstorm.DrainstormError, match="router.dns_ttl"):
        drainstorm.run(TINY, set=['router.mode="zone-aware"', 'router.dns_ttl="30s"'])


def test_zone_split_spills_only_a_short_zones_shortfall():
    split = drainstorm.zone_split(0, [1.0, 2.0, 2.0], [1.0, 1.0, 1.0])
    assert [round(x, 9) for x in split] == [0.6, 0.2, 0.2]
    assert drainstorm.zone_split(1, [1.0, 2.0, 2.0], [1.0, 1.0, 1.0]) == [0.0, 1.0, 0.0]
    with pytest.raises(drainstorm.DrainstormError, match="one share per zone"):
        drainstorm.zone_split(0, [1.0], [1.0, 1.0])


def test_hedged_requests_from_a_policy_key():
    hedge = 'policies.hasty.hedging={ delay = "20ms" }'
    r = drainstorm.run(TINY, set=[hedge], balancers=["least-conn"])
    assert r.summary["runs"][0]["summary"]["verdict"] in {"absorbed", "degraded", "collapsed", "metastable"}
    assert 'delay = "20ms"' in drainstorm.show(TINY, set=[hedge])
    with pytest.raises(drainstorm.DrainstormError, match="max_attempts"):
        drainstorm.run(TINY, set=[hedge, "policies.hasty.max_attempts=6"])
