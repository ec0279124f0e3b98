"""A full landing disk gives an error naming the file and leaves no half-written file behind.

(A landing path that cannot be a folder: fraud_assets_tests/test_ingest.py.)
"""

import subprocess

import pytest

from fraud_assets.data.warehouse import Warehouse


def test_a_full_disk_names_the_file_and_leaves_nothing_half_written(home, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a 64 KiB tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        warehouse = Warehouse(landing_url=str(small / "landing"))
        warehouse.write("step_000.csv", b"fits\n")
        with pytest.raises(OSError, match=f"cannot write landing file {small / 'landing' / 'step_001.csv'}: No space"):
            warehouse.write("step_001.csv", b"x" * 1_000_000)
        assert sorted(p.name for p in (small / "landing").iterdir()) == ["step_000.csv"]
        assert (small / "landing" / "step_000.csv").read_bytes() == b"fits\n"
    finally:
        subprocess.run(["umount", str(small)], check=False)
