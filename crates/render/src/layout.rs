//! Page layout: resolved blocks of text -> positioned elements on A4 pages.
//!
//! The layout model is public so that tests (and a print preview) can check where things
//! land without parsing a PDF. Units are PDF points (1/72 inch), origin bottom-left.

use crate::font::KioskFont;

/// A4 width in points.
pub const PAGE_W: f32 = 595.28;
/// A4 height in points.
pub const PAGE_H: f32 = 841.89;
/// Left and right margin.
pub const MARGIN_X: f32 = 42.0;
/// Top margin.
pub const MARGIN_TOP: f32 = 40.0;
/// Bottom margin.
pub const MARGIN_BOTTOM: f32 = 36.0;
/// Top of the body area (below the page header).
pub const BODY_TOP: f32 = PAGE_H - MARGIN_TOP - 72.0;
/// Bottom of the body area (above the page footer).
pub const BODY_BOTTOM: f32 = MARGIN_BOTTOM + 96.0;
/// Side of the verification QR code, quiet zone included.
pub const QR_SIZE: f32 = 76.0;

const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN_X;
const BODY_SIZE: f32 = 9.0;
const BODY_LINE: f32 = 12.5;
const NOTICE_SIZE: f32 = 8.0;
const NOTICE_LINE: f32 = 11.0;
const PAD_Y: f32 = 3.0;
const PAD_X: f32 = 4.0;
const HEADING_SIZE: f32 = 10.5;
const HEADING_H: f32 = 20.0;
const BLOCK_GAP: f32 = 10.0;
const LABEL_W: f32 = 130.0;
const HEADER_GRAY: f32 = 0.88;
const LABEL_GRAY: f32 = 0.94;

/// One thing drawn on a page. Serializes as an object tagged `"kind": "text"` (`line`,
/// `fill`, `qr`) so that `kioskctl render --dump-layout` can hand pages to other tools.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Element {
    /// A single line of text.
    Text {
        /// Left edge of the text.
        x: f32,
        /// Baseline.
        y: f32,
        /// Font size in points.
        size: f32,
        /// The text.
        text: String,
        /// Its measured advance width.
        width: f32,
        /// The right edge of the box the text must stay inside (its column or the page
        /// content area).
        max_x: f32,
        /// Drawn heavier (titles).
        bold: bool,
    },
    /// A straight rule.
    Line {
        /// Start x.
        x1: f32,
        /// Start y.
        y1: f32,
        /// End x.
        x2: f32,
        /// End y.
        y2: f32,
        /// Stroke width.
        width: f32,
    },
    /// A filled rectangle (cell backgrounds).
    Fill {
        /// Left.
        x: f32,
        /// Bottom.
        y: f32,
        /// Width.
        w: f32,
        /// Height.
        h: f32,
        /// Grey level, 0 black to 1 white.
        gray: f32,
    },
    /// Where the verification QR code goes (a square).
    Qr {
        /// Left.
        x: f32,
        /// Bottom.
        y: f32,
        /// Side.
        size: f32,
    },
}

/// One laid-out page.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Page {
    /// Everything on the page, header and footer included.
    pub elements: Vec<Element>,
}

/// A laid-out document.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Layout {
    /// The pages, in order.
    pub pages: Vec<Page>,
}

