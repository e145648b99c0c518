-- The kiosk's journal: append-only, double-entry, in two units (krw, sheets).
-- No column may hold personal data: every text column holds a validated code.

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
-- Sequence numbers come from this counter, in the same transaction as the entry:
-- never AUTOINCREMENT or rowid, which can skip or be reused.
INSERT INTO counters (name, value) VALUES ('journal_seq', 0);

CREATE TABLE journal (
    seq             INTEGER PRIMARY KEY,
    at_ms           INTEGER NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('posted', 'pending', 'post', 'void')),
    debit           TEXT    NOT NULL CHECK (length(debit) BETWEEN 1 AND 40),
    credit          TEXT    NOT NULL CHECK (length(credit) BETWEEN 1 AND 40),
    unit            TEXT    NOT NULL CHECK (unit IN ('krw', 'sheets')),
    amount          INTEGER NOT NULL CHECK (amount > 0),
    code            TEXT    NOT NULL CHECK (length(code) BETWEEN 1 AND 32),
    session         INTEGER,
    document        TEXT    CHECK (document IS NULL OR length(document) <= 24),
    issue           TEXT    CHECK (issue IS NULL OR length(issue) <= 32),
    idempotency_key TEXT    CHECK (idempotency_key IS NULL OR length(idempotency_key) <= 64),
    -- A post or void names the pending entry it resolves (exactly once: see below).
    resolves        INTEGER REFERENCES journal (seq),
    prev_hash       BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash            BLOB    NOT NULL CHECK (length(hash) = 32),
    CHECK ((kind IN ('post', 'void')) = (resolves IS NOT NULL))
) STRICT;

-- Partial unique indexes: most entries carry neither a key nor a resolution, and are
-- then not written into these indexes at all (one page less to write per commit).
CREATE UNIQUE INDEX journal_idempotency_key ON journal (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX journal_resolves ON journal (resolves) WHERE resolves IS NOT NULL;

CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
BEGIN
    SELECT RAISE(ABORT, 'the journal is append-only: UPDATE refused');
END;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
BEGIN
    SELECT RAISE(ABORT, 'the journal is append-only: DELETE refused');
END;

-- Balances kept in the same transaction as each entry; re-derivable from the journal.
CREATE TABLE balances (
    account         TEXT PRIMARY KEY,
    unit            TEXT    NOT NULL CHECK (unit IN ('krw', 'sheets')),
    debits_posted   INTEGER NOT NULL DEFAULT 0,
    credits_posted  INTEGER NOT NULL DEFAULT 0,
    debits_pending  INTEGER NOT NULL DEFAULT 0,
    credits_pending INTEGER NOT NULL DEFAULT 0
) STRICT;

-- The journal is the outbox: the district server has acknowledged entries up to here.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    acked_through INTEGER NOT NULL CHECK (acked_through >= 0)
) STRICT;
INSERT INTO outbox (id, acked_through) VALUES (1, 0);
CREATE TRIGGER outbox_only_forward BEFORE UPDATE ON outbox
WHEN NEW.acked_through < OLD.acked_through
BEGIN
    SELECT RAISE(ABORT, 'the outbox cursor only moves forward');
END;
