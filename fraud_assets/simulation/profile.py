"""Measure BankSim-shaped transactions and compare them, figure by figure, with the real file's profile.

`profile_of` computes the same figures (and keys) as the shipped `banksim_profile.json`;
`compare` turns two profiles into rows of metric / measured / reference / tolerance / verdict;
`render_comparison` prints them side by side so fidelity can be read at a glance. It works on the
simulator's output and on the real Kaggle CSV alike (`fraud-assets profile PATH`).

Tolerances: rows +-1 %; overall fraud rate +-0.10 pp; fraud rates of categories
and merchants max(2 pp, 10 % relative), and exactly 0 where BankSim has no fraud; row shares, age
and gender fraud rates, mean amounts and amount quartiles 10 % relative; counts of customers 1 %,
of customer-merchant pairs and of customers with fraud 10 %. A gap smaller than three standard
errors of the measured sample is always allowed: it cannot be told apart from sampling noise, which
matters for small groups and for profiles of a few days.

Profiles of a subset of days are compared with what BankSim would hold on those days (its rows per
day grow while fraud stays at about 40 a day); figures that only make sense for the whole run
(distinct customers, pairs, the share of customers with fraud) are then shown for information only.

A bank K times BankSim's size (`simulate(scale=K)`) is compared with `scale=K`: every count of the
reference (rows, per group and per day, customers, customer-merchant pairs) is multiplied by K, while
rates, shares, amounts and the 50 merchants stay as they are.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from fraud_assets.data.schema import COLUMNS, reference_profile

PASS, FAIL, INFO = "pass", "fail", "info"
RATE_ABS_PP = 2.0
REL = 0.10
OVERALL_FRAUD_RATE_PP = 0.10
ROWS_REL = 0.01
CUSTOMERS_REL = 0.01
STRUCTURE_REL = 0.10
STEP_ROWS_REL = 0.05
NOISE_SE = 3.0
STEP_ANCHORS = (0, 10, 20, 30, 40, 50, 60, 75, 90, 100, 120, 140, 150, 160, 170, 179)
# Mean amounts by gender are confirmed for F and M only; E and U (9 and 3 customers, a handful of
# frauds) are single-source and swing with which frauds they got, so they are shown, not judged.
JUDGED_GENDER_MEANS = ("F", "M")


@dataclass(frozen=True)
class Row:
    """One compared figure. `tolerance` is the allowed |measured - reference| in the metric's unit."""

    section: str
    metric: str
    measured: float | str | None
    reference: float | str | None
    tolerance: float | None
    rule: str
    status: str  # "pass", "fail" or "info" (shown, not judged)

    @property
    def passed(self) -> bool:
        return self.status != FAIL

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Measuring


