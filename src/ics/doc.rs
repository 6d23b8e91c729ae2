//! An iCalendar file's structure: its calendar properties, and the
//! components directly inside the calendar, each remembering the lines and
//! bytes it came from.
//!
//! The file is scanned once, line by line, keeping only where each
//! component lies; a component's tree of properties is built on demand
//! ([`Document::component`]), one at a time, so that memory follows what is
//! read rather than the size of the file.
//!
//! # What is refused, and what is only one broken component
//!
//! A file is refused whole ([`IcsError`]) only when its structure is
//! broken: it does not start with `BEGIN:VCALENDAR` (not iCalendar), it
//! ends inside the calendar or inside a component (truncated), a component
//! is still open when its calendar's `END:VCALENDAR` comes (unbalanced), or
//! it holds more than [`MAX_COMPONENTS`] components.
//!
//! Anything else is local. A component whose own structure is wrong (an
//! `END` that closes nothing, `END:VTOOD` for `BEGIN:VTODO`, an inner
//! component left open, nesting deeper than [`MAX_DEPTH`], more than
//! [`MAX_PROPERTIES`] properties) is kept with a [`Defect`]; the reader of
//! events skips it with a warning. A `VEVENT` where no event may be (inside
//! another component, a nested `VCALENDAR`, or after `END:VCALENDAR`) is
//! listed in [`Document::hidden`], so that it is reported rather than
//! dropped in silence. A stray `END` or other text outside the calendar is
//! noted and ignored. A line that does not follow the content-line grammar
//! is kept as a [`BadLine`] naming the property it starts with, for the
//! reader to judge.
//!
//! No message here quotes the file: a component name is shown only when it
//! is a name (letters, digits, `-`), never a value.

use super::IcsError;
use super::limits::{MAX_COMPONENTS, MAX_DEPTH, MAX_PROPERTIES};
use super::text::{Edge, Line, Lines, is_text, parse_property, unescape_text};
use std::collections::HashMap;
use std::ops::Range;

/// One property of a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prop {
    /// Upper case.
    pub name: String,
    /// Parameter names (upper case) and values (see
    /// [`super::text::PropLine`]).
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

    /// Whether its `VALUE` parameter is `value` (any case).
    pub fn value_type_is(&self, value: &str) -> bool {
        self.param("VALUE")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(value))
    }
}

/// A content line that does not follow the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadLine {
    pub line: usize,
    /// The property name it starts with, upper case; empty when none.
    pub name: String,
}

/// One component (`VEVENT`, `VTIMEZONE`, `STANDARD`, …).
#[derive(Debug, Clone, Default)]
pub(crate) struct Comp {
    /// Upper case; empty when its `BEGIN` line names no component.
    pub name: String,
    pub props: Vec<Prop>,
    pub children: Vec<Comp>,
    /// Lines that do not follow the grammar.
    pub bad: Vec<BadLine>,
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

/// What is wrong with a component's own structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Defect {
    /// The line where it shows.
    pub line: usize,
    pub why: String,
}

/// A component directly inside a calendar, and where it lies.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// Upper case; empty when its `BEGIN` line names no component.
    pub name: String,
    /// The file line of its `BEGIN`.
    pub line: usize,
    /// Its bytes in the file, from its `BEGIN` line to the terminator of its
    /// `END` line.
    pub raw: Range<usize>,
    pub defect: Option<Defect>,
    /// Every `UID` in it, at any depth (at most [`MAX_UIDS_KEPT`]), and
    /// whether it is the component's own (not a sub-component's).
    pub uids: Vec<(String, bool)>,
}

/// How many `UID`s of one component [`Item::uids`] keeps.
const MAX_UIDS_KEPT: usize = 32;

/// A calendar-level property and the bytes it came from.
#[derive(Debug, Clone)]
pub(crate) struct CalProp {
    /// Upper case; empty when the line names no property.
    pub name: String,
    /// `None` when the line does not follow the grammar.
    pub prop: Option<Prop>,
    pub raw: Range<usize>,
}

