"""The host bridge: frames from the UART in, commands on the Network control port, responses out.

Implements the commands of :mod:`boards.protocol` on :class:`hdl.network.Network` (its control
port and address map: docs/HARDWARE.md). A frame is stored whole in a buffer and checked
(CRC) before the command looks at it; commands that write first check every value against
its register's range, then write: a refused or broken command changes nothing. While a command
runs, the receiver holds the buffer: a frame that ends meanwhile is dropped (and counted), so
the host waits for each response before it sends the next request.
"""
from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from wuxing.golden.neuron import N_ELEMENTS
from wuxing.hdl.engine import NetworkEngine
from wuxing.hdl.fixed import saturate_expr
from wuxing.hdl.network import (ADDR_WIDTH, INDEX_BITS, INFO, OP_BSP, OP_EVAL_SAMPLE,
                                OP_FORWARD, OP_REVERSE, OP_TRAIN_SAMPLE, REGION_PIXELS, Network,
                                address)

from .link import FrameReceiver, FrameSender
from .protocol import (CRC_BYTES, MAX_CHUNK, MAX_PAYLOAD, SAMPLE_FORMAT, SAMPLE_HEAD,
                       STATUS_FORMAT, WRITABLE_REGS, Cmd, DeviceInfo, Flags, Status,
                       max_payload_for)

__all__ = ["HostBridge"]


