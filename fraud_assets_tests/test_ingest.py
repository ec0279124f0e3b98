"""Landing sensor and slice asset against a real Dagster instance."""

import pytest
from dagster import AssetSelection, DagsterInstance, build_sensor_context, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from fraud_assets import settings
from fraud_assets.asset_keys import TRANSACTION_FEATURES, TRANSACTION_SLICES
from fraud_assets.assets.checks import slices_usable
from fraud_assets.assets.features import transaction_features
from fraud_assets.assets.ingest import transaction_slices
from fraud_assets.data.warehouse import Warehouse
from fraud_assets.partitions import slices_partitions
from fraud_assets.sensors import landing_sensor
from fraud_assets.storage import PartitionedParquetIOManager, StorageLayout, read_parquet


@pytest.fixture
def instance(home):
    with DagsterInstance.ephemeral() as inst:
        yield inst


def tick(instance, warehouse, cursor=None):
    ctx = build_sensor_context(instance=instance, cursor=cursor, resources={"warehouse": warehouse})
    result = landing_sensor(ctx)
    return result


def apply(instance, result):
    """Do what the daemon does with a sensor result: add partitions, remember the cursor."""
    for req in getattr(result, "dynamic_partitions_requests", None) or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    return getattr(result, "cursor", None)


def run_request_keys(instance, request):
    if request.partition_key:
        return [request.partition_key]
    keys = instance.get_dynamic_partitions(slices_partitions.name)
    a, b = request.tags[ASSET_PARTITION_RANGE_START_TAG], request.tags[ASSET_PARTITION_RANGE_END_TAG]
    return keys[keys.index(a) : keys.index(b) + 1]


def resources():
    return {"warehouse": Warehouse(), "io_manager": PartitionedParquetIOManager()}


def materialize_range(instance, first, last, **kwargs):
    """One run over a range of slice partitions, as the landing sensor requests it."""
    return materialize(
        [transaction_slices, slices_usable],
        instance=instance,
        resources=resources(),
        tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
        **kwargs,
    )


def test_new_files_become_partitions_in_one_run_and_nothing_twice(instance, day_bytes):
    wh = Warehouse()
    for step in (0, 1, 2):
        wh.write(f"step_{step:03d}.csv", day_bytes(step))
    result = tick(instance, wh)
    assert len(result.run_requests) == 1
    cursor = apply(instance, result)
    assert instance.get_dynamic_partitions("slices") == ["step_000", "step_001", "step_002"]
    assert run_request_keys(instance, result.run_requests[0]) == ["step_000", "step_001", "step_002"]

    again = tick(instance, wh, cursor)
    assert not getattr(again, "run_requests", None), "an unchanged folder must request nothing"

    wh.write("step_003.csv", day_bytes(3))
    third = tick(instance, wh, cursor)
    apply(instance, third)
    assert len(third.run_requests) == 1
    assert run_request_keys(instance, third.run_requests[0]) == ["step_003"]


def test_same_run_key_after_a_lost_cursor_so_the_daemon_dedupes(instance, day_bytes):
    wh = Warehouse()
    wh.write("step_000.csv", day_bytes(0))
    first = tick(instance, wh)
    replay = tick(instance, wh)  # as if the daemon died before committing the cursor
    assert first.run_requests[0].run_key == replay.run_requests[0].run_key


def test_relanded_changed_file_rematerializes_that_partition_only(instance, day_bytes):
    wh = Warehouse()
    wh.write("step_000.csv", day_bytes(0))
    cursor = apply(instance, tick(instance, wh))
    wh.write("step_000.csv", day_bytes(0))  # identical bytes, new mtime
    same = tick(instance, wh, cursor)
    assert not getattr(same, "run_requests", None)
    cursor = same.cursor if hasattr(same, "cursor") and same.cursor else cursor
    wh.write("step_000.csv", day_bytes(0, seed=99))  # corrected content
    changed = tick(instance, wh, cursor)
    assert [r.partition_key for r in changed.run_requests] == ["step_000"]
    assert not changed.dynamic_partitions_requests


def test_bad_file_is_quarantined_with_reason_and_others_flow(instance, day_bytes):
    wh = Warehouse()
    wh.write("step_000.csv", day_bytes(0))
    wh.write("step_001.csv", day_bytes(1)[:-20])  # truncated last line
    wh.write("step_002.csv", b"")
    result = tick(instance, wh)
    apply(instance, result)
    assert instance.get_dynamic_partitions("slices") == ["step_000"]
    assert [f.name for f in wh.landed_files()] == ["step_000.csv"]
    reasons = sorted(p.read_text() for p in wh.quarantine_dir().iterdir() if p.name.endswith(".reason.txt"))
    assert len(reasons) == 2
    assert any("step_001.csv" in r and "field_count" in r and "line 41" in r for r in reasons)
    assert any("step_002.csv" in r and "not_empty" in r for r in reasons)
    kept = [p for p in wh.quarantine_dir().iterdir() if p.name.endswith(".csv")]
    assert len(kept) == 2, "quarantined files are kept, not deleted"
    assert len(result.asset_events) == 2