/// A `VEVENT` where no event may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hidden {
    /// The line of its `BEGIN`.
    pub line: usize,
    /// Its `UID`, when it has a readable one.
    pub uid: Option<String>,
    pub why: String,
}

/// A parsed iCalendar file. Several `VCALENDAR` objects in one file are read
/// as one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Document {
    pub props: Vec<CalProp>,
    pub items: Vec<Item>,
    pub hidden: Vec<Hidden>,
    /// Things ignored that are not events (a stray `END`, text after
    /// `END:VCALENDAR`): the line, and what was ignored.
    pub notes: Vec<(usize, String)>,
}

/// `BEGIN:NAME`, showing the name only when it is one.
fn begin_of(name: &str) -> String {
    if name.is_empty() {
        "a BEGIN line".to_string()
    } else {
        format!("BEGIN:{name}")
    }
}

fn end_of(name: &str) -> String {
    if name.is_empty() {
        "an END line".to_string()
    } else {
        format!("END:{name}")
    }
}

/// A `VEVENT` found inside a component, being scanned.
struct OpenHidden {
    /// The depth of its `BEGIN` in the stack.
    depth: usize,
    line: usize,
    uid: Option<String>,
}

/// A component being scanned.
struct Open {
    /// Its own name and `BEGIN` line.
    root: (String, usize),
    /// The names of the components open (with their `BEGIN` lines), its
    /// own first.
    stack: Vec<(String, usize)>,
    /// How many components of each name are open (so that an `END` is
    /// matched in constant time, however deep the nesting).
    open_names: HashMap<String, usize>,
    start: usize,
    defect: Option<Defect>,
    props: usize,
    hidden: Vec<OpenHidden>,
    /// Why a `VEVENT` found inside is misplaced.
    why_hidden: String,
    uids: Vec<(String, bool)>,
}

impl Open {
    fn new(name: String, line: &Line, why_hidden: String) -> Open {
        Open {
            root: (name.clone(), line.number),
            open_names: HashMap::from([(name.clone(), 1)]),
            stack: vec![(name, line.number)],
            start: line.raw.start,
            defect: None,
            props: 0,
            hidden: Vec::new(),
            why_hidden,
            uids: Vec::new(),
        }
    }

    fn push(&mut self, name: String, line: usize) {
        *self.open_names.entry(name.clone()).or_default() += 1;
        self.stack.push((name, line));
    }

    fn pop(&mut self) -> Option<(String, usize)> {
        let top = self.stack.pop()?;
        if let Some(n) = self.open_names.get_mut(&top.0) {
            *n = n.saturating_sub(1);
        }
        Some(top)
    }

    fn flag(&mut self, line: usize, why: impl Into<String>) {
        if self.defect.is_none() {
            self.defect = Some(Defect {
                line,
                why: why.into(),
            });
        }
    }

