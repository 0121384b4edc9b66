"""Print the numbers of every result file in experiments/results as Markdown tables (the
source of the tables in REPORT.md), and draw the plots that span several result files
(``model_compare_steps.png``: experiment 2's full runs at every step factor;
``adder_settings.png``: experiment 4's full runs under each scaling of the settings).

    python -m experiments.summarize [--out DIR]
    python -m experiments.summarize --index     # one row per result file: command, data, time
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import RESULTS, plt, save_figure


def pct(v):
    return "-" if v is None else f"{100 * v:.1f} %"


def link_ratio(r):
    rows = ["| mask | LR | held-out acc. (mean +- sd over seeds) | training acc. |",
            "| --- | --- | --- | --- |"]
    for k, v in r["summary"].items():
        rows.append(f"| {k} | {v['link_ratio']:.3%} | {pct(v['final_test_acc_mean'])} +- "
                    f"{100 * v['final_test_acc_std']:.1f} | {pct(v['final_train_acc_mean'])} |")
    return rows


def bsp_gradient(r):
    s = r["summary"]
    rows = ["| steps (h = 0.25) | cosine per sample, tiny |", "| --- | --- |"]
    rows += [f"| {k} | {v:.3f} |" for k, v in s["T_sweep"].items()]
    rows += ["", "| steps | cosine per sample, {8,6,4,2} |", "| --- | --- |"]
    rows += [f"| {k} | {v:.3f} |" for k, v in s["modelmd_network"].items()]
    rows += ["", f"tiny training: cosine per sample {s['training_cos_first']:.3f} -> "
             f"{s['training_cos_last']:.3f} (min {s['training_cos_min']:.3f}), batch mean "
             f"{s['training_cos_batch_mean']:.3f}; accuracy {pct(s['training_acc_first'])} -> "
             f"{pct(s['training_acc_last'])}"]
    d = r["runs"].get("model1") or []
    if d:
        rows += ["", "| MODEL1: samples trained | cos batch G1 | cos per sample | sign agr. | "
                 "norm ratio | probe acc. |", "| --- | --- | --- | --- | --- | --- |"]
        rows += [f"| {x['samples_trained']} | {x['cos_batch_G1']:.3f} | "
                 f"{x['cos_per_sample_mean']:.3f} | {x['sign_agreement']:.3f} | "
                 f"{x['norm_ratio_G1']:.3g} | {pct(x['accuracy'])} |" for x in d]
    return rows


def model_compare(r):
    rows = ["| model | LR | start | final | best |", "| --- | --- | --- | --- | --- |"]
    for k in ("model1", "model2"):
        v = r["summary"][k]
        rows.append(f"| {k} | {v['link_ratio']:.3%} | {', '.join(map(pct, v['start_test_acc']))} | "
                    f"{', '.join(map(pct, v['final_test_acc']))} | "
                    f"{', '.join(map(pct, v['best_test_acc']))} |")
    return rows


def wuxing_vs_mlp(r):
    rows = ["| network | LR | final held-out | best held-out | epochs |", "| --- | --- | --- | --- | --- |"]
    for x in r["runs"]:
        rows.append(f"| {x['label']} | {x['link_ratio']:.3%} | {pct(x['test_acc'][-1])} | "
                    f"{pct(max(x['test_acc']))} | {x['epoch'][-1]} |")
    return rows


def adder(r):
    rows = ["| fan-in | links | LR (links) | LR (neuron pairs) | BSP final | BSP best | MLP same graph |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for x in r["runs"]:
        rows.append(f"| {x['fan_in']} | {x['n_links']} | {x['link_ratio']:.3%} | "
                    f"{x['neuron_link_ratio']:.3%} | {pct(x['bsp']['test_acc'][-1])} | "
                    f"{pct(x['bsp']['best_test_acc'])} | {pct(x['mlp']['test_acc'][-1])} |")
    return rows


def fixed_vs_float(r):
    rows = ["| format | final acc. | best acc. | argmax agreement with float (same C) | "
            "mean abs dy | one update at C0: cosine / norm ratio / frozen | C-change cosine | "
            "C rel. distance |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for k, v in r["summary"].items():
        if "error" in v:
            rows.append(f"| {k} | not trainable: {v['error']} | | | | | | |")
        elif k == "float32":
            rows.append(f"| {k} | {pct(v['final_test_acc'])} | {pct(v['best_test_acc'])} | | | | | |")
        else:
            upd = (f"{v['update_cosine']:.3f} / {v['update_norm_ratio']:.3f} / "
                   f"{pct(v['update_frozen_share'])}" if "update_cosine" in v else "-")
            rows.append(f"| {k} | {pct(v['final_test_acc'])} | {pct(v['best_test_acc'])} | "
                        f"{v['argmax_agreement']:.3f} | {v['mean_abs_dy']:.2e} | {upd} | "
                        f"{v['c_change_cosine']:.3f} | {v['c_rel_distance']:.2e} |")
    return rows


TABLES = dict(link_ratio=link_ratio, bsp_gradient=bsp_gradient, model_compare=model_compare,
              wuxing_vs_mlp=wuxing_vs_mlp, adder=adder, fixed_vs_float=fixed_vs_float)


def step_sweep_plot(folder: Path):
    """Experiment 2's full MNIST runs (``model_compare_full*.json``), one panel per model, one
    curve per BSP step factor; returns the PNG path, or None without such files."""
    files = sorted(folder.glob("model_compare_full*.json"))
    if not files:
        return None
    pyplot = plt()
    fig, axes = pyplot.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for f in files:
        r = json.loads(f.read_text())
        step = r["settings"]["run"]["step"]
        for ax, name in zip(axes, ("model1", "model2")):
            for x in r["runs"]:
                if x["model"] == name:
                    ax.plot(x["epoch"], x["test_acc"], "o-", label=f"step {step:g}")
    for ax, name in zip(axes, ("MODEL1 (LR 0.51 %)", "MODEL2 (LR 0.38 %)")):
        ax.axhline(0.1, color="gray", ls=":", lw=1)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("held-out accuracy")
    path = folder / "model_compare_steps.png"
    save_figure(fig, path, "Experiment 2 (full, MNIST 8,000 / 2,000): BSP step factor sweep, "
                           "recipe model1-mnist otherwise")
    return path


def index(folder: Path) -> list:
    """Markdown table of every result file: exact command, variant, data, run time, commit."""
    rows = ["| result file | command | variant | data | time | code |",
            "| --- | --- | --- | --- | --- | --- |"]
    for f in sorted(folder.glob("*.json")):
        r = json.loads(f.read_text())
        if "experiment" not in r:
            continue
        rows.append(f"| `{f.name}` | `{r['command']}` | {r['quick']} | {r['dataset']} | "
                    f"{r['elapsed_s'] / 60:.1f} min | {r['git_commit']} |")
    return rows


def adder_settings_plot(folder: Path):
    """Experiment 4's full runs (``adder_full*.json``) in one plot: held-out accuracy after
    training against LR, one curve per scaling of the BSP settings, and the MLP on the same
    graphs; returns the PNG path, or None without such files."""
    files = sorted(folder.glob("adder_full*.json"))
    if not files:
        return None
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(11, 4.5))
    mlp = {}
    for f in files:
        r = json.loads(f.read_text())
        st = r["settings"]
        label = ("C0, C range, step / fan-in" + (f" ** {st['scale_exponent']:g}"
                 if st.get("scale_exponent", 1) != 1 else "")
                 if st.get("scale_with_fan_in") else "recipe unchanged")
        xs = [x["neuron_link_ratio"] for x in r["runs"]]
        ax.plot(xs, [x["bsp"]["test_acc"][-1] for x in r["runs"]], "o-", label=f"BSP, {label}")
        for x in r["runs"]:
            mlp[x["neuron_link_ratio"]] = (x["fan_in"], x["mlp"]["test_acc"][-1])
    rows = sorted(mlp.items())
    ax.plot([k for k, _ in rows], [v[1] for _, v in rows], "s--", color="gray",
            label="MLP on the same graph")
    for k, (fan_in, acc) in rows:
        ax.annotate(f"fan-in {fan_in}", (k, acc), fontsize=7, textcoords="offset points",
                    xytext=(-10, 6))
    ax.axhline(0.1, color="gray", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel("link ratio (connected neuron pairs / possible)")
    ax.set_ylabel("held-out accuracy after 3 epochs")
    ax.grid(alpha=.3, which="both")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    path = folder / "adder_settings.png"
    save_figure(fig, path, "Experiment 4 (full, MNIST 8,000 / 2,000): the adder under three "
                           "scalings of the BSP settings")
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=None, help="results folder (default experiments/results)")
    p.add_argument("--index", action="store_true",
                   help="print only the table of result files (command, data, time, commit)")
    a = p.parse_args(argv)
    folder = Path(a.out) if a.out else RESULTS
    if a.index:
        print("\n".join(index(folder)))
        return
    for f in sorted(folder.glob("*.json")):
        r = json.loads(f.read_text())
        fn = TABLES.get(r.get("experiment"))    # the training runs' files have tables of their own
        if not fn:
            continue
        print(f"### {f.name} ({r['quick']} run, {r['dataset']}, {r['elapsed_s']:.0f} s, "
              f"commit {r['git_commit']})\n")
        print(f"`{r['command']}`\n")
        print("\n".join(fn(r)) + "\n")
    for draw in (step_sweep_plot, adder_settings_plot):
        path = draw(folder)
        if path:
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
