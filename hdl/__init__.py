"""Amaranth 0.5 hardware generators of the Wuxing network (see docs/HARDWARE.md).

NeuronCore (hdl.neuron), Synapse and AtanRom (hdl.synapse), Network (hdl.network); constants
from the golden model (hdl.fixed); Verilog and manifests (hdl.generate, ``wuxing generate``).
"""
