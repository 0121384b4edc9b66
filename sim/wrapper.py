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

Byte path
---------
A design with a byte-stream boundary (the board's UART side: ``rx_data`` [8] / ``rx_valid`` in,
``tx_data`` [8] / ``tx_valid`` out, ``tx_ready`` in; :data:`BYTE_PORTS`) gets a byte path in
the wrapper, so that one request sends a whole frame and one request collects a whole answer
(cocotb wakes per frame, not per byte). The wrapper drives ``rx_data``, ``rx_valid`` and
``tx_ready`` itself (they are no ports of the wrapper); ``tx_data``/``tx_valid`` pass through.

========================  ====  ============================================================
``wx_io``                 in    this request uses the byte path (0: plain clocks, the design
                                sees ``rx_valid`` 0 and ``tx_ready`` 1)
``wx_rx_data``            in    up to :data:`RX_BYTES` bytes to send (byte i in bits 8i+7..8i)
``wx_rx_count``           in    how many of them
``wx_rx_seq``             in    toggled with each new buffer: its first byte is presented at
                                the next clock edge
``wx_rx_gap``             in    32 bits: clocks per byte (>= 1): a byte is presented
                                (``rx_valid`` high) for one clock, then gap - 1 clocks not
``wx_tx_stall``           in    32 bits: after each byte the design offers, ``tx_ready`` is
                                low for that many clocks (a UART is not always ready), and the
                                receive side pauses meanwhile (stall clocks)
``wx_tx_end``             in    8 bits: the closing byte of a frame (SLIP END)
``wx_tx_primed``          in    the bench already holds a frame's body (a non-END byte)
``wx_io_stop``            in    3 bits: also stop after a clock edge that leaves: bit 0 every
                                byte sent (``wx_rx_drained``), bit 1 a frame closed (an END
                                offered after a non-END byte), bit 2 the design quiet for
                                ``wx_quiet`` clocks (``tx_valid`` and ``busy`` low, every
                                byte sent)
