"""A person's decision that a drift is the new normal: the drift reference then includes the drifted days.

Without it a blocked drift never clears, because the drifted days stay on the "current" side until
a champion trained on them deploys, and none can deploy while the drift gate blocks. The decision is
recorded (which slices, who, why, when) in the `drift_reference` asset's materialization, which the
UI and `fraud-assets lineage` show. Kept free of Dagster and Evidently.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from fraud_assets.data.validation import step_from_name

HOW_TO_ACCEPT = (
    "If this drift is the new normal, accept it: `fraud-assets drift accept --reason TEXT`, or materialize "
    "drift_reference from the Dagster UI with a reason; the reference then includes these days."
)


@dataclass(frozen=True)
class DriftAcceptance:
    slices: tuple[str, ...]  # the reference from now on: every slice with features when accepted
    reason: str
    accepted_by: str
    accepted_at: str  # ISO 8601, UTC

    def describe(self) -> str:
        return (
            f"accepted drift reference of {len(self.slices)} slices ({self.slices[0]} .. {self.slices[-1]}), "
            f"by {self.accepted_by} at {self.accepted_at}: {self.reason}"
        )

    def to_metadata(self) -> dict:
        return {
            "slices": list(self.slices),
            "reason": self.reason,
            "accepted_by": self.accepted_by,
            "accepted_at": self.accepted_at,
        }

    @classmethod
    def from_metadata(cls, values: Mapping) -> DriftAcceptance:
        return cls(
            slices=tuple(values["slices"]),
            reason=values["reason"],
            accepted_by=values["accepted_by"],
            accepted_at=values["accepted_at"],
        )


def accept(slice_ids: Iterable[str], reason: str, accepted_by: str, now: datetime | None = None) -> DriftAcceptance:
    """The decision to compare newer slices with all of `slice_ids`; a reason is required."""
    if not reason.strip():
        raise ValueError("accepting a drift needs a reason (it is recorded with who accepted it and when)")
    if not accepted_by.strip():
        raise ValueError("accepting a drift needs the name of who accepts it")
    slices = tuple(sorted(set(slice_ids), key=lambda k: (step_from_name(k) or 0, k)))
    if not slices:
        raise ValueError("no slices have features yet: there is no drift to accept")
    moment = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    return DriftAcceptance(slices=slices, reason=reason.strip(), accepted_by=accepted_by.strip(), accepted_at=moment)


def os_user() -> str:
    """The account running this process, from the password database (the environment is settings.py's)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid {os.getuid()}"
