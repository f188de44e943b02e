"""results/leaderboard.html: the leaderboard CSV as one static, self-contained, sortable page.

The page shows exactly the rows of leaderboard.csv (it reads the CSV, not the verdicts, so
the two never disagree). Every row links to its certificate, relative to the page, so the
results folder can be moved or zipped as a whole. Sorting is a few lines of inline script;
nothing is fetched from anywhere.
"""

from __future__ import annotations

import csv
import html
from pathlib import Path

from viprepro.report.document import page

# (CSV column, header, numeric?)
COLUMNS = (
    ("task", "task", False),
    ("submission", "submission", False),
    ("metric", "metric", False),
    ("claimed", "claimed", True),
    ("reproduced", "reproduced", True),
    ("claimed_split", "split", False),  # of the claim and of the reproduced score: a val claim is judged on val predictions
    ("band", "seed band (mean ± std, n)", True),
    ("verdict", "verdict", False),
    ("scale", "scale", False),
    ("audits", "audits", False),
    ("problems", "problems (refused file, failed audits, limits)", False),
    ("parameters", "parameters", True),
    ("flops_per_sample", "FLOPs / sample", True),
    ("train_wall_seconds", "training time (s)", True),
    ("inference_samples_per_s", "inference (samples/s)", True),
)

EXTRA_CSS = """
th { cursor: pointer; user-select: none; } th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; } tbody tr:hover { background: #f6f8fa; }
body { max-width: 1400px; }
"""

SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, column) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (other) { other.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[column].dataset.sort, y = b.cells[column].dataset.sort;
      var nx = parseFloat(x), ny = parseFloat(y);
      var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


def read_rows(csv_path: Path) -> list[dict]:
    with open(csv_path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def certificate_link(row: dict) -> str:
    """Where a row's certificate is, relative to results/ (the page's folder)."""
    return f"{row['task']}/{row['submission']}/certificate/certificate.html"


def _number(text: str) -> str:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return html.escape(text or "n/a")
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"


def _cell(row: dict, column: str, numeric: bool, folder: Path) -> str:
    if column == "band":
        text = row.get("band_mean", "")
        shown = f"{_number(row.get('band_mean'))} ± {_number(row.get('band_std'))} (n={html.escape(row.get('band_n', '?'))})"
        if row.get("band_interval_low"):
            shown += f"; next seed in [{_number(row['band_interval_low'])}, {_number(row['band_interval_high'])}]"
        return f'<td class="num" data-sort="{html.escape(text)}">{shown}</td>'
    value = row.get(column, "")
    if column == "submission":
        link = certificate_link(row)
        exists = (folder / link).is_file()
        shown = f'<a href="{html.escape(link)}">{html.escape(value)}</a>' if exists else f"{html.escape(value)} (no certificate)"
        return f'<td data-sort="{html.escape(value)}">{shown}</td>'
    if column == "verdict":
        return f'<td data-sort="{html.escape(value)}"><span class="badge verdict-{html.escape(value)}">{html.escape(value)}</span></td>'
    if numeric:
        return f'<td class="num" data-sort="{html.escape(value)}">{_number(value)}</td>'
    return f'<td data-sort="{html.escape(value)}">{html.escape(value)}</td>'


def render(rows: list[dict], folder: Path) -> str:
    """The page for `rows` (leaderboard.csv), written into `folder` (results/)."""
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title, _ in COLUMNS)
    body = "\n".join(
        f'<tr data-task="{html.escape(r["task"])}">' + "".join(_cell(r, c, n, folder) for c, _, n in COLUMNS) + "</tr>" for r in rows
    )
    counts = {}
    for row in rows:
        counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
    summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "no submissions"
    content = (
        "<h1>VIPriors reproductions: leaderboard</h1>"
        f"<p>{len(rows)} submission(s): {html.escape(summary)}. Click a column to sort; click a submission for its "
        "reproduction certificate (claim, rerun, figures, audits, environment, digests). The same rows are in "
        "<code>leaderboard.csv</code>.</p>"
        f'<table class="sortable" id="leaderboard"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'
        "<p>Band: the main metric over every seed that was run. Training time: wall seconds at the claimed seed, "
        "all ensemble members. FLOPs per test sample: torch's own counter during inference.</p>"
    )
    return page("VIPriors reproductions: leaderboard", content, extra_css=EXTRA_CSS, script=SORT_SCRIPT)


def write(csv_path: Path, out: Path) -> int:
    """Write the page for a leaderboard CSV; returns the number of rows."""
    from viprepro.files.fileio import write_text

    rows = read_rows(csv_path)
    write_text(out, render(rows, Path(out).parent))
    return len(rows)
