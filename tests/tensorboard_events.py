"""Reading TensorBoard events back for the tests (tensorboard imported when called):
what TensorBoard shows, what the raw files hold, and what ``metrics.jsonl`` says they must be."""

import json
import math

import numpy as np


def tag_of(key):
    """The tag the docs promise for a metrics.jsonl key (written out, not imported)."""
    if key.startswith("valid_"):
        return "valid/" + key[len("valid_") :]
    return ("run/" if key in ("step", "seconds") else "train/") + key


def expected_scalars(rows):
    """tag -> [(epoch, value as float32)] of metrics.jsonl rows (null: NaN)."""
    out = {}
    for row in rows:
        for key, value in row.items():
            if key == "epoch" or isinstance(value, bool | str):
                continue
            value = math.nan if value is None else float(np.float32(value))
            out.setdefault(tag_of(key), []).append((row["epoch"], value))
    return out


def accumulated(log_dir):
    """tag -> [(step, value)] as TensorBoard shows them (EventAccumulator, all events kept)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def raw(log_dir):
    """tag -> [(step, value)] of every event in every event file, in file order (no purging
    applied: what summary_iterator-style readers see)."""
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

    out = {}
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for event in LegacyEventFileLoader(str(path)).Load():
            for value in event.summary.value:
                out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


def same(a, b):
    """Equal scalar tables, NaN equal to NaN."""
    assert a.keys() == b.keys(), (sorted(a), sorted(b))
    for tag in a:
        got = [(s, "nan" if math.isnan(v) else v) for s, v in a[tag]]
        want = [(s, "nan" if math.isnan(v) else v) for s, v in b[tag]]
        assert got == want, tag


def metrics_rows(d):
    return [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]


def assert_events_equal_metrics(log_dir, rows):
    want = expected_scalars(rows)
    same(accumulated(log_dir), want)
    same(raw(log_dir), want)  # one copy of each row, whatever the reader
    assert len(list(log_dir.glob("events.out.tfevents.*"))) == 1
