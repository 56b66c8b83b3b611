//! Pure translation between FHIR R4 JSON and the clinic server's schedule:
//! Appointment + Patient + Coverage into an [`AppointmentWire`], and the
//! edits write-back makes (an Appointment's status, a Patient's contact
//! details, a Coverage). No I/O; every function is unit-tested.
//!
//! Tolerance: a missing optional element or an unknown code is not an
//! error; it becomes a [`Note`] (logged by resource id by the caller). A
//! resource the schedule cannot hold (no start, no patient, no birth date)
//! is a [`MapError`], and only that appointment is skipped.
//!
//! **Architecture invariant:** notes and errors name resource ids, element
//! names and codes, never a value that could be PHI.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use crate::config::ClinicSettings;
use crate::domain::fields::{self, Field};
use crate::protocol::{
    AddressWire, AppointmentWire, CoverageUpdateWire, CoverageWire, DemographicsWire,
    EmergencyContactWire, PatientWire,
};

/// Why one resource could not be mapped; the rest of the pull goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// A required element is absent.
    #[error("{resource} lacks {element}")]
    Missing {
        /// `Type/id` of the resource.
        resource: String,
        /// The element, such as `start`.
        element: &'static str,
    },
    /// An element is present but unusable.
    #[error("{resource} has an invalid {element}")]
    Invalid {
        /// `Type/id` of the resource.
        resource: String,
        /// The element.
        element: &'static str,
    },
    /// The appointment's patient was neither included nor readable.
    #[error("{appointment} references {patient}, which the EHR did not return")]
    PatientMissing {
        /// `Appointment/id`.
        appointment: String,
        /// `Patient/id`.
        patient: String,
    },
    /// The resource is not a JSON object with an id.
    #[error("a {0} entry is not a resource with an id")]
    NotAResource(&'static str),
}

/// Something tolerated while mapping, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// `Type/id` of the resource.
    pub resource: String,
    /// What was tolerated, without values that could be PHI.
    pub what: String,
}

/// How long an appointment without an `end` or `minutesDuration` is taken to last.
pub const DEFAULT_MINUTES: i64 = 20;

/// The id of a resource, if it is an object of `kind` with one.
pub fn resource_id<'a>(resource: &'a Value, kind: &str) -> Option<&'a str> {
    if resource.get("resourceType")?.as_str()? != kind {
        return None;
    }
    resource
        .get("id")?
        .as_str()
        .filter(|id| !id.is_empty() && id.len() <= 64)
}

/// `meta.versionId`, for `If-Match`.
pub fn version_id(resource: &Value) -> Option<String> {
    resource
        .get("meta")?
        .get("versionId")?
        .as_str()
        .map(str::to_string)
}

/// The `(type, id)` of a literal reference, relative (`Patient/1`) or
/// absolute (`https://ehr/fhir/Patient/1`, `.../Patient/1/_history/2`).
pub fn parse_reference(reference: &str) -> Option<(&str, &str)> {
    let path = reference.split(['?', '#']).next()?;
    let mut parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if parts.len() >= 4 && parts[parts.len() - 2] == "_history" {
        parts.truncate(parts.len() - 2);
    }
    let id = *parts.last()?;
    let kind = *parts.get(parts.len().checked_sub(2)?)?;
    let typed = kind.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    (typed && !id.is_empty()).then_some((kind, id))
}

/// The references of an Appointment's participants of `kind`.
pub fn participant_ids<'a>(appointment: &'a Value, kind: &str) -> Vec<&'a str> {
    participants(appointment)
        .filter_map(|p| p.get("actor")?.get("reference")?.as_str())
        .filter_map(parse_reference)
        .filter(|(k, _)| *k == kind)
        .map(|(_, id)| id)
        .collect()
}

fn participants(appointment: &Value) -> impl Iterator<Item = &Value> {
    appointment
        .get("participant")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The first code of a CodeableConcept.
fn first_code(concept: Option<&Value>) -> Option<&str> {
    array(concept?, "coding")
        .iter()
        .find_map(|c| text(c, "code"))
}

/// An Appointment's FHIR status as the schedule's status, or a note when
/// the code is unknown (treated as booked, so the patient can still check in).
/// `None` for `entered-in-error`: the appointment never existed.
pub fn appointment_status(code: Option<&str>) -> Option<(&'static str, bool)> {
    Some(match code {
        Some("booked" | "pending" | "proposed" | "waitlist") => ("booked", true),
        Some("arrived") => ("arrived", true),
        Some("checked-in" | "fulfilled") => ("checked_in", true),
        Some("cancelled") => ("cancelled", true),
        Some("noshow") => ("no_show", true),
        Some("entered-in-error") => return None,
        _ => ("booked", false),
    })
}

/// Where an appointment stands on the way to being seen, for "never move
/// back": booked < arrived < checked in. Other statuses have no rank.
pub fn progress_rank(status: &str) -> Option<u8> {
    match status {
        "booked" => Some(0),
        "arrived" => Some(1),
        "checked_in" => Some(2),
        _ => None,
    }
}

/// The status to store when the EHR says `remote` and the server has
/// `local`: a check-in the EHR has not caught up with (its write-back may
/// be queued) is kept; anything else follows the EHR.
pub fn merge_status<'a>(local: &'a str, remote: &'a str) -> &'a str {
    match (progress_rank(local), progress_rank(remote)) {
        (Some(l), Some(r)) if l > r => local,
        _ => remote,
    }
}

fn instant(
    resource: &str,
    v: &Value,
    key: &'static str,
) -> Result<Option<DateTime<Utc>>, MapError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| MapError::Invalid {
                resource: resource.to_string(),
                element: key,
            }),
        Some(_) => Err(MapError::Invalid {
            resource: resource.to_string(),
            element: key,
        }),
    }
}

