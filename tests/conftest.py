"""Shared fixtures of the golden-model tests."""
import numpy as np
import pytest

from wuxing.golden.topology import Topology, preset


@pytest.fixture(scope="session")
def tiny():
    """The demo / hardware network (16, 16, 10)."""
    return preset("tiny")


@pytest.fixture(scope="session")
def model1():
    return preset("model1")


@pytest.fixture(scope="session")
def small_topologies():
    """Small networks that exercise the fill rule, explicit link counts with free
    interfaces, fan-in 2, other input/output elements and other seeds."""
    return [
        Topology(layers=(3, 4, 2), seed=1, name="fill"),
        Topology(layers=(2, 3, 3, 2), seed=7, in_elem=2, out_elem=4, name="four-layer"),
        Topology(layers=(4, 3, 2), link_counts=(5, 4), seed=3, name="explicit-counts"),
        Topology(layers=(2, 3, 2), fan_in=2, seed=2, name="fan-in-2"),
    ]


@pytest.fixture
def rng(request):
    """A generator seeded from the test's name: reproducible, different per test."""
    seed = sum(map(ord, request.node.nodeid)) % (2 ** 32)
    return np.random.default_rng(seed)


@pytest.fixture(params=["numba", "numpy"])
def both_kernels(request, monkeypatch):
    """Run a test with the compiled kernel and again with the NumPy loop (WUXING_KERNEL)."""
    from wuxing.golden import kernels
    if request.param == "numba" and not kernels.AVAILABLE:
        pytest.skip("numba is not importable")
    monkeypatch.setenv("WUXING_KERNEL", request.param)
    return request.param


ALLOW_MISSING_TOOLS = "WUXING_ALLOW_MISSING_TOOLS"


@pytest.fixture(scope="session")
def require_simulator():
    """``require_simulator(name)``: the README promises Icarus and Verilator (``make setup``
    installs both), so a missing one fails the test; with WUXING_ALLOW_MISSING_TOOLS=1 in the
    environment it is skipped instead (a machine without the tools, on purpose)."""
    import os

    from wuxing.sim.runner import simulator_missing

    def require(name: str) -> str:
        reason = simulator_missing(name)
        if reason:
            if os.environ.get(ALLOW_MISSING_TOOLS) == "1":
                pytest.skip(f"{reason} ({ALLOW_MISSING_TOOLS}=1)")
            pytest.fail(f"{reason}: run `make setup`, or set {ALLOW_MISSING_TOOLS}=1 to skip "
                        f"the tests that need it")
        return name
    return require


@pytest.fixture(scope="session")
def run_once(tmp_path_factory):
    """``run_once(name, compute)``: ``compute()`` once per test run, its value shared by the
    pytest-xdist workers (pickled beside their temporary folders, under a lock: the first
    worker computes, the others wait and read). pytest-xdist's loadgroup no longer keeps a
    module's tests on one worker under pytest 9.2 (pytest-xdist issue #1386), so a module
    fixture alone would run once per worker."""
    import os
    import pickle

    from wuxing.golden.locking import folder_lock
    if not os.environ.get("PYTEST_XDIST_WORKER"):       # one process: nothing to share
        return lambda name, compute: compute()
    root = tmp_path_factory.getbasetemp().parent     # this run's, shared by its workers

    def run(name: str, compute):
        path = root / f"run_once_{name}.pickle"
        with folder_lock(root / f"run_once_{name}"):
            if not path.exists():
                path.write_bytes(pickle.dumps(compute()))
            return pickle.loads(path.read_bytes())
    return run
