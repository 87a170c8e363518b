"""The type stubs are true: mypy's stubtest checks every name, signature, default and kind in
`_core.pyi` against the compiled module (tests/stubtest-allowlist.txt says what may differ, and
why), and the package's Python code type-checks against them."""

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import missing

try:
    import mypy  # noqa: F401
except ImportError:
    missing("mypy is not installed (pip install mypy)")

TESTS = Path(__file__).resolve().parent


def mypy_run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=600, cwd=TESTS)


def test_the_stubs_match_the_compiled_module():
    out = mypy_run("mypy.stubtest", "mcpfleet._core", "--allowlist", str(TESTS / "stubtest-allowlist.txt"))
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_package_type_checks_against_them(tmp_path):
    import mcpfleet

    # A copy, so that mypy sees the package alone (run inside site-packages, every module
    # there would count as the package's own).
    shutil.copytree(Path(mcpfleet.__file__).resolve().parent, tmp_path / "mcpfleet", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(TESTS.parent / "pyproject.toml"), "--no-incremental", "-p", "mcpfleet"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
