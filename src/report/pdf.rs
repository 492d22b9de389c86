//! A small drawing surface over printpdf: millimetres measured from the top-left
//! corner (how a sheet is designed), two embedded fonts, text measurement for
//! fitting, rules, boxes and vector QR codes.

use std::sync::OnceLock;

use printpdf::{
    Color, Line, LinePoint, Mm, Op, PaintMode, ParsedFont, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Pt, Rect, Rgb, TextItem,
};

use super::ReportError;

/// DejaVu Sans: labels and prose. Embedded whole (see docs/ledger.md, "Fonts").
const SANS_TTF: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// DejaVu Sans Mono: values, hashes and PINs; fixed width, 0/O and 1/l/I distinct.
const MONO_TTF: &[u8] = include_bytes!("../../assets/fonts/DejaVuSansMono.ttf");

/// Paper sizes in millimetres.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Paper {
    #[default]
    A4,
    Letter,
}

impl Paper {
    pub fn size_mm(self) -> (f32, f32) {
        match self {
            Paper::A4 => (210.0, 297.0),
            Paper::Letter => (215.9, 279.4),
        }
    }
}

impl std::str::FromStr for Paper {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "a4" => Ok(Paper::A4),
            "letter" => Ok(Paper::Letter),
            _ => Err(format!("unknown paper '{s}' (use a4 or letter)")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Face {
    Sans,
    Mono,
}

struct Fonts {
    sans: ParsedFont,
    mono: ParsedFont,
}

fn fonts() -> Result<&'static Fonts, ReportError> {
    static FONTS: OnceLock<Option<Fonts>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let sans = ParsedFont::from_bytes(SANS_TTF, 0, &mut Vec::new())?;
            let mono = ParsedFont::from_bytes(MONO_TTF, 0, &mut Vec::new())?;
            Some(Fonts { sans, mono })
        })
        .as_ref()
        .ok_or(ReportError::Font)
}

/// An sRGB colour, components 0..=1.
pub type Rgb3 = (f32, f32, f32);

pub const BLACK: Rgb3 = (0.0, 0.0, 0.0);
pub const GREY: Rgb3 = (0.45, 0.45, 0.45);
pub const LIGHT: Rgb3 = (0.92, 0.92, 0.92);
pub const RED: Rgb3 = (0.75, 0.0, 0.0);
pub const PINK: Rgb3 = (1.0, 0.86, 0.86);
pub const GREEN: Rgb3 = (0.0, 0.45, 0.1);

fn color((r, g, b): Rgb3) -> Color {
    Color::Rgb(Rgb::new(r, g, b, None))
}

/// A multi-page document being drawn.
pub struct Doc {
    doc: PdfDocument,
    sans: PdfFontHandle,
    mono: PdfFontHandle,
    fonts: &'static Fonts,
    pub width: f32,
    pub height: f32,
    pages: Vec<Vec<Op>>,
}

impl Doc {
    pub fn new(title: &str, paper: Paper) -> Result<Doc, ReportError> {
        let fonts = fonts()?;
        let mut doc = PdfDocument::new(title);
        let sans = PdfFontHandle::External(doc.add_font(&fonts.sans));
        let mono = PdfFontHandle::External(doc.add_font(&fonts.mono));
        let (width, height) = paper.size_mm();
        Ok(Doc {
            doc,
            sans,
            mono,
            fonts,
            width,
            height,
            pages: Vec::new(),
        })
    }

