"""``wuxing sweep SPEC``: a grid of jobs (train, build, co-simulate, bench, experiments) on Dask.

A SPEC (TOML or JSON) lists job groups; each group is one job type, fixed parameters and a grid
whose every combination is one job::

    name = "tiny-seeds"                  # optional (default: the file name)
    out = "runs/sweeps/tiny-seeds"       # optional (default: runs/sweeps/NAME)

    [[jobs]]
    type = "train"                       # a `wuxing` subcommand, "golden-bench" or "experiment"
    group = "bsp"                        # optional name (default: the type)
    after = []                           # optional: groups whose jobs run first ("*": all)
    params = { recipe = "tiny-digits4", epochs = 2 }
    grid = { seed = [0, 1, 2], set = [["kt=16"], ["kt=64"]] }

    [report]                             # optional: the table's and the plot's fields
    columns = ["best.test_acc"]          # result fields (dotted paths, list indices allowed)
    x = "seed"                           # a parameter or a result field
    y = "best.test_acc"
    series = "set"                       # one line per value (optional)

Parameters are the command's options: ``n_train = 200`` is ``--n-train 200``, ``true`` a bare
flag, ``false`` leaves it out, a list repeats an append option (``--set a --set b``) or fills
an option that takes several values (``--formats 16,12 12,8``); ``argv = [...]`` adds raw
arguments. So a job passes through whatever options the command has (``--arch``, ``--lanes``,
``--board``, ``--set KEY=VALUE`` ...). Each job runs the command's own Python function in a
Dask worker (no subprocess), with ``--json`` pointed at its result file and ``--out`` (when
the command has one) at its own folder ``OUT/jobs/ID``; ``golden-bench`` is
``python -m wuxing.golden.bench``; ``experiment`` is ``python -m experiments.NAME`` (param
``name``; run from the repository root).

Per job, in ``OUT/jobs/ID`` (``ID`` = type and a hash of the parameters): ``result.json`` (the
JSON the single command writes), ``log.txt`` (its output) and ``job.json`` (parameters, status,
seconds, error). A job whose ``job.json`` says ok (or failed) is not run again: a sweep resumes
where it stopped; ``--retry-failed`` runs the failed ones again. A failed job is reported and
the others go on. At the end: a table (``summary.txt``, ``summary.json``) and a plot
(``summary.png``).

Dask: by default a local cluster of one single-threaded worker process per core (the golden
model then uses one thread per worker); ``--scheduler ADDRESS`` uses a running cluster
(``dask scheduler`` on one machine, ``dask worker ADDRESS --nthreads 1`` on each machine, with
this package installed and the same paths, e.g. a shared folder).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import importlib.util
import io
import itertools
import json
import os
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path

from wuxing.golden.errors import UserError

__all__ = ["load_spec", "expand_jobs", "run_job", "run_sweep", "summarize", "add_sweep_command",
           "JOB_TYPES"]

JOB_TYPES = ("<wuxing subcommand>", "golden-bench", "experiment")
NOT_JOBS = ("sweep", "demo", "program")   # a sweep in a sweep, interactive or board-bound
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_COLUMNS = {
    "train": ["best.test_acc", "best.epoch"],
    "eval": ["accuracy", "loss"],
    "build": ["luts", "fmax_mhz", "seconds"],
    "compare": ["compared", "mismatches", "benches.0.cycles_per_second"],
    "golden-bench": ["runs.0.rate", "runs.1.rate"],
    "experiment": ["elapsed_s"],
}
LOG_LIMIT = 1 << 20   # bytes of a job's output kept in log.txt (the tail)


# --- the spec --------------------------------------------------------------------------------
def load_spec(path) -> dict:
    """Read and check a sweep spec (``.toml`` or ``.json``); UserError on any problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read the sweep spec {path}: {e.strerror or e}") from None
    try:
        if path.suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:   # Python 3.10
                try:
                    import tomli as tomllib
                except ModuleNotFoundError:
                    raise UserError("TOML specs need Python 3.11 or the tomli package; "
                                    "write the spec as JSON") from None
            spec = tomllib.loads(raw.decode())
        else:
            spec = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: "
                        f"{e}") from None
    if not isinstance(spec, dict):
        raise UserError(f"{path}: the spec must be a table/object")
    unknown = set(spec) - {"name", "out", "jobs", "report"}
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(sorted(unknown))} (known: name, "
                        f"out, jobs, report)")
    spec.setdefault("name", path.stem)
    jobs = spec.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        raise UserError(f"{path}: needs at least one [[jobs]] group")
    groups = set()
    for i, g in enumerate(jobs):
        where = f"{path}: jobs[{i}]"
        if not isinstance(g, dict) or not isinstance(g.get("type"), str):
            raise UserError(f"{where}: needs type = \"...\" ({', '.join(JOB_TYPES)})")
        bad = set(g) - {"type", "group", "params", "grid", "after"}
        if bad:
            raise UserError(f"{where}: unknown key(s) {', '.join(sorted(bad))} (known: type, "
                            f"group, params, grid, after)")
        g.setdefault("group", g["type"])
        g.setdefault("params", {})
        g.setdefault("grid", {})
        g.setdefault("after", [])
        if not isinstance(g["params"], dict) or not isinstance(g["grid"], dict):
            raise UserError(f"{where}: params and grid must be tables")
        for k, v in g["grid"].items():
            if not isinstance(v, list) or not v:
                raise UserError(f"{where}: grid.{k} must be a non-empty list of values")
        if isinstance(g["after"], str):
            g["after"] = [g["after"]]
        if g["after"] == ["*"]:
            g["after"] = sorted(groups)
        for a in g["after"]:
            if a not in groups:
                raise UserError(f"{where}: after {a!r}: no earlier group of that name")
        groups.add(g["group"])
    report = spec.setdefault("report", {})
    if not isinstance(report, dict) or set(report) - {"columns", "x", "y", "series", "title"}:
        raise UserError(f"{path}: report takes columns, x, y, series, title")
    return spec


