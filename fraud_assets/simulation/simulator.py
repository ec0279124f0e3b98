"""Simulated BankSim days: the real file's columns, format and statistical shape, reproducible per day.

The real CSV cannot be downloaded, so the pipeline runs on days generated from the published
profile (`banksim_profile.json`). Two properties matter more than anything else here:

* **Fidelity.** Category, merchant, age and gender mixes, fraud rates, class-wise amount means,
  amount quartiles, rows-per-day growth, customers and customer-merchant pairs all come out within
  the tolerances that `fraud_assets.simulation.profile.compare` checks (`benchmarks/bench_simulator.py`
  prints the whole table). Fraud is built like BankSim builds it: a stolen card is used for a
  short burst of payments (over about 1.3 days) at fraud-prone merchants, preferably ones its owner
  uses, on victims weighted by gender, age and activity, so the same customers and
  customer-merchant pairs come back, rather than independent coin flips per row.
* **Day independence.** The rows of a day depend only on (seed, day, drift): every random draw of
  day t comes from a stream keyed by (seed, t), and the few things that span days (how many
  payments each merchant has had so far, card thefts spilling into the next day) are closed-form
  functions of the day. `simulate(range(60, 63))` equals those days of the full run, so the
  days can be landed one at a time.

How day-to-day counts stay exact without looking at other days: each "pool" (one merchant's legit
payments, the transportation category's legit payments, one merchant's frauds, the cards stolen
from one gender x age cell) has an expected cumulative count E(t); day t gets
floor(E(t+1) + u) - floor(E(t) + u) of them with a per-seed offset u, so any run of days holds its
expected count to within one. The k-th payment of a pool takes the k-th point of a Weyl sequence
as its amount quantile, so even a merchant with 48 payments hits its mean amount without
rescaling across days.

Customers (4,112, fixed gender and age, BankSim's gender/age structure) arrive over the first
months so that volume grows like the profile's rows per day, then pay on most days; each only
visits the merchants in its reach, which keeps the number of customer-merchant pairs near BankSim's.

**Scale.** `scale=K` simulates a bank K times BankSim's size: K populations of customers (copy 0
is the population of `seed` itself, copy k one of a seed derived from it), each paying as BankSim's
customers do, at the same 50 merchants, whose volume is thus K times theirs. Per customer the shape
is unchanged, and so are the fraud rate and every share and rate per category, merchant, age and
gender; counts (rows, customers, pairs) are K times BankSim's. Copy k draws its customer ids from
its own block of numbers, so the copies never share a customer. A day's rows are the K copies'
rows of that day in time order, and each copy is day-independent, so the scaled run is too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
import pandas as pd
from scipy.special import gammaincinv, ndtr, ndtri

from fraud_assets.data.schema import COLUMNS, reference_profile

DEFAULT_SEED = 20140513  # BankSim's file is bs140513_032310.csv
MAX_STEP = 9_999  # 27 years of days; keeps the per-call count arrays small
MAX_SCALE = 100
# Customer ids are 'C' + up to 10 digits. Copy 0 (BankSim's size) draws from 10^7..2^31; copy k >= 1
# from the k-th block of ID_BLOCK numbers above 2^31, all within 10 digits up to MAX_SCALE.
FIRST_ID, COPY_0_IDS_END, ID_BLOCK = 10_000_000, 2_147_483_647, 70_000_000

# Fraud structure (fitted to the profile's share of customers with fraud, 36 %, and its 4,540 fraud
# customer-merchant pairs, 1,065 of them repeated).
FRAUD_PER_STEP = 40.0  # 7,200 frauds over 180 days, flat over time
BURST_DAYS = 1.3  # a stolen card is used for payments spread over this many days
EXTRA_PAYMENTS_PER_CARD = 0.8  # a stolen card makes 1.8 payments on average
VULNERABILITY_SIGMA = 1.3  # log-normal spread of how often a customer's card gets stolen
SHOPS_THERE_PREFERENCE = 0.65  # share of fraudulent payments steered to merchants the victim uses
HEAVY_VICTIMS = 10  # BankSim's top 10 victims hold 87-144 frauds each, together
HEAVY_VICTIM_SHARE = 0.15  # 15 % of all frauds
THEFT_LOOKBACK = math.ceil(1 + BURST_DAYS) - 1  # a theft on day s can still pay on day s + 2

# Legit behaviour.
TX_PER_ACTIVE_DAY = 1.04  # once arrived, customers pay on most days, sometimes twice
ACTIVITY_SHAPE = 8.0  # gamma shape of customers' relative activity before calibration
TRANSPORT_SPLIT_CONCENTRATION = 4.0  # Beta concentration of a customer's split between the two transport merchants

# Amount distributions, all scaled to the pool's mean. The folded normal's CV: 0.67 reproduces the
# real 25/50/75 % amount quantiles (13.74, 26.90, 42.54) within 2 % over the full run.
FOLDED_NORMAL_CV = 0.67  # legit es_transportation and es_food
LEGIT_GAMMA_CV = 0.70  # legit payments in every other category
FRAUD_GAMMA_CV = 0.65  # fraudulent payments, per merchant
FOLDED_NORMAL_CATEGORIES = ("es_transportation", "es_food")
TRANSPORT = "es_transportation"
_GOLDEN = (math.sqrt(5) - 1) / 2  # Weyl step: the most evenly spread sequence of quantiles

# Independent random streams, keyed with the day: SeedSequence(seed, spawn_key=(stream, index)).
_POPULATION, _LEGIT, _THEFT, _COPY = 0, 1, 2, 3


@dataclass(frozen=True)
class Drift:
    """A deliberate change from `start_step` on, to exercise the drift and quality gates.

    amount_scale: multiply every amount (legit and fraud) paid on or after start_step.
    fraud_rate_multiplier: multiply the number of card thefts from start_step on (legit volume
        shrinks by the same rows, so the day's total stays as in BankSim).
    category_shift: move this share (0-1) of es_transportation's legit volume to the other
        categories, in proportion to their own legit volume; merchants and codes stay known.
    Days before start_step are identical to the undrifted run.
    """

    start_step: int
    amount_scale: float = 1.0
    fraud_rate_multiplier: float = 1.0
    category_shift: float = 0.0

    def __post_init__(self):
        if not isinstance(self.start_step, (int, np.integer)) or self.start_step < 0:
            raise ValueError(f"Drift.start_step must be an integer >= 0, got {self.start_step!r}")
        if not (self.amount_scale > 0 and math.isfinite(self.amount_scale)):
            raise ValueError(f"Drift.amount_scale must be a finite number > 0, got {self.amount_scale!r}")
        if not 0 <= self.fraud_rate_multiplier <= 50:
            raise ValueError(
                f"Drift.fraud_rate_multiplier must be in [0, 50] (50 x 40 frauds still leaves legit rows on "
                f"every day), got {self.fraud_rate_multiplier!r}"
            )
        if not 0 <= self.category_shift < 1:
            raise ValueError(
                f"Drift.category_shift is the share of transportation volume moved elsewhere: "
                f"it must be in [0, 1), got {self.category_shift!r}"
            )

    def active(self, steps: np.ndarray) -> np.ndarray:
        return steps >= self.start_step


# --------------------------------------------------------------------------------------------
# Public API


def simulate(
    steps: Iterable[int] | range = range(180),
    seed: int = DEFAULT_SEED,
    drift: Drift | None = None,
    scale: int = 1,
) -> pd.DataFrame:
    """Typed transactions for the given days (COLUMNS order, sorted by step, then time of day), of a
    bank `scale` times BankSim's size."""
    days, seed = _checked_steps(steps), _checked_seed(seed)
    copies = [
        (_concat([arrays for _, arrays in _iter_step_arrays(days, seed, drift, copy)]), _population(seed, copy))
        for copy in range(_checked_scale(scale))
    ]
    return _merged_frame(copies)


def iter_steps(
    steps: Iterable[int] | range = range(180),
    seed: int = DEFAULT_SEED,
    drift: Drift | None = None,
    scale: int = 1,
) -> Iterator[tuple[int, pd.DataFrame]]:
    """(step, that day's typed transactions) one day at a time, to write one file per day."""
    days, seed = _checked_steps(steps), _checked_seed(seed)
    copies = range(_checked_scale(scale))
    populations = [_population(seed, copy) for copy in copies]
    for days_of_copies in zip(*(_iter_step_arrays(days, seed, drift, copy) for copy in copies), strict=True):
        step = days_of_copies[0][0]
        arrays_of_copies = [arrays for _, arrays in days_of_copies]
        yield step, _merged_frame(list(zip(arrays_of_copies, populations, strict=True)))


# --------------------------------------------------------------------------------------------
# Argument checks


def _checked_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def _checked_steps(steps: Iterable[int]) -> list[int]:
    days = []
    for step in steps:
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise ValueError(f"steps must be integers, got {step!r}")
        if not 0 <= step <= MAX_STEP:
            raise ValueError(f"step {step} is outside 0..{MAX_STEP}")
        days.append(int(step))
    return sorted(set(days))


def _checked_scale(scale: int) -> int:
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or not 1 <= scale <= MAX_SCALE:
        raise ValueError(f"scale must be a whole number 1-{MAX_SCALE}, got {scale!r}")
    return int(scale)


def _rng(seed: int, stream: int, index: int = 0) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(stream, index))))


