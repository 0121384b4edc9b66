"""The reverse run's dithered rounding (``FixedFormat.reverse_dither``, golden LEARNING_FORMAT).

golden.fixedpoint defines, in 32-bit unsigned arithmetic::

    seed      = DITHER_SEED;  for each output k in order: seed = wang32(seed ^ err_k)
    r(t, n, e) = wang32(wang32(seed + t) ^ ((n << 3) | e))  &  (2**(F + k) - 1)

and the reverse run's increment ``(acc + r) >> (F + k)``. In gateware:

* :class:`DitherSeed` (one, in the engine): at the start of a reverse run it folds the error
  vector (a shadow copy the control port writes) into ``seed``, one output in
  :data:`FOLD_CLOCKS` clocks, then forms ``wang32(seed + t)`` of the first step, and of every
  next step ahead of time (``advance`` takes it when a step begins);
* each lane hashes ``step_hash ^ ((n << 3) | e)`` of every row it updates in
  :data:`WANG32_STAGES` registered stages (:func:`wang32_stage`) and adds ``r`` instead of
  half an LSB.

``wang32`` is split in three parts of one add and one xor-shift each (the third adds two
shifted copies), the same parts for the sequential fold and the lane pipelines.
"""
from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from wuxing.golden.fixedpoint import DITHER_SEED

from ..learning import WANG32_STAGES, sext32, wang32_stage

__all__ = ["wang32_stage", "WANG32_STAGES", "DitherSeed", "FOLD_CLOCKS", "seed_clocks"]

FOLD_CLOCKS = 2 + WANG32_STAGES       # read err_k, xor, hash


def seed_clocks(n_outputs: int) -> int:
    """Clocks of the seed: the fold of ``n_outputs`` errors, then the first two step hashes."""
    return FOLD_CLOCKS * n_outputs + 2 * (1 + WANG32_STAGES)


class DitherSeed(wiring.Component):
    """The seed of a reverse run and the hash of each step (see the module docstring).

    Ports: ``err_we``, ``err_index``, ``err_data`` (in: the control port's writes of the error
    region, kept in a shadow memory); ``fold`` (in: strobe at the start of a reverse run; the
    result is ready :func:`seed_clocks` later); ``advance`` (in: strobe when the next step
    begins); ``step_hash`` (out: ``wang32(seed + t)`` of the current step ``t``).
    """

    def __init__(self, n_outputs: int, width: int, attrs=None):
        self.n_outputs, self.width, self.attrs = n_outputs, width, attrs
        super().__init__({
            "err_we": In(1), "err_index": In(range(max(2, n_outputs))),
            "err_data": In(signed(width)),
            "fold": In(1), "advance": In(1), "step_hash": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.n_outputs
        m.submodules.errors = mem = Memory(shape=signed(self.width), depth=n, init=[],
                                           attrs=self.attrs)
        wr, rd = mem.write_port(), mem.read_port()
        m.d.comb += [wr.addr.eq(self.err_index), wr.data.eq(self.err_data),
                     wr.en.eq(self.err_we)]
        seed, x, nxt = Signal(32), Signal(32), Signal(32)
        k = Signal(range(max(2, n)))
        t = Signal(16)          # the step whose hash is (being) computed ahead into nxt
        part = Signal(range(WANG32_STAGES))
        m.d.comb += rd.addr.eq(k)

        def hashing(then):
            """x := wang32(x), one part a clock; then ``then()``."""
            with m.Switch(part):
                for p in range(WANG32_STAGES):
                    with m.Case(p):
                        m.d.sync += x.eq(wang32_stage(x, p))
            m.d.sync += part.eq(part + 1)
            with m.If(part == WANG32_STAGES - 1):
                m.d.sync += part.eq(0)
                then()

        with m.FSM(name="dither"):
            with m.State("IDLE"):
                with m.If(self.fold):
                    m.d.sync += [seed.eq(DITHER_SEED), k.eq(0), part.eq(0)]
                    m.next = "READ"
                with m.Elif(self.advance):
                    m.d.sync += [self.step_hash.eq(nxt), x.eq(seed + t + 1), t.eq(t + 1),
                                 part.eq(0)]
                    m.next = "NEXT"
            with m.State("READ"):         # err_k arrives next clock
                m.next = "XOR"
            with m.State("XOR"):
                m.d.sync += x.eq(seed ^ sext32(rd.data))
                m.next = "FOLD"
            with m.State("FOLD"):
                def folded():
                    m.d.sync += [seed.eq(wang32_stage(x, WANG32_STAGES - 1)), k.eq(k + 1)]
                    with m.If(k == n - 1):
                        m.next = "FIRST_LOAD"
                    with m.Else():
                        m.next = "READ"
                hashing(folded)
            with m.State("FIRST_LOAD"):   # the hash of step 0
                m.d.sync += [x.eq(seed), t.eq(0)]
                m.next = "FIRST"
            with m.State("FIRST"):
                def first():
                    m.d.sync += self.step_hash.eq(wang32_stage(x, WANG32_STAGES - 1))
                    m.next = "AHEAD_LOAD"
                hashing(first)
            with m.State("AHEAD_LOAD"):   # the hash of the next step, ahead of time
                m.d.sync += [x.eq(seed + t + 1), t.eq(t + 1)]
                m.next = "NEXT"
            with m.State("NEXT"):
                def ahead():
                    m.d.sync += nxt.eq(wang32_stage(x, WANG32_STAGES - 1))
                    m.next = "IDLE"
                hashing(ahead)
        return m