    /// Takes a line inside the component. Returns `Ok(true)` when it
    /// closed the component, `Err` with the line's `END` name when it is an
    /// `END:VCALENDAR` that this component does not hold (the component was
    /// never closed).
    fn take(&mut self, line: &Line, hidden_out: &mut Vec<Hidden>) -> Result<bool, ()> {
        match line.edge() {
            Some((Edge::Begin, name)) => {
                // The calendar counts as depth 1.
                if self.stack.len() + 2 > MAX_DEPTH {
                    self.flag(
                        line.number,
                        format!("its components nest more than {MAX_DEPTH} deep"),
                    );
                }
                if name == "VEVENT" {
                    self.hidden.push(OpenHidden {
                        depth: self.stack.len() + 1,
                        line: line.number,
                        uid: None,
                    });
                }
                self.push(name, line.number);
            }
            Some((Edge::End, name)) => {
                let top = self
                    .stack
                    .last()
                    .map(|(n, _)| n.clone())
                    .unwrap_or_default();
                if !name.is_empty() && name == top {
                    self.pop();
                } else if !name.is_empty() && self.open_names.get(&name).is_some_and(|n| *n > 0) {
                    let (inner, opened) = self.stack.last().cloned().unwrap_or_default();
                    self.flag(
                        line.number,
                        format!(
                            "{} closes an outer component while {} of line {opened} is still \
                             open",
                            end_of(&name),
                            begin_of(&inner)
                        ),
                    );
                    while let Some((n, _)) = self.pop() {
                        if n == name {
                            break;
                        }
                    }
                } else if name == "VCALENDAR" {
                    return Err(());
                } else {
                    let (inner, opened) = self.pop().unwrap_or_default();
                    self.flag(
                        line.number,
                        format!(
                            "{} does not close {} of line {opened}",
                            end_of(&name),
                            begin_of(&inner)
                        ),
                    );
                }
                // The hidden events open are ordered by depth: those closed
                // now are at the end.
                let depth = self.stack.len();
                while let Some(h) = self.hidden.pop_if(|h| h.depth > depth) {
                    hidden_out.push(Hidden {
                        line: h.line,
                        uid: h.uid,
                        why: self.why_hidden.clone(),
                    });
                }
                return Ok(self.stack.is_empty());
            }
            None => {
                self.props += 1;
                if self.props > MAX_PROPERTIES {
                    self.flag(
                        line.number,
                        format!("it has more than {MAX_PROPERTIES} properties"),
                    );
                }
                let depth = self.stack.len();
                if line
                    .text
                    .get(..3)
                    .is_some_and(|n| n.eq_ignore_ascii_case("UID"))
                    && let Ok(p) = parse_property(&line.text)
                    && p.name == "UID"
                {
                    let uid = unescape_text(p.value.trim());
                    if !uid.is_empty() {
                        if let Some(h) = self.hidden.last_mut().filter(|h| h.depth == depth)
                            && h.uid.is_none()
                        {
                            h.uid = Some(uid.clone());
                        }
                        let own = depth == 1;
                        if self.uids.len() < MAX_UIDS_KEPT
                            && !self.uids.iter().any(|(u, o)| *u == uid && *o == own)
                        {
                            self.uids.push((uid, own));
                        }
                    }
                }
            }
        }
        Ok(false)
    }
}

impl Document {
    /// The value of the first calendar-level property with this name.
    pub fn value(&self, name: &str) -> Option<&Prop> {
        self.props
            .iter()
            .filter_map(|p| p.prop.as_ref())
            .find(|p| p.name == name)
    }

    /// Whether a calendar-level line that names `name` could not be read.
    pub fn has_bad(&self, name: &str) -> bool {
        self.props
            .iter()
            .any(|p| p.prop.is_none() && p.name == name)
    }

