"""The report's sections, in page order, as blocks of one document (document.py): one
function per section, each returning its blocks (none where it has nothing to show).
report.py computes what they show; docs/reports.md#the-document-model says where a new
section goes."""
from __future__ import annotations

from .document import Bold, BulletList, Details, Document, Figure, Grid, Heading, Note, Panel, Paragraph, Table

SERIES_TEXT = ("The runs taken together as one node-count series, with the model commscale predict uses "
               "(docs/model.md#predictions): measured busbw by node count at the largest size every scale "
               "measured, then predictions at 2x, 4x and 8x the largest with their predictive intervals. "
               "The per-run fits below describe each run alone.")
FIT_WORDS = ("Per fitted collective: the peak busbw measured (from the records' mean time), and the model's fit "
             "in a word (good: MAPE up to 10%, fair: up to 25%, poor: above), given on the held-out MAPE where "
             "there is one (all sizes: predicting the largest rank count from a fit on the others), else on the "
             "in-sample MAPE ('judged on' says which), with how many measured points lie outside its 95% band.")
EXTRAPOLATED_ROWS = "Rows marked extrapolated lie past the measured scale."


def report_document(names, metas, headline, story, collectives, tables, more, home=None) -> Document:
    """The whole report. `story`, `more`: (title, path) figures; `collectives`: the report's
    CollectiveSection per collective; `headline`, `tables`: report.Headline and report.Tables."""
    blocks = [*runs(names, metas), *findings(headline), *series(tables.series), *story_figures(story),
              *bandwidth(collectives), *normal(tables.normal), *summary(tables.summary),
              *scaling_model(tables.model),
              *crossovers(tables.crossover), *plans(tables.plan), *doctors(tables.doctor),
              *timing(tables.timing), *more_figures(more)]
    return Document(f"commscale report: {', '.join(names)}", tuple(blocks), home)


def _figures(pairs) -> tuple:
    return tuple(Figure(title, path) for title, path in pairs)


HOSTS_INLINE = 3
"""Up to this many hosts are named in a run's line; more are counted there and listed,
folded, under the runs."""


def runs(names, metas) -> list:
    """One line per run: where it came from, its world, hosts, versions and status; long host
    lists folded into one collapsed list below (each distinct list once, with its runs)."""
    blocks = [BulletList(tuple((Bold(name), f": {run_line(metas[name])}") for name in names))]
    lists = {}
    for name in names:
        hosts = tuple(map(str, metas[name].get("hosts") or ()))
        if len(hosts) > HOSTS_INLINE:
            lists.setdefault(hosts, []).append(name)
    if lists:
        total = len({h for hosts in lists for h in hosts})
        blocks.append(Details(f"Hosts: {total} in all", (BulletList(tuple(
            (Bold(", ".join(runs_of)), f": {', '.join(hosts)}") for hosts, runs_of in lists.items())),)))
    return blocks


def run_line(meta: dict) -> str:
    versions = meta.get("versions", {})
    what = ", ".join(f"{k} {v}" for k, v in versions.items() if k in ("torch", "nccl", "mpi_library") and v)
    parts = [f"imported from {meta['tool']}" if "tool" in meta else f"launcher {meta.get('launcher', '?')}"]
    if meta.get("world_size"):
        parts.append(f"world {meta['world_size']}")
    hosts = meta.get("hosts") or []
    if len(hosts) > HOSTS_INLINE:
        parts.append(f"{len(hosts)} hosts (listed below)")
    elif hosts:
        parts.append(f"{'host' if len(hosts) == 1 else 'hosts'} {', '.join(map(str, hosts))}")
    parts += [what] if what else []
    parts.append(f"status {meta.get('status', '?')}")
    return "; ".join(parts)


def findings(headline) -> list:
    """The headline box: the CPU note, the points, scaling and crossover sentences, the fits in a word."""
    blocks = [Heading("Findings")]
    if headline.cpu:
        blocks.append(Note((Bold("CPU ranks stand in for GPUs."), f" {headline.cpu}")))
    blocks.append(BulletList((*headline.points, *((Bold("Scaling"), f" {t}") for t in headline.series),
                              *((Bold("Crossover"), f" {t}") for t in headline.crossovers),
                              *((Bold("Training plan"), f" {t}") for t in headline.plans))))
    if not headline.keys.empty:
        blocks += [Paragraph(FIT_WORDS), Table(headline.keys)]
    return [Panel(tuple(blocks), "headline")]


def series(views) -> list:
    """Per collective with a node-count series: the model in words, measured and predicted busbw."""
    blocks = []
    for v in views:
        blocks += [Heading(f"Scaling across node counts: {v.collective}"), Paragraph(SERIES_TEXT),
                   Paragraph(v.model), Table(v.measured), Table(v.predicted)]
    return blocks


