"""The built-in MCP server (native code, shipped with mcpfleet).

    python -m mcpfleet.demo_server              # stdio
    python -m mcpfleet.demo_server --http 8000  # streamable HTTP on http://127.0.0.1:8000/mcp (0: any free port)

Tools: ``echo(text)``, ``add(a, b)``, ``sleep(seconds)``, ``fail(message)``, ``stderr(text)``;
resource ``demo://greeting``; prompt ``greet(name)``.
"""

from __future__ import annotations

import argparse
import sys

from ._core import run_demo_server

__all__ = ["main", "run_demo_server"]


def main(argv: list[str] | None = None) -> int:
    """Parses the command line and serves until stdin closes (stdio) or Ctrl-C (HTTP)."""
    parser = argparse.ArgumentParser(prog="python -m mcpfleet.demo_server", description=__doc__.splitlines()[0])
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP on 127.0.0.1:PORT instead of stdio")
    args = parser.parse_args(argv)
    run_demo_server(args.http)
    return 0


if __name__ == "__main__":
    sys.exit(main())
