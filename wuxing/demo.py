"""``wuxing demo``: the main job on the embedded default, no board and no download.

1. train the demo recipe (golden.train ``demo``: a (64, 24, 10) network with the adder,
   fan-in 8, on scikit-learn's 8x8 digits) with BSP in the golden model twice: in float and
   in bit-exact fixed point (the chip's learning format), and print both held-out accuracies;
2. generate the Verilog of the network trained in fixed point;
3. co-simulate it against the fixed-point golden model (forward, reverse, BSP update);
4. run the host flow against the simulated board (UART protocol, inference and a training
   step on the chip), equal to the golden model;
5. train on the simulated chip (``wuxing train --on-chip --sim``: one TRAIN_SAMPLE frame per
   sample through a pseudo-terminal, the error formed on the chip, batch BSP), compared with
   the golden model after every batch, the held-out accuracy measured on the chip;
6. build a board's bitstream with the YoWASP tools (default ULX3S), in a process of its own
   started after stage 2, so that the place-and-route (one core) runs beside stages 3-5;
7. print one summary (and write it as JSON).

A stage whose tools are missing is reported as skipped with the reason; a stage that fails
makes the demo exit non-zero, after the summary.
"""
from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np

__all__ = ["run_demo", "add_demo_command"]

DEMO_RECIPE = "demo"       # the host flow's on-chip training uses the same recipe
# training samples of stage 5 (None: one whole epoch); `wuxing demo --onchip-samples N`
DEMO_ONCHIP_SAMPLES = None


class _Stage:
    def __init__(self, summary, name):
        self.summary, self.name = summary, name

    def __enter__(self):
        self.t0 = time.perf_counter()
        print(f"\n== {self.name} ==", flush=True)
        self.rec = dict(stage=self.name, status="ok")
        return self.rec

    def __exit__(self, et, ev, tb):
        self.rec["seconds"] = round(time.perf_counter() - self.t0, 1)
        if et is not None:
            from wuxing.golden.errors import UserError
            self.rec["status"] = "failed"
            self.rec["error"] = f"{et.__name__}: {ev}"
            print(f"{self.name}: FAILED: {ev}", flush=True)
            if not isinstance(ev, (UserError, ValueError)):
                traceback.print_exception(et, ev, tb, file=sys.stderr)
        self.summary["stages"].append(self.rec)
        return et is not None and issubclass(et, Exception)


