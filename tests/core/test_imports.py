"""Every module imports on its own, first, in a fresh interpreter: no hidden import cycles."""

from __future__ import annotations

import pkgutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import commskit


def _modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(commskit.__path__, prefix="commskit.")
        if not info.name.endswith("__main__")
    )


def test_each_module_imports_first(python: str, subprocess_env: dict[str, str]) -> None:
    names = _modules()
    assert len(names) > 40

    def try_import(name: str) -> tuple[str, int, str]:
        proc = subprocess.run(
            [python, "-c", f"import {name}"],
            capture_output=True,
            text=True,
            env=subprocess_env,
            timeout=120,
            check=False,
        )
        return name, proc.returncode, proc.stderr[-400:]

    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [r for r in pool.map(try_import, names) if r[1] != 0]
    assert not failures, failures
