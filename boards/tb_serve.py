"""cocotb test that serves the simulated board (``wuxing_board``: HostBridge + Network) on a
pseudo-terminal, so that any host program opens it as it opens a board's serial port
(``wuxing train --on-chip --sim``, the recorded serial session of the tests).

The bytes the host writes to the terminal enter the board's UART boundary one a clock; the
bytes the board offers go back to the terminal as they come. The clock runs while the board
works (``busy``) or sends; when it is idle and nothing arrives the test waits on the terminal
without clocking (simulated time only moves when something happens).

Environment: WUXING_SERVE_PTY (the file that receives the terminal's path once the board is
out of reset), WUXING_SERVE_STOP (the file whose existence ends the test).
"""
from __future__ import annotations

import errno
import os
import select
import tty

import cocotb

from .tb_host import SimTransport, _reset

CHUNK = 20_000        # clocks run at a time while the board works
TAIL = 256            # clocks run after busy and tx_valid fell (the sender's last bytes)


def _write_all(fd: int, data: bytes):
    while data:
        select.select([], [fd], [], 1.0)
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:
            continue


@cocotb.test()
async def serve(dut):
    pty_file, stop_file = os.environ["WUXING_SERVE_PTY"], os.environ["WUXING_SERVE_STOP"]
    master, slave = os.openpty()
    tty.setraw(slave)          # bytes pass unchanged (0xC0 frames, no echo, no line editing)
    tty.setraw(master)
    os.set_blocking(master, False)
    sim = SimTransport(dut)
    await _reset(dut, sim.clock)
    tmp = pty_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(os.ttyname(slave))
    os.replace(tmp, pty_file)
    quiet = TAIL
    served = 0
    while True:
        if sim.received:
            _write_all(master, bytes(sim.received))
            sim.received.clear()
        try:
            data = os.read(master, 4096)
        except BlockingIOError:
            data = b""
        except OSError as e:      # EIO: no process holds the terminal open just now
            if e.errno != errno.EIO:
                raise
            data = b""
        if data:
            served += len(data)
            await sim._send(data)
            quiet = 0
            continue
        active = str(dut.busy.value) == "1" or str(dut.tx_valid.value) == "1"
        if active or quiet < TAIL:
            ran = await sim._clock(CHUNK if active else TAIL - quiet)
            quiet = 0 if active else quiet + ran
            continue
        if os.path.exists(stop_file):
            break
        select.select([master], [], [], 0.02)
    cocotb.log.info("served %d bytes in %d clocks", served, sim.cycles)
    os.close(master)
    os.close(slave)