def _job_id(jtype: str, params: dict) -> str:
    h = hashlib.sha256(json.dumps([jtype, params], sort_keys=True).encode()).hexdigest()
    return f"{jtype}-{h[:12]}"


def expand_jobs(spec: dict, out: Path) -> list[dict]:
    """Every job of the spec: dict(id, group, type, params, grid (this job's grid values),
    after (ids), dir). Identical parameter sets are one job."""
    jobs, by_id, group_ids = [], {}, {}
    for g in spec["jobs"]:
        keys = list(g["grid"])
        ids = []
        for combo in itertools.product(*(g["grid"][k] for k in keys)):
            grid = dict(zip(keys, combo))
            params = {**g["params"], **grid}
            jid = _job_id(g["type"], params)
            ids.append(jid)
            if jid in by_id:
                continue
            job = dict(id=jid, group=g["group"], type=g["type"], params=params, grid=grid,
                       after=[i for a in g["after"] for i in group_ids[a]],
                       dir=str((out / "jobs" / jid).resolve()))
            by_id[jid] = job
            jobs.append(job)
        group_ids[g["group"]] = group_ids.get(g["group"], []) + ids
    return jobs


# --- turning parameters into a command line ------------------------------------------------------
def _subparser(name: str):
    from wuxing.cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, sub.choices.get(name)


def _options(p) -> dict:
    """``--long-option`` -> its argparse action."""
    return {s: a for a in p._actions for s in a.option_strings if s.startswith("--")}


def params_to_argv(params: dict, parser=None, skip=()) -> list[str]:
    """Job parameters as command-line arguments (see the module docstring); ``skip``: keys
    that are not options (an experiment's ``name``)."""
    opts = _options(parser) if parser is not None else {}
    argv = []
    for key, value in params.items():
        if key == "argv" or key in skip:
            continue
        flag = "--" + key.replace("_", "-")
        act = opts.get(flag)
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        elif isinstance(value, (list, tuple)):
            append = (isinstance(act, argparse._AppendAction) if act is not None
                      else key == "set")
            if append:
                for v in value:
                    argv += [flag, str(v)]
            else:
                argv += [flag] + [str(v) for v in value]
        else:
            argv += [flag, str(value)]
    extra = params.get("argv", [])
    if not isinstance(extra, list):
        raise UserError(f"argv must be a list of strings, not {extra!r}")
    return argv + [str(a) for a in extra]


