//! A TrueType subsetter for the one job the certificates need: a `glyf` font program
//! holding only the glyphs one document uses, addressed by glyph id (PDF CIDFontType2).
//!
//! allsorts' general subsetter re-parsed the whole 4 MB `glyf` table and walked the whole
//! `cmap` on every document (about a quarter of the time of a one-page certificate). Here the
//! table directory and `loca` are read once, at font load, and a subset copies the bytes
//! of the chosen glyphs (following composite glyphs to their components, whose ids it
//! renumbers) plus the tables a TrueType rasterizer needs: `head`, `hhea`, `hmtx`, `maxp`,
//! `loca`, `glyf`, the hinting programs `cvt `, `fpgm`, `prep`, and a `post` without glyph
//! names. No `cmap`, `name` or `OS/2`: the PDF addresses glyphs by id and carries the text
//! in its ToUnicode CMap.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use crate::error::FontError;

fn tag(t: &[u8; 4]) -> u32 {
    u32::from_be_bytes(*t)
}

fn err(what: &str) -> FontError {
    FontError::Subset(what.to_owned())
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, FontError> {
    b.get(at..at + 2)
        .map(|s| u16::from_be_bytes([s[0], s[1]]))
        .ok_or_else(|| err("truncated font data"))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, FontError> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| err("truncated font data"))
}

/// Composite glyph flags (OpenType `glyf`).
const ARG_1_AND_2_ARE_WORDS: u16 = 0x0001;
const WE_HAVE_A_SCALE: u16 = 0x0008;
const MORE_COMPONENTS: u16 = 0x0020;
const WE_HAVE_AN_X_AND_Y_SCALE: u16 = 0x0040;
const WE_HAVE_A_TWO_BY_TWO: u16 = 0x0080;

/// Where the tables and glyphs of a font file are, read once.
#[derive(Debug, Clone)]
pub(crate) struct SfntIndex {
    tables: BTreeMap<u32, Range<usize>>,
    /// Byte range of each glyph inside the file (empty for blank glyphs).
    glyphs: Vec<Range<usize>>,
    num_h_metrics: usize,
}

impl SfntIndex {
    /// Reads the table directory and `loca` of a single-face TrueType file.
    pub fn read(b: &[u8]) -> Result<SfntIndex, FontError> {
        let version = u32_at(b, 0)?;
        if version != 0x0001_0000 && version != tag(b"true") {
            return Err(err("not a single TrueType font"));
        }
        let n = usize::from(u16_at(b, 4)?);
        let mut tables = BTreeMap::new();
        for i in 0..n {
            let rec = 12 + 16 * i;
            let t = u32_at(b, rec)?;
            let off = u32_at(b, rec + 8)? as usize;
            let len = u32_at(b, rec + 12)? as usize;
            let end = off.checked_add(len).filter(|&e| e <= b.len());
            let end = end.ok_or_else(|| err("table beyond the end of the file"))?;
            tables.insert(t, off..end);
        }
        let table = |t: &[u8; 4]| {
            tables
                .get(&tag(t))
                .cloned()
                .ok_or_else(|| err("missing a required table"))
        };
        let head = table(b"head")?;
        let maxp = table(b"maxp")?;
        let hhea = table(b"hhea")?;
        let loca = table(b"loca")?;
        let glyf = table(b"glyf")?;
        let long = u16_at(b, head.start + 50)? == 1;
        let num_glyphs = usize::from(u16_at(b, maxp.start + 4)?);
        let num_h_metrics = usize::from(u16_at(b, hhea.start + 34)?);
        if num_h_metrics == 0 || num_h_metrics > num_glyphs {
            return Err(err("bad hhea numberOfHMetrics"));
        }
        let offset = |g: usize| -> Result<usize, FontError> {
            if long {
                Ok(u32_at(b, loca.start + 4 * g)? as usize)
            } else {
                Ok(2 * usize::from(u16_at(b, loca.start + 2 * g)?))
            }
        };
        let mut glyphs = Vec::with_capacity(num_glyphs);
        let mut start = offset(0)?;
        for g in 0..num_glyphs {
            let end = offset(g + 1)?;
            if end < start || glyf.start + end > glyf.end {
                return Err(err("bad loca table"));
            }
            glyphs.push(glyf.start + start..glyf.start + end);
            start = end;
        }
        Ok(SfntIndex {
            tables,
            glyphs,
            num_h_metrics,
        })
    }

