"""An in-tree PEP 517 backend: setuptools, reading bindings/setup.py.

The tree keeps its top level to the three libraries and the files every
project has; the Python build's setup script lives with the bindings.
Everything else is setuptools' own backend, unchanged.
"""

import os

from setuptools import build_meta as _meta
from setuptools.build_meta import *  # noqa: F401,F403 (the PEP 517 hooks)

SETUP = os.path.join("bindings", "setup.py")


class _Backend(_meta._BuildMetaBackend):
    def run_setup(self, setup_script="setup.py"):
        return super().run_setup(SETUP)


_backend = _Backend()
get_requires_for_build_wheel = _backend.get_requires_for_build_wheel
get_requires_for_build_sdist = _backend.get_requires_for_build_sdist
prepare_metadata_for_build_wheel = _backend.prepare_metadata_for_build_wheel
build_wheel = _backend.build_wheel
build_sdist = _backend.build_sdist
if hasattr(_backend, "build_editable"):
    get_requires_for_build_editable = \
        _backend.get_requires_for_build_editable
    prepare_metadata_for_build_editable = \
        _backend.prepare_metadata_for_build_editable
    build_editable = _backend.build_editable
