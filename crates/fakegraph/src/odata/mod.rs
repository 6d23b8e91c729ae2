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

mod filter;
mod prefer;
#[cfg(test)]
mod tests;

pub(crate) use filter::{Expr, Subject, ext_id_eq, ext_id_valid};
pub(crate) use prefer::Prefer;

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
