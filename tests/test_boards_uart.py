# amaranth: UnusedElaboratable=no
# (the argument checks construct cores that raise before they could be used)
"""UART receiver and transmitter: loopback and a bit-level line model, Amaranth simulator."""
import pytest
from amaranth import Module
from amaranth.sim import Simulator

from wuxing.boards.uart import UARTRx, UARTTx, baud_divisor

DIV = 6


def line_bits(byte, stop=1):
    """The line levels of one UART character: start, 8 data bits LSB first, stop."""
    return [0] + [(byte >> i) & 1 for i in range(8)] + [stop]


def test_divisor_checks():
    assert baud_divisor(12e6, 115200) == 104
    with pytest.raises(ValueError):
        baud_divisor(12e6, 5_000_000)
    with pytest.raises(ValueError):
        UARTRx(2)
    with pytest.raises(TypeError):
        UARTTx(4.0)


def test_loopback_all_byte_values():
    m = Module()
    m.submodules.tx = tx = UARTTx(DIV)
    m.submodules.rx = rx = UARTRx(DIV)
    m.d.comb += rx.rx.eq(tx.tx)
    sent = list(range(256))
    got, errors = [], []

    async def send(ctx):
        for b in sent:
            ctx.set(tx.data, b)
            ctx.set(tx.valid, 1)
            await ctx.tick().until(tx.ready)
            await ctx.tick()
        ctx.set(tx.valid, 0)
        await ctx.tick().repeat(12 * DIV)

    async def receive(ctx):
        async for _, _, valid, data, err in ctx.tick().sample(rx.valid, rx.data, rx.error):
            if valid:
                got.append(data)
            if err:
                errors.append(1)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(send)
    sim.add_process(receive)
    sim.run()
    assert got == sent and not errors


def test_receiver_against_line_model():
    """Drive the pin from a bit-level model: good bytes arrive, a low stop bit is an error
    and that byte is dropped, and the receiver recovers."""
    rx = UARTRx(DIV)
    seq = [(0x55, 1), (0xA3, 0), (0x0F, 1), (0xC0, 1)]
    got, errors = [], []

    async def drive(ctx):
        ctx.set(rx.rx, 1)
        await ctx.tick().repeat(3 * DIV)
        for byte, stop in seq:
            for bit in line_bits(byte, stop):
                ctx.set(rx.rx, bit)
                await ctx.tick().repeat(DIV)
            ctx.set(rx.rx, 1)
            await ctx.tick().repeat(2 * DIV)
        await ctx.tick().repeat(3 * DIV)

    async def watch(ctx):
        async for _, _, valid, data, err in ctx.tick().sample(rx.valid, rx.data, rx.error):
            if valid:
                got.append(data)
            if err:
                errors.append(1)

    sim = Simulator(rx)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_process(watch)
    sim.run()
    assert got == [0x55, 0x0F, 0xC0]
    assert len(errors) == 1