    /// Reads a file's structure. `origin` names it in errors.
    pub fn parse(input: &[u8], origin: &str) -> Result<Document, IcsError> {
        let err = |line: usize, message: String| IcsError::at_line(origin, line, message);
        let mut lines = Lines::new(input);
        let Some(first) = lines.next() else {
            return Err(IcsError::file(
                origin,
                "the file is empty; an iCalendar file starts with BEGIN:VCALENDAR",
            ));
        };
        if first.edge() != Some((Edge::Begin, "VCALENDAR".to_string())) {
            return Err(err(
                first.number,
                "this is not an iCalendar file: it does not start with BEGIN:VCALENDAR".into(),
            ));
        }
        let mut doc = Document::default();
        // The line of the calendar's BEGIN while inside one.
        let mut calendar: Option<usize> = Some(first.number);
        let mut item: Option<Open> = None;
        // A component outside any calendar, scanned only for events.
        let mut stray: Option<Open> = None;
        let mut junk_noted = false;
        for line in lines {
            if let Some(open) = item.as_mut() {
                match open.take(&line, &mut doc.hidden) {
                    Ok(false) => {}
                    Ok(true) => {
                        if let Some(open) = item.take() {
                            let (name, at) = open.stack_root();
                            doc.items.push(Item {
                                name,
                                line: at,
                                raw: open.start..line.raw.end,
                                defect: open.defect,
                                uids: open.uids,
                            });
                        }
                    }
                    Err(()) => {
                        let (name, at) = open.stack_root();
                        return Err(err(
                            at,
                            format!(
                                "{} is never closed: END:VCALENDAR comes first, on line {}. \
                                 The file is unbalanced; export it again",
                                begin_of(&name),
                                line.number
                            ),
                        ));
                    }
                }
                continue;
            }
            if calendar.is_some() {
                match line.edge() {
                    Some((Edge::End, name)) if name == "VCALENDAR" => calendar = None,
                    Some((Edge::End, name)) => doc.notes.push((
                        line.number,
                        format!("{} without a matching BEGIN was ignored", end_of(&name)),
                    )),
                    Some((Edge::Begin, name)) => {
                        if doc.items.len() >= MAX_COMPONENTS {
                            return Err(err(
                                line.number,
                                format!(
                                    "the file holds more than {MAX_COMPONENTS} components, more \
                                     than calsync reads"
                                ),
                            ));
                        }
                        let why = if name == "VCALENDAR" {
                            format!(
                                "it lies in a VCALENDAR nested inside the calendar (line {}), \
                                 where calsync does not read events",
                                line.number
                            )
                        } else {
                            format!(
                                "it lies inside another component ({} of line {}), not directly \
                                 in the calendar",
                                begin_of(&name),
                                line.number
                            )
                        };
                        item = Some(Open::new(name, &line, why));
                    }
                    None => {
                        let prop = parse_property(&line.text);
                        let name = match &prop {
                            Ok(p) => p.name.clone(),
                            Err(n) => n.clone(),
                        };
                        doc.props.push(CalProp {
                            name,
                            prop: prop.ok().map(|p| to_prop(&p, line.number)),
                            raw: line.raw.clone(),
                        });
                    }
                }
                continue;
            }
            // Outside any calendar.
            if let Some(open) = stray.as_mut() {
                if matches!(open.take(&line, &mut doc.hidden), Ok(true) | Err(())) {
                    stray = None;
                }
                continue;
            }
            match line.edge() {
                Some((Edge::Begin, name)) if name == "VCALENDAR" => {
                    calendar = Some(line.number);
                }
                Some((Edge::Begin, name)) => {
                    let why = format!(
                        "it lies after END:VCALENDAR (in {} of line {}), outside the calendar",
                        begin_of(&name),
                        line.number
                    );
                    if name == "VEVENT" {
                        // The component itself is the event.
                        let mut open = Open::new(name, &line, why.clone());
                        open.hidden.push(OpenHidden {
                            depth: 1,
                            line: line.number,
                            uid: None,
                        });
                        open.why_hidden = why;
                        stray = Some(open);
                    } else {
                        stray = Some(Open::new(name, &line, why));
                    }
                    note_junk(&mut doc, &mut junk_noted, line.number);
                }
                _ => note_junk(&mut doc, &mut junk_noted, line.number),
            }
        }
        if let Some(open) = item {
            let (name, at) = open.stack_root();
            return Err(err(
                at,
                format!(
                    "{} is never closed: the file ends first. It looks truncated, as a copy \
                     or download cut short does; export or download the calendar again",
                    begin_of(&name)
                ),
            ));
        }
        if let Some(at) = calendar {
            return Err(err(
                at,
                "the calendar that starts here never ends: the file has no END:VCALENDAR after \
                 it. It looks truncated, as a copy or download cut short does; export or download the \
                 calendar again"
                    .into(),
            ));
        }
        if let Some(open) = stray {
            // Events in an unfinished stray component are still reported.
            for h in open.hidden {
                doc.hidden.push(Hidden {
                    line: h.line,
                    uid: h.uid,
                    why: open.why_hidden.clone(),
                });
            }
        }
        doc.hidden.sort_by_key(|h| h.line);
        Ok(doc)
    }

