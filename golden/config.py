"""Run and learning settings: everything the paper leaves open, in one named place."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

__all__ = ["RunConfig", "power_of_two_exponent", "parse_overrides", "HOST_ONLY_FIELDS",
           "MAX_STEPS", "MAX_MAGNITUDE", "LIMITS"]

# Limits of the settings, checked when a RunConfig is made (every path: --set, checkpoints,
# manifests, code), so that no run starts with a value that cannot work.
MAX_STEPS = 65535        # the hardware's 16-bit steps register; also bounds a run's time
MAX_MAGNITUDE = 1e6      # |value| of any real-valued setting
# (lowest, highest) of the settings with a range of their own
LIMITS = {"h_shift": (0, 12), "steps": (1, MAX_STEPS),
          "kt": (2.0 ** -16, 2.0 ** 16), "step": (2.0 ** -24, 2.0 ** 8)}
# settings only the host uses: the gateware neither holds nor depends on them (the initial C
# is a training choice). Every other setting is part of what the hardware is
# (protocol.design_hash). Since the engine learns on the chip (issue #10) it holds the pixel
# table (input_scale) and forms the error itself (err_scale, output_mean, target): those are
# hardware now.
HOST_ONLY_FIELDS = frozenset({"c_init_lo", "c_init_hi", "c_init_sign"})


def power_of_two_exponent(value: float, name: str) -> int:
    """``e`` with ``value == 2**e``, or a ValueError naming the setting."""
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value}")
    e = round(math.log2(value))
    if 2.0 ** e != value:
        raise ValueError(f"{name} must be a power of two for the fixed-point model "
                         f"(the hardware shifts), got {value}")
    return int(e)


def _show(v) -> str:
    """A limit or value as written: integers as such, powers of two as 2**e."""
    if isinstance(v, int):
        return str(v)
    m, e = math.frexp(v)
    return f"2**{e - 1}" if m == 0.5 and abs(e - 1) > 4 else f"{v:g}"


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
        self._check_types_and_limits()
        if not self.state_lo < self.state_hi:
            raise ValueError("state_lo must be below state_hi")
        if not self.c_min < self.c_max:
            raise ValueError("c_min must be below c_max")
        if self.c_init_sign not in ("random", "positive"):
            raise ValueError("c_init_sign must be 'random' or 'positive'")
        if not self.target > 0:
            raise ValueError(f"target must be positive, got {self.target}")
        if not 0 <= self.c_init_lo <= self.c_init_hi:
            raise ValueError("need 0 <= c_init_lo <= c_init_hi")

    def _check_types_and_limits(self):
        """Every field against its declared type (bool, int, float, str); every real number
        finite and within MAX_MAGNITUDE; the settings of LIMITS within their range. Generic
        over the fields, so that a new setting is checked without code of its own."""
        for f in fields(self):
            v, t, name = getattr(self, f.name), str(f.type), f.name
            if t == "bool":
                if not isinstance(v, bool):
                    raise ValueError(f"{name} must be true or false, got {v!r}")
            elif t == "int":
                if not isinstance(v, int) or isinstance(v, bool):
                    raise ValueError(f"{name} must be an integer, got {v!r}")
            elif t == "float":
                if not isinstance(v, (int, float)) or isinstance(v, bool):
                    raise ValueError(f"{name} must be a number, got {v!r}")
                if not math.isfinite(v):
                    raise ValueError(f"{name} must be a finite number, got {v}")
                if abs(v) > MAX_MAGNITUDE:
                    raise ValueError(f"{name}={_show(v)} is beyond the limit of "
                                     f"+-{MAX_MAGNITUDE:g} for a run setting")
                object.__setattr__(self, name, float(v))
            elif t == "str":
                if not isinstance(v, str):
                    raise ValueError(f"{name} must be a string, got {v!r}")
            if name in LIMITS:
                lo, hi = LIMITS[name]
                if not lo <= getattr(self, name) <= hi:
                    why = " (the hardware's 16-bit steps register)" if name == "steps" else ""
                    raise ValueError(f"{name}={_show(v)} is outside its limits "
                                     f"{_show(lo)}..{_show(hi)}{why}")

    def hardware_dict(self) -> dict:
        """The settings the gateware is built from (all but :data:`HOST_ONLY_FIELDS`)."""
        return {k: v for k, v in asdict(self).items() if k not in HOST_ONLY_FIELDS}

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
        if not isinstance(d, dict):
            raise ValueError(f"run settings must be a JSON object, not {type(d).__name__}")
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
        except OverflowError:
            raise ValueError(f"--set {key}: {val!r} is too large for a number") from None
        except ValueError:
            raise ValueError(f"--set {key}: {val!r} is not a valid {t}") from None
    return out
