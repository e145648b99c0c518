//! The Korean font: loaded and measured once, subset per document.
//!
//! printpdf 0.12 without its `text_layout` feature embeds whole fonts (about 4.7 MB for
//! NanumGothic). We parse the font once with `allsorts` (character map, advance widths,
//! metrics) and index its glyphs ([`crate::sfnt`]), measure text with its advance widths,
//! and for each document cut a subset holding only the glyphs that document uses; printpdf
//! then embeds that subset and writes the ToUnicode CMap from our character-to-glyph map,
//! so text stays extractable.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use allsorts::binary::read::ReadScope;
use allsorts::font_data::FontData;
use allsorts::tables::cmap::Cmap;
use allsorts::tables::{FontTableProvider, HeadTable, HheaTable, HmtxTable, MaxpTable};
use allsorts::tag;
use sha2::{Digest, Sha256};

use crate::error::FontError;
use crate::sfnt::SfntIndex;

/// Where Debian's `fonts-nanum` package puts NanumGothic (OFL).
pub const DEFAULT_FONT_PATH: &str = "/usr/share/fonts/truetype/nanum/NanumGothic.ttf";

/// PostScript family name used for the embedded subset (after its `ABCDEF+` tag).
const FAMILY: &str = "NanumGothic";

/// A TrueType font parsed once: glyph map, advance widths and vertical metrics.
///
/// Cheap to share: the bytes are reference-counted and the tables are plain maps.
#[derive(Clone)]
pub struct KioskFont {
    bytes: Arc<[u8]>,
    path: PathBuf,
    cmap: HashMap<char, u16>,
    advances: Vec<u16>,
    units_per_em: u16,
    ascent: i16,
    descent: i16,
    bbox: [i16; 4],
    caret_slope: (i16, i16),
    /// Table directory and glyph offsets, for subsetting without re-parsing.
    index: Arc<SfntIndex>,
}

impl std::fmt::Debug for KioskFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KioskFont")
            .field("path", &self.path)
            .field("bytes", &self.bytes.len())
            .field("glyphs", &self.advances.len())
            .finish()
    }
}

/// A per-document subset of the font, ready to embed.
pub(crate) struct FontSubset {
    /// The subset TrueType program.
    pub bytes: Vec<u8>,
    /// `ABCDEF+NanumGothic`: the tag is derived from the glyph set, so it is stable.
    pub name: String,
    /// Character -> glyph id in the subset.
    pub char_to_gid: BTreeMap<u32, u16>,
    /// Subset glyph id -> advance width in font units.
    pub widths: BTreeMap<u16, u16>,
}

