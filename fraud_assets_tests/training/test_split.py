import numpy as np
import pandas as pd
import pytest

from fraud_assets.features import CATEGORICAL_FEATURES, FEATURE_COLUMNS
from fraud_assets.training.split import split_by_step
from fraud_assets.training.train import step_windows, train_model, windows_of_slices


def test_windows_are_contiguous_and_in_time_order():
    split = split_by_step(range(100))
    assert split.validation_steps == tuple(range(80, 100))  # latest 20 % of steps
    assert split.calibration_steps == tuple(range(72, 80))  # latest 10 % of the training steps
    assert split.fit_steps == tuple(range(72))
    assert max(split.fit_steps) < min(split.calibration_steps) < min(split.validation_steps)


def test_shares_count_distinct_steps_not_rows():
    # The last step is huge and the steps have gaps: validation is still 1 step in 5.
    steps = [0] * 3 + [2] * 3 + [5] * 3 + [6] * 3 + [9] * 1000
    split = split_by_step(steps)
    assert split.validation_steps == (9,)
    assert split.calibration_steps == (6,)
    assert split.fit_steps == (0, 2, 5)


def test_masks_cover_every_row_once():
    steps = pd.Series(np.repeat(np.arange(10), 7))
    masks = split_by_step(steps).masks(steps)
    covered = masks.fit.astype(int) + masks.calibration.astype(int) + masks.validation.astype(int)
    assert (covered == 1).all()
    assert set(steps[masks.validation]) == {8, 9}


def test_too_few_steps_or_bad_shares_are_refused():
    with pytest.raises(ValueError, match="at least 3 distinct steps"):
        split_by_step([4, 4, 5])
    with pytest.raises(ValueError, match="validation_share must be between 0 and 1"):
        split_by_step(range(10), validation_share=1.0)
    with pytest.raises(ValueError, match=r"steps \[42\] are in no window"):
        split_by_step(range(10)).masks(np.array([1, 42]))


def test_threshold_and_model_never_see_validation_steps(frame, trained):
    validation_steps = list(trained.windows.split.validation_steps)
    tampered = frame.copy()
    in_validation = tampered["step"].isin(validation_steps)
    # Make the validation window say the opposite of everything before it.
    tampered.loc[in_validation, "fraud"] = 1 - tampered.loc[in_validation, "fraud"]
    tampered.loc[in_validation, "amount"] = tampered.loc[in_validation, "amount"][::-1].to_numpy()

    retrained = train_model(tampered, FEATURE_COLUMNS, CATEGORICAL_FEATURES)

    assert retrained.model.threshold == trained.model.threshold
    probe = trained.windows.X_validation
    np.testing.assert_array_equal(retrained.model.predict_proba(probe), trained.model.predict_proba(probe))


def test_threshold_is_picked_on_the_calibration_steps(frame, trained):
    # Contrast with the test above: tampering with calibration labels does move the threshold.
    tampered = frame.copy()
    in_calibration = tampered["step"].isin(trained.windows.split.calibration_steps)
    tampered.loc[in_calibration, "fraud"] = 1 - tampered.loc[in_calibration, "fraud"]
    retrained = train_model(tampered, FEATURE_COLUMNS, CATEGORICAL_FEATURES, split=trained.windows.split)
    assert retrained.model.threshold != trained.model.threshold


def test_a_training_window_keeps_the_latest_steps_before_validation():
    split = split_by_step(range(100), window_steps=30)
    assert split.validation_steps == tuple(range(80, 100))  # unchanged by the window
    assert split.training_steps == tuple(range(50, 80))
    assert split.calibration_steps == (77, 78, 79)  # 10 % of the window
    assert split.older_steps == tuple(range(50))
    assert split.describe()["older"] == "0-49 (50 steps)"
    masks = split.masks(np.arange(100))
    assert not (masks.training | masks.validation)[:50].any()  # older rows are in no window


def test_a_window_longer_than_the_history_is_all_history():
    assert split_by_step(range(100), window_steps=500) == split_by_step(range(100))
    assert "older" not in split_by_step(range(100)).describe()
    with pytest.raises(ValueError, match="window_steps must be at least 2"):
        split_by_step(range(100), window_steps=1)


def test_train_model_fits_only_the_window(frame, trained):
    windowed = train_model(frame, FEATURE_COLUMNS, CATEGORICAL_FEATURES, window_steps=6)
    split = windowed.windows.split
    assert split.validation_steps == trained.windows.split.validation_steps
    assert len(split.training_steps) == 6
    assert len(windowed.windows.y_train) == frame["step"].isin(split.training_steps).sum()
    with pytest.raises(ValueError, match="either a split or window_steps"):
        train_model(frame, FEATURE_COLUMNS, CATEGORICAL_FEATURES, split=split, window_steps=6)


def test_windows_cut_slice_by_slice_equal_the_windows_of_the_whole_frame(frame):
    split = split_by_step(frame["step"], window_steps=6)
    whole = step_windows(frame, FEATURE_COLUMNS, split)
    read = []

    def slices():  # read one at a time, as training reads stored partitions
        for step, rows in frame.groupby("step"):
            read.append(step)
            yield rows

    cut = windows_of_slices(slices(), FEATURE_COLUMNS, split)

    assert read == sorted(frame["step"].unique())
    pd.testing.assert_frame_equal(cut.X_train, whole.X_train)
    pd.testing.assert_frame_equal(cut.X_validation, whole.X_validation)
    for name in ("y_train", "calibration_mask", "y_validation"):
        np.testing.assert_array_equal(getattr(cut, name), getattr(whole, name))
    assert min(split.training_steps) > 0 and len(cut.X_train) == int(frame["step"].isin(split.training_steps).sum())
    per_step = frame["step"].value_counts().sort_index()
    assert cut.validation_rows_per_slice == tuple(per_step.loc[list(split.validation_steps)])
