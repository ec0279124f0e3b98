"""Markdown for the training assets' metadata in the Dagster UI."""

from __future__ import annotations

import base64

from fraud_assets.training.gates import GateResult


def curves_markdown(png: bytes) -> str:
    return f"![ROC and precision-recall curves](data:image/png;base64,{base64.b64encode(png).decode()})"


def gates_markdown(gates: list[GateResult]) -> str:
    rows = ["| gate | value | bound | verdict |", "| --- | ---: | ---: | --- |"]
    for g in gates:
        value = "-" if g.value is None else f"{g.value:.4f}"
        bound = "-" if g.bound is None else f"{g.bound:.4f}"
        rows.append(f"| {g.gate} | {value} | {bound} | {'pass' if g.passed else '**FAIL**'} |")
    return "\n".join(rows)