impl KioskFont {
    /// Reads and parses a TrueType font file. Do this once per process.
    pub fn load(path: impl AsRef<Path>) -> Result<KioskFont, FontError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| FontError::Io {
            path: path.to_owned(),
            source,
        })?;
        KioskFont::from_bytes(bytes, path.to_owned())
    }

    /// Parses a TrueType font held in memory (`path` is only for messages).
    pub fn from_bytes(bytes: Vec<u8>, path: PathBuf) -> Result<KioskFont, FontError> {
        let perr = |what: &str| FontError::Parse(format!("{}: {what}", path.display()));
        let data = ReadScope::new(&bytes)
            .read::<FontData<'_>>()
            .map_err(|_| perr("not an OpenType/TrueType file"))?;
        let provider = data.table_provider(0).map_err(|_| perr("no font face"))?;
        if !provider.has_table(tag::GLYF) {
            return Err(perr("only TrueType (glyf) outlines are supported"));
        }
        let table = |t: u32, name: &str| {
            provider
                .read_table_data(t)
                .map(|d| d.into_owned())
                .map_err(|_| perr(&format!("missing {name} table")))
        };
        let head_data = table(tag::HEAD, "head")?;
        let head = ReadScope::new(&head_data)
            .read::<HeadTable>()
            .map_err(|_| perr("bad head table"))?;
        let maxp_data = table(tag::MAXP, "maxp")?;
        let maxp = ReadScope::new(&maxp_data)
            .read::<MaxpTable>()
            .map_err(|_| perr("bad maxp table"))?;
        let hhea_data = table(tag::HHEA, "hhea")?;
        let hhea = ReadScope::new(&hhea_data)
            .read::<HheaTable>()
            .map_err(|_| perr("bad hhea table"))?;
        let hmtx_data = table(tag::HMTX, "hmtx")?;
        let hmtx = ReadScope::new(&hmtx_data)
            .read_dep::<HmtxTable<'_>>((
                usize::from(maxp.num_glyphs),
                usize::from(hhea.num_h_metrics),
            ))
            .map_err(|_| perr("bad hmtx table"))?;
        let advances = (0..maxp.num_glyphs)
            .map(|g| hmtx.horizontal_advance(g).unwrap_or(0))
            .collect::<Vec<u16>>();

        let cmap_data = table(tag::CMAP, "cmap")?;
        let cmap_table = ReadScope::new(&cmap_data)
            .read::<Cmap<'_>>()
            .map_err(|_| perr("bad cmap table"))?;
        let (_, sub) = allsorts::font::read_cmap_subtable(&cmap_table)
            .ok()
            .flatten()
            .ok_or_else(|| perr("no Unicode cmap"))?;
        let mut cmap = HashMap::new();
        sub.mappings_fn(|cp, gid| {
            if gid != 0
                && let Some(c) = char::from_u32(cp)
            {
                cmap.insert(c, gid);
            }
        })
        .map_err(|_| perr("bad cmap subtable"))?;
        if head.units_per_em == 0 {
            return Err(perr("units per em is zero"));
        }
        drop(provider);
        let index = SfntIndex::read(&bytes).map_err(|e| perr(&e.to_string()))?;
        Ok(KioskFont {
            index: Arc::new(index),
            bytes: Arc::from(bytes),
            path,
            cmap,
            advances,
            units_per_em: head.units_per_em,
            ascent: hhea.ascender,
            descent: hhea.descender,
            bbox: [head.x_min, head.y_min, head.x_max, head.y_max],
            caret_slope: (hhea.caret_slope_rise, hhea.caret_slope_run),
        })
    }

    /// Size of the whole font file in bytes (what an unsubset PDF would carry).
    pub fn file_size(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the font can draw `c`.
    pub fn covers(&self, c: char) -> bool {
        c == ' ' || self.cmap.contains_key(&c)
    }

    fn gid(&self, c: char) -> u16 {
        self.cmap.get(&c).copied().unwrap_or(0)
    }

    /// Advance width of `text` at `size` points, in points (no kerning: the PDF carries none).
    pub fn width(&self, text: &str, size: f32) -> f32 {
        let units: u32 = text
            .chars()
            .map(|c| {
                u32::from(
                    self.advances
                        .get(usize::from(self.gid(c)))
                        .copied()
                        .unwrap_or(0),
                )
            })
            .sum();
        units as f32 * size / f32::from(self.units_per_em)
    }

    /// Ascent above the baseline at `size`, in points.
    pub fn ascent(&self, size: f32) -> f32 {
        f32::from(self.ascent) * size / f32::from(self.units_per_em)
    }

    /// Descent below the baseline at `size`, in points (a positive number).
    pub fn descent(&self, size: f32) -> f32 {
        -f32::from(self.descent) * size / f32::from(self.units_per_em)
    }

    /// Breaks `text` into lines no wider than `max_width` at `size`.
    ///
    /// Breaks at spaces where it can (Korean is spaced by word phrase, 어절) and inside a
    /// word only when the word alone is wider than the line. Template text may contain
    /// `\n` for hard breaks. Never returns an empty vector.
    pub fn wrap(&self, text: &str, size: f32, max_width: f32) -> Vec<String> {
        let mut out = Vec::new();
        let space = self.width(" ", size);
        for para in text.split('\n') {
            let mut line = String::new();
            let mut line_w = 0.0f32;
            for word in para.split(' ').filter(|w| !w.is_empty()) {
                let w = self.width(word, size);
                let extra = if line.is_empty() { w } else { space + w };
                if line_w + extra <= max_width {
                    if !line.is_empty() {
                        line.push(' ');
                    }
                    line.push_str(word);
                    line_w += extra;
                    continue;
                }
                if !line.is_empty() {
                    out.push(std::mem::take(&mut line));
                    line_w = 0.0;
                }
                if w <= max_width {
                    line.push_str(word);
                    line_w = w;
                    continue;
                }
                // A word wider than the line: break between characters.
                for c in word.chars() {
                    let cw = self.width(c.encode_utf8(&mut [0; 4]), size);
                    if line_w + cw > max_width && !line.is_empty() {
                        out.push(std::mem::take(&mut line));
                        line_w = 0.0;
                    }
                    line.push(c);
                    line_w += cw;
                }
            }
            out.push(line);
        }
        out
    }

    /// Cuts the subset holding exactly the glyphs of `chars` (plus `.notdef` and the
    /// components of composite glyphs: most Hangul syllables of NanumGothic are built from
    /// jamo glyphs).
    pub(crate) fn subset(&self, chars: &BTreeSet<char>) -> Result<FontSubset, FontError> {
        let gids: Vec<u16> = chars
            .iter()
            .map(|&c| self.gid(c))
            .filter(|&g| g != 0)
            .collect();
        let (bytes, order) = self.index.subset(&self.bytes, &gids)?;
        let new_id: HashMap<u16, u16> = order
            .iter()
            .enumerate()
            .map(|(i, &g)| (g, i as u16))
            .collect();
        let mut char_to_gid = BTreeMap::new();
        for &c in chars {
            let g = self.gid(c);
            if let Some(&n) = new_id.get(&g)
                && g != 0
            {
                char_to_gid.insert(c as u32, n);
            }
        }
        let widths = order
            .iter()
            .enumerate()
            .map(|(i, &g)| {
                (
                    i as u16,
                    self.advances.get(usize::from(g)).copied().unwrap_or(0),
                )
            })
            .collect();
        let digest = Sha256::digest(
            order
                .iter()
                .flat_map(|g| g.to_be_bytes())
                .collect::<Vec<u8>>(),
        );
        let tag: String = digest[..6]
            .iter()
            .map(|b| char::from(b'A' + b % 26))
            .collect();
        Ok(FontSubset {
            bytes,
            name: format!("{tag}+{FAMILY}"),
            char_to_gid,
            widths,
        })
    }

    /// The subset as allsorts' general subsetter cuts it: the reference the own subsetter
    /// is checked against.
    #[cfg(test)]
    pub(crate) fn subset_with_allsorts(
        &self,
        chars: &BTreeSet<char>,
    ) -> Result<FontSubset, FontError> {
        use allsorts::subset::{CmapTarget, SubsetProfile, subset};
        let mut gids: Vec<u16> = chars
            .iter()
            .map(|&c| self.gid(c))
            .filter(|&g| g != 0)
            .collect();
        gids.sort_unstable();
        gids.dedup();
        gids.insert(0, 0);
        let data = ReadScope::new(&self.bytes)
            .read::<FontData<'_>>()
            .map_err(|e| FontError::Subset(e.to_string()))?;
        let provider = data
            .table_provider(0)
            .map_err(|e| FontError::Subset(e.to_string()))?;
        let profile = SubsetProfile::Custom(vec![
            tag::HEAD,
            tag::HHEA,
            tag::HMTX,
            tag::MAXP,
            tag::POST,
            tag::CVT,
            tag::FPGM,
            tag::PREP,
        ]);
        let bytes = subset(&provider, &gids, &profile, CmapTarget::Unrestricted)
            .map_err(|e| FontError::Subset(e.to_string()))?;
        let char_to_gid = chars
            .iter()
            .filter_map(|&c| {
                let g = self.gid(c);
                let i = gids.iter().position(|&x| x == g)?;
                (g != 0).then_some((c as u32, i as u16))
            })
            .collect();
        let widths = gids
            .iter()
            .enumerate()
            .map(|(i, &g)| (i as u16, self.advances[usize::from(g)]))
            .collect();
        Ok(FontSubset {
            bytes,
            name: "AAAAAA+NanumGothic".into(),
            char_to_gid,
            widths,
        })
    }

    /// printpdf's font object for a subset (its no-`text_layout` representation).
    pub(crate) fn to_printpdf(&self, s: FontSubset) -> printpdf::ParsedFont {
        printpdf::ParsedFont {
            original_bytes: s.bytes,
            font_index: 0,
            font_name: Some(s.name),
            codepoint_to_glyph: s.char_to_gid,
            glyph_widths: s.widths,
            units_per_em: self.units_per_em,
            font_metrics: printpdf::FontMetrics {
                ascent: self.ascent,
                descent: self.descent,
            },
            font_type: printpdf::FontType::TrueType,
            pdf_font_metrics: printpdf::PdfFontMetricsStub {
                units_per_em: self.units_per_em,
                x_min: self.bbox[0],
                y_min: self.bbox[1],
                x_max: self.bbox[2],
                y_max: self.bbox[3],
                caret_slope_rise: self.caret_slope.0,
                caret_slope_run: self.caret_slope.1,
                us_weight_class: 400,
            },
        }
    }
}
