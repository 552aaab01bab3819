"""Build the recorder's optional C walk (``src/async_audit/record/_callsite.c``) with the wheel.

The extension is optional: when there is no C compiler, on Windows, on Python other than CPython with the
GIL, or with ``ASYNC_AUDIT_PURE_PYTHON`` set at build time, the package installs as pure Python and the
recorder walks the stack in Python, with the same result at a higher cost per recorded call. A failed
compile is a warning, never a failed install. An editable install builds the module next to its source,
where the package is imported from.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("src/async_audit/record/_callsite.c")
MODULE = "async_audit/record/_callsite"


def _compile(source: Path, target: Path) -> str | None:
    """Compile ``source`` into the extension module ``target``; the reason it could not, or None."""
    if sys.platform == "win32":
        return "not built on Windows"
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return "not built for free-threaded Python: its tables assume the GIL"
    if sys.implementation.name != "cpython":
        return f"not built for {sys.implementation.name}"
    compiler = sysconfig.get_config_var("CC") or "cc"
    command = shlex.split(compiler)
    if shutil.which(command[0]) is None:
        return f"no C compiler ({command[0]})"
    include = sysconfig.get_paths()["include"]
    flags = ["-shared", "-fPIC", "-O2", "-Wall", "-Werror=implicit-function-declaration", f"-I{include}"]
    if sys.platform == "darwin":
        flags += ["-undefined", "dynamic_lookup"]
    done = subprocess.run(
        [*command, *flags, str(source), "-o", str(target)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return f"the compiler failed: {done.stderr.strip()[-2000:]}"
    return None


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or os.environ.get("ASYNC_AUDIT_PURE_PYTHON"):
            return
        root = Path(self.root)
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        if version == "editable":
            target = root / f"src/{MODULE}{suffix}"
        else:
            self._scratch = tempfile.mkdtemp(prefix="async-audit-build-")
            target = Path(self._scratch) / f"_callsite{suffix}"
        reason = _compile(root / SOURCE, target)
        if reason is not None:
            self.app.display_warning(f"async-audit: the C call-site walk is not built ({reason})")
            return
        if version != "editable":
            build_data["force_include"][str(target)] = f"{MODULE}{suffix}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        scratch = getattr(self, "_scratch", None)
        if scratch is not None:  # the wheel holds its copy of the module now
            shutil.rmtree(scratch, ignore_errors=True)
