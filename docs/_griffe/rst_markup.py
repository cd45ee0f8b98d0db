"""Griffe extension: render the reStructuredText markup of symbayes docstrings.

The docstrings follow the Google layout (``Args:``, ``Returns:``, ...) but use
a few reStructuredText constructs that Markdown does not know. Before griffe
parses a docstring, this extension rewrites

* cross-reference roles (``:class:`Symmetry```, ``:func:`~a.b.c```,
  ``:mod:``, ``:meth:``, ``:attr:``, ``:data:``, ``:exc:``, ``:obj:``) into
  mkdocstrings cross-references when the target is documented on the site,
  and into inline code otherwise;
* ``:math:`...``` into inline maths and ``.. math::`` blocks into display
  maths (``pymdownx.arithmatex``);
* simple tables (columns delimited by ``====  ====`` rules) into Markdown
  tables.

Only the text griffe parses is changed; the source files are untouched.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

# modules whose public objects the API reference renders
DOCUMENTED_MODULES = (
    "symbayes.symmetry",
    "symbayes.canonical",
    "symbayes.canonical.api",
    "symbayes.canonical.sort",
    "symbayes.canonical.align",
    "symbayes.canonical.pivot",
    "symbayes.canonical.mixture",
    "symbayes.canonical.common",
    "symbayes.quotient",
    "symbayes.samplers",
    "symbayes.results",
    "symbayes.checkpoint",
    "symbayes.datasets",
    "symbayes.assignment",
    "symbayes.diagnostics",
    "symbayes.diagnostics.spaces",
    "symbayes.diagnostics.modes",
    "symbayes.diagnostics.unseen",
    "symbayes.diagnostics.estimators",
    "symbayes.diagnostics.coverage",
    "symbayes.diagnostics.coordinates",
    "symbayes.draws",
    "symbayes.diagnose_cli",
    "symbayes.report",
    "symbayes.compare",
    "symbayes.models.base",
    "symbayes.models.mlp",
    "symbayes.models.mixture",
    "symbayes.models.ppca",
    "symbayes.models.numpyro_bridge",
    "symbayes.models.nn_bridge",
)

_ROLE = re.compile(
    r":(?:py:)?(?P<role>class|func|meth|mod|attr|data|exc|obj|const)"
    r":`(?P<target>[^`]+)`"
)
_MATH_ROLE = re.compile(r":math:`(?P<body>[^`]+)`")
_MATH_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. math::\s*(?P<rest>.*)$")
_TABLE_RULE = re.compile(r"^\s*=+(?:\s+=+)+\s*$")


class RstMarkup(griffe.Extension):
    """Rewrite reST roles, maths and simple tables of every docstring."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = convert(obj.docstring.value, obj)


def _walk(obj: griffe.Object) -> Any:
    yield obj
    for member in obj.members.values():
        if member.is_alias:
            continue
        yield from _walk(member)


def convert(text: str, obj: griffe.Object) -> str:
    """The docstring ``text`` of ``obj`` with reST markup turned into Markdown."""
    text = _convert_tables(text)
    text = _convert_math_blocks(text)
    text = _MATH_ROLE.sub(lambda m: f"${m.group('body').strip()}$", text)
    return _ROLE.sub(lambda m: _reference(m.group("target"), obj), text)


# -------------------------------------------------------------- references
def _reference(target: str, obj: griffe.Object) -> str:
    short = target.startswith("~")
    target = target.lstrip("~").strip()
    path = _resolve(target, obj)
    label = target.rsplit(".", 1)[-1] if short else target
    if path is None:
        return f"`{label}`"
    return f"[`{label}`][{path}]"


def _resolve(target: str, obj: griffe.Object) -> str | None:
    """The canonical path of ``target`` seen from ``obj``, if it is documented."""
    head, _, tail = target.partition(".")
    candidates = []
    scope = obj if obj.is_module or obj.is_class else obj.parent
    while scope is not None:
        try:
            candidates.append(scope.resolve(head))
            break
        except Exception:  # noqa: BLE001 - not in this scope: look further out
            scope = scope.parent
    candidates.append(head)
    for base in candidates:
        path = f"{base}.{tail}" if tail else base
        found = _documented(path, obj)
        if found is not None:
            return found
    return None


def _documented(path: str, obj: griffe.Object) -> str | None:
    try:
        target = obj.modules_collection[path]
    except Exception:  # noqa: BLE001 - unknown path
        return None
    try:
        if target.is_alias:
            target = target.final_target
    except Exception:  # noqa: BLE001 - alias to something not loaded
        return None
    if target.is_module:
        return target.path if target.path in DOCUMENTED_MODULES else None
    module = target.module.path
    if module not in DOCUMENTED_MODULES:
        return None
    if not target.has_docstrings:
        return None  # objects without docstrings are not rendered
    node = target
    while not node.is_module:
        if not node.is_public:
            return None
        node = node.parent
    return target.path


# ------------------------------------------------------------------- maths
def _convert_math_blocks(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        match = _MATH_DIRECTIVE.match(lines[index])
        if match is None:
            out.append(lines[index])
            index += 1
            continue
        indent = match.group("indent")
        body: list[str] = []
        if match.group("rest"):
            body.append(match.group("rest"))
            index += 1
        else:
            index += 1
            while index < len(lines):
                line = lines[index]
                if line.strip() and len(line) - len(line.lstrip()) <= len(indent):
                    break
                body.append(line)
                index += 1
        out.extend(_display_math(body, indent))
    return "\n".join(out)


def _display_math(body: list[str], indent: str) -> list[str]:
    """One ``$$`` block per paragraph of ``body`` (arithmatex blocks hold no
    blank line)."""
    while body and not body[-1].strip():
        body.pop()
    while body and not body[0].strip():
        body.pop(0)
    nonblank = [line for line in body if line.strip()]
    margin = min((len(line) - len(line.lstrip()) for line in nonblank), default=0)
    out = [""]
    paragraph: list[str] = []
    for line in [*body, ""]:
        if line.strip():
            paragraph.append(indent + line[margin:])
        elif paragraph:
            out.extend([f"{indent}$$", *paragraph, f"{indent}$$", ""])
            paragraph = []
    return out


# ------------------------------------------------------------------ tables
def _convert_tables(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        if not _TABLE_RULE.match(lines[index]):
            out.append(lines[index])
            index += 1
            continue
        rule = lines[index]
        spans = [(m.start(), m.end()) for m in re.finditer(r"=+", rule)]
        rows: list[list[str]] = []
        rules_seen = 1
        index += 1
        while index < len(lines) and rules_seen < 3:
            line = lines[index]
            index += 1
            if _TABLE_RULE.match(line):
                rules_seen += 1
                continue
            if not line.strip():
                break
            cells = []
            for number, (start, end) in enumerate(spans):
                stop = spans[number + 1][0] if number + 1 < len(spans) else len(line)
                cells.append(line[start:stop].strip())
            rows.append(cells)
        if not rows:
            out.append(rule)
            continue
        indent = rule[: len(rule) - len(rule.lstrip())]
        out.append(indent + "| " + " | ".join(rows[0]) + " |")
        out.append(indent + "|" + "---|" * len(spans))
        out.extend(indent + "| " + " | ".join(row) + " |" for row in rows[1:])
    return "\n".join(out)
