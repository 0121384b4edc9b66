"""The parallel network engine (``--arch engine``): see engine.py and docs/HARDWARE.md."""
from .engine import ENGINE_MAX_LINKS, ENGINE_MAX_NEURONS, NetworkEngine
from .schedule import EngineTiming, Schedule, compile_schedule

__all__ = ["NetworkEngine", "ENGINE_MAX_NEURONS", "ENGINE_MAX_LINKS", "Schedule",
           "EngineTiming", "compile_schedule"]
