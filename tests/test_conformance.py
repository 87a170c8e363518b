"""The official MCP conformance suite (`@modelcontextprotocol/conformance`, client mode) judging
a small client built on mcpfleet (tests/conformance/client.py): every client scenario of 0.1.16
(the `latest` tag, the 2025-11-25 wire) and of 0.2.0-alpha.12 (installed as `conformance-next`),
which adds the 2026-07-28 scenarios and runs each at a spec version it names."""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import NODE22, NODE_MODULES, PY, missing

CLIENT = os.path.join(os.path.dirname(__file__), "conformance", "client.py")
CLI = NODE_MODULES / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
CLI_NEXT = NODE_MODULES / "conformance-next" / "dist" / "index.js"


EXPECTED_FAILURES = os.path.join(os.path.dirname(__file__), "conformance", "expected-failures.yml")

# Every client auth scenario of the suite (0.1.16): `--suite auth`, the back-compat and draft
# ones, and the extensions.
AUTH_SCENARIOS = [
    "auth/metadata-default",
    "auth/metadata-var1",
    "auth/metadata-var2",
    "auth/metadata-var3",
    "auth/basic-cimd",
    "auth/scope-from-www-authenticate",
    "auth/scope-from-scopes-supported",
    "auth/scope-omitted-when-undefined",
    "auth/scope-step-up",
    "auth/scope-retry-limit",
    "auth/token-endpoint-auth-basic",
    "auth/token-endpoint-auth-post",
    "auth/token-endpoint-auth-none",
    "auth/pre-registration",
    "auth/2025-03-26-oauth-metadata-backcompat",
    "auth/2025-03-26-oauth-endpoint-fallback",
    "auth/resource-mismatch",
    "auth/offline-access-scope",
    "auth/offline-access-not-supported",
    "auth/client-credentials-basic",
    "auth/client-credentials-jwt",
    "auth/cross-app-access-complete-flow",
]


# 0.2.0-alpha.12's client scenarios, as (spec version, scenario); `None`: an extension, on no
# spec timeline. The skills extension's scenarios (sep-2640-*) are left out: mcpfleet has no
# skills support, and they pass vacuously (SKIPPED) for a client that never lists skills.
NEXT_SCENARIOS = [
    *[("2026-07-28", s) for s in [
        "tools_call", "request-metadata", "sep-2322-client-request-state", "http-standard-headers",
        "http-custom-headers", "http-invalid-tool-headers", "json-schema-ref-no-deref",
        "json-schema-2020-12-preservation",
        *[a for a in AUTH_SCENARIOS if not a.startswith(("auth/2025-03-26", "auth/client-credentials", "auth/cross-app"))],
        "auth/authorization-server-migration", "auth/iss-supported", "auth/iss-not-advertised",
        "auth/iss-supported-missing", "auth/iss-wrong-issuer", "auth/iss-unexpected", "auth/iss-normalized",
        "auth/metadata-issuer-mismatch",
    ]],
    *[("2025-11-25", s) for s in ["initialize", "tools_call", "elicitation-sep1034-client-defaults", "sse-retry", "json-schema-2020-12-preservation"]],
    ("2025-03-26", "auth/2025-03-26-oauth-metadata-backcompat"),
    ("2025-03-26", "auth/2025-03-26-oauth-endpoint-fallback"),
    *[(None, s) for s in [
        "auth/client-credentials-jwt", "auth/client-credentials-basic", "auth/enterprise-managed-authorization",
        "auth/dpop", "auth/dpop-nonce", "auth/wif-jwt-bearer",
    ]],
]


def next_id(spec: str | None, scenario: str) -> str:
    """How expected-failures.yml names a 0.2.0-alpha.12 run."""
    return f"next:{scenario}" if spec is None else f"next@{spec}:{scenario}"


def expected_failures() -> dict[str, str]:
    """expected-failures.yml: `scenario: >-` lines, each followed by its indented reason."""
    failures: dict[str, str] = {}
    current = None
    with open(EXPECTED_FAILURES) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            if line[0].isspace():
                assert current, f"reason without a scenario: {line!r}"
                failures[current] = (failures[current] + " " + line.strip()).strip()
            else:
                current = line.rsplit(":", 1)[0].strip() if line.rstrip().endswith(">-") else None
                assert current, f"expected `scenario: >-`, got {line!r}"
                failures[current] = ""
    return failures


