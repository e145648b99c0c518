//! Just enough PDF for a printer: is it one, how many pages, and a safe file name for it.
//!
//! The page count scans for page objects (`/Type /Page`, not `/Type /Pages`) rather than
//! parsing the document: it is what a cheap printer front end does, and it reads what
//! kiosk-render writes (lopdf saves plain objects, `<</Type/Page ...>>`). Pages hidden in
//! compressed object streams are not seen; such a document counts 0 pages and is refused.

/// The magic every PDF starts with.
pub const PDF_MAGIC: &[u8] = b"%PDF-";
/// Longest file-name part kept from a job name.
pub const MAX_FILE_NAME: usize = 64;

/// PDF whitespace (ISO 32000-1, 7.2.2).
fn is_white(b: u8) -> bool {
    matches!(b, b'\0' | b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// PDF delimiters (ISO 32000-1, 7.2.2).
fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Counts the page objects of a PDF: every `/Type` name followed (after optional
/// whitespace) by the name `/Page` and a delimiter, so `/Pages` does not count.
pub fn count_pages(pdf: &[u8]) -> usize {
    const TYPE: &[u8] = b"/Type";
    const PAGE: &[u8] = b"/Page";
    let mut count = 0;
    let mut at = 0;
    while let Some(p) = pdf.get(at..).and_then(|rest| find(rest, TYPE)) {
        let mut j = at + p + TYPE.len();
        while pdf.get(j).is_some_and(|&b| is_white(b)) {
            j += 1;
        }
        if pdf.get(j..).is_some_and(|rest| rest.starts_with(PAGE)) {
            match pdf.get(j + PAGE.len()) {
                None => count += 1,
                Some(&b) if is_white(b) || is_delimiter(b) => count += 1,
                Some(_) => {}
            }
        }
        at += p + TYPE.len();
    }
    count
}

/// A job name made safe as part of a file name: `[A-Za-z0-9._-]` kept, every other character
/// (one per character, not per byte) becomes `_`, at most [`MAX_FILE_NAME`] characters;
/// `job` when nothing is left. The caller prefixes the job id, so the result can never be
/// `.`, `..` or a hidden file.
pub fn sanitise_name(name: &str) -> String {
    let s: String = name
        .chars()
        .take(MAX_FILE_NAME)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "job".into() } else { s }
}

/// A minimal valid PDF with `pages` empty A4 pages and a correct cross-reference table;
/// for tests and demos of the simulator (the devices tests write the same by hand).
pub fn blank_pdf(pages: usize) -> Vec<u8> {
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", i + 3)).collect();
    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {pages} >>",
            kids.join(" ")
        ),
    ];
    objects.extend(
        (0..pages).map(|_| "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>".to_owned()),
    );
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n{o}\nendobj\n", i + 1).bytes());
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_counted_not_page_trees() {
        assert_eq!(count_pages(&blank_pdf(3)), 3);
        assert_eq!(count_pages(&blank_pdf(1)), 1);
        assert_eq!(count_pages(&blank_pdf(0)), 0);
        // lopdf's compact form, and names that only start like /Page.
        assert_eq!(
            count_pages(b"<</Type/Page/Parent 2 0 R>><</Type/Pages>>"),
            1
        );
        assert_eq!(count_pages(b"/Type\n/Page\r/Type /PageLabel /Type/Page"), 2);
        assert_eq!(count_pages(b"/Types /Page /Type"), 0);
    }

    #[test]
    fn names_become_safe_file_names() {
        assert_eq!(
            sanitise_name("resident-register-copy 1234-5678"),
            "resident-register-copy_1234-5678"
        );
        assert_eq!(sanitise_name("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(sanitise_name("주민등록표 등본"), "________");
        assert_eq!(sanitise_name(""), "job");
        assert_eq!(sanitise_name(&"x".repeat(1000)).len(), MAX_FILE_NAME);
    }
}