    /// The tree of one component of the file `input` (the one `parse` read
    /// `item` from). Components nested deeper than [`MAX_DEPTH`] and
    /// properties beyond [`MAX_PROPERTIES`] are left out (the item then has
    /// a [`Defect`]); in a component with a defect, every `END` closes the
    /// innermost component open.
    pub fn component(input: &[u8], item: &Item) -> Comp {
        let bytes = input.get(..item.raw.end).unwrap_or_default();
        let lines = Lines::starting_at(bytes, item.raw.start, item.line.saturating_sub(1));
        // The components open; the first is the item.
        let mut stack: Vec<Comp> = Vec::new();
        // Components opened beyond MAX_DEPTH, not kept.
        let mut too_deep = 0usize;
        let mut props = 0usize;
        for line in lines {
            match line.edge() {
                Some((Edge::Begin, name)) => {
                    if stack.len() + 1 >= MAX_DEPTH || too_deep > 0 {
                        too_deep += 1;
                    } else {
                        stack.push(Comp {
                            name,
                            line: line.number,
                            ..Comp::default()
                        });
                    }
                }
                Some((Edge::End, _)) => {
                    if too_deep > 0 {
                        too_deep -= 1;
                        continue;
                    }
                    let Some(done) = stack.pop() else {
                        break;
                    };
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => return done,
                    }
                }
                None => {
                    if too_deep > 0 {
                        continue;
                    }
                    props += 1;
                    let Some(comp) = stack.last_mut() else {
                        continue;
                    };
                    if props > MAX_PROPERTIES {
                        continue;
                    }
                    match parse_property(&line.text) {
                        Ok(p) => comp.props.push(to_prop(&p, line.number)),
                        Err(name) => comp.bad.push(BadLine {
                            line: line.number,
                            name,
                        }),
                    }
                }
            }
        }
        // Only reached for a component whose END was not where the scan
        // found it; close what is open.
        let mut root: Option<Comp> = None;
        while let Some(done) = stack.pop() {
            match stack.last_mut() {
                Some(parent) => parent.children.push(done),
                None => root = Some(done),
            }
        }
        root.unwrap_or_default()
    }
}

impl Open {
    /// The component's own name and `BEGIN` line.
    fn stack_root(&self) -> (String, usize) {
        self.root.clone()
    }
}

fn note_junk(doc: &mut Document, noted: &mut bool, line: usize) {
    if !*noted {
        *noted = true;
        doc.notes.push((
            line,
            "text after END:VCALENDAR was ignored (events in it are reported one by one)"
                .to_string(),
        ));
    }
}

