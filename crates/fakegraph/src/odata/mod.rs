//! OData query options (`$top`, `$skip`, `$select`, `$orderby`, `$filter`,
//! `$expand`, `$count`) and the `Prefer` header.
//!
//! `$filter` is parsed into a small expression tree that supports what clients
//! of calendars use: comparisons (`eq ne gt ge lt le`), `and`/`or`/`not`,
//! parentheses, `startswith`/`endswith`/`contains`, and lambdas such as
//! `singleValueExtendedProperties/Any(ep: ep/id eq '…' and ep/value eq '…')`.
//! String comparisons are case-insensitive, as Exchange's are; the name part of
//! an extended property id is case-sensitive.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::error::GraphError;
use crate::store::ExtProp;
use crate::timezone::Zone;

/// Decoded query parameters, names lowercased (Graph's are case-insensitive).
#[derive(Clone, Debug, Default)]
pub(crate) struct Query {
    pub pairs: Vec<(String, String)>,
    pub raw: String,
}

impl Query {
    pub fn parse(raw: &str) -> Query {
        Query {
            pairs: form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
                .collect(),
            raw: raw.to_string(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The raw query with `$skip` replaced, for `@odata.nextLink`.
    pub fn with_skip(&self, skip: usize) -> String {
        let mut parts: Vec<&str> = self
            .raw
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| {
                let name = p.split('=').next().unwrap_or("").to_ascii_lowercase();
                name != "$skip" && name != "%24skip"
            })
            .collect();
        let skip = format!("$skip={skip}");
        parts.push(&skip);
        parts.join("&")
    }
}

/// The options of a collection or item request.
#[derive(Debug, Default)]
pub(crate) struct Options {
    pub top: Option<usize>,
    pub skip: usize,
    pub select: Option<Vec<String>>,
    pub orderby: Vec<(Vec<String>, bool)>,
    pub filter: Option<Expr>,
    /// `$expand=singleValueExtendedProperties($filter=…)`.
    pub expand_ext: Option<Expr>,
    pub count: bool,
}

/// Query parameters that are not OData system options but belong to a resource.
const RESOURCE_PARAMS: &[&str] = &["startdatetime", "enddatetime"];

impl Options {
    /// Parses the OData options; `properties` are the names `entity` (e.g.
    /// "event") has.
    pub fn parse(query: &Query, entity: &str, properties: &[&str]) -> Result<Options, GraphError> {
        let mut o = Options::default();
        for (name, value) in &query.pairs {
            match name.as_str() {
                "$top" => {
                    let top: i64 = value.trim().parse().map_err(|_| {
                        GraphError::bad_request(format!(
                            "Invalid $top query option value '{value}'."
                        ))
                    })?;
                    if !(1..=1000).contains(&top) {
                        return Err(GraphError::new(
                            400,
                            "ErrorInvalidParameter",
                            "The value of $top must be between 1 and 1000.",
                        ));
                    }
                    o.top = usize::try_from(top).ok();
                }
                "$skip" => {
                    o.skip = value.trim().parse().map_err(|_| {
                        GraphError::bad_request(format!(
                            "Invalid $skip query option value '{value}'."
                        ))
                    })?;
                }
                "$select" => {
                    let mut fields = Vec::new();
                    for f in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                        fields.push(canonical(f, entity, properties)?.to_string());
                    }
                    o.select = Some(fields);
                }
                "$orderby" => {
                    for clause in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                        let mut words = clause.split_whitespace();
                        let path: Vec<String> = words
                            .next()
                            .unwrap_or("")
                            .split('/')
                            .map(str::to_string)
                            .collect();
                        canonical(&path[0], entity, properties)?;
                        let desc = match words.next().map(str::to_ascii_lowercase).as_deref() {
                            None | Some("asc") => false,
                            Some("desc") => true,
                            Some(other) => {
                                return Err(GraphError::bad_request(format!(
                                    "Invalid $orderby direction '{other}'."
                                )));
                            }
                        };
                        o.orderby.push((path, desc));
                    }
                }
                "$filter" => o.filter = Some(Expr::parse(value, properties)?),
                "$expand" => o.expand_ext = Some(parse_expand(value)?),
                "$count" => o.count = value.eq_ignore_ascii_case("true"),
                "$search" => {
                    return Err(GraphError::bad_request(
                        "fakegraph does not implement $search.",
                    ));
                }
                other if other.starts_with('$') => {
                    return Err(GraphError::bad_request(format!(
                        "Query option '{other}' is not allowed. Make sure that the query option is supported."
                    )));
                }
                other if RESOURCE_PARAMS.contains(&other) => {}
                _ => {}
            }
        }
        Ok(o)
    }

