"""Bad input of every kind the command line can meet: each case ends with exit code 2, exactly
one ``error:`` line on stderr, no traceback, and nothing written (the folder the command runs
in, with its inputs, is the same before and after).

The kinds (issue 13): input that crashed (tracebacks), input that was accepted but wrong,
options that were silently ignored or replaced, input that hung (sizes and counts without a
limit, files that never end), outputs that could leave a half-written set, and boards that do
not answer as a Wuxing board must. Most cases run the CLI in process (fast); a few run the
installed ``wuxing`` command in a subprocess, with a timeout that turns a hang into a failure.
"""
import gzip
import hashlib
import json
import os
import pty
import random
import struct
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from forge import resign
from wuxing.cli import main
from wuxing.golden.checkpoint import Checkpoint, save_checkpoint
from wuxing.golden.config import RunConfig
from wuxing.golden.network import FixedModel, init_coefficients
from wuxing.golden.topology import Topology

WUXING = str(Path(sys.executable).parent / "wuxing")
CASES = {}


def case(name, expect, *, kind):
    """Register a case: ``setup(d)`` makes its inputs under ``d`` and returns the argv;
    ``expect``: a part of the error line."""
    def register(setup):
        assert name not in CASES
        CASES[name] = (setup, expect, kind)
        return setup
    return register


# --- inputs ------------------------------------------------------------------------------
def write_json(d, name, obj):
    p = d / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(p)


def checkpoint(d, name="c.npz", fixed=False, topology=None, cfg=None, **kw):
    t = topology or Topology(layers=(16, 10))            # digits4: 16 inputs, 10 classes
    cfg = cfg or RunConfig(steps=8)
    C = init_coefficients(t, cfg, 0)
    extra = {}
    if fixed:
        extra = dict(mode="fixed", C_int=FixedModel(t, cfg).coef_to_int(C))
    p = d / name
    save_checkpoint(p, Checkpoint(topology=t, cfg=cfg, C=C, dataset="digits4", **extra, **kw))
    return p


def idx(arr, code):
    head = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", n) for n in arr.shape)
    return head + arr.tobytes()


def mnist_folder(d, images=None, labels=None, *, train=True, train_images=None):
    """An MNIST-format folder of 20 4x4 images (t10k files, and train files if ``train``)."""
    f = d / "idx"
    f.mkdir()
    rng = np.random.default_rng(0)
    good_x = idx(rng.integers(0, 256, (20, 4, 4), dtype=np.uint8), 0x08)
    good_y = idx((np.arange(20) % 10).astype(np.uint8), 0x08)
    (f / "t10k-images-idx3-ubyte").write_bytes(good_x)
    (f / "t10k-labels-idx1-ubyte").write_bytes(good_y)
    if train:
        (f / "train-images-idx3-ubyte").write_bytes(good_x if images is None else images)
        (f / "train-labels-idx1-ubyte").write_bytes(good_y if labels is None else labels)
    if train_images is not None:
        (f / "train-images-idx3-ubyte").write_bytes(train_images)
    return str(f)


def fifo(d, name):
    p = d / name
    os.mkfifo(p)
    return str(p)


def a_file(d, name="plain.txt"):
    p = d / name
    p.write_text("not a folder\n")
    return p


TRAIN = ["train", "--quiet", "--epochs", "1", "--n-train", "16", "--n-test", "16"]

# --- crashed with a traceback -------------------------------------------------------------
for field, value, expect in [
        ("layers", 5, "layers must be a list"),
        ("link_counts", 3, "link_counts must be a list"),
        ("seed", "x", "seed must be an integer"),
        ("seed", 1.5, "seed must be an integer"),
        ("seed", -1, "seed must be an integer"),
        ("name", 5, "name must be a string"),
        ("in_elem", "0", "in_elem must be an element index"),
        ("fan_in", 2.0, "fan_in must be an integer")]:
    case(f"topology {field}={value!r}", expect, kind="traceback")(
        lambda d, f=field, v=value: ["topology", "--topology-file",
                                     write_json(d, "t.json", {"layers": [3, 3], f: v})])

