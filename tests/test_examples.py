"""Every example runs."""

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_quickstart():
    out = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "add(2, 40) = 42" in out.stdout and "fail -> True" in out.stdout
