"""The audited project's source lines around a call site, read safely and highlighted.

Call-site paths come from recordings, so they are untrusted: a path is only read when it resolves to a regular
file inside the source root (no ``..``, no absolute paths, no symlinks out of the tree), and only a bounded
size of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, PythonLexer, TextLexer

#: Files larger than this are not read for an excerpt (a generated module, a data file).
MAX_SOURCE_BYTES = 2_000_000
PYGMENTS_STYLE = "friendly"
_CSS_CLASS = "code"


@dataclass(frozen=True)
class Excerpt:
    """Lines ``first``..``last`` of ``file``; ``line`` is the call site's line."""

    file: str
    line: int
    first: int
    lines: tuple[str, ...]

    @property
    def last(self) -> int:
        return self.first + len(self.lines) - 1

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def read_excerpt(
    source_root: str | Path | None, file: str | None, line: int | None, context: int = 4
) -> Excerpt | None:
    """``context`` lines either side of ``file``:``line`` under ``source_root``; None if unreadable."""
    if not source_root or not file or not line or line < 1:
        return None
    lines = _read_lines(str(source_root), file)
    if lines is None or line > len(lines):
        return None
    first = max(1, line - context)
    last = min(len(lines), line + context)
    return Excerpt(file=file, line=line, first=first, lines=tuple(lines[first - 1 : last]))


def _read_lines(source_root: str, file: str) -> list[str] | None:
    try:
        root = Path(source_root).resolve(strict=True)
        relative = Path(file)
        if relative.is_absolute():
            return None
        path = (root / relative).resolve(strict=True)
        if not path.is_relative_to(root) or not path.is_file() or path.stat().st_size > MAX_SOURCE_BYTES:
            return None
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except (OSError, ValueError, RuntimeError):
        # RuntimeError: a symlink loop. Any unreadable file just has no excerpt in the report.
        return None


def highlight_excerpt(excerpt: Excerpt) -> Markup:
    """The excerpt as highlighted HTML with its real line numbers, the call site's line marked."""
    formatter = HtmlFormatter(
        style=PYGMENTS_STYLE,
        cssclass=_CSS_CLASS,
        linenos="inline",
        linenostart=excerpt.first,
        hl_lines=[excerpt.line - excerpt.first + 1],
        wrapcode=True,
    )
    lexer = PythonLexer() if excerpt.file.endswith((".py", ".pyi")) else TextLexer()
    return Markup(highlight(excerpt.text, lexer, formatter))


def highlight_code(code: str, language: str = "python") -> Markup:
    """Generated code (a task module, a command, a diff) as highlighted HTML."""
    lexer = {"python": PythonLexer, "diff": DiffLexer}.get(language, TextLexer)()
    formatter = HtmlFormatter(style=PYGMENTS_STYLE, cssclass=_CSS_CLASS, wrapcode=True)
    return Markup(highlight(code, lexer, formatter))


def pygments_css() -> Markup:
    """The highlighting styles, to inline in the report's stylesheet."""
    formatter = HtmlFormatter(style=PYGMENTS_STYLE, cssclass=_CSS_CLASS)
    return Markup(formatter.get_style_defs(f".{_CSS_CLASS}"))  # type: ignore[no-untyped-call]  # untyped in types-pygments
