// Strings for the four languages. Korean is the default and the fallback.

export const LANGS = ['ko', 'en', 'zh', 'vi'];
const dicts = {};

/** Loads one language's strings (Korean at start; the others when first chosen). */
export async function loadLanguage(lang) {
  if (dicts[lang]) return;
  const r = await fetch(`i18n/${lang}.json`);
  dicts[lang] = await r.json();
}

export function translator(lang) {
  const d = dicts[lang] || dicts.ko;
  const t = (key, vars = {}) => {
    const s = d[key] ?? dicts.ko[key] ?? key;
    return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? `{${k}}`));
  };
  t.has = (key) => key in d;
  t.lang = lang;
  t.money = (n) => t('won', { n: new Intl.NumberFormat(lang === 'vi' ? 'vi-VN' : lang === 'zh' ? 'zh-CN' : lang === 'en' ? 'en-US' : 'ko-KR').format(n) });
  return t;
}
