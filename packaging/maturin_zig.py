"""The PEP 517 build backend of the wheel: maturin's, with ``--zig``.

``pip wheel .`` and ``pip install .`` from a clone build the same wheel as
``maturin build --release --zig``: a ``manylinux2014`` (glibc 2.17) wheel
that installs on old distributions too, not only on the build machine's
glibc. Everything is configured in ``[tool.maturin]`` of pyproject.toml
except what maturin's PEP 517 hooks take only from ``MATURIN_PEP517_ARGS``:
``--zig``, and ``--compatibility`` (without it they build a plain
``linux_x86_64`` wheel whatever pyproject.toml says). This module puts both
there, the latter read from ``[tool.maturin]``, and hands every hook to
maturin.
"""

import os


def _compatibility() -> str:
    try:
        import tomllib
    except ImportError:  # Python < 3.11: the value pyproject.toml holds
        return "manylinux2014"
    with open("pyproject.toml", "rb") as pyproject:
        return tomllib.load(pyproject)["tool"]["maturin"]["compatibility"]


_ARGS = os.environ.get("MATURIN_PEP517_ARGS", "").split()
if "--zig" not in _ARGS:
    _ARGS.append("--zig")
if "--compatibility" not in _ARGS:
    _ARGS += ["--compatibility", _compatibility()]
os.environ["MATURIN_PEP517_ARGS"] = " ".join(_ARGS)

from maturin import (  # noqa: E402  (after the environment is set)
    build_editable,
    build_sdist,
    build_wheel,
    get_requires_for_build_editable,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)

__all__ = [
    "build_editable",
    "build_sdist",
    "build_wheel",
    "get_requires_for_build_editable",
    "get_requires_for_build_sdist",
    "get_requires_for_build_wheel",
    "prepare_metadata_for_build_editable",
    "prepare_metadata_for_build_wheel",
]