case("topology spec not an object", "JSON object", kind="traceback")(
    lambda d: ["topology", "--topology-file", write_json(d, "t.json", [3, 3])])
case("topology layers of lists", "positive integers", kind="traceback")(
    lambda d: ["topology", "--topology-file", write_json(d, "t.json", {"layers": [[1], 3]})])
case("topology JSON nested 100000 deep", "not valid JSON", kind="traceback")(
    lambda d: ["topology", "--topology-file", write_json(d, "t.json", "[" * 100000)])
case("topology file not UTF-8", "not valid JSON", kind="traceback")(
    lambda d: ["topology", "--topology-file",
               str((d / "t.json").write_bytes(b"\xff\xfe{") and d / "t.json")])
for value in ("2**99999", "1e999"):
    case(f"--set step={value}", "step", kind="traceback")(
        lambda d, v=value: [*TRAIN, "--set", f"step={v}"])
for field in ("c_init_hi", "kt"):
    case(f"--set {field}=inf", "finite", kind="traceback")(
        lambda d, f=field: [*TRAIN, "--set", f"{f}=inf"])
case("checkpoint meta member not an array", "not a Wuxing checkpoint", kind="traceback")(
    lambda d: ["eval", str(_zip_with_raw_meta(d))])
case("checkpoint meta an array of floats", "not UTF-8 text", kind="traceback")(
    lambda d: ["eval", str(_npz_with_float_meta(d))])
case("checkpoint re-signed kt=Infinity", "kt must be a finite number", kind="traceback")(
    lambda d: ["eval", str(resign(checkpoint(d),
                                  lambda m: m["run"].update(kt=float("inf"))))])
case("IDX labels out of range (200)", "labels must be in 0..9", kind="traceback")(
    lambda d: [*TRAIN, "--dataset", "mnist", "--data-dir", mnist_folder(
        d, labels=idx(np.full(20, 200, np.uint8), 0x08))])

PARENT_IS_FILE = {
    "topology --json": lambda d: ["topology", "--model", "tiny", "--json",
                                  str(a_file(d) / "t.json")],
    "train --out": lambda d: [*TRAIN, "--out", str(a_file(d) / "run")],
    "train --checkpoint": lambda d: [*TRAIN, "--checkpoint", str(a_file(d) / "c.npz")],
    "eval --json": lambda d: ["eval", str(checkpoint(d)), "--json", str(a_file(d) / "e.json")],
    "generate --out": lambda d: ["generate", "--out", str(a_file(d) / "v")],
    "run --save": lambda d: ["run", "--sim", "--save", str(a_file(d) / "c.npz")],
    "run --json": lambda d: ["run", "--sim", "--json", str(a_file(d) / "r.json")],
    "build --json": lambda d: ["build", "--board", "ulx3s", "--json", str(a_file(d) / "b.json")],
    "demo --out": lambda d: ["demo", "--out", str(a_file(d) / "demo")],
    "compare --json": lambda d: ["compare", "--json", str(a_file(d) / "r.json")],
}
for name, setup in PARENT_IS_FILE.items():
    case(f"{name} under a regular file", "is a file, not a folder", kind="traceback")(setup)

# --- accepted but wrong -------------------------------------------------------------------
for field in ("step", "kt", "input_scale", "err_scale", "state_hi", "c_max", "target"):
    case(f"--set {field}=nan", "finite", kind="wrong")(
        lambda d, f=field: [*TRAIN, "--set", f"{f}=nan"])
case("--set state_hi=1e300", "beyond the limit", kind="wrong")(
    lambda d: [*TRAIN, "--set", "state_hi=1e300"])
case("--set c_min above c_max", "c_min must be below c_max", kind="wrong")(
    lambda d: [*TRAIN, "--set", "c_min=5"])
