-- Defence in depth: the journal's rules enforced by SQLite itself, so that a writer
-- other than this library (a bug, a hand-made "fix" with the sqlite3 shell) cannot
-- append an entry that breaks them. The library obeys every rule below already; these
-- triggers only ever fire on a writer that does not.

-- The sequence counter moves forward one step at a time and is never removed.
CREATE TRIGGER counters_step_by_one BEFORE UPDATE ON counters
WHEN NEW.name IS NOT OLD.name OR NEW.value IS NOT OLD.value + 1
BEGIN
    SELECT RAISE(ABORT, 'the sequence counter only moves forward by one');
END;
CREATE TRIGGER counters_no_delete BEFORE DELETE ON counters
BEGIN
    SELECT RAISE(ABORT, 'the sequence counter cannot be deleted');
END;

-- An entry takes the number after the counter (the writer then steps the counter in the
-- same transaction) and links to the hash of the entry before it (zeros for entry 1).
CREATE TRIGGER journal_next_seq BEFORE INSERT ON journal
WHEN NEW.seq IS NOT (SELECT value + 1 FROM counters WHERE name = 'journal_seq')
BEGIN
    SELECT RAISE(ABORT, 'a journal entry must take the next sequence number');
END;
CREATE TRIGGER journal_links_to_previous BEFORE INSERT ON journal
WHEN NEW.prev_hash IS NOT (CASE WHEN NEW.seq = 1 THEN zeroblob(32)
                           ELSE (SELECT hash FROM journal WHERE seq = NEW.seq - 1) END)
BEGIN
    SELECT RAISE(ABORT, 'a journal entry must link to the hash of the entry before it');
END;

-- A post or void resolves a pending entry of the very same transfer (once: the unique
-- index journal_resolves in 0001).
CREATE TRIGGER journal_resolves_a_pending_entry BEFORE INSERT ON journal
WHEN NEW.resolves IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM journal p
    WHERE p.seq = NEW.resolves AND p.kind = 'pending'
      AND p.debit = NEW.debit AND p.credit = NEW.credit
      AND p.unit = NEW.unit AND p.amount = NEW.amount)
BEGIN
    SELECT RAISE(ABORT, 'a post or void must resolve a pending entry of the same transfer');
END;

-- Posted sums only grow (pending sums shrink when a pending entry is resolved); an
-- account keeps its unit; no balance row is ever removed.
CREATE TRIGGER balances_posted_only_grow BEFORE UPDATE ON balances
WHEN NEW.account IS NOT OLD.account OR NEW.unit IS NOT OLD.unit
  OR NEW.debits_posted < OLD.debits_posted OR NEW.credits_posted < OLD.credits_posted
  OR NEW.debits_pending < 0 OR NEW.credits_pending < 0
BEGIN
    SELECT RAISE(ABORT, 'balances move only as journal entries move them');
END;
CREATE TRIGGER balances_no_delete BEFORE DELETE ON balances
BEGIN
    SELECT RAISE(ABORT, 'balance rows cannot be deleted');
END;

CREATE TRIGGER outbox_no_delete BEFORE DELETE ON outbox
BEGIN
    SELECT RAISE(ABORT, 'the outbox cursor cannot be deleted');
END;
