"""The bubblewrap command line that jails submitted code, and whether bubblewrap is here.

Inside the jail a process sees, read-only, only what Python needs: ``/usr``
(and the ``/bin``, ``/lib*``, ``/sbin`` links or folders), the dynamic
linker's cache, the interpreter's installation, the virtual environment, the
fedarena source tree, the ``PYTHONPATH`` folders, and the folders it is given (a plugin's folder, a
scenario's data); a private ``/tmp``, ``/proc`` and a minimal ``/dev``; and
one read-write scratch folder. It has no network, its own PID namespace (the
kernel kills every process in it when the jail ends, even one that left its
process group), a new session, a clean environment, and dies with its parent.
``/etc/passwd``, home folders and the rest of the file system are not there.

Where ``bwrap`` is absent (or ``FEDARENA_NO_BWRAP=1``), submitted code runs
with the process limits alone, and ``available`` says so once, on stderr.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

import fedarena

DISABLE_ENV = "FEDARENA_NO_BWRAP"
NOTICE = (
    "fedarena: bubblewrap (bwrap) not found: submitted code runs with process limits only, "
    "not in a sandbox"
)
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_LINKER = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d")
_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "PYTHONHASHSEED")
_noticed = False


def executable() -> str | None:
    """The ``bwrap`` to use, or ``None`` when it is absent or disabled."""
    if os.environ.get(DISABLE_ENV, "") not in ("", "0"):
        return None
    return shutil.which("bwrap")


def available() -> bool:
    """Whether submitted code can be jailed; the first ``False`` prints ``NOTICE``."""
    global _noticed
    if executable() is not None:
        return True
    if not _noticed:
        print(NOTICE, file=sys.stderr, flush=True)
        _noticed = True
    return False


def python_paths() -> list[Path]:
    """What the interpreter and fedarena are read from: its installation, the virtual
    environment, the folder holding the ``fedarena`` package and the folders of
    ``PYTHONPATH`` (installed components and their entry points)."""
    paths = {Path(sys.base_prefix), Path(sys.prefix), Path(fedarena.__file__).resolve().parents[1]}
    extra = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    paths |= {Path(p).resolve() for p in extra if p and Path(p).is_dir()}
    return sorted(paths)


def code_folders(targets: Iterable[str]) -> list[Path]:
    """The folders a jail must see to import ``targets``: a ``path/to/file.py``'s folder,
    a ``package.module``'s top-level package folder or module file (found without running
    it) when it lies outside the Python installation."""
    folders = set()
    for target in targets:
        if target.endswith(".py"):
            folders.add(Path(target).resolve().parent)
            continue
        try:
            found = importlib.util.find_spec(target.partition(".")[0])
        except (ImportError, ValueError):
            continue
        origin = found.origin if found is not None else None
        locations = list(found.submodule_search_locations or []) if found is not None else []
        paths = [Path(p) for p in locations] or ([Path(origin)] if origin else [])
        for path in paths:
            if path.exists() and not any(p in path.resolve().parents for p in python_paths()):
                folders.add(path.resolve())
    return sorted(folders)


def _system_binds() -> list[str]:
    args: list[str] = []
    for name in _SYSTEM:
        path = Path(name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), name]
        elif path.is_dir():
            args += ["--ro-bind", name, name]
    for name in _LINKER:
        if Path(name).exists():
            args += ["--ro-bind", name, name]
    return args


def _environment(scratch: Path) -> list[str]:
    args = ["--clearenv", "--setenv", "HOME", str(scratch), "--setenv", "TMPDIR", "/tmp"]
    for name, value in os.environ.items():
        if name in _PASSED_ENV or name.startswith(("FEDARENA_", "FLWR_")):
            args += ["--setenv", name, value]
    return args


def command(readable: Iterable[Path], scratch: Path, cwd: Path) -> list[str]:
    """The ``bwrap ...`` prefix of a jailed command: ``readable`` folders read-only,
    ``scratch`` read-write, working directory ``cwd`` (created empty if not visible)."""
    bwrap = executable() or "bwrap"
    # /tmp first: the folders bound after it (a plugin's, the scratch) may lie in the host's /tmp
    args = [bwrap, *_system_binds(), "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    visible = [p.resolve() for p in (*python_paths(), *readable) if p.exists()]
    for path in sorted(set(visible)):
        args += ["--ro-bind", str(path), str(path)]
    args += ["--bind", str(scratch), str(scratch)]
    if not any(cwd == p or p in cwd.parents for p in (*visible, scratch)):
        args += ["--dir", str(cwd)]
    args += _environment(scratch)
    args += ["--unshare-all", "--die-with-parent", "--new-session", "--chdir", str(cwd)]
    return args
