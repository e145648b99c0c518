// Korean braille (한국 점자) for the keypad and slot labels, as Unicode 6-dot patterns.
// Covers what short labels need: initial/final consonants and vowels, the mandatory
// abbreviations 가 나 다 마 바 사 자 카 타 파 하, 억 언 얼 연 열 영 옥 온 옹 운 울 은 을 인,
// 것, the 성/정/청 rule, the separator before 애/예, double consonants, and digits
// (number sign ⠼ followed by the letters a-j).

const cell = (...dots) => String.fromCodePoint(0x2800 + dots.reduce((m, d) => m | (1 << (d - 1)), 0));

// Initial consonants in Unicode order: ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ
const FORTIS = cell(6); // 된소리표
const INITIAL = [
  cell(4), FORTIS + cell(4), cell(1, 4), cell(2, 4), FORTIS + cell(2, 4), cell(5), cell(1, 5),
  cell(4, 5), FORTIS + cell(4, 5), cell(6), FORTIS + cell(6), '', cell(4, 6), FORTIS + cell(4, 6),
  cell(5, 6), cell(1, 2, 4), cell(1, 2, 5), cell(1, 4, 5), cell(2, 4, 5),
];
// Vowels: ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ
const VOWEL = [
  cell(1, 2, 6), cell(1, 2, 3, 5), cell(3, 4, 5), cell(3, 4, 5) + cell(1, 2, 3, 5), cell(2, 3, 4),
  cell(1, 3, 4, 5), cell(1, 5, 6), cell(3, 4), cell(1, 3, 6), cell(1, 2, 3, 6),
  cell(1, 2, 3, 6) + cell(1, 2, 3, 5), cell(1, 3, 4, 5, 6), cell(3, 4, 6), cell(1, 3, 4),
  cell(1, 2, 3, 4), cell(1, 2, 3, 4) + cell(1, 2, 3, 5), cell(1, 3, 4) + cell(1, 2, 3, 5),
  cell(1, 4, 6), cell(2, 4, 6), cell(2, 4, 5, 6), cell(1, 3, 5),
];
// Finals: (none)ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ
const F = {
  g: cell(1), n: cell(2, 5), d: cell(3, 5), l: cell(2), m: cell(2, 6), b: cell(1, 2), s: cell(3),
  ng: cell(2, 3, 5, 6), j: cell(1, 3), ch: cell(2, 3), k: cell(2, 3, 5), t: cell(2, 3, 6),
  p: cell(2, 5, 6), h: cell(3, 5, 6),
};
const FINAL = [
  '', F.g, F.g + F.g, F.g + F.s, F.n, F.n + F.j, F.n + F.h, F.d, F.l, F.l + F.g, F.l + F.m,
  F.l + F.b, F.l + F.s, F.l + F.t, F.l + F.p, F.l + F.h, F.m, F.b, F.b + F.s, F.s, cell(3, 4),
  F.ng, F.j, F.ch, F.k, F.t, F.p, F.h,
];
// Vowel + final abbreviations (억 언 얼 연 열 영 옥 온 옹 운 울 은 을 인), keyed "vowel,final".
const RHYME = {
  '4,1': cell(1, 4, 5, 6), '4,4': cell(2, 3, 4, 5, 6), '4,8': cell(2, 3, 4, 5),
  '6,4': cell(1, 6), '6,8': cell(1, 2, 5, 6), '6,21': cell(1, 2, 4, 5, 6),
  '8,1': cell(1, 3, 4, 6), '8,4': cell(1, 2, 3, 5, 6), '8,21': cell(1, 2, 3, 4, 5, 6),
  '13,4': cell(1, 2, 4, 5), '13,8': cell(1, 2, 3, 4, 6), '18,4': cell(1, 3, 5, 6),
  '18,8': cell(2, 3, 4, 6), '20,4': cell(1, 2, 3, 4, 5),
};
// Initial + ㅏ written as one sign: 가 나 다 마 바 사 자 카 타 파 하 (and their fortis forms).
const WITH_A = { 0: cell(1, 2, 4, 6), 9: cell(1, 2, 3) };
const A_DROPS = new Set([2, 3, 4, 6, 7, 8, 12, 13, 15, 16, 17, 18]); // ㄴㄷㄸㅁㅂㅃㅈㅉㅋㅌㅍㅎ: consonant alone
const SEPARATOR = cell(3, 6);
const NUMBER_SIGN = cell(3, 4, 5, 6);
const DIGIT = '0123456789'.split('').map((d) => [cell(2, 4, 5), cell(1), cell(1, 2), cell(1, 4), cell(1, 4, 5), cell(1, 5), cell(1, 2, 4), cell(1, 2, 4, 5), cell(1, 2, 5), cell(2, 4)][Number(d)]);