# --------------------------------------------------------------------------------------------
# What the profile says, turned into pools and targets (seed-independent)


@dataclass(frozen=True)
class _Calibration:
    rows_per_step: np.ndarray  # profile's estimate for days 0..179
    merchants: tuple[str, ...]
    merchant_category: tuple[str, ...]
    transport_merchants: tuple[int, int]  # (larger, smaller) merchant index
    transport_split_mean: float  # mean share of the larger one among customers using both
    transport_only: tuple[float, float]  # share of customers using only the larger / only the smaller one
    legit_pool_merchant: np.ndarray  # merchant index, -1 for the transportation pool
    legit_pool_share: np.ndarray  # share of legit rows
    legit_pool_mean: np.ndarray
    legit_pool_folded: np.ndarray  # bool: folded normal (else gamma)
    legit_pool_reach: np.ndarray  # share of customers who ever pay there (eligibility)
    legit_fill_order: np.ndarray  # rarest pools first, transportation last
    fraud_pool_merchant: np.ndarray
    fraud_pool_share: np.ndarray
    fraud_pool_mean: np.ndarray
    fraud_pool_legit_pool: np.ndarray  # the legit pool of the same merchant
    fraud_fill_order: np.ndarray
    legit_by_gender: dict[str, float]
    legit_by_age: dict[str, float]
    customers_by_gender: dict[str, int]
    fraud_by_gender: dict[str, float]
    fraud_by_age: dict[str, float]
    age_share_fm: dict[str, float]  # age mix of F/M customers
    ages_of_gender_u: tuple[str, ...]


