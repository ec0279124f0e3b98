"""The data warehouse: a landing location where one landed file holds one day of transactions.

A day arrives as `step_NNN.csv` in BankSim's raw Kaggle format. Files are written atomically, so a
reader (the landing sensor) never sees half a day. Bad files are moved to quarantine beside a
`.reason.txt` that says which rule they broke; nothing is deleted. What lands here is up to the
caller: a real BankSim file (`import_csv`) or simulated days (`fraud_assets.simulation.landing`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dagster import ConfigurableResource
from pydantic import Field
from upath import UPath

from fraud_assets import settings
from fraud_assets.data.validation import step_from_name
from fraud_assets.storage import atomic_write_bytes


def slice_file_name(step: int) -> str:
    return f"step_{step:03d}.csv"


def partition_key_for(name: str) -> str:
    """The partition key of a landed file: its name without `.csv`."""
    return name.rsplit("/", 1)[-1].removesuffix(".csv")


@dataclass(frozen=True)
class LandedFile:
    name: str
    path: UPath
    size: int
    mtime: float

    @property
    def step(self) -> int | None:
        return step_from_name(self.name)

    @property
    def partition_key(self) -> str:
        return partition_key_for(self.name)


def _is_slice_file(path: UPath) -> bool:
    return path.name.endswith(".csv") and not path.name.startswith(".")


def _sort_key(name: str) -> tuple[int, str]:
    step = step_from_name(name)
    return (step if step is not None else 10**9, name)


class Warehouse(ConfigurableResource):
    """Landing and quarantine locations (local folders by default, any fsspec URL by configuration)."""

    landing_url: str = Field(
        default="", description="The landing location of landed files; default <home>/warehouse/landing"
    )
    quarantine_url: str = Field(default="", description="Where bad files go; default <home>/warehouse/quarantine")

    def landing(self) -> UPath:
        return UPath(self.landing_url) if self.landing_url else settings.landing()

    def quarantine_dir(self) -> UPath:
        return UPath(self.quarantine_url) if self.quarantine_url else settings.quarantine()

    def landed_files(self) -> list[LandedFile]:
        root = self.landing()
        if not root.exists():
            return []
        files = []
        for path in root.iterdir():
            if not _is_slice_file(path):
                continue
            st = path.stat()
            mtime = st.st_mtime or 0.0
            files.append(LandedFile(path.name, path, int(st.st_size), float(mtime)))
        return sorted(files, key=lambda f: _sort_key(f.name))

    def path_of(self, name: str) -> UPath:
        return self.landing() / name

    def read(self, name: str) -> bytes:
        return self.path_of(name).read_bytes()

    def write(self, name: str, data: bytes) -> UPath:
        path = self.path_of(name)
        try:
            atomic_write_bytes(path, data)
        except OSError as exc:
            raise OSError(f"cannot write landing file {path}: {exc.strerror or exc}") from exc
        return path

    def known_steps(self) -> set[int]:
        """Steps already landed or quarantined, so `land --days` never repeats a day."""
        names = [f.name for f in self.landed_files()]
        q = self.quarantine_dir()
        if q.exists():
            names += [p.name for p in q.iterdir() if p.name.endswith(".csv")]
        return {s for s in map(step_from_name, names) if s is not None}

    def import_csv(self, source: str) -> list[UPath]:
        """Split a real BankSim CSV into landed files, one per day, copying each line's bytes unchanged."""
        data = UPath(source).read_bytes()
        lines = data.splitlines(keepends=True)
        if not lines:
            raise ValueError(f"{source}: the file is empty")
        header, body = lines[0], lines[1:]
        if not header.endswith(b"\n"):
            header += b"\n"
        days: dict[int, list[bytes]] = {}
        for number, line in enumerate(body, start=2):
            if not line.strip():
                continue
            head = line.split(b",", 1)[0].strip().strip(b"'")
            if not head.isdigit():
                raise ValueError(f"{source}: line {number}: step {head[:20]!r} is not a whole number")
            days.setdefault(int(head), []).append(line if line.endswith(b"\n") else line + b"\n")
        return [self.write(slice_file_name(step), header + b"".join(days[step])) for step in sorted(days)]

    def quarantine(self, name: str, reason: str) -> UPath:
        """Move a landed file out of the way, keeping it and the reason side by side."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target_dir = self.quarantine_dir()
        target_dir.mkdir(parents=True, exist_ok=True)
        source = self.path_of(name)
        target = target_dir / f"{partition_key_for(name)}.{stamp}.csv"
        atomic_write_bytes(target, source.read_bytes())
        atomic_write_bytes(target.with_name(target.name + ".reason.txt"), reason.encode() + b"\n")
        source.unlink()
        return target
