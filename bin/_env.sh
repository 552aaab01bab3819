# Shared by bin/test and bin/async-audit: find interpreters and build the project's virtualenvs.
# Sourced, never run. Every venv is rebuilt when pyproject.toml changes (a stamp holds its hash).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# find_python 3.12 -> prints a working interpreter path for that minor version, or fails.
find_python() {
    local want="$1" candidate ver
    if command -v "python$want" >/dev/null 2>&1 && "python$want" -c 'pass' >/dev/null 2>&1; then
        command -v "python$want"; return 0
    fi
    if command -v pyenv >/dev/null 2>&1; then
        # pyenv shims only answer for the active version; ask pyenv for the newest installed patch release.
        ver="$(pyenv versions --bare 2>/dev/null | grep -E "^${want//./\\.}\.[0-9]+$" | sort -V | tail -n 1 || true)"
        if [ -n "$ver" ]; then
            candidate="$(pyenv root)/versions/$ver/bin/python$want"
            if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
        fi
    fi
    echo "error: no Python $want found (install it, e.g. with pyenv)" >&2
    return 1
}

# ensure_venv DIR PYTHON_MINOR EXTRA_PIP_ARGS... -> creates or refreshes DIR with the project installed editable.
ensure_venv() {
    local dir="$1" minor="$2"; shift 2
    local stamp_want py
    stamp_want="$(sha256sum < "$ROOT/pyproject.toml" | cut -c1-16) $*"
    if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp_want" ]; then
        ensure_extension "$dir"
        return 0
    fi
    py="$(find_python "$minor")"
    echo "==> building $dir with $("$py" -V 2>&1)" >&2
    rm -rf "$dir"
    "$py" -m venv "$dir"
    # pip's own chatter goes to a log, shown only when the install fails.
    if ! { "$dir/bin/python" -m pip install --upgrade pip \
           && "$dir/bin/python" -m pip install -e "$ROOT[test,dev,bench]" "$@"; } >"$dir/install.log" 2>&1; then
        tail -n 30 "$dir/install.log" >&2
        echo "error: installing into $dir failed (full log: $dir/install.log)" >&2
        return 1
    fi
    echo "$stamp_want" > "$dir/.stamp"
}

# ensure_extension DIR -> rebuilds the recorder's C walk for DIR's Python when its source is newer than the
# module an editable install built next to it (hatch_build.py), or the module is missing.
ensure_extension() {
    local dir="$1" source="$ROOT/src/async_audit/record/_callsite.c" suffix built
    suffix="$("$dir/bin/python" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
    built="$ROOT/src/async_audit/record/_callsite$suffix"
    if [ -f "$built" ] && [ "$built" -nt "$source" ] && [ "$built" -nt "$ROOT/hatch_build.py" ]; then
        return 0
    fi
    echo "==> building the C call-site walk for $dir" >&2
    if ! "$dir/bin/python" -m pip install --no-deps -e "$ROOT" >"$dir/install-extension.log" 2>&1; then
        tail -n 30 "$dir/install-extension.log" >&2
        echo "error: rebuilding the project into $dir failed" >&2
        return 1
    fi
}

# The newest supported stack runs the tools, lint and types; the oldest one runs the tests again.
NEWEST_VENV="$ROOT/.venv"
OLDEST_VENV="$ROOT/.venvs/oldest"
ensure_newest() { ensure_venv "$NEWEST_VENV" 3.12 "django>=6.0,<6.2"; }
ensure_oldest() { ensure_venv "$OLDEST_VENV" 3.10 "django>=4.2,<4.3" "django-tasks>=0.7"; }
