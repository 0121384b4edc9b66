"""``wuxing sim`` (run the cocotb benches) and ``wuxing compare`` (RTL vs golden report)."""
from __future__ import annotations

import time

__all__ = ["add_commands", "float_vs_fixed", "compare_design"]


def float_vs_fixed(design, cases) -> dict:
    """Largest differences between the float model and the fixed-point one, same runs.

    ``cases``: the stimulus the RTL ran (C registers, input and error integers). The float
    model gets the same values as real numbers; it runs in float64.
    """
    import numpy as np

    from wuxing.golden.network import FloatModel

    fx = design.model()
    fl = FloatModel(design.topology, design.cfg, design.neuron, dtype=np.float64)
    fmt, cfg = design.fmt, design.cfg
    worst = dict(output=0.0, forward_integral=0.0, reverse_integral=0.0, new_C=0.0)
    for case in cases:
        c = np.asarray(case["C"], np.int64)
        x = np.asarray(case["x"], np.int64)[None, :]
        err = np.asarray(case["err"], np.int64)[None, :]
        c_real = fx.coef_to_real(c)
        f_fix, r_fix = fx.forward(c, x), fx.reverse(c, err)
        f_fl = fl.forward(c_real, fmt.to_real(x) / cfg.input_scale)
        r_fl = fl.reverse(c_real, fmt.to_real(err))
        scale = cfg.h / fmt.one
        diffs = dict(
            output=np.abs(fl.outputs(f_fl) - fx.outputs_real(f_fix)),
            forward_integral=np.abs(f_fl.S - f_fix.S * scale),
            reverse_integral=np.abs(r_fl.S - r_fix.S * scale),
            new_C=np.abs(fl.bsp_update(c_real, f_fl.S, r_fl.S)
                         - fx.coef_to_real(fx.bsp_update(c, f_fix.S, r_fix.S))))
        for k, v in diffs.items():
            worst[k] = max(worst[k], float(np.max(v)))
    return worst


def compare_design(design, simulator: str, random_cases: int = 1, seed: int = 0,
                   waves=None, speed_steps: int = 0, edge_cases: bool = True,
                   pgo: bool = False, optimize_netlist: bool = True) -> dict:
    """Generate (if needed) and run the whole-network bench; the report as a dict (``pgo``:
    a profile-guided Verilator build; ``optimize_netlist``: Verilator compiles Yosys's
    optimised netlist, not the Verilog as generated; runner.VerilatorOptions)."""
    from .designs import ensure_design
    from .runner import VerilatorOptions, run_bench

    out = ensure_design(design)
    env = dict(WUXING_RANDOM_CASES=random_cases, WUXING_SEED=seed,
               WUXING_EDGE_CASES=int(edge_cases))
    if speed_steps:
        env["WUXING_SPEED_STEPS"] = speed_steps
    rep = run_bench("network", out, simulator, waves=waves, env=env,
                    verilator=VerilatorOptions(pgo=pgo, optimize_netlist=optimize_netlist))
    bench = rep["benches"][0]
    rep["float_vs_fixed"] = float_vs_fixed(design, bench.get("cases", []))
    rep["design_dir"] = str(out)
    return rep


def _print_report(rep, design):
    b = rep["benches"][0]
    t = design.topology
    from wuxing.hdl.commands import describe_arch
    print(f"compare: {design.source}, {t.n_neurons} neurons, {t.n_links} links, "
          f"{design.cfg.steps} steps, {describe_arch(design)}, simulator {rep['simulator']}")
    print(f"  runs: {', '.join(b['runs'])}")
    print(f"  values compared: {rep['compared']}")
    print(f"  mismatches:      {rep['mismatches']}")
    for m in rep["first_mismatches"][:10]:
        print(f"    run {m['run']}, step {m['step']}, {m['signal']}: RTL {m['rtl']} != "
              f"golden {m['golden']}")
    print(f"  runs that saturated a state: {b.get('overflow_runs', 0)}, "
          f"C at a clamp after BSP: {b.get('clamped_c', 0)}")
    fe = rep["float_vs_fixed"]
    print("  float vs fixed point, same runs (largest absolute difference, real units):")
    print(f"    outputs y {fe['output']:.3g}, forward integrals {fe['forward_integral']:.3g}, "
          f"reverse integrals {fe['reverse_integral']:.3g}, new C {fe['new_C']:.3g} "
          f"(LSB {design.fmt.lsb:.3g})")
    built = "reused the build of" if rep.get("build_cached") else "build"
    print(f"  {b.get('compare_cycles', 0)} simulated clocks in {b.get('requests', 0)} requests; "
          f"{built} {rep['build_seconds']:.1f} s, run {rep['test_seconds']:.1f} s")
    for case in b.get("cases", [])[:3]:
        c = case.get("cycles", {})
        if c:
            print(f"  clocks of {case['name']}: forward {c['forward']:,}, reverse "
                  f"{c['reverse']:,}, BSP {c['bsp']:,}")
    if "cycles_per_second" in b:
        print(f"  speed: {b['speed_cycles']} clocks in {b['speed_seconds']:.2f} s = "
              f"{b['cycles_per_second']:,.0f} cycles/s ({b['cycles_per_cpu_second']:,.0f} per "
              f"second of simulator CPU time)")
    if rep.get("waves"):
        print(f"  waves: {', '.join(rep['waves'])}")


