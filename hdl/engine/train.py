"""Learning on the chip (issue #10), the engine's part of TRAIN_SAMPLE and EVAL_SAMPLE beside the
runs (:class:`ErrorUnit` and :class:`ArgmaxCounter` are in :mod:`hdl.learning`, shared with the
unrolled Network).

:class:`OutputPass`: after a forward run it owns the engine's memory port (the same address
translation as the host's reads and writes): it reads the ``n`` output integrals (region 5),
feeds them to the error unit and the argmax, then writes the ``n`` errors to region 1
(TRAIN_SAMPLE only), where the reverse run (and the dither's seed) takes them.

Clocks of the pass, from its ``start`` clock to ``done`` (:func:`output_pass_clocks`)::

    reads: clocks 1..n;  the integrals arrive read_latency clocks later and are registered;
    the errors two clocks after that (ErrorUnit.latency);  writes: clocks n + L + 4 ..
    2n + L + 3;  done at 2n + L + 4
"""
from __future__ import annotations

from amaranth.hdl import Array, Module, Mux, Signal, signed
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
    ``done`` (out: one clock)."""

    def __init__(self, hw: HwConstants, n_outputs: int, read_latency: int, data_width: int):
        check_types(hw=(hw, HwConstants), n_outputs=(n_outputs, int),
                    read_latency=(read_latency, int), data_width=(data_width, int))
        if n_outputs < 1 or read_latency < 1:
            raise ValueError("n_outputs and read_latency must be at least 1")
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
        n, L, W = self.n, self.latency, self.hw.fmt.width
        m.submodules.error_unit = eu = ErrorUnit(self.hw)
        t = Signal(range(self.clocks + 1))       # clock of the pass; 0: idle
        with m.If(self.start):
            m.d.sync += t.eq(1)
        with m.Elif((t != 0) & (t < self.clocks)):
            m.d.sync += t.eq(t + 1)
        with m.Elif(t == self.clocks):
            m.d.sync += t.eq(0)
        read_i = Signal(range(max(2, n)))
        m.d.comb += read_i.eq(t - 1)
        reading = (t >= 1) & (t <= n)
        # the integral of output i is on ``word`` at t = 1 + i + L and registered (the read
        # path ends in the lanes' word multiplexer); its error one clock later
        word = Signal.like(self.word)
        m.d.sync += word.eq(self.word)
        L += 1
        arrive_i = Signal(range(max(2, n)))
        m.d.comb += arrive_i.eq(t - 1 - L)
        arriving = (t >= 1 + L) & (t <= n + L)
        m.d.comb += [self.value.eq(word), self.index.eq(arrive_i),
                     self.valid.eq(arriving),
                     eu.integral.eq(word), eu.is_target.eq(arrive_i == self.label)]
        err_i, err_i1 = Signal.like(arrive_i), Signal.like(arrive_i)
        err_on, err_on1 = Signal(), Signal()
        assert ErrorUnit.latency == 2
        m.d.sync += [err_i1.eq(arrive_i), err_on1.eq(arriving), err_i.eq(err_i1),
                     err_on.eq(err_on1)]
        errors = Array(Signal(signed(W), name=f"error{i}") for i in range(n))
        with m.If(err_on):
            m.d.sync += errors[err_i].eq(eu.error)
        first_write = n + L + 1 + ErrorUnit.latency
        write_i = Signal(range(max(2, n)))
        m.d.comb += write_i.eq(t - first_write)
        writing = (t >= first_write) & (t < first_write + n)
        m.d.comb += [self.active.eq(reading | writing),
                     self.finish.eq(t == first_write),
                     self.done.eq(t == self.clocks)]
        with m.If(reading):
            m.d.comb += self.addr.eq((REGION["output"] << INDEX_BITS) | read_i)
        with m.Elif(writing):
            m.d.comb += [self.addr.eq((REGION["error"] << INDEX_BITS) | write_i),
                         self.we.eq(self.write_errors), self.wdata.eq(errors[write_i])]
        return m