def story_figures(story) -> list:
    """The crossover, roofline and training-plan figures."""
    if not story:
        return []
    half = [(title, path) for title, path, wide in story if not wide]
    return [Heading("Compute vs communication"),
            Paragraph("Solid lines and filled markers: the measured scale; dashed lines, hollow markers and the "
                      "hatched background: extrapolated by the model."), *([Grid(_figures(half))] if half else []),
            *(Figure(title, path) for title, path, wide in story if wide)]


def bandwidth(collectives) -> list:
    """Per collective: a sentence on each fit, busbw vs size and vs scale."""
    blocks = [Heading("Bandwidth by collective"),
              Paragraph("Points: measured busbw (GB/s = 1e9 B/s). Lines: the fitted model, its band the 95% "
                        "bootstrap interval of the fitted curve.")]
    for s in collectives:
        blocks.append(Heading(s.collective, 3))
        blocks += [Paragraph(f"{run}, {fabric}: {note}", f"fit {q}") for run, fabric, note, q in s.notes]
        blocks.append(Grid(_figures(s.figures)))
    return blocks


def summary(table) -> list:
    return [Heading("Summary"),
            Paragraph("Per collective and group: points, wrong elements, the time at the smallest size (the median "
                      "where the records have one) and the peak busbw (from the mean time, as nccl-tests prints it) "
                      "with the size it was reached at."), Table(table)]


def scaling_model(table) -> list:
    if table.empty:
        return []
    return [Heading("Scaling model"),
            Paragraph("T(n, p) = alpha A(p) + n B(p) / bandwidth per collective and size regime, fitted on the "
                      "median time (the mean where only that is known) with 95% bootstrap intervals; its peak busbw "
                      "is from that time. Held-out MAPE: predicting the largest group size from a fit on the others, "
                      "over this regime's sizes (the findings give it over all sizes)."), Table(table)]


def _dim(table) -> tuple:
    return tuple(table["source"] == "extrapolated") if "source" in table else ()


def crossovers(tables: dict) -> list:
    blocks = []
    for name, table in tables.items():
        blocks += [Heading(f"Crossover: {name}"), Paragraph(EXTRAPOLATED_ROWS), Table(table, _dim(table))]
    return blocks


def plans(tables: dict) -> list:
    blocks = []
    for name, table in tables.items():
        blocks += [Heading(f"Training plan: {name}"),
                   Paragraph("Per GPU per step: compute, each communication with the part left exposed in "
                             "brackets, the pipeline bubble, the step with its 95% interval, tokens/s and MFU. "
                             + EXTRAPOLATED_ROWS),
                   Table(table, _dim(table))]
    return blocks


def doctors(views: dict) -> list:
    blocks = []
    for name, (sentence, suspects, nodes) in views.items():
        blocks += [Heading(f"Slow nodes and links (doctor): {name}"),
                   Paragraph(f"{sentence} A node's capacity is the best of its pair rates; a suspect lies below the "
                             "reference by more than the threshold and 3 robust spreads, in at least 80% of the "
                             "bootstrap resamples.")]
        blocks += [Table(suspects)] if not suspects.empty else []
        blocks.append(Table(nodes))
    return blocks


def timing(table) -> list:
    if table.empty:
        return []
    return [Heading("Per-call vs batch timing"),
            Paragraph("The same points timed each call alone (the max over ranks per call) and in batches of calls "
                      "between two synchronisations (as nccl-tests times): medians, and batch / call. On hosts they "
                      "agree within noise at large sizes; on GPUs batches hide the launch cost."), Table(table)]


NORMAL_TEXT = ("Each run's busbw against comparable published runs from the reference set shipped with "
               "commscale (nccl-tests, OSU and IMB logs others published, each with its source; docs/normal.md): "
               "the same collective, GPU generation and one node or several; then network, node count and GPUs per "
               "node, relaxed in that order where too few match exactly. The percentile is at the largest size the "
               "run measured "
               "that 3 or more of them reached.")


def normal(views) -> list:
    """Is this normal? A sentence per run and key; a figure and the runs compared with, where placed."""
    if not views:
        return []
    blocks = [Heading("Is this normal? Published runs compared"), Paragraph(NORMAL_TEXT)]
    many = len({v.run for v in views}) > 1
    unplaced = tuple(f"{v.run}: {v.sentence}" if many else v.sentence for v in views if v.table is None)
    if unplaced:
        blocks.append(BulletList(unplaced))
    for v in (v for v in views if v.table is not None):
        blocks += [Paragraph(f"{v.run}: {v.sentence}" if many else v.sentence), Paragraph(v.compared),
                   Figure(*v.figure), Table(v.table)]
    return blocks


def more_figures(more) -> list:
    return [Heading("More figures"), Grid(_figures(more))]
