"""The setuptools half of gort's build; pyproject.toml at the top of the
tree holds the metadata, and bindings/gort_build_backend.py runs this
file in place of a top-level setup.py.

Only what pyproject.toml cannot say lives here: the CFFI modules, and
teaching the compiler step that libsched's context switch is an
assembler file (switch.S) that gcc preprocesses and assembles itself.
"""

from setuptools import setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    def build_extensions(self):
        if ".S" not in self.compiler.src_extensions:
            self.compiler.src_extensions.append(".S")
        super().build_extensions()


setup(
    cffi_modules=[
        "bindings/build_gort.py:ffi_gort",
        "bindings/build_gort.py:ffi_testing",
    ],
    cmdclass={"build_ext": BuildExt},
    # Beside ninja's variants, not among them.
    options={"build": {"build_base": "build/python"}},
)
