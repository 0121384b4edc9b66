"""Speed and memory of the golden models: ``python -m golden.bench [--quick]``.

One training step on MODEL1 (``preset('model1')``), default :class:`RunConfig` (80 Euler steps):
forward run, outputs and error, reverse run, BSP update of every link, for a batch of inputs.
The figure of merit is element-updates per second: one element of one neuron advanced one
Euler step for one sample, so a step counts ``2 * steps * 5 * n_neurons * batch`` of them.

Wall time is the best of the repetitions; CPU time (all threads) is shown too, with the load
average, because the figure depends on what else the machine is doing. Peak memory: the
largest NumPy allocation total of one step (tracemalloc, a separate untimed pass) and the
process's peak resident size.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc

import numpy as np

from .config import RunConfig
from .network import FixedModel, FloatModel, init_coefficients
from .topology import preset

__all__ = ["main", "bench_model"]


def _float_step(m: FloatModel, C, x, target):
    f = m.forward(C, x)
    r = m.reverse(C, m.error(m.outputs(f), target))
    return m.bsp_update(C, f.S, r.S)


def _fixed_step(m: FixedModel, C, x, target):
    f = m.forward(C, x)
    r = m.reverse(C, m.error_int(f, target))
    return m.bsp_update(C, f.S, r.S)


def bench_model(kind: str, topology, cfg: RunConfig, batch: int, reps: int,
                threads: int | None = None, seed: int = 0) -> dict:
    """Time ``reps`` training steps of the float32 (``kind='float'``) or fixed-point model."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (batch, topology.layers[0]))
    target = np.eye(topology.layers[-1])[rng.integers(0, topology.layers[-1], batch)]
    C = init_coefficients(topology, cfg, seed)
    if kind == "float":
        m = FloatModel(topology, cfg, dtype=np.float32, threads=threads)
        step, args = _float_step, (C, x, target)
    elif kind == "fixed":
        m = FixedModel(topology, cfg, threads=threads)
        step, args = _fixed_step, (m.coef_to_int(C), m.input_to_int(x), target)
    else:
        raise ValueError(f"kind must be 'float' or 'fixed', not {kind!r}")
    step(m, *args)                                   # warm-up (caches, thread pool)
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
    return dict(kind=kind, batch=batch, threads=m.threads, reps=reps, updates=updates,
                wall_best=best, wall_median=float(np.median(walls)), cpu_best=min(cpus),
                rate=updates / best, rate_median=updates / float(np.median(walls)),
                rate_cpu=updates / min(cpus), peak_bytes=peak)


def _line(r: dict) -> str:
    name = "float32" if r["kind"] == "float" else "fixed  "
    return (f"{name}  {r['rate']:.3g} element-updates/s (best of {r['reps']}; median "
            f"{r['rate_median']:.3g}; per CPU-second {r['rate_cpu']:.3g}), "
            f"{r['wall_best'] * 1e3:.0f} ms per step, {r['threads']} thread(s), "
            f"peak NumPy memory {r['peak_bytes'] / 2**20:.0f} MiB")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m wuxing.golden.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one repetition of each, batch 16")
    p.add_argument("--batch", type=int, default=None, help="samples per step (default 64)")
    p.add_argument("--reps", type=int, default=None, help="timed repetitions (default 5)")
    p.add_argument("--threads", type=int, default=None, help="threads (default: one per core)")
    p.add_argument("--model", default="model1", help="topology preset (default model1)")
    p.add_argument("--only", choices=("float", "fixed"), help="run one model only")
    args = p.parse_args(argv)
    batch = args.batch or (16 if args.quick else 64)
    reps = args.reps or (1 if args.quick else 5)
    if batch < 1 or reps < 1:
        p.error("--batch and --reps must be positive")
    try:
        topo = preset(args.model)
    except ValueError as e:
        p.error(str(e))
    cfg = RunConfig()
    print(f"{topo.name}: {topo.n_neurons} neurons, {topo.n_links} links; batch {batch}, "
          f"{cfg.steps} Euler steps forward + {cfg.steps} reverse + BSP; "
          f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.2f}")
    for kind in ("float", "fixed"):
        if args.only and kind != args.only:
            continue
        try:
            r = bench_model(kind, topo, cfg, batch, reps, threads=args.threads)
        except ValueError as e:
            p.error(str(e))
        print(_line(r), flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak resident size {rss / 1024:.0f} MiB; load average now "
          f"{os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
