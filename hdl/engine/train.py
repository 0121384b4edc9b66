"""Learning on the chip (issue #10), the engine's part of TRAIN_SAMPLE and EVAL_SAMPLE beside the
runs (:class:`ErrorUnit` and :class:`ArgmaxCounter` are in :mod:`hdl.learning`, shared with the
unrolled Network).

:class:`OutputPass`: after a forward run it owns the engine's memory port (the same address
translation as the host's reads and writes): it reads the ``n`` output integrals (region 5),
feeds them to the error unit and the argmax, and writes the ``n`` errors to region 1
(TRAIN_SAMPLE only), where the reverse run (and the dither's seed) takes them; reads and
writes take turns on the port, so no error is stored.

Clocks of the pass, from its ``start`` clock to ``done`` (:func:`output_pass_clocks`; L, the
read latency, even)::

    read of output i: clock 1 + 2i;  its integral registered at 2 + L + 2i (argmax);  its
    error (ErrorUnit.latency later) written at L + 4 + 2i;  finish at 2n + L + 1;  done at
    2n + L + 3, when the last write has landed
"""
from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..fixed import HwConstants, check_types
from ..learning import ArgmaxCounter, ErrorUnit
from ..network import ADDR_WIDTH, INDEX_BITS, REGION
from .schedule import output_pass_clocks

__all__ = ["ErrorUnit", "ArgmaxCounter", "OutputPass", "output_pass_clocks"]


class OutputPass(wiring.Component):
    """The output pass (module docstring). Ports: ``start`` (in: one clock), ``write_errors``
    (in: TRAIN_SAMPLE), ``label`` (in); the memory port it drives while ``active``: ``addr``,
    ``we``, ``wdata`` (out), ``word`` (in: the read data, ``read_latency`` clocks after the
    address); ``value``, ``index``, ``valid``, ``finish`` (out: to the ArgmaxCounter);
    ``done`` (out: one clock).

    Reads and writes take turns on the port (reads on odd clocks of the pass, writes on even
    ones): each error is written the clock the error unit gives it, none is stored."""

    def __init__(self, hw: HwConstants, n_outputs: int, read_latency: int, data_width: int):
        check_types(hw=(hw, HwConstants), n_outputs=(n_outputs, int),
                    read_latency=(read_latency, int), data_width=(data_width, int))
        if n_outputs < 1 or read_latency < 1:
            raise ValueError("n_outputs and read_latency must be at least 1")
        if read_latency % 2:
            raise ValueError(f"the output pass interleaves reads and writes: read_latency must "
                             f"be even, got {read_latency}")
        self.hw, self.n, self.latency = hw, n_outputs, read_latency
        self.clocks = output_pass_clocks(n_outputs, read_latency)
        super().__init__({
            "start": In(1), "write_errors": In(1), "label": In(data_width),
            "active": Out(1), "addr": Out(ADDR_WIDTH), "we": Out(1),
            "wdata": Out(signed(data_width)), "word": In(signed(data_width)),
            "value": Out(signed(hw.fmt.acc_width)), "index": Out(range(max(2, n_outputs))),
            "valid": Out(1), "finish": Out(1), "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        n, L = self.n, self.latency
        m.submodules.error_unit = eu = ErrorUnit(self.hw)
        t = Signal(range(self.clocks + 1))       # clock of the pass; 0: idle
        with m.If(self.start):
            m.d.sync += t.eq(1)
        with m.Elif((t != 0) & (t < self.clocks)):
            m.d.sync += t.eq(t + 1)
        with m.Elif(t == self.clocks):
            m.d.sync += t.eq(0)
        odd = t[0]

        def window(first, count):
            """(on, i): clock t is the i-th of ``count`` clocks first, first + 2, ..."""
            i = Signal(range(max(2, n)))
            m.d.comb += i.eq((t - first) >> 1)
            return (t >= first) & (t <= first + 2 * (count - 1)) & (odd == first % 2), i
        # output i: read at 1 + 2i; its integral on ``word`` L clocks later, registered (the
        # read path ends in the lanes' word multiplexer); its error ErrorUnit.latency later
        reading, read_i = window(1, n)
        word = Signal.like(self.word)
        m.d.sync += word.eq(self.word)
        arrive = 2 + L
        arriving, arrive_i = window(arrive, n)
        m.d.comb += [self.value.eq(word), self.index.eq(arrive_i),
                     self.valid.eq(arriving),
                     eu.integral.eq(word), eu.is_target.eq(arrive_i == self.label)]
        first_write = arrive + ErrorUnit.latency
        assert first_write % 2 == 0                # writes on the clocks reads leave free
        writing, write_i = window(first_write, n)
        m.d.comb += [self.active.eq(reading | writing),
                     self.finish.eq(t == arrive + 2 * (n - 1) + 1),   # after the last value
                     self.done.eq(t == self.clocks)]
        with m.If(reading):
            m.d.comb += self.addr.eq((REGION["output"] << INDEX_BITS) | read_i)
        with m.Elif(writing):
            m.d.comb += [self.addr.eq((REGION["error"] << INDEX_BITS) | write_i),
                         self.we.eq(self.write_errors), self.wdata.eq(eu.error)]
        return m