fn date(v: Option<&Value>) -> Option<NaiveDate> {
    let s = v?.as_str()?;
    // A dateTime such as 2026-01-01T00:00:00Z counts by its date.
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

/// Maps one Appointment, with its Patient (if the EHR returned it) and the
/// patient's Coverage resources, into the schedule's wire form.
pub fn appointment(
    clinic: &ClinicSettings,
    resource: &Value,
    patient: Option<&Value>,
    coverages: &[Value],
    today: NaiveDate,
    notes: &mut Vec<Note>,
) -> Result<AppointmentWire, MapError> {
    let id = resource_id(resource, "Appointment").ok_or(MapError::NotAResource("Appointment"))?;
    let me = format!("Appointment/{id}");
    let status = mapped_status(&me, resource, notes)?;
    let (start, end) = times(&me, resource, notes)?;
    let patient_id = participant_ids(resource, "Patient")
        .first()
        .map(|s| s.to_string())
        .ok_or_else(|| MapError::Missing {
            resource: me.clone(),
            element: "a Patient participant",
        })?;
    let patient = patient.ok_or_else(|| MapError::PatientMissing {
        appointment: me.clone(),
        patient: format!("Patient/{patient_id}"),
    })?;
    let patient_wire = patient_wire(patient, &patient_id, notes)?;
    let clinician = clinician(resource).unwrap_or_else(|| {
        notes.push(Note {
            resource: me.clone(),
            what: "no practitioner display name; clinician left blank".to_string(),
        });
        String::new()
    });
    let (coverage, expected_copay_cents) = match chosen_coverage(coverages, today, notes) {
        Some((resource, wire)) => (
            Some(wire),
            copay_cents(resource, clinic.currency.code(), notes),
        ),
        None => (None, 0),
    };
    Ok(AppointmentWire {
        id: id.to_string(),
        clinic_id: clinic.id.as_str().to_string(),
        location_id: location_id(clinic, resource),
        start,
        end,
        time_zone: clinic.time_zone.name().to_string(),
        clinician,
        status: status.to_string(),
        expected_copay_cents,
        // FHIR R4's Account has no balance element (it came in R5), so a
        // prior balance is not read from the EHR.
        prior_balance_cents: 0,
        currency: clinic.currency.code().to_string(),
        patient: patient_wire,
        coverage,
        forms_due: Vec::new(),
    })
}

/// The schedule status of Appointment `me`: an unknown or missing code is
/// noted and taken as booked; entered-in-error is refused.
fn mapped_status(
    me: &str,
    resource: &Value,
    notes: &mut Vec<Note>,
) -> Result<&'static str, MapError> {
    let code = text(resource, "status");
    match appointment_status(code) {
        Some((s, true)) => Ok(s),
        Some((s, false)) => {
            let what = match code {
                Some(c) => format!("unknown status code \"{}\"; taken as booked", sanitize(c)),
                None => "no status; taken as booked".to_string(),
            };
            notes.push(Note {
                resource: me.to_string(),
                what,
            });
            Ok(s)
        }
        None => Err(MapError::Invalid {
            resource: me.to_string(),
            element: "status (entered-in-error)",
        }),
    }
}

/// The start and end of Appointment `me`: the start is required; without
/// an end, `minutesDuration` or a default length (noted) is used.
fn times(
    me: &str,
    resource: &Value,
    notes: &mut Vec<Note>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), MapError> {
    let start = instant(me, resource, "start")?.ok_or_else(|| MapError::Missing {
        resource: me.to_string(),
        element: "start",
    })?;
    let end = match instant(me, resource, "end")? {
        Some(end) if end >= start => end,
        Some(_) => {
            return Err(MapError::Invalid {
                resource: me.to_string(),
                element: "end (before start)",
            });
        }
        None => {
            let minutes = resource
                .get("minutesDuration")
                .and_then(Value::as_i64)
                .filter(|m| (1..=24 * 60).contains(m));
            if minutes.is_none() {
                notes.push(Note {
                    resource: me.to_string(),
                    what: format!("no end or minutesDuration; {DEFAULT_MINUTES} minutes assumed"),
                });
            }
            start + Duration::minutes(minutes.unwrap_or(DEFAULT_MINUTES))
        }
    };
    Ok((start, end))
}

/// The clinic location the appointment names, else the clinic's first.
fn location_id(clinic: &ClinicSettings, resource: &Value) -> String {
    let refs = participant_ids(resource, "Location");
    clinic
        .locations
        .iter()
        .find(|l| refs.contains(&l.as_str()))
        .or_else(|| clinic.locations.first())
        .map_or_else(|| "main".to_string(), |l| l.as_str().to_string())
}

/// A code from the EHR, cut short and stripped of anything but code
/// characters, safe to log.
fn sanitize(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(40)
        .collect()
}

/// The server-side facts of an Appointment: the first Practitioner
/// participant's id, and the visit type, from `appointmentType` or else
/// the first `serviceType`'s first code. A value that is not a fit id
/// (visible ASCII, at most 64 characters) is left out.
pub fn visit_facts(appointment: &Value) -> crate::server::storage::schedule::VisitFacts {
    use crate::server::storage::schedule::VisitFacts;
    let fit = |v: Option<&str>| {
        v.filter(|v| !v.is_empty() && fields::check(Field::Id, v).is_ok())
            .map(str::to_string)
    };
    let service = array(appointment, "serviceType").first();
    VisitFacts {
        clinician_id: fit(participant_ids(appointment, "Practitioner")
            .first()
            .copied()),
        visit_type: fit(
            first_code(appointment.get("appointmentType")).or_else(|| first_code(service))
        ),
    }
}

/// The practitioner's display name: a Practitioner (or PractitionerRole)
/// participant's `actor.display`, else any non-patient, non-location
/// participant's display.
fn clinician(appointment: &Value) -> Option<String> {
    let display = |p: &Value| text(p.get("actor")?, "display").map(str::to_string);
    let kind = |p: &Value| {
        p.get("actor")?
            .get("reference")?
            .as_str()
            .and_then(parse_reference)
            .map(|(k, _)| k.to_string())
    };
    participants(appointment)
        .filter(|p| {
            matches!(
                kind(p).as_deref(),
                Some("Practitioner" | "PractitionerRole")
            )
        })
        .find_map(display)
        .or_else(|| {
            participants(appointment)
                .filter(|p| !matches!(kind(p).as_deref(), Some("Patient" | "Location")))
                .find_map(display)
        })
}

