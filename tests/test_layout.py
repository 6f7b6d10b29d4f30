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


#: kernels use scipy only where a special function or an optimizer is needed
SCIPY_ALLOWED = ("scipy.special", "scipy.optimize")


def test_scipy_only_special_functions_and_optimizers():
    for path in KERNELS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("scipy"):
                assert node.module in SCIPY_ALLOWED, (path.name, node.module)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("scipy") or alias.name in SCIPY_ALLOWED, (path.name, alias.name)


PIPELINE = Path(__file__).resolve().parents[1] / "pipeline"


def _pipeline_imports(path: Path) -> set[str]:
    """Absolute names of the pipeline modules a file imports (relative imports resolved)."""
    package = ".".join(path.relative_to(PIPELINE.parent).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names |= {f"{module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return {n for n in names if n == "pipeline" or n.startswith("pipeline.")}


def _modules(sub: str) -> list[Path]:
    return sorted((PIPELINE / sub).rglob("*.py")) if (PIPELINE / sub).is_dir() else [PIPELINE / f"{sub}.py"]


SUBPACKAGES = sorted(p.name for p in PIPELINE.iterdir() if (p / "__init__.py").is_file())


def test_the_resolver_sees_relative_imports():
    # (so that the two rules below can fail at all)
    assert "pipeline.store" in _pipeline_imports(PIPELINE / "exports" / "readback.py")
    assert "pipeline.errors" in _pipeline_imports(PIPELINE / "cli.py")


@pytest.mark.parametrize("path", [p for p in PIPELINE.rglob("*.py") if p.name not in ("cli.py", "__main__.py")],
                         ids=lambda p: str(p.relative_to(PIPELINE)))
def test_nothing_imports_the_cli(path):
    assert not {n for n in _pipeline_imports(path) if n == "pipeline.cli" or n.startswith("pipeline.cli.")}


@pytest.mark.parametrize("path", _modules("exports"), ids=lambda p: p.name)
def test_exports_do_not_import_run(path):
    assert not {n for n in _pipeline_imports(path) if n == "pipeline.run" or n.startswith("pipeline.run.")}


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_each_subpackage_says_what_it_owns(name):
    module = ast.parse((PIPELINE / name / "__init__.py").read_text())
    assert ast.get_docstring(module), f"pipeline/{name}/__init__.py has no docstring"


def test_the_wheel_lists_every_package():
    import tomllib

    from setuptools import find_packages

    config = tomllib.loads((PIPELINE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    found = set(find_packages(str(PIPELINE.parent), include=config["include"]))
    on_disk = {".".join(p.parent.relative_to(PIPELINE.parent).parts) for p in PIPELINE.parent.glob("*/**/__init__.py")
               if p.parts[len(PIPELINE.parent.parts)] in ("pipeline", "kernels")}
    assert on_disk and on_disk <= found, on_disk - found


def test_what_a_worker_imports_stays_lean():
    """A worker's chunk task imports pipeline.run.graph: not xarray, pandas or scipy.special (0.7 s of every
    run's start-up, per worker, when they came in with it)."""
    import subprocess
    import sys

    code = ("import sys, pipeline.run.graph; "
            "print(sorted(m for m in ('xarray', 'pandas', 'scipy.special') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
