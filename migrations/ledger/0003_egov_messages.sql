-- Messages to the e-government network: saved before they are sent (so a retry reuses the
-- id and an unknown outcome can be settled by asking about it), and kept as the evidence
-- of each issued document. No personal data: ids, codes, hashes only.
CREATE TABLE egov_messages (
    message_id     TEXT    PRIMARY KEY CHECK (length(message_id) = 36),
    at_ms          INTEGER NOT NULL,
    session        INTEGER,
    service        TEXT    NOT NULL CHECK (service IN
                       ('verify-identity', 'fetch-document', 'confirm-issued', 'cancel-issue')),
    document       TEXT    CHECK (document IS NULL OR length(document) <= 24),
    issue          TEXT    CHECK (issue IS NULL OR length(issue) <= 32),
    state          TEXT    NOT NULL CHECK (state IN ('sent', 'ok', 'failed', 'unknown')),
    request_sha256 BLOB    CHECK (request_sha256 IS NULL OR length(request_sha256) = 32),
    reply_sha256   BLOB    CHECK (reply_sha256 IS NULL OR length(reply_sha256) = 32),
    settled_ms     INTEGER
) STRICT;
CREATE INDEX egov_messages_open ON egov_messages (state) WHERE state IN ('sent', 'unknown');
CREATE INDEX egov_messages_issue ON egov_messages (issue) WHERE issue IS NOT NULL;
-- A settled message stays settled: evidence is never rewritten.
CREATE TRIGGER egov_messages_settled_once BEFORE UPDATE ON egov_messages
WHEN OLD.state IN ('ok', 'failed')
BEGIN
    SELECT RAISE(ABORT, 'an e-government message is settled once');
END;
CREATE TRIGGER egov_messages_no_delete BEFORE DELETE ON egov_messages
BEGIN
    SELECT RAISE(ABORT, 'e-government evidence is kept');
END;
