"""Run and learning settings: everything the paper leaves open, in one named place."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

__all__ = ["RunConfig", "power_of_two_exponent", "parse_overrides"]


def power_of_two_exponent(value: float, name: str) -> int:
    """``e`` with ``value == 2**e``, or a ValueError naming the setting."""
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")
    e = round(math.log2(value))
    if 2.0 ** e != value:
        raise ValueError(f"{name} must be a power of two for the fixed-point model "
                         f"(the hardware shifts), got {value}")
    return int(e)


@dataclass(frozen=True)
class RunConfig:
    """Settings of a forward/reverse run and of the BSP update.

    h_shift:      Euler step h = 2**-h_shift.
    steps:        Euler steps per run (forward and reverse alike); T = steps * h.
    state_lo/hi:  saturation range of every element value E (float and fixed alike).
    input_scale:  external input = input_scale * pixel (pixels in [0, 1]).
    err_scale:    reverse input = err_scale * (target - y).
    output_mean:  y = S / T (mean signal) instead of the integral S.
    kt:           atan squash parameter of Eq. 3.4 (a power of two in fixed point).
    step:         step factor multiplying G2 (a power of two in fixed point).
    c_min/c_max:  clamp range of every coefficient C.
    c_init_lo/hi: |C| at start is uniform in [c_init_lo, c_init_hi] ...
    c_init_sign:  ... with a random sign ("random") or positive ("positive").
    target:       training target of the true class (the others are 0); the host forms
                  the error err_scale * (target * onehot - y). Outputs the network can reach
                  without leaving the near-linear range of its neurons keep BSP on the
                  gradient (docs/TRAINING.md).
    """

    h_shift: int = 2
    steps: int = 80
    state_lo: float = -5.0
    state_hi: float = 7.0
    input_scale: float = 1.0
    err_scale: float = 1.0
    output_mean: bool = True
    kt: float = 1.0
    step: float = 2.0 ** -8
    c_min: float = -4.0
    c_max: float = 4.0
    c_init_lo: float = 0.0
    c_init_hi: float = 1.0
    c_init_sign: str = "random"
    target: float = 1.0

    def __post_init__(self):
        if not isinstance(self.h_shift, int) or not 0 <= self.h_shift <= 12:
            raise ValueError(f"h_shift must be an int in 0..12, got {self.h_shift!r}")
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be a positive int, got {self.steps!r}")
        if not self.state_lo < self.state_hi:
            raise ValueError("state_lo must be below state_hi")
        if not self.c_min < self.c_max:
            raise ValueError("c_min must be below c_max")
        if self.kt <= 0 or self.step <= 0:
            raise ValueError("kt and step must be positive")
        if self.c_init_sign not in ("random", "positive"):
            raise ValueError("c_init_sign must be 'random' or 'positive'")
        if not self.target > 0:
            raise ValueError(f"target must be positive, got {self.target}")
        if not 0 <= self.c_init_lo <= self.c_init_hi:
            raise ValueError("need 0 <= c_init_lo <= c_init_hi")

    @property
    def h(self) -> float:
        return 2.0 ** -self.h_shift

    @property
    def T(self) -> float:
        return self.steps * self.h

    def replace(self, **kw) -> "RunConfig":
        d = asdict(self)
        d.update(kw)
        return RunConfig(**d)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown run setting(s): {', '.join(sorted(unknown))}")
        return cls(**d)


def parse_overrides(items) -> dict:
    """``["steps=64", "step=2**-4", "output_mean=false"]`` -> RunConfig field values, typed like
    the fields (the ``KEY=VALUE`` strings of the ``--set`` options). Floats may be written as
    ``BASE**EXP``. Raises ValueError naming the bad item."""
    types = {f.name: str(f.type) for f in fields(RunConfig)}
    out = {}
    for item in items or ():
        key, sep, val = item.partition("=")
        if not sep:
            raise ValueError(f"--set needs key=value, got {item!r}")
        if key not in types:
            raise ValueError(f"--set: unknown run setting {key!r}; known: {', '.join(types)}")
        t = types[key]
        try:
            if "bool" in t:
                if val.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                out[key] = val.lower() in ("true", "1")
            elif "int" in t:
                out[key] = int(val)
            elif "float" in t:
                base, power, exp = val.partition("**")
                out[key] = float(base) ** float(exp) if power else float(val)
            else:
                out[key] = val
        except ValueError:
            raise ValueError(f"--set {key}: {val!r} is not a valid {t}") from None
    return out
