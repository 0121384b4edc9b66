"""cocotb 2.1 co-simulation of the hdl/ designs against the golden model (docs/HARDWARE.md).

Benches: sim.tb_core, sim.tb_synapse, sim.tb_network; references: sim.reference and
golden.network.FixedModel; runner: sim.runner; the clock inside the simulation: sim.wrapper
(and sim/verilator_main.cpp); commands: ``wuxing sim``, ``wuxing compare``.
"""
