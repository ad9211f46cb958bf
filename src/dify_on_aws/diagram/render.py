"""Turn an Architecture into Graphviz DOT text, and DOT into SVG / PNG with the `dot` program.

The DOT text is deterministic (sorted nodes and edges, stable IDs) and self-contained: plain shapes and
colours per kind, no icons or external files, so the SVG embeds everything and renders offline. The DOT
carries a digest of itself in the graph `comment`, which Graphviz copies into the SVG: a test can tell
that a committed SVG was rendered from the committed DOT without running Graphviz.

A TASK node (one ECS task with several containers) is drawn as a box (a cluster) around its containers;
an edge to or from the task attaches to the box's border (`compound`, `lhead` / `ltail`).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

from dify_on_aws.diagram import model
from dify_on_aws.diagram.model import Architecture, Cluster, Edge, Node

DOT_MISSING = "graphviz `dot` not found: run scripts/install-graphviz.sh or apt-get install graphviz"
FORMATS = ("svg", "png")
_DIGEST = re.compile(r"diagram digest ([0-9a-f]{16})")
_FONT = "Helvetica"


class GraphvizNotFoundError(RuntimeError):
    """The `dot` program is not installed."""

    def __init__(self) -> None:
        super().__init__(DOT_MISSING)


# kind -> (shape, style, border colour, fill colour); colours follow the AWS category palette.
_NODE_STYLE: dict[str, tuple[str, str, str, str]] = {
    model.USERS: ("box", "rounded,filled", "#232F3E", "#FFFFFF"),
    model.CDN: ("box", "rounded,filled", "#8C4FFF", "#F1E9FF"),
    model.LOAD_BALANCER: ("box", "rounded,filled", "#8C4FFF", "#F1E9FF"),
    model.VPC_LINK: ("box", "rounded,filled", "#8C4FFF", "#F1E9FF"),
    model.NAT: ("box", "rounded,filled", "#8C4FFF", "#F1E9FF"),
    model.ENDPOINTS: ("box", "rounded,filled", "#8C4FFF", "#F1E9FF"),
    model.API_GATEWAY: ("box", "rounded,filled", "#E7157B", "#FDE7F2"),
    model.WAF: ("box", "rounded,filled", "#DD344C", "#FCE8EB"),
    model.SECRETS: ("box", "rounded,filled", "#DD344C", "#FCE8EB"),
    model.SERVICE: ("box", "rounded,filled", "#ED7100", "#FFF4EA"),
    model.FUNCTION: ("box", "rounded,filled", "#ED7100", "#FDEFE3"),
    model.CONTAINER: ("box", "rounded,filled", "#ED7100", "#FFFFFF"),
    model.DATABASE: ("cylinder", "filled", "#3B48CC", "#E8EAFA"),
    model.CACHE: ("cylinder", "filled", "#3B48CC", "#E8EAFA"),
    model.BUCKET: ("folder", "filled", "#7AA116", "#F1F7E5"),
    model.LOG_BUCKET: ("folder", "filled", "#9E9E9E", "#F5F5F5"),
    model.AWS_SERVICE: ("box", "rounded,filled", "#01A88D", "#E5F6F3"),
    model.EXTERNAL: ("box", "rounded,dashed,filled", "#6B6B6B", "#FFFFFF"),
}
_REGIONAL_COLUMN = {model.BUCKET, model.SECRETS, model.AWS_SERVICE}
_SMALL = {model.LOG_BUCKET, model.VPC_LINK, model.NAT, model.SECRETS, model.ENDPOINTS, model.CONTAINER}

# cluster -> (style, border colour, fill colour)
_CLUSTER_STYLE: dict[str, tuple[str, str, str]] = {
    model.INTERNET: ("rounded,dashed", "#9E9E9E", "#FFFFFF"),
    model.AWS: ("rounded", "#232F3E", "#FFFFFF"),
    model.REGION: ("rounded,dashed", "#147EBA", "#FFFFFF"),
    model.EDGE: ("rounded,dashed", "#ED7100", "#FFFFFF"),
    model.VPC: ("rounded", "#8C4FFF", "#FFFFFF"),
    model.PUBLIC: ("rounded,filled", "#7AA116", "#F2F8EC"),
    model.PRIVATE: ("rounded,filled", "#147EBA", "#E6F2F8"),
    model.ISOLATED: ("rounded,filled", "#9E9E9E", "#F2F2F2"),
}
_TASK_STYLE = ("rounded,filled", "#ED7100", "#FFF4EA")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _html_label(node: Node, size: int) -> str:
    rows = [f'<font point-size="{size}"><b>{_html(node.title or node.id)}</b></font>']
    rows += [f'<font point-size="{size - 2}">{_html(line)}</font>' for line in node.details if line]
    return "<" + "<br/>".join(rows) + ">"


def _node_line(node: Node, indent: str, *, small: bool = False) -> str:
    shape, style, border, fill = _NODE_STYLE.get(node.kind, ("box", "rounded", "#232F3E", "#FFFFFF"))
    label = _html_label(node, 10 if small or node.kind in _SMALL else 12)
    return (
        f"{indent}{_quote(node.id)} [label={label}, shape={shape}, style={_quote(style)}, "
        f'color="{border}", fillcolor="{fill}"]'
    )


def _anchor(arch: Architecture, node_id: str) -> str:
    """The node an edge to a task box is drawn from or to: one in the middle of the box."""
    inside = arch.inside(node_id)
    return inside[len(inside) // 2].id if inside else node_id


def _is_box(arch: Architecture, node_id: str) -> bool:
    node = arch.nodes.get(node_id)
    return node is not None and node.kind == model.TASK and bool(arch.inside(node_id))


def _edge_line(arch: Architecture, edge: Edge) -> str:
    attrs = []
    src, dst = edge.src, edge.dst
    if _is_box(arch, src):
        src = _anchor(arch, edge.src)
        attrs.append(f"ltail={_quote('cluster_' + edge.src)}")
    if _is_box(arch, dst):
        dst = _anchor(arch, edge.dst)
        attrs.append(f"lhead={_quote('cluster_' + edge.dst)}")
    if edge.label:
        attrs.append(f"label={_quote(edge.label)}")
    if edge.dashed:
        attrs.append('style=dashed, color="#8A8A8A"')
    if edge.both:
        attrs.append("dir=both")
    suffix = f" [{', '.join(attrs)}]" if attrs else ""
    return f"  {_quote(src)} -> {_quote(dst)}{suffix}"


def _drawn(arch: Architecture, node: Node) -> bool:
    """False for a task node, which is drawn as the box around its containers."""
    return not _is_box(arch, node.id)


def _cluster_lines(arch: Architecture, cluster: Cluster, depth: int) -> list[str]:
    children = [c for c in arch.clusters.values() if c.parent == cluster.id]
    inner = [line for child in children for line in _cluster_lines(arch, child, depth + 1)]
    indent = "  " * (depth + 1)
    task = arch.nodes.get(cluster.id)
    in_task = task is not None and task.kind == model.TASK
    nodes = [
        _node_line(n, indent + "  ", small=in_task)
        for n in sorted(arch.nodes.values())
        if n.cluster == cluster.id and _drawn(arch, n)
    ]
    if not nodes and not inner:
        return []
    style, border, fill = _CLUSTER_STYLE.get(cluster.id, ("rounded", "#232F3E", "#FFFFFF"))
    label = _quote(cluster.label)
    if task is not None and in_task:
        style, border, fill = _TASK_STYLE
        label = _html_label(task, 11)
        # The containers stand in one column, so that the box takes one step of the flow.
        members = " ".join(f"{_quote(n.id)};" for n in arch.inside(task.id))
        nodes.append(f"{indent}  {{ rank=same; {members} }}")
    return [
        f"{indent}subgraph {_quote('cluster_' + cluster.id)} {{",
        f"{indent}  label={label}; style={_quote(style)}; "
        f'color="{border}"; fillcolor="{fill}"; fontsize=11; labeljust=l;',
        *nodes,
        *inner,
        f"{indent}}}",
    ]


def to_dot(arch: Architecture, *, source: str = "") -> str:
    """DOT text for the architecture; the same architecture always gives the same text."""
    header = ["// Generated by `dify-on-aws diagram`; do not edit."]
    if source:
        header.append(f"// source: {source}")
    graph_label = f", label=<<b>{_html(arch.title)}</b>>" if arch.title else ""
    # Edges to and from task boxes end at the box (lhead / ltail), which needs `compound`.
    if any(_is_box(arch, n.id) for n in arch.nodes.values()):
        graph_label += ", compound=true"
    body = [
        "digraph dify {",
        f'  graph [rankdir=LR, fontname="{_FONT}", fontsize=16, labelloc=t, newrank=true, '
        f'nodesep=0.3, ranksep=0.55, pad=0.3, bgcolor="#FFFFFF"{graph_label}];',
        f'  node [fontname="{_FONT}", penwidth=1.3, margin="0.15,0.06"];',
        f'  edge [fontname="{_FONT}", fontsize=9, fontcolor="#444444", color="#4D4D4D", arrowsize=0.7];',
    ]
    body += [_node_line(n, "  ") for n in sorted(arch.nodes.values()) if not n.cluster and _drawn(arch, n)]
    for cluster in [c for c in arch.clusters.values() if not c.parent]:
        body += _cluster_lines(arch, cluster, 0)
    # Regional services outside the VPC line up in one column instead of floating where they fit.
    column = sorted(n.id for n in arch.nodes.values() if n.kind in _REGIONAL_COLUMN)
    if len(column) > 1:
        body.append("  { rank=same; " + " ".join(f"{_quote(i)};" for i in column) + " }")
    body += [_edge_line(arch, e) for e in sorted(arch.edges)]
    body.append("}")
    text = "\n".join([*header, *body]) + "\n"
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    # Inserted after hashing: the digest covers everything else.
    return text.replace("digraph dify {\n", f'digraph dify {{\n  comment="diagram digest {digest}";\n', 1)


def digest_of(text: str) -> str | None:
    """The digest embedded in DOT text or in an SVG rendered from it."""
    found = _DIGEST.search(text.replace("&#45;", "-"))
    return found.group(1) if found else None


def find_dot() -> str | None:
    return shutil.which("dot")


def render(dot_text: str, fmt: str) -> bytes:
    """Run `dot -T<fmt>` on the text; raises GraphvizNotFoundError when Graphviz is not installed."""
    if fmt not in FORMATS:
        raise ValueError(f"unsupported format {fmt!r}; use one of {', '.join(FORMATS)}")
    dot = find_dot()
    if dot is None:
        raise GraphvizNotFoundError
    proc = subprocess.run(  # noqa: S603 - a fixed argument list, the program found on PATH, no shell
        [dot, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True, check=False, timeout=300
    )
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"dot -T{fmt} failed (exit {proc.returncode}): {message}")
    return proc.stdout


def write_diagram(dot_text: str, prefix: str | Path) -> list[Path]:
    """Write PREFIX.dot, then PREFIX.svg and PREFIX.png; returns the paths written.

    The DOT file is written first, so it exists even when Graphviz is missing (which then raises)."""
    base = Path(prefix)
    base.parent.mkdir(parents=True, exist_ok=True)
    dot_path = base.with_name(base.name + ".dot")
    dot_path.write_text(dot_text, encoding="utf-8")
    written = [dot_path]
    for fmt in FORMATS:
        data = render(dot_text, fmt)
        path = base.with_name(f"{base.name}.{fmt}")
        path.write_bytes(data)
        written.append(path)
    return written
