"""The package's shape, checked from its source (AST, nothing imported):

(a) no module reaches into another module's private members: ``obj._name`` where ``obj`` is
    not ``self``/``cls`` and no ``_name`` is defined in the module itself, and no import of a
    ``_private`` name from another plait module (except the control-flow exceptions the
    durable-operation mechanics prescribe, from ``plait.errors``);
(b) nothing outside ``plait/store/`` imports a SQL or dialect module of the store;
(c) no module is over 600 lines;
(d) no import cycle among plait's modules at run time: every import counts, at module level
    or inside a function (a deferred import that closes a cycle is still a cycle), except
    those under ``if TYPE_CHECKING:``.

Each failure names every violation (file, line, what).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "plait"
MAX_LINES = 600
ALLOWED_PRIVATE_IMPORTS = {
    ("plait.errors", "_Suspend"),
    ("plait.errors", "_LeaseLost"),
    ("plait.errors", "_Released"),
    ("plait.errors", "_StoreUnavailable"),
}
# The public API of named tuples is spelled with an underscore so as not to clash with fields.
NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make", "_field_defaults"}
STORE_INTERNALS = ("plait.store.sql", "plait.store.sqlite", "plait.store.postgres")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _where(module: str, node: ast.AST) -> str:
    return f"{MODULES[module].relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The module an ``from ... import`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if MODULES[module].name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports(module: str, tree: ast.Module) -> Iterator[tuple[ast.stmt, str, str | None]]:
    """Every import in the module: (node, module imported from, name or None)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            for alias in node.names:
                yield node, source, alias.name


# -- (a) private members ---------------------------------------------------------------------
def _defined_private_names(tree: ast.Module) -> set[str]:
    """``_names`` the module defines itself: functions, classes, assignments, attributes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {n for n in names if _is_private(n)}


def _foreign_modules(tree: ast.Module) -> set[str]:
    """Local names bound to modules outside plait (``sys``, ``os``): their private members
    are the standard library's business, not a seam of plait's."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "plait":
                    names.add((alias.asname or alias.name).split(".")[0])
    return names


