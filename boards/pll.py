"""PLL parameters for the board clocks: the iCE40 (SB_PLL40_PAD) and ECP5 (EHXPLLL) rules.

Plain Python, no gateware: ``solve_ice40`` and ``solve_ecp5`` turn an oscillator frequency and
a wanted clock into divider settings, and :meth:`PLLParams.check` re-checks every datasheet
range of a setting on its own (the tests run it on every solution).

iCE40 (iCE40 sysCLOCK PLL guide; the search of icestorm's ``icepll``, SIMPLE feedback)::

    f_pfd = f_in / (DIVR + 1)           10 .. 133 MHz     DIVR 0..15
    f_vco = f_pfd * (DIVF + 1)          533 .. 1066 MHz   DIVF 0..127
    f_out = f_vco / 2**DIVQ             16 .. 275 MHz     DIVQ 1..6
    FILTER_RANGE by f_pfd: < 17 MHz: 1, < 26: 2, < 44: 3, < 66: 4, < 101: 5, else 6
    (f_in 10 .. 133 MHz)

icepll walks DIVR, DIVF, DIVQ upwards and keeps a setting only when it is strictly closer to
the request, in double precision; ``solve_ice40`` does the same, so its settings are icepll's,
except that it also keeps the output itself in range (icepll checks only the request's, and
for a request at the edge may answer just outside: 15.94 MHz for 16).

ECP5 (ECP5 sysCLOCK PLL guide; the search of Project Trellis' ``ecppll``, CLKOP feedback)::

    f_pfd = f_in / CLKI_DIV             3.125 .. 400 MHz  CLKI_DIV 1..128
    f_out = f_pfd * CLKFB_DIV           10 .. 400 MHz     CLKFB_DIV 1..80
    f_vco = f_out * CLKOP_DIV           400 .. 800 MHz    CLKOP_DIV 1..128
    CLKOP_CPHASE: half a period of the output in VCO cycles (ecppll shifts CLKOP by 180 deg)
    (f_in 8 .. 400 MHz)

ecppll computes in single precision (C ``float``), keeps the closest output and, among equally
close ones, the VCO nearest 600 MHz; its CLKOP_CPHASE is a float truncated to int, so it is
CLKOP_DIV / 2 or one less. ``solve_ecp5`` repeats those float32 operations (numpy float32)
so that its settings, CPHASE included, are ecppll's.

Both solvers take ``mode``: ``"nearest"`` (the tools' rule) or ``"at_most"`` (the closest
output not above the request: the board top asks for the clock the design meets, and a PLL a
little faster than that would miss timing).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["PLLParams", "solve_ice40", "solve_ecp5", "solve", "ICE40_RANGES", "ECP5_RANGES",
           "ice40_filter_range", "MODES"]

MODES = ("nearest", "at_most")

# MHz ranges of the iCE40 PLL (SIMPLE feedback): input, PFD, VCO, output
ICE40_RANGES = dict(f_in=(10.0, 133.0), f_pfd=(10.0, 133.0), f_vco=(533.0, 1066.0),
                    f_out=(16.0, 275.0), DIVR=(0, 15), DIVF=(0, 127), DIVQ=(1, 6))
# MHz ranges of the ECP5 EHXPLLL (CLKOP feedback), as ecppll uses them
ECP5_RANGES = dict(f_in=(8.0, 400.0), f_pfd=(3.125, 400.0), f_vco=(400.0, 800.0),
                   f_out=(10.0, 400.0), CLKI_DIV=(1, 128), CLKFB_DIV=(1, 80),
                   CLKOP_DIV=(1, 128))
ECP5_VCO_PREFERRED = 600.0   # ecppll's tie-break: the VCO nearest this (MHz)


def ice40_filter_range(f_pfd: float) -> int:
    """The loop filter setting of the iCE40 PLL for a PFD frequency (MHz)."""
    for i, limit in enumerate((17, 26, 44, 66, 101)):
        if f_pfd < limit:
            return i + 1
    return 6


@dataclass(frozen=True)
class PLLParams:
    """A PLL setting: the family, the frequencies (MHz) and the primitive's parameters."""

    family: str                 # "ice40" or "ecp5"
    f_in: float                 # the oscillator
    f_requested: float
    f_out: float                # achieved
    f_pfd: float
    f_vco: float
    params: dict = field(default_factory=dict)   # primitive parameters, by their names

    @property
    def error_ppm(self) -> float:
        return abs(self.f_out - self.f_requested) / self.f_requested * 1e6

    def describe(self) -> str:
        p = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return (f"{self.f_in:g} MHz -> {self.f_out:.4f} MHz (asked {self.f_requested:g}; "
                f"PFD {self.f_pfd:.3f}, VCO {self.f_vco:.3f} MHz; {p})")

    def as_dict(self) -> dict:
        return dict(family=self.family, f_in_mhz=self.f_in, f_requested_mhz=self.f_requested,
                    f_out_mhz=self.f_out, f_pfd_mhz=self.f_pfd, f_vco_mhz=self.f_vco,
                    params=dict(self.params))

    def check(self) -> None:
        """Re-derive the frequencies from the dividers and check every range; ValueError if
        a rule is broken (independent of the solver that produced the setting)."""
        rng = ICE40_RANGES if self.family == "ice40" else ECP5_RANGES
        p = self.params
        for name in [k for k in rng if not k.startswith("f_")]:
            lo, hi = rng[name]
            if not isinstance(p.get(name), int) or not lo <= p[name] <= hi:
                raise ValueError(f"{name}={p.get(name)!r} outside {lo}..{hi}")
        if self.family == "ice40":
            f_pfd = self.f_in / (p["DIVR"] + 1)
            f_vco = f_pfd * (p["DIVF"] + 1)
            f_out = f_vco / 2 ** p["DIVQ"]
            if p["FILTER_RANGE"] != ice40_filter_range(f_pfd):
                raise ValueError(f"FILTER_RANGE {p['FILTER_RANGE']} is not that of a "
                                 f"{f_pfd:g} MHz PFD ({ice40_filter_range(f_pfd)})")
            if p.get("FEEDBACK_PATH") != "SIMPLE":
                raise ValueError("only the SIMPLE feedback path is supported")
        else:
            f_pfd = self.f_in / p["CLKI_DIV"]
            f_out = f_pfd * p["CLKFB_DIV"]
            f_vco = f_out * p["CLKOP_DIV"]
            if not 0 <= p["CLKOP_CPHASE"] <= p["CLKOP_DIV"] - 1:
                raise ValueError(f"CLKOP_CPHASE {p['CLKOP_CPHASE']} outside 0..CLKOP_DIV-1")
            if p.get("FEEDBK_PATH") != "CLKOP":
                raise ValueError("only the CLKOP feedback path is supported")
        for name, value in (("f_in", self.f_in), ("f_pfd", f_pfd), ("f_vco", f_vco),
                            ("f_out", f_out)):
            lo, hi = rng[name]
            if not lo <= value <= hi:
                raise ValueError(f"{name} {value:g} MHz outside {lo:g}..{hi:g} MHz")
        for name, mine, derived in (("f_pfd", self.f_pfd, f_pfd), ("f_vco", self.f_vco, f_vco),
                                    ("f_out", self.f_out, f_out)):
            if abs(mine - derived) > 1e-4 * derived:
                raise ValueError(f"{name} {mine:g} MHz is not what the dividers give "
                                 f"({derived:g} MHz)")


