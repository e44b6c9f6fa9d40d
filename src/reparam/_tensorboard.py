"""TensorBoard event files that mirror ``metrics.jsonl`` (the optional extra
``reparam[tensorboard]``).

:class:`EventLog` turns each history row (one per epoch, as :mod:`reparam._loop_state`
writes it) into scalars at global step ``epoch``; the tag of a key is
:func:`scalar_tag`'s (``loss`` → ``train/loss``, ``valid_elbo`` → ``valid/elbo``, ``step``
and ``seconds`` → ``run/step`` and ``run/seconds``). Non-numeric values are skipped; a
non-finite one (``null`` in ``metrics.jsonl``) is written as it is (NaN or ±inf). Event
files store scalars as float32, so a value reads back as ``float(np.float32(value))``.

The events equal the history, whatever happened to the run: opening the log writes the
history so far (the rows of a resumed checkpoint, none on a fresh start) into a new event
file and then deletes the event files an earlier :class:`EventLog` left in the directory
(they end in :data:`SUFFIX`; other event files are left alone). So a resumed run holds no
row twice and no row of an epoch that its checkpoint had not completed, for any reader of
event files (``EventAccumulator``, ``summary_iterator``), in whatever order it reads them;
and resuming a run trained without events writes its whole history. A crash between the
two steps leaves both files; the next open cleans up again. (TensorBoard's ``purge_step``
would depend on the new file sorting after the old one, which file names written within
the same second do not guarantee.) The rewritten rows carry the time of the rewrite.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["EXTRA", "SUFFIX", "EventLog", "require", "scalar_tag", "scalars"]

#: how to install what :class:`EventLog` needs.
EXTRA = "pip install 'reparam[tensorboard]'"
#: the end of the names of the event files an :class:`EventLog` writes.
SUFFIX = ".reparam"
#: the keys of a history row that are not training metrics: their tags' prefix.
RUN_KEYS = ("step", "seconds")


def require() -> Any:
    """torch's ``SummaryWriter`` class (imported on first use).

    Raises:
        ImportError: the ``tensorboard`` package is missing, in one line naming
            :data:`EXTRA`.
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ImportError(f"TensorBoard logging needs the tensorboard package: {EXTRA}") from None
    return SummaryWriter


def scalar_tag(key: str) -> str | None:
    """The TensorBoard tag of history key ``key`` (None for ``epoch``, the global step)."""
    if key == "epoch":
        return None
    if key.startswith("valid_"):
        return "valid/" + key.removeprefix("valid_")
    return ("run/" if key in RUN_KEYS else "train/") + key


def scalars(row: Mapping[str, Any]) -> dict[str, float]:
    """The scalars of history row ``row``: tag → value for its numeric fields (a bool or
    a non-number is skipped)."""
    out = {}
    for key, value in row.items():
        tag = scalar_tag(key)
        if tag is not None and isinstance(value, int | float) and not isinstance(value, bool):
            out[tag] = float(value)
    return out


class EventLog:
    """The event file of one run in ``log_dir`` (created if missing), which mirrors the
    history (see the module docstring).

    Args:
        log_dir: the event directory (TensorBoard's ``--logdir`` or a folder below it).
        history: the rows already in ``metrics.jsonl`` (a resumed run's), written first.

    Raises:
        ImportError: no ``tensorboard`` package (:func:`require`).
        OSError: ``log_dir`` cannot be created or written.
    """

    def __init__(
        self, log_dir: str | os.PathLike[str], history: Iterable[Mapping[str, Any]]
    ) -> None:
        writer_class = require()
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        older = sorted(self.log_dir.glob(f"events.out.tfevents.*{SUFFIX}"))
        self._writer = writer_class(str(self.log_dir), filename_suffix=SUFFIX)
        try:
            for row in history:
                self._add(row)
            self._writer.flush()
            for path in older:
                path.unlink(missing_ok=True)
        except BaseException:
            self._writer.close()
            raise

    def _add(self, row: Mapping[str, Any]) -> None:
        epoch = int(row["epoch"])
        for tag, value in scalars(row).items():
            self._writer.add_scalar(tag, value, epoch)

    def write(self, row: Mapping[str, Any]) -> None:
        """Add history row ``row`` (its ``epoch`` the global step) and flush it to disk."""
        self._add(row)
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file (idempotent)."""
        self._writer.close()
