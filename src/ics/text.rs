//! Content lines (RFC 5545 §3.1): unfolding with the file's line numbers,
//! and the TEXT escaping and line folding calsync writes.
//!
//! The property grammar itself (names, quoted parameters, values) is the
//! `icalendar` crate's. This layer only does what that parser cannot: it
//! unfolds on bytes (some producers fold in the middle of a UTF-8
//! character), drops a byte-order mark, forgives trailing blanks on
//! `BEGIN`/`END` lines, upper-cases property names (they are
//! case-insensitive, the crate only unescapes upper-case ones), and remembers
//! where in the file each content line came from, so that errors can name a
//! line of the file rather than one of the unfolded text.

use std::ops::Range;

/// One unfolded content line.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    /// The unfolded line, its property name in upper case. Bytes that are
    /// not UTF-8 are replaced by U+FFFD.
    pub text: String,
    /// The 1-based number of the file line it starts on.
    pub number: usize,
    /// The bytes of the file it came from, line terminators included.
    pub raw: Range<usize>,
}

impl Line {
    /// The property name: the text up to the first `;` or `:`.
    pub fn name(&self) -> &str {
        let end = self.text.find([';', ':']).unwrap_or(self.text.len());
        &self.text[..end]
    }

    /// The value after the first `:` (only meaningful for `BEGIN`/`END`).
    pub fn simple_value(&self) -> &str {
        self.text.split_once(':').map_or("", |(_, v)| v)
    }
}