/// Maps a Patient; `expected_id` is the id the appointment referenced.
pub fn patient_wire(
    patient: &Value,
    expected_id: &str,
    notes: &mut Vec<Note>,
) -> Result<PatientWire, MapError> {
    let id = resource_id(patient, "Patient").ok_or(MapError::NotAResource("Patient"))?;
    let me = format!("Patient/{id}");
    if id != expected_id {
        return Err(MapError::Invalid {
            resource: me,
            element: "id (not the referenced patient)",
        });
    }
    let names = array(patient, "name");
    let name = names
        .iter()
        .find(|n| text(n, "use") == Some("official"))
        .or_else(|| names.iter().find(|n| text(n, "use") != Some("old")))
        .ok_or_else(|| MapError::Missing {
            resource: me.clone(),
            element: "name",
        })?;
    // Every given name, in order ("Mary Ann"), for matching; the kiosk
    // shows only the first.
    let given: Vec<&str> = array(name, "given")
        .iter()
        .filter_map(|g| g.as_str().map(str::trim).filter(|g| !g.is_empty()))
        .collect();
    if given.is_empty() {
        return Err(MapError::Missing {
            resource: me.clone(),
            element: "name.given",
        });
    }
    let first_name = given.join(" ");
    let last_name = text(name, "family").ok_or_else(|| MapError::Missing {
        resource: me.clone(),
        element: "name.family",
    })?;
    let date_of_birth = match patient.get("birthDate") {
        None => {
            return Err(MapError::Missing {
                resource: me,
                element: "birthDate",
            });
        }
        Some(v) => v
            .as_str()
            .filter(|s| s.len() == 10)
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .ok_or(MapError::Invalid {
                resource: me.clone(),
                element: "birthDate (not a full date)",
            })?,
    };
    let demographics = demographics(patient, &me, notes);
    Ok(PatientWire {
        id: id.to_string(),
        first_name,
        last_name: last_name.to_string(),
        date_of_birth,
        demographics,
        demographics_confirmed_at: None,
    })
}

/// The address to show and update: `home`, else the first not `old`.
fn main_address_index(addresses: &[Value]) -> Option<usize> {
    addresses
        .iter()
        .position(|a| text(a, "use") == Some("home"))
        .or_else(|| addresses.iter().position(|a| text(a, "use") != Some("old")))
}

/// The telecom entry of `system` to show and update: mobile, then home,
/// then any not `old`.
fn telecom_index(telecoms: &[Value], system: &str) -> Option<usize> {
    let of = |t: &&Value| text(t, "system") == Some(system) && text(t, "value").is_some();
    let with_use = |u: &str| {
        telecoms
            .iter()
            .position(|t| of(&t) && text(t, "use") == Some(u))
    };
    with_use("mobile").or_else(|| with_use("home")).or_else(|| {
        telecoms
            .iter()
            .position(|t| of(&t) && text(t, "use") != Some("old"))
    })
}

/// The emergency contact: relationship code `C` (v2-0131), else the first contact.
fn emergency_index(contacts: &[Value]) -> Option<usize> {
    contacts
        .iter()
        .position(|c| {
            array(c, "relationship").iter().any(|r| {
                array(r, "coding")
                    .iter()
                    .any(|x| text(x, "code") == Some("C"))
            })
        })
        .or_else(|| (!contacts.is_empty()).then_some(0))
}

fn human_name(name: &Value) -> Option<String> {
    if let Some(t) = text(name, "text") {
        return Some(t.to_string());
    }
    let mut parts: Vec<&str> = array(name, "given")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if let Some(f) = text(name, "family") {
        parts.push(f);
    }
    let joined = parts.join(" ");
    (!joined.trim().is_empty()).then(|| joined.trim().to_string())
}

fn demographics(patient: &Value, me: &str, notes: &mut Vec<Note>) -> DemographicsWire {
    let addresses = array(patient, "address");
    let address = main_address_index(addresses)
        .map(|i| {
            let a = &addresses[i];
            let lines: Vec<&str> = array(a, "line").iter().filter_map(Value::as_str).collect();
            AddressWire {
                line1: lines.first().copied().unwrap_or_default().to_string(),
                line2: lines.get(1..).map(|l| l.join(", ")).unwrap_or_default(),
                city: text(a, "city").unwrap_or_default().to_string(),
                region: text(a, "state").unwrap_or_default().to_string(),
                postal_code: text(a, "postalCode").unwrap_or_default().to_string(),
            }
        })
        .unwrap_or_else(|| {
            notes.push(Note {
                resource: me.to_string(),
                what: "no address".to_string(),
            });
            AddressWire::default()
        });
    let telecoms = array(patient, "telecom");
    let value_of = |i: Option<usize>| {
        i.and_then(|i| text(&telecoms[i], "value"))
            .unwrap_or_default()
            .to_string()
    };
    let contacts = array(patient, "contact");
    let emergency_contact = emergency_index(contacts).and_then(|i| {
        let c = &contacts[i];
        let name = c.get("name").and_then(human_name)?;
        // The words people used (`text`) first; the "emergency contact"
        // code itself says nothing about the relation.
        let rels = array(c, "relationship");
        let relation = rels
            .iter()
            .find_map(|r| text(r, "text"))
            .or_else(|| {
                rels.iter()
                    .flat_map(|r| array(r, "coding"))
                    .filter(|x| text(x, "code") != Some("C"))
                    .find_map(|x| text(x, "display").or_else(|| text(x, "code")))
            })
            .unwrap_or_default()
            .to_string();
        let phones = array(c, "telecom");
        let phone = telecom_index(phones, "phone")
            .and_then(|i| text(&phones[i], "value"))
            .unwrap_or_default()
            .to_string();
        Some(EmergencyContactWire {
            name,
            relation,
            phone,
        })
    });
    DemographicsWire {
        address,
        phone: value_of(telecom_index(telecoms, "phone")),
        email: value_of(telecom_index(telecoms, "email")),
        emergency_contact,
    }
}

/// The coverage to show: the first `active` Coverage in force on `today`
/// with a payer and a member id.
pub fn coverage(
    coverages: &[Value],
    today: NaiveDate,
    notes: &mut Vec<Note>,
) -> Option<CoverageWire> {
    chosen_coverage(coverages, today, notes).map(|(_, wire)| wire)
}

/// The most a co-pay read from the EHR may be, in whole units of the
/// currency; a larger value is taken as a data error.
const MAX_COPAY_UNITS: f64 = 10_000.0;

