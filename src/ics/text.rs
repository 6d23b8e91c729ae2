//! Content lines (RFC 5545 §3.1): splitting and unfolding with the file's
//! line numbers, the content-line grammar (`NAME;PARAM=VALUE:VALUE`), and
//! the TEXT escaping and line folding calsync writes.
//!
//! Lines are read one at a time, never all at once, so that a file of
//! millions of tiny lines costs no more memory than one line. A line ends
//! at CRLF, LF or a lone CR (old Mac files, and events pasted from them
//! into otherwise LF files: a CR that did not end a line would glue an
//! event's lines into one). Unfolding works on bytes (some producers fold
//! in the middle of a UTF-8 character), a byte-order mark is dropped, and
//! each line remembers where in the file it came from, so that errors name
//! a line of the file rather than one of the unfolded text.
//!
//! The grammar is hand-written rather than taken from a crate: it must
//! never fail on a whole file for one bad line, must tell the caller the
//! name of a property it cannot read (so that a broken `CLASS` line is
//! not mistaken for a harmless one), and must forgive what real files get
//! wrong: blanks around the name (`STATUS :CANCELLED`), a parameter
//! without a value, property names in lower case.

use super::limits::MAX_PARAMETERS;
pub(crate) use crate::text::html_to_text;
use std::ops::Range;

/// One unfolded content line.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    /// The unfolded line as written; bytes that are not UTF-8 are replaced
    /// by U+FFFD.
    pub text: String,
    /// The 1-based number of the file line it starts on.
    pub number: usize,
    /// The bytes of the file it came from, line terminators included.
    pub raw: Range<usize>,
}

/// `BEGIN` or `END`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Edge {
    Begin,
    End,
}

impl Line {
    /// Whether this is a `BEGIN:` or `END:` line, and the component it
    /// names, upper case and trimmed; empty when that name is not a
    /// component name (letters, digits and `-`), so that it is never
    /// shown.
    pub fn edge(&self) -> Option<(Edge, String)> {
        let (head, value) = self.text.split_once(':')?;
        let edge = match head.trim() {
            h if h.eq_ignore_ascii_case("BEGIN") => Edge::Begin,
            h if h.eq_ignore_ascii_case("END") => Edge::End,
            _ => return None,
        };
        let name = value.trim();
        let name = if is_token(name) {
            name.to_ascii_uppercase()
        } else {
            String::new()
        };
        Some((edge, name))
    }
}

/// Whether `s` is a name as iCalendar writes them: letters, digits, `-`
/// (and `_`, which some producers use), at most 64 of them.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The unfolded content lines of a file, one at a time.
pub(crate) struct Lines<'a> {
    input: &'a [u8],
    pos: usize,
    /// The number of the last physical line read.
    number: usize,
    /// A physical line read ahead: (number, start, content end, end).
    ahead: Option<(usize, usize, usize, usize)>,
}

impl<'a> Lines<'a> {
    /// The lines of a whole file.
    pub fn new(input: &'a [u8]) -> Self {
        let pos = if input.starts_with(&[0xEF, 0xBB, 0xBF]) {
            3
        } else {
            0
        };
        Lines::starting_at(input, pos, 0)
    }

    /// The lines of `input` from byte `pos` on, the first physical line
    /// there being number `number + 1`.
    pub fn starting_at(input: &'a [u8], pos: usize, number: usize) -> Self {
        Lines {
            input,
            pos,
            number,
            ahead: None,
        }
    }

    /// The next physical line: its number, start, end of content and end
    /// (after its terminator).
    fn physical(&mut self) -> Option<(usize, usize, usize, usize)> {
        if let Some(p) = self.ahead.take() {
            return Some(p);
        }
        let rest = self.input.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let start = self.pos;
        let (content_end, end) = match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            None => (self.input.len(), self.input.len()),
            Some(i) => {
                let at = start + i;
                let crlf = rest.get(i) == Some(&b'\r') && rest.get(i + 1) == Some(&b'\n');
                (at, at + if crlf { 2 } else { 1 })
            }
        };
        self.pos = end;
        self.number += 1;
        Some((self.number, start, content_end, end))
    }
}

impl Iterator for Lines<'_> {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        loop {
            let (number, start, content_end, end) = self.physical()?;
            let content = self.input.get(start..content_end).unwrap_or_default();
            if content.is_empty() {
                continue;
            }
            let mut bytes: Vec<u8> = content.to_vec();
            let mut raw = start..end;
            // Continuation lines; blank lines between them are skipped.
            while let Some(next) = self.physical() {
                let (_, s, ce, e) = next;
                let c = self.input.get(s..ce).unwrap_or_default();
                match c.first() {
                    // Blank lines belong to the line only if a
                    // continuation follows them.
                    None => {}
                    Some(b' ' | b'\t') => {
                        bytes.extend_from_slice(c.get(1..).unwrap_or_default());
                        raw.end = e;
                    }
                    Some(_) => {
                        self.ahead = Some(next);
                        break;
                    }
                }
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let text = match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            };
            return Some(Line { text, number, raw });
        }
    }
}