def _parse_checked(parser, argv: list[str]):
    """parse_args without the exit: (namespace, None) or (None, the argparse message)."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return parser.parse_args(argv), None
    except SystemExit:
        lines = [ln for ln in err.getvalue().strip().splitlines() if ln.strip()]
        return None, (lines[-1] if lines else "bad arguments")


def check_job(job: dict) -> None:
    """UserError if the job cannot start (unknown type, options its command does not have)."""
    jtype, params = job["type"], job["params"]
    if jtype == "experiment":
        name = params.get("name")
        if not isinstance(name, str) or not name.isidentifier():
            raise UserError(f"job {job['id']}: an experiment job needs name = \"MODULE\"")
        if importlib.util.find_spec("experiments") is None and str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        if importlib.util.find_spec(f"experiments.{name}") is None:
            raise UserError(f"job {job['id']}: no module experiments.{name} (run the sweep "
                            f"from the repository root)")
        return
    if jtype == "golden-bench":
        from wuxing.golden import bench
        p = bench.build_parser()
    else:
        if jtype in NOT_JOBS:
            raise UserError(f"job type {jtype!r} cannot be a sweep job")
        parser, p = _subparser(jtype)
        if p is None:
            raise UserError(f"unknown job type {jtype!r}: a wuxing subcommand "
                            f"({', '.join(sorted(_subcommands()))}), golden-bench or "
                            f"experiment")
    _, msg = _parse_checked(p, params_to_argv(params, p))
    if msg:
        raise UserError(f"job {job['id']} ({jtype}): {msg}")


def _subcommands():
    parser, _ = _subparser("")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [c for c in sub.choices if c not in NOT_JOBS]


# --- running one job (in a Dask worker, or here) -------------------------------------------------
@contextlib.contextmanager
def _captured(path: Path, fd_level: bool):
    """Send the job's output (print, and with ``fd_level`` its subprocesses too) to a file."""
    with open(path, "ab", buffering=0) as f:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = (os.dup(1), os.dup(2)) if fd_level else None
        if fd_level:
            os.dup2(f.fileno(), 1)
            os.dup2(f.fileno(), 2)
        text = io.TextIOWrapper(f, write_through=True)
        try:
            with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
                yield
        finally:
            text.flush()
            text.detach()
            if fd_level:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])


def _single_threaded_worker() -> bool:
    try:
        from distributed import get_worker
        return get_worker().state.nthreads == 1
    except (ImportError, ValueError, AttributeError):
        return False


def _execute(job: dict, scratch: Path):
    """Run the job's command in this process: (exit code, result file or None)."""
    jtype, params, jobdir = job["type"], dict(job["params"]), Path(job["dir"])
    result = scratch / "result.json"
    if jtype == "experiment":
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        mod = importlib.import_module(f"experiments.{params['name']}")
        params.setdefault("out", str(jobdir))
        argv = params_to_argv(params, skip=("name",))
        started = time.time()
        code = mod.main(argv)
        result = Path(params["out"]) / f"{params['name']}{params.get('tag', '')}.json"
        fresh = result.exists() and result.stat().st_mtime >= started - 1   # not an old one
        return (code or 0), (result if fresh else None)   # summarize writes no JSON
    if jtype == "golden-bench":
        from wuxing.golden import bench
        p = bench.build_parser()
        argv = params_to_argv(params, p) + ["--json", str(result)]
        return bench.main(argv), result
    parser, p = _subparser(jtype)
    opts = _options(p)
    if "--out" in opts and "out" not in params:
        params["out"] = str(jobdir)
    if "--quiet" in opts and "quiet" not in params:
        params["quiet"] = True
    argv = params_to_argv(params, p)
    has_json = "--json" in opts
    if has_json:
        argv += ["--json", str(result)]
    args = parser.parse_args([jtype] + argv)
    code = args.func(args)
    return int(code or 0), (result if has_json else None)


