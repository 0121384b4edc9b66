"""The sequencer: one FSM that issues the phases of a command to every lane in lockstep.

A forward or reverse run: LOAD (every row: E := B0, the integral of the direction := 0,
U := input << F on external rows), then per step a LINK phase (the schedule's T slots) and a
NEURON phase (5 nb rows, neuron by neuron), with the idle clocks of
:func:`~.timing.engine_timing` between them. A BSP update: the T slots, each ``bsp_slot``
clocks. Each clock the sequencer broadcasts one :func:`control_layout` word: what the lanes
issue (``op``), the slot ``k`` or the row (element ``e``, local neuron ``j``), the BSP clock
``sub``, the direction ``rev`` and the E half ``half`` that the step reads. ``half`` changes
only when a link phase begins, when no neuron-phase write is in flight. It also carries the
row that a lane's neuron pipeline holds at its read and at its write stage (``rd_e``,
``rd_row``, ``wr_e``, ``wr_j``, ``wr_row``; :func:`neuron_row_counter`): counted here once,
a clock ahead, so that each lane's registered copy of the word has them when its stage does.

The learning commands (issue #10) chain these: TRAIN_SAMPLE = forward run, the output pass
(``pass_start`` .. ``pass_done``: the engine reads the output integrals, forms the error and
writes it, train.OutputPass), reverse run, BSP in accumulate mode (``acc``; ``upd`` = the
``batch_end`` input: C updated and the accumulators cleared); EVAL_SAMPLE = forward run and
the output pass. Between the parts the sequencer goes on where a command would end
(``FINISH``) without ``done``; the overflow flag is cleared once, at the command's start.
"""
from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from wuxing.golden.neuron import N_ELEMENTS

from ..network import OP_BSP, OP_EVAL_SAMPLE, OP_FORWARD, OP_REVERSE, OP_TRAIN_SAMPLE
from .schedule import EngineTiming, Schedule
from .timing import NEURON

__all__ = ["Sequencer", "control_layout", "neuron_row_counter", "ISSUE_NONE", "ISSUE_LOAD",
           "ISSUE_LINK", "ISSUE_NEURON", "ISSUE_BSP"]

ISSUE_NONE, ISSUE_LOAD, ISSUE_LINK, ISSUE_NEURON, ISSUE_BSP = range(5)


def control_layout(schedule: Schedule, timing: EngineTiming) -> data.StructLayout:
    e, j = range(N_ELEMENTS), range(max(2, schedule.nb))
    row = range(N_ELEMENTS * schedule.nb)
    return data.StructLayout({
        "op": 3, "k": range(max(2, schedule.slots)), "e": e, "j": j,
        "sub": range(max(2, timing.bsp_slot)), "rev": 1, "half": 1, "acc": 1, "upd": 1,
        # the row at the neuron pipeline's read and write stages (timing.NEURON)
        "rd_e": e, "rd_row": row, "wr_e": e, "wr_j": j, "wr_row": row,
    })


def neuron_row_counter(m, on, nb: int, prefix: str):
    """(e, j, row = e * nb + j) of the row at a neuron pipeline stage whose ``on`` is given
    (the stage holds a neuron-phase row): counters that step when ``on``, e fastest, then j,
    back to (0, 0) after the phase's last row (a neuron phase always issues every row from
    (0, 0)). Counters, not copies of the issued row carried down the pipeline: fewer logic
    cells on the iCE40."""
    e = Signal(range(N_ELEMENTS), name=f"{prefix}_e")
    j = Signal(range(max(2, nb)), name=f"{prefix}_j")
    row = Signal(range(N_ELEMENTS * nb), name=f"{prefix}_row")
    with m.If(on):
        with m.If(e == N_ELEMENTS - 1):
            m.d.sync += e.eq(0)
            with m.If(j == nb - 1):
                m.d.sync += [j.eq(0), row.eq(0)]
            with m.Else():
                m.d.sync += [j.eq(j + 1), row.eq(row - (N_ELEMENTS - 1) * nb + 1)]
        with m.Else():
            m.d.sync += [e.eq(e + 1), row.eq(row + nb)]
    return e, j, row


