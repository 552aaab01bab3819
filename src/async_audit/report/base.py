"""The renderer base class, the registry of formats, and writing reports to a directory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from async_audit.analyze.model import Report
from async_audit.errors import InputError, UsageError

#: Every output format by name ("html", "md", ...), filled in as renderer classes are defined.
RENDERERS: dict[str, type[Renderer]] = {}

#: Every report file is ``<REPORT_BASENAME>.<extension>`` inside the output directory.
REPORT_BASENAME = "async-audit-report"


class Renderer:
    """Turns a :class:`~async_audit.analyze.model.Report` into the text of one file format.

    A subclass sets ``name`` (what ``--format`` accepts) and ``output_file_extension``, implements
    :meth:`render`, and is registered in :data:`RENDERERS` by being defined. Renderers are pure: they read the
    report (and, for people's formats, the templates and the audited source) and return text; writing files is
    :func:`write_reports`'s job.
    """

    name: ClassVar[str] = ""
    output_file_extension: ClassVar[str] = ""
    #: Keep ``\\r\\n`` line ends exactly as rendered (CSV's RFC 4180 line ends).
    preserve_newlines: ClassVar[bool] = False

    def __init__(self, templates: Path | None = None) -> None:
        self.templates = templates

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            RENDERERS[cls.name] = cls

    def render(self, report: Report) -> str:
        """The whole file's text."""
        raise NotImplementedError

    def file_name(self) -> str:
        return f"{REPORT_BASENAME}.{self.output_file_extension}"


def get_renderer(name: str, templates: Path | None = None) -> Renderer:
    """An instance of the renderer for ``name``; :class:`UsageError` for an unknown format."""
    try:
        cls = RENDERERS[name]
    except KeyError:
        known = ", ".join(sorted(RENDERERS))
        raise UsageError(f"unknown report format {name!r} (known: {known})") from None
    return cls(templates=templates)


def write_reports(
    report: Report, out_dir: Path, formats: Sequence[str], templates: Path | None = None
) -> list[Path]:
    """Render ``report`` in each of ``formats`` and write one file per format into ``out_dir``.

    Creates ``out_dir``; file names are fixed (``async-audit-report.<ext>``), so nothing is ever written
    outside it. Each file is written to a temporary name and renamed, so a reader never sees half a report.
    Every format is rendered before anything is written: a template error leaves no partial set of files.
    Returns the paths written, in the order of ``formats`` (duplicates once).
    """
    names = list(dict.fromkeys(formats))
    if not names:
        raise UsageError("no report format given")
    renderers = [get_renderer(name, templates) for name in names]
    rendered = [
        (renderer.file_name(), renderer.preserve_newlines, renderer.render(report)) for renderer in renderers
    ]
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output directory {out_dir}: {exc.strerror or exc}") from None
    written = []
    for file_name, preserve_newlines, text in rendered:
        target = out_dir / file_name
        _write_atomically(target, text, newline="" if preserve_newlines else None)
        written.append(target)
    return written


def _write_atomically(target: Path, text: str, newline: str | None) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"cannot write to {target.parent}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            handle.write(text)
        # mkstemp creates the file 0600; a report is meant to be shared like any file the user writes.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
