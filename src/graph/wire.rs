//! The wire format of Graph's answers as calsync reads them: a collection
//! page, and the fields of an event. Each is derived with serde: a field a
//! type does not name is skipped as the answer is parsed, never built, so a
//! delta page (which takes no `$select` and sends whole events) costs no
//! more than what calsync reads of it.

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// One page of a collection: its items and the links that end it
/// (`concepts/paging.md`, `concepts/delta-query-overview.md`).
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    /// `None` when absent or `null`.
    pub value: Option<Vec<T>>,
    /// Where the next page is; `None` on the last one.
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
    /// The link to the next delta round, on the last page of a delta round;
    /// anything but a string is taken as absent.
    #[serde(rename = "@odata.deltaLink", default)]
    pub delta_link: Field<String>,
}

/// What is wrong with a page answer `Page` could not be read from, in the
/// words of the error that names it; `None` when the page itself is fine
/// and one of its items is not of the shape asked for.
pub fn odd_page(answer: &Value) -> Option<&'static str> {
    let Some(page) = answer.as_object() else {
        return Some("the answer is not a JSON object");
    };
    if !page.get("value").is_some_and(Value::is_array) {
        return Some("the answer has no `value` array");
    }
    if !matches!(
        page.get("@odata.nextLink"),
        None | Some(Value::Null | Value::String(_))
    ) {
        return Some("@odata.nextLink is not a string");
    }
    None
}

/// A field as Graph sent it: absent, of the expected type, or anything
/// else (`null` included). Graph's answers are outside input: a field of an
/// unexpected type is told apart from a missing one, and neither fails the
/// page.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Field<T> {
    #[default]
    Absent,
    Odd,
    Is(T),
}

impl<T> Field<T> {
    /// The value, when it is of the expected type.
    pub fn get(&self) -> Option<&T> {
        match self {
            Field::Is(v) => Some(v),
            _ => None,
        }
    }

    /// Whether Graph sent the field at all, whatever its value.
    pub fn is_present(&self) -> bool {
        !matches!(self, Field::Absent)
    }
}

impl Field<String> {
    pub fn as_str(&self) -> Option<&str> {
        self.get().map(String::as_str)
    }
}

impl Field<bool> {
    pub fn as_bool(&self) -> Option<bool> {
        self.get().copied()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either<T> {
            Is(T),
            Odd(IgnoredAny),
        }
        Ok(match Either::deserialize(d)? {
            Either::Is(v) => Field::Is(v),
            Either::Odd(_) => Field::Odd,
        })
    }
}

/// A field whose content is skipped: what is not copied is never read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Skipped;

impl<'de> Deserialize<'de> for Skipped {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| Skipped)
    }
}

/// An event's body as calsync may read it: [`Field<EventBody>`], or
/// [`Skipped`] when the body is not copied.
pub trait BodyField: Default {
    /// The body, when read and sent.
    fn body(&self) -> Option<&Field<EventBody>>;
}

impl BodyField for Field<EventBody> {
    fn body(&self) -> Option<&Field<EventBody>> {
        Some(self)
    }
}

impl BodyField for Skipped {
    fn body(&self) -> Option<&Field<EventBody>> {
        None
    }
}

/// The fields of a source event calsync reads, from calendarView, its
/// delta and a series' instances (`api-reference/v1.0/resources/event.md`).
/// The body is read as `B`: [`Skipped`] where it is not copied.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphEvent<B = Field<EventBody>> {
    #[serde(default)]
    pub id: Field<String>,
    /// `singleInstance`, `occurrence`, `exception` or `seriesMaster`.
    #[serde(default, rename = "type")]
    pub kind: Field<String>,
    #[serde(default)]
    pub series_master_id: Field<String>,
    #[serde(default)]
    pub original_start: Field<String>,
    /// The meeting's iCalendar UID, the same in every mailbox that holds it.
    #[serde(default, rename = "iCalUId")]
    pub ical_uid: Field<String>,
    #[serde(default)]
    pub subject: Field<String>,
    #[serde(default)]
    pub start: Field<DateTimeTimeZone>,
    #[serde(default)]
    pub end: Field<DateTimeTimeZone>,
    #[serde(default)]
    pub is_all_day: Field<bool>,
    #[serde(default)]
    pub show_as: Field<String>,
    #[serde(default)]
    pub sensitivity: Field<String>,
    #[serde(default)]
    pub is_cancelled: Field<bool>,
    #[serde(default)]
    pub categories: Field<Vec<Field<String>>>,
    #[serde(default)]
    pub location: Field<Location>,
    #[serde(default)]
    pub body: B,
    /// Delta's mark of a deleted item, whatever it holds.
    #[serde(default, rename = "@removed", deserialize_with = "present")]
    pub removed: bool,
}