/// The co-pay of a visit under `coverage`, in cents of `currency` (the
/// clinic's): the `costToBeneficiary` whose type is `copay`, else
/// `gpvisit`, else `spvisit`, else one with no type (codes from
/// `http://terminology.hl7.org/CodeSystem/coverage-copay-type`). It counts
/// only as a `valueMoney` in the clinic's currency or with none given.
/// Anything else, a percentage for one, is 0 with a note, so the kiosk
/// never asks for an amount it does not know.
pub fn copay_cents(coverage: &Value, currency: &str, notes: &mut Vec<Note>) -> i64 {
    let me = format!(
        "Coverage/{}",
        resource_id(coverage, "Coverage").unwrap_or("?")
    );
    let costs = array(coverage, "costToBeneficiary");
    let of_type = |kind: Option<&str>| {
        costs.iter().find(|c| match kind {
            Some(kind) => first_code(c.get("type")) == Some(kind),
            None => c.get("type").is_none(),
        })
    };
    let Some(cost) = [Some("copay"), Some("gpvisit"), Some("spvisit"), None]
        .into_iter()
        .find_map(of_type)
    else {
        return 0;
    };
    let mut skip = |what: &str| {
        notes.push(Note {
            resource: me.clone(),
            what: format!("costToBeneficiary {what}; co-pay taken as 0"),
        });
        0
    };
    let Some(money) = cost.get("valueMoney") else {
        return skip("is not a valueMoney (a percentage?)");
    };
    match text(money, "currency") {
        Some(c) if !c.eq_ignore_ascii_case(currency) => {
            return skip("is in another currency than the clinic's");
        }
        _ => {}
    }
    match money.get("value").and_then(Value::as_f64) {
        Some(v) if v.is_finite() && (0.0..=MAX_COPAY_UNITS).contains(&v) => {
            // In range, so the product fits an i64 with room to spare.
            (v * 100.0).round() as i64
        }
        Some(_) => skip("has a value out of range"),
        None => skip("has no numeric value"),
    }
}

/// True when the coverage shown (if any) states a co-pay at all, that is
/// has a `costToBeneficiary`. When it states none, the EHR has said
/// nothing new about the co-pay and the one already known is kept.
pub fn copay_stated(coverages: &[Value], today: NaiveDate) -> bool {
    let mut ignored = Vec::new();
    chosen_coverage(coverages, today, &mut ignored)
        .is_none_or(|(c, _)| !array(c, "costToBeneficiary").is_empty())
}

/// `coverage`, with the resource it chose: the first active Coverage in
/// its period today that names a payer and a member id.
fn chosen_coverage<'a>(
    coverages: &'a [Value],
    today: NaiveDate,
    notes: &mut Vec<Note>,
) -> Option<(&'a Value, CoverageWire)> {
    coverages.iter().find_map(|c| {
        let id = resource_id(c, "Coverage")?;
        if text(c, "status") != Some("active") {
            return None;
        }
        let period = c.get("period");
        let valid_from = date(period.and_then(|p| p.get("start")));
        let valid_to = date(period.and_then(|p| p.get("end")));
        if valid_from.is_some_and(|f| f > today) || valid_to.is_some_and(|t| t < today) {
            return None;
        }
        let me = format!("Coverage/{id}");
        let wire = coverage_wire(&me, c, notes)?;
        Some((
            c,
            CoverageWire {
                valid_from,
                valid_to,
                ..wire
            },
        ))
    })
}

/// A current Coverage `me` as shown, its period left open; `None` (noted)
/// without a payer name or a member id.
fn coverage_wire(me: &str, c: &Value, notes: &mut Vec<Note>) -> Option<CoverageWire> {
    let mut skip = |what: &str| {
        notes.push(Note {
            resource: me.to_string(),
            what: what.to_string(),
        });
    };
    let Some(payer) = array(c, "payor").iter().find_map(|p| text(p, "display")) else {
        skip("no payor display name; coverage not shown");
        return None;
    };
    let member_id = text(c, "subscriberId")
        .or_else(|| array(c, "identifier").iter().find_map(|i| text(i, "value")));
    let Some(member_id) = member_id else {
        skip("no subscriberId or identifier; coverage not shown");
        return None;
    };
    let class_of = |kind: &str| {
        array(c, "class")
            .iter()
            .find(|k| first_code(k.get("type")) == Some(kind))
    };
    let group = class_of("group").and_then(|k| text(k, "value"));
    let plan = class_of("plan").and_then(|k| text(k, "name").or_else(|| text(k, "value")));
    Some(CoverageWire {
        payer: payer.to_string(),
        plan: plan.unwrap_or_default().to_string(),
        member_id: member_id.to_string(),
        group: group.unwrap_or_default().to_string(),
        subscriber_relation: relation(me, c, notes).to_string(),
        valid_from: None,
        valid_to: None,
    })
}

/// The subscriber relation of Coverage `me`; an unknown code is noted and
/// taken as other.
fn relation(me: &str, c: &Value, notes: &mut Vec<Note>) -> &'static str {
    match first_code(c.get("relationship")) {
        Some("self") | None => "self",
        Some("spouse") => "spouse",
        Some("child") => "child",
        Some("parent" | "common" | "other" | "injured") => "other",
        Some(code) => {
            notes.push(Note {
                resource: me.to_string(),
                what: format!(
                    "unknown relationship code \"{}\"; taken as other",
                    sanitize(code)
                ),
            });
            "other"
        }
    }
}

// ---------------------------------------------------------------- write-back

/// The FHIR Appointment status a kiosk event writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TargetStatus {
    /// `arrived`.
    #[serde(rename = "arrived")]
    Arrived,
    /// `checked-in`.
    #[serde(rename = "checked-in")]
    CheckedIn,
}

impl TargetStatus {
    /// The FHIR code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Arrived => "arrived",
            Self::CheckedIn => "checked-in",
        }
    }
}

/// What to do with an Appointment whose current FHIR status is `current`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusEdit {
    /// Set the status; the body is the edited resource.
    Apply(Value),
    /// Leave it: already there or beyond (`reason` says which), or in a
    /// state a kiosk must not override (cancelled).
    Skip(String),
}

/// The edit that moves `appointment` to `target`, keeping every other
/// element as the EHR has it.
pub fn set_status(appointment: &Value, target: TargetStatus) -> StatusEdit {
    let current = text(appointment, "status").unwrap_or("");
    let movable: &[&str] = match target {
        TargetStatus::Arrived => &["booked", "pending", "proposed", "waitlist", "noshow"],
        TargetStatus::CheckedIn => &[
            "booked", "pending", "proposed", "waitlist", "noshow", "arrived",
        ],
    };
    if !movable.contains(&current) {
        return StatusEdit::Skip(format!("EHR status is \"{}\"", sanitize(current)));
    }
    let mut edited = appointment.clone();
    if let Some(obj) = edited.as_object_mut() {
        obj.insert("status".into(), json!(target.code()));
        // Participants who have turned up are no longer "needs-action".
        if let Some(parts) = obj.get_mut("participant").and_then(Value::as_array_mut) {
            for p in parts.iter_mut() {
                let is_patient = p
                    .get("actor")
                    .and_then(|a| a.get("reference"))
                    .and_then(Value::as_str)
                    .and_then(parse_reference)
                    .is_some_and(|(k, _)| k == "Patient");
                if is_patient && let Some(po) = p.as_object_mut() {
                    po.insert("status".into(), json!("accepted"));
                }
            }
        }
    }
    StatusEdit::Apply(edited)
}