    fn table<'a>(&self, b: &'a [u8], t: &[u8; 4]) -> Option<&'a [u8]> {
        self.tables.get(&tag(t)).and_then(|r| b.get(r.clone()))
    }

    /// The glyph ids a composite glyph refers to, with the byte offsets (inside the glyph)
    /// of each id. Empty for a simple or blank glyph.
    fn components(&self, b: &[u8], gid: u16) -> Result<Vec<(usize, u16)>, FontError> {
        let r = self
            .glyphs
            .get(usize::from(gid))
            .cloned()
            .ok_or_else(|| err("glyph id out of range"))?;
        let g = &b[r];
        if g.len() < 10 || (u16_at(g, 0)? as i16) >= 0 {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut p = 10;
        loop {
            let flags = u16_at(g, p)?;
            out.push((p + 2, u16_at(g, p + 2)?));
            p += 4 + if flags & ARG_1_AND_2_ARE_WORDS != 0 {
                4
            } else {
                2
            };
            p += if flags & WE_HAVE_A_SCALE != 0 {
                2
            } else if flags & WE_HAVE_AN_X_AND_Y_SCALE != 0 {
                4
            } else if flags & WE_HAVE_A_TWO_BY_TWO != 0 {
                8
            } else {
                0
            };
            if flags & MORE_COMPONENTS == 0 || out.len() > 256 {
                return Ok(out);
            }
        }
    }

    /// Builds the subset holding `gids` (and `.notdef`, and every component of a composite
    /// glyph). Returns the font program and the old glyph id of each new id, in order:
    /// new id `i` is old id `order[i]`, and `order` is ascending, so `.notdef` stays 0.
    pub fn subset(&self, b: &[u8], gids: &[u16]) -> Result<(Vec<u8>, Vec<u16>), FontError> {
        let mut keep: BTreeSet<u16> = gids.iter().copied().collect();
        keep.insert(0);
        let mut todo: Vec<u16> = keep.iter().copied().collect();
        while let Some(g) = todo.pop() {
            for (_, c) in self.components(b, g)? {
                if keep.insert(c) {
                    todo.push(c);
                }
            }
        }
        let order: Vec<u16> = keep.into_iter().collect();
        let new_id: BTreeMap<u16, u16> = order
            .iter()
            .enumerate()
            .map(|(i, &g)| (g, i as u16))
            .collect();

        // glyf and (long) loca, each glyph padded to 4 bytes.
        let mut glyf = Vec::new();
        let mut loca = Vec::with_capacity(4 * (order.len() + 1));
        for &g in &order {
            loca.extend_from_slice(&(glyf.len() as u32).to_be_bytes());
            let r = self.glyphs[usize::from(g)].clone();
            let start = glyf.len();
            glyf.extend_from_slice(&b[r]);
            for (at, c) in self.components(b, g)? {
                let n = new_id
                    .get(&c)
                    .copied()
                    .ok_or_else(|| err("lost component"))?;
                glyf[start + at..start + at + 2].copy_from_slice(&n.to_be_bytes());
            }
            glyf.resize(glyf.len().next_multiple_of(4), 0);
        }
        loca.extend_from_slice(&(glyf.len() as u32).to_be_bytes());

        // Every glyph gets a full (advance, left side bearing) pair.
        let hmtx_in = self.table(b, b"hmtx").ok_or_else(|| err("missing hmtx"))?;
        let nhm = self.num_h_metrics;
        let mut hmtx = Vec::with_capacity(4 * order.len());
        for &g in &order {
            let g = usize::from(g);
            let (adv, lsb) = if g < nhm {
                (u16_at(hmtx_in, 4 * g)?, u16_at(hmtx_in, 4 * g + 2)?)
            } else {
                (
                    u16_at(hmtx_in, 4 * (nhm - 1))?,
                    u16_at(hmtx_in, 4 * nhm + 2 * (g - nhm))?,
                )
            };
            hmtx.extend_from_slice(&adv.to_be_bytes());
            hmtx.extend_from_slice(&lsb.to_be_bytes());
        }
        let count = order.len() as u16;
        let copy = |t: &[u8; 4]| self.table(b, t).map(<[u8]>::to_vec);
        let mut head = copy(b"head").ok_or_else(|| err("missing head"))?;
        let mut hhea = copy(b"hhea").ok_or_else(|| err("missing hhea"))?;
        let mut maxp = copy(b"maxp").ok_or_else(|| err("missing maxp"))?;
        if head.len() < 54 || hhea.len() < 36 || maxp.len() < 6 {
            return Err(err("short head, hhea or maxp table"));
        }
        head[8..12].copy_from_slice(&[0; 4]); // checkSumAdjustment, set below
        head[50..52].copy_from_slice(&1u16.to_be_bytes()); // long loca
        hhea[34..36].copy_from_slice(&count.to_be_bytes());
        maxp[4..6].copy_from_slice(&count.to_be_bytes());
        let post = copy(b"post").map(|mut p| {
            // Version 3: no glyph names (they would name the original ids).
            p.truncate(32);
            p.resize(32, 0);
            p[0..4].copy_from_slice(&0x0003_0000u32.to_be_bytes());
            p
        });

        let mut tables: Vec<(u32, Vec<u8>)> = vec![
            (tag(b"glyf"), glyf),
            (tag(b"head"), head),
            (tag(b"hhea"), hhea),
            (tag(b"hmtx"), hmtx),
            (tag(b"loca"), loca),
            (tag(b"maxp"), maxp),
        ];
        for t in [b"cvt ", b"fpgm", b"prep"] {
            if let Some(v) = copy(t) {
                tables.push((tag(t), v));
            }
        }
        if let Some(p) = post {
            tables.push((tag(b"post"), p));
        }
        tables.sort_by_key(|(t, _)| *t);
        Ok((write_sfnt(&tables), order))
    }
}