impl<B> GraphEvent<B> {
    /// Whether Graph sent the field named `name` (its name on the wire), of
    /// those that decide what calsync makes of an event.
    pub fn has(&self, name: &str) -> bool {
        match name {
            "id" => self.id.is_present(),
            "type" => self.kind.is_present(),
            "seriesMasterId" => self.series_master_id.is_present(),
            "originalStart" => self.original_start.is_present(),
            "subject" => self.subject.is_present(),
            "start" => self.start.is_present(),
            "end" => self.end.is_present(),
            "isAllDay" => self.is_all_day.is_present(),
            "showAs" => self.show_as.is_present(),
            "sensitivity" => self.sensitivity.is_present(),
            "isCancelled" => self.is_cancelled.is_present(),
            "categories" => self.categories.is_present(),
            "location" => self.location.is_present(),
            _ => false,
        }
    }
}

/// The fields calsync reads of an event on the target: what it needs of a
/// copy it made, and what `validate` checks a copy does not hold.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyEvent {
    #[serde(default)]
    pub id: Field<String>,
    #[serde(default)]
    pub subject: Field<String>,
    #[serde(default)]
    pub start: Field<DateTimeTimeZone>,
    #[serde(default)]
    pub end: Field<DateTimeTimeZone>,
    #[serde(default)]
    pub is_all_day: Field<bool>,
    #[serde(default)]
    pub show_as: Field<String>,
    #[serde(default)]
    pub categories: Field<Vec<Field<String>>>,
    #[serde(default)]
    pub location: Field<Location>,
    /// calsync's marker.
    #[serde(default)]
    pub single_value_extended_properties: Field<Vec<Field<ExtendedProperty>>>,
    #[serde(default)]
    pub body: Field<EventBody>,
    #[serde(default)]
    pub body_preview: Field<String>,
    #[serde(default)]
    pub attendees: Field<Vec<IgnoredAny>>,
    #[serde(default)]
    pub is_online_meeting: Field<bool>,
    #[serde(default)]
    pub online_meeting: Field<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub online_meeting_url: Field<String>,
}

/// A field that counts as there whatever it holds, `null` included.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

/// Graph's `dateTimeTimeZone`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DateTimeTimeZone {
    #[serde(default)]
    pub date_time: Field<String>,
    #[serde(default)]
    pub time_zone: Field<String>,
}

/// An event's `location`, of which calsync reads the name.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    #[serde(default)]
    pub display_name: Field<String>,
}

/// An event's `body`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventBody {
    /// `text` or `html`.
    #[serde(default)]
    pub content_type: Field<String>,
    #[serde(default)]
    pub content: Field<String>,
}

/// One of an event's `singleValueExtendedProperties`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ExtendedProperty {
    #[serde(default)]
    pub id: Field<String>,
    #[serde(default)]
    pub value: Field<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_tell_absent_from_odd_and_skip_the_rest() {
        let ev: GraphEvent = serde_json::from_value(json!({
            "id": "a", "subject": null, "isAllDay": "yes", "categories": ["x", 1],
            "@removed": null, "unread": {"deep": [1, 2]},
        }))
        .unwrap();
        assert_eq!(ev.id.as_str(), Some("a"));
        assert_eq!(ev.subject, Field::Odd);
        assert!(ev.subject.is_present() && !ev.show_as.is_present());
        assert_eq!(ev.is_all_day, Field::Odd);
        assert_eq!(
            ev.categories,
            Field::Is(vec![Field::Is("x".to_owned()), Field::Odd])
        );
        assert!(ev.removed);
        let copy: CopyEvent = serde_json::from_value(json!({"attendees": [{}, {}]})).unwrap();
        assert_eq!(copy.attendees.get().map(Vec::len), Some(2));
        let skipped: GraphEvent<Skipped> =
            serde_json::from_value(json!({"body": {"content": "private"}})).unwrap();
        assert!(skipped.body.body().is_none());
    }

    #[test]
    fn odd_pages_are_named() {
        assert_eq!(
            odd_page(&json!([])),
            Some("the answer is not a JSON object")
        );
        assert_eq!(
            odd_page(&json!({"value": {}})),
            Some("the answer has no `value` array")
        );
        assert_eq!(
            odd_page(&json!({"value": [], "@odata.nextLink": 5})),
            Some("@odata.nextLink is not a string")
        );
        assert_eq!(odd_page(&json!({"value": [7]})), None);
    }
}
