//! Seeded synthetic data for any template: demos, `kioskctl render`, tests, benchmarks.
//!
//! Everything here is fake (names like 홍길동, made-up numbers); no real person's data.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use kiosk_core::{DocCode, IssueNumber};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use crate::engine::{IssuedAt, RenderRequest, RenderedDocument, Renderer};
use crate::error::RenderError;
use crate::template::{Block, Fake, FieldKind, Segment, Template, parse_segments};

/// Options of the synthetic generator.
#[derive(Debug, Clone)]
pub struct SyntheticOptions {
    /// Seed: the same seed gives the same data.
    pub seed: u64,
    /// Grow the first shown table until the document has exactly this many pages.
    pub pages: Option<usize>,
    /// Document options (catalog option key -> value).
    pub options: BTreeMap<String, String>,
    /// Kiosk id printed on the pages.
    pub kiosk_id: String,
}

impl Default for SyntheticOptions {
    fn default() -> Self {
        SyntheticOptions {
            seed: 1,
            pages: None,
            options: BTreeMap::new(),
            kiosk_id: "KIOSK-DEMO-0001".to_owned(),
        }
    }
}

const SURNAMES: &[&str] = &[
    "김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권", "황",
    "안", "송", "류", "홍",
];
const GIVEN: &[&str] = &[
    "민", "서", "지", "현", "우", "준", "하", "윤", "수", "영", "은", "진", "도", "연", "예", "성",
    "길", "동", "아", "호", "희", "경", "재", "혜",
];
const CITIES: &[(&str, &[&str])] = &[
    (
        "서울특별시",
        &["종로구", "중구", "마포구", "강남구", "송파구", "관악구"],
    ),
    ("부산광역시", &["해운대구", "수영구", "동래구"]),
    ("대구광역시", &["수성구", "달서구"]),
    ("인천광역시", &["연수구", "남동구"]),
    ("광주광역시", &["서구", "북구"]),
    ("대전광역시", &["유성구", "서구"]),
    (
        "경기도",
        &["수원시 영통구", "성남시 분당구", "고양시 일산동구"],
    ),
    ("제주특별자치도", &["제주시", "서귀포시"]),
];
const ROADS: &[&str] = &[
    "세종대로",
    "중앙로",
    "한빛로",
    "누리길",
    "은행나무길",
    "해맞이로",
    "가람로",
    "푸른숲길",
];
const DONGS: &[&str] = &[
    "청운동",
    "신사동",
    "우동",
    "연동",
    "봉명동",
    "상무동",
    "정자동",
];
const WORDS: &[&str] = &[
    "일반", "해당", "정상", "확인", "기타", "등록", "변경", "유지", "갱신", "완료",
];
const SENTENCES: &[&str] = &[
    "특이사항 없음",
    "관계 법령에 따라 등록됨",
    "신청인의 요청에 따라 발급",
    "전산 자료와 대조 확인함",
];
const RELATIONS: &[&str] = &[
    "본인",
    "배우자",
    "자녀",
    "부",
    "모",
    "형제",
    "손자",
    "며느리",
];
const REASONS: &[&str] = &[
    "전입",
    "출생",
    "세대합가",
    "세대분리",
    "주소변경",
    "혼인",
    "등록",
];
const COMPANIES: &[&str] = &[
    "(주)한빛상사",
    "푸른들농산",
    "(주)누리정보",
    "가람건설(주)",
    "바다수산",
    "새봄식품",
];
const VEHICLES: &[&str] = &[
    "쏘나타",
    "아반떼",
    "포터",
    "그랜저",
    "스타리아",
    "굴착기 DX55",
];
const LAND_USE: &[&str] = &["대", "전", "답", "임야", "잡종지", "도로"];
const SCHOOLS: &[&str] = &["한빛중학교", "누리고등학교", "가람초등학교", "푸른고등학교"];
const SUBJECTS: &[&str] = &[
    "국어",
    "수학",
    "영어",
    "한국사",
    "과학",
    "사회",
    "도덕",
    "기술·가정",
];
const STATUSES: &[&str] = &[
    "정상",
    "완납",
    "해당 없음",
    "유효",
    "취득",
    "상실",
    "체납 없음",
];
const OFFICES: &[&str] = &[
    "종로구청",
    "해운대구청",
    "수원세무서",
    "제주시청",
    "중부지방고용노동청",
    "국민건강보험공단 서울지사",
];
const TAX_ITEMS: &[&str] = &[
    "재산세",
    "자동차세",
    "주민세",
    "지방소득세",
    "취득세",
    "등록면허세",
];
const NATIONS: &[&str] = &["대한민국"];

