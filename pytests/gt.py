"""The test-only extension, loaded with the same stale-build check as the
public one."""

from gort._build import load

_mod = load("_testing", ["sched", "poll", "net", "testing"])
ffi = _mod.ffi
lib = _mod.lib