fn to_prop(p: &super::text::PropLine<'_>, line: usize) -> Prop {
    let value = if is_text(&p.name, &p.params) {
        unescape_text(p.value)
    } else {
        p.value.to_string()
    };
    Prop {
        name: p.name.clone(),
        params: p.params.clone(),
        value,
        line,
    }
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
        assert_eq!(item.name, "VEVENT");
        assert_eq!(item.line, 3);
        let comp = Document::component(s.as_bytes(), item);
        assert_eq!(comp.line, 3);
        assert_eq!(comp.value("SUMMARY"), Some("a, bc"));
        let dt = comp.prop("DTSTART").unwrap();
        assert_eq!(dt.param("tzid"), Some("/x/Europe/Berlin"));
        assert_eq!(dt.line, 7);
        assert!(s[item.raw.clone()].starts_with("BEGIN:VEVENT\r\n"));
        assert!(s[item.raw.clone()].ends_with("END:VEVENT\r\n"));
    }

    #[test]
    fn broken_structure_refuses_the_file_and_names_the_line() {
        let e = parse("hello\nworld\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(e.to_string().contains("not an iCalendar file"), "{e}");
        let e = parse("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:1\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.to_string().contains("truncated"), "{e}");
        let e = parse("BEGIN:VCALENDAR\nVERSION:2.0\n").unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        // An event left open when the calendar ends: unbalanced.
        let e = parse("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:1\nEND:VCALENDAR\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.to_string().contains("never closed"), "{e}");
        // 15,000 nested BEGIN lines: refused, no stack overflow.
        let deep = format!("BEGIN:VCALENDAR\n{}", "BEGIN:VEVENT\n".repeat(15_000));
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn a_broken_component_is_only_that_component() {
        let s = "BEGIN:VCALENDAR\nBEGIN:VTODO\nUID:t\nEND:VTOOD\nBEGIN:VEVENT\nUID:e\n\
                 X-APPLE-RADIUS=49\nEND:VEVENT\nEND:VEVENT\nEND:VCALENDAR\nsome text\n";
        let doc = parse(s).unwrap();
        assert_eq!(doc.items.len(), 2);
        let todo = &doc.items[0];
        assert_eq!(todo.defect.as_ref().unwrap().line, 4);
        assert!(
            todo.defect
                .as_ref()
                .unwrap()
                .why
                .contains("does not close BEGIN:VTODO")
        );
        let event = &doc.items[1];
        assert!(event.defect.is_none());
        let comp = Document::component(s.as_bytes(), event);
        assert_eq!(
            comp.bad,
            [BadLine {
                line: 7,
                name: "X-APPLE-RADIUS".into()
            }]
        );
        // The stray END and the text after the calendar are noted.
        assert_eq!(doc.notes.len(), 2, "{:?}", doc.notes);
        assert_eq!(doc.notes[0].0, 9);
        assert_eq!(doc.notes[1].0, 11);
    }

    #[test]
    fn deep_nesting_is_a_defect_and_the_tree_stays_shallow() {
        let s = format!(
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\n{}{}END:VEVENT\nEND:VCALENDAR\n",
            "BEGIN:X\n".repeat(15_000),
            "END:X\n".repeat(15_000)
        );
        let doc = parse(&s).unwrap();
        let item = &doc.items[0];
        assert!(item.defect.as_ref().unwrap().why.contains("nest"));
        let comp = Document::component(s.as_bytes(), item);
        let mut depth = 1;
        let mut c = &comp;
        while let Some(child) = c.children.first() {
            depth += 1;
            c = child;
        }
        assert!(depth < MAX_DEPTH, "{depth}");
        assert_eq!(comp.value("UID"), Some("x"));
    }

    #[test]
    fn events_where_none_may_be_are_listed() {
        let s = "BEGIN:VCALENDAR\nBEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:nested\nEND:VEVENT\n\
                 END:VCALENDAR\nBEGIN:VTODO\nBEGIN:VEVENT\nSUMMARY:x\nEND:VEVENT\nEND:VTODO\n\
                 END:VCALENDAR\nBEGIN:VEVENT\nUID:after\nEND:VEVENT\n";
        let doc = parse(s).unwrap();
        let found: Vec<(usize, Option<&str>)> = doc
            .hidden
            .iter()
            .map(|h| (h.line, h.uid.as_deref()))
            .collect();
        assert_eq!(found, [(3, Some("nested")), (8, None), (13, Some("after"))]);
        assert!(doc.hidden[0].why.contains("nested"), "{:?}", doc.hidden);
        assert!(doc.hidden[2].why.contains("after END:VCALENDAR"));
    }

    #[test]
    fn messages_never_quote_what_is_not_a_name() {
        let s = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:CANARY secret words\nEND:VCALENDAR\n";
        let why = &parse(s).unwrap().items[0].defect.clone().unwrap().why;
        assert!(!why.contains("CANARY"), "{why}");
        let s = "BEGIN:VCALENDAR\nBEGIN:CANARY secret\nEND:VCALENDAR\n";
        let e = parse(s).unwrap_err();
        assert!(!e.to_string().contains("CANARY"), "{e}");
        let s = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nBEGIN:X\nEND:CANARY secret\nEND:VEVENT\nEND:VCALENDAR\n";
        let doc = parse(s).unwrap();
        let why = &doc.items[0].defect.as_ref().unwrap().why;
        assert!(!why.contains("CANARY"), "{why}");
    }
}