@cache
def _calibration() -> _Calibration:
    prof = reference_profile()
    cats, detail = prof["categories"], prof["merchants_detail"]
    merchants = tuple(detail)
    category = tuple(detail[m]["category"] for m in merchants)
    legit_total = prof["legit_rows"]
    n_fm = prof["customer_stats"]["by_gender"]["F"] + prof["customer_stats"]["by_gender"]["M"]
    n_all = prof["customers"]

    # A merchant's legit mean: its own mean if it never sees fraud; otherwise what is left of the
    # category's legit total after the fraud-free merchants. Its fraud mean then follows exactly.
    legit_mean, fraud_mean = {}, {}
    for cat, names in prof["merchants_by_category"].items():
        clean = [m for m in names if detail[m]["fraud_count"] == 0]
        mixed = [m for m in names if detail[m]["fraud_count"] > 0]
        for m in clean:
            legit_mean[m] = detail[m]["mean_amount"]
        if mixed:
            rest = cats[cat]["legit_count"] * cats[cat]["mean_amount_legit"] - sum(
                detail[m]["count"] * detail[m]["mean_amount"] for m in clean
            )
            shared = rest / sum(detail[m]["legit_count"] for m in mixed)
            for m in mixed:
                d = detail[m]
                legit_mean[m] = shared
                fraud_mean[m] = (d["count"] * d["mean_amount"] - d["legit_count"] * shared) / d["fraud_count"]

    # Legit pools: the transportation category as one pool (its two merchants are split per
    # customer), every other merchant its own pool.
    idx = {m: i for i, m in enumerate(merchants)}
    transport = sorted((m for m in merchants if detail[m]["category"] == TRANSPORT), key=lambda m: -detail[m]["count"])
    big, small = transport
    pool_merchant = [-1] + [idx[m] for m in merchants if m not in transport]
    pool_count = [cats[TRANSPORT]["legit_count"]] + [detail[merchants[i]]["legit_count"] for i in pool_merchant[1:]]
    pool_mean = [cats[TRANSPORT]["mean_amount_legit"]] + [legit_mean[merchants[i]] for i in pool_merchant[1:]]
    pool_folded = [True] + [category[i] in FOLDED_NORMAL_CATEGORIES for i in pool_merchant[1:]]
    share = np.array(pool_count, dtype=float) / legit_total

    # Reach: the profile counts distinct F/M customers per merchant (frauds included). Customers
    # outside a merchant's reach never pay there legitimately, which keeps customer-merchant pairs
    # near BankSim's 47,132 instead of everyone visiting everyone.
    reach = [1.0]
    for i, count in zip(pool_merchant[1:], pool_count[1:], strict=False):
        d = detail[merchants[i]]
        target = d["distinct_customers_F_or_M"] / n_fm * d["legit_count"] / d["count"]
        reach.append(_reach_for(target, count / n_all))
    order = np.argsort(np.array(pool_count[1:]), kind="stable") + 1
    fill_order = np.concatenate([order, [0]])

    only_big = 1 - detail[small]["distinct_customers_F_or_M"] / n_fm
    only_small = 1 - detail[big]["distinct_customers_F_or_M"] / n_fm
    both = 1 - only_big - only_small
    big_share = detail[big]["legit_count"] / cats[TRANSPORT]["legit_count"]
    split_mean = (big_share - only_big) / both

    fraud_merchants = [m for m in merchants if detail[m]["fraud_count"] > 0]
    fraud_share = np.array([detail[m]["fraud_count"] for m in fraud_merchants], dtype=float)

    by_gender = prof["customer_stats"]["by_gender"]
    ages_fm = [a for a in prof["age"] if a != "U"]
    u_rows = {"1": 178, "2": 164, "3": 173}  # gender-U customers' rows (profile gender_meta notes)
    age_rows = {a: prof["age"][a]["count"] - u_rows.get(a, 0) for a in ages_fm}
    total_age_rows = sum(age_rows.values())
    return _Calibration(
        rows_per_step=np.array(prof["step_stats"]["per_step_count_estimate"], dtype=float),
        merchants=merchants,
        merchant_category=category,
        transport_merchants=(idx[big], idx[small]),
        transport_split_mean=split_mean,
        transport_only=(only_big, only_small),
        legit_pool_merchant=np.array(pool_merchant),
        legit_pool_share=share,
        legit_pool_mean=np.array(pool_mean),
        legit_pool_folded=np.array(pool_folded),
        legit_pool_reach=np.array(reach),
        legit_fill_order=fill_order,
        fraud_pool_merchant=np.array([idx[m] for m in fraud_merchants]),
        fraud_pool_share=fraud_share / fraud_share.sum(),
        fraud_pool_mean=np.array([fraud_mean[m] for m in fraud_merchants]),
        fraud_pool_legit_pool=np.array([pool_merchant.index(idx[m]) for m in fraud_merchants]),
        fraud_fill_order=np.argsort(fraud_share, kind="stable"),
        legit_by_gender={g: v["legit_count"] for g, v in prof["gender"].items()},
        legit_by_age={a: v["legit_count"] for a, v in prof["age"].items()},
        customers_by_gender=dict(by_gender),
        fraud_by_gender={g: v["fraud_count"] for g, v in prof["gender"].items()},
        fraud_by_age={a: v["fraud_count"] for a, v in prof["age"].items()},
        age_share_fm={a: r / total_age_rows for a, r in age_rows.items()},
        ages_of_gender_u=tuple(u_rows),
    )