function decompose(ch) {
  const c = ch.codePointAt(0) - 0xac00;
  if (c < 0 || c > 11171) return null;
  return { i: Math.floor(c / 588), v: Math.floor((c % 588) / 28), f: c % 28 };
}

function syllable(s, next) {
  const { i, v, f } = s;
  // 것
  if (i === 0 && v === 4 && f === 19) return cell(4, 5, 6) + cell(2, 3, 4);
  if (i === 1 && v === 4 && f === 19) return FORTIS + cell(4, 5, 6) + cell(2, 3, 4);
  let out = '';
  if (v === 0) {
    // consonant + ㅏ abbreviations
    const nextIsVowel = next && next.i === 11;
    if (i === 0 || i === 1) out = (i === 1 ? FORTIS : '') + WITH_A[0];
    else if (i === 9 || i === 10) out = (i === 10 ? FORTIS : '') + WITH_A[9];
    else if (A_DROPS.has(i) && !nextIsVowel) out = INITIAL[i];
    else out = INITIAL[i] + VOWEL[0];
    return out + FINAL[f];
  }
  // 성 썽 정 쩡 청: ㅅ ㅆ ㅈ ㅉ ㅊ followed by the abbreviation of 영
  if ([9, 10, 12, 13, 14].includes(i) && v === 4 && f === 21) return INITIAL[i] + RHYME['6,21'];
  const rhyme = RHYME[`${v},${f}`];
  if (rhyme) return INITIAL[i] + rhyme;
  return INITIAL[i] + VOWEL[v] + FINAL[f];
}

/** Korean text (Hangul syllables, digits, spaces, a few marks) to Unicode braille. */
export function toBraille(text) {
  const chars = [...text];
  let out = '';
  let inNumber = false;
  for (let k = 0; k < chars.length; k++) {
    const ch = chars[k];
    if (/[0-9]/.test(ch)) {
      if (!inNumber) out += NUMBER_SIGN;
      inNumber = true;
      out += DIGIT[Number(ch)];
      continue;
    }
    const s = decompose(ch);
    if (s) {
      const prev = k > 0 ? decompose(chars[k - 1]) : null;
      // A syllable of digits followed by a vowel-initial syllable... keep them apart.
      if (inNumber && s.i === 11) out += SEPARATOR;
      // 애 after a syllable ending in ㅏ ㅑ ㅘ ㅜ ㅝ, and 예 after any open syllable: separator.
      if (prev && prev.f === 0 && s.i === 11 && ((s.v === 1 && [0, 2, 9, 13, 14].includes(prev.v)) || s.v === 7)) out += SEPARATOR;
      inNumber = false;
      const next = k + 1 < chars.length ? decompose(chars[k + 1]) : null;
      out += syllable(s, next);
      continue;
    }
    inNumber = false;
    if (ch === ' ') out += '\u2800';
    else if (ch === '-') out += cell(3, 6);
    else if (ch === '.') out += cell(2, 5, 6);
    else if (ch === ',') out += cell(5);
    else if (ch === '+') out += cell(3, 4, 6);
    else out += ch; // not translated: left visible so a reviewer notices
  }
  return out;
}

/** The dots of one braille cell, e.g. "1-2-6", for the printed sheet's legend. */
export function dotsOf(cellChar) {
  const bits = cellChar.codePointAt(0) - 0x2800;
  const dots = [];
  for (let d = 1; d <= 6; d++) if (bits & (1 << (d - 1))) dots.push(d);
  return dots.join('-') || '0';
}