/// `patient` with its main address, phone, email and emergency contact
/// replaced by `d`; other addresses, telecoms and contacts are kept.
pub fn apply_demographics(patient: &Value, d: &DemographicsWire) -> Value {
    let mut out = patient.clone();
    let Some(obj) = out.as_object_mut() else {
        return out;
    };
    // Address.
    let mut addresses = array(patient, "address").to_vec();
    let a = &d.address;
    let has_address = !(a.line1.is_empty() && a.city.is_empty() && a.postal_code.is_empty());
    let idx = main_address_index(&addresses);
    if has_address {
        let mut lines = vec![json!(a.line1)];
        if !a.line2.is_empty() {
            lines.push(json!(a.line2));
        }
        let mut new = idx
            .and_then(|i| addresses[i].as_object().cloned())
            .unwrap_or_default();
        new.insert("use".into(), json!("home"));
        new.insert("line".into(), Value::Array(lines));
        set_or_remove(&mut new, "city", &a.city);
        set_or_remove(&mut new, "state", &a.region);
        set_or_remove(&mut new, "postalCode", &a.postal_code);
        new.remove("text");
        match idx {
            Some(i) => addresses[i] = Value::Object(new),
            None => addresses.push(Value::Object(new)),
        }
    } else if let Some(i) = idx {
        addresses.remove(i);
    }
    put_array(obj, "address", addresses);
    // Phone and email.
    let mut telecoms = array(patient, "telecom").to_vec();
    for (system, value) in [("phone", &d.phone), ("email", &d.email)] {
        match (telecom_index(&telecoms, system), value.is_empty()) {
            (Some(i), false) => {
                if let Some(t) = telecoms[i].as_object_mut() {
                    t.insert("value".into(), json!(value));
                }
            }
            (Some(i), true) => {
                telecoms.remove(i);
            }
            (None, false) => telecoms.push(json!({"system": system, "value": value, "use": if system == "phone" { "mobile" } else { "home" }})),
            (None, true) => {}
        }
    }
    put_array(obj, "telecom", telecoms);
    // Emergency contact.
    let mut contacts = array(patient, "contact").to_vec();
    let idx = emergency_index(&contacts);
    match &d.emergency_contact {
        Some(ec) if !ec.name.trim().is_empty() => {
            let mut relationship = json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "C", "display": "Emergency Contact"}]});
            if !ec.relation.trim().is_empty() {
                relationship["text"] = json!(ec.relation);
            }
            let mut c = json!({"relationship": [relationship], "name": {"text": ec.name}});
            if !ec.phone.trim().is_empty() {
                c["telecom"] = json!([{"system": "phone", "value": ec.phone}]);
            }
            match idx {
                Some(i) => contacts[i] = c,
                None => contacts.push(c),
            }
        }
        _ => {
            if let Some(i) = idx {
                contacts.remove(i);
            }
        }
    }
    put_array(obj, "contact", contacts);
    out
}

fn set_or_remove(obj: &mut Map<String, Value>, key: &str, value: &str) {
    if value.trim().is_empty() {
        obj.remove(key);
    } else {
        obj.insert(key.into(), json!(value));
    }
}

fn put_array(obj: &mut Map<String, Value>, key: &str, items: Vec<Value>) {
    if items.is_empty() {
        obj.remove(key);
    } else {
        obj.insert(key.into(), Value::Array(items));
    }
}

/// `coverage` with status `cancelled` and its period ended on `today`.
pub fn cancel_coverage(coverage: &Value, today: NaiveDate) -> Value {
    let mut out = coverage.clone();
    if let Some(obj) = out.as_object_mut() {
        obj.insert("status".into(), json!("cancelled"));
        let period = obj.entry("period").or_insert_with(|| json!({}));
        if let Some(p) = period.as_object_mut() {
            p.insert("end".into(), json!(today.to_string()));
        }
    }
    out
}

/// The identifier system marking Coverages this server created, so a
/// retried create is recognised (`If-None-Exist`) instead of duplicated.
pub const CHANGE_IDENTIFIER_SYSTEM: &str = "urn:checkin-kiosk:coverage-change";

/// A new active Coverage for `patient_id` from a patient's update, with
/// the visit's known co-pay (`copay`: cents and currency) as its
/// `costToBeneficiary`, so the next pull keeps it.
pub fn new_coverage(
    patient_id: &str,
    u: &CoverageUpdateWire,
    today: NaiveDate,
    change_key: &str,
    copay: Option<(i64, &str)>,
) -> Value {
    let mut c = json!({
        "resourceType": "Coverage",
        "identifier": [{"system": CHANGE_IDENTIFIER_SYSTEM, "value": change_key}],
        "status": "active",
        "subscriberId": u.member_id,
        "beneficiary": {"reference": format!("Patient/{patient_id}")},
        "relationship": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship", "code": "self"}]},
        "period": {"start": today.to_string()},
        "payor": [{"display": u.payer}],
    });
    if !u.group.trim().is_empty() {
        c["class"] = json!([{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-class", "code": "group"}]},
            "value": u.group,
        }]);
    }
    if let Some((cents, currency)) = copay.filter(|(cents, _)| *cents > 0) {
        // Cents are whole and far below 2^53, so the value is exact.
        #[allow(clippy::cast_precision_loss)]
        let value = cents as f64 / 100.0;
        c["costToBeneficiary"] = json!([{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-copay-type", "code": "copay"}]},
            "valueMoney": {"value": value, "currency": currency},
        }]);
    }
    c
}