def _reach_for(target: float, rows_per_customer: float) -> float:
    """Share of customers eligible for a pool so that `target` of all customers end up paying there.

    With eligible share e, a pool of c rows per customer reaches e * (1 - exp(-c / e)) of them.
    """
    if target >= 1 - math.exp(-rows_per_customer):
        return 1.0
    lo, hi = 1e-4, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if mid * (1 - math.exp(-rows_per_customer / mid)) < target:
            lo = mid
        else:
            hi = mid
    return hi


# --------------------------------------------------------------------------------------------
# The customers (one population per seed)


@dataclass(frozen=True)
class _Population:
    seed: int
    ids: np.ndarray  # object array of 'C…' strings; customers are ordered by arrival day
    gender: np.ndarray  # object array
    age: np.ndarray  # object array
    arrival: np.ndarray  # first day the customer can pay
    activity: np.ndarray
    big_transport_share: np.ndarray  # probability a transport payment goes to the larger merchant
    eligible: np.ndarray  # (customers, legit pools) bool
    theft_weight: np.ndarray  # relative chance of being the victim of a card theft
    victim_cells: tuple[np.ndarray, ...]  # customers of each (gender, age) cell that can be robbed
    victim_offset: np.ndarray  # per cell: count offset
    legit_offset: np.ndarray  # per legit pool: count offset, amount offset
    fraud_offset: np.ndarray  # per fraud pool: count offset, amount offset

    def arrived_by(self, step: int) -> int:
        """How many customers (a prefix, since they are ordered by arrival) can pay on `step`."""
        return int(np.searchsorted(self.arrival, max(step, 0), side="right"))


