"""The raw extension, checked (see _build.py): ffi and lib only."""

from gort._build import load

_mod = load("_gort", ["sched", "poll", "net", "py"])
ffi = _mod.ffi
lib = _mod.lib
