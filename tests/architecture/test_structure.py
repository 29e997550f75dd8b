"""The structure docs/architecture.md describes, checked from the source (no app, no database).

- Every module of the four packages sits in one of the layers of the import contract, so a new module
  cannot slip past the layering by not being named.
- Only the gate calls the policy's ``decide*`` functions, and no code outside the policy picks reason
  codes out as strings: services ask the gate a question and act on its answer.
- The gate's public API is the few names its package exports; nothing else reaches into it.
- No production module is longer than 500 lines, and no function longer than 60, unless it says why.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("portal", "consent", "referrals", "sharing_protocols")
POLICY = ROOT / "sharing_protocols" / "policy"
GATE = ROOT / "portal" / "gate"


def _production_files() -> list[Path]:
    files = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                files.append(path)
    return files


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _contract(kind: str) -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == kind]
    assert len(found) == 1, f"expected one {kind} contract"
    return found[0]


def test_every_module_is_in_a_layer():
    layers = [name.strip() for layer in _contract("layers")["layers"] for name in re.split(r"[|:]", layer)]
    outside = []
    for path in _production_files():
        module = _module(path)
        if module in ("portal", "sharing_protocols"):
            continue  # the two namespaces' own docstrings
        if not any(module == layer or module.startswith(layer + ".") for layer in layers):
            outside.append(module)
    assert outside == [], "add these modules to a layer of the import contract (pyproject.toml)"


def _calls(tree: ast.AST) -> list[tuple[str, int]]:
    """Names of everything called as ``policy.decide*`` or a bare ``decide*`` imported from the policy."""
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sharing_protocols.policy"):
            imported |= {a.asname or a.name for a in node.names if a.name.startswith("decide")}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr.startswith("decide"):
            if isinstance(func.value, ast.Name) and func.value.id == "policy":
                found.append((func.attr, node.lineno))
        elif isinstance(func, ast.Name) and func.id in imported:
            found.append((func.id, node.lineno))
    return found


def test_only_the_gate_calls_the_policy():
    callers = []
    for path in _production_files():
        if path.is_relative_to(GATE) or path.is_relative_to(POLICY):
            continue
        tree = ast.parse(path.read_text(), str(path))
        callers += [f"{path.relative_to(ROOT)}:{line} {name}" for name, line in _calls(tree)]
    assert callers == [], "ask the gate (portal.gate.authorise) instead of deciding by hand"


def test_the_architecture_test_finds_a_policy_call():
    """The check above would see a call written either way (so it cannot pass by finding nothing)."""
    tree = ast.parse(
        "from sharing_protocols import policy\nfrom sharing_protocols.policy import decide_triage as t\n"
        "policy.decide(facts)\nt(actor, action)\n"
    )
    assert [name for name, _ in _calls(tree)] == ["decide", "t"]


def _reason_codes() -> set[str]:
    source = "".join(p.read_text() for p in POLICY.glob("*.py"))
    codes = set(re.findall(r'Reason\(\s*"([a-z_]+)"', source))
    assert len(codes) > 25, "the pattern no longer finds the policy's reasons"
    return codes


def test_no_service_picks_reason_codes_out_as_strings():
    codes = _reason_codes()
    found = []
    for path in _production_files():
        if path.is_relative_to(POLICY):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and node.value in codes:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
            elif (
                isinstance(node, ast.comprehension)
                and isinstance(node.iter, ast.Attribute)
                and node.iter.attr in ("reasons", "failed")
                and not path.is_relative_to(GATE)  # the gate writes every reason into the log entry
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.iter.lineno} iterates .{node.iter.attr}")
    assert found == [], "decide in the policy (a new decide_* function), not by filtering its reasons"


def test_the_gate_exports_few_functions_and_nothing_reaches_past_them():
    import portal.gate as gate

    functions = sorted(name for name in gate.__all__ if callable(getattr(gate, name)) and name[0].islower())
    assert functions == ["access_context", "authorise", "commit", "record", "record_system"]
    reaching = []
    for path in _production_files():
        if path.is_relative_to(GATE):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("portal.gate."):
                reaching.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.module}")
    assert reaching == [], "import from portal.gate itself"


#: modules allowed past 500 lines, and why
LONG_MODULES: dict[str, str] = {}


def test_no_production_module_is_over_500_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for path in _production_files()
        if (n := len(path.read_text().splitlines())) > 500 and str(path.relative_to(ROOT)) not in LONG_MODULES
    }
    assert long == {}, "split the module (or give a reason in LONG_MODULES)"


def _long_functions(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            docstring = ast.get_docstring(node) or ""
            if length > 60 and "Long because" not in docstring:
                found.append(f"{path.relative_to(ROOT)}::{node.name}")
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_functions_over_60_lines_say_why(package):
    """A function over 60 lines (docstring included) says in its docstring why ("Long because ...")."""
    long = [f for path in _production_files() if path.is_relative_to(ROOT / package) for f in _long_functions(path)]
    assert long == [], "shorten the function, or say in its docstring why it is long"