``wx_quiet``              in    16 bits (see ``wx_io_stop``)
``wx_io_budget``          in    32 bits: stop after that many clocks that are not stall
                                clocks (the request's own clocks, from its first edge)
``wx_io_live``            out   32 bits: the request's clocks that were not stall clocks
``wx_tx_data``            out   the bytes the design offered during the request (byte i in
                                bits 8i+7..8i), up to :data:`TX_BYTES`: a request with a full
                                buffer always stops
``wx_tx_count``           out   how many of them
``wx_tx_pend``            out   one more byte is offered after the request's last clock edge:
                                ``tx_data`` (it is the request's last byte; the next clock
                                edge takes it, after the stall clocks)
``wx_rx_drained``         out   every byte of the buffer was sent, its gap clocks included
========================  ====  ============================================================

A byte is offered (recorded) after every clock edge that is not a stall clock and leaves
``tx_valid`` high: this is exactly what the benches did when they woke per byte (run until
``tx_valid``, record ``tx_data``, hold ``tx_ready`` low ``tx_stall`` clocks, go on).
:class:`BytePath` is the cocotb side.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cocotb.triggers import FallingEdge

__all__ = ["PERIOD_NS", "DEFAULT_STOP_ON", "HARNESS_DEFINE", "HARNESS_MAIN", "Port",
           "verilog_ports", "wrapper_name", "wrapper_verilog", "verilator_public_ports",
           "Clocking", "BYTE_PORTS", "RX_BYTES", "TX_BYTES", "has_byte_path", "BytePath"]

PERIOD_NS = 10
HARNESS_DEFINE = "WUXING_HARNESS_CLOCK"
HARNESS_MAIN = Path(__file__).resolve().parent / "verilator_main.cpp"
# the outputs a request may stop on, those of them a design has (the benches' "wait for done",
# the board's "a byte to send")
DEFAULT_STOP_ON = ("done", "tx_valid")
# a request with no cycle budget runs until a stop signal (the benches' "wait for done")
NO_LIMIT = 1 << 62
# the byte-stream boundary that gets the wrapper's byte path: name, direction, width
BYTE_PORTS = (("rx_data", "input", 8), ("rx_valid", "input", 1), ("tx_data", "output", 8),
              ("tx_valid", "output", 1), ("tx_ready", "input", 1))
_DRIVEN = ("rx_data", "rx_valid", "tx_ready")   # driven by the byte path, not by the bench
RX_BYTES = 256          # bytes one request can send
TX_BYTES = 256          # bytes one request can collect
_IO_NO_BUDGET = (1 << 32) - 1
# the byte path's ports of the wrapper (module docstring): declaration, width, name; one table
# for the Verilog and for the ports made public to VPI
_IO_PORTS = (
    ("input", 1, "wx_io"), ("input", 8 * RX_BYTES, "wx_rx_data"),
    ("input", RX_BYTES.bit_length(), "wx_rx_count"), ("input", 1, "wx_rx_seq"),
    ("input", 32, "wx_rx_gap"), ("input", 32, "wx_tx_stall"), ("input", 8, "wx_tx_end"),
    ("input", 1, "wx_tx_primed"), ("input", 3, "wx_io_stop"), ("input", 16, "wx_quiet"),
    ("input", 32, "wx_io_budget"), ("output reg", 32, "wx_io_live"),
    ("output reg", 8 * TX_BYTES, "wx_tx_data"),
    ("output reg", TX_BYTES.bit_length(), "wx_tx_count"), ("output", 1, "wx_tx_pend"),
    ("output", 1, "wx_rx_drained"))

_FUNCTION = re.compile(r"^\s*function\b.*?^\s*endfunction\b", re.M | re.S)
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
    body = _FUNCTION.sub("", body)      # a function's inputs are not the module's ports
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


def has_byte_path(ports) -> bool:
    """Whether a design with these ports (:func:`verilog_ports`) gets the byte path."""
    names = {p.name: p for p in ports}
    return all(n in names and (names[n].direction, names[n].width) == (d, w)
               for n, d, w in BYTE_PORTS)


def _byte_path_verilog(has_busy: bool) -> list[str]:
    """The byte path's logic (see the module docstring): registers clocked with the design."""
    rxb, txb = RX_BYTES.bit_length(), TX_BYTES.bit_length()
    busy = "!busy && " if has_busy else ""
    return [
        "  // the byte path (wuxing.sim.wrapper, \"Byte path\")",
        "  wire wx_first = wx_seen != wx_req;  // before the request's first clock edge",
        "  reg wx_rx_seen = 1'b0;              // wx_rx_seq at the last byte-path edge",
        f"  reg [{rxb - 1}:0] wx_rx_i = 0;       // bytes of the buffer presented",
        "  reg [31:0] wx_rx_wait = 32'd0;     // gap clocks before the next byte",
        "  reg [7:0] wx_rx_last = 8'd0;       // rx_data keeps the last byte presented",
        "  reg [31:0] wx_stall_left = 32'd0;  // stall clocks left after this one",
        "  reg wx_live_last = 1'b0;           // the last edge was a byte-path, not a stall, edge",
        "  reg wx_body = 1'b0;                // a non-END byte was collected",
        "  reg [15:0] wx_quiet_n = 16'd0;     // clocks the design has been quiet",
        "  initial wx_tx_count = 0;",
        "  initial wx_tx_data = 0;",
        "  initial wx_io_live = 32'd0;",
        "  assign wx_tx_pend = wx_live_last && tx_valid;",
        "  wire wx_stalling = wx_io && (wx_stall_left != 32'd0 || "
        "(wx_tx_pend && wx_tx_stall != 32'd0));",
        "  wire wx_restart = wx_rx_seq != wx_rx_seen;",
        f"  wire [{rxb - 1}:0] wx_ri = wx_restart ? {rxb}'d0 : wx_rx_i;",
        "  wire [31:0] wx_rw = wx_restart ? 32'd0 : wx_rx_wait;",
        "  wire wx_rx_left = wx_ri < wx_rx_count;",
        "  wire wx_present = wx_io && !wx_stalling && wx_rw == 32'd0 && wx_rx_left;",
        f"  wire [7:0] wx_rx_byte = wx_rx_data[wx_ri[{rxb - 2}:0] * 8 +: 8];",
        "  assign rx_data = wx_present ? wx_rx_byte : wx_rx_last;",
        "  assign rx_valid = wx_present;",
        "  assign tx_ready = !wx_stalling;",
        "  assign wx_rx_drained = !wx_rx_left && wx_rw == 32'd0;",
        "  always @(posedge clk) begin",
        "    if (wx_io) begin",
        "      wx_rx_seen <= wx_rx_seq;",
        "      wx_live_last <= !wx_stalling;",
        "      wx_io_live <= (wx_first ? 32'd0 : wx_io_live) + {31'd0, !wx_stalling};",
        "      if (wx_stalling) begin",
        "        wx_stall_left <= (wx_stall_left != 32'd0 ? wx_stall_left : wx_tx_stall) - 32'd1;",
        "        wx_rx_i <= wx_ri;",
        "        wx_rx_wait <= wx_rw;",
        "      end else if (wx_present) begin",
        f"        wx_rx_i <= wx_ri + {rxb}'d1;",
        "        wx_rx_wait <= wx_rx_gap - 32'd1;",
        "        wx_rx_last <= wx_rx_byte;",
        "      end else begin",
        "        wx_rx_i <= wx_ri;",
        "        wx_rx_wait <= wx_rw != 32'd0 ? wx_rw - 32'd1 : 32'd0;",
        "      end",
        "      if (wx_first) begin  // the bench has read what the last request collected",
        f"        wx_tx_count <= {txb}'d0;",
        "        wx_body <= wx_tx_primed;",
        "      end else if (wx_tx_pend) begin",
        f"        wx_tx_data[wx_tx_count[{txb - 2}:0] * 8 +: 8] <= tx_data;",
        f"        wx_tx_count <= wx_tx_count + {txb}'d1;",
        "        if (tx_data != wx_tx_end) wx_body <= 1'b1;",
        "      end",
        f"      if ({busy}!tx_valid && wx_rx_drained)",
        "        wx_quiet_n <= (wx_first ? 16'd0 : wx_quiet_n) + "
        "{15'd0, wx_first || wx_quiet_n != 16'hFFFF};",
        "      else",
        "        wx_quiet_n <= 16'd0;",
        "    end else",
        "      wx_live_last <= 1'b0;   // plain clocks offer nothing to the bench",
        "  end",
        f"  wire wx_io_done = wx_io && (wx_tx_count == {txb}'d{TX_BYTES} || "
        "wx_io_live >= wx_io_budget ||",
        "    (wx_io_stop[0] && wx_rx_drained) ||",
        "    (wx_io_stop[1] && wx_tx_pend && tx_data == wx_tx_end && wx_body) ||",
        "    (wx_io_stop[2] && wx_quiet_n >= wx_quiet));",
    ]


def wrapper_verilog(design_text: str, top: str, stop_on=DEFAULT_STOP_ON) -> str:
    """The wrapper module around ``top`` (found in ``design_text``); ``stop_on``: the design's
    1-bit outputs a request may stop on (those the design does not have are left out). A
    design with :data:`BYTE_PORTS` gets the byte path (module docstring)."""
    ports = verilog_ports(design_text, top)
    names = {p.name: p for p in ports}
    if "clk" not in names or names["clk"].direction != "input":
        raise ValueError(f"{top} has no clk input")
    stops = [s for s in stop_on if s in names]
    for s in stops:
        if names[s].direction != "output" or names[s].width != 1:
            raise ValueError(f"stop signal {s} must be a 1-bit output of {top}")
    io = has_byte_path(ports)
    passed = [p for p in ports if p.name != "clk" and not (io and p.name in _DRIVEN)]
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
    if io:
        lines += [f"  {kind} {_decl(width)}{name}," for kind, width, name in _IO_PORTS]
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
    ]
    if io:
        lines += ["  wire rx_valid, tx_ready;", "  wire [7:0] rx_data;"]
    lines += [
        "  reg wx_seen = 1'b0;  // wx_req at the last rising edge: the request has had a clock",
        "  initial wx_cycles = 64'd0;",
        "  always @(posedge clk) begin",
        "    wx_cycles <= wx_cycles + 64'd1;",
        "    wx_seen <= wx_req;",
        "  end",
        f"  wire [{n_stop - 1}:0] wx_stops = {stop_bits};",
    ]
    if io:
        lines += _byte_path_verilog("busy" in names and names["busy"].direction == "output"
                                    and names["busy"].width == 1)
    else:
        lines += ["  wire wx_io_done = 1'b0;"]
    lines += [
        "  wire wx_go = wx_cycles < wx_until && "
        "!(wx_seen == wx_req && (|(wx_stop_mask & wx_stops) || wx_io_done));",
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
    ports = verilog_ports(design_text, top)
    io = has_byte_path(ports)
    names = [p.name for p in ports if p.name != "clk" and not (io and p.name in _DRIVEN)]
    names += [name for _, _, name in _IO_PORTS] if io else []
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
        self._io = None    # wx_io last written (designs with the byte path)

    def idle(self):
        """The request inputs' reset values (the first request writes them if the bench has
        not)."""
        d = self.dut
        d.wx_until.value = 0
        d.wx_stop_mask.value = self._mask = 0
        d.wx_req.value = self._req = 0
        if hasattr(d, "wx_io"):
            d.wx_io.value = self._io = 0

    async def run(self, clocks: int = 1, until=(), io: bool = False) -> int:
        """Run ``clocks`` clock cycles, or fewer if one of the signals named in ``until``
        is high after one of them (at least one cycle). Returns the cycles run. ``io``: a
        request of the byte path (:class:`BytePath`; it may stop early too)."""
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
        if io != bool(self._io):
            if self._io is None:
                raise ValueError("this design's wrapper has no byte path")
            d.wx_io.value = self._io = int(io)
        self._req ^= 1
        d.wx_req.value = self._req
        self.requests += 1
        await FallingEdge(d.wx_running)
        if mask or io:
            now = int(d.wx_cycles.value)
            ran, self.cycles = now - self.cycles, now
        else:
            ran = clocks
            self.cycles += clocks
        return ran

    async def run_until(self, signal: str, limit: int = NO_LIMIT) -> int:
        """Run until ``signal`` is high after a clock (the design runs alone meanwhile)."""
        return await self.run(limit, until=(signal,))


class BytePath:
    """The cocotb side of the wrapper's byte path (module docstring, "Byte path"): one
    request sends a buffer of bytes or collects the design's bytes until a frame closes, the
    design goes quiet or a clock budget is spent.

    ``rx_gap``: clocks per byte sent (>= 1); ``tx_stall``: clocks ``tx_ready`` stays low
    after each byte the design offers; ``frame_end``: the byte that closes a frame (SLIP
    END). ``cycles``: clock edges since this object was made (stall clocks included)."""

    def __init__(self, clock: Clocking, rx_gap: int = 1, tx_stall: int = 0,
                 frame_end: int = 0xC0):
        for name, v, lo, hi in (("rx_gap", rx_gap, 1, _IO_NO_BUDGET),
                                ("tx_stall", tx_stall, 0, _IO_NO_BUDGET),
                                ("frame_end", frame_end, 0, 0xFF)):
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise ValueError(f"{name} must be an int in {lo}..{hi}, got {v!r}")
        if not hasattr(clock.dut, "wx_io"):
            raise ValueError("this design's wrapper has no byte path (its ports: "
                             f"{', '.join(n for n, _, _ in BYTE_PORTS)})")
        self.clock, self.dut = clock, clock.dut
        self.rx_gap, self.tx_stall, self.frame_end = rx_gap, tx_stall, frame_end
        self._written = {}     # the byte path's inputs as last written (writes kept to changes)
        try:                   # toggled per buffer: from where an earlier bench left it
            self._rx_seq = int(clock.dut.wx_rx_seq.value)
        except ValueError:     # never written (Icarus: z)
            self._rx_seq = 0
        self.start = clock.cycles
        self.requests = 0

    @property
    def cycles(self) -> int:
        return self.clock.cycles - self.start

    def _set(self, name: str, value: int):
        if self._written.get(name) != value:
            getattr(self.dut, name).value = self._written[name] = value

    async def _request(self, stop: int, budget: int, quiet: int = 0, primed: bool = False):
        """One request of the byte path; returns (the bytes offered, the clocks that were not
        stall clocks, whether the collecting buffer filled)."""
        d = self.dut
        for name, value in (("wx_rx_seq", self._rx_seq), ("wx_rx_count", 0), ("wx_rx_data", 0)):
            if name not in self._written:      # defined before the first send
                self._set(name, value)
        self._set("wx_rx_gap", self.rx_gap)
        self._set("wx_tx_stall", self.tx_stall)
        self._set("wx_tx_end", self.frame_end)
        self._set("wx_io_stop", stop)
        self._set("wx_quiet", quiet)
        self._set("wx_io_budget", min(budget, _IO_NO_BUDGET))
        self._set("wx_tx_primed", int(primed))
        self.requests += 1
        await self.clock.run(NO_LIMIT - self.clock.cycles, io=True)
        n = int(d.wx_tx_count.value)
        out = bytearray()
        if n:
            out += int(d.wx_tx_data.value).to_bytes(TX_BYTES, "little")[:n]
        if str(d.wx_tx_pend.value) == "1":
            out.append(int(d.tx_data.value))
        return bytes(out), int(d.wx_io_live.value), n == TX_BYTES

    async def send(self, data: bytes) -> bytes:
        """Present ``data`` to the design, a byte every ``rx_gap`` clocks (stall clocks
        aside), up to the last byte's gap clocks; returns the bytes the design offered
        meanwhile."""
        got = bytearray()
        for i in range(0, len(data), RX_BYTES):
            chunk = bytes(data[i:i + RX_BYTES])
            self._set("wx_rx_data", int.from_bytes(chunk, "little"))
            self._set("wx_rx_count", len(chunk))
            self._rx_seq ^= 1
            self._set("wx_rx_seq", self._rx_seq)
            while True:
                out, _, _ = await self._request(stop=1, budget=_IO_NO_BUDGET)
                got += out
                if str(self.dut.wx_rx_drained.value) == "1":
                    break
        return bytes(got)

    async def collect(self, clocks: int, until_frame: bool = True, primed: bool = False,
                      quiet: int = 0) -> tuple[bytes, int]:
        """Run up to ``clocks`` clocks (stall clocks aside); stop early after a clock that
        leaves a frame's closing byte offered (``until_frame``; ``primed``: a frame's body was
        collected before), or once the design has been quiet ``quiet`` clocks (0: never).
        Returns (the bytes offered, the clocks run, stall clocks aside)."""
        if clocks < 1:
            raise ValueError("a request runs at least one clock")
        got, ran = bytearray(), 0
        stop = (2 if until_frame else 0) | (4 if quiet else 0)
        while ran < clocks:
            out, live, full = await self._request(stop, clocks - ran, quiet,
                                                  primed or self._body(got))
            got += out
            ran += live
            if not full or (until_frame and got[-1] == self.frame_end and
                            (primed or self._body(got[:-1]))):
                break
        return bytes(got), ran

    def _body(self, got) -> bool:
        return any(b != self.frame_end for b in got)