    /// Start a new page; later drawing goes there.
    pub fn new_page(&mut self) {
        self.pages.push(Vec::new());
    }

    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// Draw on page `index` (0-based) instead of the current one; used for footers.
    fn ops_of(&mut self, index: usize) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let i = index.min(self.pages.len() - 1);
        &mut self.pages[i]
    }

    fn ops(&mut self) -> &mut Vec<Op> {
        let last = self.pages.len().saturating_sub(1);
        self.ops_of(last)
    }

    fn pt(&self, x: f32, y_from_top: f32) -> Point {
        Point::new(Mm(x), Mm(self.height - y_from_top))
    }

    /// Width of `s` in millimetres at `size` points.
    pub fn width_mm(&self, face: Face, size: f32, s: &str) -> f32 {
        let f = match face {
            Face::Sans => &self.fonts.sans,
            Face::Mono => &self.fonts.mono,
        };
        let upem = f32::from(f.units_per_em.max(1));
        let units: f32 = s
            .chars()
            .map(|c| {
                f.lookup_glyph_index(c as u32)
                    .and_then(|g| f.get_glyph_width(g))
                    .map_or(upem * 0.6, f32::from)
            })
            .sum();
        units / upem * size * 25.4 / 72.0
    }

    /// `s`, shortened with "…" so it fits in `max_mm`.
    pub fn fit(&self, face: Face, size: f32, s: &str, max_mm: f32) -> String {
        if self.width_mm(face, size, s) <= max_mm {
            return s.to_string();
        }
        let mut chars: Vec<char> = s.chars().collect();
        while !chars.is_empty() {
            chars.pop();
            let t: String = chars.iter().collect::<String>() + "…";
            if self.width_mm(face, size, &t) <= max_mm {
                return t;
            }
        }
        String::new()
    }

    /// `s` broken into lines no wider than `max_mm`: at spaces (and at line breaks
    /// in `s`); a single word wider than a line is split between characters.
    /// Nothing is dropped: the lines joined hold every word of `s`.
    pub fn wrap(&self, face: Face, size: f32, s: &str, max_mm: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for paragraph in s.lines() {
            let mut line = String::new();
            for word in paragraph.split_whitespace() {
                let candidate = if line.is_empty() {
                    word.to_string()
                } else {
                    format!("{line} {word}")
                };
                if self.width_mm(face, size, &candidate) <= max_mm {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                // The word alone: split it if it is wider than a line.
                for c in word.chars() {
                    line.push(c);
                    if self.width_mm(face, size, &line) > max_mm && line.chars().count() > 1 {
                        line.pop();
                        lines.push(std::mem::take(&mut line));
                        line.push(c);
                    }
                }
            }
            if !line.is_empty() {
                lines.push(line);
            }
        }
        lines
    }

    /// Text with its baseline at `y` (mm from the top).
    pub fn text(&mut self, face: Face, size: f32, x: f32, y: f32, s: &str) {
        self.text_on(None, face, size, x, y, s, BLACK);
    }

    pub fn text_color(&mut self, face: Face, size: f32, x: f32, y: f32, s: &str, rgb: Rgb3) {
        self.text_on(None, face, size, x, y, s, rgb);
    }

    #[allow(clippy::too_many_arguments)]
    fn text_on(
        &mut self,
        page: Option<usize>,
        face: Face,
        size: f32,
        x: f32,
        y: f32,
        s: &str,
        rgb: Rgb3,
    ) {
        let font = match face {
            Face::Sans => self.sans.clone(),
            Face::Mono => self.mono.clone(),
        };
        let pos = self.pt(x, y);
        let ops = match page {
            Some(i) => self.ops_of(i),
            None => self.ops(),
        };
        ops.extend([
            Op::StartTextSection,
            Op::SetFillColor { col: color(rgb) },
            Op::SetTextCursor { pos },
            Op::SetFont {
                font,
                size: Pt(size),
            },
            Op::ShowText {
                items: vec![TextItem::Text(s.to_string())],
            },
            Op::EndTextSection,
        ]);
    }

    /// Text on a given page (footers are drawn once the page count is known).
    pub fn text_on_page(&mut self, page: usize, face: Face, size: f32, x: f32, y: f32, s: &str) {
        self.text_on(Some(page), face, size, x, y, s, BLACK);
    }

    pub fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, thickness_pt: f32) {
        let (a, b) = (self.pt(x1, y1), self.pt(x2, y2));
        let ops = self.ops();
        ops.push(Op::SetOutlineColor { col: color(BLACK) });
        ops.push(Op::SetOutlineThickness {
            pt: Pt(thickness_pt),
        });
        ops.push(Op::DrawLine {
            line: Line {
                points: vec![
                    LinePoint {
                        p: a,
                        bezier: false,
                    },
                    LinePoint {
                        p: b,
                        bezier: false,
                    },
                ],
                is_closed: false,
            },
        });
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, mode: PaintMode) -> Op {
        let p = self.pt(x, y + h);
        Op::DrawRectangle {
            rectangle: Rect {
                x: p.x,
                y: p.y,
                width: Mm(w).into(),
                height: Mm(h).into(),
                mode: Some(mode),
                winding_order: None,
            },
        }
    }

    /// A filled box, top-left at (x, y).
    pub fn fill(&mut self, x: f32, y: f32, w: f32, h: f32, rgb: Rgb3) {
        let r = self.rect(x, y, w, h, PaintMode::Fill);
        let ops = self.ops();
        ops.push(Op::SetFillColor { col: color(rgb) });
        ops.push(r);
    }

    /// A stroked box, top-left at (x, y).
    pub fn frame(&mut self, x: f32, y: f32, w: f32, h: f32, thickness_pt: f32) {
        let r = self.rect(x, y, w, h, PaintMode::Stroke);
        let ops = self.ops();
        ops.push(Op::SetOutlineColor { col: color(BLACK) });
        ops.push(Op::SetOutlineThickness {
            pt: Pt(thickness_pt),
        });
        ops.push(r);
    }

    /// A QR code (EC level M, 4-module quiet zone included in `size`), top-left at (x, y).
    /// Runs of dark modules become one rectangle each, and identical runs in
    /// consecutive rows are stacked into one taller rectangle: fewer operators
    /// (a faster, smaller PDF) and no hairline seams in viewers.
    pub fn qr(&mut self, x: f32, y: f32, size: f32, data: &str) -> Result<(), ReportError> {
        let (n, dark) = qr_modules(data)?;
        let m = size / (n as f32 + 8.0);
        // (first column, end column, top row, rows)
        let mut blocks: Vec<(usize, usize, usize, usize)> = Vec::new();
        let mut open: Vec<(usize, usize, usize, usize)> = Vec::new();
        for row in 0..n {
            let mut next_open = Vec::new();
            let mut col = 0;
            while col < n {
                if !dark[row * n + col] {
                    col += 1;
                    continue;
                }
                let start = col;
                while col < n && dark[row * n + col] {
                    col += 1;
                }
                match open.iter().position(|b| b.0 == start && b.1 == col) {
                    Some(i) => {
                        let mut b = open.swap_remove(i);
                        b.3 += 1;
                        next_open.push(b);
                    }
                    None => next_open.push((start, col, row, 1)),
                }
            }
            blocks.append(&mut open);
            open = next_open;
        }
        blocks.append(&mut open);
        let rects: Vec<Op> = blocks
            .iter()
            .map(|&(start, end, top, rows)| {
                let rx = x + (start as f32 + 4.0) * m;
                let ry = y + (top as f32 + 4.0) * m;
                self.rect(
                    rx,
                    ry,
                    (end - start) as f32 * m,
                    rows as f32 * m,
                    PaintMode::Fill,
                )
            })
            .collect();
        let ops = self.ops();
        ops.push(Op::SetFillColor { col: color(BLACK) });
        ops.extend(rects);
        Ok(())
    }

    /// Serialize. `identifier` goes into the PDF Info dictionary as plain text
    /// (glasskey puts the ledger head there for `ledger verify --sheet`).
    pub fn finish(mut self, identifier: &str) -> Vec<u8> {
        let (w, h) = (self.width, self.height);
        let pages: Vec<PdfPage> = std::mem::take(&mut self.pages)
            .into_iter()
            .map(|ops| PdfPage::new(Mm(w), Mm(h), ops))
            .collect();
        self.doc.metadata.info.identifier = identifier.to_string();
        self.doc.metadata.info.creator = "glasskey".into();
        self.doc.with_pages(pages);
        let bytes = self.doc.save(&PdfSaveOptions::default(), &mut Vec::new());
        self.wipe_text();
        bytes
    }

    /// Overwrite every text item still held by the document (the PIN slip's PIN).
    fn wipe_text(&mut self) {
        use zeroize::Zeroize;
        for page in &mut self.doc.pages {
            for op in &mut page.ops {
                if let Op::ShowText { items } = op {
                    for item in items {
                        if let TextItem::Text(s) = item {
                            s.zeroize();
                        }
                    }
                }
            }
        }
    }
}

