//! An iCalendar file as a tree of components, each remembering the file
//! lines and bytes it came from.
//!
//! The structure (`BEGIN`/`END` nesting) is checked here, on the unfolded
//! lines; each top-level component is then parsed on its own by the
//! `icalendar` crate's content-line parser, which handles the parameter
//! grammar (quoting, lists) and TEXT unescaping.

use super::IcsError;
use super::text::{Line, content_lines};
use std::ops::Range;

/// One property of a component.
#[derive(Debug, Clone)]
pub(crate) struct Prop {
    /// Upper case.
    pub name: String,
    /// Parameter names (upper case) and values (quotes removed; an absent
    /// value is empty).
    pub params: Vec<(String, String)>,
    /// The value; TEXT values are unescaped, except lists (`CATEGORIES`),
    /// which are kept escaped.
    pub value: String,
    /// The file line the property starts on.
    pub line: usize,
}

impl Prop {
    /// The value of a parameter, by name (any case).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One component (`VEVENT`, `VTIMEZONE`, `STANDARD`, …).
#[derive(Debug, Clone)]
pub(crate) struct Comp {
    /// Upper case.
    pub name: String,
    pub props: Vec<Prop>,
    pub children: Vec<Comp>,
    /// The file line of its `BEGIN`.
    pub line: usize,
}

impl Comp {
    /// The first property with this name.
    pub fn prop(&self, name: &str) -> Option<&Prop> {
        self.props.iter().find(|p| p.name == name)
    }

    /// Every property with this name.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Prop> + 'a {
        self.props.iter().filter(move |p| p.name == name)
    }

    /// The value of the first property with this name.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.prop(name).map(|p| p.value.as_str())
    }
}

/// A top-level component of a calendar and the bytes it came from.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub comp: Comp,
    /// Its bytes in the file, from its `BEGIN` line to the terminator of its
    /// `END` line.
    pub raw: Range<usize>,
}

/// A calendar-level property and the bytes it came from.
#[derive(Debug, Clone)]
pub(crate) struct CalProp {
    pub prop: Prop,
    pub raw: Range<usize>,
}

/// A parsed iCalendar file. Several `VCALENDAR` objects in one file are read
/// as one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Document {
    pub props: Vec<CalProp>,
    pub items: Vec<Item>,
}

impl Document {
    /// The value of the first calendar-level property with this name.
    pub fn value(&self, name: &str) -> Option<&Prop> {
        self.props.iter().map(|p| &p.prop).find(|p| p.name == name)
    }

    /// Reads a file. `origin` names it in errors.
    pub fn parse(input: &[u8], origin: &str) -> Result<Document, IcsError> {
        let lines = content_lines(input);
        let err = |line: usize, message: String| IcsError::at_line(origin, line, message);
        let Some(first) = lines.first() else {
            return Err(IcsError::file(
                origin,
                "the file is empty; an iCalendar file starts with BEGIN:VCALENDAR",
            ));
        };
        if first.text != "BEGIN:VCALENDAR" {
            return Err(err(
                first.number,
                "this is not an iCalendar file: it does not start with BEGIN:VCALENDAR".into(),
            ));
        }
        let mut doc = Document::default();
        let mut i = 0;
        while i < lines.len() {
            let line = &lines[i];
            if line.text != "BEGIN:VCALENDAR" {
                return Err(err(
                    line.number,
                    "unexpected content outside BEGIN:VCALENDAR … END:VCALENDAR".into(),
                ));
            }
            i += 1;
            loop {
                let Some(line) = lines.get(i) else {
                    return Err(err(
                        lines.last().map_or(1, |l| l.number),
                        "the file ends without END:VCALENDAR (is it truncated?)".into(),
                    ));
                };
                match line.name() {
                    "END" => {
                        if line.simple_value() != "VCALENDAR" {
                            return Err(err(
                                line.number,
                                format!("END:{} without a matching BEGIN", line.simple_value()),
                            ));
                        }
                        i += 1;
                        break;
                    }
                    "BEGIN" => {
                        let end = component_end(&lines, i, origin)?;
                        let comp = parse_component(&lines[i..=end], origin)?;
                        doc.items.push(Item {
                            comp,
                            raw: lines[i].raw.start..lines[end].raw.end,
                        });
                        i = end + 1;
                    }
                    _ => {
                        let prop = parse_property(line, origin)?;
                        doc.props.push(CalProp {
                            prop,
                            raw: line.raw.clone(),
                        });
                        i += 1;
                    }
                }
            }
        }
        Ok(doc)
    }
}

/// The index of the `END` line that closes the `BEGIN` at `start`.
fn component_end(lines: &[Line], start: usize, origin: &str) -> Result<usize, IcsError> {
    let mut stack: Vec<(&str, usize)> = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(start) {
        match line.name() {
            "BEGIN" => stack.push((line.simple_value(), line.number)),
            "END" => {
                let Some((open, opened_at)) = stack.pop() else {
                    return Err(IcsError::at_line(
                        origin,
                        line.number,
                        "END without a matching BEGIN",
                    ));
                };
                if open != line.simple_value() {
                    return Err(IcsError::at_line(
                        origin,
                        line.number,
                        format!(
                            "END:{} does not close BEGIN:{open} of line {opened_at}",
                            line.simple_value()
                        ),
                    ));
                }
                if stack.is_empty() {
                    return Ok(i);
                }
            }
            _ => {}
        }
    }
    let (open, opened_at) = stack.first().copied().unwrap_or(("?", 0));
    Err(IcsError::at_line(
        origin,
        opened_at,
        format!("BEGIN:{open} is never closed (is the file truncated?)"),
    ))
}