@lru_cache(maxsize=2 * MAX_SCALE)
def _population(seed: int, copy: int = 0) -> _Population:
    """The customers of copy `copy` of the bank of `seed` (copy 0: those of `seed` itself)."""
    cal = _calibration()
    if copy:
        seed = int(np.random.SeedSequence(seed, spawn_key=(_COPY, copy)).generate_state(1)[0])
    rng = _rng(seed, _POPULATION)
    counts = cal.customers_by_gender
    n = sum(counts.values())

    gender = rng.permutation(np.repeat(np.array(list(counts), dtype=object), list(counts.values())))
    fm = np.flatnonzero((gender == "F") | (gender == "M"))
    ages = np.array(list(cal.age_share_fm), dtype=object)
    age = np.empty(n, dtype=object)
    age[fm] = rng.permutation(np.repeat(ages, _apportion(list(cal.age_share_fm.values()), fm.size)))
    age[gender == "E"] = "U"  # every enterprise customer has unknown age and only they do
    u = np.flatnonzero(gender == "U")
    age[u] = np.resize(np.array(cal.ages_of_gender_u, dtype=object), u.size)

    # Customers arrive so that the arrived share follows the profile's rows-per-day growth; arrival
    # quantiles are spread evenly within each gender, so the 9 enterprise and 3 gender-U customers
    # arrive like everyone else rather than by the luck of a few draws.
    arrived_share = cal.rows_per_step / cal.rows_per_step[-1]
    quantile = np.empty(n)
    for g in counts:
        members = np.flatnonzero(gender == g)
        quantile[members] = rng.permutation((np.arange(members.size) + 0.5) / members.size)
    arrival = np.searchsorted(arrived_share, quantile, side="left").clip(0, len(arrived_share) - 1)
    activity = rng.gamma(ACTIVITY_SHAPE, 1 / ACTIVITY_SHAPE, n)

    only_big, only_small = cal.transport_only
    kind = rng.random(n)
    m, k = cal.transport_split_mean, TRANSPORT_SPLIT_CONCENTRATION
    big_share = rng.beta(m * k, (1 - m) * k, n)
    big_share[kind < only_big] = 1.0
    big_share[(kind >= only_big) & (kind < only_big + only_small)] = 0.0

    eligible = rng.random((n, cal.legit_pool_share.size)) < cal.legit_pool_reach

    # Vulnerability: evenly spread log-normal quantiles in random order (not the luck of one draw),
    # and BankSim's handful of customers robbed again and again on top.
    vulnerability = rng.permutation(np.exp(VULNERABILITY_SIGMA * ndtri((np.arange(n) + 0.5) / n)))
    heavy = rng.choice(np.flatnonzero(np.isin(gender, ("F", "M"))), size=HEAVY_VICTIMS, replace=False)
    body = np.delete(activity * vulnerability, heavy).sum()
    vulnerability[heavy] = HEAVY_VICTIM_SHARE / (1 - HEAVY_VICTIM_SHARE) * body / activity[heavy] / HEAVY_VICTIMS

    ids = _customer_ids(rng, n, copy)
    legit_offset = rng.random((cal.legit_pool_share.size, 2))
    fraud_offset = rng.random((cal.fraud_pool_share.size, 2))

    order = np.argsort(arrival, kind="stable")
    gender, age, arrival, activity = gender[order], age[order], arrival[order], activity[order]
    vulnerability, big_share, eligible = vulnerability[order], big_share[order], eligible[order]
    activity = _rake_activity(activity, gender, age, arrival, cal)
    weight = _rake_theft_weights(activity * vulnerability, gender, age, arrival, cal)
    cell_of = np.char.add(gender.astype(str), age.astype(str))
    cells = tuple(np.flatnonzero((cell_of == c) & (weight > 0)) for c in np.unique(cell_of))
    cells = tuple(c for c in cells if c.size)
    return _Population(
        seed=seed,
        ids=ids[order],
        gender=gender,
        age=age,
        arrival=arrival,
        activity=activity,
        big_transport_share=big_share,
        eligible=eligible,
        theft_weight=weight,
        victim_cells=cells,
        victim_offset=rng.random(len(cells)),
        legit_offset=legit_offset,
        fraud_offset=fraud_offset,
    )


def _apportion(shares: list[float], total: int) -> np.ndarray:
    """Integer counts in the given proportions that add up to `total` (largest remainder)."""
    raw = np.asarray(shares, dtype=float) / sum(shares) * total
    counts = np.floor(raw).astype(int)
    counts[np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]] += 1
    return counts


def _customer_ids(rng: np.random.Generator, n: int, copy: int = 0) -> np.ndarray:
    """Distinct ids shaped like BankSim's ('C' + up to 10 digits), from the copy's own block of numbers."""
    low = FIRST_ID if copy == 0 else COPY_0_IDS_END + 1 + (copy - 1) * ID_BLOCK
    high = COPY_0_IDS_END if copy == 0 else low + ID_BLOCK
    numbers = np.unique(rng.integers(low, high, size=2 * n))
    numbers = rng.permutation(numbers)[:n]
    return np.array([f"C{v}" for v in numbers], dtype=object)


def _pay_probability(activity: np.ndarray, payers: float) -> np.ndarray:
    """Chance that each present customer pays today: 1 - exp(-lam * activity), lam set so that
    `payers` of them pay on average (Poisson sampling; Newton from below converges monotonically)."""
    n = activity.size
    if payers >= n:
        return np.ones(n)
    lam = -math.log1p(-payers / n) / activity.mean()
    for _ in range(50):
        e = np.exp(-lam * activity)
        gap = n - e.sum() - payers
        if gap > -1e-9 * payers:
            break
        lam -= gap / (activity * e).sum()
    return -np.expm1(-lam * activity)


def _rake_activity(base, gender, age, arrival, cal: _Calibration, rounds: int = 12) -> np.ndarray:
    """Scale activity per gender and per age until each group's expected legit rows match the profile."""
    days = np.arange(cal.rows_per_step.size)
    legit_rows = cal.rows_per_step - FRAUD_PER_STEP
    present = np.searchsorted(arrival, days, side="right")
    activity = base.astype(float).copy()
    for _ in range(rounds):
        for labels, target in ((gender, cal.legit_by_gender), (age, cal.legit_by_age)):
            expected = np.zeros(activity.size)
            for n, rows in zip(present, legit_rows, strict=False):
                expected[:n] += _pay_probability(activity[:n], rows / TX_PER_ACTIVE_DAY)
            total = sum(target.values())
            for label, want in target.items():
                members = labels == label
                activity[members] *= want / total * expected.sum() / expected[members].sum()
    return activity / activity.mean()