/// A content line split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PropLine<'a> {
    /// Upper case.
    pub name: String,
    /// Parameter names (upper case) and values (quotes removed, RFC 6868
    /// `^` escapes undone, several values joined by `,`; empty when the
    /// parameter has no `=`).
    pub params: Vec<(String, String)>,
    /// Everything after the colon, as written.
    pub value: &'a str,
}

/// Splits a content line. A line that does not follow the grammar gives
/// `Err` with the name it starts with (upper case; empty when it starts
/// with no name), so that the caller can tell whether it mattered.
pub(crate) fn parse_property(text: &str) -> Result<PropLine<'_>, String> {
    let b = text.as_bytes();
    let name_end = b
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || c == b'-' || c == b'_'))
        .unwrap_or(b.len());
    let name = text
        .get(..name_end)
        .unwrap_or_default()
        .to_ascii_uppercase();
    if name.is_empty() {
        return Err(name);
    }
    let skip_blanks = |mut i: usize| {
        while matches!(b.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        i
    };
    let mut i = skip_blanks(name_end);
    let mut params = Vec::new();
    while b.get(i) == Some(&b';') {
        i = skip_blanks(i + 1);
        let p_start = i;
        while b
            .get(i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        {
            i += 1;
        }
        let p_name = text
            .get(p_start..i)
            .unwrap_or_default()
            .to_ascii_uppercase();
        if p_name.is_empty() || params.len() >= MAX_PARAMETERS {
            return Err(name);
        }
        i = skip_blanks(i);
        let mut values: Vec<String> = Vec::new();
        if b.get(i) == Some(&b'=') {
            i += 1;
            loop {
                i = skip_blanks(i);
                if b.get(i) == Some(&b'"') {
                    let open = i + 1;
                    let Some(len) = b
                        .get(open..)
                        .and_then(|r| r.iter().position(|&c| c == b'"'))
                    else {
                        return Err(name);
                    };
                    values.push(caret_decode(text.get(open..open + len).unwrap_or_default()));
                    i = open + len + 1;
                } else {
                    let v_start = i;
                    while b.get(i).is_some_and(|c| !matches!(c, b';' | b':' | b',')) {
                        i += 1;
                    }
                    values.push(caret_decode(
                        text.get(v_start..i).unwrap_or_default().trim(),
                    ));
                }
                i = skip_blanks(i);
                if b.get(i) == Some(&b',') {
                    i += 1;
                } else {
                    break;
                }
            }
        }
        params.push((p_name, values.join(",")));
    }
    if b.get(i) != Some(&b':') {
        return Err(name);
    }
    Ok(PropLine {
        name,
        params,
        value: text.get(i + 1..).unwrap_or_default(),
    })
}

/// Undoes RFC 6868 parameter escapes: `^n` line break, `^'` double quote,
/// `^^` caret; any other `^` stays.
fn caret_decode(s: &str) -> String {
    if !s.contains('^') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '^' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('n' | 'N') => {
                out.push('\n');
                chars.next();
            }
            Some('\'') => {
                out.push('"');
                chars.next();
            }
            Some('^') => {
                out.push('^');
                chars.next();
            }
            _ => out.push('^'),
        }
    }
    out
}

/// Whether a property's value is TEXT, whose escapes are undone when it is
/// read: its `VALUE` parameter says so, or (without one that names a known
/// type) its name is one of RFC 5545's TEXT properties or an `X-` name.
/// `CATEGORIES` and `RESOURCES` are lists, kept escaped for
/// [`split_text_list`].
pub(crate) fn is_text(name: &str, params: &[(String, String)]) -> bool {
    const TYPES: [&str; 13] = [
        "BINARY",
        "BOOLEAN",
        "CAL-ADDRESS",
        "DATE",
        "DATE-TIME",
        "DURATION",
        "FLOAT",
        "INTEGER",
        "PERIOD",
        "RECUR",
        "TIME",
        "URI",
        "UTC-OFFSET",
    ];
    const TEXT: [&str; 18] = [
        "CALSCALE",
        "METHOD",
        "PRODID",
        "VERSION",
        "CLASS",
        "COMMENT",
        "DESCRIPTION",
        "LOCATION",
        "STATUS",
        "SUMMARY",
        "TRANSP",
        "TZID",
        "TZNAME",
        "CONTACT",
        "RELATED-TO",
        "UID",
        "ACTION",
        "REQUEST-STATUS",
    ];
    if name == "CATEGORIES" || name == "RESOURCES" {
        return false;
    }
    match params.iter().find(|(k, _)| k == "VALUE").map(|(_, v)| v) {
        Some(v) if v.eq_ignore_ascii_case("TEXT") => true,
        Some(v) if TYPES.iter().any(|t| v.eq_ignore_ascii_case(t)) => false,
        _ => TEXT.contains(&name) || name.starts_with("X-"),
    }
}

