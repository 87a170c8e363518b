"""Every example runs."""

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_quickstart():
    out = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "add(2, 40) = 42" in out.stdout and "fail -> True" in out.stdout


def test_stubs_cover_the_public_api():
    import mcpfleet

    stub = (Path(mcpfleet.__file__).parent / "_core.pyi").read_text()
    for name in mcpfleet.__all__:
        obj = getattr(mcpfleet, name)
        if getattr(obj, "__module__", "").startswith("mcpfleet._core") or name in ("StdioClient", "SSEClient", "StreamableHTTPClient"):
            assert f"class {name}" in stub or f"def {name}" in stub, name
