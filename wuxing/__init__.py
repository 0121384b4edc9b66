"""Wuxing: a hardware toolkit for a network of differential-equation neurons.

One import name for the whole toolkit. The layers, bottom to top (each imports only those
below it): ``wuxing.golden`` (golden model, training, data), ``wuxing.hdl`` (Amaranth
generators), ``wuxing.sim`` (cocotb co-simulation), ``wuxing.boards`` (bitstreams, host link),
and this package's own modules, the application shell (``wuxing.cli``, ``wuxing.demo``).
In the source tree the layers keep their folders (``golden/``, ``hdl/``, ``sim/``,
``boards/``); ``pyproject.toml`` maps them under this name.
"""
