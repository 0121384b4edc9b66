"""Speed and memory of the golden models, NumPy loop and Numba kernel side by side, and the
Brian2 peer: ``python -m wuxing.golden.bench [--quick]``.

One training step on MODEL1 (``preset('model1')``), default :class:`RunConfig` (80 Euler steps):
forward run, outputs and error, reverse run, BSP update of every link, for a batch of inputs.
The figure of merit is element-updates per second: one element of one neuron advanced one
Euler step for one sample, so a step counts ``2 * steps * 5 * n_neurons * batch`` of them.
Each model (float32, fixed point) runs with both run loops (``kernel`` numpy and numba) in the
same process, one after the other, so that the two figures see the same machine.

Wall time is the best of the repetitions; CPU time (all threads) is shown too, with the load
average, because the figure depends on what else the machine is doing. Peak memory: the
largest NumPy allocation total of one step (tracemalloc, a separate untimed pass) and the
process's peak resident size.

Numba compiles a kernel on its first call: the bench measures that in a child process with an
empty cache folder (compile), then again with the filled one (load from the cache).

The peer (:mod:`golden.peer`): the same forward and reverse runs (the same network, settings
and inputs, batch and Euler steps) in Brian2, timed and their integrals compared with a float64
FloatModel's (the largest difference). The ratio is Brian2's time in its time steps alone
(its own profile; the whole run calls, with their preparation, are shown too) over the
FloatModel's two run calls (each with its own preparation).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

from . import kernels
from .config import RunConfig
from .network import FixedModel, FloatModel, init_coefficients
from .peer import TARGETS as PEER_TARGETS
from .topology import preset

__all__ = ["main", "build_parser", "bench_model", "bench_peer", "compile_times"]


def _float_step(m: FloatModel, C, x, target):
    f = m.forward(C, x)
    r = m.reverse(C, m.error(m.outputs(f), target))
    return m.bsp_update(C, f.S, r.S)


def _fixed_step(m: FixedModel, C, x, target):
    f = m.forward(C, x)
    r = m.reverse(C, m.error_int(f, target))
    return m.bsp_update(C, f.S, r.S)


def _inputs(topology, cfg, batch, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (batch, topology.layers[0]))
    target = np.eye(topology.layers[-1])[rng.integers(0, topology.layers[-1], batch)]
    return x, target, init_coefficients(topology, cfg, seed)


def bench_model(kind: str, topology, cfg: RunConfig, batch: int, reps: int,
                threads: int | None = None, seed: int = 0, kernel: str | None = None) -> dict:
    """Time ``reps`` training steps of the float32 (``kind='float'``) or fixed-point model
    with run loop ``kernel`` (numba, numpy, auto; None: ``$WUXING_KERNEL``)."""
    x, target, C = _inputs(topology, cfg, batch, seed)
    if kind == "float":
        m = FloatModel(topology, cfg, dtype=np.float32, threads=threads, kernel=kernel)
        step, args = _float_step, (C, x, target)
    elif kind == "fixed":
        m = FixedModel(topology, cfg, threads=threads, kernel=kernel)
        step, args = _fixed_step, (m.coef_to_int(C), m.input_to_int(x), target)
    else:
        raise ValueError(f"kind must be 'float' or 'fixed', not {kind!r}")
    w0 = time.perf_counter()
    step(m, *args)                           # warm-up (caches, thread pool, kernel compile)
    first = time.perf_counter() - w0
    walls, cpus = [], []
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.process_time()
        step(m, *args)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    tracemalloc.start()
    step(m, *args)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    updates = 2 * cfg.steps * 5 * topology.n_neurons * batch
    best = min(walls)
    return dict(kind=kind, kernel=m.kernel, batch=batch, threads=m.threads, reps=reps,
                updates=updates, wall_best=best, wall_median=float(np.median(walls)),
                cpu_best=min(cpus), first_call_s=first, rate=updates / best,
                rate_median=updates / float(np.median(walls)), rate_cpu=updates / min(cpus),
                peak_bytes=peak)


def _first_calls() -> dict:
    """Seconds of the first call of each kernel signature the bench uses (in this process):
    a batch large enough for the parallel driver, which compiles the chunk function too."""
    topo = preset("tiny")
    cfg = RunConfig(steps=2)
    x = np.ones((400, topo.layers[0]))
    out = {}
    for name, make in (("float32", lambda: FloatModel(topo, cfg, kernel="numba")),
                       ("float64", lambda: FloatModel(topo, cfg, dtype=np.float64,
                                                      kernel="numba")),
                       ("fixed", lambda: FixedModel(topo, cfg, kernel="numba"))):
        m = make()
        C = init_coefficients(topo, cfg, 0)
        args = (m.coef_to_int(C), m.input_to_int(x)) if name == "fixed" else (C, x)
        t0 = time.perf_counter()
        m.forward(*args)
        out[name] = time.perf_counter() - t0
    return out


def compile_times() -> dict:
    """First-call seconds per kernel signature in child processes: ``cold`` (an empty Numba
    cache folder: compile) and ``cached`` (the same folder again: load)."""
    code = ("import json; from wuxing.golden.bench import _first_calls; "
            "print(json.dumps(_first_calls()))")
    with tempfile.TemporaryDirectory(prefix="wuxing-numba-") as d:
        env = dict(os.environ, NUMBA_CACHE_DIR=d, WUXING_KERNEL="numba")
        res = {}
        for phase in ("cold", "cached"):
            p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                               text=True, check=True)
            res[phase] = json.loads(p.stdout.strip().splitlines()[-1])
    return res


def bench_peer(topology, cfg: RunConfig, batch: int, seed: int = 0,
               target: str = "cython", threads: int = 1) -> dict:
    """The forward and reverse runs of one training step in Brian2 and in a float64
    FloatModel (default kernel): times, element-updates/s, largest integral differences."""
    from .peer import brian2_run
    x, target_y, C = _inputs(topology, cfg, batch, seed)
    m = FloatModel(topology, cfg, dtype=np.float64)
    m.forward(C, x)                                   # warm-up
    t0 = time.perf_counter()
    f = m.forward(C, x)
    err = m.error(m.outputs(f), target_y)
    r = m.reverse(C, err)
    ours = time.perf_counter() - t0
    out = dict(target=target, batch=batch, threads=threads, ours_s=ours, kernel=m.kernel,
               build_s=0.0, run_s=0.0, steps_s=0.0, max_diff={}, max_abs={})
    for name, res, rows, ext, rev in (("forward", f, m.in_flat, x * cfg.input_scale, False),
                                      ("reverse", r, m.out_flat, err, True)):
        p = brian2_run(m, C, rows, ext, rev, target=target, threads=threads)
        for k in ("build_s", "run_s", "steps_s"):
            out[k] += p[k]
        out["max_diff"][name] = float(np.abs(p["S"] - res.S).max())
        out["max_abs"][name] = float(np.abs(res.S).max())
    updates = 2 * cfg.steps * 5 * topology.n_neurons * batch
    out.update(updates=updates, rate_peer=updates / out["steps_s"], rate_ours=updates / ours,
               ratio=out["steps_s"] / ours, ratio_run=out["run_s"] / ours)
    return out


def _line(r: dict) -> str:
    name = "float32" if r["kind"] == "float" else "fixed  "
    return (f"{name}  {r['kernel']:5s}  {r['rate']:.3g} element-updates/s (best of "
            f"{r['reps']}; median {r['rate_median']:.3g}; per CPU-second {r['rate_cpu']:.3g}),"
            f" {r['wall_best'] * 1e3:.0f} ms per step, {r['threads']} thread(s), peak NumPy "
            f"memory {r['peak_bytes'] / 2**20:.0f} MiB")


def _peer_line(r: dict) -> str:
    diffs = ", ".join(f"{k} {v:.2g} (|S| up to {r['max_abs'][k]:.3g})"
                      for k, v in r["max_diff"].items())
    return (f"peer Brian2 {r['version']} ({r['target']}, float64, {r['threads']} thread(s)): "
            f"forward + reverse: time steps {r['steps_s']:.2f} s = {r['rate_peer']:.3g} "
            f"element-updates/s (whole run calls {r['run_s']:.2f} s, build {r['build_s']:.1f} s)"
            f"; FloatModel float64 ({r['kernel']}) {r['ours_s']:.3f} s = {r['rate_ours']:.3g}/s:"
            f" {r['ratio']:.0f}x faster ({r['ratio_run']:.0f}x the run calls); integrals' "
            f"largest difference: {diffs}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m wuxing.golden.bench",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="one repetition of each, batch 16, no compile-time measurement, no peer")
    p.add_argument("--batch", type=int, default=None, help="samples per step (default 64)")
    p.add_argument("--reps", type=int, default=None, help="timed repetitions (default 5)")
    p.add_argument("--threads", type=int, default=None, help="threads (default: one per core)")
    p.add_argument("--model", default="model1", help="topology preset (default model1)")
    p.add_argument("--only", choices=("float", "fixed"), help="run one model only")
    p.add_argument("--kernel", choices=("both", "numba", "numpy"), default="both",
                   help="run loop(s) to time (default both, side by side)")
    p.add_argument("--chunk", type=int, default=None,
                   help="samples per kernel chunk (default: the batch over the threads, at "
                        f"most {kernels.MAX_CHUNK})")
    p.add_argument("--peer", default=None,
                   choices=("none", "all") + PEER_TARGETS,
                   help="Brian2 code generation target of the peer run (default cython, "
                        "the fastest here; none: no peer; all: each target)")
    p.add_argument("--peer-threads", type=int, default=1,
                   help="OpenMP threads of Brian2's cpp_standalone (default 1)")
    p.add_argument("--no-compile-time", action="store_true",
                   help="skip the Numba compile-time measurement")
    p.add_argument("--json", metavar="PATH", help="also write every figure as JSON")
    return p


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    batch = args.batch or (16 if args.quick else 64)
    reps = args.reps or (1 if args.quick else 5)
    if batch < 1 or reps < 1:
        p.error("--batch and --reps must be positive")
    if args.chunk is not None and args.chunk < 1:
        p.error("--chunk must be positive")
    try:
        topo = preset(args.model)
    except ValueError as e:
        p.error(str(e))
    cfg = RunConfig()
    print(f"{topo.name}: {topo.n_neurons} neurons, {topo.n_links} links; batch {batch}, "
          f"{cfg.steps} Euler steps forward + {cfg.steps} reverse + BSP; "
          f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.2f}", flush=True)
    if args.kernel == "both":
        loops = ["numpy", "numba"] if kernels.AVAILABLE else ["numpy"]
        if not kernels.AVAILABLE:
            print(f"numba is not importable ({kernels.IMPORT_ERROR}): NumPy loop only")
    else:
        loops = [args.kernel]
    if args.chunk:
        kernels.MAX_CHUNK = args.chunk
    report = dict(model=topo.name, batch=batch, steps=cfg.steps, cpus=os.cpu_count(),
                  load_before=os.getloadavg()[0], runs=[])
    for kind in ("float", "fixed"):
        if args.only and kind != args.only:
            continue
        rates = {}
        for loop in loops:
            try:
                r = bench_model(kind, topo, cfg, batch, reps, threads=args.threads,
                                kernel=loop)
            except ValueError as e:
                p.error(str(e))
            report["runs"].append(r)
            rates[loop] = r["rate"]
            print(_line(r), flush=True)
        if len(rates) == 2:
            print(f"         numba / numpy: {rates['numba'] / rates['numpy']:.2f}x", flush=True)
    if kernels.AVAILABLE and "numba" in loops and not (args.quick or args.no_compile_time):
        ct = compile_times()
        report["compile_s"] = ct
        print("numba first call (child process): compile "
              + ", ".join(f"{k} {v:.1f} s" for k, v in ct["cold"].items())
              + "; from the cache " + ", ".join(f"{k} {v:.2f} s" for k, v in ct["cached"].items())
              + f" (cache: {kernels.cache_dir()})", flush=True)
    peer_target = args.peer or ("none" if args.quick else PEER_TARGETS[0])
    if peer_target != "none":
        from .peer import available
        ok, version = available()
        if not ok:
            print(f"peer: Brian2 is not usable here ({version}); install it with "
                  f"pip install -e '.[bench]'")
        else:
            report["peer"] = []
            for target in (PEER_TARGETS if peer_target == "all" else (peer_target,)):
                try:
                    r = bench_peer(topo, cfg, batch, target=target, threads=args.peer_threads)
                except Exception as e:   # a missing compiler, a failed build: say so, go on
                    print(f"peer Brian2 ({target}) failed: {type(e).__name__}: {e}")
                    continue
                r["version"] = version
                report["peer"].append(r)
                print(_peer_line(r), flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report.update(peak_rss_mib=rss / 1024, load_after=os.getloadavg()[0])
    print(f"peak resident size {rss / 1024:.0f} MiB; load average now "
          f"{os.getloadavg()[0]:.2f}")
    if args.json:
        from .report import write_json
        write_json(args.json, report)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