def test_slices_materialize_in_one_run_with_metadata_and_checks(instance, day_bytes):
    wh = Warehouse()
    for step in (0, 1):
        wh.write(f"step_{step:03d}.csv", day_bytes(step, rows=30 + step))
    instance.add_dynamic_partitions("slices", ["step_000", "step_001"])
    result = materialize_range(instance, "step_000", "step_001")
    assert result.success
    mats = result.asset_materializations_for_node(TRANSACTION_SLICES.to_python_identifier())
    by_key = {m.partition: m.metadata for m in mats}
    assert set(by_key) == {"step_000", "step_001"}
    assert by_key["step_001"]["dagster/row_count"].value == 31
    assert len(by_key["step_000"]["source_sha256"].value) == 64
    stored = read_parquet(StorageLayout(settings.storage()).partition_path(TRANSACTION_SLICES, "step_001"))
    assert len(stored) == 31 and stored["customer"].str.startswith("C").all()
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"usable": True, "known_category_and_merchant": True, "no_duplicate_rows": True}


def check_outcomes(result) -> dict[str, tuple[bool, str]]:
    return {e.check_name: (e.passed, str(e.metadata["details"].value)) for e in result.get_asset_check_evaluations()}


def test_warning_checks_fail_on_unknown_codes_and_repeated_rows(instance, day_bytes):
    wh = Warehouse()
    lines = day_bytes(0).splitlines(keepends=True)
    wh.write("step_000.csv", b"".join([*lines, lines[1]]))  # the first transaction again
    merchant = day_bytes(1).splitlines()[1].split(b",")[5]
    wh.write("step_001.csv", day_bytes(1).replace(merchant, b"'Mnew'", 1))
    instance.add_dynamic_partitions("slices", ["step_000", "step_001"])

    result = materialize_range(instance, "step_000", "step_001")

    outcomes = check_outcomes(result)
    assert result.success and outcomes["usable"][0]  # warnings do not stop the slices
    assert not outcomes["no_duplicate_rows"][0] and "`step_000`" in outcomes["no_duplicate_rows"][1]
    assert not outcomes["known_category_and_merchant"][0]
    assert (
        "`step_001`" in outcomes["known_category_and_merchant"][1]
        and "Mnew" in outcomes["known_category_and_merchant"][1]
    )


@pytest.mark.parametrize(
    "edit, rule",
    [
        (lambda f: f.assign(fraud=f["fraud"].where(f.index > 0, 7)), "1 row(s): fraud must be 0 or 1"),
        (lambda f: f.assign(amount=f["amount"].where(f.index > 1, -1.0)), "2 row(s): amount must be finite and >= 0"),
        (lambda f: f.assign(step=1), "partition is for step 0 but the slice holds step(s) [1]"),
        (lambda f: f.assign(amount=f["amount"].astype("float32")), "amount is float32, expected float64"),
        (lambda f: f.assign(customer=None), "customer holds values that are not strings"),
        (lambda f: f.drop(columns="zipMerchant"), "columns are"),
        (lambda f: f.iloc[:0], "no rows"),
    ],
)
def test_usable_fails_on_a_stored_slice_edited_after_it_was_written(instance, day_bytes, edit, rule):
    """The check reads the stored Parquet back, so it judges what downstream assets will read."""
    Warehouse().write("step_000.csv", day_bytes(0))
    instance.add_dynamic_partitions("slices", ["step_000"])
    assert check_outcomes(materialize_range(instance, "step_000", "step_000"))["usable"] == (True, "none")
    stored = settings.storage() / "transaction_slices" / "step_000.parquet"
    edit(read_parquet(stored)).to_parquet(stored, index=False)

    result = materialize_range(
        instance, "step_000", "step_000", selection=AssetSelection.checks(slices_usable), raise_on_error=False
    )

    passed, details = check_outcomes(result)["usable"]
    assert not result.success and not passed  # blocking: the run fails with it
    assert "`step_000`" in details and rule in details


