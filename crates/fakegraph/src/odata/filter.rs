//! `$filter`: parsed into a small expression tree, and evaluated against an
//! item's JSON and its extended properties.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::{compare_values, lookup};
use crate::error::GraphError;
use crate::store::ExtProp;

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
