"""Scoring raw transactions: features from the online state, then the model, for the Seldon model class.

The state lives in the store (`state_store`). It rests on the newest feature state the features
asset stored (`<storage>/feature_state/<partition key>.state`); each worker looks for a newer one at
most every `RECHECK_SECONDS` and rebases onto it (one worker does, the others then find the store
already there). It also rebases when the stored state of the landed step itself was computed again
on other days (a late or corrected day: its inputs digest changed). A new model version served from the
same store carries the state over.
"""

from __future__ import annotations

import logging
import time

from fraud_assets import settings
from fraud_assets.data.validation import step_from_name
from fraud_assets.deployment.state_backends import open_store
from fraud_assets.deployment.state_store import StateStore
from fraud_assets.features.online import OnlineFeatures, Position
from fraud_assets.features.state import FeatureState
from fraud_assets.layout import StorageLayout

logger = logging.getLogger(__name__)
RECHECK_SECONDS = 2.0


def newest_stored_state() -> tuple[int, object] | None:
    """(step, path) of the newest stored feature state, None when there is none."""
    folder = StorageLayout(settings.storage()).feature_states_dir()
    if not folder.exists():
        return None
    found = [
        (step, path)
        for path in folder.iterdir()
        if path.name.endswith(".state")
        if (step := step_from_name(path.name)) is not None
    ]
    return max(found, key=lambda found_step: found_step[0]) if found else None


class OnlineScorer:
    def __init__(self, store: StateStore | None = None):
        self.store = store or open_store()
        self._checked_at = -float("inf")

    def position(self) -> Position | None:
        return self.store.position()

    def catch_up(self, force: bool = False) -> Position | None:
        """Rebase onto a newer stored state, or onto the landed step's state computed again on other days
        (checked at most every RECHECK_SECONDS)."""
        now = time.monotonic()
        if not force and now - self._checked_at < RECHECK_SECONDS:
            return None
        self._checked_at = now
        newest, current = newest_stored_state(), self.store.position()
        if newest is None:
            return current
        step, path = newest
        if current is not None and current.landed_step is not None:
            inputs = FeatureState.stored_inputs(path) if step == current.landed_step else None
            recomputed = inputs not in (None, current.landed_inputs)  # a late or corrected day changed it
            if step <= current.landed_step and not recomputed:
                return current
        state = FeatureState.from_bytes(path.read_bytes())
        if state.last_step != step:
            logger.warning("%s holds steps up to %s, not %s: ignored", path, state.last_step, step)
            return current
        position = self.store.rebase(state)
        logger.info("online state rebased onto %s: %s", path.name, position)
        return position

    def features(self, transactions) -> OnlineFeatures:
        self.catch_up()
        return self.store.score(transactions)

    def close(self) -> None:
        self.store.close()


def online_tags(parsed, online: OnlineFeatures) -> dict:
    """Meta tags of a raw-transaction response: where the state stands, warnings, and (if asked) the features."""
    position = online.position
    tags = {"landed_step": position.landed_step, "open_step": position.open_step}
    warnings = list(parsed.warnings)
    if online.late.any():
        rows = [int(i) for i in online.late.nonzero()[0]]
        warnings.append(
            f"transactions {rows} are late (a step already landed or passed): scored as if they came "
            "now, not added to the state"
        )
    if warnings:
        tags["warnings"] = warnings
    if parsed.with_features:
        values = online.features.astype(object).where(online.features.notna(), None)
        tags["features"] = values.to_dict("records")
    return tags