def _check_request(family: str, f_in: float, f_out: float, mode: str):
    for name, v in (("f_in", f_in), ("f_out", f_out)):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"{name} must be a number of MHz, not {type(v).__name__}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    rng = ICE40_RANGES if family == "ice40" else ECP5_RANGES
    for name, v in (("f_in", f_in), ("f_out", f_out)):
        lo, hi = rng[name]
        if not lo <= v <= hi:
            what = "input (oscillator)" if name == "f_in" else "output"
            raise ValueError(f"the {family} PLL's {what} must be {lo:g}..{hi:g} MHz, "
                             f"not {v:g} MHz")


def solve_ice40(f_in: float, f_out: float, mode: str = "nearest") -> PLLParams:
    """The iCE40 PLL setting for ``f_out`` MHz from ``f_in`` MHz (icepll's search)."""
    _check_request("ice40", f_in, f_out, mode)
    r = ICE40_RANGES
    best = None
    for divr in range(r["DIVR"][0], r["DIVR"][1] + 1):
        f_pfd = f_in / (divr + 1)
        if not r["f_pfd"][0] <= f_pfd <= r["f_pfd"][1]:
            continue
        for divf in range(r["DIVF"][0], r["DIVF"][1] + 1):
            f_vco = f_pfd * (divf + 1)
            if not r["f_vco"][0] <= f_vco <= r["f_vco"][1]:
                continue
            for divq in range(r["DIVQ"][0], r["DIVQ"][1] + 1):
                fo = f_vco * 2.0 ** -divq
                if not r["f_out"][0] <= fo <= r["f_out"][1]:
                    continue        # (icepll checks only the request's range)
                if mode == "at_most" and fo > f_out:
                    continue
                if best is None or abs(fo - f_out) < abs(best[0] - f_out):
                    best = (fo, divr, divf, divq, f_pfd, f_vco)
    if best is None:
        raise ValueError(f"no iCE40 PLL setting gives at most {f_out:g} MHz from {f_in:g} MHz")
    fo, divr, divf, divq, f_pfd, f_vco = best
    return PLLParams("ice40", float(f_in), float(f_out), fo, f_pfd, f_vco,
                     dict(FEEDBACK_PATH="SIMPLE", DIVR=divr, DIVF=divf, DIVQ=divq,
                          FILTER_RANGE=ice40_filter_range(f_pfd)))


