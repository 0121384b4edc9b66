"""cocotb test that serves the simulated board (``wuxing_board``: HostBridge + Network) on a
pseudo-terminal, so that any host program opens it as it opens a board's serial port
(``wuxing train --on-chip --sim``, the recorded serial session of the tests).

The bytes the host writes to the terminal enter the board's UART boundary one a clock; the
bytes the board offers go back to the terminal in one write per request. One request of the
wrapper's byte path (sim/wrapper.py) sends what the terminal holds and runs the clock on
while the board works (``busy``) or sends, until it has been quiet for ``TAIL`` clocks (or
``CHUNK`` clocks have run, or the collecting buffer is full): a request and an answer cost
cocotb one wake-up, not one per byte. When the board is quiet and nothing arrives the test
waits on the terminal without clocking (simulated time only moves when something happens).

Environment: WUXING_SERVE_PTY (the file that receives the terminal's path once the board is
out of reset), WUXING_SERVE_STOP (the file whose existence ends the test).
"""
from __future__ import annotations

import errno
import os
import select
import tty

import cocotb

from wuxing.sim.wrapper import BytePath, Clocking

from .tb_host import _reset

CHUNK = 1_000_000     # clocks run at most in one request while the board works
TAIL = 256            # clocks the board must be quiet (not busy, nothing to send) to end one


def _write_all(fd: int, data: bytes):
    while data:
        select.select([], [fd], [], 1.0)
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:
            continue


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except BlockingIOError:
        return b""
    except OSError as e:      # EIO: no process holds the terminal open just now
        if e.errno != errno.EIO:
            raise
        return b""


@cocotb.test()
async def serve(dut):
    pty_file, stop_file = os.environ["WUXING_SERVE_PTY"], os.environ["WUXING_SERVE_STOP"]
    master, slave = os.openpty()
    tty.setraw(slave)          # bytes pass unchanged (0xC0 frames, no echo, no line editing)
    tty.setraw(master)
    os.set_blocking(master, False)
    clock = Clocking(dut)
    await _reset(dut, clock)
    path = BytePath(clock)
    tmp = pty_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(os.ttyname(slave))
    os.replace(tmp, pty_file)
    served = 0
    quiet = True           # the board was quiet at the end of the last request
    while True:
        data = _read(master)
        if data or not quiet:
            served += len(data)
            got = await path.send(data) if data else b""
            more, ran = await path.collect(CHUNK, until_frame=False, quiet=TAIL)
            got += more
            quiet = ran < CHUNK and not (str(dut.busy.value) == "1" or
                                         str(dut.tx_valid.value) == "1")
            if got:
                _write_all(master, got)
            continue
        if os.path.exists(stop_file):
            break
        select.select([master], [], [], 0.02)
    cocotb.log.info("served %d bytes in %d clocks (%d requests)", served, path.cycles,
                    clock.requests)
    os.close(master)
    os.close(slave)
