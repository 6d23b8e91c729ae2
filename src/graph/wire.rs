//! The wire format of Graph's answers as calsync reads them.

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

pub(super) type ParsedPage = Option<PageParts>;

/// The parts of a collection page calsync reads.
#[derive(Default)]
pub(super) struct PageParts {
    /// `value`, when it is an array.
    pub(super) items: Option<Vec<Value>>,
    pub(super) next_link: Option<Value>,
    pub(super) delta_link: Option<Value>,
}

/// Parses a collection page, keeping of each item only the `keep` fields
/// (all with `None`) and of the page only `value` and the two links.
#[derive(Clone, Copy)]
pub(super) struct PageSeed<'k> {
    pub(super) keep: Option<&'k [&'k str]>,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = ParsedPage;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ParsedPage, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = ParsedPage;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a collection page")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ParsedPage, A::Error> {
        let mut page = PageParts::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "value" => page.items = map.next_value_seed(ItemsSeed { keep: self.keep })?,
                "@odata.nextLink" => page.next_link = Some(map.next_value()?),
                "@odata.deltaLink" => page.delta_link = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(page))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ParsedPage, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<ParsedPage, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<ParsedPage, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<ParsedPage, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<ParsedPage, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<ParsedPage, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<ParsedPage, E> {
        Ok(None)
    }
}

/// `value` of a page: `None` when it is not an array.
#[derive(Clone, Copy)]
struct ItemsSeed<'k> {
    keep: Option<&'k [&'k str]>,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = Option<Vec<Value>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match self.keep {
            None => Ok(match Value::deserialize(d)? {
                Value::Array(items) => Some(items),
                _ => None,
            }),
            Some(_) => d.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = Option<Vec<Value>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1000));
        while let Some(item) = seq.next_element_seed(KeptFields { keep: self.keep })? {
            items.push(item);
        }
        Ok(Some(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        IgnoredAny::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// One item: an object keeps only the `keep` fields; anything else is
/// taken whole.
#[derive(Clone, Copy)]
struct KeptFields<'k> {
    keep: Option<&'k [&'k str]>,
}

impl<'de> DeserializeSeed<'de> for KeptFields<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self.keep {
            None => Value::deserialize(d),
            Some(_) => d.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for KeptFields<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an item")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let keep = self.keep.unwrap_or_default();
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if keep.contains(&key.as_ref()) {
                out.insert(key.into_owned(), map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}
