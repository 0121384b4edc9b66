"""The same network and the same Euler steps in Brian2: the golden model's peer.

:func:`brian2_run` builds a :class:`FloatModel` run in Brian2 (https://briansimulator.org,
optional: ``pip install 'wuxing[bench]'``) and returns its integrals, so that the bench can
compare both the values and the speed. The Brian2 model is written from the
:mod:`golden.network` docstring, not from our run loops:

* one ``NeuronGroup`` of ``batch * N`` neurons (a copy of the network per sample), each with
  the five element states ``E0..E4`` and their integrals ``S0..S4``::

      dE_d/dt = (K1_d E_lin(d) - K2_d E_d - K3_d E_d E_quad(d) + u_d + x_d) / ms
      dS_d/dt = (E_d - B0_d) / ms

  integrated with ``method='euler'`` at ``dt = h * ms`` (so ``E += h * (...)``), the states
  clamped to ``[state_lo, state_hi]`` after every step (``run_regularly``, ``when='end'``);
* the links: one ``Synapses`` per pair (sending element, receiving element) that occurs, each
  link a synapse with weight ``C`` and the summed variable
  ``u_<se>_<de>_post = C * (E_<se>_pre - B0_<se>)`` (Brian2 updates summed variables before the
  state update of a step, as D_t enters step t); ``u_d`` sums the pairs of element ``d``;
* the external input (``x`` of the forward run, the error of the reverse run) is the constant
  ``x_d`` of the element that takes it.

Brian2 integrates in float64; the comparison is with a float64 FloatModel. The overflow flags
are not modelled.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["TARGETS", "available", "brian2_run"]

# Brian2's code generation targets, fastest first as measured here (python -m
# wuxing.golden.bench --peer all; MODEL1, batch 64, time steps of forward + reverse on the
# shared 2-core machine: cython 2.9 s, cpp_standalone 4.3 s with one thread and 26 s with two
# OpenMP threads on the busy machine, numpy 5.2 s). cython compiles one extension per code
# object (minutes, the first time; cached in ~/.cython); cpp_standalone compiles the whole
# simulation into one C++ program (1.5-3.5 min; here cached in ~/.cache/wuxing/brian2).
TARGETS = ("cython", "cpp_standalone", "numpy")


def available() -> tuple[bool, str]:
    """(True, version) if Brian2 imports here, else (False, the reason)."""
    try:
        import brian2
    except Exception as e:  # ImportError, or an incompatible NumPy raising AttributeError
        return False, f"{type(e).__name__}: {e}"
    return True, brian2.__version__


def _equations(model, reverse, pairs, ext_elem):
    lin, quad = model._offsets(reverse)
    k1, k2, k3 = (np.asarray(k, np.float64) for k in model._coef(reverse))
    b0 = np.ravel(model.neuron.fixed_point(reverse)).astype(np.float64)
    lines = []
    for d in range(5):
        a, b = (d + lin) % 5, (d + quad) % 5
        u = " + ".join(f"u_{s}_{d}" for s, dd in pairs if dd == d) or "0"
        x = f" + x{d}" if d == ext_elem else ""
        c1, c2, c3 = float(k1[d]), float(k2[d]), float(k3[d])
        lines.append(f"dE{d}/dt = ({c1!r} * E{a} - {c2!r} * E{d} - {c3!r} * E{d} * E{b}"
                     f" + ({u}){x}) / ms : 1")
        lines.append(f"dS{d}/dt = (E{d} - {float(b0[d])!r}) / ms : 1")
    lines += [f"u_{s}_{d} : 1" for s, d in pairs]
    if ext_elem is not None:
        lines.append(f"x{ext_elem} : 1")
    return "\n".join(lines), b0


def _standalone_dir(key: str) -> Path:
    """A persistent project folder per network code: Brian2 rewrites only the files whose
    text changed and make recompiles only those, so a second bench run builds in seconds."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "wuxing" / "brian2" / hashlib.sha256(key.encode()).hexdigest()[:16]


