#!/usr/bin/env python3
"""Renders the page(s) that `kioskctl render --dump-layout` laid out, with ReportLab.

The comparison behind docs/BENCHMARKS.md ("Certificate rendering"): the same text lines at
the same positions and sizes, the same NanumGothic (subset by ReportLab, as ours is subset
by kiosk-render), the same cell fills and rules, all text of a page in one text object, and a QR code of the same payload at the
same error-correction level drawn by ReportLab's own QR widget. The font is registered once
(as kiosk-render loads it once); each run builds a whole PDF in memory, page compression
on. Prints the median milliseconds per page and the PDF size.

Usage: render_page.py LAYOUT.json [--runs N] [--out FILE.pdf]
"""

import argparse
import io
import json
import statistics
import sys
import time

from reportlab import Version as RL_VERSION
from reportlab import rl_config
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

FONT = "NanumGothic"
BOLD_STROKE = 0.4  # kiosk-render draws bold as fill + 0.4 pt stroke


def accelerated():
    """Whether ReportLab uses its C accelerator (module _rl_accel, package rl_accel)
    for every function it can accelerate."""
    from reportlab.lib import rl_accel

    return bool(rl_accel._c_funcs) and not rl_accel._py_funcs


def draw_qr(c, payload, ec_level, quiet, x, y, size):
    widget = QrCodeWidget(value=payload, barLevel=ec_level, barBorder=quiet)
    x0, y0, x1, y1 = widget.getBounds()
    w, h = x1 - x0, y1 - y0
    d = Drawing(size, size, transform=[size / w, 0, 0, size / h, 0, 0])
    d.add(widget)
    renderPDF.draw(d, c, x, y)


def render(layout):
    """One PDF, in memory, in the drawing order kiosk-render uses."""
    buf = io.BytesIO()
    c = canvas.Canvas(
        buf,
        pagesize=(layout["page_width"], layout["page_height"]),
        pageCompression=1,
        invariant=1,
    )
    qr = layout["qr"]
    for page in layout["pages"]:
        elements = page["elements"]
        for e in elements:
            if e["kind"] == "fill":
                c.setFillGray(e["gray"])
                c.rect(e["x"], e["y"], e["w"], e["h"], stroke=0, fill=1)
        c.setStrokeGray(0)
        for e in elements:
            if e["kind"] == "line":
                c.setLineWidth(e["width"])
                c.line(e["x1"], e["y1"], e["x2"], e["y2"])
        c.setFillGray(0)
        for e in elements:
            if e["kind"] == "qr":
                draw_qr(c, layout["payload"], qr["ec_level"], qr["quiet_zone_modules"],
                        e["x"], e["y"], e["size"])
        # All text in one BT..ET, as kiosk-render writes it. (The text render mode outlives
        # a text object in PDF, but ReportLab's text objects each assume it starts at 0.)
        c.setFillGray(0)
        c.setLineWidth(BOLD_STROKE)
        t = c.beginText()
        size = None
        for e in elements:
            if e["kind"] != "text":
                continue
            t.setTextOrigin(e["x"], e["y"])
            if e["size"] != size:
                t.setFont(FONT, e["size"])
                size = e["size"]
            t.setTextRenderMode(2 if e["bold"] else 0)
            t.textOut(e["text"])
        c.drawText(t)
        c.showPage()
    c.save()
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("layout")
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--out")
    args = ap.parse_args()
    with open(args.layout, encoding="utf-8") as f:
        layout = json.load(f)
    # ReportLab's smallest output: no ASCII85 armour on compressed streams (its default
    # adds a quarter to their size).
    rl_config.useA85 = 0
    pdfmetrics.registerFont(TTFont(FONT, layout["font"]))
    pages = len(layout["pages"])
    for _ in range(3):  # warm-up: imports, caches, the font's parsed tables
        pdf = render(layout)
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        pdf = render(layout)
        times.append(time.perf_counter() - t0)
    if args.out:
        with open(args.out, "wb") as f:
            f.write(pdf)
    median_ms = statistics.median(times) * 1000
    print(f"reportlab {RL_VERSION}, rl_accel {'yes' if accelerated() else 'NO'}, "
          f"python {sys.version.split()[0]}")
    print(f"{pages} page(s), {args.runs} runs: median {median_ms:.2f} ms "
          f"({median_ms / pages:.2f} ms/page), {len(pdf)} bytes ({len(pdf) / 1024:.1f} KB)")


if __name__ == "__main__":
    main()
