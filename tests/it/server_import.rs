//! Integration tests: schedule import validation. A bad row is reported
//! with its line and nothing is imported.

use checkin_kiosk::config::ClinicSettings;
use checkin_kiosk::server::import::{self, Format, ImportError};
use checkin_kiosk::server::{Db, schedule};
use chrono::NaiveDate;

fn clinic() -> ClinicSettings {
    super::server::config(std::path::Path::new("/tmp"))
        .clinics
        .remove(0)
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()
}

const HEADER: &str = "appointment_id,patient_id,first_name,last_name,date_of_birth,start,duration_minutes,clinician,status,expected_copay_cents,payer,member_id,coverage_valid_to";

fn csv(rows: &[&str]) -> String {
    let mut s = String::from(HEADER);
    for r in rows {
        s.push('\n');
        s.push_str(r);
    }
    s.push('\n');
    s
}

fn line_errors(err: ImportError) -> Vec<(u64, String)> {
    match err {
        ImportError::Rows(rows) => rows.into_iter().map(|r| (r.line, r.message)).collect(),
        other => panic!("expected row errors, got {other}"),
    }
}

#[test]
fn a_valid_csv_imports_and_a_reimport_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("s.db")).unwrap();
    let path = dir.path().join("day.csv");
    std::fs::write(
        &path,
        csv(&[
            "a1,p1,Inés,Núñez-Ortega,1980-05-17,2026-03-02 09:00,20,Dr. Patel,booked,2500,Aetna,M123,2026-12-31",
            "a2,p2,\"Mary, Jr.\",O'Neil,1990-01-02,2026-03-02T09:20:00-05:00,,Dr. Patel,,,,,",
        ]),
    )
    .unwrap();
    let s = import::import_file(&db, &clinic(), &path).unwrap();
    assert_eq!((s.upserted, s.removed), (2, 0));
    let wires = db
        .blocking(|c| schedule::day_wires(c, &clinic().id, day()))
        .unwrap();
    assert_eq!(wires.len(), 2);
    assert_eq!(wires[0].patient.last_name, "Núñez-Ortega");
    assert_eq!(wires[1].patient.first_name, "Mary, Jr.");
    assert_eq!(wires[0].expected_copay_cents, 2500);
    assert!(wires[1].coverage.is_none());
    let again = import::import_file(&db, &clinic(), &path).unwrap();
    assert_eq!((again.upserted, again.unchanged), (0, 2));
}

