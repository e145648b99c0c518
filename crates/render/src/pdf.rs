//! Layout -> PDF bytes through printpdf, deterministically.
//!
//! printpdf draws its resource ids and the trailer `/ID` from a process-wide counter, so
//! we name the font resource ourselves and replace the `/ID` with a digest of the
//! document before writing: the same request gives the same bytes.

use lopdf::Object;
use printpdf::{
    Color, CurTransMat, Greyscale, Line, LinePoint, Op, PaintMode, ParsedFont, PdfDocument,
    PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, Rect, TextItem, TextMatrix,
    TextRenderingMode,
};
use sha2::{Digest, Sha256};

use crate::engine::IssuedAt;
use crate::error::RenderError;
use crate::layout::{Element, Layout, PAGE_H, PAGE_W};

/// Document-level metadata.
pub(crate) struct Meta {
    pub title: String,
    pub issue_number: String,
    pub issued_at: IssuedAt,
    pub author: String,
    pub digest: [u8; 32],
}

/// Rounds to 1/100 pt: plenty for print and keeps content streams short.
fn r(v: f32) -> Pt {
    Pt((v * 100.0).round() / 100.0)
}

fn pt(x: f32, y: f32) -> Point {
    Point { x: r(x), y: r(y) }
}

fn gray(level: f32) -> Color {
    Color::Greyscale(Greyscale::new(level, None))
}

/// The QR code as rectangles in module units (one per horizontal run of dark modules,
/// origin at the code's bottom-left corner), and its width in modules.
fn qr_runs(payload: &str) -> Result<(Vec<Rect>, usize), RenderError> {
    let code = crate::qr::encode(payload.as_bytes())?;
    let n = code.width;
    let mut runs = Vec::new();
    for row in 0..n {
        let mut col = 0;
        while col < n {
            if !code.is_dark(col, row) {
                col += 1;
                continue;
            }
            let start = col;
            while col < n && code.is_dark(col, row) {
                col += 1;
            }
            runs.push(Rect {
                x: Pt(start as f32),
                y: Pt((n - 1 - row) as f32),
                width: Pt((col - start) as f32),
                height: Pt(1.0),
                mode: Some(PaintMode::Fill),
                winding_order: None,
            });
        }
    }
    Ok((runs, n))
}

/// Quiet zone around the QR code, in modules, inside the [`crate::layout::Element::Qr`]
/// square (the standard asks for 4; the code sits in a white margin of the page, so 2
/// inside its box is enough).
pub const QR_QUIET_MODULES: usize = 2;

/// Deflate level for streams: level 9 (lopdf's choice) costs about three times the time
/// of level 6 for about 2% smaller files.
const DEFLATE_LEVEL: u32 = 3;

fn compress_streams(doc: &mut lopdf::Document) -> Result<(), RenderError> {
    use std::io::Write;
    for obj in doc.objects.values_mut() {
        if let Object::Stream(stream) = obj
            && stream.allows_compression
            && stream.dict.get(b"Filter").is_err()
        {
            let mut enc = flate2::write::ZlibEncoder::new(
                Vec::with_capacity(stream.content.len() / 2),
                flate2::Compression::new(DEFLATE_LEVEL),
            );
            enc.write_all(&stream.content)
                .map_err(|e| RenderError::Pdf(e.to_string()))?;
            let packed = enc.finish().map_err(|e| RenderError::Pdf(e.to_string()))?;
            if packed.len() < stream.content.len() {
                stream.dict.set("Filter", "FlateDecode");
                stream.set_content(packed);
            }
        }
    }
    Ok(())
}