def run_demo(out="runs/demo", epochs=None, simulator="auto", board="ulx3s",
             skip_bitstream=False, quiet=False, onchip_samples=DEMO_ONCHIP_SAMPLES) -> dict:
    from wuxing.golden.checkpoint import Checkpoint, save_checkpoint
    from wuxing.golden.network import FixedModel
    from wuxing.golden.report import plot_curves
    from wuxing.golden.train import RECIPES, recipe_schedule, run_recipe

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = dict(recipe=DEMO_RECIPE, stages=[])
    t_start = time.perf_counter()
    recipe = RECIPES[DEMO_RECIPE]
    topo = recipe.build_topology()
    ckpt_path = out / "checkpoint.npz"

    # 1. training -----------------------------------------------------------------------
    with _Stage(summary, "1. train (golden model, BSP, float and bit-exact fixed point)") \
            as rec:
        print(f"{recipe.description}: {topo.n_neurons} neurons, {topo.n_links} links, "
              f"{recipe.epochs if epochs is None else epochs} epochs, step schedule "
              f"{recipe_schedule(recipe)}")
        runs = {}
        for mode in ("float", "fixed"):
            print("-- float" if mode == "float" else
                  "-- bit-exact fixed point (the chip's learning format)")
            bar = None
            if not quiet:
                from tqdm import tqdm
                bar = tqdm(total=1, unit="batch", file=sys.stderr, leave=False)

            def progress(done, total):
                if bar is not None:
                    bar.total = total
                    bar.update(done - bar.n)

            runs[mode] = run_recipe(DEMO_RECIPE, epochs=epochs, fixed=mode == "fixed",
                                    progress=progress,
                                    log=(bar.write if bar is not None else print))
            if bar is not None:
                bar.close()
        res = runs["fixed"]
        hist, fhist = res.history, runs["float"].history
        model = FixedModel(topo, recipe.cfg, fmt=recipe.fmt)
        save_checkpoint(ckpt_path, Checkpoint(
            topology=topo, cfg=recipe.cfg, C=model.coef_to_real(res.C), fmt=recipe.fmt,
            mode="fixed", C_int=res.C, dataset=recipe.dataset, history=hist,
            extra=dict(recipe=DEMO_RECIPE)))
        plot_curves(out / "curve.png", {
            "BSP float (held out)": ([h["epoch"] for h in fhist],
                                     [100 * h["test_acc"] for h in fhist]),
            "BSP fixed point (held out)": ([h["epoch"] for h in hist],
                                           [100 * h["test_acc"] for h in hist])},
            title=f"{DEMO_RECIPE}: held-out accuracy")
        rec.update(accuracy_before=hist[0]["test_acc"], accuracy_float=fhist[-1]["test_acc"],
                   accuracy_fixed_point=hist[-1]["test_acc"], epochs=len(hist) - 1,
                   checkpoint=str(ckpt_path),
                   seconds_float=round(fhist[-1]["seconds"], 1),
                   seconds_fixed=round(hist[-1]["seconds"], 1))
        from wuxing.golden.data import load_dataset
        n_test = len(load_dataset(recipe.dataset).y_test)
        print(f"held-out accuracy ({n_test} samples): "
              f"{100 * hist[0]['test_acc']:.1f} % before training; after "
              f"{len(hist) - 1} epochs {100 * fhist[-1]['test_acc']:.1f} % in float, "
              f"{100 * hist[-1]['test_acc']:.1f} % in bit-exact fixed point")

    if summary["stages"][-1]["status"] != "ok":
        return _finish(summary, out, t_start)

    # 2. Verilog ------------------------------------------------------------------------
    design = None
    with _Stage(summary, "2. generate Verilog") as rec:
        from wuxing.hdl.generate import design_from_checkpoint, write_design
        # the time-multiplexed network: the same design is co-simulated, driven over the
        # simulated UART and built for the iCEBreaker (the unrolled one does not fit an iCE40)
        design = design_from_checkpoint(ckpt_path, arch="serial")
        man = write_design(design, out / "verilog")
        v = out / "verilog" / f"{design.top}.v"
        rec.update(verilog=str(v), lines=sum(1 for _ in open(v)), top=man.get("top"),
                   arch=design.arch)
        print(f"wrote {v} ({rec['lines']} lines, {design.arch} architecture) and its manifest")

    # 6. (started here) bitstream, beside stages 3-5 --------------------------------------
    bitstream_job = None
    if not skip_bitstream and design is not None:
        bitstream_job = _start_bitstream(ckpt_path, board, out)

    # 3. co-simulation ------------------------------------------------------------------
    with _Stage(summary, "3. co-simulate RTL against the golden model") as rec:
        from wuxing.sim.commands import compare_design
        from wuxing.sim.runner import simulator_missing
        sim = simulator
        if sim == "auto":  # Verilator is the faster of the two on the long runs
            sim = "verilator" if simulator_missing("verilator") is None else "icarus"
        reason = simulator_missing(sim)
        if reason:
            rec.update(status="skipped", reason=reason)
            print(f"skipped: {reason}")
        else:
            rep = compare_design(design, sim)
            rec.update(simulator=sim, compared=rep["compared"], mismatches=rep["mismatches"],
                       float_vs_fixed=rep["float_vs_fixed"])
            print(f"{sim}: {rep['compared']} values compared, {rep['mismatches']} mismatches")
            if rep["mismatches"] or rep.get("tests_failed"):
                rec["status"] = "failed"

    # 4. host flow in simulation ----------------------------------------------------------
    with _Stage(summary, "4. host flow against the simulated board") as rec:
        rec.update(_host_flow(design, recipe, simulator))
        if rec.get("mismatches"):
            rec["status"] = "failed"

    # 5. learning on the simulated chip ------------------------------------------------------
    with _Stage(summary, "5. learning on the simulated chip") as rec:
        rec.update(_on_chip(recipe, simulator, out, quiet, golden_history=hist,
                            max_samples=onchip_samples))
        if rec.get("mismatches"):
            rec["status"] = "failed"

    # 6. bitstream ------------------------------------------------------------------------
    with _Stage(summary, f"6. {board} bitstream (YoWASP)") as rec:
        if skip_bitstream:
            rec.update(status="skipped", reason="--skip-bitstream")
            print("skipped (--skip-bitstream)")
        elif bitstream_job is None:
            rec.update(_bitstream(design, board, out))
        else:
            rec.update(_join_bitstream(*bitstream_job))

    return _finish(summary, out, t_start)


