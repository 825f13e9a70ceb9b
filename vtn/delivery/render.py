"""A delivery report's chart (SVG, for the console) and PDF (fpdf2): both drawn from the stored document only."""

from __future__ import annotations

from html import escape
from typing import Any

BAR_COLOURS = {"instructed": "#9aa5b1", "delivered": "#2f855a", "rebound": "#c05621"}


def _bars(document: dict[str, Any]) -> list[tuple[str, float | None, float | None, bool]]:
    """(label, instructed kWh, delivered kWh, rebound?) per period, event then rebound window."""
    rows = []
    for key, rebound in (("periods", False), ("rebound", True)):
        for p in document.get(key) or ():
            label = f"{p['startLondon'][11:16]} SP{p['settlementPeriod']}"
            rows.append((label, p.get("instructedKwh"), p.get("deliveredKwh"), rebound))
    return rows


def chart_svg(document: dict[str, Any], width: int = 720, height: int = 240) -> str:
    """Instructed vs delivered kWh per settlement period; rebound periods after the event in orange; gaps hatched."""
    bars = _bars(document)
    if not bars:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"></svg>'
    values = [abs(v) for _l, i, dl, _r in bars for v in (i, dl) if v is not None] or [1.0]
    top = max(values) or 1.0
    left, bottom, plot_h = 40, 40, height - 60
    slot = (width - left - 10) / len(bars)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="instructed and delivered energy per settlement period">',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#333"/>',
             f'<text x="4" y="14" font-size="11">kWh (max {top:.1f})</text>']
    zero = height - bottom
    for index, (label, instructed, delivered, rebound) in enumerate(bars):
        x = left + index * slot
        w = max(2.0, slot / 2 - 2)
        if instructed is not None:
            h = plot_h * abs(instructed) / top
            parts.append(f'<rect x="{x + 1:.1f}" y="{zero - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
                         f'fill="{BAR_COLOURS["instructed"]}"><title>{escape(label)} instructed {instructed} kWh</title></rect>')
        colour = BAR_COLOURS["rebound" if rebound else "delivered"]
        if delivered is None:
            parts.append(f'<rect x="{x + w + 2:.1f}" y="{zero - 8}" width="{w:.1f}" height="8" fill="none" '
                         f'stroke="#c53030" stroke-dasharray="2,2"><title>{escape(label)} gap (no reading)</title></rect>')
        else:
            h = plot_h * min(abs(delivered), top) / top
            y = zero - h if delivered >= 0 else zero
            parts.append(f'<rect x="{x + w + 2:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{colour}">'
                         f'<title>{escape(label)} delivered {delivered} kWh</title></rect>')
        if len(bars) <= 24 or index % max(1, len(bars) // 12) == 0:
            parts.append(f'<text x="{x + 1:.1f}" y="{height - bottom + 14}" font-size="9">{escape(label[:5])}</text>')
    parts.append('</svg>')
    return "".join(parts)


def report_pdf(document: dict[str, Any]) -> bytes:
    """A one-document PDF: the headline figures, the chart (bars) and one line per settlement period."""
    from fpdf import FPDF

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, _latin(f"Delivery report {document.get('eventName')} (version {document.get('version')})"),
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    lines = [
        f"FSP {document.get('fspID')}  dispatch unit {document.get('dispatchUnit')}  "
        f"meterable units {', '.join(document.get('meterableUnits') or [])}  direction {document.get('direction')}",
        f"counted from {document.get('countedFrom')} to {document.get('serviceEnd')} (UTC); issued "
        f"{document.get('issuedAt')} ({document.get('reason')})",
        f"instructed {document.get('instructedKwh')} kWh, delivered {document.get('deliveredKwh')} kWh "
        f"({document.get('percent')} %), payable {document.get('payableKwh')} kWh; RAG {document.get('rag')}",
        f"utilisation price GBP {document.get('utilisationPriceGbpPerMwh')}/MWh ({document.get('priceSource')}); "
        f"earnings GBP {document.get('earningsGbp')}; rebound {document.get('reboundKwh')} kWh; "
        f"periods with gaps {document.get('missingPeriods')}",
        "baselines: " + "; ".join(f"{u} {s.get('method')}" for u, s in (document.get("baselines") or {}).items()),
    ]
    for line in lines:
        pdf.multi_cell(0, 5, _latin(line), new_x="LMARGIN", new_y="NEXT")
    _pdf_chart(pdf, document)
    headers = ("section", "day", "SP", "start (London)", "instructed kWh", "baseline kWh", "metered kWh",
               "delivered kWh", "payable kWh", "GBP")
    widths = (18, 22, 10, 48, 26, 26, 26, 26, 26, 20)
    pdf.set_font("Helvetica", "B", 8)
    for header, w in zip(headers, widths, strict=True):
        pdf.cell(w, 5, header, border=1)
    pdf.ln()
    pdf.set_font("Helvetica", "", 8)
    for section, key in (("event", "periods"), ("rebound", "rebound")):
        for p in document.get(key) or ():
            cells = (section, p["settlementDay"], str(p["settlementPeriod"]), p["startLondon"][:19].replace("T", " "),
                     _num(p["instructedKwh"]), _num(p["baselineKwh"]), _num(p["meteredKwh"]), _num(p["deliveredKwh"]),
                     _num(p["payableKwh"]), p["earningsGbp"] or "")
            for value, w in zip(cells, widths, strict=True):
                pdf.cell(w, 5, _latin(value), border=1)
            pdf.ln()
    return bytes(pdf.output())


def _pdf_chart(pdf: Any, document: dict[str, Any]) -> None:
    bars = _bars(document)
    if not bars:
        return
    values = [abs(v) for _l, i, dl, _r in bars for v in (i, dl) if v is not None] or [1.0]
    top = max(values) or 1.0
    x0, y0, width, height = pdf.get_x(), pdf.get_y() + 3, 260, 45
    slot = width / len(bars)
    base = y0 + height
    pdf.set_draw_color(60, 60, 60)
    pdf.line(x0, base, x0 + width, base)
    for index, (_label, instructed, delivered, rebound) in enumerate(bars):
        x = x0 + index * slot
        w = max(0.5, slot / 2 - 0.5)
        if instructed is not None:
            pdf.set_fill_color(154, 165, 177)
            h = height * abs(instructed) / top
            pdf.rect(x, base - h, w, h, style="F")
        if delivered is not None:
            pdf.set_fill_color(*((192, 86, 33) if rebound else (47, 133, 90)))
            h = height * min(abs(delivered), top) / top
            pdf.rect(x + w, base - h if delivered >= 0 else base, w, h, style="F")
    pdf.set_y(base + 4)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _latin(text: Any) -> str:
    """The core PDF fonts are Latin-1: anything else is replaced, never an error."""
    return str(text).encode("latin-1", "replace").decode("latin-1")
