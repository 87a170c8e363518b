"""Ready-made glue between mcpfleet and agent frameworks. Each module is imported on its own
(``from mcpfleet.integrations.openai_agents import FleetMCPServer``) and needs its framework,
installed with the matching extra (``pip install 'mcpfleet[openai-agents]'``)."""


def require(module: str, extra: str, framework: str):
    """Imports ``module``, or raises ImportError saying which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"this integration needs {framework}: pip install 'mcpfleet[{extra}]' ({e})") from e