for label, labels, expect in [
        ("negative", idx(np.full(20, -1, np.int8), 0x09), "labels must be in 0..9"),
        ("float", idx(np.zeros(20, ">f4"), 0x0D), "labels must be integers")]:
    case(f"IDX labels {label}", expect, kind="wrong")(
        lambda d, y=labels: [*TRAIN, "--dataset", "mnist", "--data-dir",
                             mnist_folder(d, labels=y)])
nan_images = np.zeros((20, 4, 4), ">f4")
nan_images[3, 1, 1] = np.nan
for label, images, expect in [
        ("float with NaN", idx(nan_images, 0x0D), "not finite"),
        ("int32 pixels of 1e9", idx(np.full((20, 4, 4), 10**9, ">i4"), 0x0C), "0..255")]:
    case(f"IDX images {label}", expect, kind="wrong")(
        lambda d, x=images: [*TRAIN, "--dataset", "mnist", "--data-dir",
                             mnist_folder(d, images=x)])
case("topology link_counts [0, 0]", "no links", kind="wrong")(
    lambda d: ["topology", "--topology-file",
               write_json(d, "t.json", {"layers": [3, 3, 2], "link_counts": [0, 0]})])
case("train on a topology with an unlinked pair", "has no links", kind="wrong")(
    lambda d: [*TRAIN, "--topology-file", write_json(d, "t.json", {"layers": [16, 1, 10]}),
               "--set", "steps=8"])
case("eval --n-test -5", "--n-test must be at least 1", kind="wrong")(
    lambda d: ["eval", str(checkpoint(d)), "--n-test", "-5"])
case("checkpoint re-signed with C NaN", "not finite", kind="wrong")(
    lambda d: ["eval", str(resign(checkpoint(d), edit_arrays=lambda a: a["C"].__setitem__(
        0, np.nan)))])
case("checkpoint re-signed with C out of range", "outside the clamp range", kind="wrong")(
    lambda d: ["eval", str(resign(checkpoint(d), edit_arrays=lambda a: a["C"].__setitem__(
        0, 100.0)))])
case("checkpoint re-signed with C_int out of range", "C_int holds registers outside",
     kind="wrong")(
    lambda d: ["eval", str(resign(checkpoint(d, fixed=True),
                                  edit_arrays=lambda a: a["C_int"].__setitem__(0, 2**40)))])
for field, value in [("mode", 3), ("history", "x"), ("extra", [1]), ("topology", "tiny"),
                     ("run", None)]:
    case(f"checkpoint re-signed meta {field}={value!r}", f"'{field}' is not a", kind="wrong")(
        lambda d, f=field, v=value: ["eval", str(resign(checkpoint(d),
                                                        lambda m: m.update({f: v})))])
case("checkpoint re-signed dataset 5", "dataset must be a name", kind="wrong")(
    lambda d: ["eval", str(resign(checkpoint(d), lambda m: m.update(dataset=5)))])
for flag in ("--pgo", "--netlist-as-generated"):
    case(f"compare {flag} with Icarus", f"{flag} is a Verilator build option", kind="wrong")(
        lambda d, f=flag: ["compare", "--simulator", "icarus", f])
case("train --plot naming a folder", "is a folder", kind="wrong")(
    lambda d: [*TRAIN, "--plot", str((d / "plots").mkdir() or d / "plots")])
case("eval --json naming a folder", "is a folder", kind="wrong")(
    lambda d: ["eval", str(checkpoint(d)), "--json", str(d)])

# --- silently ignored or replaced ---------------------------------------------------------
case("train --fan-in without --model", "--fan-in changes a topology", kind="ignored")(
    lambda d: [*TRAIN, "--fan-in", "2"])
case("train --topology-seed without --model", "--topology-seed changes a topology",
     kind="ignored")(lambda d: [*TRAIN, "--topology-seed", "3"])
case("topology --fan-in 0", "--fan-in must be in 1..16", kind="ignored")(
    lambda d: ["topology", "--model", "tiny", "--fan-in", "0"])
case("topology --topology-seed -1", "must be non-negative", kind="ignored")(
    lambda d: ["topology", "--model", "tiny", "--topology-seed", "-1"])
