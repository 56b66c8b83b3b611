-- A consent signed on the keypad by typing the name keeps that name
-- instead of a drawing; a consent holds one or the other, never both.
ALTER TABLE form_responses
    ADD COLUMN signature_name text CHECK (char_length(signature_name) <= 100),
    ADD CONSTRAINT form_responses_one_signature
        CHECK (signature_png IS NULL OR signature_name IS NULL);
