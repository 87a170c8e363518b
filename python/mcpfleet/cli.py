"""The `mcpfleet` command: serve a fleet as one MCP server, check configuration files.

Imports stay lazy: `--help`, `--version` and `validate` never load asyncio.
"""

from __future__ import annotations

import argparse
import os
import sys

EXIT_OK, EXIT_BAD, EXIT_USAGE, EXIT_AUTH, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

EPILOG = """\
exit status:
  0  success (validate: no problems)
  1  it ran and the answer is bad: configuration problems
  2  usage error or internal error
  4  a server could not be started or reached
  130 interrupted

examples:
  mcpfleet validate servers.yaml
  mcpfleet serve servers.yaml                       # stdio, for a desktop client
  mcpfleet serve servers.yaml --http 8000           # http://127.0.0.1:8000/mcp
  mcpfleet serve conf/ --http 0.0.0.0:8000 --auth-token-file token.txt

desktop clients: {"mcpServers": {"fleet": {"command": "mcpfleet", "args": ["serve", "/abs/servers.yaml"]}}}
"""


def _version() -> str:
    from . import _core

    return f"mcpfleet {_core.__version__}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcpfleet",
        description="Run a fleet of MCP servers as one MCP server; check fleet configurations.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    validate = commands.add_parser(
        "validate",
        help="check configuration files; start nothing",
        description="Reads every CONFIG (a YAML file, a muster directory, mcpServers JSON) and prints every problem "
        "as file:line:column: server: field: message. Starts no server.",
        allow_abbrev=False,
    )
    validate.add_argument("config", nargs="+", metavar="CONFIG")
    validate.add_argument("-o", "--output-format", choices=["concise", "json"], default=os.environ.get("MCPFLEET_OUTPUT_FORMAT", "concise"))
    validate.add_argument("-q", "--quiet", action="store_true", help="no summary line")

    serve = commands.add_parser(
        "serve",
        help="serve the fleet as one MCP server (stdio, or --http)",
        description="Starts the servers of every CONFIG and serves them as one MCP server: on stdin/stdout by "
        "default (logs go to stderr), or over streamable HTTP. SIGINT, SIGTERM, SIGHUP and the end of stdin stop "
        "every server and exit 0.",
        allow_abbrev=False,
    )
    serve.add_argument("config", nargs="+", metavar="CONFIG")
    serve.add_argument("--http", metavar="[HOST:]PORT", help="serve streamable HTTP at http://HOST:PORT/mcp (HOST defaults to 127.0.0.1)")
    serve.add_argument("--path", default="/mcp", help="the HTTP endpoint path (default /mcp)")
    serve.add_argument("--management-tools", action="store_true", help="also serve mcpserver_* tools (clients may then run commands)")
    serve.add_argument("--auth-token-file", metavar="FILE", help="require `Authorization: Bearer <the file's content>` (also: $MCPFLEET_AUTH_TOKEN)")
    serve.add_argument("--no-auth", action="store_true", help="allow a non-loopback --http address without a token")
    serve.add_argument("-v", "--verbose", action="count", default=0, help="-v: INFO and the servers' stderr; -vv: DEBUG")
    return parser


def _error(message: str, hint: str | None = None) -> None:
    print(f"error: {message}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)


def _validate(args: argparse.Namespace) -> int:
    import json

    from . import _core

    names, problems = _core._check_config(args.config)
    if args.output_format == "json":
        print(json.dumps({"valid": not problems, "servers": names, "problems": [{**p, "severity": "error"} for p in problems]}, ensure_ascii=False))
    else:
        for p in problems:
            print(p["text"])
        if not args.quiet:
            print(f"Found {len(problems)} problem{'s' if len(problems) != 1 else ''}." if problems else f"All checks passed! ({len(names)} server{'s' if len(names) != 1 else ''})")
    return EXIT_BAD if problems else EXIT_OK


def _http_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    host = host or "127.0.0.1"
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--http expects [HOST:]PORT with PORT in 0..65535, got {value!r}")
    return host.strip("[]"), int(port)


def _auth_token(args: argparse.Namespace) -> str | None:
    if args.auth_token_file:
        with open(args.auth_token_file, encoding="utf-8") as f:
            token = f.read().strip()
        if not token:
            raise ValueError(f"{args.auth_token_file} is empty")
        return token
    return os.environ.get("MCPFLEET_AUTH_TOKEN") or None


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from . import Adapter, ConfigError, MCPFleetError

    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.verbose < 1:
        logging.getLogger("mcpfleet.stderr").setLevel(logging.WARNING)
    try:
        http = _http_address(args.http) if args.http else None
        token = _auth_token(args)
    except (ValueError, OSError) as e:
        _error(str(e))
        return EXIT_USAGE
    try:
        fleet = Adapter(config=args.config, management_tools=args.management_tools)
    except ConfigError as e:
        for p in e.problems:
            print(p.get("text") or p["message"], file=sys.stderr)
        _error(f"{len(e.problems)} problem(s) in the configuration; nothing was started", "run `mcpfleet validate` to check a configuration")
        return EXIT_BAD

    wire = None
    if http is None:
        # stdout is the wire: keep it for MCP and send everything else that writes there to stderr.
        wire = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr

    async def main() -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
        # Serve at once and let servers come up behind it: clients see each one's tools as it
        # arrives (list_changed), and a slow server cannot make a host's handshake time out.
        starting = asyncio.ensure_future(fleet.start_auto())
        try:
            if http is not None:
                try:
                    front = await fleet.serve_http(http[0], http[1], args.path, token, allow_unauthenticated=args.no_auth)
                except (ConfigError, OSError) as e:
                    _error(str(e))
                    return EXIT_USAGE if isinstance(e, ConfigError) else EXIT_UNREACHABLE
                print(f"serving {len(fleet.list_mcp_servers())} server(s) at {front.url}", file=sys.stderr)
                await stop.wait()
                await front.close()
            else:
                served = asyncio.ensure_future(fleet.serve_stdio(write_fd=wire))
                stopped = asyncio.ensure_future(stop.wait())
                await asyncio.wait({served, stopped}, return_when=asyncio.FIRST_COMPLETED)
                for task in (served, stopped):
                    task.cancel()
        finally:
            starting.cancel()
            await fleet.close()
        return EXIT_OK

    try:
        return asyncio.run(main())
    except MCPFleetError as e:
        _error(str(e))
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        print(_version())
        return EXIT_OK
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return _validate(args) if args.command == "validate" else _serve(args)
    except BrokenPipeError:
        # `mcpfleet validate … | head`: the reader is gone, which is fine.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
