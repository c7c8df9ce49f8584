"""The report as one document: a few frozen block types (headings, paragraphs, notes,
lists, tables, figures) and two renderings of the same blocks, Markdown (to_markdown)
and self-contained, escaped HTML (to_html). The report's sections build the blocks
(reports/present/sections.py); docs/reports.md#the-document-model says how."""
from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import pandas as pd

from .format import cell


@dataclass(frozen=True)
class Bold:
    """A span set in bold inside a paragraph or a list item."""
    text: str


Inline = Union[str, Bold, tuple]
"""Running text: a string, a Bold span, or a tuple of both in reading order."""


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: Inline
    style: str = ""
    """The HTML class ("fit poor": red); Markdown shows the text alone."""


@dataclass(frozen=True)
class Note:
    """Something the reader must not miss: a coloured box, a Markdown quote."""
    text: Inline


@dataclass(frozen=True)
class BulletList:
    items: tuple


@dataclass(frozen=True, eq=False)
class Table:
    frame: pd.DataFrame
    dim: tuple = ()
    """One boolean per row: drawn grey and italic in the HTML (extrapolated rows); Markdown
    has no row styles, so say in the table what the rows are."""


@dataclass(frozen=True)
class Figure:
    title: str
    path: Path
    """The PNG: inline in the HTML, a path relative to the document's home in Markdown."""


@dataclass(frozen=True)
class Grid:
    """Figures side by side (two columns in the HTML, a list in Markdown)."""
    figures: tuple


@dataclass(frozen=True)
class Panel:
    """Blocks set apart as one box (the HTML class `style`); Markdown shows the blocks."""
    blocks: tuple
    style: str


@dataclass(frozen=True)
class Details:
    """Blocks folded under a one-line summary: collapsed in the HTML (<details>), and in
    Markdown the same element, which GitHub and GitLab fold too."""
    summary: str
    blocks: tuple


@dataclass(frozen=True)
class Document:
    title: str
    blocks: tuple
    home: Path | None = None
    """The folder the renderings are written to: Markdown names figures relative to it."""


# --- Markdown ---------------------------------------------------------------------------

def to_markdown(doc: Document) -> str:
    parts = [f"# {doc.title}"] + [_md_block(b, doc.home) for b in doc.blocks]
    return "\n\n".join(p for p in parts if p) + "\n"


def _md_block(block, home) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {block.text}"
    if isinstance(block, Paragraph):
        return _md_inline(block.text)
    if isinstance(block, Note):
        return f"> {_md_inline(block.text)}"
    if isinstance(block, BulletList):
        return "\n".join(f"- {_md_inline(item)}" for item in block.items)
    if isinstance(block, Table):
        return _md_table(block)
    if isinstance(block, Figure):
        return _md_figure(block, home)
    if isinstance(block, Grid):
        return "\n".join(f"- {_md_figure(f, home)}" for f in block.figures)
    if isinstance(block, Panel):
        return "\n\n".join(p for p in (_md_block(b, home) for b in block.blocks) if p)
    if isinstance(block, Details):
        inner = "\n\n".join(p for p in (_md_block(b, home) for b in block.blocks) if p)
        return f"<details><summary>{html.escape(block.summary)}</summary>\n\n{inner}\n\n</details>"
    raise TypeError(f"not a block: {block!r}")


def _md_inline(text: Inline) -> str:
    if isinstance(text, Bold):
        return f"**{text.text}**"
    if isinstance(text, tuple):
        return "".join(_md_inline(t) for t in text)
    return text


def _md_table(table: Table) -> str:
    if not len(table.frame.columns):
        return ""
    lines = ["| " + " | ".join(map(str, table.frame.columns)) + " |", "|" + "---|" * len(table.frame.columns)]
    lines += ["| " + " | ".join(cell(v).replace("|", "\\|") for v in row) + " |"
              for row in table.frame.itertuples(index=False)]
    return "\n".join(lines)


def _md_figure(figure: Figure, home) -> str:
    path = figure.path.relative_to(home) if home and figure.path.is_relative_to(home) else figure.path
    return f"{figure.title}: `{path.as_posix()}`"


# --- HTML -------------------------------------------------------------------------------

def to_html(doc: Document, css: str) -> str:
    """One file: the figures inline as data: URIs, no scripts, nothing fetched, every text escaped."""
    title = html.escape(doc.title)
    head = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{css}</style></head><body>")
    blocks = [_html_block(b) for b in doc.blocks]
    return "\n".join([head, f"<h1>{title}</h1>", *filter(None, blocks), "</body></html>"]) + "\n"


def _html_block(block) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{html.escape(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        return f"<p{_cls(block.style)}>{_html_inline(block.text)}</p>"
    if isinstance(block, Note):
        return f"<p class=note>{_html_inline(block.text)}</p>"
    if isinstance(block, BulletList):
        return "<ul>" + "".join(f"<li>{_html_inline(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Table):
        return _html_table(block)
    if isinstance(block, Figure):
        return _html_figure(block)
    if isinstance(block, Grid):
        return "<div class=grid>" + "".join(_html_figure(f) for f in block.figures) + "</div>"
    if isinstance(block, Panel):
        inner = filter(None, (_html_block(b) for b in block.blocks))
        return "\n".join([f"<section{_cls(block.style)}>", *inner, "</section>"])
    if isinstance(block, Details):
        inner = filter(None, (_html_block(b) for b in block.blocks))
        return "\n".join([f"<details><summary>{html.escape(block.summary)}</summary>", *inner, "</details>"])
    raise TypeError(f"not a block: {block!r}")


def _cls(style: str) -> str:
    if not style:
        return ""
    return f" class={style}" if " " not in style else f" class='{html.escape(style, quote=True)}'"


def _html_inline(text: Inline) -> str:
    if isinstance(text, Bold):
        return f"<b>{html.escape(text.text)}</b>"
    if isinstance(text, tuple):
        return "".join(_html_inline(t) for t in text)
    return html.escape(text)


def _html_table(table: Table) -> str:
    """Text cells (strings) aligned left, numbers right."""
    if not len(table.frame.columns):
        return ""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.frame.columns)
    body = []
    for i, row in enumerate(table.frame.itertuples(index=False)):
        cells = "".join(f"<td{' class=l' if isinstance(v, str) else ''}>{html.escape(cell(v))}</td>" for v in row)
        body.append(f"<tr{' class=x' if table.dim and table.dim[i] else ''}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _html_figure(figure: Figure) -> str:
    data = base64.b64encode(figure.path.read_bytes()).decode("ascii")
    return (f"<figure><img alt='{html.escape(figure.title, quote=True)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(figure.title)}</figcaption></figure>")