def _rake_theft_weights(base, gender, age, arrival, cal: _Calibration, rounds: int = 40) -> np.ndarray:
    """Scale victim weights per gender and per age until expected frauds match the profile's counts.

    A customer's expected thefts are weight x exposure, exposure summing 1/(total weight of the
    customers already there) over the theft days, so late arrivals are accounted for.
    """
    weight = base.astype(float).copy()
    steps = np.arange(-THEFT_LOOKBACK, len(cal.rows_per_step))
    present = np.searchsorted(arrival, np.maximum(steps, 0), side="right")  # prefix size per theft day
    first_day = np.searchsorted(np.maximum(steps, 0), arrival)  # exposure is a suffix sum
    groups = [(gender, cal.fraud_by_gender), (age, cal.fraud_by_age)]
    for _ in range(rounds):
        for labels, target in groups:
            cum = np.concatenate([[0.0], np.cumsum(weight)])
            inv = 1 / np.maximum(cum[present], 1e-300)
            exposure = np.concatenate([np.cumsum(inv[::-1])[::-1], [0.0]])[first_day]
            expected = weight * exposure
            total = expected.sum()
            for label, want in target.items():
                members = labels == label
                have = expected[members].sum() / total
                weight[members] *= (want / sum(target.values())) / have if have > 0 else 0.0
    return weight / weight.sum()


# --------------------------------------------------------------------------------------------
# Expected counts per pool and day (closed form, so any day can be made on its own)


