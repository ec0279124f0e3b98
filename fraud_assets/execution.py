"""Where asset steps run, chosen by configuration: inside the run's process on one machine, one
Kubernetes pod per step on a cluster (`FRAUD_EXECUTOR=kubernetes`).

On one machine the run already has its own process (the run launcher starts one per run), and
each extra step process re-imports dagster, pandas and pyarrow: measured with
`benchmarks/bench_executor.py` on 2 shared cores, a slices + features run over 1 or 5 days
takes 0.6-1.1 s in process against ~5 s with the multiprocess executor (2 s against 11 s when
the machine is busy), and the graph is a chain with little to run side by side.

On Kubernetes a pod per step gives each asset group the CPU and memory it needs
(`K8S_RESOURCES`), and a crash or OOM kill costs one step, not the run.

Every asset step records its peak memory in its materialization's metadata (`records_peak_memory`),
so the UI shows what each step needs on whichever executor it ran.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

from dagster import (
    AssetExecutionContext,
    DagsterInvariantViolationError,
    ExecutorDefinition,
    MaterializeResult,
    Output,
    in_process_executor,
)

from fraud_assets import settings
from fraud_assets.peak_memory import PeakMemory

# The op tag dagster-k8s reads (dagster_k8s.job.USER_DEFINED_K8S_CONFIG_KEY). dagster-k8s is
# imported only on Kubernetes: it pulls in the kubernetes client, 0.4 s more per run on one machine.
K8S_CONFIG_TAG = "dagster-k8s/config"


def executor_for(current: settings.Settings | None = None) -> ExecutorDefinition:
    """The executor for `Definitions(executor=...)`, named by FRAUD_EXECUTOR (default: the environment's)."""
    if (current or settings.load()).executor == "kubernetes":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    return in_process_executor


def _pod(cpu_request: str, memory_request: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    """A step container's size. OpenMP gets one thread per requested CPU (and a model's fit as many,
    FRAUD_TRAINING_THREADS): the image pins OMP_NUM_THREADS=1, because a pod sees the node's cores, not its own
    share."""
    cpus = int(cpu_request[:-1]) / 1000 if cpu_request.endswith("m") else float(cpu_request)
    threads = max(1, int(cpus))  # whole CPUs, rounded down
    return {
        "container_config": {
            "resources": {
                "requests": {"cpu": cpu_request, "memory": memory_request},
                "limits": {"cpu": cpu_limit, "memory": memory_limit},
            },
            "env": [
                {"name": "OMP_NUM_THREADS", "value": str(threads)},
                {"name": "FRAUD_TRAINING_THREADS", "value": str(threads)},
            ],
        }
    }


# Sizes per asset group, as the `dagster-k8s/config` tag value. A step process needs ~0.4 GB
# for its imports alone; ingest and features hold one batch of days (the 108-day baseline at
# most); training holds every training day's features plus the binned copy the model makes;
# Evidently keeps reference and current frames side by side.
K8S_RESOURCES: Mapping[str, Mapping[str, Any]] = {
    "ingest": _pod("250m", "512Mi", "1", "1Gi"),
    "features": _pod("500m", "1Gi", "1", "2Gi"),
    "training": _pod("2", "3Gi", "2", "6Gi"),
    "monitoring": _pod("500m", "1Gi", "1", "3Gi"),
    "deployment": _pod("250m", "512Mi", "500m", "1Gi"),
}


# Of the steps ready to run, the in-process executor runs the highest `dagster/priority` first (ties: as planned).
# Training and its evaluation go before the drift gate, so a candidate that passes its metric gates is staged (its
# server starting) while the drift gate runs.
BEFORE_THE_DRIFT_GATE = {"dagster/priority": "1"}


def k8s_op_tags(group: str) -> dict[str, str]:
    """`op_tags=` for an asset of `group`: the pod size dagster-k8s applies to its step.

    The value is JSON text, the form dagster-k8s parses (`get_user_defined_k8s_config`);
    other executors ignore the tag.
    """
    if group not in K8S_RESOURCES:
        raise KeyError(f"asset group {group!r} has no Kubernetes pod size; known groups: {sorted(K8S_RESOURCES)}")
    return {K8S_CONFIG_TAG: json.dumps(K8S_RESOURCES[group], sort_keys=True)}


# The metadata key of each materialization's peak memory (MiB, the step process's RSS).
PEAK_MEMORY_MIB = "peak_memory_mib"


def records_peak_memory(compute: Callable) -> Callable:
    """Put under `@asset`: the step's peak RSS from the start of its computation to its output (for a
    generator, up to the output it yields) becomes `peak_memory_mib` in the materialization's
    metadata, of every partition the step materializes. Inputs loaded before the computation count
    as resident from its start."""
    if inspect.isgeneratorfunction(compute):

        @functools.wraps(compute)
        def step(*args, **kwargs):
            with PeakMemory() as peak:
                for event in compute(*args, **kwargs):
                    if isinstance(event, (Output, MaterializeResult)):
                        _record(peak)
                    yield event

        return step

    @functools.wraps(compute)
    def step(*args, **kwargs):
        with PeakMemory() as peak:
            result = compute(*args, **kwargs)
            _record(peak)
        return result

    return step


def _record(peak: PeakMemory) -> None:
    try:
        context = AssetExecutionContext.get()
    except DagsterInvariantViolationError:  # called directly (a test invoking the asset): no step to record in
        return
    context.add_asset_metadata({PEAK_MEMORY_MIB: peak.mib(), "peak_memory_method": peak.method})