case("train --data-dir without a dataset that reads it", "--data-dir is read by",
     kind="ignored")(lambda d: [*TRAIN, "--data-dir", mnist_folder(d)])
case("eval --data-dir for digits4", "--data-dir is read by", kind="ignored")(
    lambda d: ["eval", str(checkpoint(d)), "--data-dir", mnist_folder(d)])
case("a corrupt train file next to a good test file", "truncated", kind="ignored")(
    lambda d: [*TRAIN, "--dataset", "mnist", "--data-dir",
               mnist_folder(d, images=idx(np.zeros((20, 4, 4), np.uint8), 0x08)[:-7])])
case("train images without train labels", "has no labels file", kind="ignored")(
    lambda d: [*TRAIN, "--dataset", "mnist", "--data-dir",
               mnist_folder(d, train=False, train_images=idx(np.zeros((20, 4, 4), np.uint8),
                                                             0x08))])
case("train --resume with another --batch", "drop --batch", kind="ignored")(
    lambda d: [*TRAIN[:1], "--resume", "--batch", "4", "--checkpoint", str(checkpoint(d))])
case("train --schedule of an unknown rule", "unknown step schedule", kind="wrong")(
    lambda d: [*TRAIN, "--schedule", "halve-sometimes"])
case("train --schedule with the gradient method", "the gradient method has none",
     kind="ignored")(lambda d: [*TRAIN, "--method", "gradient", "--schedule", "halve-every:1"])
case("train --resume with another --schedule", "drop --schedule", kind="ignored")(
    lambda d: [*TRAIN[:1], "--resume", "--schedule", "constant", "--checkpoint",
               str(checkpoint(d))])
case("train --resume of a checkpoint without a training state", "no training state",
     kind="ignored")(lambda d: ["train", "--resume", "--checkpoint", str(checkpoint(d))])
case("run --faults without --sim", "use it with --sim", kind="ignored")(
    lambda d: ["run", "--port", "/dev/null", "--checkpoint", str(checkpoint(d)),
               "--faults", "0.01"])

# --- hangs: sizes and counts without limits, files that never end --------------------------
case("--set steps=1000000000", "outside its limits 1..65535", kind="hang")(
    lambda d: [*TRAIN, "--set", "steps=1000000000"])
case("--set steps=1000000000 --fixed", "outside its limits 1..65535", kind="hang")(
    lambda d: [*TRAIN, "--fixed", "--set", "steps=1000000000"])
case("--fan-in 1000", "--fan-in must be in 1..16", kind="hang")(
    lambda d: ["topology", "--model", "tiny", "--fan-in", "1000"])
case("topology file fan_in 1000", "fan_in must be an integer in 1..16", kind="hang")(
    lambda d: ["topology", "--topology-file",
               write_json(d, "t.json", {"layers": [3, 3], "fan_in": 1000})])
case("topology of 1,000,000 neurons", "the limit is 200000", kind="hang")(
    lambda d: ["topology", "--topology-file",
               write_json(d, "t.json", {"layers": [500000, 500000]})])
case("topology of 100 layers", "at most 64", kind="hang")(
    lambda d: ["topology", "--topology-file", write_json(d, "t.json", {"layers": [2] * 100})])
case("topology file of 2 MiB", "it may have at most 1048576", kind="hang")(
    lambda d: ["topology", "--topology-file",
               write_json(d, "t.json", json.dumps({"layers": [2, 2]}) + " " * (2 << 20))])
case("checkpoint with steps=1e9 in eval", "outside its limits 1..65535", kind="hang")(
    lambda d: ["eval", str(resign(checkpoint(d), lambda m: m["run"].update(steps=10**9)))])
case("a FIFO as checkpoint", "not a regular file", kind="hang")(
    lambda d: ["eval", fifo(d, "c.npz")])
case("a FIFO as topology file", "not a regular file", kind="hang")(
    lambda d: ["topology", "--topology-file", fifo(d, "t.json")])
case("a FIFO as IDX file", "not a regular file", kind="hang")(
    lambda d: [*TRAIN, "--dataset", "mnist", "--data-dir", _folder_with_fifo(d)])