#[test]
fn bad_csv_rows_are_reported_by_line_and_nothing_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("s.db")).unwrap();
    let path = dir.path().join("day.csv");
    std::fs::write(
        &path,
        csv(&[
            "a1,p1,Ana,Diaz,1980-05-17,2026-03-02 09:00,20,Dr. Patel,booked,2500,,,",
            "a2,p2,Bo,Li,1980-13-40,2026-03-02 09:20,20,Dr. Patel,booked,,,,",
            "a3,p3,Cy,Wu,1980-01-01,tomorrow,20,Dr. Patel,maybe,-5,,,",
            "a1,p4,Di,Ng,1980-01-01,2026-03-02 10:00,20,Dr. Patel,,,,,",
            "a5,p1,Ann,Diaz,1980-05-17,2026-03-02 10:20,20,Dr. Patel,,,Aetna,,",
        ]),
    )
    .unwrap();
    let errs = line_errors(import::import_file(&db, &clinic(), &path).unwrap_err());
    let lines: Vec<u64> = errs.iter().map(|e| e.0).collect();
    assert!(
        lines.contains(&3) && lines.contains(&4) && lines.contains(&5) && lines.contains(&6),
        "{errs:?}"
    );
    assert!(!lines.contains(&2), "the good row is fine: {errs:?}");
    let at = |l: u64| {
        errs.iter()
            .filter(|e| e.0 == l)
            .map(|e| e.1.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    assert!(at(3).contains("date_of_birth"));
    assert!(
        at(4).contains("start")
            && at(4).contains("status")
            && at(4).contains("expected_copay_cents"),
        "{}",
        at(4)
    );
    assert!(at(5).contains("repeats the row on line 2"));
    assert!(
        at(6).contains("payer and member_id") || at(6).contains("different name"),
        "{}",
        at(6)
    );
    // No cell values (PHI) in messages.
    assert!(
        errs.iter()
            .all(|e| !e.1.contains("Diaz") && !e.1.contains("1980-13-40"))
    );
    assert!(
        db.blocking(|c| schedule::day_wires(c, &clinic().id, day()))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn csv_shape_errors_are_refused() {
    let c = clinic();
    let err = import::parse("appointment_id,nickname\na1,x\n", Format::Csv, &c).unwrap_err();
    assert!(
        matches!(err, ImportError::Format(ref m) if m.contains("nickname")),
        "{err}"
    );
    let err = import::parse(&format!("{HEADER}\n"), Format::Csv, &c).unwrap_err();
    assert!(matches!(err, ImportError::Format(_)));
    // A quoted cell spanning two lines shifts the next row's line number.
    let text = csv(&[
        "a1,p1,\"Ana\nMaria\",Diaz,1980-05-17,2026-03-02 09:00,20,Dr. Patel,,,,,",
        "a2,p2,Bo,Li,bad,2026-03-02 09:20,20,Dr. Patel,,,,,",
    ]);
    let errs = line_errors(import::parse(&text, Format::Csv, &c).unwrap_err());
    assert!(
        errs.iter()
            .any(|e| e.0 == 4 && e.1.contains("date_of_birth")),
        "{errs:?}"
    );
    // A line break inside a name is itself refused.
    assert!(
        errs.iter().any(|e| e.0 == 2 && e.1.contains("first_name")),
        "{errs:?}"
    );
    let short = csv(&["a1,p1,Ana"]);
    let errs = line_errors(import::parse(&short, Format::Csv, &c).unwrap_err());
    assert_eq!(errs[0].0, 2);
}

#[test]
fn json_imports_with_row_line_numbers() {
    let c = clinic();
    let good = r#"[
  {"appointment_id": "a1", "patient_id": "p1", "first_name": "Zoë", "last_name": "Brontë",
   "date_of_birth": "1991-01-30", "start": "2026-03-02 09:00", "clinician": "Dr. Okafor",
   "expected_copay_cents": 2500, "payer": "Aetna", "member_id": "M1", "subscriber_relation": "self"}
]"#;
    let appts = import::parse(good, Format::Json, &c).unwrap();
    assert_eq!(appts.len(), 1);
    assert_eq!(appts[0].expected_copay.cents, 2500);
    assert_eq!(appts[0].local_day(), day());

    let bad = r#"[
  {"appointment_id": "a1", "patient_id": "p1", "first_name": "A", "last_name": "B",
   "date_of_birth": "1991-01-30", "start": "2026-03-02 09:00", "clinician": "Dr. X"},
  {"appointment_id": "a2", "patient_id": "p2", "first_name": "C", "last_name": "D",
   "date_of_birth": "1991-01-30", "start": "2026-03-02 09:20", "clinician": "Dr. X",
   "location_id": "moon"},
  {"appointment_id": "a3", "surprise": true},
  "not an object"
]"#;
    let errs = line_errors(import::parse(bad, Format::Json, &c).unwrap_err());
    let lines: std::collections::BTreeSet<u64> = errs.iter().map(|e| e.0).collect();
    assert_eq!(
        lines.into_iter().collect::<Vec<_>>(),
        vec![4, 7, 8],
        "{errs:?}"
    );
    assert!(errs.iter().any(|e| e.0 == 4 && e.1.contains("location_id")));
    assert!(errs.iter().any(|e| e.0 == 7 && e.1.contains("surprise")));

    let err = import::parse("[{\"appointment_id\": ", Format::Json, &c).unwrap_err();
    assert!(
        matches!(err, ImportError::Format(ref m) if m.contains("line 1")),
        "{err}"
    );
    let err = import::parse("{\"a\": 1}", Format::Json, &c).unwrap_err();
    assert!(matches!(err, ImportError::Format(_)));
}

#[test]
fn the_format_is_detected_by_extension_then_content() {
    use std::path::Path;
    assert_eq!(Format::detect(Path::new("x.JSON"), ""), Format::Json);
    assert_eq!(Format::detect(Path::new("x.csv"), "[not json"), Format::Csv);
    assert_eq!(Format::detect(Path::new("x"), "  [{}]"), Format::Json);
    assert_eq!(
        Format::detect(Path::new("x.txt"), "appointment_id"),
        Format::Csv
    );
}

#[test]
fn hidden_characters_and_oversized_text_are_refused_by_row() {
    let c = clinic();
    let row = |extra: &str| {
        format!(
            r#"[{{"appointment_id": "a1", "patient_id": "p1", "first_name": "Ana", "last_name": "Diaz",
   "date_of_birth": "1991-01-30", "start": "2026-03-02 09:00", "clinician": "Dr. X"{extra}}}]"#
        )
    };
    assert_eq!(import::parse(&row(""), Format::Json, &c).unwrap().len(), 1);
    // Visible punctuation on file is kept as it is.
    let ok = row(r#", "address_line1": "12 Main St.; Rear", "city": "St. Paul""#);
    assert_eq!(import::parse(&ok, Format::Json, &c).unwrap().len(), 1);
    for (extra, column) in [
        (
            r#", "address_line1": "1 Main\u202eSt""#.to_string(),
            "address_line1",
        ),
        (r#", "phone": "212\u0000555""#.to_string(), "phone"),
        (format!(r#", "city": "{}""#, "x".repeat(1001)), "city"),
        (
            r#", "payer": "Aetna\u001b", "member_id": "M1""#.to_string(),
            "payer",
        ),
    ] {
        let errs = line_errors(import::parse(&row(&extra), Format::Json, &c).unwrap_err());
        assert!(
            errs.iter().any(|e| e.1.contains(column)),
            "{column}: {errs:?}"
        );
    }
    // A required cell with a hidden character is refused too.
    let hidden_name = r#"[{"appointment_id": "a1", "patient_id": "p1", "first_name": "Ana\u202e", "last_name": "Diaz",
   "date_of_birth": "1991-01-30", "start": "2026-03-02 09:00", "clinician": "Dr. X"}]"#;
    let errs = line_errors(import::parse(hidden_name, Format::Json, &c).unwrap_err());
    assert!(errs.iter().any(|e| e.1.contains("first_name")), "{errs:?}");
}

#[test]
fn clinician_ids_and_visit_types_are_imported_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("s.db")).unwrap();
    let path = dir.path().join("day.csv");
    let header = "appointment_id,patient_id,first_name,last_name,date_of_birth,start,clinician,clinician_id,visit_type";
    std::fs::write(
        &path,
        format!(
            "{header}\na1,p1,Ana,Diaz,1980-05-17,2026-03-02 09:00,Dr. Patel,dr-patel,annual\n\
             a2,p2,Bo,Li,1990-01-02,2026-03-02 09:20,Dr. Patel,,\n"
        ),
    )
    .unwrap();
    let s = import::import_file(&db, &clinic(), &path).unwrap();
    assert_eq!(s.upserted, 2);
    let facts = |id: &str| {
        db.blocking(|c| schedule::load_facts(c, &clinic().id, id))
            .unwrap()
    };
    assert_eq!(facts("a1").clinician_id.as_deref(), Some("dr-patel"));
    assert_eq!(facts("a1").visit_type.as_deref(), Some("annual"));
    assert_eq!(facts("a2"), schedule::VisitFacts::default());

    // A visit type with a space is refused by row, naming the column only.
    let bad = format!(
        "{header}\na1,p1,Ana,Diaz,1980-05-17,2026-03-02 09:00,Dr. Patel,dr-patel,new patient\n"
    );
    let err = import::parse(&bad, Format::Csv, &clinic()).unwrap_err();
    let errors = line_errors(err);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].1.starts_with("visit_type must be"), "{errors:?}");
    assert!(!errors[0].1.contains("new patient"));
    // A re-import that changes only the visit type is a change.
    std::fs::write(
        &path,
        format!(
            "{header}\na1,p1,Ana,Diaz,1980-05-17,2026-03-02 09:00,Dr. Patel,dr-patel,follow-up\n\
             a2,p2,Bo,Li,1990-01-02,2026-03-02 09:20,Dr. Patel,,\n"
        ),
    )
    .unwrap();
    let s = import::import_file(&db, &clinic(), &path).unwrap();
    assert_eq!((s.upserted, s.unchanged), (1, 1));
}
