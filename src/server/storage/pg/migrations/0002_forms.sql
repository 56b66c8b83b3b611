-- Intake forms, as SQLite's migration 7 (src/server/schema.rs):
-- appointments gain the clinician's id and the visit type (server-side
-- only, for which forms are due); `form_responses` holds each completed
-- form, scored, one per kiosk event; the audit's actions gain the form's
-- storing and staff viewing forms.

ALTER TABLE appointments ADD COLUMN clinician_id text;
ALTER TABLE appointments ADD COLUMN visit_type text;

CREATE TABLE form_responses (
    clinic_id text NOT NULL,
    event_id uuid NOT NULL,
    kiosk_id text NOT NULL,
    appointment_id text NOT NULL,
    patient_id text NOT NULL,
    form_id text NOT NULL,
    form_version text NOT NULL,
    response jsonb NOT NULL,
    signature_png bytea,
    score smallint CHECK (score >= 0),
    band text,
    urgent boolean NOT NULL DEFAULT false,
    completed_ms bigint NOT NULL,
    received_ms bigint NOT NULL,
    PRIMARY KEY (clinic_id, event_id)
);
CREATE INDEX form_responses_by_patient ON form_responses (clinic_id, patient_id, form_id);
CREATE INDEX form_responses_by_appointment ON form_responses (clinic_id, appointment_id);

ALTER TABLE audit DROP CONSTRAINT audit_action_check;
ALTER TABLE audit ADD CONSTRAINT audit_action_check CHECK (action IN (
    'viewed_appointments', 'viewed_proposed_changes', 'flag_resolved',
    'copay_collected', 'copay_waived',
    'demographics_change_approved', 'demographics_change_rejected',
    'coverage_change_approved', 'coverage_change_rejected',
    'kiosk_revoked', 'enrollment_code_created', 'login_alert', 'enrolled',
    'phi_viewed', 'demographics_confirmed', 'copay_chosen',
    'demographics_proposed', 'coverage_proposed',
    'ehr_removals_confirmed', 'ehr_write_retried',
    'form_completed', 'viewed_form_responses'
));
