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
  1  it ran and the answer is bad: configuration problems, a tool error, an unknown tool
  2  usage error or internal error
  3  authorization required or failed
  4  a server could not be started or reached, or timed out
  130 interrupted

examples:
  mcpfleet validate servers.yaml
  mcpfleet serve servers.yaml                       # stdio, for a desktop client
  mcpfleet serve servers.yaml --http 8000           # http://127.0.0.1:8000/mcp
  mcpfleet serve conf/ --http 0.0.0.0:8000 --auth-token-file token.txt
  mcpfleet list servers.yaml
  mcpfleet tools servers.yaml -o json
  mcpfleet call servers.yaml demo_add a=1 b=2
  mcpfleet call --url http://127.0.0.1:8000/mcp demo_echo text=hi

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
    validate.add_argument("--json", dest="output_format", action="store_const", const="json", help="the same as -o json")
    validate.add_argument("-q", "--quiet", action="store_true", help="no summary line")

    def target(sub: argparse.ArgumentParser, positional: bool) -> None:
        if positional:
            sub.add_argument("config", nargs="*", metavar="CONFIG", help="configuration files or directories")
        sub.add_argument("--url", help="instead of CONFIG: one MCP server (or a running gateway) at this URL; a /sse path means legacy SSE")
        sub.add_argument("--stdio", metavar='"COMMAND ARGS"', help="instead of CONFIG: one stdio MCP server started with this command line")
        sub.add_argument("-H", "--header", action="append", default=[], metavar="NAME: VALUE", help="with --url: an HTTP header (repeatable)")
        sub.add_argument("--timeout", type=float, default=30.0, help="seconds for starting servers and for each request (default 30)")

    for name, help_text, formats in (
        ("list", "the servers of a configuration: type, state, tool count, last error", ["table", "json"]),
        ("tools", "the tools of a configuration (or of one server)", ["table", "json"]),
        ("call", "call a tool: key=value arguments (typed by the tool's schema), key:=JSON, or --json", ["text", "json"]),
    ):
        usage = "mcpfleet call [CONFIG] TOOL [key=value ...] [--url URL | --stdio CMD] [--json ARGS] [-o FORMAT]" if name == "call" else None
        sub = commands.add_parser(name, help=help_text, description=help_text, allow_abbrev=False, usage=usage)
        target(sub, positional=name != "call")
        sub.add_argument("-o", "--output-format", choices=formats, default=formats[0])
        if name != "call":
            sub.add_argument("--json", dest="output_format", action="store_const", const="json", help="the same as -o json")
        if name == "tools":
            sub.add_argument("--server", help="only this server's tools")
        if name == "call":
            # CONFIG TOOL k=v... or, with --url/--stdio, TOOL k=v...: split after parsing.
            sub.add_argument("words", nargs="+", metavar="[CONFIG] TOOL [key=value]")
            sub.add_argument("--json", dest="json_args", metavar="ARGS", help="the arguments as a JSON object (`-` reads stdin, @FILE a file); key=value pairs override it")
        if name == "list":
            sub.add_argument("--no-headers", action="store_true")

    serve = commands.add_parser(
        "serve",
        help="serve the fleet as one MCP server (stdio, or --http)",
        description="Starts the servers of every CONFIG and serves them as one MCP server: on stdin/stdout by "
        "default (logs go to stderr), or over streamable HTTP. SIGINT, SIGTERM, SIGHUP and the end of stdin stop "
        "every server and exit 0.",
        allow_abbrev=False,
    )
    serve.add_argument("config", nargs="*", metavar="CONFIG")
    kube = serve.add_argument_group("Kubernetes", "serve a cluster's MCPServer resources instead of CONFIG files")
    kube.add_argument("--kubernetes", action="store_true", help="follow the MCPServer resources (in-cluster config, $KUBECONFIG or ~/.kube/config) and write their status")
    kube.add_argument("--namespace", help="only this namespace's resources (default: every namespace)")
    kube.add_argument("--label-selector", metavar="SELECTOR", help="only resources with these labels, e.g. team=data")
    kube.add_argument("--kubeconfig", metavar="FILE", help="this kubeconfig file")
    kube.add_argument("--context", help="this kubeconfig context")
    kube.add_argument("--group", default="mcpfleet.dev", choices=["mcpfleet.dev", "muster.giantswarm.io"], help="the resources' API group (default mcpfleet.dev)")
    kube.add_argument("--cross-namespace-secrets", action="store_true", help="read clientCredentialsSecretRef Secrets of other namespaces too")
    kube.add_argument("--no-status", action="store_true", help="write no status to the resources")
    kube.add_argument("--lease-duration", type=float, default=15.0, metavar="SECONDS", help="replicas elect one status writer through a Lease; another takes over after this much silence (default 15)")
    serve.add_argument("--drain-timeout", type=float, default=15.0, metavar="SECONDS", help="on SIGTERM, how long calls in flight may take before the servers stop (default 15)")
    serve.add_argument("--http", metavar="[HOST:]PORT", help="serve streamable HTTP at http://HOST:PORT/mcp (HOST defaults to 127.0.0.1)")
    serve.add_argument("--path", default="/mcp", help="the HTTP endpoint path (default /mcp)")
    serve.add_argument("--management-tools", action="store_true", help="also serve mcpserver_* tools (clients may then run commands)")
    serve.add_argument("--watch", action="store_true", help="apply edits of the CONFIG files as they happen; an edit with a problem is refused whole")
    serve.add_argument("--tool-search", action="store_true", help="serve search_tools and call_tool instead of every tool (for big fleets)")
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
    import logging
    import signal

    from . import ConfigError, _core

    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.verbose < 1:
        logging.getLogger("mcpfleet.stderr").setLevel(logging.WARNING)
    _core._set_log_level(level)
    try:
        http = _http_address(args.http) if args.http else None
        token = _auth_token(args)
    except (ValueError, OSError) as e:
        _error(str(e))
        return EXIT_USAGE

    kubernetes = None
    if args.kubernetes:
        if args.config or args.watch:
            _error("--kubernetes takes the servers from the cluster: give no CONFIG and no --watch")
            return EXIT_USAGE
        kubernetes = {
            "namespace": args.namespace, "label_selector": args.label_selector, "kubeconfig": args.kubeconfig,
            "context": args.context, "group": args.group, "cross_namespace_secrets": args.cross_namespace_secrets,
            "write_status": not args.no_status, "lease_duration": args.lease_duration,
        }
    elif not args.config:
        _error("give a CONFIG file or directory, or --kubernetes", "e.g. `mcpfleet serve servers.yaml`")
        return EXIT_USAGE
    elif any(v is not None for v in (args.namespace, args.label_selector, args.kubeconfig, args.context)) or args.cross_namespace_secrets or args.no_status:
        _error("--namespace, --label-selector, --kubeconfig, --context, --cross-namespace-secrets and --no-status go with --kubernetes")
        return EXIT_USAGE

    wire = None
    if http is None:
        # stdout is the wire: keep it for MCP and send everything else that writes there to stderr.
        wire = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
    # The core handles SIGINT, SIGTERM and SIGHUP (stop every server, exit 0); Python must not
    # turn a Ctrl-C into KeyboardInterrupt meanwhile.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # No asyncio here: the fleet, the gateway and the signals all live in the Rust core.
        _core._serve_fleet(
            args.config,
            http=http,
            path=args.path,
            auth_token=token,
            allow_unauthenticated=args.no_auth,
            management_tools=args.management_tools,
            tool_search=args.tool_search,
            watch=args.watch,
            write_fd=1 if wire is None else wire,
            kubernetes=kubernetes,
            drain=args.drain_timeout,
        )
    except ConfigError as e:
        problems = getattr(e, "problems", None) or []
        for p in problems:
            print(p.get("text") or p["message"], file=sys.stderr)
        if problems:
            _error(f"{len(problems)} problem(s) in the configuration; nothing was started", "run `mcpfleet validate` to check a configuration")
            return EXIT_BAD
        _error(str(e))
        return EXIT_USAGE
    except OSError as e:
        _error(str(e))
        return EXIT_UNREACHABLE
    return EXIT_OK


