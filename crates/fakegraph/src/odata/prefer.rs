//! The `Prefer` header.

use crate::error::GraphError;
use crate::timezone::Zone;

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