case("IDX header of 2**96 values", "beyond the", kind="hang")(
    lambda d: [*TRAIN, "--dataset", "mnist", "--data-dir", mnist_folder(
        d, images=bytes([0, 0, 8, 3]) + b"\xff\xff\xff\xff" * 3)])
case("train --epochs 1000000", "--epochs must be in 0..10000", kind="hang")(
    lambda d: ["train", "--quiet", "--epochs", "1000000"])
case("run --n 1000000000", "--n must be in 0..100000", kind="hang")(
    lambda d: ["run", "--sim", "--n", "1000000000"])
case("run --sim --faults 0.5", "(0, 0.2]", kind="hang")(
    lambda d: ["run", "--sim", "--faults", "0.5"])

# --- counts out of range -------------------------------------------------------------------
for argv, expect in [
        (["--epochs", "-1"], "--epochs must be in 0..10000"),
        (["--batch", "0"], "--batch must be at least 1"),
        (["--n-train", "0"], "--n-train must be at least 1"),
        (["--n-test", "0"], "--n-test must be at least 1")]:
    case(f"train {' '.join(argv)}", expect, kind="count")(
        lambda d, a=argv: ["train", "--quiet", *a])
for argv, expect in [
        (["--train", "-1"], "--train must be in 0..100000"),
        (["--n", "-1"], "--n must be in 0..100000"),
        (["--timeout", "0"], "--timeout must be in"),
        (["--retries", "-1"], "--retries must be in 0..100"),
        (["--baud", "0"], "--baud must be positive"),
        (["--layers", "0,2"], "positive integers"),
        (["--layers", "a,b"], "--layers takes sizes like 2,2")]:
    case(f"run --sim {' '.join(argv)}", expect, kind="count")(
        lambda d, a=argv: ["run", "--sim", *a])
case("generate --steps 0", "outside its limits 1..65535", kind="count")(
    lambda d: ["generate", "--steps", "0", "--out", str(d / "v")])
case("build --time-limit 0", "--time-limit must be a positive number of minutes",
     kind="count")(lambda d: ["build", "--board", "ulx3s", "--time-limit", "0",
                              "--out", str(d / "b")])
case("demo --epochs -1", "--epochs must be in 0..10000", kind="count")(
    lambda d: ["demo", "--epochs", "-1", "--out", str(d / "demo")])

# --- outputs: never a half-written or mixed set ---------------------------------------------
case("train --json under a file (checkpoint not written either)", "is a file, not a folder",
     kind="set")(lambda d: [*TRAIN, "--out", str(d / "run"), "--json",
                            str(a_file(d) / "h.json")])
case("train --checkpoint equal to --json", "three different files", kind="set")(
    lambda d: [*TRAIN, "--checkpoint", str(d / "x"), "--json", str(d / "x")])
case("train --out naming a file", "is a file, not a folder", kind="set")(
    lambda d: [*TRAIN, "--out", str(a_file(d))])
case("generate --out naming a file", "is a file, not a folder", kind="set")(
    lambda d: ["generate", "--out", str(a_file(d))])
case("build --out naming a file", "is a file, not a folder", kind="set")(
    lambda d: ["build", "--board", "ulx3s", "--out", str(a_file(d))])

# --- checkpoints that are not files ----------------------------------------------------------
case("eval a folder", "is a folder", kind="file")(lambda d: ["eval", str(d)])
case("eval a missing checkpoint", "does not exist", kind="file")(
    lambda d: ["eval", str(d / "missing.npz")])
case("generate --checkpoint FIFO", "not a regular file", kind="file")(
    lambda d: ["generate", "--checkpoint", fifo(d, "c.npz"), "--out", str(d / "v")])
case("run --port that does not exist", "cannot open serial port", kind="file")(
    lambda d: ["run", "--port", str(d / "ttyNONE"), "--checkpoint", str(checkpoint(d))])


def _zip_with_raw_meta(d):
    p = d / "c.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("meta", b'{"format": "wuxing-checkpoint"}')
        z.writestr("C.npy", b"")
    return p