class _Target:
    """A configuration (a fleet) or one server, behind one small interface."""

    def __init__(self, fleet=None, client=None) -> None:
        self.fleet, self.client = fleet, client

    async def tools(self) -> list[dict]:
        if self.fleet is not None:
            return [{"name": t.name, "server": t.server, "originalName": t.original_name, "description": t.description, "inputSchema": t.input_schema}
                    for t in self.fleet.get_tools()]
        return [{"name": t.name, "server": None, "originalName": t.name, "description": t.description, "inputSchema": t.input_schema}
                for t in await self.client.list_tools()]

    async def call(self, tool: str, arguments: dict, timeout: float):
        if self.fleet is not None:
            return await self.fleet.execute_tool(tool, arguments, timeout=timeout)
        return await self.client.call_tool(tool, arguments, timeout=timeout)


async def _open(args: argparse.Namespace):
    """Starts the configuration's servers, or connects the one server; (target, closer)."""
    from . import Adapter, MCPClientBase, SSEClient, StdioClient, StreamableHTTPClient

    given = sum(bool(x) for x in (args.config, args.url, args.stdio))
    if given != 1:
        raise _Usage("give exactly one of CONFIG, --url URL or --stdio \"COMMAND ARGS\"")
    if args.url:
        headers = {}
        for h in args.header:
            name, sep, value = h.partition(":")
            if not sep or not name.strip():
                raise _Usage(f"--header expects 'Name: Value', got {h!r}")
            headers[name.strip()] = value.strip()
        import re

        cls = SSEClient if re.search(r"/sse(/|\?|&|$)", args.url) else StreamableHTTPClient
        client: MCPClientBase = cls(args.url, headers=headers, timeout=args.timeout, init_timeout=args.timeout)
    elif args.stdio:
        import shlex

        argv = shlex.split(args.stdio)
        if not argv:
            raise _Usage("--stdio needs a command")
        client = StdioClient(argv[0], argv[1:], timeout=args.timeout, init_timeout=args.timeout)
    else:
        fleet = Adapter(config=args.config)
        await _start_with_progress(fleet)
        return _Target(fleet=fleet), fleet.close
    await client.initialize()
    return _Target(client=client), client.close