def private_access_violations() -> list[str]:
    found = []
    for module, tree in TREES.items():
        own = _defined_private_names(tree)
        foreign = _foreign_modules(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or not _is_private(node.attr):
                continue
            base = node.value
            if isinstance(base, ast.Name) and base.id in ("self", "cls", *foreign):
                continue
            if node.attr in own or node.attr in NAMEDTUPLE_API:
                continue
            found.append(f"{_where(module, node)}: {ast.unparse(node)} (defined in another module)")
        for node, source, name in _imports(module, tree):
            if not source.startswith("plait") or source == module:
                continue
            private = [p for p in (name, *source.split(".")) if p and _is_private(p)]
            if private and (source, name) not in ALLOWED_PRIVATE_IMPORTS:
                found.append(f"{_where(module, node)}: imports {private[0]} from {source}")
    return found


def test_no_module_uses_another_modules_private_members() -> None:
    violations = private_access_violations()
    assert not violations, "private members used across modules:\n" + "\n".join(violations)


# -- (b) store internals -----------------------------------------------------------------------
def _internal(target: str) -> bool:
    return any(target == m or target.startswith(m) for m in STORE_INTERNALS)


def store_internal_imports() -> list[str]:
    found = []
    for module, tree in TREES.items():
        if module == "plait.store" or module.startswith("plait.store."):
            continue
        for node, source, name in _imports(module, tree):
            targets = [source] if name is None else [source, f"{source}.{name}"]
            if any(_internal(t) for t in targets):
                found.append(f"{_where(module, node)}: imports {targets[-1]}")
    return found


def test_only_the_store_imports_its_sql_and_dialect_modules() -> None:
    violations = store_internal_imports()
    assert not violations, "store internals imported from outside plait/store/:\n" + "\n".join(
        violations
    )


# -- (c) size -------------------------------------------------------------------------------------
def test_no_module_is_over_600_lines() -> None:
    long = [
        f"{path.relative_to(ROOT)}: {n} lines"
        for path in MODULES.values()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert not long, f"modules over {MAX_LINES} lines:\n" + "\n".join(long)


# -- (d) import cycles ----------------------------------------------------------------------------
def _runtime_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that may run (everything but the bodies of ``if TYPE_CHECKING:``)."""
    for node in body:
        if isinstance(node, ast.If):
            test = node.test
            if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
            ):
                yield from _runtime_statements(node.orelse)
                continue
            yield from _runtime_statements(node.body)
            yield from _runtime_statements(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _runtime_statements(block)
            for handler in node.handlers:
                yield from _runtime_statements(handler.body)
        elif isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _runtime_statements(node.body)
        elif isinstance(node, ast.With | ast.AsyncWith | ast.For | ast.AsyncFor | ast.While):
            yield from _runtime_statements(node.body)
            yield from _runtime_statements(getattr(node, "orelse", []))
        else:
            yield node


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {module it imports at run time: line}."""
    graph: dict[str, dict[str, int]] = {m: {} for m in MODULES}
    for module, tree in TREES.items():
        for node in _runtime_statements(tree.body):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _absolute(module, node)
                for a in node.names:
                    sub = f"{source}.{a.name}"
                    # ``from package import submodule`` imports the submodule; the package
                    # itself is only its parent, already being imported.
                    is_sub = sub in MODULES or (ROOT / sub.replace(".", "/")).is_dir()
                    targets.append(sub if is_sub else source)
            for target in targets:
                if target in MODULES and target != module:
                    graph[module].setdefault(target, node.lineno)
    return graph


def import_cycles() -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    graph = import_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycle_at_run_time() -> None:
    graph = import_graph()
    described = []
    for component in import_cycles():
        edges = [
            f"  {a} -> {b} (line {graph[a][b]})"
            for a in component
            for b in sorted(graph[a])
            if b in component
        ]
        described.append(", ".join(component) + ":\n" + "\n".join(edges))
    assert not described, "import cycles among plait's modules:\n" + "\n".join(described)


# -- (e) the server uses only plait's public API -------------------------------------------------
# What the layers above may import.
PUBLIC_MODULES = ("plait", "plait.testing", "plait.ai", "plait.telemetry")


def _public_names(module: str) -> set[str]:
    """The names ``module`` exports: its ``__all__`` (else its top-level names without an
    underscore), and its dunders (``__version__``)."""
    body = TREES[module].body
    for node in body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            names = {e.value for e in ast.walk(node.value) if isinstance(e, ast.Constant)}
            break
    else:
        names = {getattr(node, "name", "") for node in body} | {
            t.id for node in body if isinstance(node, ast.Assign) for t in node.targets
            if isinstance(t, ast.Name)
        }  # fmt: skip
    dunders = {
        t.id
        for node in body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name) and t.id.startswith("__")
    }
    return {n for n in names if n and not _is_private(n)} | dunders


def layer_violations(module: str, tree: ast.Module, own: str) -> list[str]:
    """What ``module`` (of the layer ``own``, e.g. ``plait.server``) uses of plait beyond the
    public names of ``plait``, ``plait.testing`` and ``plait.ai``."""
    found = []
    for node, source, name in _imports(module, tree):
        if source.split(".")[0] != "plait" or source == own or source.startswith(own + "."):
            continue
        where = f"{module}:{node.lineno}"
        if source not in PUBLIC_MODULES:
            found.append(f"{where}: imports {source} (only {', '.join(PUBLIC_MODULES)})")
        elif name is not None and name not in _public_names(source):
            found.append(f"{where}: imports {name} from {source}, which does not export it")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "plait"
            and node.attr not in _public_names("plait")
        ):
            found.append(
                f"{module}:{node.lineno}: uses plait.{node.attr}, which plait does not export"
            )
    return found


def test_the_server_uses_only_plaits_public_api() -> None:
    violations = [
        v
        for module, tree in TREES.items()
        if module == "plait.server" or module.startswith("plait.server.")
        for v in layer_violations(module, tree, "plait.server")
    ]
    assert not violations, "plait/server/ reaches past plait's public API:\n" + "\n".join(
        violations
    )


# -- the checks themselves --------------------------------------------------------------------
def test_the_checks_catch_what_they_are_for() -> None:
    tree = ast.parse("def f(journal):\n    return journal._entries\n")
    own = _defined_private_names(tree)
    flagged = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and _is_private(n.attr) and n.attr not in own
    ]
    assert [ast.unparse(n) for n in flagged] == ["journal._entries"]
    assert _internal("plait.store.sqlbase") and _internal("plait.store.postgres")
    assert not _internal("plait.store.records")
    body = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import plait.engine\n"
        "def f():\n    import plait.worker\nimport plait.clock\n"
    ).body
    imported = [
        a.name for n in _runtime_statements(body) if isinstance(n, ast.Import) for a in n.names
    ]
    assert imported == ["plait.worker", "plait.clock"]
    layer = ast.parse(
        "import plait\nfrom plait import Engine, Directory\nfrom plait.engine import Engine\n"
        "from plait import _private\nfrom plait.server.auth import User\nplait.store\n"
        "plait.Engine\nfrom plait.testing import TestEngine\n"
    )
    assert [
        v.split(": ", 1)[1] for v in layer_violations("plait.server.x", layer, "plait.server")
    ] == [
        "imports plait.engine (only plait, plait.testing, plait.ai, plait.telemetry)",
        "imports _private from plait, which does not export it",
        "uses plait.store, which plait does not export",
    ]