def _host_flow(design, recipe, simulator):
    from wuxing.boards.flow import golden_session
    from wuxing.boards.sim import run_sim_session
    from wuxing.sim.runner import simulator_missing

    from wuxing.golden.data import load_dataset
    # the board simulation runs on Verilator (docs/BOARDS.md: Icarus sees X in the bridge)
    sim = "verilator" if simulator == "auto" else simulator
    reason = simulator_missing(sim)
    if reason:
        print(f"skipped: {reason}")
        return dict(status="skipped", reason=reason)
    model = design.model()
    data = load_dataset(recipe.dataset)
    n_train, n_infer = 2, 8
    x = np.concatenate([data.x_train[:n_train], data.x_test[:n_infer]])
    labels = np.concatenate([data.y_train[:n_train], data.y_test[:n_infer]])
    n_out = design.topology.layers[-1]
    targets = getattr(design.cfg, "target", 1.0) * np.eye(n_out)[labels]
    x_int = model.input_to_int(x)
    C = np.asarray(design.c_init, np.int64)
    job = dict(C_int=C.tolist(), x_int=x_int.tolist(), targets=targets.tolist(), train=n_train)
    print(f"{sim}: identify, write/read coefficients, {n_train} training steps on the chip, "
          f"{n_infer} inferences, read coefficients back", flush=True)
    r = run_sim_session(design, job, sim)
    g = golden_session(model, C, x_int, targets, train=n_train)
    out, gout = np.array(r["outputs"]), np.array(g["outputs"])
    c_after = np.array(r["c_after"])
    mism = int(np.sum(out != gout)) + int(np.sum(c_after != np.array(g["c_after"])))
    mism += int(np.sum(np.array(r["c_read_back"]) != C))
    compared = out.size + c_after.size + C.size
    print(f"device vs golden model: {compared} integers compared, {mism} mismatches")
    return dict(simulator=sim, compared=compared, mismatches=mism, train_steps=n_train,
                inferences=n_infer)


