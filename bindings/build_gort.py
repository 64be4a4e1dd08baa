"""CFFI builders for gort's two extension modules (API mode, out of line).

    gort._gort     the three libraries, gpy/gpy.c (goroutines that run
                   Python code) and the declarations of gort/_cdef/
                   sched, poll, net and py.cdef. Exports only ffi
                   and lib; the Python package builds the API on it.
    gort._testing  the same libraries compiled again, plus libsched's test
                   hooks, libnet's fdMutex and testing/gort_testing.c
                   (gort/_cdef/testing.cdef). Test-only.

The library sources are compiled into each extension, so `pip install .`
needs no prior ninja run. _testing carries its own copy on purpose: the
state machines start and stop a runtime with one P and the virtual
clock many times over, while the public API's runtime (real clock, all
CPUs) starts once and keeps running; sharing one copy would make every
test depend on the order the two are used in.

The version string of gort_sched.h is compiled into both modules, with a
digest of the declarations they were built from; gort/__init__.py checks
them at import, so a stale build (an old .so beside newer Python files)
fails loudly instead of misbehaving.

Run by setuptools through bindings/setup.py (cffi_modules); runnable on
its own as well: `python3 bindings/build_gort.py` builds both in place.
"""

import glob
import hashlib
import os
import re

import cffi

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LIBS = ["libsched", "libpoll", "libnet"]


def rel(path):
    """A path relative to the top of the tree, as setuptools wants."""
    return os.path.relpath(path, os.getcwd())


def read_cdef(name):
    with open(os.path.join(HERE, "gort", "_cdef", name + ".cdef")) as f:
        return f.read()


def header_version():
    path = os.path.join(ROOT, "libsched", "include", "gort_sched.h")
    with open(path) as f:
        m = re.search(r'#define GORT_VERSION "([^"]+)"', f.read())
    if not m:
        raise RuntimeError("GORT_VERSION not found in gort_sched.h")
    return m.group(1)


def package_version():
    path = os.path.join(HERE, "gort", "_version.py")
    with open(path) as f:
        m = re.search(r'__version__ = "([^"]+)"', f.read())
    return m.group(1)


def digest(names):
    """What the import-time check compares: the declarations' text."""
    h = hashlib.sha256()
    for name in names:
        h.update(read_cdef(name).encode())
    return h.hexdigest()[:16]


def library_sources():
    srcs = []
    for lib in LIBS:
        srcs += sorted(glob.glob(os.path.join(ROOT, lib, "src", "*.c")))
        srcs += sorted(glob.glob(os.path.join(ROOT, lib, "src", "*.S")))
    return [rel(s) for s in srcs]


def include_dirs(private):
    dirs = [os.path.join(ROOT, lib, "include") for lib in LIBS]
    if private:
        dirs += [os.path.join(ROOT, lib, "src") for lib in LIBS]
        dirs.append(os.path.join(HERE, "testing"))
    return [rel(d) for d in dirs]


# The libraries are C11 with GNU extensions; -Werror stays with the ninja
# build, where the compiler is known, so that a newer compiler's new
# warnings cannot break `pip install`.
CFLAGS = ["-std=gnu11", "-D_GNU_SOURCE", "-pthread", "-Wall",
          "-fvisibility=hidden",
          "-Wno-unused-parameter", "-fno-strict-aliasing"]


def make_ffi(module, cdefs, extra_sources, private, extra_headers=(),
             extra_includes=()):
    version = header_version()
    if version != package_version():
        raise RuntimeError(
            f"gort_sched.h says GORT_VERSION {version} but "
            f"bindings/gort/_version.py says {package_version()}")

    ffi = cffi.FFI()
    for name in cdefs:
        ffi.cdef(read_cdef(name))
    ffi.cdef("static const char *const gort_py_version;\n"
             "static const char *const gort_py_cdef_digest;\n")

    includes = "".join(f'#include "{h}"\n' for h in
                       ["gort_sched.h", "gort_poll.h", "gort_net.h"])
    if private:
        includes += '#include "gt_testing.h"\n'
    includes += "".join(f'#include "{h}"\n' for h in extra_headers)
    source = (includes +
              "static const char *const gort_py_version = GORT_VERSION;\n"
              "static const char *const gort_py_cdef_digest = "
              f'"{digest(cdefs)}";\n')
    ffi.set_source(
        module, source,
        sources=library_sources() + extra_sources,
        include_dirs=include_dirs(private) + [rel(d) for d in
                                              extra_includes],
        extra_compile_args=CFLAGS,
        # -Bsymbolic binds the libraries' references to their own
        # definitions: libsched's switch.S takes its trampoline's address
        # PC-relative, which a shared object allows only for a symbol
        # bound locally. With -fvisibility=hidden above, the module
        # exports nothing but its PyInit function, so the two copies of
        # the runtime cannot see each other.
        extra_link_args=["-pthread", "-Wl,-Bsymbolic"],
        libraries=["pthread"],
        # gpy.c runs goroutines with Python thread states of their own,
        # which needs the full C API: the module is built for this
        # Python only, not as an abi3 one.
        py_limited_api=False)
    return ffi


PUBLIC_CDEFS = ["sched", "poll", "net", "py"]
TESTING_CDEFS = ["sched", "poll", "net", "testing"]
GPY = os.path.join(HERE, "gpy")

ffi_gort = make_ffi("gort._gort", PUBLIC_CDEFS,
                    [rel(os.path.join(GPY, "gpy.c"))], private=False,
                    extra_headers=["gpy.h"], extra_includes=[GPY])
ffi_testing = make_ffi(
    "gort._testing", TESTING_CDEFS,
    [rel(os.path.join(HERE, "testing", "gort_testing.c"))], private=True)

if __name__ == "__main__":
    os.chdir(os.path.join(HERE))
    ffi_gort.compile(verbose=True)
    ffi_testing.compile(verbose=True)
