"""A tiny document model rendered twice: to Markdown and to one self-contained HTML file.

The certificate says the same thing in both forms, so it is written once as sections of
blocks (paragraphs, tables, code, figures, notes). The HTML embeds every figure as a
`data:` URI and carries its own CSS: it opens from a USB stick with no network and no
repository beside it.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

BOLD = re.compile(r"\*\*(.+?)\*\*")
CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2327; max-width: 1100px;
       margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .6em 0; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f3f5f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; background: #f6f8fa; }
pre { padding: .7em; overflow-x: auto; border-radius: 4px; white-space: pre-wrap; word-break: break-all; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #e1e4e8; }
figcaption { color: #57606a; font-size: 13px; }
.note { padding: .5em .8em; border-left: 4px solid #8c959f; background: #f6f8fa; margin: .6em 0; }
.note.warn { border-color: #bf8700; background: #fff8c5; } .note.bad { border-color: #cf222e; background: #ffebe9; }
.note.good { border-color: #1a7f37; background: #dafbe1; }
.badge { display: inline-block; padding: .1em .6em; border-radius: 1em; font-weight: 600; font-size: .9em; color: #fff; }
.verdict-reproduced { background: #1a7f37; } .verdict-within_noise { background: #9a6700; }
.verdict-exceeds_claim { background: #0969da; } .verdict-not_reproduced { background: #cf222e; }
.verdict-audit_failed { background: #82071e; } .verdict-invalid_submission { background: #6e7781; }
.verdict-resource_limit { background: #6e7781; } .verdict-no_score { background: #6e7781; }
details summary { cursor: pointer; color: #0969da; }
"""


@dataclass
class Paragraph:
    text: str


@dataclass
class Note:
    """A highlighted remark; `kind` is info, good, warn or bad."""

    text: str
    kind: str = "info"


@dataclass
class Table:
    header: list[str]
    rows: list[list]
    numeric: set[int] = field(default_factory=set)  # column indices aligned right


@dataclass
class Code:
    text: str
    language: str = ""


@dataclass
class Figure:
    path: Path  # the PNG; Markdown links it relative to the document, HTML embeds it
    caption: str


@dataclass
class Details:
    """Long material folded away in HTML (a package list); plain in Markdown."""

    summary: str
    blocks: list


@dataclass
class Section:
    title: str
    blocks: list


@dataclass
class Document:
    title: str
    lead: list  # blocks above the first section
    sections: list[Section]


# --- Markdown -------------------------------------------------------------------------------


def to_markdown(document: Document, folder: Path) -> str:
    """Markdown with figures linked relative to `folder` (where the .md file goes)."""
    lines = [f"# {document.title}", ""]
    lines += _md_blocks(document.lead, folder)
    for number, section in enumerate(document.sections, start=1):
        lines += [f"## {number}. {section.title}", ""] + _md_blocks(section.blocks, folder)
    return "\n".join(lines).rstrip() + "\n"


def _md_cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_blocks(blocks: list, folder: Path) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Paragraph):
            lines += [block.text, ""]
        elif isinstance(block, Note):
            marker = {"good": "OK", "warn": "WARNING", "bad": "PROBLEM"}.get(block.kind, "Note")
            lines += [f"> **{marker}:** {block.text}", ""]
        elif isinstance(block, Table):
            lines.append("| " + " | ".join(_md_cell(h) for h in block.header) + " |")
            lines.append("|" + "|".join("---:" if i in block.numeric else "---" for i in range(len(block.header))) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            lines.append("")
        elif isinstance(block, Code):
            lines += [f"```{block.language}", block.text.rstrip("\n"), "```", ""]
        elif isinstance(block, Figure):
            lines += [f"![{block.caption}]({Path(block.path).relative_to(folder).as_posix()})", "", f"*{block.caption}*", ""]
        elif isinstance(block, Details):
            lines += [f"**{block.summary}**", ""] + _md_blocks(block.blocks, folder)
        else:
            raise TypeError(f"unknown block {type(block).__name__}")
    return lines


# --- HTML -----------------------------------------------------------------------------------


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def page(title: str, body: str, *, extra_css: str = "", script: str = "") -> str:
    """A complete HTML page: inline CSS (and script), no external resource of any kind."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}{extra_css}</style>\n</head>\n<body>\n{body}\n"
        + (f"<script>{script}</script>\n" if script else "")
        + "</body>\n</html>\n"
    )


def to_html(document: Document) -> str:
    parts = [f"<h1>{html.escape(document.title)}</h1>", _html_blocks(document.lead)]
    toc = "".join(f'<li><a href="#s{n}">{html.escape(s.title)}</a></li>' for n, s in enumerate(document.sections, start=1))
    parts.append(f"<nav><ol>{toc}</ol></nav>")
    for number, section in enumerate(document.sections, start=1):
        parts.append(f'<section id="s{number}"><h2>{number}. {html.escape(section.title)}</h2>{_html_blocks(section.blocks)}</section>')
    return page(document.title, "\n".join(parts))


def _html_blocks(blocks: list) -> str:
    out = []
    for block in blocks:
        if isinstance(block, Paragraph):
            out.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Note):
            out.append(f'<div class="note {html.escape(block.kind)}">{_inline(block.text)}</div>')
        elif isinstance(block, Table):
            head = "".join(f"<th>{html.escape(str(h))}</th>" for h in block.header)
            body = "".join(
                "<tr>"
                + "".join(f"<td{' class=num' if i in block.numeric else ''}>{_inline(str(c))}</td>" for i, c in enumerate(row))
                + "</tr>"
                for row in block.rows
            )
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(block, Code):
            out.append(f"<pre><code>{html.escape(block.text)}</code></pre>")
        elif isinstance(block, Figure):
            out.append(
                f'<figure><img src="{data_uri(block.path)}" alt="{html.escape(block.caption)}">'
                f"<figcaption>{html.escape(block.caption)}</figcaption></figure>"
            )
        elif isinstance(block, Details):
            out.append(f"<details><summary>{html.escape(block.summary)}</summary>{_html_blocks(block.blocks)}</details>")
        else:
            raise TypeError(f"unknown block {type(block).__name__}")
    return "\n".join(out)


def _inline(text: str) -> str:
    """Escape, then render the only inline Markdown the documents use: `code` and **bold**."""
    pieces = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else BOLD.sub(r"<strong>\1</strong>", p) for i, p in enumerate(pieces))
