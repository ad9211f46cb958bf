"""The import direction of the code, checked on its source (issue 15: layers point one way).

The template readers (cost/, diagram/, security.py) read synthesized templates only through the template
model (`dify_on_aws.templates`), never from the constructs that produce them; the rules that price and
draw read nothing but the model; and only the model interprets Ref and Fn::*.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from dify_on_aws.cost.rules import FREE_TYPES, RULES, compute, data, edge, network, observability
from dify_on_aws.diagram.rules import STEPS

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "dify_on_aws"
TEMPLATE_READERS = ("cost", "diagram", "security", "threat_model")
# The construct layers a template reader must not import: it reads what they synthesized instead.
CONSTRUCT_LAYERS = ("stack", "network", "data", "services", "frontdoor", "operations", "nag")
# Where a reader needs prose that lives beside a construct, not anything in a template.
ALLOWED = {
    ("security", "dify_on_aws.frontdoor.edge"): "the reasons why WAF rules only count are prose in the code",
}
# The modules that price and draw: they read the template model and their own package, nothing else.
RULE_MODULES = ("cost/rules", "cost/pricer.py", "cost/traffic.py", "diagram/rules", "diagram/deriver.py")


def modules(*names: str) -> list[Path]:
    found: list[Path] = []
    for name in names:
        path = PACKAGE / name
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    return found


def imports(path: Path) -> Iterator[str]:
    """Every module (or module.name) a file imports, at the top or inside a function."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def owner(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def test_the_template_readers_exist() -> None:
    assert all(path.is_file() for path in modules(*TEMPLATE_READERS, "templates", *RULE_MODULES))


@pytest.mark.parametrize("path", modules(*TEMPLATE_READERS), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_template_readers_do_not_import_the_constructs(path: Path) -> None:
    for module in imports(path):
        layer = module.removeprefix("dify_on_aws.").split(".")[0]
        if module.startswith("dify_on_aws.") and layer in CONSTRUCT_LAYERS:
            assert (owner(path), module) in ALLOWED, f"{path.name} imports {module}"


@pytest.mark.parametrize(
    "path", modules(*RULE_MODULES, "templates"), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_rules_and_the_model_read_only_the_model(path: Path) -> None:
    own = "dify_on_aws." + owner(path)
    for module in imports(path):
        if module.startswith("dify_on_aws"):
            assert module.startswith((own, "dify_on_aws.templates")), f"{path.name} imports {module}"


@pytest.mark.parametrize("path", modules(*TEMPLATE_READERS), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_template_model_interprets_intrinsics(path: Path) -> None:
    """No string in a reader's code (docstrings aside) names Ref or an Fn:: function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            assert node.value != "Ref" and not node.value.startswith("Fn::"), f"{path.name}: {node.value!r}"


MAX_FILE_LINES = 400
MAX_CLASS_LINES = 200


@pytest.mark.parametrize(
    "path", modules(*TEMPLATE_READERS, "templates"), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_template_readers_stay_small(path: Path) -> None:
    """Issue 15: one small module per resource family; no file over ~400 lines, no class over ~200."""
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_FILE_LINES, f"{path.name}: split it by resource family"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            assert size <= MAX_CLASS_LINES, f"{path.name}: class {node.name} has {size} lines"


def test_each_resource_type_has_one_pricing_rule() -> None:
    """The families' tables do not overlap (a merged table would silently keep the last rule), and no
    priced type is also listed as free."""
    tables = [compute.RULES, data.RULES, network.RULES, edge.RULES, observability.RULES]
    assert sum(len(t) for t in tables) == len(RULES)
    assert not set(RULES) & set(FREE_TYPES)


def test_diagram_steps_draw_nodes_before_edges() -> None:
    orders = [step.order for step in STEPS]
    assert len(set(orders)) == len(orders), "two steps share an order"
    names = [step.draw.__name__ for step in STEPS]
    assert names.index("services") < names.index("routing") < names.index("egress")


# --- the construct layers ---------------------------------------------------------------------------------
# Each top-level unit's rank: a module may import its own rank or lower, never higher (issue 15). `roles`,
# `nag`, `runtime_support` are the shared vocabulary; the config model validates with the pure parts of
# services (the Dify contract, the Squid renderer) and is read by front doors, operations and the stack.
LAYER_RANKS = {
    "roles": 0, "nag": 0, "runtime_support": 0, "toolchain": 0, "inputs": 0, "flags": 0, "aws_errors": 0,
    "network": 1,
    "data": 2,
    "services": 3,
    "config": 4,
    "frontdoor": 5,
    "operations": 6,
    "stack": 7, "app": 8,
    "cli": 10,
}  # fmt: skip
# cost, diagram, security, templates: they read templates only (checked above); only the CLI runs them.
READER_RANK = 9


def rank(unit: str) -> int:
    return LAYER_RANKS.get(unit, READER_RANK)


CONSTRUCT_MODULES = [p for p in PACKAGE.rglob("*.py") if owner(p) in LAYER_RANKS and owner(p) != "__init__"]


@pytest.mark.parametrize("path", CONSTRUCT_MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_point_one_way(path: Path) -> None:
    """network < data < services < config < front doors < operations < stack < app < cli: nothing
    imports a layer above its own (data/ once imported a container spec from services/)."""
    mine = rank(owner(path))
    for module in imports(path):
        if not module.startswith("dify_on_aws."):
            continue
        unit = module.removeprefix("dify_on_aws.").split(".")[0]
        assert rank(unit) <= mine, f"{path.relative_to(PACKAGE)} ({owner(path)}) imports {module} ({unit})"


def test_every_unit_has_a_rank() -> None:
    units = {owner(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    readers = {"cost", "diagram", "security", "threat_model", "templates"}
    assert units - readers <= set(LAYER_RANKS), units - readers - set(LAYER_RANKS)


# Constructs are a little larger than rules (a constructor wires a whole unit); "about 200" allows that much.
MAX_CONSTRUCT_CLASS_LINES = 230


@pytest.mark.parametrize("path", CONSTRUCT_MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_construct_code_stays_small(path: Path) -> None:
    """Issue 15: no source file over ~400 lines (the config model is one module per section), no class
    over ~200; the stack reads as the architecture."""
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_FILE_LINES, f"{path.relative_to(PACKAGE)}: split it"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            assert size <= MAX_CONSTRUCT_CLASS_LINES, f"{path.name}: class {node.name} has {size} lines"