async def _start_with_progress(fleet) -> None:
    """Starts the autoStart servers; on a terminal, a live line per server on stderr shows its state."""
    import asyncio

    live = sys.stderr.isatty()
    task = asyncio.ensure_future(fleet.start_auto())
    drawn = 0
    while not task.done():
        if live:
            lines = [f"  {s.name}: {s.state}" + (f" ({s.last_error.splitlines()[0][:60]})" if s.last_error else "") for s in fleet.list_mcp_servers()]
            # Back to the first line of the previous drawing, then each line anew.
            sys.stderr.write(f"\x1b[{drawn}F" if drawn else "")
            sys.stderr.write("".join(f"\x1b[2K{line}\n" for line in lines))
            sys.stderr.flush()
            drawn = len(lines)
        await asyncio.wait({task}, timeout=0.1)
    if live and drawn:
        sys.stderr.write(f"\x1b[{drawn}F\x1b[0J")
        sys.stderr.flush()
    task.result()


class _Usage(Exception):
    pass


def _typed(value: str, schema: dict) -> object:
    """A key=value value as the tool's input schema types it."""
    import json

    kind = schema.get("type") if isinstance(schema, dict) else None
    if kind == "string":
        return value
    if kind == "integer":
        try:
            return int(value)
        except ValueError:
            raise _Usage(f"expected an integer, got {value!r}") from None
    if kind == "number":
        try:
            return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            raise _Usage(f"expected a number, got {value!r}") from None
    if kind == "boolean":
        lowered = value.lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise _Usage(f"expected true or false, got {value!r}")
    if kind in ("array", "object"):
        try:
            return json.loads(value)
        except ValueError:
            raise _Usage(f"expected JSON ({kind}), got {value!r}") from None
    try:
        return json.loads(value)
    except ValueError:
        return value


def _call_arguments(args: argparse.Namespace, schema: dict) -> dict:
    import json

    arguments: dict = {}
    if args.json_args:
        raw = args.json_args
        if raw == "-":
            raw = sys.stdin.read()
        elif raw.startswith("@"):
            with open(raw[1:], encoding="utf-8") as f:
                raw = f.read()
        try:
            arguments = json.loads(raw)
        except ValueError as e:
            raise _Usage(f"--json: not JSON ({e})") from None
        if not isinstance(arguments, dict):
            raise _Usage("--json must be a JSON object")
    properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
    for pair in args.arguments:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise _Usage(f"arguments are key=value, got {pair!r}")
        if key.endswith(":"):
            try:
                arguments[key[:-1]] = json.loads(value)
            except ValueError:
                raise _Usage(f"{key[:-1]}: expected JSON after :=, got {value!r}") from None
            continue
        try:
            arguments[key] = _typed(value, properties.get(key, {}))
        except _Usage as e:
            raise _Usage(f"{key}: {e}") from None
    missing = [k for k in schema.get("required", []) if k not in arguments] if isinstance(schema, dict) else []
    if missing:
        raise _Usage(f"missing required arguments: {', '.join(missing)}")
    return arguments


def _content_json(c) -> dict:
    out: dict = {"type": c.type}
    for attr, key in (("text", "text"), ("data", "data"), ("mime_type", "mimeType"), ("uri", "uri"), ("name", "name")):
        value = getattr(c, attr, None)
        if value is not None:
            out[key] = value
    resource = getattr(c, "resource", None)
    if resource is not None:
        out["resource"] = {k: v for k, v in (("uri", resource.uri), ("text", getattr(resource, "text", None)), ("blob", getattr(resource, "blob", None))) if v is not None}
    return out


