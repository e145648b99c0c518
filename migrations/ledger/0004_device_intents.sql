-- Intent before action: a payout, a stack and a print job are written here, in the same
-- transaction as the bookings of the event that decided them, before the device is told.
-- Each is settled once, in the same transaction as the bookings of what the device
-- reported (live) or answered when asked after a restart (recovery). An intent left open
-- is exactly what a crash interrupted. No personal data: ids, codes, counts only.
CREATE TABLE device_intents (
    id        TEXT    PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    kind      TEXT    NOT NULL CHECK (kind IN ('dispense', 'stack', 'print')),
    session   INTEGER NOT NULL,
    device    TEXT    NOT NULL CHECK (length(device) <= 32),
    -- dispense: coins asked; stack: the note's value; print: sheets of the copy.
    amount    INTEGER NOT NULL CHECK (amount > 0),
    -- dispense: the hopper's event counter before; stack: the validator's stacked
    -- counter before (when known).
    before    INTEGER,
    -- print: the job name the printer knows it by, the document and the issue number.
    job_name  TEXT    CHECK (job_name IS NULL OR length(job_name) <= 64),
    document  TEXT    CHECK (document IS NULL OR length(document) <= 24),
    issue     TEXT    CHECK (issue IS NULL OR length(issue) <= 32),
    -- print: the fee of the copy, earned only if the whole copy comes out.
    fee       INTEGER CHECK (fee IS NULL OR fee >= 0),
    -- dispense: the transfer code the payout books (change-paid or refund).
    code      TEXT    CHECK (code IS NULL OR length(code) <= 24),
    at_ms     INTEGER NOT NULL,
    settled_ms INTEGER,
    -- What the device did: coins paid, note stacked (1) or not (0), sheets printed.
    outcome   INTEGER
) STRICT;
CREATE INDEX device_intents_open ON device_intents (session) WHERE settled_ms IS NULL;
CREATE TRIGGER device_intents_settled_once BEFORE UPDATE ON device_intents
WHEN OLD.settled_ms IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a device intent is settled once');
END;
CREATE TRIGGER device_intents_no_delete BEFORE DELETE ON device_intents
BEGIN
    SELECT RAISE(ABORT, 'device intents are kept');
END;

-- Where each device's own event counter stood at the last event booked from it: written
-- in the same transaction as that booking, and the driver's resume point after a restart.
-- `events` counts the device's events since it was first seen, across counter wraps and
-- resets, so `device:serial:events` names one physical event forever.
CREATE TABLE device_cursors (
    device  TEXT    PRIMARY KEY CHECK (length(device) <= 32),
    serial  TEXT    NOT NULL CHECK (length(serial) <= 16),
    counter INTEGER NOT NULL CHECK (counter >= 0),
    events  INTEGER NOT NULL CHECK (events >= 0),
    at_ms   INTEGER NOT NULL
) STRICT;
