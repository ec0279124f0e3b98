"""Simulated days into a landing location: one landed file per day, written by the warehouse like a real one.

Days are landed at `FRAUD_SIMULATION_SCALE` times BankSim's size unless a call names its scale.
"""

from __future__ import annotations

from collections.abc import Iterable

from upath import UPath

from fraud_assets import settings
from fraud_assets.baseline import BASELINE_STEPS
from fraud_assets.data.reader import to_kaggle_csv
from fraud_assets.data.warehouse import Warehouse, slice_file_name
from fraud_assets.simulation.simulator import DEFAULT_SEED, Drift, iter_steps


def land_steps(
    warehouse: Warehouse,
    steps: Iterable[int],
    seed: int = DEFAULT_SEED,
    drift: Drift | None = None,
    scale: int | None = None,
) -> list[UPath]:
    """Simulate the given days and land one file per day (`scale` None: FRAUD_SIMULATION_SCALE)."""
    scale = settings.load().simulation_scale if scale is None else scale
    return [
        warehouse.write(slice_file_name(step), to_kaggle_csv(day))
        for step, day in iter_steps(list(steps), seed=seed, drift=drift, scale=scale)
    ]


def land_next_days(
    warehouse: Warehouse, days: int, seed: int = DEFAULT_SEED, drift: Drift | None = None
) -> list[UPath]:
    """The `days` days after the last one landed or quarantined, so a day is never landed twice."""
    known = warehouse.known_steps()
    start = max(known) + 1 if known else 0
    return land_steps(warehouse, range(start, start + days), seed=seed, drift=drift)


def land_baseline_if_empty(warehouse: Warehouse, seed: int = DEFAULT_SEED) -> list[UPath]:
    """Land the baseline days into an empty landing location; leave one that has files alone."""
    if warehouse.landed_files() or warehouse.known_steps():
        return []
    return land_steps(warehouse, BASELINE_STEPS, seed=seed)


def write_days(
    out: str, steps: Iterable[int], seed: int = DEFAULT_SEED, drift: Drift | None = None, scale: int = 1
) -> list[UPath]:
    """Simulated days into any folder or fsspec URL, written the way they land."""
    if not out.strip():
        raise ValueError("write_days: name a folder or URL to write into")
    return land_steps(Warehouse(landing_url=out), steps, seed=seed, drift=drift, scale=scale)