def run_job(job: dict, *after) -> dict:
    """Run one job; never raises. ``after``: results of the jobs that had to finish first
    (Dask passes them; unused). Returns dict(id, status, error, seconds, host, result (the
    text of the result file or None), log (the tail of the output))."""
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="wuxing-job-") as tmp:
        scratch = Path(tmp)
        log = scratch / "log.txt"
        try:
            Path(job["dir"]).mkdir(parents=True, exist_ok=True)
        except OSError:   # a worker that does not share the folder: artifacts stay in tmp
            job = dict(job, dir=str(scratch / "out"))
        status, error, result_text = "failed", None, None
        with _captured(log, fd_level=_single_threaded_worker()):
            try:
                code, result = _execute(job, scratch)
                if code == 0:
                    status = "ok"
                else:
                    error = f"exit code {code}"
                if result is not None and Path(result).exists():
                    result_text = Path(result).read_text()
                elif status == "ok" and result is not None:
                    status, error = "failed", f"the command wrote no result file ({result})"
            except SystemExit as e:
                error = (e.code if isinstance(e.code, str)
                         else f"exit code {e.code} (argument error: see log.txt)")
            except KeyboardInterrupt:
                raise
            except BaseException as e:
                error = f"{type(e).__name__}: {e}"
                traceback.print_exc()
        data = log.read_bytes()
    return dict(id=job["id"], status=status, error=error, seconds=round(time.time() - t0, 1),
                host=socket.gethostname(), result=result_text,
                log=data[-LOG_LIMIT:].decode(errors="replace"))


# --- the sweep -----------------------------------------------------------------------------------
def _record_path(job) -> Path:
    return Path(job["dir"]) / "job.json"


def _finished(job) -> dict | None:
    try:
        rec = json.loads(_record_path(job).read_text())
    except (OSError, ValueError):
        return None
    return rec if rec.get("status") in ("ok", "failed") else None


def _store(job: dict, payload: dict) -> dict:
    from wuxing.golden.report import atomic_write, write_json
    d = Path(job["dir"])
    if payload.get("result") is not None:
        atomic_write(d / "result.json", payload["result"])
    atomic_write(d / "log.txt", payload.get("log", ""))
    p = job["params"]
    if job["type"] == "experiment" and p.get("out"):   # the console log beside its results
        atomic_write(Path(p["out"]) / f"{p['name']}{p.get('tag', '')}.log", payload.get("log", ""))
    rec = {k: job[k] for k in ("id", "group", "type", "params", "grid")}
    rec.update({k: payload.get(k) for k in ("status", "error", "seconds", "host")},
               result_file="result.json" if payload.get("result") is not None else None,
               finished=time.strftime("%Y-%m-%d %H:%M:%S"))
    write_json(_record_path(job), rec)
    return rec


def _local_cluster(workers: int):
    from distributed import LocalCluster
    one = {k: "1" for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                            "MKL_NUM_THREADS")}
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                        dashboard_address=":0", silence_logs=50, env=one)