def _ecppll_cphase(f_out32, f_vco32) -> int:
    """ecppll's CLKOP_CPHASE: ``float ns_phase = 1/(fout*1e6)*0.5`` (double, stored as
    float), then ``int(ns_phase * (fvco*1e6))`` (double, truncated)."""
    ns_phase = np.float32(1.0 / (float(f_out32) * 1e6) * 0.5)
    return int(float(ns_phase) * (float(f_vco32) * 1e6))


def solve_ecp5(f_in: float, f_out: float, mode: str = "nearest") -> PLLParams:
    """The ECP5 EHXPLLL setting for ``f_out`` MHz from ``f_in`` MHz (ecppll's search, in
    float32 as ecppll computes it)."""
    _check_request("ecp5", f_in, f_out, mode)
    r = ECP5_RANGES
    f32 = np.float32
    fin, want = f32(f_in), f32(f_out)
    fb = np.arange(r["CLKFB_DIV"][0], r["CLKFB_DIV"][1] + 1, dtype=np.float32)[:, None]
    od = np.arange(r["CLKOP_DIV"][0], r["CLKOP_DIV"][1] + 1, dtype=np.float32)[None, :]
    best = None     # (error, |vco - 600|, clki, clkfb, clkop, fout, fvco, fpfd) in float32
    for clki in range(r["CLKI_DIV"][0], r["CLKI_DIV"][1] + 1):
        fpfd = fin / f32(clki)
        if fpfd < f32(r["f_pfd"][0]) or fpfd > f32(r["f_pfd"][1]):
            continue
        fvco = (fpfd * fb) * od                       # float32, ecppll's order
        fout = fvco / od
        ok = (fvco >= f32(r["f_vco"][0])) & (fvco <= f32(r["f_vco"][1]))
        ok &= (fout >= f32(r["f_out"][0])) & (fout <= f32(r["f_out"][1]))  # (as for iCE40)
        if mode == "at_most":
            ok &= fout <= want
        if not ok.any():
            continue
        err = np.abs(fout - want)
        dist = np.abs(fvco - f32(ECP5_VCO_PREFERRED))
        # ecppll keeps the first strictly better: least error, then VCO nearest 600 MHz
        cand = np.flatnonzero(ok.ravel())
        order = np.lexsort((cand, dist.ravel()[cand], err.ravel()[cand]))
        i = cand[order[0]]
        e, d = err.ravel()[i], dist.ravel()[i]
        if best is None or e < best[0] or (e == best[0] and d < best[1]):
            a, b = divmod(int(i), od.shape[1])
            best = (e, d, clki, a + 1, b + 1, fout.ravel()[i], fvco.ravel()[i], fpfd)
    if best is None:
        raise ValueError(f"no ECP5 PLL setting gives at most {f_out:g} MHz from {f_in:g} MHz")
    _, _, clki, clkfb, clkop, fo32, fvco32, fpfd32 = best
    # the frequencies reported in double precision from the integer dividers
    f_pfd = f_in / clki
    fo = f_pfd * clkfb
    return PLLParams("ecp5", float(f_in), float(f_out), fo, f_pfd, fo * clkop,
                     dict(CLKI_DIV=clki, CLKFB_DIV=clkfb, CLKOP_DIV=clkop,
                          CLKOP_CPHASE=_ecppll_cphase(fo32, fvco32), CLKOP_FPHASE=0,
                          FEEDBK_PATH="CLKOP"))


def solve(family: str, f_in: float, f_out: float, mode: str = "nearest") -> PLLParams:
    """``solve_ice40`` or ``solve_ecp5`` by family name."""
    if family == "ice40":
        return solve_ice40(f_in, f_out, mode)
    if family == "ecp5":
        return solve_ecp5(f_in, f_out, mode)
    raise ValueError(f"no PLL solver for the {family!r} family (ice40, ecp5)")
