"""The built-in MCP server (native code, shipped with mcpfleet).

    python -m mcpfleet.demo_server              # stdio
    python -m mcpfleet.demo_server --http 8000  # streamable HTTP on http://127.0.0.1:8000/mcp (0: any free port)

Tools: ``echo(text)``, ``add(a, b)``, ``sleep(seconds)``, ``fail(message)``, ``stderr(text)``;
resource ``demo://greeting``; prompt ``greet(name)``.
"""

from __future__ import annotations

import sys

from ._core import run_demo_server

__all__ = ["main", "run_demo_server"]

_USAGE = "usage: python -m mcpfleet.demo_server [--http PORT]"


def main(argv: list[str] | None = None) -> int:
    """Parses the command line and serves until stdin closes (stdio) or Ctrl-C (HTTP)."""
    # Parsed by hand: argparse would double the start-up time of a fleet of these servers.
    args = sys.argv[1:] if argv is None else argv
    if args in (["-h"], ["--help"]):
        print(f"{_USAGE}\n\n{__doc__}")
        return 0
    if not args:
        run_demo_server(None)
        return 0
    if len(args) == 2 and args[0] == "--http" and args[1].isdigit() and int(args[1]) < 65536:
        run_demo_server(int(args[1]))
        return 0
    print(f"{_USAGE}\nerror: expected no arguments or --http PORT (0..65535), got {' '.join(args)!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