@dataclass(frozen=True)
class _Plan:
    legit_start: np.ndarray  # (days + 1, legit pools) index of the first payment of the day
    fraud_start: np.ndarray  # (theft days + 1, fraud pools), theft days from -THEFT_LOOKBACK
    card_start: np.ndarray  # (theft days + 1, victim cells)
    amount_scale: np.ndarray  # per day

    def legit(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        first = self.legit_start[step]
        return first, self.legit_start[step + 1] - first

    def thefts(self, origin: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first payment index per fraud pool, payments per fraud pool, stolen cards per victim cell)."""
        i = origin + THEFT_LOOKBACK
        first = self.fraud_start[i]
        return first, self.fraud_start[i + 1] - first, self.card_start[i + 1] - self.card_start[i]


def _plan(population: _Population, drift: Drift | None, last_step: int) -> _Plan:
    cal = _calibration()
    days = np.arange(last_step + 1)
    rows = cal.rows_per_step[np.minimum(days, len(cal.rows_per_step) - 1)]
    thefts = np.arange(-THEFT_LOOKBACK, last_step + 1)
    fraud_mult = np.ones(thefts.size)
    legit_share = np.tile(cal.legit_pool_share, (days.size, 1))
    scale = np.ones(days.size)
    if drift is not None:
        fraud_mult[drift.active(thefts)] = drift.fraud_rate_multiplier
        on = drift.active(days)
        transport = cal.legit_pool_merchant == -1
        moved = cal.legit_pool_share[transport].sum() * drift.category_shift
        shifted = cal.legit_pool_share.copy()
        shifted[transport] *= 1 - drift.category_shift
        shifted[~transport] *= 1 + moved / cal.legit_pool_share[~transport].sum()
        legit_share[on] = shifted
        scale[on] = drift.amount_scale
    frauds_per_theft_day = FRAUD_PER_STEP * fraud_mult
    legit_rows = rows - frauds_per_theft_day[THEFT_LOOKBACK:]
    legit_expected = legit_rows[:, None] * legit_share
    fraud_expected = frauds_per_theft_day[:, None] * cal.fraud_pool_share
    # Cards stolen per (gender, age) cell follow the cell's share of the victim weight among the
    # customers already there, so the demographic fraud mix holds even for the ~17 customers aged 0.
    present = np.searchsorted(population.arrival, np.maximum(thefts, 0), side="right")
    cell_weight = np.stack(
        [
            np.concatenate([[0.0], np.cumsum(population.theft_weight[c])])[np.searchsorted(c, present)]
            for c in population.victim_cells
        ],
        axis=1,
    )
    cards = frauds_per_theft_day / (1 + EXTRA_PAYMENTS_PER_CARD)
    cards_expected = cards[:, None] * cell_weight / cell_weight.sum(axis=1, keepdims=True)
    return _Plan(
        legit_start=_systematic_starts(legit_expected, population.legit_offset[:, 0]),
        fraud_start=_systematic_starts(fraud_expected, population.fraud_offset[:, 0]),
        card_start=_systematic_starts(cards_expected, population.victim_offset),
        amount_scale=scale,
    )


def _systematic_starts(expected: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Index of each day's first payment per pool: floor(cumulative expectation + offset)."""
    cumulative = np.vstack([np.zeros(expected.shape[1]), np.cumsum(expected, axis=0)])
    return np.floor(cumulative + offset).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Amounts


@cache
def _folded_normal_table() -> tuple[np.ndarray, np.ndarray]:
    """(cdf, x) of |N(theta, 1)| scaled to mean 1, theta set by FOLDED_NORMAL_CV, for np.interp."""

    def mean_and_cv(theta: float) -> tuple[float, float]:
        mean = math.sqrt(2 / math.pi) * math.exp(-theta * theta / 2) + theta * (1 - 2 * ndtr(-theta))
        return mean, math.sqrt(theta * theta + 1 - mean * mean) / mean

    lo, hi = 0.0, 3.0  # the CV falls from 0.756 (half normal) as theta grows
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mean_and_cv(mid)[1] > FOLDED_NORMAL_CV else (lo, mid)
    theta = (lo + hi) / 2
    mean = mean_and_cv(theta)[0]
    x = np.linspace(0, theta + 9, 20_001)
    cdf = ndtr(x - theta) + ndtr(x + theta) - 1
    return cdf, x / mean


def _amount_quantiles(offset: float, first: int, count: int) -> np.ndarray:
    """Quantiles of a pool's payments first..first+count-1 (a Weyl sequence, never exactly 0 or 1)."""
    k = np.arange(first, first + count, dtype=np.float64)
    return np.clip((offset + k * _GOLDEN) % 1.0, 1e-9, 1 - 1e-9)


def _unit_amounts(q: np.ndarray, folded: bool, cv: float) -> np.ndarray:
    """Amounts with mean 1 at quantiles q."""
    if folded:
        cdf, x = _folded_normal_table()
        return np.interp(q, cdf, x)
    shape = 1 / (cv * cv)
    return gammaincinv(shape, q) / shape


# --------------------------------------------------------------------------------------------
# One day


def _legit_payments(population: _Population, plan: _Plan, step: int) -> dict[str, np.ndarray]:
    cal = _calibration()
    rng = _rng(population.seed, _LEGIT, step)
    first, count = plan.legit(step)
    n = int(count.sum())

    # Who pays today: each customer who has arrived, with a chance that grows with activity;
    # a few of them pay twice, so the day holds exactly its n payments.
    present = population.arrived_by(step)
    chance = _pay_probability(population.activity[:present], n / TX_PER_ACTIVE_DAY)
    payers = np.flatnonzero(rng.random(present) < chance)
    if payers.size > n:
        payers = np.sort(rng.choice(payers, size=n, replace=False))
    seconds = rng.choice(payers, size=n - payers.size, replace=True)
    customer = rng.permutation(np.concatenate([payers, seconds]))

    # Fill each pool's payments with customers in its reach, rarest pools first; transportation
    # (85 % of rows, everyone's) takes the rest.
    pool = np.zeros(n, dtype=np.int64)
    amount = np.empty(n)
    free = np.ones(n, dtype=bool)
    eligible = population.eligible[customer]
    for p in cal.legit_fill_order:
        q = int(count[p])
        if q == 0:
            continue
        rows = np.flatnonzero(free) if cal.legit_pool_merchant[p] == -1 else _pick(rng, free, eligible[:, p], q)
        pool[rows] = p
        free[rows] = False
        quantiles = _amount_quantiles(population.legit_offset[p, 1], int(first[p]), q)
        amount[rows] = cal.legit_pool_mean[p] * _unit_amounts(quantiles, cal.legit_pool_folded[p], LEGIT_GAMMA_CV)

    merchant = cal.legit_pool_merchant[pool]
    transport = merchant == -1
    big, small = cal.transport_merchants
    to_big = rng.random(int(transport.sum())) < population.big_transport_share[customer[transport]]
    merchant[transport] = np.where(to_big, big, small)
    return {
        "customer": customer,
        "merchant": merchant,
        "amount": amount,
        "fraud": np.zeros(n, dtype=np.int64),
        "time": step + rng.random(n),
    }


def _theft_payments(population: _Population, plan: _Plan, origin: int) -> dict[str, np.ndarray]:
    """Every fraudulent payment made with the cards stolen on day `origin` (they may fall later)."""
    cal = _calibration()
    rng = _rng(population.seed, _THEFT, origin + THEFT_LOOKBACK)
    first, count, cards_per_cell = plan.thefts(origin)
    n = int(count.sum())

    # The day's stolen cards: a victim per card, drawn by weight within each (gender, age) cell
    # among the customers already there; the day's payments are spread over the cards at random.
    present = population.arrived_by(origin)
    victims = []
    for members, q in zip(population.victim_cells, cards_per_cell, strict=False):
        members = members[: np.searchsorted(members, present)]
        if q and members.size:
            weight = population.theft_weight[members]
            victims.append(rng.choice(members, size=int(q), p=weight / weight.sum()))
    if n and not victims:  # a day with payments but no whole card due in any cell
        weight = population.theft_weight[:present]
        victims.append(rng.choice(present, size=1, p=weight / weight.sum()))
    victim = rng.permutation(np.concatenate(victims))[:n] if n else np.empty(0, dtype=np.int64)
    cards = victim.size
    card = np.sort(np.concatenate([np.arange(cards), rng.integers(0, max(cards, 1), size=n - cards)]))
    customer = victim[card]

    # Most of a fraud-prone merchant's payments go to victims who also shop there, rarest merchants
    # first: this gives BankSim's share of fraud pairs that also hold legit payments (about 1 in 4).
    slot = rng.permutation(n)  # payments in a random order
    steered = rng.random(n) < SHOPS_THERE_PREFERENCE
    shops_there = population.eligible[customer[slot]][:, cal.fraud_pool_legit_pool] & steered[:, None]
    pool = np.empty(n, dtype=np.int64)
    amount = np.empty(n)
    free = np.ones(n, dtype=bool)
    for p in cal.fraud_fill_order:
        q = int(count[p])
        if q == 0:
            continue
        rows = _pick(rng, free, shops_there[:, p], q)
        free[rows] = False
        quantiles = _amount_quantiles(population.fraud_offset[p, 1], int(first[p]), q)
        pool[slot[rows]] = p
        amount[slot[rows]] = cal.fraud_pool_mean[p] * _unit_amounts(quantiles, False, FRAUD_GAMMA_CV)
    stolen_at = origin + rng.random(cards)
    return {
        "customer": customer,
        "merchant": cal.fraud_pool_merchant[pool],
        "amount": amount,
        "fraud": np.ones(n, dtype=np.int64),
        "time": stolen_at[card] + rng.random(n) * BURST_DAYS,
    }


def _pick(rng: np.random.Generator, free: np.ndarray, preferred: np.ndarray, q: int) -> np.ndarray:
    """q random free rows, preferred ones first. Random, not the first ones found: taking the front
    of the list would hand every later pool the customers that earlier pools skipped."""
    rows = np.flatnonzero(free & preferred)
    if rows.size >= q:
        return rng.choice(rows, size=q, replace=False)
    others = np.flatnonzero(free & ~preferred)
    return np.concatenate([rows, rng.choice(others, size=q - rows.size, replace=False)])


def _iter_step_arrays(days: list[int], seed: int, drift: Drift | None, copy: int = 0) -> Iterator[tuple[int, dict]]:
    population = _population(_checked_seed(seed), copy)
    if drift is not None and not isinstance(drift, Drift):
        raise TypeError(f"drift must be a Drift or None, got {type(drift).__name__}")
    if not days:
        return
    plan = _plan(population, drift, days[-1])
    thefts: dict[int, dict] = {}
    for step in days:
        for origin in list(thefts):
            if origin < step - THEFT_LOOKBACK:
                del thefts[origin]
        parts = [_legit_payments(population, plan, step)]
        for origin in range(step - THEFT_LOOKBACK, step + 1):
            if origin not in thefts:
                thefts[origin] = _theft_payments(population, plan, origin)
            burst = thefts[origin]
            today = np.floor(burst["time"]) == step
            parts.append({k: v[today] for k, v in burst.items()})
        day = _concat(parts)
        order = np.argsort(day["time"], kind="stable")
        day = {k: v[order] for k, v in day.items()}
        day["amount"] = np.round(day["amount"] * plan.amount_scale[step], 2)
        day["step"] = np.full(order.size, step, dtype=np.int64)
        yield step, day


def _concat(parts: list[dict]) -> dict[str, np.ndarray]:
    keys = ("step", "customer", "merchant", "amount", "fraud", "time")
    if not parts:
        return {k: np.empty(0, dtype=np.float64 if k in ("amount", "time") else np.int64) for k in keys}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _merged_frame(copies: list[tuple[dict[str, np.ndarray], _Population]]) -> pd.DataFrame:
    """The copies' transactions as one frame in time order (time runs across days: step + time of day)."""
    if len(copies) == 1:
        return _to_frame(*copies[0])
    order = np.argsort(np.concatenate([arrays["time"] for arrays, _ in copies]), kind="stable")
    merged = pd.concat([_to_frame(arrays, population) for arrays, population in copies], ignore_index=True)
    return merged.take(order).reset_index(drop=True)


def _to_frame(arrays: dict[str, np.ndarray], population: _Population) -> pd.DataFrame:
    cal = _calibration()
    n = arrays["step"].size
    customer = arrays["customer"].astype(np.int64)
    merchant = arrays["merchant"].astype(np.int64)
    zipcode = np.full(n, "28007", dtype=object)
    columns = {
        "step": arrays["step"].astype(np.int64),
        "customer": population.ids[customer],
        "age": population.age[customer],
        "gender": population.gender[customer],
        "zipcodeOri": zipcode,
        "merchant": np.array(cal.merchants, dtype=object)[merchant],
        "zipMerchant": zipcode.copy(),
        "category": np.array(cal.merchant_category, dtype=object)[merchant],
        "amount": arrays["amount"].astype(np.float64),
        "fraud": arrays["fraud"].astype(np.int64),
    }
    return pd.DataFrame(columns, columns=list(COLUMNS))
