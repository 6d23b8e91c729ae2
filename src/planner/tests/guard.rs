//! The deletion guard.

use super::*;

fn plan_with(deletes: usize, managed: usize) -> Plan {
    let d = Delete {
        target_id: "t".into(),
        key: key("k"),
        start: at(ts("2024-05-10T09:00:00Z")),
        subject: "s".into(),
        reason: DeleteReason::SourceGone,
    };
    Plan {
        deletes: vec![d; deletes],
        managed_in_window: managed,
        ..Plan::default()
    }
}

#[test]
fn deletion_guard_table() {
    let cases = [
        // (deletes, managed, fraction, allowed)
        (0, 0, 0.25, true),
        (10, 10, 0.25, true),  // 10 or fewer are always fine
        (11, 11, 0.25, false), // all of them
        (11, 44, 0.25, true),  // exactly 25%: not more
        (12, 44, 0.25, false),
        (11, 40, 0.25, false),
        (100, 1000, 0.25, true),
        (251, 1000, 0.25, false),
        (11, 11, 1.0, true),
        (11, 100, 0.0, false),
        (10, 100, 0.0, true),
        (11, 11, f64::NAN, false),
        (5, 5, f64::NAN, true),
    ];
    for (deletes, managed, fraction, allowed) in cases {
        let r = check_deletion_guard(&plan_with(deletes, managed), fraction);
        assert_eq!(r.is_ok(), allowed, "{deletes}/{managed} at {fraction}");
        if let Err(e) = r {
            assert_eq!(e.deletes, deletes);
            assert_eq!(e.managed, managed);
        }
    }
}

#[test]
fn guard_refusal_explains_the_way_out() {
    let e = check_deletion_guard(&plan_with(30, 40), 0.25).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("30"), "{msg}");
    assert!(msg.contains("40"), "{msg}");
    assert!(msg.contains("--force"), "{msg}");
    assert!(msg.contains("max_delete_fraction"), "{msg}");
    assert!(!msg.contains('\n'), "one paragraph: {msg}");
}
