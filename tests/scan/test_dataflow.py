from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from async_audit.analyze.model import CallSite
from async_audit.scan import dataflow
from async_audit.scan.source import ModuleCache

PROJECT = Path(__file__).parent / "projects" / "flows"
VIEWS = PROJECT / "shop" / "views.py"
_EXPECT = {"yes": True, "no": False, "unknown": None}


def _marked_sites() -> list[tuple[CallSite, bool | None]]:
    """Every ``# flow:`` line of the fixture, with the function the runtime would record for it."""
    tree = ast.parse(VIEWS.read_bytes())
    functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    sites = []
    for number, text in enumerate(VIEWS.read_text().splitlines(), start=1):
        match = re.search(r"# flow: (yes|no|unknown)$", text)
        if not match:
            continue
        holder = max(
            (f for f in functions if f.lineno <= number <= (f.end_lineno or f.lineno)), key=lambda f: f.lineno
        )
        name = "<lambda>" if "lambda:" in text else holder.name
        sites.append((CallSite("shop/views.py", number, name), _EXPECT[match.group(1)]))
    return sites


@pytest.mark.parametrize(("site", "expected"), _marked_sites(), ids=lambda v: str(getattr(v, "line", v)))
def test_marked_lines(site: CallSite, expected: bool | None) -> None:
    assert dataflow.result_reaches_response(PROJECT, site) is expected


def test_fixture_covers_both_answers() -> None:
    answers = {expected for _, expected in _marked_sites()}
    assert answers >= {True, False}


def test_missing_file_line_or_function_is_unknown(tmp_path: Path) -> None:
    assert dataflow.result_reaches_response(PROJECT, CallSite("shop/nope.py", 3, "x")) is None
    assert dataflow.result_reaches_response(PROJECT, CallSite("shop/views.py", 9999, None)) is None
    assert (
        dataflow.result_reaches_response(PROJECT, CallSite("shop/views.py", 16, "no_such_function")) is None
    )
    assert dataflow.result_reaches_response(PROJECT, CallSite(None, None, None)) is None


def test_unparseable_file_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def view(request):\n    return (\n")
    assert dataflow.result_reaches_response(tmp_path, CallSite("broken.py", 2, "view")) is None


def test_qualified_function_name_and_no_name(tmp_path: Path) -> None:
    (tmp_path / "v.py").write_text(
        "import requests\n"
        "class Hook:\n"
        "    def send(self):\n"
        "        requests.post('https://h.example.com', timeout=1)\n"
    )
    assert dataflow.result_reaches_response(tmp_path, CallSite("v.py", 4, "Hook.send")) is False
    assert dataflow.result_reaches_response(tmp_path, CallSite("v.py", 4, None)) is False


def test_multi_line_call_found_from_any_of_its_lines(tmp_path: Path) -> None:
    (tmp_path / "v.py").write_text(
        "import requests\n"
        "from django.shortcuts import render\n"
        "def view(request):\n"
        "    data = requests.get(\n"
        "        'https://api.example.com',\n"
        "        timeout=1,\n"
        "    )\n"
        "    return render(request, 't.html', {'d': data})\n"
    )
    for line in (4, 5, 6):
        assert dataflow.result_reaches_response(tmp_path, CallSite("v.py", line, "view")) is True


def test_cache_sees_a_rewritten_file(tmp_path: Path) -> None:
    path = tmp_path / "v.py"
    path.write_text("import requests\ndef view(request):\n    requests.post('https://h', timeout=1)\n")
    site = CallSite("v.py", 3, "view")
    assert dataflow.result_reaches_response(tmp_path, site) is False
    path.write_text("import requests\ndef view(request):\n    return requests.post('https://h', timeout=1)\n")
    dataflow.clear_cache()
    assert dataflow.result_reaches_response(tmp_path, site) is True


def test_other_encoding_with_declaration(tmp_path: Path) -> None:
    source = (
        "# -*- coding: latin-1 -*-\nimport requests\n"
        "def vue(request):\n    requests.post('https://h/é', timeout=1)\n"
    )
    (tmp_path / "v.py").write_bytes(source.encode("latin-1"))
    assert dataflow.result_reaches_response(tmp_path, CallSite("v.py", 4, "vue")) is False


def test_module_cache_is_bounded(tmp_path: Path) -> None:
    cache = ModuleCache(maxsize=2)
    for index in range(4):
        (tmp_path / f"m{index}.py").write_text("x = 1\n")
        assert cache.get(tmp_path / f"m{index}.py") is not None
    assert len(cache._entries) == 2


def test_qualified_lambda_and_comprehension_names(tmp_path: Path) -> None:
    (tmp_path / "v.py").write_text(
        "import requests\n"
        "from django.db import transaction\n"
        "from django.shortcuts import render\n"
        "def view(request):\n"
        "    transaction.on_commit(lambda: requests.post('https://h', timeout=1))\n"
        "    rows = [requests.get(u, timeout=1).json() for u in ['a', 'b']]\n"
        "    return render(request, 't.html', {'rows': rows})\n"
    )
    lam = CallSite("v.py", 5, "view.<locals>.<lambda>")
    assert dataflow.result_reaches_response(tmp_path, lam) is False
    comp = CallSite("v.py", 6, "view.<locals>.<listcomp>")
    assert dataflow.result_reaches_response(tmp_path, comp) is True


def test_helper_return_followed_into_callers_in_other_files(tmp_path: Path) -> None:
    (tmp_path / "crm.py").write_text(
        "import requests\n"
        "def push(email):\n"
        "    response = requests.post('https://crm.example.com', json={'e': email}, timeout=5)\n"
        "    if response.status_code == 409:\n"
        "        return None\n"
        "    return response.json()['id']\n"
        "def fetch(pk):\n"
        "    return requests.get(f'https://crm.example.com/{pk}', timeout=5).json()\n"
    )
    (tmp_path / "views.py").write_text(
        "from django.shortcuts import redirect, render\n"
        "from crm import fetch, push\n"
        "def signup(request):\n"
        "    contact = push('a@example.com')\n"
        "    if contact:\n"
        "        request.session['seen'] = True\n"
        "    return redirect('/')\n"
        "def profile(request, pk):\n"
        "    return render(request, 'p.html', {'crm': fetch(pk)})\n"
    )
    dataflow.clear_cache()
    assert dataflow.result_reaches_response(tmp_path, CallSite("crm.py", 3, "push")) is False
    assert dataflow.result_reaches_response(tmp_path, CallSite("crm.py", 8, "fetch")) is True
