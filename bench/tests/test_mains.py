"""No bench script's main (nor the notifier's run) is longer than 60 lines: each reads as a short
story of phases, the shared pieces living in bench/harness.py (read with ast, nothing is run)."""

import ast
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1]
LIMIT = 60
# (script, function) whose length is held to LIMIT
CHECKED = [
    ("catalog/run.py", "main"),
    ("catalog/fast_reads.py", "main"),
    ("catalog/scale.py", "main"),
    ("gateway/run.py", "main"),
    ("orders/run.py", "main"),
    ("notifier/run.py", "main"),
    ("notifier/run.py", "run"),
]


def length(script: str, name: str) -> int:
    tree = ast.parse((BENCH / script).read_text())
    found = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
    ]
    assert found, f"bench/{script} has no top-level {name}()"
    return found[0].end_lineno - found[0].lineno + 1


@pytest.mark.parametrize(
    ("script", "name"),
    CHECKED,
    ids=[f"{script}:{name}" for script, name in CHECKED],
)
def test_main_is_a_short_story(script: str, name: str) -> None:
    assert length(script, name) <= LIMIT, f"bench/{script} {name}() is {length(script, name)} lines"


def test_every_bench_script_is_checked() -> None:
    scripts = {path.relative_to(BENCH).as_posix() for path in BENCH.glob("*/*.py")}
    with_main = {
        script
        for script in scripts
        if any(
            isinstance(node, ast.FunctionDef) and node.name == "main"
            for node in ast.parse((BENCH / script).read_text()).body
        )
    }
    assert with_main <= {script for script, _ in CHECKED}