def run_scenario(scenario: str, tmp_path, cli=CLI, spec: str | None = None) -> tuple[int, str]:
    if not (NODE22.exists() and cli.exists()):
        missing("npm install has not been run (conformance suite or Node 22 missing)")
    env = {**os.environ, "PATH": f"{NODE22.parent}:{os.environ['PATH']}"}
    versioned = ["--spec-version", spec] if spec else []
    out = subprocess.run(
        [str(NODE22), str(cli), "client", "--command", f"{PY} {CLIENT}", "--scenario", scenario, *versioned, "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    return out.returncode, out.stdout + out.stderr


@pytest.mark.parametrize("scenario", ["initialize", "tools_call", "elicitation-sep1034-client-defaults", "sse-retry"])
def test_client_scenario(scenario, tmp_path):
    code, report = run_scenario(scenario, tmp_path)
    assert code == 0, report
    assert "OVERALL: PASSED" in report, report


def judge(name: str, code: int, report: str) -> None:
    reason = expected_failures().get(name)
    if reason is None:
        assert code == 0 and "OVERALL: PASSED" in report, report
    else:
        assert code != 0, f"{name} passes now: remove it from expected-failures.yml\n{report}"
        assert reason.strip()


@pytest.mark.parametrize("scenario", AUTH_SCENARIOS)
def test_auth_scenario(scenario, tmp_path):
    judge(scenario, *run_scenario(scenario, tmp_path))


@pytest.mark.parametrize("spec, scenario", NEXT_SCENARIOS, ids=[next_id(*s) for s in NEXT_SCENARIOS])
def test_next_scenario(spec, scenario, tmp_path):
    """0.2.0-alpha.12 at the spec version given: 2026-07-28 runs stateless (the client is told
    the version in MCP_CONFORMANCE_PROTOCOL_VERSION and speaks it)."""
    judge(next_id(spec, scenario), *run_scenario(scenario, tmp_path, cli=CLI_NEXT, spec=spec))


def test_expected_failures_are_known_scenarios():
    unknown = set(expected_failures()) - set(AUTH_SCENARIOS) - {next_id(*s) for s in NEXT_SCENARIOS}
    assert not unknown, f"expected-failures.yml names scenarios that are not run: {unknown}"


def server_suite(url: str, tmp_path) -> dict[str, bool]:
    """Every server scenario of the suite against `url`: {scenario: passed}."""
    env = {**os.environ, "PATH": f"{NODE22.parent}:{os.environ['PATH']}"}
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = subprocess.run([str(NODE22), str(CLI), "server", "--url", url, "-o", str(tmp_path)],
                         capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    results = {}
    for line in (out.stdout + out.stderr).splitlines():
        mark, _, rest = line.strip().partition(" ")
        if mark in ("✓", "✗") and ":" in rest:
            results[rest.split(":", 1)[0]] = mark == "✓"
    assert len(results) >= 20, out.stdout + out.stderr
    return results


def test_the_gateway_passes_every_server_scenario_its_backend_passes(tmp_path, everything_http):
    """`mcpfleet serve` in front of one server with no prefix is a transparent proxy: every
    server scenario server-everything passes alone passes through the gateway too."""
    from conftest import free_port, start_server, stop

    if not (NODE22.exists() and CLI.exists()):
        missing("npm install has not been run (conformance suite or Node 22 missing)")
    alone = server_suite(everything_http, tmp_path / "alone")
    cfg = tmp_path / "fleet.yaml"
    cfg.write_text(f"# one backend, names as it gives them\nname: everything\nurl: {everything_http}\nautoStart: true\ntoolPrefix: ''\n")
    port = free_port()
    gateway = start_server([PY, "-m", "mcpfleet", "serve", str(cfg), "--http", str(port)], port)
    try:
        through = server_suite(f"http://127.0.0.1:{port}/mcp", tmp_path / "gateway")
    finally:
        stop(gateway)
    lost = sorted(s for s, ok in alone.items() if ok and not through.get(s))
    assert not lost, f"scenarios the backend passes alone but not through the gateway: {lost}"
    assert sum(alone.values()) >= 10 and through["dns-rebinding-protection"]