class HostBridge(wiring.Component):
    """Protocol engine between a byte stream (the UART) and a :class:`~hdl.network.Network`.

    Parameters: ``network``: the Network (a submodule of this bridge); ``info``: the
    :class:`~boards.protocol.DeviceInfo` answered to IDENTIFY.

    Ports: ``rx_data``/``rx_valid`` (in: received bytes, strobes); ``tx_data``/``tx_valid``/
    ``tx_ready`` (towards the UART transmitter); ``frames_ok``, ``frames_dropped``,
    ``train_steps`` (out, 32-bit wrapping counters); ``busy`` (out: a command runs).

    On a network that learns on the chip (``network.learns``: the engine, ``SerialNetwork``,
    the unrolled Network with constant K) the bridge also serves TRAIN_SAMPLE / EVAL_SAMPLE
    (one sample in one frame: the 8-bit pixels go to region 8, the label to its register,
    then the network's op 3 or 4 runs and the answer holds the flags and the predicted class)
    and READ_REG / WRITE_REG (the region-7 registers: batch size, step, counters). Its frame
    buffer then holds a sample (:func:`~boards.protocol.max_payload_for`). On an unrolled
    Network with K registers (``k_mode="reg"``) those four commands are unknown.

    The bridge reads the network's memories only between runs: a command starts only when the
    previous one has answered, and FORWARD and TRAIN answer after the network's ``done``, so
    a read never meets a busy network (whose memory reads are unspecified while it runs).
    """

    # clocks from a state that addresses the network to the network seeing the address
    PORT_DELAY = 1

    def __init__(self, network: Network, info: DeviceInfo):
        if not isinstance(network, (Network, NetworkEngine)):
            raise TypeError(f"network must be a hdl.network.Network or NetworkEngine, not "
                            f"{type(network).__name__}")
        if not isinstance(info, DeviceInfo):
            raise TypeError(f"info must be a DeviceInfo, not {type(info).__name__}")
        if network.data_width != 32:
            raise ValueError(f"the bridge sends 32-bit words; this network's data width is "
                             f"{network.data_width}")
        t = network.topology
        if (info.n_inputs, info.n_outputs, info.n_links, info.n_neurons) != (
                t.layers[0], t.layers[-1], t.n_links, t.n_neurons):
            raise ValueError("info describes another network than the one given")
        if t.layers[-1] > MAX_CHUNK:
            raise ValueError(f"{t.layers[-1]} outputs: READ_OUTPUT and TRAIN carry at most "
                             f"{MAX_CHUNK} values")
        # every coefficient and every integral within the control port's index field
        if max(t.n_links, N_ELEMENTS * t.n_neurons) > 1 << INDEX_BITS:
            raise ValueError(f"{t.n_links} links / {N_ELEMENTS * t.n_neurons} integrals do not "
                             f"fit the control port's {INDEX_BITS}-bit index")
        self.network, self.info = network, info
        # learning on the chip: TRAIN_SAMPLE / EVAL_SAMPLE and the registers
        self.learns = network.learns
        self.max_payload = max_payload_for(t.layers[0]) if self.learns else MAX_PAYLOAD
        if self.learns and t.layers[-1] >= 1 << 16:
            raise ValueError(f"{t.layers[-1]} outputs: the sample commands' label is 16 bits")
        super().__init__({
            "rx_data": In(8), "rx_valid": In(1),
            "tx_data": Out(8), "tx_valid": Out(1), "tx_ready": In(1),
            "frames_ok": Out(32), "frames_dropped": Out(32), "train_steps": Out(32),
            "busy": Out(1),
        })

    @classmethod
    def for_design(cls, design, *, spram: bool = False) -> "HostBridge":
        """The bridge and Network of an :class:`hdl.generate.Design` (``spram``: see
        :func:`hdl.generate.build_component`)."""
        from wuxing.hdl.generate import build_component
        net = build_component(design, spram=spram)
        info = DeviceInfo.for_design(design.topology, design.cfg, design.neuron, design.fmt,
                                     design.table)
        return cls(net, info)

    def elaborate(self, platform):
        m = Module()
        net, hw = self.network, self.network.hw
        fmt = hw.fmt
        n_in, n_out, n_links = net.n_inputs, net.n_outputs, net.topology.n_links
        m.submodules.network = net
        max_payload = self.max_payload
        m.submodules.receiver = rx = FrameReceiver(max_payload)
        m.submodules.sender = tx = FrameSender()
        # the payload, then the CRC bytes the receiver writes after it
        m.submodules.buffer = buf = Memory(shape=8, depth=max_payload + CRC_BYTES, init=[])
        wr = buf.write_port()
        rd = buf.read_port(transparent_for=())
        m.d.comb += [rx.data.eq(self.rx_data), rx.valid.eq(self.rx_valid),
                     wr.addr.eq(rx.wr_addr), wr.data.eq(rx.wr_data), wr.en.eq(rx.wr_en),
                     self.tx_data.eq(tx.tx_data), self.tx_valid.eq(tx.tx_valid),
                     tx.tx_ready.eq(self.tx_ready),
                     self.frames_ok.eq(rx.frames_ok), self.frames_dropped.eq(rx.frames_dropped)]

        # the frame's argument bytes (length - 2) and the checks of a value list, registered
        # a state before they are used: no subtract-compare chain before a state decision
        n_args = Signal(range(-2, max_payload + 1))
        short = Signal()                             # length < 2
        n_vals = Signal(range(max_payload + 1))      # values of WRITE_COEF / WRITE_INPUT
        vals_bad = Signal()                          # their byte count is wrong
        end_idx = Signal(34)                         # start + count of the command
        r_cnt = Signal(8)                            # READ_COEF's count byte
        cmd, seq, status = Signal(8), Signal(8), Signal(8)
        ptr = Signal(range(max_payload + CRC_BYTES))  # buffer read pointer
        m.d.comb += rd.addr.eq(ptr)
        word = Signal(32)                            # a value being assembled / sent
        # the network's address, write enable and data come from registers (PORT_DELAY): the
        # 24-bit base + index add ends in a register, not in the network's command decode
        port_addr, port_we = Signal(ADDR_WIDTH), Signal()
        port_wdata = Signal(signed(32))
        fetch_wait = Signal(range(net.read_latency + self.PORT_DELAY))
        nbyte = Signal(3)
        # the value pass of WRITE_COEF / WRITE_INPUT / TRAIN
        v_first = Signal(range(max_payload + 1))     # byte offset of the first value
        v_count = Signal(range(max(MAX_CHUNK, n_out) + 1))
        v_index = Signal.like(v_count)
        v_base = Signal(ADDR_WIDTH)                  # network address of the first value
        # the range the values must be in: the state format's, the coefficients' (C clamps)
        # or any 32-bit value (a register), compared with constants (narrow compares)
        RANGE_STATE, RANGE_COEF, RANGE_ANY = range(3)
        v_range = Signal(2)
        v_writing = Signal()                         # pass 2 (write) after pass 1 (check)
        start_idx = Signal(32)                       # the u32 start of WRITE_COEF/READ_COEF/WRITE_INPUT
        r_count = Signal(8)
        # the sample commands: label, pixel index, the answer's flags and predicted class
        label = Signal(16)
        p_index = Signal(range(n_in + 1))
        predicted = Signal(16)
        reg_wait = Signal(range(net.read_latency + self.PORT_DELAY + 1))
        info_base = Const(address("info", 0), ADDR_WIDTH)
        # flags and counters
        fwd_ovf, rev_ovf, fwd_valid = Signal(), Signal(), Signal()
        train_steps = Signal(32)
        m.d.comb += self.train_steps.eq(train_steps)
        sample_ovf = Signal()                        # the last TRAIN/EVAL_SAMPLE saturated
        flags = Cat(fwd_ovf, rev_ovf, fwd_valid, sample_ovf, Const(0, 4))

        # the response: header, then data from one source
        SRC_NONE, SRC_INFO, SRC_WORDS, SRC_STATUS, SRC_FLAGS, SRC_SAMPLE = range(6)
        src = Signal(3)
        info_bytes = self.info.pack()
        info_rom = Array(Const(b, 8) for b in info_bytes)
        # STATUS_FORMAT: flags u8, frames_ok, frames_dropped, train_steps (u32 LE each)
        status_bytes = Array([flags] + [counter.word_select(i, 8)
                                        for counter in (rx.frames_ok, rx.frames_dropped,
                                                        train_steps) for i in range(4)])
        assert len(status_bytes) == STATUS_FORMAT.size
        # SAMPLE_FORMAT: flags u8, predicted u16 LE
        sample_bytes = Array([Cat(Const(0, 3), sample_ovf, Const(0, 4)), predicted[:8],
                              predicted[8:]])
        assert len(sample_bytes) == SAMPLE_FORMAT.size and Flags.SAMPLE_OVERFLOW == 1 << 3
        resp_len = Signal(range(4 + 4 * max(MAX_CHUNK, n_out) + len(info_bytes)))
        k = Signal.like(resp_len)                   # response byte index
        # k - 3 (the data byte index) kept in a register beside k: no subtract before the
        # byte multiplexer and the sender's CRC (the iCEBreaker's critical path)
        k_data = Signal.like(resp_len)
        w_base = Signal(ADDR_WIDTH)
        w_index = Signal(8)

        net_op = Signal(2)
        m.d.comb += [net.addr.eq(port_addr), net.we.eq(port_we), net.wdata.eq(port_wdata),
                     net.start.eq(0), net.op.eq(net_op)]
        m.d.sync += [port_addr.eq(0), port_we.eq(0)]      # unless a state below sets them
        m.d.comb += [rx.hold.eq(self.busy), tx.length.eq(resp_len)]

        def respond(st, source, data_len):
            m.d.sync += [status.eq(st), src.eq(source), resp_len.eq(3 + data_len), k.eq(0),
                         k_data.eq(-3)]
            m.next = "SEND"

        with m.FSM(name="bridge") as fsm:
            with m.State("IDLE"):
                with m.If(rx.done):
                    m.d.sync += [n_args.eq(rx.length - 2),
                                 short.eq(rx.length < 2), ptr.eq(0)]
                    m.next = "CMD"
            with m.State("CMD"):            # rd.data = buf[0] next cycle
                m.d.sync += ptr.eq(1)
                m.next = "SEQ"
            with m.State("SEQ"):
                m.d.sync += [cmd.eq(rd.data), ptr.eq(2)]
                m.next = "DECODE"
            with m.State("DECODE"):
                m.d.sync += seq.eq(rd.data)
                with m.If(short):
                    respond(Status.BAD_LENGTH, SRC_NONE, 0)
                with m.Else():
                    with m.Switch(cmd):
                        with m.Case(Cmd.IDENTIFY):
                            with m.If(n_args != 0):
                                respond(Status.BAD_LENGTH, SRC_NONE, 0)
                            with m.Else():
                                respond(Status.OK, SRC_INFO, len(info_bytes))
                        with m.Case(Cmd.STATUS):
                            with m.If(n_args != 0):
                                respond(Status.BAD_LENGTH, SRC_NONE, 0)
                            with m.Else():
                                respond(Status.OK, SRC_STATUS, STATUS_FORMAT.size)
                        with m.Case(Cmd.READ_OUTPUT):
                            with m.If(n_args != 0):
                                respond(Status.BAD_LENGTH, SRC_NONE, 0)
                            with m.Else():
                                m.d.sync += [w_base.eq(address("output", 0)),
                                             r_count.eq(n_out)]
                                respond(Status.OK, SRC_WORDS, 4 * n_out)
                        with m.Case(Cmd.FORWARD):
                            with m.If(n_args != 0):
                                respond(Status.BAD_LENGTH, SRC_NONE, 0)
                            with m.Else():
                                m.d.sync += net_op.eq(OP_FORWARD)
                                m.next = "FORWARD"
                        with m.Case(Cmd.TRAIN):
                            with m.If(n_args != 4 * n_out):
                                respond(Status.BAD_LENGTH, SRC_NONE, 0)
                            with m.Elif(~fwd_valid):
                                respond(Status.NO_FORWARD, SRC_NONE, 0)
                            with m.Else():
                                m.d.sync += [v_first.eq(2), v_count.eq(n_out),
                                             v_base.eq(address("error", 0)),
                                             v_range.eq(RANGE_STATE)]
                                m.next = "VALUES"
                        if self.learns:
                            with m.Case(Cmd.TRAIN_SAMPLE, Cmd.EVAL_SAMPLE):
                                with m.If(n_args != SAMPLE_HEAD - 2 + n_in):
                                    respond(Status.BAD_LENGTH, SRC_NONE, 0)
                                with m.Else():
                                    m.d.sync += [ptr.eq(3), nbyte.eq(0)]
                                    m.next = "LABEL"
                            with m.Case(Cmd.READ_REG):
                                with m.If(n_args != 1):
                                    respond(Status.BAD_LENGTH, SRC_NONE, 0)
                                with m.Else():
                                    m.next = "REG_INDEX"
                            with m.Case(Cmd.WRITE_REG):
                                with m.If(n_args != 5):
                                    respond(Status.BAD_LENGTH, SRC_NONE, 0)
                                with m.Else():
                                    m.next = "REG_INDEX"
                        with m.Case(Cmd.WRITE_COEF, Cmd.READ_COEF, Cmd.WRITE_INPUT):
                            with m.If(n_args < 5):
                                respond(Status.BAD_LENGTH, SRC_NONE, 0)
                            with m.Else():
                                m.d.sync += [ptr.eq(3), nbyte.eq(0)]
                                m.next = "START"
                        with m.Default():
                            respond(Status.UNKNOWN_COMMAND, SRC_NONE, 0)
            # start index (u32 LE, buf[2..5]) of WRITE_COEF / READ_COEF / WRITE_INPUT ---------
            with m.State("START"):          # rd.data = buf[2 + nbyte]
                m.d.sync += [start_idx.eq(Cat(start_idx[8:], rd.data)), ptr.eq(ptr + 1),
                             nbyte.eq(nbyte + 1)]
                vals = (n_args - 4) >> 2              # n_args >= 5 here
                m.d.sync += [n_vals.eq(vals), vals_bad.eq(((n_args - 4) & 3 != 0) | (vals == 0)
                                                          | (vals > MAX_CHUNK))]
                with m.If(nbyte == 3):
                    m.next = "COUNT"
            with m.State("COUNT"):          # rd.data = buf[6]; start_idx complete
                m.d.sync += [r_cnt.eq(rd.data),
                             end_idx.eq(start_idx + Mux(cmd == Cmd.READ_COEF, rd.data, n_vals))]
                m.next = "CHECK"
            with m.State("CHECK"):
                with m.If(cmd == Cmd.READ_COEF):
                    cnt = r_cnt
                    with m.If(n_args != 5):
                        respond(Status.BAD_LENGTH, SRC_NONE, 0)
                    with m.Elif((cnt == 0) | (cnt > MAX_CHUNK) | (end_idx > n_links)):
                        respond(Status.BAD_RANGE, SRC_NONE, 0)
                    with m.Else():
                        m.d.sync += [w_base.eq(address("coef", 0) + start_idx),
                                     r_count.eq(cnt)]
                        respond(Status.OK, SRC_WORDS, cnt << 2)
                with m.Else():               # WRITE_COEF or WRITE_INPUT: start, values
                    is_input = cmd == Cmd.WRITE_INPUT
                    with m.If(vals_bad):
                        respond(Status.BAD_LENGTH, SRC_NONE, 0)
                    with m.Elif(end_idx > Mux(is_input, n_in, n_links)):
                        respond(Status.BAD_RANGE, SRC_NONE, 0)
                    with m.Elif(is_input):
                        m.d.sync += [v_first.eq(6), v_count.eq(n_vals),
                                     v_base.eq(address("input", 0) + start_idx),
                                     v_range.eq(RANGE_STATE)]
                        m.next = "VALUES"
                    with m.Else():
                        m.d.sync += [v_first.eq(6), v_count.eq(n_vals),
                                     v_base.eq(address("coef", 0) + start_idx),
                                     v_range.eq(RANGE_COEF)]
                        m.next = "VALUES"
            # TRAIN_SAMPLE / EVAL_SAMPLE: label (buf[2..3]), pixels (buf[4..]); the writes to
            # the network through the port registers (PORT_DELAY), as every other write ------
            if self.learns:
                with m.State("LABEL"):          # rd.data = buf[2 + nbyte]
                    m.d.sync += [label.eq(Cat(label[8:], rd.data)), ptr.eq(ptr + 1),
                                 nbyte.eq(nbyte + 1)]
                    with m.If(nbyte == 1):
                        m.next = "LABEL_CHECK"
                with m.State("LABEL_CHECK"):
                    with m.If(label >= n_out):
                        respond(Status.BAD_RANGE, SRC_NONE, 0)
                    with m.Else():
                        m.d.sync += [ptr.eq(SAMPLE_HEAD), p_index.eq(0)]
                        m.next = "P_BYTE"
                with m.State("P_BYTE"):         # wait for rd.data = buf[ptr]
                    m.next = "P_WRITE"
                with m.State("P_WRITE"):        # pixel p_index: its byte to region 8
                    m.d.sync += [port_addr.eq((REGION_PIXELS << INDEX_BITS) | p_index),
                                 port_we.eq(1), port_wdata.eq(rd.data),
                                 ptr.eq(ptr + 1), p_index.eq(p_index + 1)]
                    with m.If(p_index + 1 == n_in):
                        m.next = "P_LABEL"
                    with m.Else():
                        m.next = "P_BYTE"
                with m.State("P_LABEL"):
                    m.d.sync += [port_addr.eq(address("info", INFO["label"])), port_we.eq(1),
                                 port_wdata.eq(label)]
                    m.next = "P_RUN"
                with m.State("P_RUN"):          # the command register: the engine's op 3 or 4
                    m.d.sync += [port_addr.eq(address("info", INFO["command"])), port_we.eq(1),
                                 port_wdata.eq(Mux(cmd == Cmd.TRAIN_SAMPLE, OP_TRAIN_SAMPLE,
                                                   OP_EVAL_SAMPLE))]
                    m.next = "P_WAIT"
                with m.State("P_WAIT"):
                    with m.If(net.done):
                        # the integrals are the sample's (after TRAIN_SAMPLE the reverse run's,
                        # and C may have changed): FORWARD must run before a TRAIN
                        m.d.sync += [sample_ovf.eq(net.overflow), fwd_valid.eq(0),
                                     reg_wait.eq(net.read_latency + self.PORT_DELAY)]
                        with m.If(cmd == Cmd.TRAIN_SAMPLE):
                            m.d.sync += train_steps.eq(train_steps + 1)
                        m.next = "P_PREDICTED"
                with m.State("P_PREDICTED"):    # the predicted register: PORT_DELAY +
                    #                                 read_latency clocks
                    m.d.sync += port_addr.eq(address("info", INFO["predicted"]))
                    with m.If(reg_wait == 0):
                        m.d.sync += predicted.eq(net.rdata)
                        respond(Status.OK, SRC_SAMPLE, SAMPLE_FORMAT.size)
                    with m.Else():
                        m.d.sync += reg_wait.eq(reg_wait - 1)
            # READ_REG / WRITE_REG: index u8 (buf[2]), WRITE_REG's value (buf[3..6]) ----------
            with m.State("REG_INDEX"):      # rd.data = buf[2]
                index = rd.data
                writable = Cat(index == INFO[name] for name in WRITABLE_REGS).any()
                with m.If(cmd == Cmd.READ_REG):
                    with m.If(index >= len(INFO)):
                        respond(Status.BAD_RANGE, SRC_NONE, 0)
                    with m.Else():
                        m.d.sync += [w_base.eq(info_base | index), r_count.eq(1)]
                        respond(Status.OK, SRC_WORDS, 4)
                with m.Elif(~writable):
                    respond(Status.BAD_RANGE, SRC_NONE, 0)
                with m.Else():
                    m.d.sync += [v_first.eq(3), v_count.eq(1), v_base.eq(info_base | index),
                                 v_range.eq(RANGE_ANY)]
                    m.next = "VALUES"
            # the value pass: check every value (pass 1), then write them (pass 2) ---------
            with m.State("VALUES"):
                m.d.sync += [v_index.eq(0), v_writing.eq(0), ptr.eq(v_first), nbyte.eq(0)]
                m.next = "V_BYTE"
            with m.State("V_BYTE"):         # wait for rd.data = buf[ptr]
                m.next = "V_TAKE"
            with m.State("V_TAKE"):
                m.d.sync += [word.eq(Cat(word[8:], rd.data)), ptr.eq(ptr + 1),
                             nbyte.eq(nbyte + 1)]
                with m.If(nbyte == 3):
                    m.next = "V_WORD"
                with m.Else():
                    m.next = "V_BYTE"
            with m.State("V_WORD"):
                value = word.as_signed()
                with m.If(~v_writing):
                    outside = Mux(v_range == RANGE_STATE, saturate_expr(value, fmt.min_int,
                                                                        fmt.max_int)[1],
                                  Mux(v_range == RANGE_COEF,
                                      saturate_expr(value, hw.c_lo, hw.c_hi)[1], 0))
                    with m.If(outside):
                        respond(Status.BAD_RANGE, SRC_NONE, 0)
                    with m.Elif(v_index + 1 == v_count):
                        m.d.sync += [v_writing.eq(1), v_index.eq(0), ptr.eq(v_first),
                                     nbyte.eq(0)]
                        m.next = "V_BYTE"
                    with m.Else():
                        m.d.sync += [v_index.eq(v_index + 1), nbyte.eq(0)]
                        m.next = "V_BYTE"
                with m.Else():
                    m.d.sync += [port_addr.eq(v_base + v_index), port_we.eq(1),
                                 port_wdata.eq(value)]
                    with m.If(v_index + 1 == v_count):
                        m.next = "WRITTEN"
                    with m.Else():
                        m.d.sync += [v_index.eq(v_index + 1), nbyte.eq(0)]
                        m.next = "V_BYTE"
            with m.State("WRITTEN"):
                with m.If(cmd == Cmd.TRAIN):
                    m.d.sync += net_op.eq(OP_REVERSE)
                    m.next = "REVERSE"
                with m.Else():
                    m.d.sync += fwd_valid.eq(0)      # new input or coefficients
                    respond(Status.OK, SRC_NONE, 0)
            # runs ---------------------------------------------------------------------------
            with m.State("FORWARD"):
                m.d.comb += net.start.eq(1)
                m.next = "FORWARD_WAIT"
            with m.State("FORWARD_WAIT"):
                with m.If(net.done):
                    m.d.sync += [fwd_ovf.eq(net.overflow), fwd_valid.eq(1)]
                    respond(Status.OK, SRC_FLAGS, 1)
            with m.State("REVERSE"):
                m.d.comb += net.start.eq(1)
                m.next = "REVERSE_WAIT"
            with m.State("REVERSE_WAIT"):
                with m.If(net.done):
                    m.d.sync += [rev_ovf.eq(net.overflow), net_op.eq(OP_BSP)]
                    m.next = "BSP"
            with m.State("BSP"):
                m.d.comb += net.start.eq(1)
                m.next = "BSP_WAIT"
            with m.State("BSP_WAIT"):
                with m.If(net.done):
                    # the coefficients changed: the forward integrals are stale
                    m.d.sync += [fwd_valid.eq(0), train_steps.eq(train_steps + 1)]
                    respond(Status.OK, SRC_FLAGS, 1)
            # the response ---------------------------------------------------------------------
            with m.State("SEND"):
                m.d.sync += [w_index.eq(0), nbyte.eq(0)]
                m.next = "S_BYTE"
            with m.State("S_BYTE"):
                d = k_data
                byte = Signal(8)
                with m.If(k == 0):
                    m.d.comb += byte.eq(cmd | 0x80)
                with m.Elif(k == 1):
                    m.d.comb += byte.eq(seq)
                with m.Elif(k == 2):
                    m.d.comb += byte.eq(status)
                with m.Else():
                    with m.Switch(src):
                        with m.Case(SRC_INFO):
                            m.d.comb += byte.eq(info_rom[d])
                        with m.Case(SRC_STATUS):
                            m.d.comb += byte.eq(status_bytes[d])
                        with m.Case(SRC_FLAGS):
                            m.d.comb += byte.eq(flags)
                        with m.Case(SRC_SAMPLE):
                            m.d.comb += byte.eq(sample_bytes[d])
                        with m.Case(SRC_WORDS):
                            m.d.comb += byte.eq(word[:8])
                need_word = (src == SRC_WORDS) & (k >= 3) & (nbyte == 0)
                with m.If(need_word):
                    m.d.sync += [port_addr.eq(w_base + w_index),
                                 fetch_wait.eq(net.read_latency + self.PORT_DELAY - 1)]
                    m.next = "S_FETCH"
                with m.Else():
                    m.d.comb += [tx.data.eq(byte), tx.valid.eq(1)]
                    with m.If(tx.ready):
                        m.d.sync += [k.eq(k + 1), k_data.eq(k_data + 1)]
                        with m.If((src == SRC_WORDS) & (k >= 3)):
                            m.d.sync += [word.eq(word >> 8), nbyte.eq(nbyte - 1)]
                        with m.If(k + 1 == resp_len):
                            m.next = "IDLE"
            with m.State("S_FETCH"):        # net.rdata = the word at w_base + w_index,
                with m.If(fetch_wait == 0):  # PORT_DELAY + read_latency clocks after S_BYTE
                    m.d.sync += [word.eq(net.rdata), nbyte.eq(4), w_index.eq(w_index + 1)]
                    m.next = "S_BYTE"
                with m.Else():
                    m.d.sync += fetch_wait.eq(fetch_wait - 1)
        # busy as a continuous assignment of the state register (not inside the FSM's
        # process), so that event-driven simulators see its value from time 0
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m
