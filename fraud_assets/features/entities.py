"""The feature state cut into one record per key (a customer, a merchant, a category), and put back.

Online scoring reads and writes only the keys a transaction touches, so the state is kept per key in
a store (`fraud_assets.deployment.state_store`) and a transaction's sub-state is assembled from three
records. A record is plain JSON-able data; splitting a state and assembling its records again gives
the same state, so the features computed on a sub-state are those of the full state. A store keeps each
record in a fixed binary layout (`record_bytes`): every request reads and writes three of them while it
holds the state, and JSON took longer to write and read than the rest of the store's work.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping

import numpy as np

from fraud_assets.features import definitions as d
from fraud_assets.features.amount_history import AmountHistory
from fraud_assets.features.label_history import LabelHistory
from fraud_assets.features.state import FeatureState, KeyHistory
from fraud_assets.features.step_means import StepTotals

Record = dict  # JSON-able: see `split_state` for the fields
Records = dict[str, dict[str, Record]]  # family -> key -> record

RECORD_FORMAT = 1
# format, count, sum, squares, max, frauds, labelled, then how many tail amounts, pending and steps entries follow
_HEADER = struct.Struct("<BqdddqqHHH")


def split_state(state: FeatureState) -> Records:
    """Every key's record. Fields: `count`, `sum`, `squares`, `max` (cents), `tail` (its newest amounts in
    whole cents, as integers for exact window sums, oldest first, at most the longest window minus one),
    `frauds`, `labelled` (settled label counts), `pending` ([step, frauds, labelled] not settled yet); a
    category also has `steps` ([step, cents sum, count] on the state's last step and the one before, where
    it had rows)."""
    records: Records = {}
    for family, history in state.families.items():
        amounts, labels = history.amounts, history.labels
        width = amounts.tail.shape[1]
        tails = amounts.tail.astype(np.int64)  # whole cents, exact below MAX_ABS_AMOUNT
        pending: dict[int, list] = {}
        for key, step, frauds, labelled in zip(
            labels.pending_key.tolist(),
            labels.pending_step.tolist(),
            labels.pending_frauds.tolist(),
            labels.pending_labelled.tolist(),
            strict=True,
        ):
            pending.setdefault(key, []).append([step, frauds, labelled])
        family_records = {}
        for i, key in enumerate(history.keys.tolist()):
            count = int(amounts.count[i])
            family_records[str(key)] = {
                "count": count,
                "sum": float(amounts.cents_sum[i]),
                "squares": float(amounts.cents_square_sum[i]),
                "max": float(amounts.max_cents[i]),
                "tail": tails[i, width - min(count, width) :].tolist(),
                "frauds": int(labels.settled_frauds[i]),
                "labelled": int(labels.settled_labelled[i]),
                "pending": pending.get(i, []),
            }
        records[family] = family_records
    if state.last_step is not None:
        category = records["category"]
        for totals, step in (
            (state.previous_category_step_totals, state.last_step - 1),
            (state.category_step_totals, state.last_step),
        ):
            totals = totals.with_keys(len(category))
            for i, key in enumerate(category):
                if totals.counts[i] > 0:
                    category[key].setdefault("steps", []).append(
                        [step, int(totals.cents_sums[i]), int(totals.counts[i])]
                    )
    return records


def assemble_state(
    records: Mapping[str, Mapping[str, Record]], label_delay_steps: int, last_step: int | None, step_open: bool
) -> FeatureState:
    """The state holding exactly these keys, as of `last_step` (the inverse of `split_state`)."""
    families = {}
    for family in d.FAMILIES:
        family_records = records.get(family, {})
        keys = list(family_records)
        width = max(d.AMOUNT_WINDOWS[family]) - 1
        tail = np.zeros((len(keys), width))
        pending = []
        for i, record in enumerate(family_records.values()):
            if record["tail"]:
                tail[i, width - len(record["tail"]) :] = record["tail"]
            pending += [(i, *entry) for entry in sorted(record["pending"])]
        amounts = AmountHistory(
            count=np.array([r["count"] for r in family_records.values()], dtype=np.int64),
            cents_sum=np.array([r["sum"] for r in family_records.values()], dtype=np.float64),
            cents_square_sum=np.array([r["squares"] for r in family_records.values()], dtype=np.float64),
            max_cents=np.array([r["max"] for r in family_records.values()], dtype=np.float64),
            tail=tail,
        )
        pending_columns = np.array(pending, dtype=np.int64).reshape(-1, 4).T
        labels = LabelHistory(
            settled_frauds=np.array([r["frauds"] for r in family_records.values()], dtype=np.int64),
            settled_labelled=np.array([r["labelled"] for r in family_records.values()], dtype=np.int64),
            pending_key=pending_columns[0],
            pending_step=pending_columns[1],
            pending_frauds=pending_columns[2],
            pending_labelled=pending_columns[3],
        )
        families[family] = KeyHistory(np.array(keys, dtype=object), amounts, labels)
    category = list(records.get("category", {}).values())
    totals = [_step_totals(category, None if last_step is None else last_step - back) for back in (0, 1)]
    return FeatureState(label_delay_steps, last_step, families, totals[0], totals[1], step_open)


def touched_keys(columns: Mapping[str, Iterable[object]]) -> dict[str, list[str]]:
    """The distinct keys per family that transactions (columns by family name) touch."""
    return {family: list(dict.fromkeys(str(key) for key in columns[family])) for family in d.FAMILIES}


def _step_totals(category: list[Record], step: int | None) -> StepTotals:
    sums, counts = np.zeros(len(category), np.int64), np.zeros(len(category), np.int64)
    for i, record in enumerate(category):
        for entry_step, cents_sum, count in record.get("steps", []):
            if entry_step == step:
                sums[i], counts[i] = cents_sum, count
    return StepTotals(sums, counts)


def record_bytes(record: Record) -> bytes:
    """A record in the layout `_HEADER`, then its tail amounts (float64), pending and steps entries (3 x int64 each)."""
    tail, pending, steps = record["tail"], record["pending"], record.get("steps", [])
    header = _HEADER.pack(
        RECORD_FORMAT,
        record["count"],
        record["sum"],
        record["squares"],
        record["max"],
        record["frauds"],
        record["labelled"],
        len(tail),
        len(pending),
        len(steps),
    )
    entries = [value for entry in (*pending, *steps) for value in entry]
    return header + struct.pack(f"<{len(tail)}d{len(entries)}q", *tail, *entries)


def record_from_bytes(data: bytes | str) -> Record:
    """The record `record_bytes` wrote, its tail amounts integers again; records a store wrote as JSON text
    (before the binary layout) read too."""
    if isinstance(data, str) or data[:1] == b"{":
        record = json.loads(data)
        record["tail"] = [int(amount) for amount in record["tail"]]
        return record
    fmt, count, cents_sum, squares, max_cents, frauds, labelled, n_tail, n_pending, n_steps = _HEADER.unpack_from(data)
    if fmt != RECORD_FORMAT:
        raise ValueError(f"entity record: format {fmt}, expected {RECORD_FORMAT}")
    values = struct.unpack_from(f"<{3 * (n_pending + n_steps)}q", data, _HEADER.size + 8 * n_tail)
    entries = [list(values[i : i + 3]) for i in range(0, len(values), 3)]
    record = {
        "count": count,
        "sum": cents_sum,
        "squares": squares,
        "max": max_cents,
        "tail": np.frombuffer(data, "<f8", n_tail, _HEADER.size).astype(np.int64).tolist(),
        "frauds": frauds,
        "labelled": labelled,
        "pending": entries[:n_pending],
    }
    if n_steps:
        record["steps"] = entries[n_pending:]
    return record
