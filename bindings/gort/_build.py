"""Loads a CFFI extension of this package and checks that it was built
from the declarations beside it: the version compiled in must be this
package's, and the digest of the _cdef/*.cdef text it was built from must
match the files installed with it. A stale build fails at import, with
a message saying what to rebuild, rather than at some later call."""

import hashlib
import importlib
import os

from gort._version import __version__

_CDEF_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_cdef")


def _digest(names):
    h = hashlib.sha256()
    for name in names:
        with open(os.path.join(_CDEF_DIR, name + ".cdef"), "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def load(module, cdefs):
    """Imports gort.<module> and returns it once its build is checked."""
    try:
        mod = importlib.import_module("gort." + module)
    except ImportError as e:
        raise ImportError(
            f"gort.{module} is not built ({e}); run `pip install .` "
            "(or `pip install -e .`) at the top of the gort tree") from e
    ffi, lib = mod.ffi, mod.lib
    built = ffi.string(lib.gort_py_version).decode()
    if built != __version__:
        raise ImportError(
            f"gort.{module} was built for version {built} but the package "
            f"is {__version__}: stale build, reinstall gort")
    want = _digest(cdefs)
    got = ffi.string(lib.gort_py_cdef_digest).decode()
    if got != want:
        raise ImportError(
            f"gort.{module} was built from other declarations than "
            f"gort/_cdef/ now holds ({got} != {want}): stale build, "
            "reinstall gort")
    return mod
