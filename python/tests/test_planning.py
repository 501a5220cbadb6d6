"""Sweeps and plans from Python, locally and on executors: a process
pool and a real dask.distributed LocalCluster with 2 worker processes."""

import concurrent.futures
import pathlib

import pytest

import drainstorm

TINY = (pathlib.Path(__file__).parent / "tiny.toml").read_text()
VARY = ["clients[0].workload.rate=100..300:3"]


def test_a_local_sweep_matches_the_command_lines_files():
    r = drainstorm.sweep(TINY, vary=VARY, seeds=2)
    assert len(r.runs) == 3 * 2 * 2
    assert list(r.runs.columns[:3]) == ["clients[0].workload.rate", "balancer", "policy"]
    assert r.map_html.startswith("<!DOCTYPE html>")
    assert "where every seed was absorbed" in r.table
    assert set(r.runs.verdict) <= {"absorbed", "degraded", "collapsed", "metastable", "inconclusive"}


def test_a_sweep_on_a_process_pool_is_the_local_one_byte_for_byte():
    local = drainstorm.sweep(TINY, vary=VARY, seeds=2)
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as ex:
        remote = drainstorm.sweep(TINY, vary=VARY, seeds=2, executor=ex, shards=3)
    assert remote.csv == local.csv
    assert remote.map_html == local.map_html


def test_a_sweep_on_a_dask_cluster_is_the_local_one_byte_for_byte():
    distributed = pytest.importorskip("distributed")
    local = drainstorm.sweep(TINY, vary=VARY, seeds=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            remote = drainstorm.sweep(TINY, vary=VARY, seeds=2, executor=client.get_executor(), shards=4)
    assert remote.csv == local.csv
    assert remote.map_html == local.map_html


def test_plans_locally_and_on_an_executor_agree():
    local = drainstorm.plan(TINY, "headroom", seeds=2, curve_seeds=2, tolerance=0.05)
    assert [a["balancer"] for a in local["answers"]] == ["least-conn", "maglev"]
    for a in local["answers"]:
        outcome = a["search"]["outcome"]
        assert outcome["outcome"] == "found"
        assert outcome["factor"] > outcome["unsafe_below"]
        # Checked on two fresh seeds after the search's two.
        assert outcome["fresh"]["seeds"] == 2 and outcome["fresh"]["first_seed"] >= 5
        assert len(a["search"]["curve"]) >= 3
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
        remote = drainstorm.plan(TINY, "headroom", seeds=2, tolerance=0.05, executor=ex)
    assert remote == local
    drain = drainstorm.plan(TINY, "drain", seeds=2, min_value=0.02, max_value=0.15, balancers=["least-conn"])
    assert drain["drained"] == ["east"]


def test_bad_sweeps_and_plans_raise():
    with pytest.raises(drainstorm.DrainstormError, match="empty range"):
        drainstorm.sweep(TINY, vary=["clients[0].workload.rate=300..100:3"])
    with pytest.raises(drainstorm.DrainstormError, match="unknown field `rat`"):
        drainstorm.sweep(TINY, vary=["clients[0].workload.rat=1..2:2"])
    with pytest.raises(drainstorm.DrainstormError, match="at least one"):
        drainstorm.sweep(TINY, vary=[])
    with pytest.raises(TypeError):
        drainstorm.sweep(TINY, vary="clients[0].workload.rate=1..2:2")
    with pytest.raises(drainstorm.DrainstormError, match="question"):
        drainstorm.plan(TINY, "capacity")
    with pytest.raises(drainstorm.DrainstormError, match="target"):
        drainstorm.plan(TINY, target="collapsed")
    with pytest.raises(drainstorm.DrainstormError, match="probability"):
        drainstorm.plan(TINY, probability=1.5)
    with pytest.raises(drainstorm.DrainstormError, match="capacity"):
        drainstorm.plan(TINY, capacity="everything")


def test_a_size_ladder_locally_and_on_an_executor():
    local = drainstorm.plan_size(TINY, sizes=[1, 2], seeds=1)
    assert [a["balancer"] for a in local["answers"]] == ["least-conn", "maglev"]
    for a in local["answers"]:
        assert [r["scale"] for r in a["rungs"]] == [1.0, 2.0]
        assert a["rungs"][1]["offered"] > 1.5 * a["rungs"][0]["offered"]
        assert a["convergence"]["state"] in {"at", "not-by"}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
        remote = drainstorm.plan_size(TINY, sizes=[1, 2], seeds=1, executor=ex)
    assert remote == local
    half = drainstorm.plan_size(TINY, sizes=[1], seeds=1, scale=0.5)
    assert half["base_scale"] == 0.5
    with pytest.raises(drainstorm.DrainstormError, match="increasing"):
        drainstorm.plan_size(TINY, sizes=[2, 1])


def test_explain_names_the_trigger_and_matches_the_command_lines_files():
    e = drainstorm.explain(TINY, seeds=1, balancers=["least-conn"])
    doc = e.document
    assert doc["schema_version"] == 1
    assert [(c["balancer"], c["policy"]) for c in doc["combinations"]] == [("least-conn", "hasty")]
    c = doc["combinations"][0]
    assert c["trigger"] in {"nothing", "candidates", "together", "not-the-timeline"}
    # One candidate: the drain at 10 s; the run without it is in the CSV.
    assert [k["at_s"] for k in c["candidates"]] == [10.0]
    assert list(e.runs.run[:2]) == ["as-written", "without"]
    assert (e.runs.seeds == 1).all()
    assert c["sentences"][0].startswith("least-conn + hasty: ")
    with pytest.raises(drainstorm.DrainstormError, match="unknown field `cuont`"):
        drainstorm.explain(TINY, set=["sites[0].cuont=1"])