/// Splits a file into unfolded content lines. Blank lines are dropped.
pub(crate) fn content_lines(input: &[u8]) -> Vec<Line> {
    let bom = if input.starts_with(&[0xEF, 0xBB, 0xBF]) {
        3
    } else {
        0
    };
    let mut lines: Vec<(Vec<u8>, usize, Range<usize>)> = Vec::new();
    let mut pos = bom;
    let mut number = 0;
    while pos < input.len() {
        number += 1;
        let end = input[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(input.len(), |i| pos + i + 1);
        let mut content = &input[pos..end];
        while let Some((&last, rest)) = content.split_last() {
            if last == b'\n' || last == b'\r' {
                content = rest;
            } else {
                break;
            }
        }
        let continuation = matches!(content.first(), Some(b' ' | b'\t'));
        match lines.last_mut() {
            Some((bytes, _, raw)) if continuation => {
                bytes.extend_from_slice(&content[1..]);
                raw.end = end;
            }
            _ if content.is_empty() => {}
            _ => lines.push((content.to_vec(), number, pos..end)),
        }
        pos = end;
    }
    lines
        .into_iter()
        .filter(|(bytes, _, _)| !bytes.iter().all(u8::is_ascii_whitespace))
        .map(|(bytes, number, raw)| Line {
            text: normalise(String::from_utf8_lossy(&bytes).into_owned()),
            number,
            raw,
        })
        .collect()
}

/// Upper-cases the property name; for `BEGIN`/`END`, also the component
/// name, without trailing blanks. A stray carriage return inside a line
/// becomes a space: it cannot be part of a valid value.
fn normalise(mut text: String) -> String {
    if text.contains('\r') {
        text = text.replace('\r', " ");
    }
    let name_end = text.find([';', ':']).unwrap_or(text.len());
    text[..name_end].make_ascii_uppercase();
    let name = &text[..name_end];
    if name.trim() == "BEGIN" || name.trim() == "END" {
        let mut t = text.trim().to_ascii_uppercase();
        if let Some((n, v)) = t.split_once(':') {
            t = format!("{}:{}", n.trim(), v.trim());
        }
        return t;
    }
    text
}

/// Escapes a TEXT value (RFC 5545 §3.3.11). Line breaks of any kind become
/// `\n`; other control characters, which TEXT cannot hold, are dropped.
pub(crate) fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push_str("\\n");
                }
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Reverses TEXT escaping. Unknown escapes are kept as they are.
pub(crate) fn unescape_text(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(c @ ('\\' | ',' | ';' | ':' | '"')) => out.push(c),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Splits a still-escaped TEXT list on its unescaped commas, unescaping each
/// item. An empty value is one empty item.
pub(crate) fn split_text_list(raw: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in raw.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                items.push(unescape_text(&raw[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(unescape_text(&raw[start..]));
    items
}

/// The longest a content line may be, in octets, without its line break.
pub(crate) const MAX_OCTETS: usize = 75;

/// Folds one content line at 75 octets (never inside a UTF-8 character) and
/// ends it with CRLF.
pub(crate) fn fold(line: &str, out: &mut String) {
    let mut budget = MAX_OCTETS;
    let mut used = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if used + len > budget {
            out.push_str("\r\n ");
            // A continuation line's leading space counts against its 75.
            budget = MAX_OCTETS - 1;
            used = 0;
        }
        out.push(c);
        used += len;
    }
    out.push_str("\r\n");
}

/// The visible text of an HTML body, for the DESCRIPTION that goes with an
/// `X-ALT-DESC` HTML body: tags, comments, `head`, `style` and `script`
/// dropped, block ends as line breaks, the common entities decoded.
pub(crate) fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        if let Some(comment) = after.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |i| &comment[i + 3..]);
            continue;
        }
        let Some(close) = after.find('>') else {
            rest = "";
            break;
        };
        let tag = after[1..close].trim().to_ascii_lowercase();
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("")
            .to_string();
        rest = &after[close + 1..];
        if !tag.starts_with('/') && matches!(name.as_str(), "head" | "style" | "script") {
            let end = format!("</{name}");
            let lower = rest.to_ascii_lowercase();
            rest = lower
                .find(&end)
                .and_then(|i| rest[i..].find('>').map(|j| &rest[i + j + 1..]))
                .unwrap_or("");
            continue;
        }
        if matches!(
            name.as_str(),
            "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
        ) && (tag.starts_with('/') || name == "br")
        {
            out.push('\n');
        }
    }
    out.push_str(rest);
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&#160;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let lines: Vec<&str> = decoded.lines().map(str::trim_end).collect();
    let mut text = String::new();
    let mut blank = true;
    for l in lines {
        if l.trim().is_empty() {
            if !blank {
                text.push('\n');
            }
            blank = true;
            continue;
        }
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(l.trim_start());
        blank = false;
    }
    text.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfolds_crlf_lf_and_tabs_and_keeps_file_line_numbers() {
        let input =
            b"BEGIN:VCALENDAR\r\nSUMMARY:a\r\n b\r\n\tc\r\n\r\nlocation;x=1:d\nEND:VCALENDAR";
        let lines = content_lines(input);
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "BEGIN:VCALENDAR",
                "SUMMARY:abc",
                "LOCATION;x=1:d",
                "END:VCALENDAR"
            ]
        );
        assert_eq!(
            lines.iter().map(|l| l.number).collect::<Vec<_>>(),
            [1, 2, 6, 7]
        );
        assert_eq!(&input[lines[1].raw.clone()], b"SUMMARY:a\r\n b\r\n\tc\r\n");
    }

    #[test]
    fn a_character_folded_in_the_middle_is_whole_again() {
        let euro = "€".as_bytes();
        let mut input = b"SUMMARY:".to_vec();
        input.extend_from_slice(&euro[..1]);
        input.extend_from_slice(b"\r\n ");
        input.extend_from_slice(&euro[1..]);
        input.extend_from_slice(b"5\r\n");
        assert_eq!(content_lines(&input)[0].text, "SUMMARY:€5");
    }

    #[test]
    fn bom_and_trailing_blanks_on_begin_end_are_forgiven() {
        let lines = content_lines(b"\xEF\xBB\xBFbegin:vcalendar \r\nEND : VEVENT\t\r\n");
        assert_eq!(lines[0].text, "BEGIN:VCALENDAR");
        assert_eq!(lines[1].text, "END:VEVENT");
    }

    #[test]
    fn text_escaping_round_trips() {
        let s = "a,b;c\\d\ne\tf";
        assert_eq!(escape_text(s), "a\\,b\\;c\\\\d\\ne\tf");
        assert_eq!(unescape_text(&escape_text(s)), s);
        assert_eq!(escape_text("x\r\ny\rz\u{7}"), "x\\ny\\nz");
        assert_eq!(split_text_list("a\\,b,c,"), ["a,b", "c", ""]);
        assert_eq!(split_text_list(""), [""]);
    }

    #[test]
    fn folds_at_75_octets_without_splitting_characters() {
        let line = format!("SUMMARY:{}", "ä".repeat(80));
        let mut out = String::new();
        fold(&line, &mut out);
        for physical in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(physical.len() <= MAX_OCTETS, "{}", physical.len());
        }
        let unfolded = content_lines(out.as_bytes());
        assert_eq!(unfolded[0].text, line);
    }

    #[test]
    fn html_text_is_the_visible_text() {
        assert_eq!(
            html_to_text(
                "<html><head><style>p{}</style></head><body><p>Hello &amp; welcome</p>\
                 <p>Line<br>two</p><!-- x --></body></html>"
            ),
            "Hello & welcome\nLine\ntwo"
        );
    }
}
