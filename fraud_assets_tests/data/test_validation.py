"""Every bad-input case has a defined outcome: a clear message naming file, line and rule."""

import pytest

from fraud_assets.data.reader import read_kaggle_csv, to_kaggle_csv
from fraud_assets.data.validation import (
    InvalidSliceError,
    load_slice,
    step_from_name,
    stored_slice_problems,
    validate_bytes,
)

HEADER = b"step,customer,age,gender,zipcodeOri,merchant,zipMerchant,category,amount,fraud\n"
ROW = b"7,'C1093826151','4','M','28007','M348934600','28007','es_transportation',4.55,0\n"


def rules(result):
    return {f.rule for f in result.errors}


def test_real_kaggle_format_is_read_and_unquoted():
    frame = read_kaggle_csv(HEADER + ROW + ROW.replace(b"4.55,0", b"9.1,1"))
    assert list(frame["customer"]) == ["C1093826151"] * 2
    assert frame["age"].tolist() == ["4", "4"] and frame["category"].iloc[0] == "es_transportation"
    assert frame["amount"].tolist() == [4.55, 9.1] and frame["fraud"].tolist() == [0, 1]
    assert str(frame["step"].dtype) == "int64"


def test_writer_round_trips_byte_for_byte(day_bytes):
    data = day_bytes(3)
    assert to_kaggle_csv(read_kaggle_csv(data)) == data
    assert data.startswith(HEADER) and b",'C" in data


def test_good_file_passes_and_is_typed(day_bytes):
    result = validate_bytes(day_bytes(5), "step_005.csv", expected_step=5)
    assert result.ok and result.rows == 40 and result.frame is not None
    assert result.frame["amount"].dtype == "float64"


@pytest.mark.parametrize(
    ("data", "rule", "line"),
    [
        (b"", "not_empty", None),
        (b"   \n\n", "not_empty", None),
        (HEADER, "has_rows", None),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "text_file", None),
        (b"\xff\xfe\xfd garbage", "text_file", None),
        (b"step,customer,amount\n1,'C1',3.0\n", "required_columns", 1),
        (HEADER + ROW + ROW[:30], "field_count", 3),
        (HEADER + ROW + ROW.replace(b"4.55", b"abc"), "amount_type", 3),
        (HEADER + ROW.replace(b"4.55", b"-1.0"), "amount_range", 2),
        (HEADER + ROW.replace(b"4.55", b"inf"), "amount_range", 2),
        (HEADER + ROW.replace(b"4.55", b"nan"), "no_nulls", 2),
        (HEADER + ROW.replace(b"'4'", b"''"), "no_nulls", 2),
        (HEADER + ROW.replace(b",0\n", b",2\n"), "fraud_label", 2),
        (HEADER + ROW.replace(b"7,", b"x,", 1), "step_type", 2),
        (HEADER + ROW.replace(b"'4'", b"'9'"), "age_code", 2),
        (HEADER + ROW.replace(b"'M','28007'", b"'X','28007'", 1), "gender_code", 2),
        (HEADER + ROW + ROW.replace(b"7,", b"8,", 1), "one_step_per_file", None),
    ],
)
def test_each_bad_input_names_file_rule_and_line(data, rule, line):
    result = validate_bytes(data, "landing/step_007.csv", expected_step=7)
    assert not result.ok and rule in rules(result), result.error_text()
    text = result.error_text()
    assert "landing/step_007.csv" in text and f"rule '{rule}'" in text
    if line is not None:
        assert f"line {line}" in text
    with pytest.raises(InvalidSliceError, match=rule):
        load_slice(data, "landing/step_007.csv", expected_step=7)


def test_step_must_match_the_files_day():
    result = validate_bytes(HEADER + ROW, "step_008.csv", expected_step=8)
    assert rules(result) == {"step_matches_file"}
    assert "named for step 8 but holds step 7" in result.error_text()


def test_unknown_category_and_duplicates_are_warnings_not_errors():
    odd = ROW.replace(b"es_transportation", b"es_crypto")
    result = validate_bytes(HEADER + ROW + ROW + odd, "step_007.csv", expected_step=7)
    assert result.ok, result.error_text()
    assert {w.rule for w in result.warnings} == {"known_category", "duplicate_rows"}
    dup = next(w for w in result.warnings if w.rule == "duplicate_rows")
    assert dup.count == 1 and dup.lines == (3,)
    assert "es_crypto" in result.warning_text()


def test_error_lists_first_offending_lines_and_a_count():
    bad = HEADER + b"".join(ROW.replace(b",0\n", b",5\n") for _ in range(8))
    finding = next(f for f in validate_bytes(bad, "f.csv").errors if f.rule == "fraud_label")
    assert finding.count == 8 and finding.lines == (2, 3, 4, 5, 6)
    assert "(+3 more)" in finding.describe("f.csv")


def test_step_from_name():
    assert step_from_name("landing/step_042.csv") == 42
    assert step_from_name("step-7.csv") == 7
    assert step_from_name("transactions.csv") is None


def test_stored_slice_contract_holds_for_a_validated_day_and_names_what_breaks_it(day_bytes):
    frame = load_slice(day_bytes(4), "step_004.csv", expected_step=4).frame
    assert stored_slice_problems(frame, 4) == []
    broken = frame.assign(step=frame["step"].astype("float64"), zipcodeOri=frame["zipcodeOri"].where(frame.index > 0))
    assert stored_slice_problems(broken, 4) == [
        "step is float64, expected int64",
        "zipcodeOri holds values that are not strings",
        "null values in ['zipcodeOri']",
    ]
