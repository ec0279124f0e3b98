"""The scoring page (`streamlit run`, started by `fraud-assets dev`): pick a landed transaction or type
one, send it to the live endpoint as a raw transaction, and see the fraud probability, the decision
at the model's threshold, the true label, the model version serving, and the customer's and
merchant's history behind the features. The work is in `fraud_assets.pages.transactions`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from fraud_assets import links, settings
from fraud_assets.data.schema import AGES, CATEGORIES, GENDERS, LABEL
from fraud_assets.pages import transactions as tx


@st.cache_data(show_spinner="reading the landed slices ...")
def _landed(files_and_sizes: tuple[tuple[str, int], ...]) -> pd.DataFrame:
    """Cached per set of stored slice files: a newly landed day reloads it."""
    return tx.landed_transactions(tx.slice_files())


def _serving() -> dict | None:
    from fraud_assets.resources import model_deployer

    return model_deployer().status()


def _not_serving(reason: str) -> None:
    deploy = f"{settings.dagster_url()}/assets/model_deployment"
    st.error(f"Nothing serves: {reason}")
    st.markdown(
        f"Deploy a model: materialize `model_deployment` in [Dagster]({deploy}) (it deploys once the "
        "gates pass), or redeploy a registered version with `fraud-assets rollback --version N`."
    )


def _show_score(result: tx.Score, label: int | None) -> None:
    verdict = "FRAUD" if result.decision else "legitimate"
    threshold = f" (threshold {result.threshold:.4f})" if result.threshold is not None else ""
    cols = st.columns(4)
    cols[0].metric("fraud probability", f"{result.probability:.4f}")
    cols[1].metric("decision", verdict, help=f"at the model's threshold{threshold}")
    cols[2].metric("true label", "—" if label is None else ("fraud" if label else "legitimate"))
    cols[3].metric("model serving", result.model)
    st.markdown(f"**Decision: {verdict}**{threshold}, scored by **{result.model}**")
    for warning in result.warnings:
        st.caption(warning)
    if result.features:
        with st.expander("feature values the server computed"):
            st.dataframe(pd.DataFrame([result.features]).T.rename(columns={0: "value"}))


def _show_history(landed: pd.DataFrame, transaction: dict, before: int | None) -> None:
    for column, what in (("customer", "customer"), ("merchant", "merchant")):
        key = transaction.get(column)
        rows, summary = tx.history(landed, column, key, before)
        st.subheader(f"The {what}'s history: {key}")
        st.caption(", ".join(f"{k}: {v}" for k, v in summary.items()))
        st.dataframe(rows, hide_index=True)


def main() -> None:
    st.set_page_config(page_title="Score a transaction", layout="wide")
    st.title("Score a transaction")
    files = tx.slice_files()
    landed = _landed(tuple((f.name, f.stat().st_size) for f in files))
    serving = _serving()
    url = tx.endpoint(serving)
    if url:
        parts = [f"endpoint {url}", f"{len(landed):,} landed transactions"]
        if version_url := links.mlflow_model_version_url(
            serving.get("model_name", ""), serving.get("model_version", "")
        ):
            parts.append(f"[the serving version in MLflow]({version_url})")
        st.caption(" · ".join(parts))
    mode = st.radio("transaction", ["a landed one", "type one"], horizontal=True)
    transaction: dict | None = None
    label, before = None, None
    if mode == "a landed one":
        if landed.empty:
            st.info("No slices have landed yet: land days with `fraud-assets land --days N`.")
            return
        left, right = st.columns([3, 2])
        with right:
            wanted = st.selectbox("random among", ["all", "frauds", "legitimate"])
            if st.button("Random transaction"):
                st.session_state["number"] = tx.pick_random(
                    landed, {"all": None, "frauds": 1, "legitimate": 0}[wanted], np.random.default_rng()
                )
        with left:
            number = st.number_input(
                f"transaction number (0-{len(landed) - 1})",
                min_value=0,
                max_value=len(landed) - 1,
                step=1,
                key="number",
            )
        row = landed.loc[int(number)]
        transaction, label, before = tx.raw_transaction(row), int(row[LABEL]), int(number)
        st.dataframe(pd.DataFrame([row]), hide_index=True)
    else:
        day = int(landed["step"].max()) if not landed.empty else 0
        cols = st.columns(3)
        customer = cols[0].text_input("customer", "C1093826151")
        merchant = cols[1].text_input("merchant", "M348934600")
        category = cols[2].selectbox("category", CATEGORIES)
        cols = st.columns(3)
        amount = cols[0].number_input("amount", min_value=0.0, value=42.0, step=1.0)
        age = cols[1].selectbox("age band", AGES, index=AGES.index("3"))
        gender = cols[2].selectbox("gender", GENDERS)
        st.caption(f"scored as of day {day}, the last landed one, so the server's history is left as it is")
        transaction = {
            "step": day,
            "customer": customer,
            "age": age,
            "gender": gender,
            "merchant": merchant,
            "category": category,
            "amount": amount,
        }
    if not st.button("Score", type="primary"):
        return
    if not url:
        _not_serving("no model has been deployed.")
        return
    try:
        result = tx.score(url, transaction)
    except tx.NotServing as error:
        _not_serving(str(error))
        return
    except tx.Refused as error:
        st.error(str(error))
        return
    _show_score(result, label)
    if not landed.empty:
        _show_history(landed, transaction, before)


main()