/// True when `coverage` already says what `u` says (same payer and member id).
pub fn coverage_matches(coverage: &Value, u: &CoverageUpdateWire) -> bool {
    let payer = array(coverage, "payor")
        .iter()
        .find_map(|p| text(p, "display"));
    payer.is_some_and(|p| p.eq_ignore_ascii_case(u.payer.trim()))
        && text(coverage, "subscriberId") == Some(u.member_id.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerConfig;

    fn clinic() -> ClinicSettings {
        let mut c = ServerConfig::demo("/tmp/x".into(), "127.0.0.1:0".parse().unwrap())
            .clinics
            .remove(0);
        c.locations = vec!["main".into(), "annex".into()];
        c
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()
    }

    fn appt() -> Value {
        json!({
            "resourceType": "Appointment", "id": "a1", "status": "booked",
            "start": "2026-03-02T15:00:00Z", "end": "2026-03-02T15:30:00Z",
            "meta": {"versionId": "4"},
            "participant": [
                {"actor": {"reference": "Patient/p1"}, "status": "needs-action"},
                {"actor": {"reference": "http://ehr/fhir/Location/annex"}, "status": "accepted"},
                {"actor": {"reference": "Practitioner/d1", "display": "Dr. Patel"}, "status": "accepted"}
            ]
        })
    }

    fn patient() -> Value {
        json!({
            "resourceType": "Patient", "id": "p1",
            "name": [{"use": "old", "family": "Old", "given": ["X"]}, {"use": "official", "family": "Diaz", "given": ["Ana", "M"]}],
            "birthDate": "1980-01-02",
            "telecom": [{"system": "phone", "value": "555-0100", "use": "work"}, {"system": "phone", "value": "555-0101", "use": "mobile"}, {"system": "email", "value": "ana@example.org"}],
            "address": [{"use": "home", "line": ["1 Main St", "Apt 2"], "city": "Chicago", "state": "IL", "postalCode": "60601"}],
            "contact": [{"relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "C"}], "text": "spouse"}],
                         "name": {"given": ["Luis"], "family": "Diaz"}, "telecom": [{"system": "phone", "value": "555-0199"}]}]
        })
    }

    fn coverage_res() -> Value {
        json!({
            "resourceType": "Coverage", "id": "c1", "status": "active",
            "beneficiary": {"reference": "Patient/p1"}, "payor": [{"display": "Blue Shield"}],
            "subscriberId": "XYZ123456",
            "relationship": {"coding": [{"code": "spouse"}]},
            "period": {"start": "2025-01-01", "end": "2026-12-31"},
            "class": [{"type": {"coding": [{"code": "group"}]}, "value": "G-77"}, {"type": {"coding": [{"code": "plan"}]}, "value": "PPO", "name": "Gold PPO"}]
        })
    }

    fn map(
        a: &Value,
        p: Option<&Value>,
        c: &[Value],
    ) -> (Result<AppointmentWire, MapError>, Vec<Note>) {
        let mut notes = Vec::new();
        let r = appointment(&clinic(), a, p, c, today(), &mut notes);
        (r, notes)
    }

    #[test]
    fn visit_facts_come_from_the_practitioner_and_the_appointment_type() {
        let a = json!({"resourceType": "Appointment", "id": "a1",
        "appointmentType": {"coding": [{"code": "ROUTINE"}]},
        "serviceType": [{"coding": [{"code": "annual"}]}],
        "participant": [
            {"actor": {"reference": "Patient/p1"}},
            {"actor": {"reference": "Practitioner/dr-7", "display": "Dr. Patel"}}
        ]});
        let f = visit_facts(&a);
        assert_eq!(f.clinician_id.as_deref(), Some("dr-7"));
        assert_eq!(f.visit_type.as_deref(), Some("ROUTINE"));
        let mut b = a.clone();
        b.as_object_mut().unwrap().remove("appointmentType");
        b["participant"] = json!([{"actor": {"reference": "Patient/p1"}}]);
        let f = visit_facts(&b);
        assert_eq!(f.clinician_id, None);
        assert_eq!(f.visit_type.as_deref(), Some("annual"));
        b["serviceType"] = json!([{"coding": [{"code": "has space"}]}]);
        assert_eq!(visit_facts(&b).visit_type, None);
    }

    #[test]
    fn every_given_name_is_kept_and_only_the_first_is_shown() {
        let p = json!({"resourceType": "Patient", "id": "p1", "birthDate": "1980-01-02",
            "name": [{"use": "official", "family": "Diaz", "given": ["Mary", " ", "Ann"]}]});
        let w = patient_wire(&p, "p1", &mut Vec::new()).unwrap();
        assert_eq!(w.first_name, "Mary Ann");
        assert_eq!(
            crate::domain::masking::patient_display_name(&w.first_name, &w.last_name),
            "Mary D."
        );
    }

    #[test]
    fn a_complete_appointment_maps_every_field() {
        let (w, notes) = map(&appt(), Some(&patient()), &[coverage_res()]);
        let w = w.unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(w.id, "a1");
        assert_eq!(w.status, "booked");
        assert_eq!(w.location_id, "annex");
        assert_eq!(w.clinician, "Dr. Patel");
        assert_eq!(w.end - w.start, Duration::minutes(30));
        assert_eq!(
            (w.patient.first_name.as_str(), w.patient.last_name.as_str()),
            ("Ana M", "Diaz")
        );
        assert_eq!(
            w.patient.date_of_birth,
            NaiveDate::from_ymd_opt(1980, 1, 2).unwrap()
        );
        let d = &w.patient.demographics;
        assert_eq!(d.phone, "555-0101", "the mobile number wins");
        assert_eq!(d.email, "ana@example.org");
        assert_eq!(d.address.line2, "Apt 2");
        assert_eq!(d.address.region, "IL");
        let ec = d.emergency_contact.as_ref().unwrap();
        assert_eq!(
            (ec.name.as_str(), ec.relation.as_str(), ec.phone.as_str()),
            ("Luis Diaz", "spouse", "555-0199")
        );
        let c = w.coverage.unwrap();
        assert_eq!(
            (
                c.payer.as_str(),
                c.plan.as_str(),
                c.member_id.as_str(),
                c.group.as_str()
            ),
            ("Blue Shield", "Gold PPO", "XYZ123456", "G-77")
        );
        assert_eq!(c.subscriber_relation, "spouse");
        assert_eq!(c.valid_to, NaiveDate::from_ymd_opt(2026, 12, 31));
        // It converts to the domain type the schedule stores.
        assert!(
            crate::domain::Appointment::try_from(AppointmentWire {
                coverage: None,
                ..map(&appt(), Some(&patient()), &[]).0.unwrap()
            })
            .is_ok()
        );
    }

    #[test]
    fn missing_optional_fields_are_tolerated_and_noted() {
        let a = json!({
            "resourceType": "Appointment", "id": "a2", "status": "booked", "start": "2026-03-02T15:00:00Z",
            "participant": [{"actor": {"reference": "Patient/p2"}}]
        });
        let p = json!({"resourceType": "Patient", "id": "p2", "name": [{"family": "Ng", "given": ["Bo"]}], "birthDate": "1990-05-06"});
        let (w, notes) = map(&a, Some(&p), &[]);
        let w = w.unwrap();
        assert_eq!(w.end - w.start, Duration::minutes(DEFAULT_MINUTES));
        assert_eq!(w.location_id, "main", "the clinic's first location");
        assert_eq!(w.clinician, "");
        assert_eq!(w.patient.demographics, DemographicsWire::default());
        assert!(w.coverage.is_none());
        let whats: Vec<&str> = notes.iter().map(|n| n.what.as_str()).collect();
        assert!(
            whats.iter().any(|w| w.contains("minutes assumed")),
            "{whats:?}"
        );
        assert!(whats.iter().any(|w| w.contains("clinician")), "{whats:?}");
        assert!(whats.iter().any(|w| w.contains("no address")), "{whats:?}");
        // minutesDuration is used when there is no end.
        let mut a3 = a.clone();
        a3["minutesDuration"] = json!(45);
        assert_eq!(
            map(&a3, Some(&p), &[]).0.map(|w| w.end - w.start).unwrap(),
            Duration::minutes(45)
        );
    }

    #[test]
    fn unknown_codes_are_tolerated_by_id_without_values() {
        let mut a = appt();
        a["status"] = json!("on-the-moon");
        let mut c = coverage_res();
        c["relationship"] = json!({"coding": [{"code": "cousin-twice-removed"}]});
        let (w, notes) = map(&a, Some(&patient()), &[c]);
        let w = w.unwrap();
        assert_eq!(w.status, "booked");
        assert_eq!(w.coverage.unwrap().subscriber_relation, "other");
        assert!(
            notes
                .iter()
                .any(|n| n.resource == "Appointment/a1" && n.what.contains("on-the-moon"))
        );
        assert!(
            notes
                .iter()
                .any(|n| n.resource == "Coverage/c1" && n.what.contains("relationship"))
        );
        for n in &notes {
            assert!(!n.what.contains("Diaz") && !n.what.contains("XYZ"), "{n:?}");
        }
        // Known statuses map.
        for (fhir, ours) in [
            ("arrived", "arrived"),
            ("checked-in", "checked_in"),
            ("fulfilled", "checked_in"),
            ("cancelled", "cancelled"),
            ("noshow", "no_show"),
            ("pending", "booked"),
        ] {
            let mut a = appt();
            a["status"] = json!(fhir);
            assert_eq!(map(&a, Some(&patient()), &[]).0.unwrap().status, ours);
        }
    }

    #[test]
    fn an_appointment_whose_patient_is_missing_is_skipped() {
        let (r, _) = map(&appt(), None, &[]);
        assert_eq!(
            r.unwrap_err(),
            MapError::PatientMissing {
                appointment: "Appointment/a1".into(),
                patient: "Patient/p1".into()
            }
        );
        let mut a = appt();
        a["participant"] = json!([{"actor": {"reference": "Location/main"}}]);
        assert!(matches!(
            map(&a, Some(&patient()), &[]).0,
            Err(MapError::Missing {
                element: "a Patient participant",
                ..
            })
        ));
        // A patient with another id is not taken for the referenced one.
        let mut p = patient();
        p["id"] = json!("p9");
        assert!(matches!(
            map(&appt(), Some(&p), &[]).0,
            Err(MapError::Invalid { .. })
        ));
    }

    #[test]
    fn malformed_resources_are_refused_with_a_reason_naming_only_ids() {
        let cases: Vec<(Value, Value, &str)> = vec![
            (
                {
                    let mut a = appt();
                    a.as_object_mut().unwrap().remove("start");
                    a
                },
                patient(),
                "lacks start",
            ),
            (
                {
                    let mut a = appt();
                    a["start"] = json!("yesterday");
                    a
                },
                patient(),
                "invalid start",
            ),
            (
                {
                    let mut a = appt();
                    a["end"] = json!("2026-03-02T14:00:00Z");
                    a
                },
                patient(),
                "before start",
            ),
            (
                {
                    let mut a = appt();
                    a["status"] = json!("entered-in-error");
                    a
                },
                patient(),
                "entered-in-error",
            ),
            (
                appt(),
                {
                    let mut p = patient();
                    p.as_object_mut().unwrap().remove("birthDate");
                    p
                },
                "lacks birthDate",
            ),
            (
                appt(),
                {
                    let mut p = patient();
                    p["birthDate"] = json!("1980");
                    p
                },
                "invalid birthDate",
            ),
            (
                appt(),
                {
                    let mut p = patient();
                    p["name"] = json!([{"family": "Diaz"}]);
                    p
                },
                "lacks name.given",
            ),
            (
                json!({"resourceType": "Appointment"}),
                patient(),
                "not a resource",
            ),
            (json!(["not", "an", "object"]), patient(), "not a resource"),
        ];
        for (a, p, want) in cases {
            let err = map(&a, Some(&p), &[]).0.unwrap_err().to_string();
            assert!(err.contains(want), "{err} should say {want}");
            assert!(
                !err.contains("Diaz") && !err.contains("1980-01-02"),
                "{err}"
            );
        }
    }

    #[test]
    fn only_active_coverage_in_force_with_a_member_id_is_shown() {
        let mut notes = Vec::new();
        let mut cancelled = coverage_res();
        cancelled["status"] = json!("cancelled");
        let mut ended = coverage_res();
        ended["period"] = json!({"end": "2026-03-01"});
        let mut no_member = coverage_res();
        no_member.as_object_mut().unwrap().remove("subscriberId");
        assert_eq!(
            coverage(&[cancelled, ended, no_member], today(), &mut notes),
            None
        );
        assert_eq!(notes.len(), 1, "{notes:?}");
        let mut by_identifier = coverage_res();
        by_identifier
            .as_object_mut()
            .unwrap()
            .remove("subscriberId");
        by_identifier["identifier"] = json!([{"value": "M-1"}]);
        assert_eq!(
            coverage(&[by_identifier], today(), &mut notes)
                .unwrap()
                .member_id,
            "M-1"
        );
    }

    #[test]
    fn status_write_back_moves_forward_only_and_keeps_other_elements() {
        let mut a = appt();
        a["comment"] = json!("bring x-rays");
        let StatusEdit::Apply(edited) = set_status(&a, TargetStatus::Arrived) else {
            panic!("should apply")
        };
        assert_eq!(edited["status"], "arrived");
        assert_eq!(edited["comment"], "bring x-rays");
        assert_eq!(edited["participant"][0]["status"], "accepted");
        assert_eq!(edited["participant"][2]["status"], "accepted");
        let StatusEdit::Apply(checked) = set_status(&edited, TargetStatus::CheckedIn) else {
            panic!("should apply")
        };
        assert_eq!(checked["status"], "checked-in");
        assert!(matches!(
            set_status(&checked, TargetStatus::Arrived),
            StatusEdit::Skip(_)
        ));
        let mut cancelled = appt();
        cancelled["status"] = json!("cancelled");
        assert!(matches!(
            set_status(&cancelled, TargetStatus::CheckedIn),
            StatusEdit::Skip(_)
        ));
        assert_eq!(merge_status("checked_in", "arrived"), "checked_in");
        assert_eq!(merge_status("arrived", "booked"), "arrived");
        assert_eq!(merge_status("arrived", "cancelled"), "cancelled");
        assert_eq!(merge_status("booked", "checked_in"), "checked_in");
    }

    #[test]
    fn approved_demographics_round_trip_through_a_patient() {
        let new = DemographicsWire {
            address: AddressWire {
                line1: "9 Elm Rd".into(),
                line2: String::new(),
                city: "Evanston".into(),
                region: "IL".into(),
                postal_code: "60201".into(),
            },
            phone: "555-0111".into(),
            email: String::new(),
            emergency_contact: Some(EmergencyContactWire {
                name: "Rosa Diaz".into(),
                relation: "sister".into(),
                phone: "555-0122".into(),
            }),
        };
        let updated = apply_demographics(&patient(), &new);
        let mut notes = Vec::new();
        let back = patient_wire(&updated, "p1", &mut notes).unwrap();
        assert_eq!(back.demographics, new);
        // The work phone and the names are untouched.
        assert_eq!(updated["telecom"][0]["value"], "555-0100");
        assert_eq!(updated["name"], patient()["name"]);
    }

    #[test]
    fn references_parse_relative_absolute_and_versioned() {
        assert_eq!(parse_reference("Patient/1"), Some(("Patient", "1")));
        assert_eq!(
            parse_reference("https://ehr/fhir/Patient/1"),
            Some(("Patient", "1"))
        );
        assert_eq!(
            parse_reference("https://ehr/fhir/Patient/1/_history/3"),
            Some(("Patient", "1"))
        );
        assert_eq!(parse_reference("#contained"), None);
        assert_eq!(parse_reference("urn:uuid:1234"), None);
    }

    /// The clinic's coverage with `costs` as its `costToBeneficiary`.
    fn with_costs(costs: Value) -> Value {
        let mut c = coverage_res();
        c["costToBeneficiary"] = costs;
        c
    }

    fn copay_of(coverages: &[Value]) -> (i64, Vec<Note>) {
        let (w, notes) = map(&appt(), Some(&patient()), coverages);
        (w.unwrap().expected_copay_cents, notes)
    }

    fn money_cost(kind: Option<&str>, money: Value) -> Value {
        let mut cost = json!({ "valueMoney": money });
        if let Some(kind) = kind {
            cost["type"] = json!({"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/coverage-copay-type",
                "code": kind
            }]});
        }
        cost
    }

    #[test]
    fn the_copay_comes_from_the_chosen_coverage_in_cents() {
        let currency = clinic().currency.code().to_string();
        let costs = json!([
            money_cost(Some("gpvisit"), json!({"value": 40, "currency": currency})),
            money_cost(Some("copay"), json!({"value": 25.5, "currency": currency})),
        ]);
        let (cents, notes) = copay_of(&[with_costs(costs)]);
        assert_eq!(cents, 2550);
        assert!(
            notes.iter().all(|n| !n.what.contains("costToBeneficiary")),
            "{notes:?}"
        );

        // Without a `copay`, a GP visit's, then a specialist's, then an
        // untyped one; a cost of another kind is not a visit's co-pay.
        let only = |kind: Option<&str>, value: f64| {
            copay_of(&[with_costs(json!([money_cost(
                kind,
                json!({"value": value})
            )]))])
            .0
        };
        assert_eq!(only(Some("gpvisit"), 40.0), 4000);
        assert_eq!(only(Some("spvisit"), 60.0), 6000);
        assert_eq!(only(None, 15.0), 1500);
        assert_eq!(only(Some("emergency"), 150.0), 0);
        assert_eq!(only(Some("copay"), 19.999), 2000);
        assert_eq!(copay_of(&[coverage_res()]).0, 0);

        // A co-pay on a coverage that is not in force is not used.
        let mut ended = with_costs(json!([money_cost(Some("copay"), json!({"value": 99}))]));
        ended["id"] = json!("c0");
        ended["period"]["end"] = json!("2026-01-31");
        assert_eq!(copay_of(&[ended.clone(), coverage_res()]).0, 0);
        assert_eq!(copay_of(&[ended]).0, 0);
    }

    #[test]
    fn a_copay_that_is_not_a_known_amount_is_zero_with_a_note_naming_only_the_id() {
        let bad = [
            json!({"type": {"coding": [{"code": "copay"}]}, "valueQuantity": {"value": 20, "unit": "%"}}),
            money_cost(Some("copay"), json!({"value": 25, "currency": "XTS"})),
            money_cost(Some("copay"), json!({"value": -5})),
            money_cost(Some("copay"), json!({"value": 1.0e9})),
            money_cost(Some("copay"), json!({"value": "25"})),
            money_cost(Some("copay"), json!({"currency": "USD"})),
        ];
        for cost in bad {
            let (cents, notes) = copay_of(&[with_costs(json!([cost.clone()]))]);
            assert_eq!(cents, 0, "{cost}");
            let note = notes
                .iter()
                .find(|n| n.what.contains("costToBeneficiary"))
                .unwrap_or_else(|| panic!("no note for {cost}: {notes:?}"));
            assert_eq!(note.resource, "Coverage/c1");
            for value in ["25", "20", "XTS", "1000000000", "-5"] {
                assert!(!note.what.contains(value), "{note:?}");
            }
        }
    }
}