def profile_of(frame: pd.DataFrame) -> dict:
    """The profile's figures for typed transactions (COLUMNS), keyed like banksim_profile.json."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"cannot profile: missing column(s) {missing}; expected {list(COLUMNS)}")
    if frame.empty:
        raise ValueError("cannot profile an empty frame: it holds no transactions")
    df = frame.loc[:, list(COLUMNS)]
    fraud = df["fraud"].to_numpy() == 1
    amount = df["amount"].to_numpy(dtype=float)
    per_step = df.groupby("step").size()
    steps = df["step"]
    pairs = df.groupby(["customer", "merchant"], sort=False)["fraud"].agg(["size", "sum"])
    per_customer = df.groupby("customer", sort=False)["fraud"].agg(["size", "sum"])
    customer_gender = df.groupby("customer", sort=False)["gender"].first()
    fm = customer_gender.isin(["F", "M"])
    return {
        "rows": len(df),
        "fraud_rows": int(fraud.sum()),
        "legit_rows": int((~fraud).sum()),
        "fraud_rate": float(fraud.mean()),
        "steps": int(per_step.size),
        "step_stats": {
            "min": int(steps.min()),
            "max": int(steps.max()),
            "mean": float(steps.mean()),
            "std": float(steps.std()),
            "q25": float(steps.quantile(0.25)),
            "median": float(steps.quantile(0.5)),
            "q75": float(steps.quantile(0.75)),
            "per_step_count": {str(int(s)): int(n) for s, n in per_step.items()},
            "fraud_per_step_mean": float(fraud.sum() / per_step.size),
        },
        "customers": int(per_customer.shape[0]),
        "merchants": int(df["merchant"].nunique()),
        "zipcodeOri": _values(df["zipcodeOri"]),
        "zipMerchant": _values(df["zipMerchant"]),
        "categories": _groups(df, "category", fraud, amount),
        "merchants_detail": _groups(df, "merchant", fraud, amount, with_category=True),
        "age": _groups(df, "age", fraud, amount),
        "gender": _groups(df, "gender", fraud, amount, with_customers=True),
        "amount": {
            "overall": _amount_stats(amount),
            "fraud": _amount_stats(amount[fraud]),
            "legit": _amount_stats(amount[~fraud]),
            "zero_amount_rows": int((amount == 0).sum()),
            "zero_amount_fraud": int(((amount == 0) & fraud).sum()),
        },
        "customer_stats": {
            "count": int(per_customer.shape[0]),
            "by_gender": {str(g): int(n) for g, n in customer_gender.value_counts().sort_index().items()},
            "tx_per_customer": {
                "mean": float(per_customer["size"].mean()),
                "median": float(per_customer["size"].median()),
                "max": int(per_customer["size"].max()),
            },
            "customers_with_fraud": {
                "pct_of_F_M_customers": float(100 * (per_customer.loc[fm[fm].index, "sum"] > 0).mean())
                if fm.any()
                else None,
                "approx_count": int((per_customer["sum"] > 0).sum()),
            },
            "top_fraud_customers": [[str(c), int(n)] for c, n in per_customer["sum"].nlargest(10).items() if n > 0],
            "customer_merchant_pairs": int(pairs.shape[0]),
            "fraud_customer_merchant_pairs": int((pairs["sum"] > 0).sum()),
            "pairs_with_more_than_one_fraud": int((pairs["sum"] > 1).sum()),
            "pairs_with_mixed_labels": int(((pairs["sum"] > 0) & (pairs["sum"] < pairs["size"])).sum()),
        },
    }


def _values(column: pd.Series) -> dict:
    values = sorted(column.unique().tolist())
    return {"values": values[:20], "n_unique": len(values)}


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def _std(values: np.ndarray) -> float | None:
    return float(values.std(ddof=1)) if values.size > 1 else None


def _amount_stats(values: np.ndarray) -> dict:
    if not values.size:
        return {"count": 0}
    q25, median, q75 = np.quantile(values, [0.25, 0.5, 0.75])
    return {
        "count": int(values.size),
        "mean": float(values.mean()),
        "std": _std(values),
        "min": float(values.min()),
        "q25": float(q25),
        "median": float(median),
        "q75": float(q75),
        "max": float(values.max()),
        "n_unique": int(np.unique(values).size),
    }


def _groups(df, column, fraud, amount, with_category=False, with_customers=False) -> dict:
    out = {}
    codes = df[column].to_numpy()
    for value in sorted(pd.unique(codes)):
        members = codes == value
        f, a = fraud[members], amount[members]
        entry = {
            "count": int(members.sum()),
            "fraud_count": int(f.sum()),
            "legit_count": int((~f).sum()),
            "fraud_pct": float(100 * f.mean()),
            "mean_amount": float(a.mean()),
            "mean_amount_fraud": _mean(a[f]),
            "mean_amount_legit": _mean(a[~f]),
            "std_amount": _std(a),
            "std_amount_fraud": _std(a[f]),
            "std_amount_legit": _std(a[~f]),
        }
        if with_category:
            entry["category"] = str(df.loc[members, "category"].iloc[0])
        if with_customers:
            entry["customers"] = int(df.loc[members, "customer"].nunique())
        out[str(value)] = entry
    return out


# --------------------------------------------------------------------------------------------
# Comparing


def compare(measured: dict, reference: dict | None = None, scale: int = 1) -> list[Row]:
    """Every judged figure of `measured` against the reference profile (BankSim's by default), its
    counts multiplied by `scale`."""
    if scale < 1:
        raise ValueError(f"compare: scale is how many times BankSim's size, at least 1, got {scale}")
    ref = reference if reference is not None else reference_profile()
    exp = _Expectation(ref, [int(s) for s in measured["step_stats"]["per_step_count"]], scale)
    rows: list[Row] = []
    rows += _shape_rows(measured, ref, exp)
    merchants = ref["merchants_detail"]
    rows += _group_rows(
        "category", measured["categories"], ref["categories"], measured, exp, rate_abs=True, class_means=True
    )
    # A merchant's mean mixes its legit and fraud payments, so it is judged on the whole run only.
    rows += _group_rows(
        "merchant",
        measured["merchants_detail"],
        merchants,
        measured,
        exp,
        rate_abs=True,
        judged_means=tuple(merchants) if exp.full else None,
    )
    rows += _group_rows("age", measured["age"], ref["age"], measured, exp)
    rows += _group_rows("gender", measured["gender"], ref["gender"], measured, exp, judged_means=JUDGED_GENDER_MEANS)
    rows += _amount_rows(measured, ref, exp)
    rows += _step_rows(measured, ref, exp)
    rows += _structure_rows(measured, ref, exp)
    return rows


class _Expectation:
    """What the reference implies for the measured days: BankSim's legit rows per day follow the
    profile's estimate, fraud stays flat, so a group's expected count mixes its legit and fraud
    counts in the proportion of the days covered. For the full run it is the profile itself. Every
    count is `scale` times BankSim's."""

    def __init__(self, ref: dict, steps: list[int], scale: int = 1):
        est = np.asarray(ref["step_stats"]["per_step_count_estimate"], dtype=float)
        n_steps = int(ref["steps"])
        self.scale = scale
        self.steps = sorted(steps)
        self.full = self.steps == list(range(n_steps))
        self.rows_by_step = {s: scale * float(est[min(s, est.size - 1)]) for s in self.steps}
        self.fraud_per_step = scale * ref["fraud_rows"] / n_steps
        self.fraud = self.fraud_per_step * len(self.steps)
        self.legit = sum(self.rows_by_step.values()) - self.fraud
        if self.full:
            self.fraud, self.legit = scale * float(ref["fraud_rows"]), scale * float(ref["legit_rows"])
        self.legit_scale = self.legit / ref["legit_rows"]
        self.fraud_scale = self.fraud / ref["fraud_rows"]
        self.rows = self.legit + self.fraud

    def count(self, group: dict) -> tuple[float, float]:
        """(expected rows, expected frauds) of a reference group on the measured days."""
        fraud = group["fraud_count"] * self.fraud_scale
        return group["legit_count"] * self.legit_scale + fraud, fraud

    def mean_amount(self, legit_mean: float, fraud_mean: float) -> float:
        return (legit_mean * self.legit + fraud_mean * self.fraud) / self.rows


def _se_pct(p: float, n: float) -> float:
    """Standard error, in percent points, of a share p (0..1) measured on n rows."""
    return 100 * math.sqrt(max(p * (1 - p), 0.0) / n) if n > 0 else math.inf


def _judge(section, metric, measured, reference, tolerance, rule) -> Row:
    if measured is None or reference is None:
        return Row(section, metric, measured, reference, tolerance, rule, FAIL if reference is not None else INFO)
    ok = abs(float(measured) - float(reference)) <= tolerance + 1e-12
    return Row(section, metric, measured, reference, tolerance, rule, PASS if ok else FAIL)


def _info(section, metric, measured, reference, rule="shown for information") -> Row:
    return Row(section, metric, measured, reference, None, rule, INFO)


def _relative(section, metric, measured, reference, rel, floor=0.0) -> Row:
    """Judged within `rel` of the reference, or within `floor` (3 standard errors) if larger."""
    tol = max(rel * abs(reference), floor)
    rule = "3 SE" if floor > rel * abs(reference) else f"{rel:.0%} relative"
    return _judge(section, metric, measured, reference, tol, rule)


def _shape_rows(m: dict, ref: dict, exp: _Expectation) -> list[Row]:
    s = "shape"
    rows = [
        _relative(s, "rows", m["rows"], exp.rows, ROWS_REL, NOISE_SE * math.sqrt(exp.rows)),
    ]
    rate_ref = 100 * exp.fraud / exp.rows
    floor = NOISE_SE * _se_pct(rate_ref / 100, m["rows"])
    tol = max(OVERALL_FRAUD_RATE_PP, floor)
    rows.append(
        _judge(
            s,
            "fraud rate (%)",
            100 * m["fraud_rate"],
            rate_ref,
            tol,
            "0.10 pp" if tol == OVERALL_FRAUD_RATE_PP else "3 SE",
        )
    )
    for col in ("zipcodeOri", "zipMerchant"):
        got, want = ",".join(m[col]["values"]), ",".join(ref[col]["values"])
        rows.append(Row(s, f"{col} values", got, want, None, "identical", PASS if got == want else FAIL))
    n_cat = len(ref["categories"])
    if exp.full:
        rows.append(_judge(s, "steps", m["steps"], ref["steps"], 0, "exact"))
        rows.append(_relative(s, "customers", m["customers"], exp.scale * ref["customers"], CUSTOMERS_REL))
        rows.append(_judge(s, "merchants", m["merchants"], ref["merchants"], 0, "exact"))
        rows.append(_judge(s, "categories", len(m["categories"]), n_cat, 0, "exact"))
    else:
        rows.append(_info(s, "steps (days covered)", m["steps"], ref["steps"]))
        rows.append(_info(s, "customers", m["customers"], ref["customers"], "whole run only"))
        rows.append(_info(s, "merchants", m["merchants"], ref["merchants"], "whole run only"))
        rows.append(_info(s, "categories", len(m["categories"]), n_cat, "whole run only"))
    return rows


def _group_rows(
    kind, measured_groups, ref_groups, m, exp, *, rate_abs=False, class_means=False, judged_means=None
) -> list[Row]:
    """Row share and fraud rate of every reference group; with class_means, its mean fraud and legit
    amounts; with judged_means, its mean amount (judged for those names, shown for the others)."""
    rows = []
    total = m["rows"]
    for name, ref in ref_groups.items():
        got = measured_groups.get(name)
        n = got["count"] if got else 0
        exp_count, exp_fraud = exp.count(ref)
        share_ref = 100 * exp_count / exp.rows
        share = 100 * n / total
        floor = NOISE_SE * _se_pct(share_ref / 100, total)
        rows.append(_relative(kind, f"{name} row share (%)", share, share_ref, REL, floor))
        if not got:
            rows.append(_info(kind, f"{name} fraud rate (%)", None, 100 * exp_fraud / exp_count, "no rows measured"))
            continue
        rate_ref = 100 * exp_fraud / exp_count if exp_count else 0.0
        rate = got["fraud_pct"]
        if ref["fraud_count"] == 0:
            rows.append(_judge(kind, f"{name} fraud rate (%)", rate, 0.0, 0.0, "BankSim has no fraud here"))
        else:
            floor = NOISE_SE * _se_pct(rate_ref / 100, n)
            rel = REL * rate_ref
            tol = max(RATE_ABS_PP if rate_abs else 0.0, rel, floor)
            rule = "2 pp" if rate_abs and tol == RATE_ABS_PP else "10% relative" if tol == rel else "3 SE"
            rows.append(_judge(kind, f"{name} fraud rate (%)", rate, rate_ref, tol, rule))
        if class_means:
            for cls in ("fraud", "legit"):
                want = ref.get(f"mean_amount_{cls}")
                if want is None:
                    continue
                metric = f"{name} mean {cls} amount"
                count = got[f"{cls}_count"]
                if not count:
                    rows.append(_info(kind, metric, None, want, f"no {cls} rows measured"))
                    continue
                floor = NOISE_SE * (got.get(f"std_amount_{cls}") or 0.0) / math.sqrt(count)
                rows.append(_relative(kind, metric, got[f"mean_amount_{cls}"], want, REL, floor))
        if judged_means is not None:
            metric = f"{name} mean amount"
            if name in judged_means:
                floor = NOISE_SE * (got.get("std_amount") or 0.0) / math.sqrt(n)
                rows.append(_relative(kind, metric, got["mean_amount"], ref["mean_amount"], REL, floor))
            else:
                rows.append(_info(kind, metric, got["mean_amount"], ref["mean_amount"], "single source: shown only"))
    for name in sorted(set(measured_groups) - set(ref_groups)):
        rows.append(
            Row(
                kind,
                f"{name} row share (%)",
                100 * measured_groups[name]["count"] / total,
                None,
                None,
                f"not a BankSim {kind}",
                FAIL,
            )
        )
    return rows


def _amount_rows(m: dict, ref: dict, exp: _Expectation) -> list[Row]:
    s = "amount"
    got, want = m["amount"], ref["amount"]
    rows = []
    overall_mean = exp.mean_amount(want["legit"]["mean"], want["fraud"]["mean"])
    rows.append(_relative(s, "mean amount", got["overall"].get("mean"), overall_mean, REL))
    for q in ("q25", "median", "q75"):
        rows.append(_relative(s, f"amount {q}", got["overall"].get(q), want["overall"][q], REL))
    for cls in ("fraud", "legit"):
        have = got[cls]
        floor = NOISE_SE * (have.get("std") or 0.0) / math.sqrt(have["count"]) if have["count"] else 0.0
        rows.append(_relative(s, f"mean {cls} amount", have.get("mean"), want[cls]["mean"], REL, floor))
    rows.append(_info(s, "max amount", got["overall"].get("max"), want["overall"]["max"]))
    rows.append(_info(s, "rows with amount 0", got["zero_amount_rows"], want["zero_amount_rows"]))
    return rows


def _step_rows(m: dict, ref: dict, exp: _Expectation) -> list[Row]:
    s = "steps"
    counts = {int(k): v for k, v in m["step_stats"]["per_step_count"].items()}
    rows = []
    for step in STEP_ANCHORS:
        if step in counts:
            want = exp.rows_by_step[step]
            rows.append(
                _relative(s, f"rows at step {step}", counts[step], want, STEP_ROWS_REL, NOISE_SE * math.sqrt(want))
            )
    if exp.full:
        est = np.asarray(ref["step_stats"]["per_step_count_estimate"], dtype=float)
        growth_ref = est[-10:].mean() / est[:10].mean()
        growth = np.mean([counts[t] for t in range(170, 180)]) / np.mean([counts[t] for t in range(10)])
        rows.append(
            _relative(s, "rows per step, last 10 / first 10 days", float(growth), float(growth_ref), STEP_ROWS_REL)
        )
        for key in ("mean", "q25", "median", "q75"):
            rows.append(_relative(s, f"step {key}", m["step_stats"][key], ref["step_stats"][key], 0.02))
    rows.append(_info(s, "frauds per step", m["step_stats"]["fraud_per_step_mean"], exp.fraud_per_step))
    return rows


def _structure_rows(m: dict, ref: dict, exp: _Expectation) -> list[Row]:
    s = "customers"
    got, want = m["customer_stats"], ref["customer_stats"]
    k = exp.scale  # customers never shared between the copies of a scaled bank: pairs add up too
    pairs = [
        ("customer-merchant pairs", got["customer_merchant_pairs"], k * want["customer_merchant_pairs"]),
        ("pairs with fraud", got["fraud_customer_merchant_pairs"], k * want["fraud_customer_merchant_pairs"]),
        (
            "pairs with more than one fraud",
            got["pairs_with_more_than_one_fraud"],
            k * want["pairs_with_more_than_one_fraud"],
        ),
        ("pairs with fraud and legit rows", got["pairs_with_mixed_labels"], k * want["pairs_with_mixed_labels"]),
        (
            "F/M customers with fraud (%)",
            got["customers_with_fraud"]["pct_of_F_M_customers"],
            want["customers_with_fraud"]["pct_of_F_M_customers"],
        ),
    ]
    rows = []
    for gender, count in want["by_gender"].items():
        have = got["by_gender"].get(gender, 0)
        if exp.full:
            rows.append(_relative(s, f"customers of gender {gender}", have, k * count, CUSTOMERS_REL))
        else:
            rows.append(_info(s, f"customers of gender {gender}", have, k * count, "whole run only"))
    for metric, have, ref_value in pairs:
        if exp.full:
            rows.append(_relative(s, metric, have, ref_value, STRUCTURE_REL))
        else:
            rows.append(_info(s, metric, have, ref_value, "whole run only"))
    top = sum(n for _, n in got["top_fraud_customers"])
    top_ref = sum(n for _, n in want["top_fraud_customers"])
    fraud_rows = max(m["fraud_rows"], 1)
    rows.append(
        _info(
            s,
            "share of frauds on the top-10 customers (%)",
            100 * top / fraud_rows,
            100 * top_ref / (k * ref["fraud_rows"]),
        )
    )
    rows.append(_info(s, "rows per customer (max)", got["tx_per_customer"]["max"], want["tx_per_customer"]["max"]))
    return rows


# --------------------------------------------------------------------------------------------
# Showing


def summary(rows: list[Row]) -> dict[str, int]:
    """How many rows passed, failed and were shown for information."""
    return {status: sum(r.status == status for r in rows) for status in (PASS, FAIL, INFO)}


def comparison_to_json(rows: list[Row]) -> dict:
    """The comparison as plain data: a summary and every row."""
    return {"summary": summary(rows), "rows": [r.to_dict() for r in rows]}


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)) or float(value).is_integer():
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.4f}" if magnitude else "0"