impl Layout {
    /// All text on a page, in drawing order.
    pub fn page_texts(&self, page: usize) -> Vec<&str> {
        self.pages
            .get(page)
            .map(|p| {
                p.elements
                    .iter()
                    .filter_map(|e| match e {
                        Element::Text { text, .. } => Some(text.as_str()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A body block with its data already resolved to strings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved {
    Fields {
        heading: Option<String>,
        rows: Vec<(String, String)>,
    },
    Table {
        heading: Option<String>,
        labels: Vec<String>,
        widths: Vec<f32>,
        rows: Vec<Vec<String>>,
        empty: String,
    },
    Text {
        heading: Option<String>,
        text: String,
    },
    Notice {
        text: String,
    },
    SignOff {
        date: String,
        authority: String,
    },
}

/// What every page repeats.
#[derive(Debug, Clone)]
pub(crate) struct PageInfo {
    pub title_ko: String,
    pub title_en: String,
    pub authority_ko: String,
    pub authority_en: String,
    pub issue_number: String,
    pub issued_at: String,
    pub kiosk_id: String,
}

struct Cell {
    x0: f32,
    x1: f32,
    lines: Vec<String>,
    fill: Option<f32>,
    center: bool,
}

struct GridRow {
    cells: Vec<Cell>,
    size: f32,
    line_h: f32,
    borders: bool,
}

impl GridRow {
    fn lines(&self) -> usize {
        self.cells
            .iter()
            .map(|c| c.lines.len())
            .max()
            .unwrap_or(1)
            .max(1)
    }
    fn height_of(&self, n: usize) -> f32 {
        n as f32 * self.line_h + 2.0 * PAD_Y
    }
    fn height(&self) -> f32 {
        self.height_of(self.lines())
    }
}

struct Flow<'a> {
    font: &'a KioskFont,
    pages: Vec<Vec<Element>>,
    y: f32,
}

impl<'a> Flow<'a> {
    fn new(font: &'a KioskFont) -> Self {
        Flow {
            font,
            pages: vec![Vec::new()],
            y: BODY_TOP,
        }
    }

    fn avail(&self) -> f32 {
        self.y - BODY_BOTTOM
    }

    fn page_is_empty(&self) -> bool {
        self.y >= BODY_TOP
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = BODY_TOP;
    }

    fn push(&mut self, e: Element) {
        if let Some(p) = self.pages.last_mut() {
            p.push(e);
        }
    }

    fn text(&mut self, x: f32, y: f32, size: f32, text: String, max_x: f32, bold: bool) {
        if text.is_empty() {
            return;
        }
        let width = self.font.width(&text, size);
        self.push(Element::Text {
            x,
            y,
            size,
            text,
            width,
            max_x,
            bold,
        });
    }

    fn gap(&mut self, h: f32) {
        if !self.page_is_empty() {
            self.y -= h.min(self.avail());
        }
    }

    fn cell(
        &self,
        x0: f32,
        x1: f32,
        text: &str,
        size: f32,
        fill: Option<f32>,
        center: bool,
    ) -> Cell {
        Cell {
            x0,
            x1,
            lines: self.font.wrap(text, size, x1 - x0 - 2.0 * PAD_X),
            fill,
            center,
        }
    }

    /// Baseline of line `i` in a row whose top is `top`.
    fn baseline(&self, top: f32, i: usize, size: f32, line_h: f32) -> f32 {
        let asc = self.font.ascent(size);
        let desc = self.font.descent(size);
        top - PAD_Y - i as f32 * line_h - (line_h - (asc + desc)) / 2.0 - asc
    }

    /// Draws lines `from..to` of a row at the current position and moves down.
    fn draw_slice(&mut self, row: &GridRow, from: usize, to: usize) {
        let top = self.y;
        let h = row.height_of(to - from);
        let bottom = top - h;
        for c in &row.cells {
            if let Some(gray) = c.fill {
                self.push(Element::Fill {
                    x: c.x0,
                    y: bottom,
                    w: c.x1 - c.x0,
                    h,
                    gray,
                });
            }
        }
        if row.borders {
            let (left, right) = match (row.cells.first(), row.cells.last()) {
                (Some(f), Some(l)) => (f.x0, l.x1),
                _ => (MARGIN_X, PAGE_W - MARGIN_X),
            };
            for y in [top, bottom] {
                self.push(Element::Line {
                    x1: left,
                    y1: y,
                    x2: right,
                    y2: y,
                    width: 0.5,
                });
            }
            let mut xs: Vec<f32> = row.cells.iter().map(|c| c.x0).collect();
            xs.push(right);
            for x in xs {
                self.push(Element::Line {
                    x1: x,
                    y1: top,
                    x2: x,
                    y2: bottom,
                    width: 0.5,
                });
            }
        }
        for c in &row.cells {
            for (k, i) in (from..to.min(c.lines.len())).enumerate() {
                let line = &c.lines[i];
                let y = self.baseline(top, k, row.size, row.line_h);
                let x = if c.center {
                    let w = self.font.width(line, row.size);
                    (c.x0 + c.x1 - w) / 2.0
                } else {
                    c.x0 + PAD_X
                };
                self.text(x, y, row.size, line.clone(), c.x1 - PAD_X, false);
            }
        }
        self.y = bottom;
    }

    /// Places a row, moving to a new page (and repeating `header`) when it does not fit;
    /// a row taller than a whole page is split between lines.
    fn place(&mut self, row: &GridRow, header: Option<&GridRow>) {
        let n = row.lines();
        let header_h = header.map_or(0.0, GridRow::height);
        let mut start = 0;
        let mut fresh_page = false;
        loop {
            let rest = row.height_of(n - start);
            if rest <= self.avail() + 0.001 {
                self.draw_slice(row, start, n);
                return;
            }
            let fresh = BODY_TOP - BODY_BOTTOM - header_h;
            let fit = ((self.avail() - 2.0 * PAD_Y) / row.line_h).floor();
            if !fresh_page && ((start == 0 && rest <= fresh) || fit < 2.0) {
                self.new_page();
                if let Some(h) = header {
                    self.draw_slice(h, 0, h.lines());
                }
                fresh_page = true;
                continue;
            }
            // Taller than what is left even of a fresh page: split between lines.
            let k = (fit.max(1.0) as usize).min(n - start);
            self.draw_slice(row, start, start + k);
            start += k;
            if start >= n {
                return;
            }
            self.new_page();
            if let Some(h) = header {
                self.draw_slice(h, 0, h.lines());
            }
            fresh_page = true;
        }
    }

    /// A heading kept with at least `next` points of what follows.
    fn heading(&mut self, text: &str, next: f32) {
        if HEADING_H + next > self.avail() && !self.page_is_empty() {
            self.new_page();
        }
        let lines = self.font.wrap(text, HEADING_SIZE, CONTENT_W);
        for line in lines {
            if self.avail() < HEADING_H {
                self.new_page();
            }
            let y = self.y - HEADING_H + 6.0;
            self.text(MARGIN_X, y, HEADING_SIZE, line, PAGE_W - MARGIN_X, true);
            self.y -= HEADING_H;
        }
    }

    fn block(&mut self, b: &Resolved) {
        let right = PAGE_W - MARGIN_X;
        match b {
            Resolved::Fields { heading, rows } => {
                let grid: Vec<GridRow> = rows
                    .iter()
                    .map(|(label, value)| GridRow {
                        cells: vec![
                            self.cell(
                                MARGIN_X,
                                MARGIN_X + LABEL_W,
                                label,
                                BODY_SIZE,
                                Some(LABEL_GRAY),
                                false,
                            ),
                            self.cell(MARGIN_X + LABEL_W, right, value, BODY_SIZE, None, false),
                        ],
                        size: BODY_SIZE,
                        line_h: BODY_LINE,
                        borders: true,
                    })
                    .collect();
                if let Some(h) = heading {
                    let next = grid.first().map_or(0.0, |r| r.height_of(r.lines().min(2)));
                    self.heading(h, next);
                }
                for r in &grid {
                    self.place(r, None);
                }
            }
            Resolved::Table {
                heading,
                labels,
                widths,
                rows,
                empty,
            } => {
                let total: f32 = widths.iter().sum();
                let mut xs = vec![MARGIN_X];
                for w in widths {
                    let last = xs.last().copied().unwrap_or(MARGIN_X);
                    xs.push(last + CONTENT_W * w / total);
                }
                if let Some(last) = xs.last_mut() {
                    *last = right;
                }
                let header = GridRow {
                    cells: labels
                        .iter()
                        .enumerate()
                        .map(|(i, l)| {
                            self.cell(xs[i], xs[i + 1], l, BODY_SIZE, Some(HEADER_GRAY), true)
                        })
                        .collect(),
                    size: BODY_SIZE,
                    line_h: BODY_LINE,
                    borders: true,
                };
                let body: Vec<GridRow> = if rows.is_empty() {
                    vec![GridRow {
                        cells: vec![self.cell(MARGIN_X, right, empty, BODY_SIZE, None, true)],
                        size: BODY_SIZE,
                        line_h: BODY_LINE,
                        borders: true,
                    }]
                } else {
                    rows.iter()
                        .map(|r| GridRow {
                            cells: r
                                .iter()
                                .enumerate()
                                .map(|(i, v)| {
                                    self.cell(xs[i], xs[i + 1], v, BODY_SIZE, None, false)
                                })
                                .collect(),
                            size: BODY_SIZE,
                            line_h: BODY_LINE,
                            borders: true,
                        })
                        .collect()
                };
                let first = body.first().map_or(0.0, |r| r.height_of(r.lines().min(2)));
                let need = header.height() + first;
                match heading {
                    Some(h) => self.heading(h, need),
                    None if need > self.avail() && !self.page_is_empty() => self.new_page(),
                    None => {}
                }
                if header.height() + first > self.avail() {
                    self.new_page();
                }
                self.draw_slice(&header, 0, header.lines());
                for r in &body {
                    self.place(r, Some(&header));
                }
            }
            Resolved::Text { heading, text } => {
                let row = GridRow {
                    cells: vec![self.cell(
                        MARGIN_X - PAD_X,
                        right + PAD_X,
                        text,
                        BODY_SIZE,
                        None,
                        false,
                    )],
                    size: BODY_SIZE,
                    line_h: BODY_LINE + 1.5,
                    borders: false,
                };
                if let Some(h) = heading {
                    self.heading(h, row.height_of(row.lines().min(2)));
                }
                self.place(&row, None);
            }
            Resolved::Notice { text } => {
                let row = GridRow {
                    cells: vec![self.cell(MARGIN_X, right, text, NOTICE_SIZE, Some(0.97), false)],
                    size: NOTICE_SIZE,
                    line_h: NOTICE_LINE,
                    borders: true,
                };
                self.place(&row, None);
            }
            Resolved::SignOff { date, authority } => {
                let need = 64.0;
                if self.avail() < need {
                    self.new_page();
                }
                let top = self.y - 8.0;
                for (text, size, dy, bold) in
                    [(date, 11.0, 16.0, false), (authority, 15.0, 44.0, true)]
                {
                    let size = fit_size(self.font, text, size, CONTENT_W);
                    let w = self.font.width(text, size);
                    self.text(
                        (PAGE_W - w) / 2.0,
                        top - dy,
                        size,
                        text.clone(),
                        right,
                        bold,
                    );
                }
                self.y -= need;
            }
        }
    }
}

/// The largest size not above `size` at which `text` fits `max_w`.
fn fit_size(font: &KioskFont, text: &str, size: f32, max_w: f32) -> f32 {
    let w = font.width(text, size);
    if w <= max_w || w <= 0.0 {
        size
    } else {
        (size * max_w / w * 0.999).max(1.0)
    }
}

/// Lays out the body, paginates, then adds header and footer to every page.
pub(crate) fn lay_out(font: &KioskFont, info: &PageInfo, blocks: &[Resolved]) -> Layout {
    let mut flow = Flow::new(font);
    for (i, b) in blocks.iter().enumerate() {
        if i > 0 {
            flow.gap(BLOCK_GAP);
        }
        flow.block(b);
    }
    let total = flow.pages.len();
    let pages = flow
        .pages
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let mut f = Flow {
                font,
                pages: vec![body],
                y: 0.0,
            };
            decorate(&mut f, info, i + 1, total);
            Page {
                elements: f.pages.pop().unwrap_or_default(),
            }
        })
        .collect();
    Layout { pages }
}

fn decorate(f: &mut Flow<'_>, info: &PageInfo, page: usize, total: usize) {
    let right = PAGE_W - MARGIN_X;
    let font = f.font;
    let fitted = |text: &str, size: f32, max_w: f32| fit_size(font, text, size, max_w);

    // Header: issue number and page, titles, a rule.
    let top = PAGE_H - MARGIN_TOP;
    let pg = format!("페이지 {page}/{total}");
    let pg_w = font.width(&pg, 8.5);
    let issue = format!("발급번호: {}", info.issue_number);
    let s = fitted(&issue, 8.5, CONTENT_W - pg_w - 12.0);
    f.text(MARGIN_X, top - 8.0, s, issue, right - pg_w - 12.0, false);
    f.text(right - pg_w, top - 8.0, 8.5, pg, right, false);
    for (text, size, dy, bold) in [
        (&info.title_ko, 17.0, 38.0, true),
        (&info.title_en, 9.0, 53.0, false),
    ] {
        let size = fitted(text, size, CONTENT_W);
        let w = font.width(text, size);
        f.text(
            (PAGE_W - w) / 2.0,
            top - dy,
            size,
            text.clone(),
            right,
            bold,
        );
    }
    f.push(Element::Line {
        x1: MARGIN_X,
        y1: top - 62.0,
        x2: right,
        y2: top - 62.0,
        width: 1.2,
    });

    // Footer: a rule, authority, time of issue, kiosk, a note, the QR code.
    let base = MARGIN_BOTTOM;
    f.push(Element::Line {
        x1: MARGIN_X,
        y1: base + 86.0,
        x2: right,
        y2: base + 86.0,
        width: 0.8,
    });
    let qr_x = right - QR_SIZE;
    f.push(Element::Qr {
        x: qr_x,
        y: base + 8.0,
        size: QR_SIZE,
    });
    let cap = "진위확인 QR";
    let cap_w = font.width(cap, 6.5);
    f.text(
        qr_x + (QR_SIZE - cap_w) / 2.0,
        base + 1.5,
        6.5,
        cap.into(),
        right,
        false,
    );
    let text_right = qr_x - 10.0;
    let max_w = text_right - MARGIN_X;
    let lines = [
        (
            format!("발급기관: {} ({})", info.authority_ko, info.authority_en),
            8.5,
            70.0,
        ),
        (format!("발급일시: {}", info.issued_at), 8.5, 56.0),
        (
            format!(
                "발급기: {}    발급번호: {}    페이지 {page}/{total}",
                info.kiosk_id, info.issue_number
            ),
            8.5,
            42.0,
        ),
    ];
    for (text, size, dy) in lines {
        let s = fitted(&text, size, max_w);
        f.text(MARGIN_X, base + dy, s, text, text_right, false);
    }
    let note = "이 증명서는 무인민원발급기에서 발급되었습니다. 오른쪽 QR 코드의 전자서명으로 위조·변조 여부를 확인할 수 있습니다.";
    for (i, line) in font.wrap(note, 7.0, max_w).into_iter().take(2).enumerate() {
        f.text(
            MARGIN_X,
            base + 26.0 - i as f32 * 9.5,
            7.0,
            line,
            text_right,
            false,
        );
    }
}
