-- What the staff sign-in limiter needs beyond the counts of 0001: whether
-- staff were alerted for the current run of failures, the addresses that
-- failed for a user name (a delayed user name holds back only those), and
-- an index for dropping rows that went quiet.
ALTER TABLE login_strikes
    ADD COLUMN alerted boolean NOT NULL DEFAULT false,
    ADD COLUMN sources text[] NOT NULL DEFAULT '{}' CHECK (cardinality(sources) <= 64);

CREATE INDEX login_strikes_quiet ON login_strikes (last_failure_ms);
