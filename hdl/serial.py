"""SerialNetwork: the whole network on one lane, the P = 1 case of the network engine.

``--arch serial`` is ``--arch engine --lanes 1``: one bank holds every row, one multiplier
does every product (a row a clock in the neuron phase, a link a clock in the link phase), the
control port, address map and integers are those of :class:`hdl.engine.NetworkEngine`
(docs/HARDWARE.md).
"""
from __future__ import annotations

from wuxing.golden.topology import Topology

from .engine import ENGINE_MAX_LINKS, ENGINE_MAX_NEURONS, NetworkEngine
from .fixed import HwConstants

__all__ = ["SerialNetwork", "SERIAL_MAX_NEURONS", "SERIAL_MAX_LINKS"]

SERIAL_MAX_NEURONS = ENGINE_MAX_NEURONS
SERIAL_MAX_LINKS = ENGINE_MAX_LINKS


class SerialNetwork(NetworkEngine):
    """:class:`~hdl.engine.NetworkEngine` with one lane.

    Parameters: ``topology``, ``hw`` (:class:`hdl.fixed.HwConstants`), ``c_init`` (reset C,
    one per link, topology order; default 0), ``lut_memories``, ``training`` (as the
    engine's).
    """

    def __init__(self, topology: Topology, hw: HwConstants, *, c_init=None, lut_memories=(),
                 training: bool = True):
        super().__init__(topology, hw, lanes=1, c_init=c_init, lut_memories=lut_memories,
                         training=training)
