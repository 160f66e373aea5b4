"""The package as ``pip install`` leaves it: every module compiled to bytecode beforehand.

pip compiles an installed package's modules. An editable install (this checkout)
is compiled by Python on first import and the bytecode kept, unless
``PYTHONDONTWRITEBYTECODE`` is set (as on some CI images and on the machine these
benchmarks were written on): then every run compiles every module again, about
0.3 s of each command's start that an installed tool does not pay. The benchmarks
that time whole commands compile the package once first.
"""

from __future__ import annotations

import compileall
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "reconciler"


@functools.cache
def compile_package() -> None:
    """Write the bytecode of every module of the package (once a run; quick when current)."""
    if not compileall.compile_dir(PACKAGE, quiet=1):
        raise SystemExit(f"could not compile {PACKAGE}")