/// Parses one component (its lines from `BEGIN` to `END`) with the crate.
fn parse_component(lines: &[Line], origin: &str) -> Result<Comp, IcsError> {
    let mut text = String::new();
    let mut starts = Vec::with_capacity(lines.len());
    for l in lines {
        starts.push(text.len());
        text.push_str(&l.text);
        text.push_str("\r\n");
    }
    // The file line of a position in `text`.
    let line_at = |offset: usize| -> usize {
        let idx = starts.partition_point(|&s| s <= offset).saturating_sub(1);
        lines.get(idx).map_or(0, |l| l.number)
    };
    let base = text.as_ptr() as usize;
    let offset_of = |s: &str| -> Option<usize> {
        let off = (s.as_ptr() as usize).checked_sub(base)?;
        (off < text.len()).then_some(off)
    };
    let parsed = icalendar::parser::read_calendar_simple(&text).map_err(|e| {
        let offset = text.len().saturating_sub(e.input.len());
        IcsError::at_line(
            origin,
            line_at(offset),
            "not a valid iCalendar content line (NAME;PARAM=VALUE:VALUE)",
        )
    })?;
    let Some(root) = parsed.into_iter().next() else {
        return Err(IcsError::at_line(
            origin,
            lines.first().map_or(0, |l| l.number),
            "not a valid iCalendar component",
        ));
    };
    let first_line = lines.first().map_or(0, |l| l.number);
    Ok(convert(&root, &|s| offset_of(s).map(line_at), first_line))
}

/// Turns the crate's component into ours, finding each property's line from
/// where its name lies in the parsed text.
fn convert(
    c: &icalendar::parser::Component<'_>,
    line_of: &dyn Fn(&str) -> Option<usize>,
    fallback: usize,
) -> Comp {
    let line = line_of(c.name.as_str()).unwrap_or(fallback);
    Comp {
        name: c.name.as_str().to_ascii_uppercase(),
        props: c
            .properties
            .iter()
            .map(|p| Prop {
                name: p.name.as_str().to_ascii_uppercase(),
                params: p
                    .params
                    .iter()
                    .map(|q| {
                        (
                            q.key.as_str().to_ascii_uppercase(),
                            q.val
                                .as_ref()
                                .map(|v| v.as_str().to_string())
                                .unwrap_or_default(),
                        )
                    })
                    .collect(),
                value: p.val.as_str().to_string(),
                line: line_of(p.name.as_str()).unwrap_or(line),
            })
            .collect(),
        children: c
            .components
            .iter()
            .map(|k| convert(k, line_of, line))
            .collect(),
        line,
    }
}

/// Parses one calendar-level content line.
fn parse_property(line: &Line, origin: &str) -> Result<Prop, IcsError> {
    let text = format!("{}\r\n", line.text);
    let p = icalendar::parser::Property::try_from(text.as_str()).map_err(|_| {
        IcsError::at_line(
            origin,
            line.number,
            "not a valid iCalendar content line (NAME;PARAM=VALUE:VALUE)",
        )
    })?;
    Ok(Prop {
        name: p.name.as_str().to_ascii_uppercase(),
        params: p
            .params
            .iter()
            .map(|q| {
                (
                    q.key.as_str().to_ascii_uppercase(),
                    q.val
                        .as_ref()
                        .map(|v| v.as_str().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect(),
        value: p.val.as_str().to_string(),
        line: line.number,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Document, IcsError> {
        Document::parse(s.as_bytes(), "test.ics")
    }

    #[test]
    fn components_keep_their_lines_and_bytes() {
        let s = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1\r\nSUMMARY:a\\, b\r\n \
                 c\r\nDTSTART;TZID=\"/x/Europe/Berlin\":20260101T090000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let doc = parse(s).unwrap();
        assert_eq!(doc.value("VERSION").unwrap().value, "2.0");
        let item = &doc.items[0];
        assert_eq!(item.comp.name, "VEVENT");
        assert_eq!(item.comp.line, 3);
        assert_eq!(item.comp.value("SUMMARY"), Some("a, bc"));
        let dt = item.comp.prop("DTSTART").unwrap();
        assert_eq!(dt.param("tzid"), Some("/x/Europe/Berlin"));
        assert_eq!(dt.line, 7);
        assert!(s[item.raw.clone()].starts_with("BEGIN:VEVENT\r\n"));
        assert!(s[item.raw.clone()].ends_with("END:VEVENT\r\n"));
    }

    #[test]
    fn broken_files_name_the_line() {
        let e = parse("hello\nworld\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(e.to_string().contains("not an iCalendar file"), "{e}");
        let e = parse("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:1\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.to_string().contains("never closed"), "{e}");
        let e = parse("BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VTODO\nEND:VCALENDAR\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        let e =
            parse("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:1\nBAD LINE\nEND:VEVENT\nEND:VCALENDAR\n")
                .unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert!(!e.to_string().contains("BAD LINE"));
        let e = parse("BEGIN:VCALENDAR\nVERSION:2.0\n").unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }
}
