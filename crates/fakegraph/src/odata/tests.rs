use super::*;
use crate::store::ExtProp;
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
        &format!("singleValueExtendedProperties/Any(ep: ep/id eq '{ID}' and ep/value eq 'abc-1')"),
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
