"""A real SimPy model routing through drainstorm's Maglev and retrying
with drainstorm's policy (examples/simpy_maglev.py)."""

import importlib.util
import pathlib

spec = importlib.util.spec_from_file_location(
    "simpy_maglev", pathlib.Path(__file__).parent.parent / "examples" / "simpy_maglev.py"
)
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)


def test_the_simpy_model_runs_with_drainstorm_inside():
    s = example.model(seed=1)
    offered = s["ok"] + s["failed"] + s["refused"]
    assert 60 * 120 * 0.8 < offered < 60 * 120 * 1.2
    assert s["ok"] > 0.9 * offered
    assert s["attempts"] >= offered
    # Every server served some; the drained one only before the drain.
    assert all(n > 0 for n in s["served_by"])
    assert s["served_by"][0] < max(s["served_by"][1:])


def test_the_model_is_reproducible():
    assert example.model(seed=2) == example.model(seed=2)