/// Encode `data` as a QR code (EC level M); returns the width in modules and the
/// dark modules row by row (row 0 at the top).
///
/// qrcode's `apply_best_mask` scores all eight masks with the full ISO penalty
/// (about 2 ms per code, most of a 200-envelope sheet's time). Any mask is valid;
/// we score with the two rules that matter for print (long runs, dark balance),
/// which is cheap and still avoids degenerate patterns.
fn qr_modules(data: &str) -> Result<(usize, Vec<bool>), ReportError> {
    use qrcode::canvas::{Canvas, MaskPattern};
    let err = |e: qrcode::types::QrError| ReportError::Qr(e.to_string());
    let ec_level = qrcode::EcLevel::M;
    let bits = qrcode::bits::encode_auto(data.as_bytes(), ec_level).map_err(err)?;
    let version = bits.version();
    let bytes = bits.into_bytes();
    let (codewords, ec) =
        qrcode::ec::construct_codewords(&bytes, version, ec_level).map_err(err)?;
    let mut canvas = Canvas::new(version, ec_level);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&codewords, &ec);
    let n = usize::try_from(version.width()).map_err(|_| ReportError::Qr("bad width".into()))?;
    let masks = [
        MaskPattern::Checkerboard,
        MaskPattern::HorizontalLines,
        MaskPattern::VerticalLines,
        MaskPattern::DiagonalLines,
        MaskPattern::LargeCheckerboard,
        MaskPattern::Fields,
        MaskPattern::Diamonds,
        MaskPattern::Meadow,
    ];
    let mut best: Option<(u32, Vec<bool>)> = None;
    for mask in masks {
        let mut c = canvas.clone();
        c.apply_mask(mask);
        let dark: Vec<bool> = c
            .into_colors()
            .into_iter()
            .map(|m| m == qrcode::Color::Dark)
            .collect();
        let score = print_penalty(n, &dark);
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((score, dark));
        }
    }
    best.map(|(_, d)| (n, d))
        .ok_or_else(|| ReportError::Qr("no mask".into()))
}

/// ISO 18004 penalty rules 1 (runs of 5+ same-colour modules) and 4 (dark share).
fn print_penalty(n: usize, dark: &[bool]) -> u32 {
    let mut score = 0u32;
    for line in 0..n {
        for horizontal in [true, false] {
            let at = |i: usize| {
                if horizontal {
                    dark[line * n + i]
                } else {
                    dark[i * n + line]
                }
            };
            let mut run = 1;
            for i in 1..n {
                if at(i) == at(i - 1) {
                    run += 1;
                } else {
                    if run >= 5 {
                        score += run - 2;
                    }
                    run = 1;
                }
            }
            if run >= 5 {
                score += run - 2;
            }
        }
    }
    let share = dark.iter().filter(|d| **d).count() * 100 / dark.len().max(1);
    score + (share.abs_diff(50) as u32 / 5) * 10
}
