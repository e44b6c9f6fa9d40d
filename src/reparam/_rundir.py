"""Run directories: one owner at a time, a record of who wrote them, no debris.

A command that writes into a directory (``vae train --out DIR``, ``vi fit``, ``compare``,
…) *claims* it first:

- **Lock.** An exclusive ``flock`` on ``DIR/.reparam.lock`` held for the whole run (the
  kernel releases it when the process ends, even by ``kill -9``). A second process that
  claims the directory fails at once, naming the holder's pid. The lock file stays (a
  lock file that is deleted can be locked twice).
- **Record.** ``DIR/run.json`` says which command wrote the directory, in which format,
  and which files are its outputs: ``{"command": "vae train", "format": 1,
  "outputs": [...], "reparam_version": ...}``. A command refuses a directory written by
  another one (``vae eval`` on a ``bnn train`` run, ``vi fit --out`` a VAE run) with one
  clear line; ``--overwrite`` replaces a run (its recorded outputs are deleted first).
- **Writability.** Claiming creates the directory and the lock file, so an ``--out`` that
  cannot be written fails before any computation starts.
- **Debris.** Temporary files of interrupted atomic writes (``.NAME.*.tmp``, see
  :mod:`reparam._atomic`) are removed when the lock is taken: no writer can own them then.

Directories written before records existed (a ``config.json`` and no ``run.json``) are
*legacy*: a command may resume one when its config passes the command's own check, and
the record is written then.

The library's :func:`reparam.training.train` takes the same lock (and reuses it when its
caller, a command of this process, already holds it).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._atomic import atomic_write_text

__all__ = [
    "FORMAT",
    "LOCK",
    "RECORD",
    "RunDir",
    "RunDirError",
    "claim",
    "check_claim",
    "check_kind",
    "lock",
    "read_record",
    "remove_debris",
]

RECORD = "run.json"
LOCK = ".reparam.lock"
#: the layout version of run directories this reparam writes (a newer one is refused).
FORMAT = 1
#: the temporary files of :func:`reparam._atomic.atomic_open` (``mkstemp``: 8 characters).
_TMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
#: primary files of runs written before run records existed (legacy directories).
LEGACY_MARKERS = ("config.json", "checkpoint.pt", "result.json", "compare.json", "uci.json")


class RunDirError(Exception):
    """A run directory that cannot be used (reported as one line, exit status 2)."""


def _oserror(exc: OSError) -> str:
    return exc.strerror or str(exc)


def read_record(d: Path) -> dict[str, Any] | None:
    """The run record of ``d`` (None when there is none).

    Raises:
        RunDirError: the record is unreadable or not a record.
    """
    path = d / RECORD
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"cannot read the run record {path}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("command"), str):
        raise RunDirError(f"{path} is not a reparam run record (no 'command')")
    fmt = doc.get("format")
    if not isinstance(fmt, int) or fmt > FORMAT:
        raise RunDirError(
            f"{path} was written by a newer reparam (run format {fmt!r}; this version reads "
            f"format {FORMAT}): upgrade reparam to use this directory"
        )
    return doc


def _legacy_files(d: Path) -> list[str]:
    return [name for name in LEGACY_MARKERS if (d / name).exists()]


def check_kind(d: Path, command: str, legacy_ok: Callable[[Path], bool] | None = None) -> None:
    """``d`` must have been written by ``command`` (for commands that read a run: eval,
    sample, resume).

    Raises:
        RunDirError: ``d`` records another command, or is a legacy directory that
            ``legacy_ok`` rejects.
    """
    record = read_record(d)
    if record is None:
        if legacy_ok is not None and legacy_ok(d):
            return
        raise RunDirError(
            f"{str(d)!r} holds no run of 'reparam {command}' (no {RECORD}, and its files "
            f"are not a {command} run)"
        )
    if record["command"] != command:
        other = record["command"]
        family = other.split()[0]
        raise RunDirError(
            f"{str(d)!r} holds a 'reparam {other}' run, not a 'reparam {command}' run"
            + (f": use the 'reparam {family} …' commands on it" if family != command.split()[0]
               else "")
        )  # fmt: skip


def check_claim(
    d: Path,
    command: str,
    *,
    resume: bool = False,
    overwrite: bool = False,
    replace_own: bool = False,
    legacy_ok: Callable[[Path], bool] | None = None,
) -> None:
    """Whether ``command`` may write into ``d`` (no lock taken; :func:`claim` checks again
    under the lock). The rules:

    - a missing or empty directory is free (``resume`` needs a run, though);
    - a run of another command is refused, unless ``overwrite``;
    - a run of ``command`` itself needs ``resume`` or ``overwrite``, unless
      ``replace_own`` (commands whose outputs are a cheap, complete measurement);
    - a legacy directory (reparam files, no record) may be resumed if ``legacy_ok``
      accepts it, replaced with ``overwrite``, and is refused otherwise;
    - a directory holding only other files (not reparam's) is free.

    Raises:
        RunDirError: with the reason and what to do.
    """
    if d.exists() and not d.is_dir():
        raise RunDirError(f"argument --out: {str(d)!r} exists and is not a directory")
    record = read_record(d) if d.is_dir() else None
    option = "--out"
    if record is None:
        legacy = _legacy_files(d) if d.is_dir() else []
        if resume:
            if legacy and legacy_ok is not None and legacy_ok(d):
                return
            raise RunDirError(
                f"--resume: {str(d)!r} holds no 'reparam {command}' run to resume; "
                "train first without --resume"
            )
        if legacy and not overwrite:
            raise RunDirError(
                f"argument {option}: {str(d)!r} already holds files of a reparam run "
                f"({', '.join(legacy)}); pass --overwrite to replace them or choose "
                f"another {option}"
            )
        return
    other = record["command"]
    if other != command:
        if overwrite and not resume:
            return
        raise RunDirError(
            f"argument {option}: {str(d)!r} holds a 'reparam {other}' run; choose another "
            f"{option}" + ("" if resume else " or pass --overwrite to replace it")
        )
    if resume or overwrite or replace_own:
        return
    raise RunDirError(
        f"argument {option}: {str(d)!r} already holds a 'reparam {command}' run; pass "
        f"--resume to continue it, --overwrite to replace it, or choose another {option}"
        if record.get("resumable")
        else f"argument {option}: {str(d)!r} already holds a 'reparam {command}' run; pass "
        f"--overwrite to replace it or choose another {option}"
    )


# --------------------------------------------------------------------------- the lock
@dataclass
class _Held:
    fd: int
    count: int = 1


_HELD: dict[Path, _Held] = {}


def _lock_error(d: Path, fd: int) -> RunDirError:
    with contextlib.suppress(OSError, ValueError):
        pid = int(os.pread(fd, 32, 0).decode().strip() or "0")
        if pid:
            return RunDirError(
                f"{str(d)!r} is in use by another reparam process (pid {pid}); wait for it "
                "to finish or choose another directory"
            )
    return RunDirError(f"{str(d)!r} is in use by another reparam process")


@contextlib.contextmanager
def lock(d: Path) -> Iterator[None]:
    """Hold the exclusive lock of ``d`` (created if missing) for the block.

    Re-entrant within a process: a nested ``lock`` of a directory this process holds
    reuses it. Temporary files of interrupted atomic writes are removed when the lock is
    first taken.

    Raises:
        RunDirError: ``d`` cannot be created or written, or another process holds it.
    """
    key = Path(os.path.abspath(d))
    held = _HELD.get(key)
    if held is not None:
        held.count += 1
        try:
            yield
        finally:
            held.count -= 1
        return
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd = os.open(d / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RunDirError(f"cannot write to {str(d)!r}: {_oserror(exc)}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise _lock_error(d, fd) from None
            raise RunDirError(f"cannot lock {str(d)!r}: {_oserror(exc)}") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            raise RunDirError(f"cannot write to {str(d)!r}: {_oserror(exc)}") from None
        remove_debris(d)
        _HELD[key] = _Held(fd)
        try:
            yield
        finally:
            del _HELD[key]
    finally:
        os.close(fd)  # releases the flock


def holds(d: Path) -> bool:
    """Whether this process holds the lock of ``d``."""
    return Path(os.path.abspath(d)) in _HELD


def remove_debris(d: Path) -> list[Path]:
    """Remove the temporary files of interrupted atomic writes in ``d`` and its
    subdirectories (``.NAME.*.tmp``); returns what was removed."""
    removed = []
    for path in d.rglob(".*.tmp"):
        if path.is_file() and _TMP_NAME.match(path.name):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


# --------------------------------------------------------------------------- claiming
@dataclass
class RunDir:
    """A claimed run directory (see :func:`claim`)."""

    path: Path
    command: str
    record: dict[str, Any] = field(default_factory=dict)
    created: bool = False

    def discard(self) -> None:
        """Remove what this run wrote (its recorded outputs and record) and the directory
        if this run created it: for a run that ended before it saved anything usable."""
        _remove_outputs(self.path, self.record.get("outputs", ()))
        if self.created:
            with contextlib.suppress(OSError):
                (self.path / LOCK).unlink(missing_ok=True)
                self.path.rmdir()


def _remove_outputs(d: Path, patterns: Iterable[str]) -> None:
    for pattern in patterns:
        if not isinstance(pattern, str) or "/" in pattern or ".." in pattern or not pattern:
            continue  # a record names files of its own directory only
        for path in d.glob(pattern):
            if path.name == LOCK:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


@contextlib.contextmanager
def claim(
    d: Path,
    command: str,
    outputs: Iterable[str],
    *,
    resume: bool = False,
    overwrite: bool = False,
    replace_own: bool = False,
    resumable: bool = False,
    legacy_ok: Callable[[Path], bool] | None = None,
    version: str = "",
) -> Iterator[RunDir]:
    """Claim ``d`` for ``command`` for the block: lock it, check it (:func:`check_claim`),
    replace a previous run when ``overwrite``, write the record.

    ``outputs`` are the names (glob patterns, no ``/``) of the files the command writes;
    they are recorded, and deleted by a later ``--overwrite``. If the block raises before
    anything but the record was written, the record is removed again, and so is the
    directory if this call created it (bad input leaves nothing behind).

    Raises:
        RunDirError: as :func:`check_claim`, :func:`lock`.
    """
    existed = d.is_dir()
    try:
        with lock(d):
            check_claim(
                d, command, resume=resume, overwrite=overwrite, replace_own=replace_own,
                legacy_ok=legacy_ok,
            )  # fmt: skip
            previous = read_record(d)
            if overwrite and not resume:
                _remove_outputs(
                    d, previous.get("outputs", ()) if previous is not None else _legacy_files(d)
                )
                (d / RECORD).unlink(missing_ok=True)
                previous = None
            before = set(os.listdir(d))
            record = {
                "command": command,
                "format": FORMAT,
                "resumable": resumable,
                "outputs": sorted(set(outputs) | {RECORD}),
                "reparam_version": version,
            }
            if previous != record:
                try:
                    atomic_write_text(d / RECORD, json.dumps(record, indent=2) + "\n")
                except OSError as exc:
                    raise RunDirError(f"cannot write to {str(d)!r}: {_oserror(exc)}") from None
            try:
                yield RunDir(d, command, record, created=not existed)
            except BaseException:
                with contextlib.suppress(OSError):
                    if previous is None and not (set(os.listdir(d)) - before - {RECORD}):
                        (d / RECORD).unlink(missing_ok=True)
                raise
    except BaseException:
        if not existed:  # remove the directory this call made if it is empty but the lock
            with contextlib.suppress(OSError):
                if set(os.listdir(d)) <= {LOCK}:
                    (d / LOCK).unlink(missing_ok=True)
                    d.rmdir()
        raise
