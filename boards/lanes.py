"""``--lanes auto``: the largest number of lanes that fits a board and meets its clock.

Plain Python around two callbacks, so the search is tested without building anything:

* ``estimate(P)``: the resources the design with ``P`` lanes would take, as a list of
  ``"bram 37/30"`` strings for the resources it would exceed (empty: it fits), from
  :mod:`boards.budget` (no tools run). It may raise ValueError: the generator refuses ``P``.
* ``build(P)``: a real build (:func:`boards.build.build_bitstream`), its report, or
  :class:`boards.build.BuildError` with the report attached.

The search:

1. The estimate, by bisection over ``1..p_max`` (resources grow with ``P``): the largest
   ``P`` whose estimate fits, allowing the estimate ``ESTIMATE_SLACK`` over the device (it is
   conservative: block RAM is estimated at the cheapest shape per memory, Yosys packs better).
   If even ``P = 1`` is over, nothing is built: the answer is the estimate's numbers.
2. Builds, at most ``max_builds``: first at that ``P``. A build that does not fit calibrates
   the estimate (the used/estimated ratio of the resource that ran out) and the next try is
   the largest smaller ``P`` the calibrated estimate accepts; a build that misses timing, or
   a calibration that does not step down, bisects between the largest ``P`` built and the
   smallest refused. After a success below a refused ``P`` the search bisects upwards while
   builds remain. The answer is the largest ``P`` that built, fitted and met the clock.

Every ``P`` looked at is recorded (:class:`Attempt`) with what rejected it, for the report.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["Attempt", "search_lanes", "with_lanes", "lane_limit", "ESTIMATE_SLACK",
           "LaneSearchError"]

ESTIMATE_SLACK = 0.15   # the estimate may exceed the device by this much and still be built


class LaneSearchError(Exception):
    """No number of lanes fits and meets the clock; ``attempts`` says why for each."""

    def __init__(self, msg, attempts):
        super().__init__(msg)
        self.attempts = attempts


@dataclass
class Attempt:
    lanes: int
    outcome: str            # "estimate over", "refused", "built", "does not fit", "misses timing",
    #                         "does not route" (the router stopped or did not finish)
    reason: str = ""
    report: dict | None = None

    def as_dict(self) -> dict:
        return dict(lanes=self.lanes, outcome=self.outcome, reason=self.reason)


def with_lanes(design, lanes: int):
    """``design`` with ``lanes`` lanes (the engine's ``Design.lanes``). The serial network is
    the one-lane case: it takes only ``lanes = 1``; the unrolled one has no lanes."""
    if design.arch == "unrolled":
        raise ValueError("the unrolled network has no lanes (--lanes applies to the engine)")
    if design.arch != "engine":
        if lanes != 1:
            raise ValueError(f"arch {design.arch} has one datapath: --lanes 1, not {lanes}")
        return design
    return dataclasses.replace(design, lanes=lanes)


def lane_limit(design, device) -> int:
    """The largest ``P`` worth estimating: 1 but for the engine; for the engine the smaller
    of the device's multipliers (a lane needs one) and the number of neurons (a lane holds
    a bank of at least one neuron)."""
    if design.arch != "engine":
        return 1
    return max(1, min(device.multipliers, design.topology.n_neurons))


def _over_ratio(over: list) -> float:
    """The largest used/available ratio in ``["bram 37/30", ...]``."""
    worst = 0.0
    for item in over:
        used, avail = item.rsplit(" ", 1)[1].split("/")
        worst = max(worst, int(used) / max(1, int(avail)))
    return worst


def _estimate_ok(estimate, p, attempts, slack):
    """True when the estimate of ``p`` lanes fits within ``1 + slack``; records rejections."""
    try:
        over = estimate(p, None)
    except ValueError as e:
        attempts.append(Attempt(p, "refused", str(e)))
        return False
    if over and _over_ratio(over) > 1 + slack:
        attempts.append(Attempt(p, "estimate over", ", ".join(over)))
        return False
    return True


def search_lanes(p_max: int, estimate, build, max_builds: int = 4, log=None,
                 slack: float = ESTIMATE_SLACK):
    """The report of the largest-lane build that fits and meets timing, and the attempts.

    ``estimate(P, scale)`` -> the resources over (``scale``: None, or per resource a factor
    applied to the estimate first, see :meth:`boards.budget.Estimate.over`);
    ``build(P)`` -> report, or raises with ``.report`` (its ``failure`` says why, and its
    ``usage_vs_estimate`` calibrates the estimate).
    Raises :class:`LaneSearchError` when no ``P`` builds."""
    if p_max < 1:
        raise ValueError(f"p_max must be at least 1, not {p_max}")
    say = log or (lambda msg: None)
    attempts = []
    # 1. the estimate: largest P that fits (bisection; P = 1 first, it decides everything)
    if not _estimate_ok(estimate, 1, attempts, slack):
        raise LaneSearchError(f"even one lane does not fit: {attempts[-1].reason}", attempts)
    lo, hi = 1, p_max + 1          # estimate fits at lo, not at hi
    if _estimate_ok(estimate, p_max, attempts, slack):
        lo = p_max
    else:
        hi = p_max
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _estimate_ok(estimate, mid, attempts, slack):
                lo = mid
            else:
                hi = mid
    say(f"lanes: the estimate allows up to {lo} (of {p_max} considered)")
    # 2. builds
    best, ok_p, bad_p, builds = None, 0, lo + 1, 0
    p = lo
    while builds < max_builds and p is not None and ok_p < p < bad_p:
        builds += 1
        say(f"lanes: building P = {p} (build {builds} of at most {max_builds})")
        try:
            rep = build(p)
        except Exception as e:   # noqa: BLE001 - BuildError, with the report attached
            rep = getattr(e, "report", None)
            if rep is None:
                raise
            reason = rep.get("failure") or str(e)
            outcome = ("misses timing" if reason.startswith("misses timing") else
                       "does not route" if reason.startswith("routing did not finish") else
                       "does not fit")
            attempts.append(Attempt(p, outcome, reason, rep))
            bad_p = p
            nxt = None
            if outcome == "does not fit":
                nxt = _calibrated_step(estimate, rep, p, ok_p, slack)
            elif outcome == "does not route":   # it fits: congestion, which one lane less eases
                nxt = p - 1
            p = nxt if nxt is not None else (ok_p + bad_p) // 2 or None
            if p is not None and p <= ok_p:
                p = None
            continue
        attempts.append(Attempt(p, "built", "fits and meets the clock", rep))
        best, ok_p = rep, p
        p = (ok_p + bad_p) // 2 if bad_p - ok_p > 1 else None
    if best is None:
        why = "; ".join(f"P={a.lanes}: {a.reason}" for a in attempts if a.report is not None)
        raise LaneSearchError(f"no lane count built within {max_builds} builds ({why})",
                              attempts)
    return best, attempts


def _calibrated_step(estimate, report, p, ok_p, slack):
    """After a build of ``p`` lanes that did not fit: scale the estimate by what the build
    used (per resource, used / estimated) and return the largest P below ``p`` (above
    ``ok_p``) whose scaled estimate fits, or None."""
    used = report.get("usage_vs_estimate") or {}
    scale = {k: v["used"] / v["estimated"] for k, v in used.items()
             if v.get("estimated") and v.get("used") is not None}
    if not scale:
        return None
    for q in range(p - 1, ok_p, -1):
        try:
            over = estimate(q, scale)
        except ValueError:
            continue
        if not over:
            return q
    return None