def _diff(row: Row) -> str:
    if not isinstance(row.measured, (int, float)) or not isinstance(row.reference, (int, float)):
        return ""
    gap = float(row.measured) - float(row.reference)
    if row.reference:
        return f"{100 * gap / abs(float(row.reference)):+.1f}%"
    return _fmt(gap)


def render_comparison(rows: list[Row], only_failures: bool = False) -> str:
    """A side-by-side text table, one line per figure, sections separated, failures marked."""
    counts = summary(rows)
    head = (
        f"BankSim fidelity: {len(rows)} figures, {counts[PASS]} pass, {counts[FAIL]} fail, "
        f"{counts[INFO]} shown for information"
    )
    widths = (46, 13, 13, 8, 12, 6)
    header = ("metric", "measured", "reference", "diff", "tolerance", "result")
    lines = [head, "", _line(header, widths), _line(tuple("-" * w for w in widths), widths)]
    section = None
    for row in rows:
        if only_failures and row.status != FAIL:
            continue
        if row.section != section:
            section = row.section
            lines.append(f"[{section}]")
        tol = "-" if row.tolerance is None else f"±{_fmt(row.tolerance)}"
        mark = {PASS: "pass", FAIL: "FAIL", INFO: "info"}[row.status]
        lines.append(_line((row.metric, _fmt(row.measured), _fmt(row.reference), _diff(row), tol, mark), widths))
    return "\n".join(lines)


def _line(cells: tuple, widths: tuple) -> str:
    first = f"{cells[0]:<{widths[0]}}"
    rest = "".join(f" {c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=False))
    return first + rest