def brian2_run(model, C, ext_flat, ext, reverse: bool, target: str = "cython",
               threads: int = 1) -> dict:
    """One run of ``model`` (a FloatModel's network and settings) in Brian2.

    ``ext_flat``, ``ext``: as in ``FloatModel._run`` (rows of the input elements, values
    (batch, k)). Returns dict(S=(5, N, batch) float64, final_state=(5, N, batch),
    build_s=construction and code generation/compilation, run_s=the run call (runtime
    targets: with Brian2's per-run preparation; cpp_standalone: the whole program, which also
    creates the synapses and writes its results), steps_s=the time steps alone (runtime: the
    sum of Brian2's profile of its code objects; cpp_standalone: its Network::run), target).
    ``threads``: OpenMP threads of cpp_standalone (the runtime targets use one).
    cpp_standalone builds in a persistent folder under ``~/.cache/wuxing/brian2``.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, not {target!r}")
    import brian2 as b2
    logging.getLogger("brian2").setLevel(logging.WARNING)
    b2.BrianLogger.suppress_name("method_choice")
    cfg, N = model.cfg, model.N
    ext = np.asarray(ext, np.float64)
    B = ext.shape[0]
    to_rows, from_rows = model._link_rows(reverse)
    se, sn = np.divmod(from_rows, N)
    de, dn = np.divmod(to_rows, N)
    pairs = sorted({(int(a), int(b)) for a, b in zip(se, de)})
    ext_e, ext_n = np.divmod(np.asarray(ext_flat, np.int64), N)
    if ext_e.size and np.unique(ext_e).size != 1:
        raise ValueError("the external input must enter one element")
    ext_elem = int(ext_e[0]) if ext_e.size else None
    eqs, b0 = _equations(model, reverse, pairs, ext_elem)
    C = np.asarray(C, np.float64)

    t0 = time.perf_counter()
    key = f"{eqs}|{B}|{N}|{pairs}|{cfg.steps}|{cfg.h}|{threads}|{ext_elem}"
    with (contextlib.nullcontext(str(_standalone_dir(key))) if target == "cpp_standalone"
          else tempfile.TemporaryDirectory(prefix="wuxing-brian2-")) as build_dir:
        if target == "cpp_standalone":
            b2.set_device("cpp_standalone", directory=build_dir, build_on_run=False)
            b2.prefs.devices.cpp_standalone.openmp_threads = int(threads)
        else:
            b2.set_device("runtime")
            b2.prefs.codegen.target = target
        try:
            b2.start_scope()
            b2.defaultclock.dt = cfg.h * b2.ms
            G = b2.NeuronGroup(B * N, eqs, method="euler", name="wuxing")
            for d in range(5):
                setattr(G, f"E{d}", b0[d])
            if ext_elem is not None:
                xv = np.zeros((B, N))
                xv[:, ext_n] = ext
                setattr(G, f"x{ext_elem}", xv.ravel())
            lo, hi = float(cfg.state_lo), float(cfg.state_hi)
            G.run_regularly("\n".join(f"E{d} = clip(E{d}, {lo!r}, {hi!r})" for d in range(5)),
                            when="end")
            offs = np.arange(B)[:, None] * N
            syn = []
            for s, d in pairs:
                sel = np.flatnonzero((se == s) & (de == d))
                model_eq = (f"w : 1\nu_{s}_{d}_post = w * (E{s}_pre - {float(b0[s])!r}) : 1 "
                            f"(summed)")
                Sy = b2.Synapses(G, G, model_eq, name=f"links_{s}_{d}")
                Sy.connect(i=(offs + sn[sel]).ravel(), j=(offs + dn[sel]).ravel())
                Sy.w = np.tile(C[sel], B)
                syn.append(Sy)
            net = b2.Network(G, *syn)
            if target == "cpp_standalone":
                net.run(cfg.steps * cfg.h * b2.ms)
                with contextlib.redirect_stdout(io.StringIO()):
                    b2.device.build(directory=build_dir, compile=True, run=False)
                build_s = time.perf_counter() - t0
                t1 = time.perf_counter()
                b2.device.run(directory=build_dir, with_output=False, run_args=[])
                run_s = time.perf_counter() - t1
                steps_s = float(b2.device._last_run_time)     # the program's Network::run
            else:
                net.run(0 * b2.ms)           # code generation and compilation, no step
                build_s = time.perf_counter() - t0
                t1 = time.perf_counter()
                net.run(cfg.steps * cfg.h * b2.ms, profile=True)
                run_s = time.perf_counter() - t1
                steps_s = float(sum(float(t) for _, t in net.profiling_info))
            S = np.stack([np.asarray(getattr(G, f"S{d}")[:]).reshape(B, N).T for d in range(5)])
            E = np.stack([np.asarray(getattr(G, f"E{d}")[:]).reshape(B, N).T for d in range(5)])
            steps_run = int(round(float(b2.defaultclock.t / b2.defaultclock.dt)))
        finally:
            if target == "cpp_standalone":
                b2.device.reinit()
                b2.device.activate()
            b2.set_device("runtime")
    if steps_run != cfg.steps:
        raise RuntimeError(f"Brian2 ran {steps_run} steps, not {cfg.steps}")
    return dict(S=S, final_state=E, build_s=build_s, run_s=run_s, steps_s=steps_s,
                target=target)