def run_sweep(spec: dict, out: Path, *, scheduler: str | None = None,
              workers: int | None = None, retry_failed: bool = False, log=print) -> dict:
    """Run every job of ``spec`` that has not finished; returns dict(jobs, ran, records)."""
    from distributed import Client, as_completed

    jobs = expand_jobs(spec, out)
    for job in jobs:
        check_job(job)
    records, todo = {}, []
    for job in jobs:
        rec = _finished(job)
        if rec and not (retry_failed and rec["status"] == "failed"):
            records[job["id"]] = rec
        else:
            todo.append(job)
    log(f"sweep {spec['name']}: {len(jobs)} jobs, {len(records)} finished before, "
        f"{len(todo)} to run; results in {out}")
    if not todo:
        return dict(jobs=jobs, ran=0, records=records)
    workers = workers or os.cpu_count() or 1
    cluster = None if scheduler else _local_cluster(workers)
    client = Client(scheduler if scheduler else cluster)
    t0, done, failed = time.time(), 0, 0
    try:
        where = (f"scheduler {scheduler}" if scheduler else
                 f"a local cluster of {workers} worker process(es)")
        n_workers = len(client.scheduler_info().get("workers", {}))
        log(f"running on {where} ({n_workers} worker(s) up)")
        futures, by_key = {}, {}
        for job in todo:                   # in spec order: a group's prerequisites first
            deps = [futures[i] for i in job["after"] if i in futures]
            fut = client.submit(run_job, job, *deps, key=f"{job['id']}-{time.time_ns()}",
                                pure=False)
            futures[job["id"]] = fut
            by_key[fut.key] = job
        for fut in as_completed(list(futures.values())):
            job = by_key[fut.key]
            try:
                payload = fut.result()
            except Exception as e:          # the worker died (memory, a crash)
                payload = dict(id=job["id"], status="failed", seconds=None, host=None,
                               error=f"worker lost: {type(e).__name__}: {e}", result=None,
                               log="")
            rec = _store(job, payload)
            records[job["id"]] = rec
            done += 1
            failed += rec["status"] != "ok"
            grid = _describe(job)
            msg = "ok    " if rec["status"] == "ok" else "FAILED"
            secs = "" if rec["seconds"] is None else f"{rec['seconds']:.1f} s"
            elapsed = time.time() - t0
            left = (f", about {elapsed / done * (len(todo) - done):.0f} s left"
                    if done < len(todo) else "")
            line = (f"[{done:{len(str(len(todo)))}d}/{len(todo)}] {msg} {job['id']}  {grid}  "
                    f"{secs}  [{elapsed:.0f} s{left}]")
            if rec["status"] != "ok":
                line += f"\n        {rec['error']} (log: {Path(job['dir']) / 'log.txt'})"
            log(line)
    except KeyboardInterrupt:
        log("interrupted: finished jobs are kept; run the same command to resume")
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    log(f"ran {done} job(s) in {time.time() - t0:.0f} s: {done - failed} ok, {failed} failed")
    return dict(jobs=jobs, ran=done, records=records)


def _describe(job) -> str:
    """The job's grid values, or (no grid) its parameters, for one progress line."""
    shown = job["grid"] or {k: v for k, v in job["params"].items() if k != "out"}
    return " ".join(f"{k}={_short(v)}" for k, v in shown.items())


def _short(v) -> str:
    s = json.dumps(v) if not isinstance(v, str) else v
    return s if len(s) <= 24 else s[:21] + "..."


# --- the table and the plot -------------------------------------------------------------------
def lookup(data, path: str):
    """``data["a"]["b"][0]`` for the path ``a.b.0`` (negative indices too); None if absent."""
    cur = data
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError):
                return None
        else:
            return None
    return cur


def _value(job, rec, result, key):
    if key in job["params"]:
        return job["params"][key]
    if key in ("status", "seconds", "host", "error", "id", "group"):
        return rec.get(key) if key != "id" else job["id"]
    return lookup(result, key) if result is not None else None


def summarize(spec: dict, out: Path, jobs: list, records: dict, log=print) -> dict:
    """Print and write the results table (summary.txt, summary.json) and the plot."""
    from wuxing.golden.report import atomic_write, table, write_json
    rep = spec.get("report", {})
    varying = []
    for job in jobs:
        for k in job["grid"]:
            if k not in varying:
                varying.append(k)
    types = list(dict.fromkeys(j["type"] for j in jobs))
    columns = rep.get("columns") or [c for t in types for c in DEFAULT_COLUMNS.get(t, [])]
    rows, data = [], []
    for job in jobs:
        rec = records.get(job["id"]) or {}
        result = None
        try:
            result = json.loads((Path(job["dir"]) / "result.json").read_text())
        except (OSError, ValueError):
            pass
        vals = {k: _value(job, rec, result, k) for k in varying + columns}
        row = dict(id=job["id"], group=job["group"], status=rec.get("status", "not run"),
                   seconds=rec.get("seconds"), **vals)
        data.append(row)
        rows.append([job["id"], row["status"]] + [_cell(vals[k]) for k in varying]
                    + [_cell(vals[k]) for k in columns] + [_cell(row["seconds"])])
    text = table(rows, ["job", "status"] + varying + columns + ["seconds"])
    log(text)
    atomic_write(out / "summary.txt", text + "\n")
    write_json(out / "summary.json", dict(name=spec["name"], columns=columns, grid=varying,
                                          rows=data))
    plot = _plot(spec, out, jobs, records)
    log(f"wrote {out / 'summary.txt'}, {out / 'summary.json'}"
        + (f", {plot}" if plot else " (no plot: set report.x and report.y)"))
    return dict(rows=data, table=text, plot=plot)