/// Writes the PDF.
pub(crate) fn write_pdf(
    layout: &Layout,
    font: ParsedFont,
    payload: &str,
    meta: &Meta,
) -> Result<Vec<u8>, RenderError> {
    let mut doc = PdfDocument::new(&meta.title);
    let font_id = printpdf::FontId("F1".to_owned());
    doc.resources
        .fonts
        .map
        .insert(font_id.clone(), printpdf::PdfFont::new(font));
    let (y, mo, d, h, mi, s) = meta.issued_at.utc();
    let when = printpdf::DateTime::new_in_offset(
        printpdf::Date {
            year: y as i32,
            month: mo as u8,
            day: d as u8,
        },
        printpdf::Time {
            hour: h as u8,
            minute: mi as u8,
            second: s as u8,
            millisecond: 0,
        },
        printpdf::Offset {
            hours: 0,
            minutes: 0,
            seconds: 0,
            milliseconds: 0,
        },
    );
    let info = &mut doc.metadata.info;
    info.creation_date = when;
    info.modification_date = when;
    info.metadata_date = when;
    info.author = meta.author.clone();
    info.creator = "kiosk-render".to_owned();
    info.producer = "kiosk-render (printpdf 0.12)".to_owned();
    info.identifier = meta.issue_number.clone();
    info.subject = meta.issue_number.clone();

    let mut qr: Option<(Vec<Rect>, usize)> = None;
    let mut pages = Vec::with_capacity(layout.pages.len());
    for page in &layout.pages {
        let mut ops = Vec::new();
        // Backgrounds first, then rules, then the QR code, then all text in one BT..ET.
        let mut current_gray = None;
        for e in &page.elements {
            if let Element::Fill {
                x,
                y,
                w,
                h,
                gray: g,
            } = e
            {
                if current_gray != Some(*g) {
                    ops.push(Op::SetFillColor { col: gray(*g) });
                    current_gray = Some(*g);
                }
                ops.push(Op::DrawRectangle {
                    rectangle: Rect {
                        x: r(*x),
                        y: r(*y),
                        width: r(*w),
                        height: r(*h),
                        mode: Some(PaintMode::Fill),
                        winding_order: None,
                    },
                });
            }
        }
        ops.push(Op::SetOutlineColor { col: gray(0.0) });
        let mut current_width = None;
        for e in &page.elements {
            if let Element::Line {
                x1,
                y1,
                x2,
                y2,
                width,
            } = e
            {
                if current_width != Some(*width) {
                    ops.push(Op::SetOutlineThickness { pt: Pt(*width) });
                    current_width = Some(*width);
                }
                ops.push(Op::DrawLine {
                    line: Line {
                        points: vec![
                            LinePoint {
                                p: pt(*x1, *y1),
                                bezier: false,
                            },
                            LinePoint {
                                p: pt(*x2, *y2),
                                bezier: false,
                            },
                        ],
                        is_closed: false,
                    },
                });
            }
        }
        ops.push(Op::SetFillColor { col: gray(0.0) });
        for e in &page.elements {
            if let Element::Qr { x, y, size } = e {
                if qr.is_none() {
                    qr = Some(qr_runs(payload)?);
                }
                if let Some((runs, n)) = &qr {
                    // Draw in module units: small integers keep the stream short.
                    let m = size / (n + 2 * QR_QUIET_MODULES) as f32;
                    let origin = QR_QUIET_MODULES as f32 * m;
                    ops.push(Op::SaveGraphicsState);
                    ops.push(Op::SetTransformationMatrix {
                        matrix: CurTransMat::Raw([m, 0.0, 0.0, m, x + origin, y + origin]),
                    });
                    ops.extend(runs.iter().map(|r| Op::DrawRectangle {
                        rectangle: r.clone(),
                    }));
                    ops.push(Op::RestoreGraphicsState);
                }
            }
        }
        ops.push(Op::StartTextSection);
        let mut size_now = None;
        let mut bold_now = false;
        for e in &page.elements {
            if let Element::Text {
                x,
                y,
                size,
                text,
                bold,
                ..
            } = e
            {
                if size_now != Some(*size) {
                    ops.push(Op::SetFont {
                        font: PdfFontHandle::External(font_id.clone()),
                        size: r(*size),
                    });
                    size_now = Some(*size);
                }
                if *bold != bold_now {
                    if *bold {
                        ops.push(Op::SetOutlineThickness { pt: Pt(0.4) });
                    }
                    ops.push(Op::SetTextRenderingMode {
                        mode: if *bold {
                            TextRenderingMode::FillStroke
                        } else {
                            TextRenderingMode::Fill
                        },
                    });
                    bold_now = *bold;
                }
                ops.push(Op::SetTextMatrix {
                    matrix: TextMatrix::Translate(r(*x), r(*y)),
                });
                ops.push(Op::ShowText {
                    items: vec![TextItem::Text(text.clone())],
                });
            }
        }
        ops.push(Op::EndTextSection);
        pages.push(PdfPage::new(
            printpdf::Mm::from(Pt(PAGE_W)),
            printpdf::Mm::from(Pt(PAGE_H)),
            ops,
        ));
    }
    doc.with_pages(pages);

    let opts = PdfSaveOptions {
        optimize: true,
        subset_fonts: false,
        secure: true,
        image_optimization: None,
    };
    let mut warnings = Vec::new();
    let mut lo = doc.to_lopdf_document(&opts, &mut warnings);
    // A stable file identifier: the document digest, issue number and page count.
    let mut h = Sha256::new();
    h.update(meta.digest);
    h.update(meta.issue_number.as_bytes());
    h.update(meta.issued_at.unix().to_be_bytes());
    h.update((layout.pages.len() as u64).to_be_bytes());
    let id = h.finalize()[..16].to_vec();
    lo.trailer.set(
        "ID",
        Object::Array(vec![
            Object::String(id.clone(), lopdf::StringFormat::Hexadecimal),
            Object::String(id, lopdf::StringFormat::Hexadecimal),
        ]),
    );
    compress_streams(&mut lo)?;
    let mut out = Vec::new();
    lo.save_to(&mut out)
        .map_err(|e| RenderError::Pdf(e.to_string()))?;
    Ok(out)
}