fn pick<'a>(rng: &mut ChaCha8Rng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

fn fake_date(rng: &mut ChaCha8Rng, from: i32, to: i32) -> String {
    let y = rng.random_range(from..=to);
    let m = rng.random_range(1..=12);
    let d = rng.random_range(1..=28);
    format!("{y:04}-{m:02}-{d:02}")
}

fn fake_name(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{}{}{}",
        pick(rng, SURNAMES),
        pick(rng, GIVEN),
        pick(rng, GIVEN)
    )
}

fn fake_rrn(rng: &mut ChaCha8Rng) -> String {
    let y = rng.random_range(1940..=2020);
    let m = rng.random_range(1..=12);
    let d = rng.random_range(1..=28);
    let male = rng.random_bool(0.5);
    let g = match (y >= 2000, male) {
        (false, true) => 1,
        (false, false) => 2,
        (true, true) => 3,
        (true, false) => 4,
    };
    let rest: u32 = rng.random_range(0..1_000_000);
    format!("{:02}{m:02}{d:02}-{g}{rest:06}", y % 100)
}

fn fake_address(rng: &mut ChaCha8Rng) -> String {
    let (city, districts) = CITIES[rng.random_range(0..CITIES.len())];
    let district = pick(rng, districts);
    let road = pick(rng, ROADS);
    let no = rng.random_range(1..300);
    if rng.random_bool(0.5) {
        let dong = rng.random_range(101..=115);
        let ho = rng.random_range(1..=25) * 100 + rng.random_range(1..=6);
        format!("{city} {district} {road} {no}, {dong}동 {ho}호")
    } else {
        format!("{city} {district} {road} {no}")
    }
}

fn fake_text(rng: &mut ChaCha8Rng, fake: Option<Fake>) -> Value {
    let s = match fake.unwrap_or(Fake::Word) {
        Fake::Name => fake_name(rng),
        Fake::Address => fake_address(rng),
        Fake::Relation => pick(rng, RELATIONS).to_owned(),
        Fake::Reason => pick(rng, REASONS).to_owned(),
        Fake::Phone => format!(
            "010-{:04}-{:04}",
            rng.random_range(0..10_000),
            rng.random_range(0..10_000)
        ),
        Fake::Company => pick(rng, COMPANIES).to_owned(),
        Fake::BizNumber => format!(
            "{:03}-{:02}-{:05}",
            rng.random_range(100..1000),
            rng.random_range(10..100),
            rng.random_range(0..100_000)
        ),
        Fake::Plate => format!(
            "{:02}{} {:04}",
            rng.random_range(10..100),
            pick(rng, &["가", "나", "다", "라", "마", "거", "너", "더"]),
            rng.random_range(1000..10_000)
        ),
        Fake::Vehicle => pick(rng, VEHICLES).to_owned(),
        Fake::Parcel => format!(
            "{} {}-{}",
            pick(rng, DONGS),
            rng.random_range(1..999),
            rng.random_range(1..30)
        ),
        Fake::Area => format!(
            "{}.{:02}㎡",
            rng.random_range(20..2000),
            rng.random_range(0..100)
        ),
        Fake::LandUse => pick(rng, LAND_USE).to_owned(),
        Fake::School => pick(rng, SCHOOLS).to_owned(),
        Fake::Subject => pick(rng, SUBJECTS).to_owned(),
        Fake::Score => rng.random_range(40..=100).to_string(),
        Fake::Grade => format!("{}등급", rng.random_range(1..=9)),
        Fake::Status => pick(rng, STATUSES).to_owned(),
        Fake::Office => pick(rng, OFFICES).to_owned(),
        Fake::Code => format!(
            "{}{:08}",
            pick(rng, &["A", "B", "K", "R"]),
            rng.random_range(0..100_000_000)
        ),
        Fake::Passport => format!("M{:08}", rng.random_range(0..100_000_000)),
        Fake::Year => rng.random_range(2000..=2026).to_string(),
        Fake::Period => {
            let y = rng.random_range(2000..=2025);
            let m = rng.random_range(1..=12);
            format!("{y}-{m:02} ~ {}-{m:02}", y + 1)
        }
        Fake::Count => rng.random_range(1..=20).to_string(),
        Fake::Word => pick(rng, WORDS).to_owned(),
        Fake::Sentence => pick(rng, SENTENCES).to_owned(),
        Fake::TaxItem => pick(rng, TAX_ITEMS).to_owned(),
        Fake::Nationality => pick(rng, NATIONS).to_owned(),
        Fake::Seq => "1".to_owned(),
    };
    Value::String(s)
}

