"""Every import inside a function or class says why it is not at the top of its module (issue #18).

Good reasons: the GUI process imports the module and must not load torch, an optional or heavy dependency only
one path needs, an import circle, a command line whose --help stays fast. The reason is a comment on the
import's line or on the line just above it; a run of imports directly below a covered one shares its reason.
A comment that is only a directive (`# noqa: F401`, `# type: ignore`) is not a reason.
Module level (including a top-level `try:` or `if TYPE_CHECKING:`) and `if __name__ == "__main__":` blocks are
exempt: those imports are not hidden inside a function.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("core", "renderer", "viz", "widgets")
FILES = ("visualizer.py",)
DIRECTIVE = re.compile(r"^#\s*(noqa(:\s*[A-Z]+[0-9]+(\s*,\s*[A-Z]+[0-9]+)*)?|type:\s*ignore(\[[^\]]*\])?)")


def _python_files() -> list[Path]:
    found = sorted(path for folder in FOLDERS for path in (ROOT / folder).rglob("*.py"))
    return found + [ROOT / name for name in FILES]


def _comments(source: str) -> tuple[set[int], set[int]]:
    """(lines holding a comment that gives a reason, lines that are nothing but such a comment)."""
    with_reason, comment_only = set(), set()
    lines = source.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        rest = DIRECTIVE.sub("", token.string).strip(" #-:;,.()")
        if not re.search(r"[A-Za-z]{3,}", rest):
            continue
        row = token.start[0]
        with_reason.add(row)
        if lines[row - 1].strip().startswith("#"):
            comment_only.add(row)
    return with_reason, comment_only


def _hidden_imports(tree: ast.Module) -> list[ast.stmt]:
    """Imports inside a function or class body, outside a module-level `if __name__ == "__main__":` block."""
    found = []

    def visit(node: ast.AST, hidden: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and node is tree and "__main__" in ast.unparse(child.test):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                if hidden and not (isinstance(child, ast.ImportFrom) and child.module == "__future__"):
                    found.append(child)
                continue
            inside = hidden or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
            visit(child, inside)

    visit(tree, False)
    return sorted(found, key=lambda node: node.lineno)


def unexplained_imports(path: Path) -> list[str]:
    """`path:line: statement` of each import hidden in a function or class with no reason beside it."""
    source = path.read_text()
    with_reason, comment_only = _comments(source)
    covered_ends: set[int] = set()  # last lines of the imports that carry a reason (a run below them shares it)
    offenders = []
    for node in _hidden_imports(ast.parse(source, filename=str(path))):
        own_lines = range(node.lineno, node.end_lineno + 1)
        above = node.lineno - 1
        if any(line in with_reason for line in own_lines) or above in comment_only or above in covered_ends:
            covered_ends.add(node.end_lineno)
        else:
            offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return offenders


def test_every_import_inside_a_function_says_why():
    offenders = [line for path in _python_files() for line in unexplained_imports(path)]
    assert not offenders, "imports inside functions without a reason (hoist them, or say why):\n" + "\n".join(offenders)


def test_the_check_sees_what_it_should(tmp_path):
    (tmp_path / "sample.py").write_text(
        "import os\n"
        "try:\n    import resource\nexcept ImportError:\n    resource = None\n"
        "def f():\n"
        "    import json\n"
        "    # lazy: the GUI process imports this module and must not load torch\n"
        "    import torch\n"
        "    from core import cli\n"
        "\n"
        "    import sys  # noqa: F401\n"
        "    import codecs  # lazy: an optional path\n"
        "class A:\n"
        "    import math\n"
        "if __name__ == '__main__':\n"
        "    import argparse\n"
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = unexplained_imports(tmp_path / "sample.py")
    finally:
        ROOT = saved
    assert found == ["sample.py:7: import json", "sample.py:12: import sys", "sample.py:15: import math"]