def _on_chip(recipe, simulator, out, quiet, golden_history, max_samples):
    """Stage 5: the demo recipe trained on the simulated chip through its serial port (a
    pseudo-terminal), as ``wuxing train --on-chip --sim`` does."""
    from wuxing.boards.commands import onchip_run
    from wuxing.boards.onchip import OnChipPlan, design_for_recipe, recipe_schedule
    from wuxing.golden.data import load_dataset
    from wuxing.sim.runner import simulator_missing
    sim = "verilator" if simulator == "auto" else simulator
    reason = simulator_missing(sim) if sim == "verilator" else \
        "the simulated board serves its port on Verilator"
    if reason:
        print(f"skipped: {reason}")
        return dict(status="skipped", reason=reason)
    data = load_dataset(recipe.dataset)
    plan = OnChipPlan(epochs=1, batch=recipe.batch, max_samples=max_samples,
                      check_every=1, schedule=recipe_schedule(recipe))
    folder = out / "onchip"
    paths = dict(checkpoint=folder / "checkpoint.npz", history=folder / "history.json",
                 plot=folder / "curve.png", json=folder / "summary.json")
    epoch = (len(data.y_train) // plan.batch) * plan.batch
    n = epoch if max_samples is None else min(epoch, max_samples // plan.batch * plan.batch)
    print(f"{DEMO_RECIPE} on the chip: "
          + (f"one whole epoch ({epoch} samples)" if n == epoch else
             f"{n} of the {epoch} samples of an epoch (--onchip-samples)"))
    r = onchip_run(DEMO_RECIPE, design_for_recipe(DEMO_RECIPE), data, plan, paths, simulator=sim,
                   quiet=quiet)
    h = r["history"]
    g1 = golden_history[1]["test_acc"] if len(golden_history) > 1 else None
    print(f"held-out accuracy after {r['samples_trained']} samples: chip "
          f"{100 * h[-1]['test_acc']:.1f} %, golden fixed-point model on the same samples "
          f"{100 * h[-1]['golden_test_acc']:.1f} %"
          + ("" if g1 is None else f" (stage 1's golden training after one epoch: "
                                   f"{100 * g1:.1f} %)"))
    return dict(simulator=sim, samples_trained=r["samples_trained"], samples_epoch=epoch,
                accuracy_before=h[0]["test_acc"], accuracy_chip=h[-1]["test_acc"],
                accuracy_golden=h[-1]["golden_test_acc"], accuracy_golden_training=g1,
                compared=r["compared"], mismatches=r["mismatches"],
                train_samples_per_s=r["train_samples_per_s"], checkpoint=r["checkpoint"])


def _bitstream_log(out, board) -> Path:
    return Path(out) / "bitstream" / f"{board}.log"


def _bitstream_job(ckpt_path, board, out):
    """Stage 6 in a process of its own: the design of stage 2 (made again from the same
    checkpoint) built for ``board``; everything it prints (the tools' output, too) goes to
    OUT/bitstream/BOARD.log. Returns the stage's record."""
    from wuxing.hdl.generate import design_from_checkpoint
    log = _bitstream_log(out, board)
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(log, "w") as f:
        os.dup2(f.fileno(), 1)     # the tools run as subprocesses: redirect the descriptors
        os.dup2(f.fileno(), 2)
        sys.stdout = sys.stderr = os.fdopen(1, "w", buffering=1)
        try:
            rec = _bitstream(design_from_checkpoint(ckpt_path, arch="serial"), board, Path(out))
        except Exception as e:        # reported in the summary; the traceback is in the log
            traceback.print_exc()
            rec = dict(status="failed", error=f"{type(e).__name__}: {e}")
        sys.stdout.flush()
    rec["build_seconds"] = round(time.perf_counter() - t0, 1)
    return rec


def _start_bitstream(ckpt_path, board, out):
    """Start stage 6 in a spawned process (place and route take one core for minutes; the
    co-simulations of stages 3-5 take the other). Returns (executor, future, board, out)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    ex = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    fut = ex.submit(_bitstream_job, str(ckpt_path), board, str(out))
    print(f"(stage 6, the {board} bitstream, is being built meanwhile in a process of its own; "
          f"its log: {_bitstream_log(out, board)})", flush=True)
    return ex, fut, board, out


def _join_bitstream(ex, fut, board, out) -> dict:
    """Wait for stage 6, print the end of its log, return its record."""
    t0 = time.perf_counter()
    try:
        rec = fut.result()
    finally:
        ex.shutdown(cancel_futures=True)
    log = _bitstream_log(out, board)
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    print("\n".join(lines[-30:]))
    print(f"built beside stages 3-5 in {rec.get('build_seconds', 0):.0f} s; waited "
          f"{time.perf_counter() - t0:.0f} s for it here; whole log: {log}")
    rec["log"] = str(log)
    return rec


def _bitstream(design, board, out):
    """The trained network's bitstream (its learning format and on-chip training units) at
    the clock it meets (``--clock auto``)."""
    from wuxing.boards.build import BuildError, board_build, format_report
    what = "learning format" if design.fmt.reverse_dither else "DEFAULT_FORMAT"
    try:
        r = board_build(board, design, None, out / "bitstream" / board, clock_mhz="auto",
                        log=print)
    except BuildError as e:
        rep = getattr(e, "report", {}) or {}
        print(f"the trained network does not go on the {board}: {e}")
        return dict(status="failed", board=board, format=what, error=str(e),
                    resources=rep.get("resources"))
    print(format_report(r))
    return dict(board=board, network=f"{design.topology.n_neurons} neurons (the trained "
                f"network)", format=what, luts=r.get("luts"), resources=r["resources"],
                fmax_mhz=r["fmax_mhz"], clock_mhz=r["clock_mhz"], bitstream=r["bitstream"])


def _finish(summary, out, t_start):
    from wuxing.golden.report import write_json
    summary["seconds"] = round(time.perf_counter() - t_start, 1)
    summary["ok"] = all(s["status"] in ("ok", "skipped") for s in summary["stages"])
    write_json(out / "summary.json", summary)
    print("\n== summary ==")
    for s in summary["stages"]:
        line = f"{s['stage']:<48} {s['status']:<8} {s['seconds']:7.1f} s"
        if "build_seconds" in s:
            line += f"  (waited; built in {s['build_seconds']:.0f} s beside stages 3-5)"
        print(line)
    st = {s["stage"][:2]: s for s in summary["stages"]}
    if "1." in st and st["1."]["status"] == "ok":
        s = st["1."]
        print(f"  accuracy (held out): {100 * s['accuracy_before']:.1f} % before training; "
              f"after training {100 * s['accuracy_float']:.1f} % in float, "
              f"{100 * s['accuracy_fixed_point']:.1f} % in bit-exact fixed point")
    for k, what in (("3.", "co-simulation"), ("4.", "host flow (sim)"),
                    ("5.", "learning on the chip (sim)")):
        s = st.get(k)
        if s and "compared" in s:
            print(f"  {what}: {s['compared']} values compared, {s['mismatches']} mismatches")
    s = st.get("5.")
    if s and "accuracy_chip" in s:
        print(f"  on the chip: {s['samples_trained']} training samples (an epoch is "
              f"{s['samples_epoch']}); held-out accuracy {100 * s['accuracy_before']:.1f} % -> "
              f"{100 * s['accuracy_chip']:.1f} % on the chip, golden model "
              f"{100 * s['accuracy_golden']:.1f} %")
    s = st.get("6.")
    if s and s.get("resources"):
        res = ", ".join(f"{v['what']} {v['used']}/{v['available']}"
                        for v in s["resources"].values() if v["used"])
        fm = s.get("fmax_mhz")
        print(f"  {s.get('board')}" + (f" ({s['format']})" if s.get("format") else "") +
              f": {res}" + (f"; Fmax {fm:.1f} MHz (clock {s.get('clock_mhz'):g} MHz)"
                            if fm else ""))
    print(f"  total {summary['seconds']:.0f} s; summary in {out / 'summary.json'}")
    return summary


def cmd_demo(args) -> int:
    from wuxing.boards.top import BOARDS
    from wuxing.golden.report import check_output_dir
    from wuxing.golden.train import MAX_EPOCHS
    check_output_dir(args.out, "--out")
    if args.epochs is not None and not 0 <= args.epochs <= MAX_EPOCHS:
        raise ValueError(f"--epochs must be in 0..{MAX_EPOCHS}, got {args.epochs}")
    if args.board not in BOARDS:
        raise ValueError(f"unknown board {args.board!r}; choose from {', '.join(BOARDS)}")
    from wuxing.golden.train import RECIPES
    batch = RECIPES[DEMO_RECIPE].batch
    if args.onchip_samples is not None and args.onchip_samples < batch:
        raise ValueError(f"--onchip-samples must be at least one batch ({batch}), got "
                         f"{args.onchip_samples}")
    s = run_demo(out=args.out, epochs=args.epochs, simulator=args.simulator, board=args.board,
                 skip_bitstream=args.skip_bitstream, quiet=args.quiet,
                 onchip_samples=args.onchip_samples)
    return 0 if s["ok"] else 1


def add_demo_command(sub):
    p = sub.add_parser("demo", help="the main job: train, generate, co-simulate, host flow, "
                                    "training on the simulated chip, bitstream, one summary",
                       description="The main job on the embedded default (no board, no "
                       "download): train the demo network on scikit-learn's 8x8 digits with "
                       "BSP, in float and in bit-exact fixed point, "
                       "generate its Verilog, co-simulate it against the golden model, run the "
                       "host flow against the simulated board, train the recipe on the simulated "
                       "chip (one TRAIN_SAMPLE frame per sample through a pseudo-terminal, "
                       "compared with the golden model after every batch, the held-out "
                       "accuracy measured on the chip; OUT/onchip/), build a board's bitstream "
                       "(--board, default ulx3s; in a process of its own beside the "
                       "co-simulations, log in OUT/bitstream/BOARD.log), and print one summary (also written as OUT/summary.json).")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs")
    p.add_argument("--simulator", choices=("auto", "icarus", "verilator"), default="auto")
    p.add_argument("--board", default="ulx3s",
                   help="board for the bitstream stage (default ulx3s: the engine with its on-chip "
                        "training units does not fit the iCEBreaker's UP5K, docs/BOARDS.md)")
    p.add_argument("--skip-bitstream", action="store_true")
    p.add_argument("--onchip-samples", type=int, metavar="N",
                   help="stage 5: train on the simulated chip on N samples (default: one whole "
                        "epoch, 1,424 samples at batch 16)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)