def cmd_compare(args) -> int:
    from wuxing.hdl.commands import design_from_args

    from wuxing.golden.report import check_output_file, write_json

    from .runner import BenchError

    if args.json:
        check_output_file(args.json, "--json")
    design = design_from_args(args, what="network")
    try:
        if args.random < 0 or (args.random == 0 and args.no_edge_cases):
            raise ValueError("nothing to compare: give --random 1 or more, or drop "
                             "--no-edge-cases")
        for flag, given in (("--pgo", args.pgo),
                            ("--netlist-as-generated", args.netlist_as_generated)):
            if given and args.simulator != "verilator":
                raise ValueError(f"{flag} is a Verilator build option")
        rep = compare_design(design, args.simulator, args.random, args.seed, args.waves,
                             args.speed_steps, edge_cases=not args.no_edge_cases,
                             pgo=args.pgo, optimize_netlist=not args.netlist_as_generated)
    except BenchError as e:
        raise ValueError(str(e)) from None
    _print_report(rep, design)
    if args.json:
        write_json(args.json, rep)
        print(f"  wrote {args.json}")
    return 0 if rep["mismatches"] == 0 and rep["tests_failed"] == 0 else 1


def cmd_sim(args) -> int:
    from .designs import ensure_design, standard_design
    from .runner import SIMULATORS, BenchError, run_bench, simulator_missing

    if args.lanes is not None and args.arch != "engine":
        raise ValueError(f"--lanes needs --arch engine (the {args.arch} network has no lanes)")
    sims = SIMULATORS if args.simulator == "all" else (args.simulator,)
    benches = args.bench or ["core", "synapse", "network"]
    failed = 0
    for sim in sims:
        reason = simulator_missing(sim)
        if reason:
            print(f"{sim}: skipped ({reason})")
            continue
        for what in benches:
            net = what == "network"
            design = standard_design(what, args.topology, args.steps, args.mult, args.k_mode,
                                     pipeline=args.pipeline and args.mult == "parallel",
                                     arch=args.arch if net else "unrolled",
                                     lanes=(args.lanes or 1) if net else 1)
            t0 = time.perf_counter()
            try:
                rep = run_bench(what, ensure_design(design), sim, waves=args.waves,
                                env=dict(WUXING_SEED=args.seed))
            except BenchError as e:
                print(f"{sim} {what}: ERROR {e}")
                failed += 1
                continue
            ok = rep["mismatches"] == 0 and rep["tests_failed"] == 0
            failed += not ok
            runs = sum(len(b["runs"]) for b in rep["benches"])
            print(f"{sim:9s} {what:8s} {'PASS' if ok else 'FAIL'}: {rep['compared']} values "
                  f"compared over {runs} runs, {rep['mismatches']} mismatches "
                  f"({time.perf_counter() - t0:.1f} s)")
            for m in rep["first_mismatches"][:5]:
                print(f"    run {m['run']}, step {m['step']}, {m['signal']}: RTL {m['rtl']} "
                      f"!= golden {m['golden']}")
            for w in rep.get("waves", []):
                print(f"    waves: {w}")
    return 1 if failed else 0


def add_commands(sub):
    from wuxing.hdl.commands import add_design_args, lanes_arg

    p = sub.add_parser("sim", help="run the cocotb benches (core, synapse, network)",
                       description="Run the cocotb co-simulation benches against the golden "
                                   "model on Icarus and/or Verilator.")
    p.add_argument("--simulator", choices=("icarus", "verilator", "all"), default="all")
    p.add_argument("--bench", action="append", choices=("core", "synapse", "network"),
                   help="bench to run (repeatable; default: all three)")
    p.add_argument("--topology", default="small",
                   help="network of the network bench: 'small' (8 neurons) or a preset")
    p.add_argument("--steps", type=int, help="Euler steps per run (default: the settings')")
    p.add_argument("--mult", choices=("parallel", "shared"), default="parallel")
    p.add_argument("--k", dest="k_mode", choices=("const", "reg"), default="const")
    p.add_argument("--pipeline", action="store_true", help="pipelined parallel cores")
    p.add_argument("--arch", choices=("unrolled", "engine", "serial"), default="unrolled",
                   help="network bench: the network architecture (as in generate)")
    p.add_argument("--lanes", type=lanes_arg, metavar="P",
                   help="network bench with --arch engine: parallel lanes (default 1)")
    p.add_argument("--waves", choices=("vcd", "fst"), help="record waveforms")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("compare", help="RTL vs golden model for one network configuration",
                       description="Generate a network, run forward, reverse and BSP in RTL "
                                   "and in the golden model, and report the values compared, "
                                   "the mismatches, and the float-vs-fixed error.")
    add_design_args(p, with_what=False)
    p.set_defaults(what="network")
    p.add_argument("--simulator", choices=("icarus", "verilator"), default="verilator")
    p.add_argument("--random", type=int, default=1, help="random cases after the edge cases")
    p.add_argument("--no-edge-cases", action="store_true",
                   help="only the random cases (zero input and the full-scale cases skipped)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speed-steps", type=int, default=0,
                   help="also time one forward run of this many steps")
    p.add_argument("--waves", choices=("vcd", "fst"), help="record waveforms")
    p.add_argument("--pgo", action="store_true",
                   help="profile-guided Verilator build: compiled, run once on the quick "
                        "check, compiled again with its profile (about twice the build time; "
                        "the multi-lane engine simulates 3-27 %% faster)")
    p.add_argument("--netlist-as-generated", action="store_true",
                   help="Verilator compiles the Verilog as generated, not the netlist Yosys "
                        "flattened and optimised (sim/netlist.py; up to 2.3x slower)")
    p.add_argument("--json", metavar="PATH", help="write the report as JSON")
    p.set_defaults(func=cmd_compare)
