"""Routes stay thin: a route parses input, calls a service, maps errors, commits and returns. It never
builds SQL or reads rows itself; queries live in ``lsso_mobile/services``.

The check reads every module under ``lsso_mobile/api`` (subpackages too) and reports:
  * SQL builders imported from SQLAlchemy: ``select``, ``update``, ``delete``, ``insert``, ``func``,
    ``text`` from any ``sqlalchemy`` module (dialect ``insert`` included), or used as attributes of an
    imported ``sqlalchemy`` module (``sa.select``);
  * ``.scalars(``, ``.scalar(`` and ``.execute(`` on anything (nothing but a session or connection has
    them in this code);
  * ``.get(`` and ``.query(`` on a session: ``db_session()``, a name assigned from it, or a name or
    attribute called ``session``/``*_session`` (``args.get(...)`` on a dict is fine).

ALLOWED lists the modules still to move, each with why. It may only shrink: an entry whose module no
longer queries fails the suite until it is removed.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

API_ROOT = Path(__file__).resolve().parents[2] / "lsso_mobile" / "api"
SQL_BUILDERS = {"select", "update", "delete", "insert", "func", "text"}
QUERY_METHODS = {"scalars", "scalar", "execute"}  # on any receiver
SESSION_METHODS = {"get", "query"}  # only on a session

ALLOWED: dict[str, str] = {}


def _is_db_session_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return name == "db_session"


def _session_names(tree: ast.AST) -> set[str]:
    """Names bound anywhere in the module to ``db_session()``."""
    names = set()
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign) and _is_db_session_call(node.value):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.NamedExpr) and node.value and _is_db_session_call(node.value):
            targets = [node.target]
        names.update(target.id for target in targets if isinstance(target, ast.Name))
    return names


def _is_session(node: ast.AST, session_names: set[str]) -> bool:
    if _is_db_session_call(node):
        return True
    if isinstance(node, ast.Name):
        return node.id in session_names or node.id == "session" or node.id.endswith("_session")
    if isinstance(node, ast.Attribute):
        return node.attr == "session" or node.attr.endswith("_session")
    return False


def queries_in(source: str) -> list[str]:
    """Each place the module's source builds SQL or reads rows, as ``line: what``."""
    tree = ast.parse(source)
    session_names = _session_names(tree)
    sqlalchemy_modules: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            found += [
                f"{node.lineno}: imports {alias.name} from {node.module}"
                for alias in node.names
                if alias.name in SQL_BUILDERS
            ]
        elif isinstance(node, ast.Import):
            sqlalchemy_modules.update(
                (alias.asname or alias.name.split(".")[0])
                for alias in node.names
                if alias.name.split(".")[0] == "sqlalchemy"
            )
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in SQL_BUILDERS
            and isinstance(node.value, ast.Name | ast.Attribute)
            and ast.unparse(node.value).split(".")[0] in sqlalchemy_modules
        ):
            found.append(f"{node.lineno}: uses {ast.unparse(node)}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method, receiver = node.func.attr, node.func.value
            if method in QUERY_METHODS or (method in SESSION_METHODS and _is_session(receiver, session_names)):
                found.append(f"{node.lineno}: calls {ast.unparse(receiver)}.{method}(")
    return sorted(found, key=lambda entry: int(entry.split(":")[0]))


def queries_by_module(root: Path) -> dict[str, list[str]]:
    """Module path under ``root`` -> its queries, for every module that has any."""
    result = {}
    for path in sorted(root.rglob("*.py")):
        found = queries_in(path.read_text(encoding="utf-8"))
        if found:
            result[path.relative_to(root).as_posix()] = found
    return result


def test_no_route_module_builds_sql_or_reads_rows() -> None:
    offenders = {module: found for module, found in queries_by_module(API_ROOT).items() if module not in ALLOWED}
    assert not offenders, (
        "A route module queries the database; move the query into a service function in "
        f"lsso_mobile/services and call that: {offenders}"
    )


def test_the_allow_list_only_shrinks() -> None:
    querying = queries_by_module(API_ROOT)
    moved = sorted(module for module in ALLOWED if module not in querying)
    assert not moved, f"These modules no longer query the database: remove them from ALLOWED: {moved}"
    assert all(reason.strip() for reason in ALLOWED.values())


@pytest.fixture
def api_copy(tmp_path: Path) -> Path:
    """A copy of lsso_mobile/api to inject queries into; the real tree is never touched."""
    copy = tmp_path / "api"
    shutil.copytree(API_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert queries_by_module(copy) == queries_by_module(API_ROOT)
    return copy


INJECTED = {
    "select imported": "from sqlalchemy import select\n",
    "func imported": "from sqlalchemy import func as f\n",
    "dialect insert imported": "from sqlalchemy.dialects.postgresql import insert\n",
    "module attribute": "import sqlalchemy as sa\n\ndef _q():\n    return sa.text('SELECT 1')\n",
    "scalars on a session": "def _q(session):\n    return session.scalars(None).all()\n",
    "execute on db_session()": "def _q():\n    return db_session().execute(None)\n",
    "scalar on another name": "def _q(s):\n    return s.scalar(None)\n",
    "get on db_session()": "def _q():\n    return db_session().get(Province, 'VT')\n",
    "get on a name bound to db_session()": "def _q():\n    db = db_session()\n    return db.get(Province, 'VT')\n",
    "query on a session attribute": "def _q(uow):\n    return uow.session.query(Province).all()\n",
}


@pytest.mark.parametrize("added", INJECTED.values(), ids=INJECTED.keys())
def test_the_check_catches_a_query_added_to_a_copy_of_a_module(api_copy: Path, added: str) -> None:
    module = api_copy / "reference.py"
    assert "reference.py" not in queries_by_module(api_copy)
    module.write_text(module.read_text(encoding="utf-8") + "\n\n" + added, encoding="utf-8")
    assert "reference.py" in queries_by_module(api_copy)


def test_the_check_reads_subpackages(api_copy: Path) -> None:
    package = api_copy / "console"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "views.py").write_text("def view(session):\n    return session.execute(None)\n")
    assert queries_by_module(api_copy)["console/views.py"] == ["2: calls session.execute("]


def test_dictionary_and_flask_gets_are_not_queries() -> None:
    source = (
        "from sqlalchemy.exc import IntegrityError\n"
        "from sqlalchemy.orm import Session\n"
        "def route(args, body):\n"
        "    return args.get('cursor'), body.get('x'), g.get('principal'), request.headers.get('ETag')\n"
    )
    assert queries_in(source) == []