class Sequencer(wiring.Component):
    """Ports: ``cmd``, ``cmd_op`` (in: a command strobe and its op), ``steps`` (in: the steps
    register), ``ctl`` (out: the control word of this clock), ``busy``, ``done`` (out),
    ``run_start`` (out: one clock at the start of a run: clear the overflow flag),
    ``last_half`` (out: the E half the last run wrote last, for the overflow flags),
    ``dither_fold`` (out: a reverse run starts: fold its dither seed, timing.seed clocks),
    ``dither_advance`` (out: the next step begins: its dither hash); the learning commands:
    ``batch_end`` (in: this TRAIN_SAMPLE ends a batch), ``pass_start`` (out: one clock, the
    output pass begins), ``pass_done`` (in: one clock, it has ended), ``trained`` (out: one
    clock with ``done`` of a TRAIN_SAMPLE). Without ``training`` (the engine's learning units
    left out) ops 3 and 4 do nothing."""

    def __init__(self, schedule: Schedule, timing: EngineTiming, training: bool = True):
        self.schedule, self.timing, self.training = schedule, timing, training
        super().__init__({
            "cmd": In(1), "cmd_op": In(3), "steps": In(16), "batch_end": In(1),
            "pass_start": Out(1), "pass_done": In(1), "trained": Out(1),
            "ctl": Out(control_layout(schedule, timing)),
            "busy": Out(1), "done": Out(1), "run_start": Out(1), "last_half": Out(1),
            "dither_fold": Out(1), "dither_advance": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        s, tm = self.schedule, self.timing
        nb, T = s.nb, s.slots
        ctl = self.ctl
        k = Signal(range(max(2, T)))
        e = Signal(range(N_ELEMENTS))
        j = Signal(range(max(2, nb)))
        sub = Signal(range(max(2, tm.bsp_slot)))
        rev, half = Signal(), Signal()
        acc, upd = Signal(), Signal()
        chain = Signal()     # a learning command: the runs go on into the next part
        train = Signal()     # TRAIN_SAMPLE (else EVAL_SAMPLE)
        in_bsp = Signal()    # the part running is a BSP update
        step = Signal(16)
        steps = Signal(16)
        wait = Signal(range(max(2, tm.start, tm.load_drain, tm.link_drain, tm.neuron_drain,
                                tm.bsp_drain, tm.finish, tm.seed) + 1))
        done = Signal()
        op = Signal(3)
        m.d.sync += done.eq(0)
        # the rows at the lanes' neuron read and write stages: a lane's stage s holds the row
        # issued s + 1 clocks ago (the lane registers this word), so a counter that steps
        # with the issue delayed s clocks is, here, what the lane's copy holds a clock later.
        # (Counted once for every lane; a simulator evaluates each lane's logic every clock)
        issued = [op == ISSUE_NEURON]
        for i in range(NEURON["write"]):
            issued.append(Signal(name=f"neuron_issued_{i + 1}"))
            m.d.sync += issued[-1].eq(issued[-2])
        rd_e, _, rd_row = neuron_row_counter(m, issued[NEURON["read"]], nb, "neuron_rd")
        wr_e, wr_j, wr_row = neuron_row_counter(m, issued[NEURON["write"]], nb, "neuron_wr")
        # the control word as one value (fields driven one by one become separate processes,
        # which an event-driven simulator does not evaluate at time 0)
        fields = [op, k, e, j, sub, rev, half, acc, upd, rd_e, rd_row, wr_e, wr_j, wr_row]
        assert [len(f) for f in fields] == [len(ctl[n]) for n in ctl.shape().members]
        m.d.comb += [self.done.eq(done), ctl.as_value().eq(Cat(*fields))]

        def goto_after(state, clocks, then):
            """Enter ``then`` after ``clocks`` idle clocks (in the waiting ``state``)."""
            if clocks <= 0:
                m.next = then
            else:
                m.d.sync += wait.eq(clocks - 1)
                m.next = state

        def waiting(state, then, on_leave=None):
            with m.State(state):
                with m.If(wait == 0):
                    if on_leave:
                        on_leave()
                    else:
                        m.next = then
                with m.Else():
                    m.d.sync += wait.eq(wait - 1)

        def end_of_step():
            """After a step's neuron phase and its drain: the next step or the end."""
            with m.If(step + 1 >= steps):
                m.d.sync += [wait.eq(tm.finish - 1), self.last_half.eq(~half)]
                m.next = "FINISH"
            with m.Else():
                m.d.sync += [step.eq(step + 1), half.eq(~half), k.eq(0)]
                m.d.comb += self.dither_advance.eq(rev)
                m.next = "LINK"

        with m.FSM(name="sequencer") as fsm:
            with m.State("IDLE"):
                m.d.sync += [k.eq(0), e.eq(0), j.eq(0), sub.eq(0), step.eq(0), half.eq(0)]
                with m.If(self.cmd):
                    m.d.sync += [steps.eq(self.steps), wait.eq(tm.start - 2),
                                 chain.eq(0), train.eq(0), in_bsp.eq(0), acc.eq(0),
                                 upd.eq(0)]
                    with m.If(self.cmd_op == OP_BSP):
                        m.d.sync += [rev.eq(0), in_bsp.eq(1), upd.eq(1)]
                        m.next = "START_BSP"
                    with m.Elif((self.cmd_op == OP_FORWARD) | (self.cmd_op == OP_REVERSE)):
                        m.d.comb += [self.run_start.eq(1),
                                     self.dither_fold.eq((self.cmd_op == OP_REVERSE)
                                                         & (tm.seed > 0))]
                        m.d.sync += rev.eq(self.cmd_op == OP_REVERSE)
                        m.next = "START_RUN"
                    with m.Elif(((self.cmd_op == OP_TRAIN_SAMPLE)
                                 | (self.cmd_op == OP_EVAL_SAMPLE)) & self.training):
                        m.d.comb += self.run_start.eq(1)
                        m.d.sync += [rev.eq(0), chain.eq(1),
                                     train.eq(self.cmd_op == OP_TRAIN_SAMPLE)]
                        m.next = "START_RUN"

            def seed_or_load():
                if tm.seed > 0:     # a reverse run waits for its dither seed
                    with m.If(rev):
                        m.d.sync += wait.eq(tm.seed - 1)
                        m.next = "SEED"
                    with m.Else():
                        m.next = "LOAD"
                else:
                    m.next = "LOAD"
            waiting("START_RUN", None, seed_or_load)
            waiting("SEED", "LOAD")
            waiting("START_BSP", "BSP")
            with m.State("LOAD"):      # rows in element order: row = e * nb + j
                m.d.comb += op.eq(ISSUE_LOAD)
                with m.If(j == nb - 1):
                    m.d.sync += [j.eq(0), e.eq(e + 1)]
                    with m.If(e == N_ELEMENTS - 1):
                        m.d.sync += [e.eq(0), k.eq(0)]
                        with m.If(steps == 0):
                            m.d.sync += [wait.eq(tm.finish - 1), self.last_half.eq(0)]
                            m.next = "FINISH"
                        with m.Else():
                            goto_after("LOAD_DRAIN", tm.load_drain, "LINK")
                with m.Else():
                    m.d.sync += j.eq(j + 1)
            waiting("LOAD_DRAIN", "LINK")
            with m.State("LINK"):
                m.d.comb += op.eq(ISSUE_LINK)
                m.d.sync += k.eq(k + 1)
                with m.If(k == T - 1):
                    m.d.sync += k.eq(0)
                    goto_after("LINK_DRAIN", tm.link_drain, "NEURON")
            waiting("LINK_DRAIN", "NEURON")
            with m.State("NEURON"):    # neuron by neuron: row = e * nb + j, e fastest
                m.d.comb += op.eq(ISSUE_NEURON)
                with m.If(e == N_ELEMENTS - 1):
                    m.d.sync += [e.eq(0), j.eq(j + 1)]
                    with m.If(j == nb - 1):
                        m.d.sync += j.eq(0)
                        if tm.neuron_drain > 0:
                            m.d.sync += wait.eq(tm.neuron_drain - 1)
                            m.next = "NEURON_DRAIN"
                        else:
                            end_of_step()
                with m.Else():
                    m.d.sync += e.eq(e + 1)
            waiting("NEURON_DRAIN", None, end_of_step)
            with m.State("BSP"):
                m.d.comb += op.eq(ISSUE_BSP)
                m.d.sync += sub.eq(sub + 1)
                with m.If(sub == tm.bsp_slot - 1):
                    m.d.sync += [sub.eq(0), k.eq(k + 1)]
                    with m.If(k == T - 1):
                        m.d.sync += k.eq(0)
                        m.d.sync += wait.eq(tm.bsp_drain + tm.finish - 1)
                        m.next = "FINISH"
            def finish():
                m.d.sync += done.eq(1)
                m.d.comb += self.trained.eq(train)     # done is registered: one clock early
                m.next = "IDLE"

            with m.State("FINISH"):
                with m.If(wait == 0):
                    with m.If(chain & ~rev & ~in_bsp):     # forward run done: the outputs
                        m.d.comb += self.pass_start.eq(1)
                        m.next = "OUTPUTS"
                    with m.Elif(chain & rev):              # reverse run done: accumulate
                        m.d.sync += [rev.eq(0), in_bsp.eq(1), acc.eq(1),
                                     upd.eq(self.batch_end), wait.eq(tm.start - 2),
                                     k.eq(0), sub.eq(0)]
                        m.next = "START_BSP"
                    with m.Else():
                        finish()
                with m.Else():
                    m.d.sync += wait.eq(wait - 1)
            with m.State("OUTPUTS"):                       # the output pass (train.OutputPass)
                with m.If(self.pass_done):
                    with m.If(train):                      # the reverse run on the error
                        m.d.comb += self.dither_fold.eq(tm.seed > 0)
                        m.d.sync += [rev.eq(1), wait.eq(tm.start - 2), k.eq(0), e.eq(0),
                                     j.eq(0), step.eq(0), half.eq(0)]
                        m.next = "START_RUN"
                    with m.Else():
                        finish()
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m
