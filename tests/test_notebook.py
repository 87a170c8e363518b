"""`examples/notebook.ipynb`, executed by nbclient in a real ipykernel: the fleet built cell by
cell starts its servers, and the rich displays come out as HTML."""

from __future__ import annotations

from conftest import EVERYTHING, ROOT, missing

try:
    import nbformat
    from nbclient import NotebookClient
except ImportError as e:  # pragma: no cover - CI installs them
    missing(f"nbclient/nbformat are not installed ({e})")


def html_of(cell) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in cell.get("outputs", []) if o.get("output_type") == "execute_result")


def text_of(cell) -> str:
    return "".join(o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", []) if o.get("output_type") == "execute_result")


async def test_the_example_notebook_runs_and_shows_html():
    if not EVERYTHING.exists():
        missing("npm install has not been run (server-everything missing)")
    notebook = nbformat.read(ROOT / "examples" / "notebook.ipynb", as_version=4)
    client = NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "examples")}})
    await client.async_execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    code = [c for c in notebook.cells if c.cell_type == "code"]
    created = html_of(code[1])
    assert "<table" in created and "demo" in created and "Running" in created, created
    table = html_of(code[3])
    assert "2 server(s), 2 up" in table and "everything" in table, table
    assert "<code>demo_echo</code>" in html_of(code[4]) and "<code>ev_get-tiny-image</code>" in html_of(code[4])
    added = html_of(code[5])
    assert "structured content" in added and "&quot;result&quot;: 5" in added, added
    assert '<img src="data:image/png;base64,' in html_of(code[6])
    # start_auto() in a notebook: a live table, left showing the final states.
    live = "".join(o.get("data", {}).get("text/html", "") for o in code[7].get("outputs", []) if o.get("output_type") == "display_data")
    assert "<table" in live and "2 server(s), 2 up" in live and "first" in live and "second" in live, code[7].get("outputs")
    assert text_of(code[7]) == "{'first': None, 'second': None}"
    assert "Stopped" in text_of(code[9]) or "Disconnected" in text_of(code[9])