def _npz_with_float_meta(d):
    p = checkpoint(d)
    with np.load(p) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["meta"] = np.zeros(4)
    np.savez(p, **arrays)
    return p


def _folder_with_fifo(d):
    f = Path(mnist_folder(d, train=False))
    (f / "t10k-images-idx3-ubyte").unlink()
    os.mkfifo(f / "t10k-images-idx3-ubyte")
    return str(f)


# --- the check -----------------------------------------------------------------------------
def snapshot(root: Path) -> dict:
    """Every file and folder under ``root``: kind, and for files size and content hash."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames:
            out[os.path.relpath(os.path.join(dirpath, n), root)] = "dir"
        for n in filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    out[rel] = hashlib.sha256(f.read()).hexdigest()
            else:
                out[rel] = "special"
    return out


def assert_refused(rc, err, expect, before, after):
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert rc == 2, f"exit code {rc}; stderr: {err[-2000:]}"
    assert "Traceback" not in err, err[-3000:]
    assert len(lines) == 1, err
    assert lines[0].startswith("error:") or lines[0].startswith("wuxing"), lines
    assert expect in lines[0], f"{expect!r} not in {lines[0]!r}"
    assert after == before, {k: (before.get(k), after.get(k))
                             for k in set(before) | set(after) if before.get(k) != after.get(k)}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """The command's working folder (default outputs such as runs/ land here)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused(name, workdir, capsys):
    setup, expect, _ = CASES[name]
    argv = setup(workdir)
    before = snapshot(workdir)
    capsys.readouterr()
    try:
        rc = main(argv)
    except SystemExit as e:          # argparse's own refusals
        rc = e.code
    err = capsys.readouterr().err
    assert_refused(rc, err, expect, before, snapshot(workdir))


def test_every_kind_of_the_issue_is_covered():
    kinds = {}
    for _, _, kind in CASES.values():
        kinds[kind] = kinds.get(kind, 0) + 1
    assert set(kinds) >= {"traceback", "wrong", "ignored", "hang", "set", "count", "file"}
    print(f"{len(CASES)} bad-input cases: {kinds}")


@pytest.mark.parametrize("name", ["a FIFO as checkpoint", "--set steps=1000000000",
                                  "topology of 1,000,000 neurons",
                                  "checkpoint meta member not an array",
                                  "train --plot naming a folder"])
def test_bad_input_in_a_subprocess(name, workdir):
    """The installed command, as a user runs it; a hang fails on the timeout."""
    setup, expect, _ = CASES[name]
    argv = setup(workdir)
    before = snapshot(workdir)
    r = subprocess.run([WUXING, *argv], capture_output=True, text=True, timeout=120,
                       cwd=workdir)
    assert_refused(r.returncode, r.stderr, expect, before, snapshot(workdir))