fn checksum(data: &[u8]) -> u32 {
    data.chunks(4).fold(0u32, |sum, c| {
        let mut w = [0u8; 4];
        w[..c.len()].copy_from_slice(c);
        sum.wrapping_add(u32::from_be_bytes(w))
    })
}

/// Writes a font file from tables sorted by tag, and sets `head.checkSumAdjustment`.
fn write_sfnt(tables: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let n = tables.len() as u16;
    let pow = 1u16 << (15 - n.leading_zeros().min(15));
    let mut out = Vec::new();
    out.extend_from_slice(&0x0001_0000u32.to_be_bytes());
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(&(pow * 16).to_be_bytes());
    out.extend_from_slice(&(pow.trailing_zeros() as u16).to_be_bytes());
    out.extend_from_slice(&(n * 16 - pow * 16).to_be_bytes());
    let mut offset = 12 + 16 * tables.len();
    let mut head_at = None;
    for (t, data) in tables {
        out.extend_from_slice(&t.to_be_bytes());
        out.extend_from_slice(&checksum(data).to_be_bytes());
        out.extend_from_slice(&(offset as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        if *t == tag(b"head") {
            head_at = Some(offset);
        }
        offset += data.len().next_multiple_of(4);
    }
    for (_, data) in tables {
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    if let Some(h) = head_at {
        let adj = 0xB1B0_AFBAu32.wrapping_sub(checksum(&out));
        out[h + 8..h + 12].copy_from_slice(&adj.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_header_fields() {
        let t: Vec<(u32, Vec<u8>)> = (0..9).map(|i| (i, vec![1, 2, 3])).collect();
        let f = write_sfnt(&t);
        assert_eq!(u16_at(&f, 4).unwrap(), 9);
        assert_eq!(u16_at(&f, 6).unwrap(), 128); // 8 * 16
        assert_eq!(u16_at(&f, 8).unwrap(), 3);
        assert_eq!(u16_at(&f, 10).unwrap(), 16); // 9 * 16 - 128
        assert_eq!(f.len(), 12 + 16 * 9 + 4 * 9);
    }

    #[test]
    fn checksum_pads_with_zeros() {
        assert_eq!(checksum(&[0, 0, 0, 1, 1]), 1 + 0x0100_0000);
    }
}