def test_file_broken_after_landing_fails_the_run_and_stores_nothing(instance, day_bytes):
    wh = Warehouse()
    wh.write("step_000.csv", day_bytes(0))
    wh.write("step_001.csv", day_bytes(1).replace(b"es_", b"xx_", 1).replace(b",0\n", b",7\n", 1))
    instance.add_dynamic_partitions("slices", ["step_000", "step_001"])
    result = materialize_range(instance, "step_000", "step_001", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "step_001.csv" in failure.event_specific_data.error.message
    assert "fraud_label" in failure.event_specific_data.error.message
    assert not StorageLayout(settings.storage()).partitions_dir(TRANSACTION_SLICES).exists()
    assert [f.name for f in wh.landed_files()] == ["step_000.csv"]


def test_import_csv_splits_a_real_file_by_step_keeping_bytes(home, tmp_path, day_bytes):
    days = [day_bytes(s) for s in (0, 1, 2)]
    body = b"".join(d.split(b"\n", 1)[1] for d in days)
    real = tmp_path / "bs140513_032310.csv"
    real.write_bytes(days[0].split(b"\n", 1)[0] + b"\n" + body)
    wh = Warehouse()
    paths = wh.import_csv(str(real))
    assert [p.name for p in paths] == ["step_000.csv", "step_001.csv", "step_002.csv"]
    assert [wh.read(p.name) for p in paths] == days


def test_the_ingest_path_on_a_non_local_filesystem(home, day_bytes, monkeypatch):
    """Landing, quarantine and stored slices all on memory://: no code assumes a local path."""
    monkeypatch.setenv("FRAUD_LANDING_URL", "memory://fraud-test/landing")
    monkeypatch.setenv("FRAUD_QUARANTINE_URL", "memory://fraud-test/quarantine")
    monkeypatch.setenv("FRAUD_STORAGE_URL", "memory://fraud-test/storage")
    wh = Warehouse()
    wh.write("step_000.csv", day_bytes(0))
    wh.write("step_001.csv", day_bytes(1))
    wh.write("step_002.csv", b"\x00garbage")
    with DagsterInstance.ephemeral() as inst:
        result = tick(inst, wh)
        apply(inst, result)
        assert [run_request_keys(inst, r) for r in result.run_requests] == [["step_000", "step_001"]]
        assert materialize_range(inst, "step_000", "step_001").success
    assert [f.name for f in wh.landed_files()] == ["step_000.csv", "step_001.csv"]
    assert any(p.name.endswith(".reason.txt") for p in wh.quarantine_dir().iterdir())
    stored = StorageLayout(settings.storage()).partition_path(TRANSACTION_SLICES, "step_001")
    assert stored.protocol == "memory" and len(read_parquet(stored)) == 40
    assert not (home / "storage").exists(), "nothing may fall back to the local home"


def test_unwritable_landing_folder_names_the_path(home, tmp_path):
    locked = tmp_path / "locked"
    locked.write_text("a file where a folder should be")
    wh = Warehouse(landing_url=str(locked / "landing"))
    with pytest.raises(OSError, match=str(locked / "landing")):
        wh.write("step_000.csv", b"x")


def test_usable_judges_only_the_slices_of_its_run_and_a_bad_one_stops_their_features(instance, day_bytes):
    """A landed day's run reads that day's slice, not every stored one: its cost must not grow with history."""
    wh = Warehouse()
    for step in range(4):
        wh.write(f"step_{step:03d}.csv", day_bytes(step))
    instance.add_dynamic_partitions("slices", ["step_000", "step_001", "step_002", "step_003"])
    assert materialize_range(instance, "step_000", "step_002").success
    stored = settings.storage() / "transaction_slices"

    def spoil(key: str) -> None:  # keep no rows
        read_parquet(stored / f"{key}.parquet").iloc[:0].to_parquet(stored / f"{key}.parquet", index=False)

    spoil("step_000")  # outside the next run: not its concern

    result = materialize_range(instance, "step_003", "step_003")

    evaluation = next(e for e in result.get_asset_check_evaluations() if e.check_name == "usable")
    assert result.success and evaluation.passed
    assert evaluation.metadata["slices"].value == 1

    spoil("step_003")
    result = materialize(
        [transaction_slices, slices_usable, transaction_features],
        instance=instance,
        resources=resources(),
        selection=AssetSelection.checks(slices_usable) | AssetSelection.assets(TRANSACTION_FEATURES),
        tags={ASSET_PARTITION_RANGE_START_TAG: "step_003", ASSET_PARTITION_RANGE_END_TAG: "step_003"},
        raise_on_error=False,
    )
    passed, details = check_outcomes(result)["usable"]
    assert not passed and "`step_003`" in details and "`step_000`" not in details
    assert not result.get_asset_materialization_events()  # the blocking check stopped the features

    on_its_own = materialize(  # as from the UI: no partitions, so every stored slice
        [transaction_slices, slices_usable],
        instance=instance,
        resources=resources(),
        selection=AssetSelection.checks(slices_usable),
        raise_on_error=False,
    )
    passed, details = check_outcomes(on_its_own)["usable"]
    assert not passed and "`step_000`" in details and "`step_003`" in details
    assert on_its_own.get_asset_check_evaluations()[0].metadata["slices"].value == 4