# --- a board that does not answer as a Wuxing board ------------------------------------------
class FakeBoard:
    """A pseudo-terminal with a misbehaving 'board' on the other end (a thread)."""

    def __init__(self, mode, info=None):
        from wuxing.boards.protocol import FrameDecoder
        self.mode, self.info = mode, info
        self.master, slave = pty.openpty()
        self.port = os.ttyname(slave)
        self._slave = slave
        self.decoder = FrameDecoder()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def answer(self, req):
        from wuxing.boards.protocol import (Cmd, Response, Status, encode_frame,
                                            PROTOCOL_VERSION)
        m = self.mode
        if m == "foreign":
            return b"U-Boot 2023.01\r\n=> "
        if m == "error status":
            return encode_frame(Response(req.cmd, req.seq, Status.UNKNOWN_COMMAND).payload())
        if req.cmd == Cmd.IDENTIFY:
            data = self.info.pack()
            if m == "short answer":
                data = data[:20]
            elif m == "other protocol":
                data = data[:2] + bytes([PROTOCOL_VERSION - 1]) + data[3:]
            elif m == "other design":
                data = data[:-8] + bytes(8)
            return encode_frame(Response(req.cmd, req.seq, Status.OK, data).payload())
        if req.cmd == Cmd.READ_COEF:
            n = req.args[4]
            return encode_frame(Response(req.cmd, req.seq, Status.OK, bytes(4 * n)).payload())
        # "empty OK": every other command answers OK with no data (FORWARD must have a byte)
        return encode_frame(Response(req.cmd, req.seq, Status.OK).payload())

    def run(self):
        from wuxing.boards.protocol import Request
        rng = random.Random(0)
        os.set_blocking(self.master, False)
        while not self.stop.is_set():
            if self.mode == "noisy":
                # a line that never goes quiet: garbage every few milliseconds, frames too
                try:
                    os.write(self.master, bytes(rng.randrange(256) for _ in range(32)))
                except OSError:
                    return
            try:
                data = os.read(self.master, 4096)
            except BlockingIOError:
                data = b""
            except OSError:
                return
            for payload in self.decoder.feed(data):
                if self.mode in ("silent", "noisy"):
                    continue
                out = self.answer(Request.parse(payload))
                try:
                    os.write(self.master, out)
                except OSError:
                    return
            self.stop.wait(0.003)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=5)
        os.close(self.master)
        os.close(self._slave)


BOARD_MODES = {
    "silent": "the line is silent",
    "noisy": "no answer from the board",
    "foreign": "no Wuxing frame",
    "error status": "refused IDENTIFY: unknown command",
    "short answer": "has 20 bytes",
    "other protocol": "speaks Wuxing protocol 1",
    "other design": "holds another design",
    "empty OK": "answered FORWARD with 0 data bytes",
}


@pytest.mark.parametrize("mode", sorted(BOARD_MODES))
def test_a_board_that_does_not_answer_right(mode, workdir, capsys):
    """One clear line (what to check) and exit 2, never NoResponse/ProtocolError/DeviceError
    tracebacks or an IndexError; the timeout holds while the line never goes quiet."""
    from wuxing.boards.protocol import DeviceInfo
    ck_path = checkpoint(workdir, cfg=RunConfig(steps=8))
    from wuxing.golden.checkpoint import load_checkpoint
    ck = load_checkpoint(ck_path)
    info = DeviceInfo.for_design(ck.topology, ck.cfg, ck.neuron, ck.fmt, ck.table)
    board = FakeBoard(mode, info)
    try:
        before = snapshot(workdir)
        capsys.readouterr()
        rc = main(["run", "--port", board.port, "--checkpoint", str(ck_path), "--timeout",
                   "0.3", "--retries", "1", "--n", "1", "--json", str(workdir / "r.json")])
        err = capsys.readouterr().err
        assert_refused(rc, err, BOARD_MODES[mode], before, snapshot(workdir))
    finally:
        board.close()


def test_a_noisy_board_in_a_subprocess(workdir):
    """The timeout holds when garbage never stops (a hang fails on the subprocess timeout)."""
    ck_path = checkpoint(workdir)
    board = FakeBoard("noisy")
    try:
        before = snapshot(workdir)
        r = subprocess.run([WUXING, "run", "--port", board.port, "--checkpoint", str(ck_path),
                            "--timeout", "0.5", "--retries", "1"], capture_output=True,
                           text=True, timeout=60, cwd=workdir)
        assert_refused(r.returncode, r.stderr, "no answer from the board", before,
                       snapshot(workdir))
    finally:
        board.close()


def test_gzip_bomb_is_refused(tmp_path):
    """An IDX file that decompresses beyond the limit is refused without inflating it all."""
    from wuxing.golden import data
    from wuxing.golden.data import DataError, read_idx
    limit = data.MAX_IDX_BYTES
    data.MAX_IDX_BYTES = 1 << 16
    try:
        p = tmp_path / "bomb.gz"
        p.write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 1 << 20) +
                                    bytes(1 << 20)))
        with pytest.raises(DataError, match="decompresses to more than"):
            read_idx(p)
    finally:
        data.MAX_IDX_BYTES = limit