fn fake_value(rng: &mut ChaCha8Rng, kind: FieldKind, fake: Option<Fake>) -> Value {
    match kind {
        FieldKind::Text => fake_text(rng, fake),
        FieldKind::Rrn => Value::String(fake_rrn(rng)),
        FieldKind::Date => Value::String(fake_date(rng, 1995, 2026)),
        FieldKind::Won => json!(rng.random_range(0..500_000u64) * 10),
        FieldKind::Number => match fake {
            Some(Fake::Area) => {
                json!(f64::from(rng.random_range(2_000..200_000u32)) / 100.0)
            }
            Some(Fake::Score) => json!(rng.random_range(40..=100u32)),
            Some(Fake::Year) => json!(rng.random_range(2000..=2026u32)),
            Some(Fake::Count) => json!(rng.random_range(0..=20u32)),
            _ => json!(rng.random_range(1..=999u32)),
        },
    }
}

/// Sets `path` (dotted) in an object tree, creating objects on the way; keeps an
/// existing value.
fn set_path(root: &mut Value, path: &str, make: impl FnOnce() -> Value) {
    let mut v = root;
    let keys: Vec<&str> = path.split('.').collect();
    for (i, k) in keys.iter().enumerate() {
        if !v.is_object() {
            *v = Value::Object(Map::new());
        }
        let Value::Object(m) = v else { return };
        if i + 1 == keys.len() {
            if !m.contains_key(*k) {
                m.insert((*k).to_owned(), make());
            }
            return;
        }
        v = m
            .entry((*k).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

fn fake_row(rng: &mut ChaCha8Rng, columns: &[crate::template::ColumnSpec], index: usize) -> Value {
    let mut row = Value::Object(Map::new());
    for c in columns {
        if c.optional && rng.random_bool(0.2) {
            continue;
        }
        let v = match (c.fake, c.kind) {
            (Some(Fake::Seq), FieldKind::Number) => json!(index + 1),
            (Some(Fake::Seq), _) => Value::String((index + 1).to_string()),
            _ => fake_value(rng, c.kind, c.fake),
        };
        set_path(&mut row, &c.path, || v);
    }
    row
}

/// Fills every field a template reads with fake data. `rows_override` sets the row count
/// of the table block at that index.
pub fn synthetic_data(t: &Template, seed: u64, rows_override: Option<(usize, usize)>) -> Value {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut root = Value::Object(Map::new());
    for (bi, b) in t.blocks.iter().enumerate() {
        // Blocks hidden by the options get data too: the network sends it regardless.
        match b {
            Block::Fields { fields, .. } => {
                for f in fields {
                    if f.optional && rng.random_bool(0.2) {
                        continue;
                    }
                    let v = fake_value(&mut rng, f.kind, f.fake);
                    set_path(&mut root, &f.path, || v);
                }
            }
            Block::Table {
                rows,
                columns,
                fake_rows,
                ..
            } => {
                let n = match rows_override {
                    Some((i, n)) if i == bi => n,
                    _ => {
                        let [lo, hi] = fake_rows.unwrap_or([2, 6]);
                        rng.random_range(lo..=hi) as usize
                    }
                };
                let arr: Vec<Value> = (0..n).map(|i| fake_row(&mut rng, columns, i)).collect();
                set_path(&mut root, rows, || Value::Array(arr));
            }
            Block::Text { text, .. } | Block::Notice { text, .. } => {
                for seg in parse_segments(text).unwrap_or_default() {
                    if let Segment::Field { path, kind } = seg {
                        let v = fake_value(&mut rng, kind, None);
                        set_path(&mut root, &path, || v);
                    }
                }
            }
        }
    }
    root
}

/// A synthetic issue number, `NNNN-NNNN-NNNN-NNNN`, from the seed.
pub fn synthetic_issue_number(seed: u64) -> IssueNumber {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_1550_E000_0001);
    let parts: Vec<String> = (0..4)
        .map(|_| format!("{:04}", rng.random_range(0..10_000)))
        .collect();
    // Digits and hyphens only, 19 characters: always a valid issue number.
    IssueNumber::new(&parts.join("-")).unwrap_or_else(|_| unreachable!("digits and hyphens"))
}

impl Renderer {
    /// Builds a synthetic render request for `code` (what `kioskctl render` uses).
    pub fn synthetic_request(
        &self,
        code: &DocCode,
        opts: &SyntheticOptions,
        issued_at: IssuedAt,
    ) -> Result<RenderRequest, RenderError> {
        let t = self
            .templates()
            .get(code)
            .ok_or_else(|| RenderError::UnknownDocument(code.to_string()))?;
        let mut req = RenderRequest {
            code: code.clone(),
            issue_number: synthetic_issue_number(opts.seed),
            issued_at,
            kiosk_id: opts.kiosk_id.clone(),
            options: opts.options.clone(),
            data: synthetic_data(t, opts.seed, None),
        };
        let Some(target) = opts.pages else {
            return Ok(req);
        };
        if target == 0 || target > crate::engine::MAX_PAGES {
            return Err(RenderError::Synthetic(format!(
                "pages must be 1 to {}",
                crate::engine::MAX_PAGES
            )));
        }
        let table = t
            .blocks
            .iter()
            .position(|b| {
                matches!(b, Block::Table { .. }) && b.when().is_none_or(|c| c.holds(&opts.options))
            })
            .ok_or_else(|| RenderError::Synthetic(format!("{code} has no table to lengthen")))?;
        let pages_with = |rows: usize, req: &mut RenderRequest| -> Result<usize, RenderError> {
            req.data = synthetic_data(t, opts.seed, Some((table, rows)));
            Ok(self.layout(req)?.pages.len())
        };
        // The largest row count that still fits `target` pages: the smallest count giving
        // `target + 1` pages, less one (pages never shrink as rows grow), so the last page
        // is full rather than holding only the sign-off.
        let (mut lo, mut hi) = (0usize, 64usize);
        while pages_with(hi, &mut req)? <= target {
            lo = hi;
            hi *= 2;
            if hi > 200_000 {
                return Err(RenderError::Synthetic("cannot reach the page count".into()));
            }
        }
        while lo < hi {
            let mid = (lo + hi) / 2;
            if pages_with(mid, &mut req)? > target {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let lo = lo.saturating_sub(1);
        let got = pages_with(lo, &mut req)?;
        if got != target {
            return Err(RenderError::Synthetic(format!(
                "{code}: {got} pages instead of {target}"
            )));
        }
        Ok(req)
    }

    /// Renders a synthetic certificate: the library side of
    /// `kioskctl render --type CODE --out FILE.pdf [--seed S] [--pages N]`.
    /// The returned document carries the PDF and the verification payload string.
    pub fn render_synthetic(
        &self,
        code: &DocCode,
        opts: &SyntheticOptions,
        issued_at: IssuedAt,
        key: &SigningKey,
    ) -> Result<RenderedDocument, RenderError> {
        let req = self.synthetic_request(code, opts, issued_at)?;
        self.render(&req, key)
    }
}
