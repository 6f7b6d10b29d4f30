"""The package layout the design fixes: kernels are pure numpy (+ scipy.special) and never import pipeline."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

KERNELS = sorted((Path(__file__).resolve().parents[1] / "kernels").glob("*.py"))
FORBIDDEN = {"dask", "distributed", "zarr", "h5py", "tifffile", "xarray", "pipeline", "pydantic", "numcodecs",
             "matplotlib", "os", "shutil", "pathlib", "io", "tempfile", "pickle"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", KERNELS, ids=lambda p: p.name)
def test_kernels_are_pure(path):
    assert not (_imports(path) & FORBIDDEN), _imports(path) & FORBIDDEN
    source = path.read_text()
    assert "open(" not in source  # no file I/O in kernels


def test_scipy_only_special():
    for path in KERNELS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("scipy"):
                assert node.module == "scipy.special", (path.name, node.module)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("scipy") or alias.name == "scipy.special", (path.name, alias.name)
