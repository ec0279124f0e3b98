"""The import graph of fraud_assets, read from the source: acyclic, and asset modules independent of each other;
and, imported for real, a code location that loads none of the libraries only some steps need."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fraud_assets"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(module: str) -> set[str]:
    """The fraud_assets modules `module` imports, at the top or inside a function (a deferred import
    still closes a cycle). `from package import name` counts as the submodule when `name` is one."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    named = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            named |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            named |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names}
    return {name for name in named if name in MODULES and name != module}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_is_read_from_every_module():
    assert {"fraud_assets", "fraud_assets.settings", "fraud_assets.assets.ingest"} <= set(MODULES)
    assert "fraud_assets.settings" in imports_of("fraud_assets.registry")
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_fraud_assets_has_no_import_cycle():
    assert find_cycle({module: imports_of(module) for module in MODULES}) is None


def test_no_asset_module_imports_another():
    assets = {module for module in MODULES if module.startswith("fraud_assets.assets.")}
    crossing = {module: sorted(imports_of(module) & assets) for module in sorted(assets) if imports_of(module) & assets}
    assert not crossing


# What a run that stores a slice and its features never needs: every run imports the code location in a new
# process, so these would cost every run seconds (the rule: `fraud_assets/definitions.py`).
STEP_ONLY_LIBRARIES = (
    "mlflow",
    "sklearn",
    "evidently",
    "matplotlib",
    "plotly",
    "scipy",
    "seldon_core",
    "redis",
    "dagster_mlflow",
    "kubernetes",
)
IMPORT_TIME_LINE = re.compile(r"import time:\s+\d+ \|\s+\d+ \|( *)(\S+)")


def import_chains(importtime_log: str, packages: set[str]) -> dict[str, list[str]]:
    """Per package, the chain of imports that first loaded it, outermost first, read from `python -X importtime`
    (which prints a module after the modules it imported, indented one level deeper)."""
    entries = [(len(m[1]) // 2, m[2]) for m in map(IMPORT_TIME_LINE.match, importtime_log.splitlines()) if m]
    chains: dict[str, list[str]] = {}
    for index, (depth, name) in enumerate(entries):
        package = name.partition(".")[0]
        if package not in packages or package in chains:
            continue
        chain = [name]
        for outer_depth, outer in entries[index + 1 :]:
            if outer_depth < depth:
                chain.insert(0, outer)
                depth = outer_depth
        first_heavy = next(i for i, module in enumerate(chain) if module.partition(".")[0] in packages)
        chains[package] = chain[: first_heavy + 1]
    return chains


def test_import_chains_name_who_loaded_a_package():
    log = "\n".join(
        f"import time:       1 |       1 | {'  ' * depth}{name}"
        for depth, name in [(3, "mlflow.version"), (2, "mlflow"), (1, "fraud_assets.registry"), (0, "fraud_assets.x")]
    )
    assert import_chains(log, {"mlflow"}) == {"mlflow": ["fraud_assets.x", "fraud_assets.registry", "mlflow"]}


def run_probe(probe: str, *args: str) -> tuple[list, str]:
    """Run `probe` in a fresh interpreter with `-X importtime`: the JSON list its last line prints, and the
    import-time log (stderr) that `import_chains` reads."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PACKAGE.parent,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_the_code_location_loads_no_step_only_library():
    probe = (
        "import json, sys\n"
        "import fraud_assets.definitions\n"
        "print(json.dumps(sorted({m.partition('.')[0] for m in sys.modules} & set(sys.argv[1:]))))"
    )
    loaded, importtime_log = run_probe(probe, *STEP_ONLY_LIBRARIES)
    chains = import_chains(importtime_log, set(loaded))
    assert not loaded, "loading fraud_assets.definitions imported:\n" + "\n".join(
        f"  {package}: {' -> '.join(chains.get(package, ['?']))}" for package in loaded
    )


def test_the_drift_gate_runs_without_importing_evidently():
    """Evidently's package imports all of itself (about 3 s): the gate's stat tests are `monitoring/stattests.py`,
    and only the report people read imports Evidently."""
    probe = (
        "import json, sys\n"
        "import numpy as np, pandas as pd\n"
        "from fraud_assets.monitoring.reference import drift_since_reference\n"
        "from fraud_assets.monitoring.drift import DriftTest, judge_windows\n"
        "def side(seed):\n"
        "    rng = np.random.default_rng(seed)\n"
        "    return {'day': pd.DataFrame({'amount': rng.gamma(2.0, 18.0, 3_000), 'code': rng.integers(0, 4, 3_000),\n"
        "                                 'fraud': (rng.random(3_000) < 0.02).astype('int64')})}\n"
        "test = DriftTest(sample_size=2_000, categorical_columns=('code',))\n"
        "windows = [test.window(name, side(seed), ['amount', 'code']) for seed, name in enumerate(['ref', 'cur'])]\n"
        "result = judge_windows(*windows, ['amount', 'code'], sample_size=2_000, categorical_columns=('code',))\n"
        "assert len(result.columns) == 2, result\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.partition('.')[0] == 'evidently')))"
    )
    loaded, importtime_log = run_probe(probe)
    chain = import_chains(importtime_log, {"evidently"}).get("evidently", ["?"])
    assert not loaded, "the drift gate imported Evidently: " + " -> ".join(chain)
