"""The co-simulation wrapper: the clock lives inside the simulation, cocotb works in requests.

``wrapper_verilog`` generates, per design, a small Verilog module ``<top>_cosim`` around the
design's top module. It passes every port except ``clk`` through under the same name (the
benches drive ``addr``, ``start``, ``x__0``, ... as before) and adds a clock server:

========================  ====  ============================================================
``wx_until``              in    64 bits: run while ``wx_cycles < wx_until``
``wx_stop_mask``          in    one bit per stop signal (``stop_on``): also stop after a clock
                                edge that leaves an enabled stop signal high (e.g. ``done``)
``wx_req``                in    toggled by the bench with each request (written last); stop
                                signals count only from the request's first clock edge on
``wx_running``            out   a request is being served (its falling edge wakes the bench)
``wx_cycles``             out   64 bits: rising clock edges since time 0
========================  ====  ============================================================

One request is one transaction: the bench sets the design's inputs and the three request
inputs, toggles ``wx_req`` and awaits the falling edge of ``wx_running``; the design runs
alone meanwhile (a whole forward run is one request). Between requests the clock has no edge,
so inputs written then are sampled by the next request's first rising edge and outputs read
then are those after the last rising edge (what the benches did on ``FallingEdge(clk)``).

The clock (period ``PERIOD_NS``) has two sources:

* Icarus: a process in the wrapper toggles ``clk`` with delays while the request lasts: no VPI
  per clock; the simulator wakes cocotb once per request.
* Verilator (built with ``WUXING_HARNESS_CLOCK``, no ``--timing``): ``clk`` is an input driven by
  the C++ main ``sim/verilator_main.cpp``, which evaluates the model in a tight loop while
  ``wx_running`` (here the combinational stop condition) is high: no VPI callback per clock,
  and one model evaluation per clock (the rising edge; see the C++ file).

The cocotb side is :class:`Clocking`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cocotb.triggers import FallingEdge

__all__ = ["PERIOD_NS", "DEFAULT_STOP_ON", "HARNESS_DEFINE", "HARNESS_MAIN", "Port",
           "verilog_ports", "wrapper_name", "wrapper_verilog", "verilator_public_ports",
           "Clocking"]

PERIOD_NS = 10
HARNESS_DEFINE = "WUXING_HARNESS_CLOCK"
HARNESS_MAIN = Path(__file__).resolve().parent / "verilator_main.cpp"
# the outputs a request may stop on, those of them a design has (the benches' "wait for done",
# the board's "a byte to send")
DEFAULT_STOP_ON = ("done", "tx_valid")
# a request with no cycle budget runs until a stop signal (the benches' "wait for done")
NO_LIMIT = 1 << 62

_DECL = re.compile(r"^\s*(input|output|inout)\s+(?:wire\s+|reg\s+)?(?:signed\s+)?"
                   r"(?:\[(\d+):(\d+)\]\s*)?([A-Za-z_][A-Za-z0-9_$]*)\s*;", re.M)


@dataclass(frozen=True)
class Port:
    name: str
    direction: str  # "input" or "output"
    width: int


def verilog_ports(text: str, module: str) -> list[Port]:
    """The ports of ``module`` in Yosys-style Verilog (one ``input [m:l] name;`` a line)."""
    start = re.search(rf"^module\s+{re.escape(module)}\s*\(", text, re.M)
    if start is None:
        raise ValueError(f"module {module} not found in the Verilog")
    end = text.find("\nendmodule", start.end())
    body = text[start.end():end if end >= 0 else len(text)]
    ports = []
    for m in _DECL.finditer(body):
        direction, msb, lsb, name = m.groups()
        if direction == "inout":
            raise ValueError(f"{module}.{name}: inout ports are not supported")
        width = abs(int(msb) - int(lsb)) + 1 if msb is not None else 1
        ports.append(Port(name, direction, width))
    if not ports:
        raise ValueError(f"module {module} has no port declarations")
    return ports


def wrapper_name(top: str) -> str:
    return f"{top}_cosim"


def _decl(width: int) -> str:
    return f"[{width - 1}:0] " if width > 1 else ""


def wrapper_verilog(design_text: str, top: str, stop_on=DEFAULT_STOP_ON) -> str:
    """The wrapper module around ``top`` (found in ``design_text``); ``stop_on``: the design's
    1-bit outputs a request may stop on (those the design does not have are left out)."""
    ports = verilog_ports(design_text, top)
    names = {p.name: p for p in ports}
    if "clk" not in names or names["clk"].direction != "input":
        raise ValueError(f"{top} has no clk input")
    stops = [s for s in stop_on if s in names]
    for s in stops:
        if names[s].direction != "output" or names[s].width != 1:
            raise ValueError(f"stop signal {s} must be a 1-bit output of {top}")
    passed = [p for p in ports if p.name != "clk"]
    n_stop = max(1, len(stops))
    stop_bits = "{" + ", ".join(reversed(stops)) + "}" if stops else "1'b0"
    lines = [
        f"// co-simulation wrapper of {top} (generated by wuxing.sim.wrapper; see its docstring)",
        f"module {wrapper_name(top)} (",
        f"`ifdef {HARNESS_DEFINE}",
        "  input clk,  // driven by sim/verilator_main.cpp while wx_running",
        "`endif",
    ]
    lines += [f"  {p.direction} {_decl(p.width)}{p.name}," for p in passed]
    lines += [
        "  input [63:0] wx_until,",
        f"  input {_decl(n_stop)}wx_stop_mask,  // bit i: stop on {', '.join(stops) or '-'}",
        "  input wx_req,",
        "  output reg [63:0] wx_cycles,",
        "  output wx_running",
        ");",
        f"`ifndef {HARNESS_DEFINE}",
        "  reg clk = 1'b0;  // driven by the clock process below",
        "`endif",
        "  reg wx_seen = 1'b0;  // wx_req at the last rising edge: the request has had a clock",
        "  initial wx_cycles = 64'd0;",
        "  always @(posedge clk) begin",
        "    wx_cycles <= wx_cycles + 64'd1;",
        "    wx_seen <= wx_req;",
        "  end",
        f"  wire [{n_stop - 1}:0] wx_stops = {stop_bits};",
        "  wire wx_go = wx_cycles < wx_until && "
        "!(wx_seen == wx_req && |(wx_stop_mask & wx_stops));",
        f"`ifdef {HARNESS_DEFINE}",
        "  assign wx_running = wx_go;",
        "`else",
        "  // the clock process: serves a request each time wx_req toggles (x/z are no request),",
        "  // checks wx_go half a period after each falling edge, when everything has settled",
        "  reg wx_served = 1'b0;",
        "  reg wx_busy = 1'b0;",
        "  assign wx_running = wx_busy;",
        "  initial forever begin",
        "    wait (wx_req === !wx_served);",
        "    wx_served = wx_req;",
        "    wx_busy = 1'b1;",
        f"    #{PERIOD_NS // 2};",
        "    while (wx_go) begin",
        "      clk = 1'b1;",
        f"      #{PERIOD_NS // 2} clk = 1'b0;",
        f"      #{PERIOD_NS // 2};",
        "    end",
        "    wx_busy = 1'b0;",
        "  end",
        "`endif",
        f"  {top} dut (",
        ",\n".join(f"    .{p.name}({p.name})" for p in ports),
        "  );",
        "endmodule",
        "",
    ]
    return "\n".join(lines)


def verilator_public_ports(top: str, design_text: str) -> str:
    """A Verilator control file that makes only the wrapper's ports visible to VPI (the rest
    of the design is free to be inlined and optimised; ``clk`` belongs to the C++ main)."""
    names = [p.name for p in verilog_ports(design_text, top) if p.name != "clk"]
    names += ["wx_until", "wx_stop_mask", "wx_req", "wx_cycles", "wx_running"]
    w = wrapper_name(top)
    return "`verilator_config\n" + "".join(
        f'public_flat_rw -module "{w}" -var "{n}"\n' for n in names)


class Clocking:
    """The cocotb side of the wrapper: requests of clocks, each one awaited edge.

    ``stop_on``: the stop signals of the wrapper, in the order given to
    :func:`wrapper_verilog` (only those the design has)."""

    def __init__(self, dut, stop_on=DEFAULT_STOP_ON):
        self.dut = dut
        self.stop_on = [s for s in stop_on if hasattr(dut, s)]
        self.cycles = 0  # rising edges since time 0 (the wrapper's wx_cycles)
        self.requests = 0
        self._req = 0
        self._mask = None  # the stop mask last written (VPI writes are kept to the changes)

    def idle(self):
        """The request inputs' reset values (the first request writes them if the bench has
        not)."""
        d = self.dut
        d.wx_until.value = 0
        d.wx_stop_mask.value = self._mask = 0
        d.wx_req.value = self._req = 0

    async def run(self, clocks: int = 1, until=()) -> int:
        """Run ``clocks`` clock cycles, or fewer if one of the signals named in ``until``
        is high after one of them (at least one cycle). Returns the cycles run."""
        if clocks < 1:
            raise ValueError("a request runs at least one clock")
        if self._mask is None:
            self.idle()
        mask = 0
        for name in until:
            if name not in self.stop_on:
                raise ValueError(f"{name} is not a stop signal of this design's wrapper "
                                 f"({', '.join(self.stop_on) or 'none'})")
            mask |= 1 << self.stop_on.index(name)
        d = self.dut
        d.wx_until.value = self.cycles + clocks
        if mask != self._mask:
            d.wx_stop_mask.value = self._mask = mask
        self._req ^= 1
        d.wx_req.value = self._req
        self.requests += 1
        await FallingEdge(d.wx_running)
        if mask:
            now = int(d.wx_cycles.value)
            ran, self.cycles = now - self.cycles, now
        else:
            ran = clocks
            self.cycles += clocks
        return ran

    async def run_until(self, signal: str, limit: int = NO_LIMIT) -> int:
        """Run until ``signal`` is high after a clock (the design runs alone meanwhile)."""
        return await self.run(limit, until=(signal,))