/// A text as calsync writes it and reads it back: line breaks of any kind
/// (CRLF, CR) become LF, and the control characters TEXT cannot hold
/// (RFC 5545 §3.3.11: all but tab) are dropped. Source values are read
/// through this, so that what is compared with a copy is what the copy
/// holds: a copy made from a value with a control character in it would
/// otherwise differ from its source on every run.
pub(crate) fn clean_text(s: &str) -> String {
    if !s.chars().any(|c| c.is_control() && c != '\t' && c != '\n') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Escapes a TEXT value (RFC 5545 §3.3.11). Line breaks of any kind become
/// `\n`; other control characters, which TEXT cannot hold, are dropped:
/// `unescape_text(&escape_text(s)) == clean_text(s)`.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn content_lines(input: &[u8]) -> Vec<Line> {
        Lines::new(input).collect()
    }

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
                "location;x=1:d",
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
    fn a_lone_cr_ends_a_line_so_an_event_is_never_one_line() {
        let input = b"BEGIN:VEVENT\rUID:x\rSUMMARY:secret\r continued\rEND:VEVENT\nX:1\r\n";
        let texts: Vec<String> = content_lines(input).into_iter().map(|l| l.text).collect();
        assert_eq!(
            texts,
            [
                "BEGIN:VEVENT",
                "UID:x",
                "SUMMARY:secretcontinued",
                "END:VEVENT",
                "X:1"
            ]
        );
        let numbers: Vec<usize> = content_lines(input).iter().map(|l| l.number).collect();
        assert_eq!(numbers, [1, 2, 3, 5, 6]);
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
    fn bom_and_blanks_around_begin_end_are_forgiven() {
        let lines =
            content_lines(b"\xEF\xBB\xBFbegin:vcalendar \r\nEND : VEVENT\t\r\nBEGIN:V EVENT\r\n");
        assert_eq!(lines[0].edge(), Some((Edge::Begin, "VCALENDAR".into())));
        assert_eq!(lines[1].edge(), Some((Edge::End, "VEVENT".into())));
        // A name that is no name is never passed on (it may be content).
        assert_eq!(lines[2].edge(), Some((Edge::Begin, String::new())));
        assert_eq!(lines[0].number, 1);
    }

    #[test]
    fn the_content_line_grammar() {
        let p =
            parse_property("dtstart;tzid=\"/x:y/Europe/Berlin\";VALUE=DATE-TIME:20260101T090000")
                .unwrap();
        assert_eq!(p.name, "DTSTART");
        assert_eq!(
            p.params,
            [
                ("TZID".to_string(), "/x:y/Europe/Berlin".to_string()),
                ("VALUE".to_string(), "DATE-TIME".to_string())
            ]
        );
        assert_eq!(p.value, "20260101T090000");
        let p = parse_property("STATUS :CANCELLED").unwrap();
        assert_eq!((p.name.as_str(), p.value), ("STATUS", "CANCELLED"));
        let p = parse_property("ATTENDEE;MEMBER=\"a\",\"b\";RSVP;CN=^'A^' ^^:mailto:x").unwrap();
        assert_eq!(p.params[0].1, "a,b");
        assert_eq!(p.params[1], ("RSVP".to_string(), String::new()));
        assert_eq!(p.params[2].1, "\"A\" ^");
        assert_eq!(p.value, "mailto:x");
        // Broken lines name the property they start with, nothing else.
        assert_eq!(
            parse_property("X-APPLE-RADIUS=49").unwrap_err(),
            "X-APPLE-RADIUS"
        );
        assert_eq!(parse_property("CLASS PRIVATE").unwrap_err(), "CLASS");
        assert_eq!(
            parse_property("DTSTART;TZID=\"Europe:1").unwrap_err(),
            "DTSTART"
        );
        assert_eq!(parse_property(" SUMMARY:x").unwrap_err(), "");
        assert_eq!(parse_property("€:x").unwrap_err(), "");
        let many = format!("X{}:v", ";A=1".repeat(MAX_PARAMETERS + 1));
        assert!(parse_property(&many).is_err());
    }

    #[test]
    fn which_values_are_text() {
        let none: Vec<(String, String)> = Vec::new();
        assert!(is_text("SUMMARY", &none));
        assert!(is_text("X-CALSYNC-SOURCE-KEY", &none));
        assert!(!is_text("CATEGORIES", &none));
        assert!(!is_text("DTSTART", &none));
        assert!(!is_text("X-ALT-DESC", &[("VALUE".into(), "URI".into())]));
        assert!(is_text("X-FOO", &[("VALUE".into(), "X-BAR".into())]));
    }

    #[test]
    fn clean_text_is_what_a_copy_reads_back() {
        for s in [
            "plain",
            "a\u{7}b",
            "x\r\ny\rz",
            "tab\tand\nline",
            "\u{1b}[31mred",
            "del\u{7f}",
        ] {
            assert_eq!(unescape_text(&escape_text(s)), clean_text(s), "{s:?}");
            assert_eq!(clean_text(&clean_text(s)), clean_text(s));
        }
        assert_eq!(clean_text("a\u{7}b\r\nc"), "ab\nc");
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