def _printable(text: str) -> str:
    """Server text on a terminal: control characters shown, not obeyed."""
    if not sys.stdout.isatty():
        return text
    return "".join(c if c in "\n\t" or (ord(c) >= 32 and not 0x7F <= ord(c) < 0xA0) else repr(c)[1:-1] for c in text)


def _one_shot(args: argparse.Namespace) -> int:
    import asyncio
    import json

    if args.command == "call":
        words = list(args.words)
        args.config = [] if (args.url or args.stdio) else words[:1]
        words = words[len(args.config):]
        if not words or "=" in words[0]:
            _error("call needs a TOOL name (mcpfleet call CONFIG TOOL key=value ...)")
            return EXIT_USAGE
        args.tool, args.arguments = words[0], words[1:]
    from . import AuthError, MCPFleetError, RequestTimeoutError, ServerStartError, ToolNotFoundError, TransportError

    async def run() -> int:
        target, close = await _open(args)
        try:
            if args.command == "list":
                if target.fleet is None:
                    info = target.client.server_info
                    rows = [{"name": info.name, "type": args.url and "remote" or "stdio", "state": "Connected", "toolCount": len(await target.tools()), "lastError": None}]
                else:
                    rows = [{"name": s.name, "type": s.type, "state": s.state, "toolCount": s.tool_count, "lastError": s.last_error} for s in target.fleet.list_mcp_servers()]
                if args.output_format == "json":
                    print(json.dumps(rows, ensure_ascii=False))
                else:
                    table = [("NAME", "TYPE", "STATE", "TOOLS", "LAST ERROR")] if not args.no_headers else []
                    table += [(r["name"], r["type"], r["state"], str(r["toolCount"]), (r["lastError"] or "").splitlines()[0] if r["lastError"] else "") for r in rows]
                    _print_table(table)
                return EXIT_OK
            if args.command == "tools":
                tools = [t for t in await target.tools() if not args.server or t["server"] == args.server]
                if args.output_format == "json":
                    print(json.dumps(tools, ensure_ascii=False))
                else:
                    _print_table([("NAME", "SERVER", "DESCRIPTION")] + [(t["name"], t["server"] or "", (t["description"] or "").strip().split("\n")[0]) for t in tools])
                return EXIT_OK
            by_name = {t["name"]: t for t in await target.tools()}
            schema = by_name.get(args.tool, {}).get("inputSchema") or {}
            arguments = _call_arguments(args, schema)
            result = await target.call(args.tool, arguments, args.timeout)
            if args.output_format == "json":
                print(json.dumps({"content": [_content_json(c) for c in result.content], "structuredContent": result.structured_content, "isError": result.is_error}, ensure_ascii=False))
            else:
                text = "\n".join(_printable(c.text) if c.type == "text" else f"[{c.type} {getattr(c, 'mime_type', '') or ''}]".replace(" ]", "]") for c in result.content)
                if not text and result.structured_content is not None:
                    text = json.dumps(result.structured_content, indent=2, ensure_ascii=False)
                if result.is_error:
                    print(f"error: {text}", file=sys.stderr)
                else:
                    print(text)
            return EXIT_BAD if result.is_error else EXIT_OK
        finally:
            await close()

    try:
        return asyncio.run(run())
    except _Usage as e:
        _error(str(e))
        return EXIT_USAGE
    except ToolNotFoundError as e:
        _error(str(e))
        return EXIT_BAD
    except AuthError as e:
        _error(str(e))
        return EXIT_AUTH
    except (ServerStartError, TransportError, RequestTimeoutError) as e:
        _error(str(e))
        return EXIT_UNREACHABLE
    except MCPFleetError as e:
        _error(str(e))
        return EXIT_BAD if type(e).__name__ == "ConfigError" else EXIT_UNREACHABLE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _print_table(rows: list[tuple]) -> None:
    if not rows:
        return
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    # `call CONFIG TOOL a=1 --json '{…}' b=2`: argparse stops taking positionals at the option.
    if extra and args.command == "call" and not any(e.startswith("-") for e in extra):
        args.words += extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.version:
        print(_version())
        return EXIT_OK
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "validate":
            return _validate(args)
        if args.command == "serve":
            return _serve(args)
        return _one_shot(args)
    except BrokenPipeError:
        # `mcpfleet validate … | head`: the reader is gone, which is fine.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