    /// Keeps the selected fields (plus `id` and `@odata.etag`) of a rendered item.
    pub fn apply_select(&self, mut item: Map<String, Value>) -> Map<String, Value> {
        if let Some(select) = &self.select {
            item.retain(|k, _| {
                k == "id"
                    || k == "@odata.etag"
                    || k == "singleValueExtendedProperties"
                    || select.iter().any(|s| s == k)
            });
        }
        item
    }

    /// Sorts rendered items by `$orderby` (stable, so ties keep their order).
    pub fn sort<T>(&self, items: &mut [(Map<String, Value>, T)]) {
        if self.orderby.is_empty() {
            return;
        }
        items.sort_by(|(a, _), (b, _)| {
            for (path, desc) in &self.orderby {
                let ord = compare_values(&lookup(a, path), &lookup(b, path));
                let ord = if *desc { ord.reverse() } else { ord };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            Ordering::Equal
        });
    }
}

/// The canonical spelling of a property name, or Graph's 400 for an unknown one.
fn canonical<'a>(name: &str, entity: &str, properties: &[&'a str]) -> Result<&'a str, GraphError> {
    properties
        .iter()
        .find(|p| p.eq_ignore_ascii_case(name))
        .copied()
        .ok_or_else(|| {
            GraphError::bad_request(format!(
                "Could not find a property named '{name}' on type 'microsoft.graph.{entity}'."
            ))
        })
}

/// `singleValueExtendedProperties($filter=id eq '…' or id eq '…')`
fn parse_expand(value: &str) -> Result<Expr, GraphError> {
    let value = value.trim();
    let unsupported = || {
        GraphError::bad_request(format!(
            "fakegraph supports only $expand=singleValueExtendedProperties($filter=id eq '…'); got '{value}'."
        ))
    };
    let open = value.find('(').ok_or_else(unsupported)?;
    let (nav, rest) = value.split_at(open);
    if !nav
        .trim()
        .eq_ignore_ascii_case("singleValueExtendedProperties")
        || !rest.ends_with(')')
    {
        return Err(unsupported());
    }
    let inner = rest[1..rest.len() - 1].trim();
    let filter = inner
        .split_once('=')
        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("$filter"))
        .map(|(_, f)| f)
        .ok_or_else(unsupported)?;
    Expr::parse(filter, &["id", "value"])
}

fn lookup(item: &Map<String, Value>, path: &[String]) -> Value {
    let mut current: Option<&Value> = item
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&path[0]))
        .map(|(_, v)| v);
    for seg in &path[1..] {
        current = current.and_then(|v| v.as_object()).and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(seg))
                .map(|(_, v)| v)
        });
    }
    current.cloned().unwrap_or(Value::Null)
}

fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

// ---------------------------------------------------------------- $filter

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(f64),
    Slash,
    Open,
    Close,
    Comma,
    Colon,
}

fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '/' => {
                out.push(Token::Slash);
                i += 1;
            }
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            ',' => {
                out.push(Token::Comma);
                i += 1;
            }
            ':' => {
                out.push(Token::Colon);
                i += 1;
            }
            '\'' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string literal".into()),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            text.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&c) => {
                            text.push(c);
                            i += 1;
                        }
                    }
                }
                out.push(Token::Str(text));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || matches!(chars[i], '-' | '.' | ':' | '+'))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                match text.parse::<f64>() {
                    Ok(n) => out.push(Token::Num(n)),
                    Err(_) => out.push(Token::Str(text)),
                }
            }
            c if c.is_alphabetic() || c == '_' || c == '@' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '@'))
                {
                    i += 1;
                }
                out.push(Token::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character '{other}'")),
        }
    }
    Ok(out)
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Func {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Operand {
    Path(Vec<String>),
    Lit(Value),
}

/// A parsed `$filter` expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Operand, Op, Operand),
    Call(Func, Operand, Operand),
    Truthy(Vec<String>),
    Lambda {
        collection: String,
        all: bool,
        var: String,
        body: Box<Expr>,
    },
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    properties: &'a [&'a str],
    vars: Vec<String>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&mut self, word: &str) -> bool {
        if let Some(Token::Ident(w)) = self.peek()
            && w.eq_ignore_ascii_case(word)
        {
            self.pos += 1;
            return true;
        }
        false
    }

    fn expect(&mut self, t: Token) -> Result<(), String> {
        match self.next() {
            Some(got) if got == t => Ok(()),
            got => Err(format!("expected {t:?}, found {got:?}")),
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.keyword("not") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(&Token::Open) {
            self.pos += 1;
            let e = self.or()?;
            self.expect(Token::Close)?;
            return Ok(e);
        }
        if let Some(Token::Ident(name)) = self.peek().cloned()
            && self.tokens.get(self.pos + 1) == Some(&Token::Open)
        {
            let func = match name.to_ascii_lowercase().as_str() {
                "startswith" => Func::StartsWith,
                "endswith" => Func::EndsWith,
                "contains" => Func::Contains,
                other => return Err(format!("unknown function '{other}'")),
            };
            self.pos += 2;
            let a = self.operand()?;
            self.expect(Token::Comma)?;
            let b = self.operand()?;
            self.expect(Token::Close)?;
            return Ok(Expr::Call(func, a, b));
        }
        let left = self.operand_or_lambda()?;
        let left = match left {
            Err(lambda) => return Ok(lambda),
            Ok(operand) => operand,
        };
        let op = match self.peek() {
            Some(Token::Ident(w)) => match w.to_ascii_lowercase().as_str() {
                "eq" => Some(Op::Eq),
                "ne" => Some(Op::Ne),
                "gt" => Some(Op::Gt),
                "ge" => Some(Op::Ge),
                "lt" => Some(Op::Lt),
                "le" => Some(Op::Le),
                _ => None,
            },
            _ => None,
        };
        match (op, left) {
            (Some(op), left) => {
                self.pos += 1;
                let right = self.operand()?;
                Ok(Expr::Cmp(left, op, right))
            }
            (None, Operand::Path(path)) => Ok(Expr::Truthy(path)),
            (None, Operand::Lit(v)) => Err(format!("a literal ({v}) is not a condition")),
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.operand_or_lambda()? {
            Ok(o) => Ok(o),
            Err(_) => Err("a lambda is not a value".into()),
        }
    }

    /// An operand, or (as `Err`) a complete lambda expression.
    fn operand_or_lambda(&mut self) -> Result<Result<Operand, Expr>, String> {
        match self.next() {
            Some(Token::Str(s)) => Ok(Ok(Operand::Lit(Value::String(s)))),
            Some(Token::Num(n)) => Ok(Ok(Operand::Lit(
                serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number),
            ))),
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("true") => {
                Ok(Ok(Operand::Lit(Value::Bool(true))))
            }
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("false") => {
                Ok(Ok(Operand::Lit(Value::Bool(false))))
            }
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("null") => {
                Ok(Ok(Operand::Lit(Value::Null)))
            }
            Some(Token::Ident(first)) => {
                let mut path = vec![self.check_root(&first)?];
                while self.peek() == Some(&Token::Slash) {
                    self.pos += 1;
                    let Some(Token::Ident(seg)) = self.next() else {
                        return Err("expected a property name after '/'".into());
                    };
                    let lambda = seg.eq_ignore_ascii_case("any") || seg.eq_ignore_ascii_case("all");
                    if lambda && self.peek() == Some(&Token::Open) {
                        self.pos += 1;
                        let Some(Token::Ident(var)) = self.next() else {
                            return Err("expected a lambda variable".into());
                        };
                        self.expect(Token::Colon)?;
                        self.vars.push(var.clone());
                        let body = self.or()?;
                        self.vars.pop();
                        self.expect(Token::Close)?;
                        if path.len() != 1 {
                            return Err(
                                "lambdas are supported on top-level collections only".into()
                            );
                        }
                        return Ok(Err(Expr::Lambda {
                            collection: path.remove(0),
                            all: seg.eq_ignore_ascii_case("all"),
                            var,
                            body: Box::new(body),
                        }));
                    }
                    path.push(seg);
                }
                Ok(Ok(Operand::Path(path)))
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }

    fn check_root(&self, name: &str) -> Result<String, String> {
        if self.vars.iter().any(|v| v == name) {
            return Ok(name.to_string());
        }
        self.properties
            .iter()
            .find(|p| p.eq_ignore_ascii_case(name))
            .map(|p| p.to_string())
            .ok_or_else(|| format!("Could not find a property named '{name}'"))
    }
}

/// What a path resolves to while evaluating.
#[derive(Clone, Debug)]
enum Val {
    Json(Value),
    /// An extended property id: compared by its parts, the name case-sensitively
    /// when `strict` (as `$filter` does), else wholly case-insensitively.
    ExtId {
        id: String,
        strict: bool,
    },
}

/// The data a filter runs against: an item's JSON and its extended properties.
pub(crate) struct Subject<'a> {
    pub json: &'a Map<String, Value>,
    pub ext: &'a [ExtProp],
}

enum Binding<'a> {
    Ext(&'a ExtProp),
    Json(&'a Value),
}

impl Expr {
    pub fn parse(text: &str, properties: &[&str]) -> Result<Expr, GraphError> {
        let invalid =
            |detail: String| GraphError::bad_request(format!("Invalid filter clause: {detail}"));
        let tokens = tokenize(text).map_err(invalid)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            properties,
            vars: Vec::new(),
        };
        let e = p.or().map_err(invalid)?;
        if p.pos != p.tokens.len() {
            return Err(invalid(format!("unexpected {:?}", p.peek())));
        }
        Ok(e)
    }

    /// Evaluates a `$filter` against an item.
    pub fn matches(&self, subject: &Subject<'_>) -> Result<bool, GraphError> {
        self.eval(subject, &[], None)
    }

    /// Evaluates an `$expand` filter (`id eq '…'`) against one extended property.
    pub fn matches_ext(&self, prop: &ExtProp) -> bool {
        let json = Map::new();
        let subject = Subject {
            json: &json,
            ext: &[],
        };
        self.eval(&subject, &[], Some(prop)).unwrap_or(false)
    }

    fn eval(
        &self,
        subject: &Subject<'_>,
        env: &[(&str, Binding<'_>)],
        ext_self: Option<&ExtProp>,
    ) -> Result<bool, GraphError> {
        Ok(match self {
            Expr::Or(a, b) => a.eval(subject, env, ext_self)? || b.eval(subject, env, ext_self)?,
            Expr::And(a, b) => a.eval(subject, env, ext_self)? && b.eval(subject, env, ext_self)?,
            Expr::Not(a) => !a.eval(subject, env, ext_self)?,
            Expr::Truthy(path) => matches!(
                resolve(path, subject, env, ext_self),
                Val::Json(Value::Bool(true))
            ),
            Expr::Cmp(a, op, b) => {
                let a = operand(a, subject, env, ext_self);
                let b = operand(b, subject, env, ext_self);
                compare(&a, *op, &b)
            }
            Expr::Call(func, a, b) => {
                let a = text(&operand(a, subject, env, ext_self));
                let b = text(&operand(b, subject, env, ext_self));
                match (a, b) {
                    (Some(a), Some(b)) => {
                        let (a, b) = (a.to_lowercase(), b.to_lowercase());
                        match func {
                            Func::StartsWith => a.starts_with(&b),
                            Func::EndsWith => a.ends_with(&b),
                            Func::Contains => a.contains(&b),
                        }
                    }
                    _ => false,
                }
            }
            Expr::Lambda {
                collection,
                all,
                var,
                body,
            } => {
                let bindings: Vec<Binding<'_>> = if collection == "singleValueExtendedProperties" {
                    subject.ext.iter().map(Binding::Ext).collect()
                } else {
                    match subject.json.get(collection.as_str()) {
                        Some(Value::Array(items)) => items.iter().map(Binding::Json).collect(),
                        _ => Vec::new(),
                    }
                };
                let mut result = *all;
                for binding in bindings {
                    let mut inner: Vec<(&str, Binding<'_>)> = env
                        .iter()
                        .map(|(n, b)| {
                            (
                                *n,
                                match b {
                                    Binding::Ext(p) => Binding::Ext(p),
                                    Binding::Json(v) => Binding::Json(v),
                                },
                            )
                        })
                        .collect();
                    inner.push((var.as_str(), binding));
                    let hit = body.eval(subject, &inner, ext_self)?;
                    if *all && !hit {
                        result = false;
                        break;
                    }
                    if !*all && hit {
                        result = true;
                        break;
                    }
                }
                result
            }
        })
    }
}

fn operand(
    o: &Operand,
    subject: &Subject<'_>,
    env: &[(&str, Binding<'_>)],
    ext_self: Option<&ExtProp>,
) -> Val {
    match o {
        Operand::Lit(v) => Val::Json(v.clone()),
        Operand::Path(path) => resolve(path, subject, env, ext_self),
    }
}

fn ext_field(prop: &ExtProp, field: &str, strict: bool) -> Val {
    if field.eq_ignore_ascii_case("id") {
        Val::ExtId {
            id: prop.id.clone(),
            strict,
        }
    } else if field.eq_ignore_ascii_case("value") {
        Val::Json(Value::String(prop.value.clone()))
    } else {
        Val::Json(Value::Null)
    }
}

fn resolve(
    path: &[String],
    subject: &Subject<'_>,
    env: &[(&str, Binding<'_>)],
    ext_self: Option<&ExtProp>,
) -> Val {
    if let Some(prop) = ext_self {
        return ext_field(prop, &path[0], false);
    }
    if let Some((_, binding)) = env.iter().rev().find(|(n, _)| *n == path[0]) {
        return match binding {
            Binding::Ext(prop) => path
                .get(1)
                .map_or(Val::Json(Value::Null), |f| ext_field(prop, f, true)),
            Binding::Json(v) => {
                let mut current = Some(*v);
                for seg in &path[1..] {
                    current = current.and_then(|c| c.get(seg.as_str()));
                }
                Val::Json(current.cloned().unwrap_or(Value::Null))
            }
        };
    }
    Val::Json(lookup(subject.json, path))
}

fn text(v: &Val) -> Option<String> {
    match v {
        Val::Json(Value::String(s)) => Some(s.clone()),
        Val::ExtId { id, .. } => Some(id.clone()),
        _ => None,
    }
}

fn compare(a: &Val, op: Op, b: &Val) -> bool {
    let equal = match (a, b) {
        (Val::ExtId { id, strict }, Val::Json(Value::String(s)))
        | (Val::Json(Value::String(s)), Val::ExtId { id, strict }) => ext_id_eq(id, s, *strict),
        (Val::Json(x), Val::Json(y)) => compare_values(x, y) == Ordering::Equal && same_kind(x, y),
        _ => false,
    };
    match op {
        Op::Eq => equal,
        Op::Ne => !equal,
        _ => {
            let (Val::Json(x), Val::Json(y)) = (a, b) else {
                return false;
            };
            if !same_kind(x, y) || x.is_null() {
                return false;
            }
            let ord = compare_values(x, y);
            match op {
                Op::Gt => ord == Ordering::Greater,
                Op::Ge => ord != Ordering::Less,
                Op::Lt => ord == Ordering::Less,
                Op::Le => ord != Ordering::Greater,
                Op::Eq | Op::Ne => unreachable!("handled above"),
            }
        }
    }
}

fn same_kind(x: &Value, y: &Value) -> bool {
    std::mem::discriminant(x) == std::mem::discriminant(y)
}

/// Splits an extended property id into its case-insensitive head (type, GUID,
/// "Name") and its case-sensitive name: `String {GUID} Name X`.
fn ext_id_parts(id: &str) -> (String, String) {
    let words: Vec<&str> = id.split_whitespace().collect();
    if words.len() >= 4 && words[2].eq_ignore_ascii_case("name") {
        (
            format!("{} {} name", words[0], words[1]).to_lowercase(),
            words[3..].join(" "),
        )
    } else {
        (words.join(" ").to_lowercase(), String::new())
    }
}

/// Whether two extended property ids name the same property.
pub(crate) fn ext_id_eq(a: &str, b: &str, strict_name: bool) -> bool {
    if strict_name {
        ext_id_parts(a) == ext_id_parts(b)
    } else {
        ext_id_parts(a).0 == ext_id_parts(b).0
            && ext_id_parts(a).1.to_lowercase() == ext_id_parts(b).1.to_lowercase()
    }
}

/// Whether an extended property id is in one of Graph's accepted forms.
pub(crate) fn ext_id_valid(id: &str) -> bool {
    const TYPES: &[&str] = &[
        "String",
        "Integer",
        "Boolean",
        "SystemTime",
        "Binary",
        "CLSID",
        "Guid",
        "Double",
        "Short",
        "Long",
        "Float",
        "Currency",
        "ApplicationTime",
    ];
    let words: Vec<&str> = id.split_whitespace().collect();
    let Some(first) = words.first() else {
        return false;
    };
    if !TYPES.iter().any(|t| t.eq_ignore_ascii_case(first)) {
        return false;
    }
    let guid = |w: &str| {
        w.len() == 38
            && w.starts_with('{')
            && w.ends_with('}')
            && w[1..37].chars().all(|c| c.is_ascii_hexdigit() || c == '-')
    };
    match words.as_slice() {
        [_, tag] => tag.starts_with("0x"),
        [_, g, kind, rest @ ..] if guid(g) && !rest.is_empty() => {
            kind.eq_ignore_ascii_case("name")
                || (kind.eq_ignore_ascii_case("id") && rest.len() == 1)
        }
        _ => false,
    }
}

// ---------------------------------------------------------------- Prefer

/// The preferences of a request (`Prefer` headers, comma-separated or repeated).
#[derive(Clone, Debug, Default)]
pub(crate) struct Prefer {
    pub zone: Option<Zone>,
    pub text_body: Option<bool>,
    pub body_type_raw: Option<String>,
    pub immutable_id: bool,
    /// `odata.maxpagesize` (honoured by delta queries).
    pub max_page_size: Option<usize>,
}

impl Prefer {
    pub fn parse<'a>(headers: impl Iterator<Item = &'a str>) -> Result<Prefer, GraphError> {
        let mut p = Prefer::default();
        for header in headers {
            for pref in split_outside_quotes(header) {
                let Some((name, value)) = pref.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match name.trim().to_ascii_lowercase().as_str() {
                    "outlook.timezone" => {
                        p.zone = Some(
                            Zone::parse(value)
                                .ok_or_else(|| GraphError::unsupported_zone(value))?,
                        );
                    }
                    "outlook.body-content-type" => {
                        p.text_body = match value.to_ascii_lowercase().as_str() {
                            "text" => Some(true),
                            "html" => Some(false),
                            _ => None,
                        };
                        p.body_type_raw = Some(value.to_string());
                    }
                    "idtype" => p.immutable_id = value.eq_ignore_ascii_case("ImmutableId"),
                    "odata.maxpagesize" => p.max_page_size = value.parse().ok(),
                    _ => {}
                }
            }
        }
        Ok(p)
    }
}

fn split_outside_quotes(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PROPS: &[&str] = &[
        "subject",
        "sensitivity",
        "isAllDay",
        "start",
        "categories",
        "singleValueExtendedProperties",
    ];
    const ID: &str = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name SyncKey";

    fn subject_with(ext: &[ExtProp]) -> (Map<String, Value>, Vec<ExtProp>) {
        let json = json!({"subject": "Board Meeting", "sensitivity": "normal", "isAllDay": false,
            "start": {"dateTime": "2026-01-01T10:00:00.0000000"}, "categories": ["Red"]});
        (json.as_object().unwrap().clone(), ext.to_vec())
    }

    fn check(filter: &str, ext: &[ExtProp]) -> bool {
        let (json, ext) = subject_with(ext);
        Expr::parse(filter, PROPS)
            .unwrap()
            .matches(&Subject {
                json: &json,
                ext: &ext,
            })
            .unwrap()
    }

    #[test]
    fn extended_property_filters() {
        let ext = [ExtProp {
            id: ID.into(),
            value: "ABC-1".into(),
        }];
        assert!(check(
            &format!(
                "singleValueExtendedProperties/Any(ep: ep/id eq '{ID}' and ep/value eq 'abc-1')"
            ),
            &ext
        ));
        let upper_guid = ID.replace("66f5a359", "66F5A359");
        assert!(check(
            &format!(
                "singleValueExtendedProperties/any(ep: ep/id eq '{upper_guid}' and ep/value eq 'ABC-1')"
            ),
            &ext
        ));
        let other_case_name = ID.replace("SyncKey", "synckey");
        assert!(!check(
            &format!(
                "singleValueExtendedProperties/Any(ep: ep/id eq '{other_case_name}' and ep/value eq 'ABC-1')"
            ),
            &ext
        ));
        assert!(check(
            &format!(
                "singleValueExtendedProperties/Any(ep: ep/id eq '{ID}' and startswith(ep/value, 'abc'))"
            ),
            &ext
        ));
        assert!(check(
            &format!(
                "singleValueExtendedProperties/Any(ep: ep/id eq '{ID}' and contains(ep/value, 'c-'))"
            ),
            &ext
        ));
        assert!(check(
            &format!("singleValueExtendedProperties/Any(ep: ep/id eq '{ID}' and ep/value ne 'x')"),
            &ext
        ));
        assert!(!check(
            &format!("singleValueExtendedProperties/Any(ep: ep/id eq '{ID}' and ep/value eq 'x')"),
            &[]
        ));
    }

    #[test]
    fn property_filters() {
        assert!(check("sensitivity ne 'private' and not isAllDay", &[]));
        assert!(check("startswith(subject, 'board') or subject eq 'x'", &[]));
        assert!(check("start/dateTime ge '2026-01-01T00:00:00'", &[]));
        assert!(check("categories/any(c: c eq 'red')", &[]));
        assert!(Expr::parse("nosuch eq 1", PROPS).is_err());
        assert!(Expr::parse("subject eq", PROPS).is_err());
    }

    #[test]
    fn expand_filter_matches_ids_case_insensitively() {
        let e = parse_expand(&format!(
            "singleValueExtendedProperties($filter=id eq '{}')",
            ID.to_uppercase()
        ))
        .unwrap();
        assert!(e.matches_ext(&ExtProp {
            id: ID.into(),
            value: "v".into()
        }));
        assert!(!e.matches_ext(&ExtProp {
            id: "String {00000000-0000-0000-0000-000000000000} Name X".into(),
            value: "v".into()
        }));
    }

    #[test]
    fn next_link_query_replaces_skip() {
        let q = Query::parse("startDateTime=a&$top=5&$skip=5");
        assert_eq!(q.with_skip(10), "startDateTime=a&$top=5&$skip=10");
    }

    #[test]
    fn prefer_headers_parse() {
        let p = Prefer::parse(
            [
                "outlook.timezone=\"Pacific Standard Time\", outlook.body-content-type=\"text\"",
                "IdType=\"ImmutableId\"",
            ]
            .into_iter(),
        )
        .unwrap();
        assert_eq!(p.zone.unwrap().name, "Pacific Standard Time");
        assert_eq!(p.text_body, Some(true));
        assert!(p.immutable_id);
        assert!(Prefer::parse(["outlook.timezone=\"Nowhere\""].into_iter()).is_err());
    }
}