def _cell(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return v
    if isinstance(v, (list, dict)):
        return _short(v)
    return v


def _plot(spec, out, jobs, records):
    rep = spec.get("report", {})
    x_key, y_key = rep.get("x"), rep.get("y")
    if not x_key or not y_key:
        return None
    series = {}
    for job in jobs:
        rec = records.get(job["id"]) or {}
        if rec.get("status") != "ok":
            continue
        try:
            result = json.loads((Path(job["dir"]) / "result.json").read_text())
        except (OSError, ValueError):
            result = None
        x, y = _value(job, rec, result, x_key), _value(job, rec, result, y_key)
        if not isinstance(x, (int, float)) or not isinstance(y, (int, float)):
            continue
        name = _short(_value(job, rec, result, rep["series"])) if rep.get("series") else y_key
        series.setdefault(name, []).append((x, y))
    if not series:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for name, pts in series.items():
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=4, label=str(name))
    ax.set_xlabel(x_key)
    ax.set_ylabel(y_key)
    ax.set_title(rep.get("title") or f"sweep {spec['name']}")
    ax.grid(alpha=0.3)
    if rep.get("series"):
        ax.legend(fontsize=8, title=rep["series"])
    fig.tight_layout()
    path = out / "summary.png"
    fig.savefig(path)
    plt.close(fig)
    return path


# --- the command --------------------------------------------------------------------------------
def cmd_sweep(args) -> int:
    spec = load_spec(args.spec)
    out = Path(args.out or spec.get("out") or Path("runs") / "sweeps" / spec["name"])
    if args.workers is not None and args.workers < 1:
        raise UserError("--workers must be at least 1")
    if args.list:
        jobs = expand_jobs(spec, out)
        for job in jobs:
            check_job(job)
            rec = _finished(job)
            state = rec["status"] if rec else "to run"
            print(f"{job['id']}  {state:7s} {job['group']}: {_describe(job)}")
        print(f"{len(jobs)} jobs")
        return 0
    res = run_sweep(spec, out, scheduler=args.scheduler, workers=args.workers,
                    retry_failed=args.retry_failed)
    summarize(spec, out, res["jobs"], res["records"])
    failed = [r for r in res["records"].values() if r["status"] != "ok"]
    if failed:
        print(f"{len(failed)} job(s) failed: " + ", ".join(r["id"] for r in failed))
    return 1 if failed else 0


def add_sweep_command(sub):
    p = sub.add_parser("sweep", help="run a grid of jobs (train, build, compare, ...) on Dask",
                       description=__doc__.split("\n\n")[0] + " See the README (Sweeps) and "
                       "experiments/sweeps/ for the SPEC format.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("spec", help="the sweep spec (.toml or .json)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a running Dask scheduler (tcp://host:8786); default: a local cluster")
    p.add_argument("--workers", type=int,
                   help="worker processes of the local cluster (default: one per core)")
    p.add_argument("--out", help="results folder (default: the spec's out, else "
                                 "runs/sweeps/NAME)")
    p.add_argument("--retry-failed", action="store_true", help="run failed jobs again")
    p.add_argument("--list", action="store_true",
                   help="list the jobs and whether they finished; run nothing")
    p.set_defaults(func=cmd_sweep)
