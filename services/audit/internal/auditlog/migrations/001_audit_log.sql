-- The audit log. Run by the owner role (AUDIT_MIGRATION_DATABASE_URL); the service runs as a
-- runtime role that Grant (roles.go) gives INSERT/SELECT on the log, SELECT on the rest and
-- EXECUTE on the three functions below — nothing else. Only the owner can alter, drop or
-- disable triggers, and what the owner can do undetected is bounded by the signatures
-- (heads, checkpoints, retention records) made with a key the database never holds.
--
-- One row per distinct event_id, partitioned by month of received_at (the service's clock,
-- UTC). A unique index on a partitioned table must contain the partition key, so event_id
-- uniqueness lives in audit_event_ids (not partitioned), inserted in the same transaction.
-- seq is dense: 1, 2, 3, … with no gaps, so a missing row shows as a gap unless a signed
-- retention record accounts for it.

-- The SECURITY DEFINER functions below pin this search path (FROM CURRENT): the schema
-- being migrated, then the catalog, with temporary objects last, so a caller cannot
-- shadow what they refer to.
SELECT set_config('search_path', quote_ident(current_schema()) || ', pg_catalog, pg_temp', true);

CREATE TABLE audit_event_ids (
    event_id text PRIMARY KEY
);

CREATE TABLE audit_events (
    seq                    bigint      NOT NULL,
    event_id               text        NOT NULL,
    topic                  text        NOT NULL,
    kind                   text        NOT NULL,
    ce_type                text        NOT NULL,
    payload_type           text        NOT NULL,
    occurred_at            timestamptz NOT NULL,
    received_at            timestamptz NOT NULL,
    occurred_out_of_window boolean     NOT NULL,
    actor_id               text        NOT NULL,
    user_id                text        NOT NULL,
    task_id                text        NOT NULL,
    payload                jsonb       NOT NULL,
    trace_id               text        NOT NULL,
    prev_hash              bytea       NOT NULL,
    hash                   bytea       NOT NULL,
    PRIMARY KEY (received_at, seq)
) PARTITION BY RANGE (received_at);

CREATE INDEX audit_events_seq ON audit_events (seq);
CREATE INDEX audit_events_user ON audit_events (user_id, occurred_at DESC, seq DESC);
CREATE INDEX audit_events_task ON audit_events (task_id, occurred_at DESC, seq DESC);

-- The newest seq handed out. Advanced only by audit_advance, which refuses to move it back.
CREATE TABLE audit_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_seq  bigint  NOT NULL
);
INSERT INTO audit_state (last_seq) VALUES (0);

-- The newest row of each monthly chain (see chain.go), signed (sign.go). Advanced only by
-- audit_advance; kept when retention drops the month, as evidence of where its chain ended.
CREATE TABLE audit_chain_heads (
    month     date   PRIMARY KEY,
    last_seq  bigint NOT NULL,
    last_hash bytea  NOT NULL,
    key_id    text   NOT NULL,
    signature bytea  NOT NULL
);

-- Periodic signed checkpoints of the whole log: the newest seq and every chain head at that
-- moment. Each is also published (audit-checkpoints topic and a log line) so that auditors
-- hold a copy the database never held.
CREATE TABLE audit_checkpoints (
    seq        bigint      PRIMARY KEY,
    created_at timestamptz NOT NULL,
    heads      jsonb       NOT NULL,
    key_id     text        NOT NULL,
    signature  bytea       NOT NULL
);

-- Months dropped by retention, signed: which month, how many rows, their seq range and
-- the chain's last hash.
CREATE TABLE audit_retention_log (
    month      date        PRIMARY KEY,
    row_count  bigint      NOT NULL,
    first_seq  bigint      NOT NULL,
    last_seq   bigint      NOT NULL,
    last_hash  bytea       NOT NULL,
    key_id     text        NOT NULL,
    signature  bytea       NOT NULL,
    dropped_at timestamptz NOT NULL DEFAULT now()
);

-- Append-only: UPDATE, DELETE and TRUNCATE are rejected for every role. The runtime role
-- lacks those privileges anyway; the triggers also stop the owner's accidents (an owner can
-- disable them on purpose — that is what the signatures are for).
CREATE FUNCTION audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only: % on % rejected', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['audit_events', 'audit_event_ids', 'audit_checkpoints', 'audit_retention_log'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION audit_reject_change()',
            t || '_append_only', t);
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()',
            t || '_no_truncate', t);
    END LOOP;
END
$$;
CREATE TRIGGER audit_state_no_truncate BEFORE TRUNCATE ON audit_state
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_chain_heads_no_truncate BEFORE TRUNCATE ON audit_chain_heads
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();

-- audit_ensure_partition creates the partition of the month containing m (UTC) unless it
-- exists, and never for a month retention dropped. Only months from 13 before to 121 after the database's current month: a caller
-- with the runtime credentials cannot make thousands of partitions. Statement-level
-- TRUNCATE triggers are not inherited, so each partition gets its own.
CREATE FUNCTION audit_ensure_partition(m date) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    first date := date_trunc('month', m)::date;
    now_m date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    part  text := format('audit_events_%s', to_char(first, 'YYYY_MM'));
BEGIN
    IF first < now_m - interval '13 months' OR first > now_m + interval '121 months' THEN
        RAISE EXCEPTION 'audit partition for % refused: outside 13 months before to 121 months after %', first, now_m
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass(part) IS NOT NULL THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM audit_retention_log WHERE month = first) THEN
        RAISE EXCEPTION 'audit partition for % refused: retention dropped that month', first
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('taskflow-audit-partitions'));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)',
        part, first::timestamp AT TIME ZONE 'UTC', (first + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    EXECUTE format('CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()', part);
END
$$;

-- audit_advance moves the log's newest seq forward and the given chain heads with it, in
-- the appending transaction. Nothing moves back: a head or the newest seq that would not
-- increase is refused.
CREATE FUNCTION audit_advance(p_last_seq bigint, p_months date[], p_seqs bigint[], p_hashes bytea[],
    p_key_ids text[], p_signatures bytea[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    n int;
BEGIN
    UPDATE audit_state SET last_seq = p_last_seq WHERE last_seq < p_last_seq;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'audit_advance: seq % does not advance the log', p_last_seq USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO audit_chain_heads AS h (month, last_seq, last_hash, key_id, signature)
        SELECT * FROM unnest(p_months, p_seqs, p_hashes, p_key_ids, p_signatures)
        ON CONFLICT (month) DO UPDATE SET last_seq = excluded.last_seq, last_hash = excluded.last_hash,
            key_id = excluded.key_id, signature = excluded.signature
        WHERE h.last_seq < excluded.last_seq;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> coalesce(array_length(p_months, 1), 0) THEN
        RAISE EXCEPTION 'audit_advance: a chain head would move back' USING ERRCODE = 'invalid_parameter_value';
    END IF;
END
$$;

-- audit_drop_month drops the partition of month m after recording the signed retention
-- record the service computed for it; the counts, seq range and head are checked against
-- the partition first. The current and the previous month can never be dropped.
CREATE FUNCTION audit_drop_month(m date, p_rows bigint, p_first bigint, p_last bigint, p_last_hash bytea,
    p_key_id text, p_signature bytea) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    first date := date_trunc('month', m)::date;
    part  text := format('audit_events_%s', to_char(first, 'YYYY_MM'));
    c     bigint;
    lo    bigint;
    hi    bigint;
    h     bytea;
BEGIN
    IF first + interval '2 months' > date_trunc('month', now() AT TIME ZONE 'UTC') THEN
        RAISE EXCEPTION 'audit retention: month % is too recent to drop', first USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass(part) IS NULL THEN
        RAISE EXCEPTION 'audit retention: no partition for %', first USING ERRCODE = 'undefined_table';
    END IF;
    EXECUTE format('SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0) FROM %I', part) INTO c, lo, hi;
    SELECT last_hash INTO h FROM audit_chain_heads WHERE month = first AND last_seq = hi;
    IF c <> p_rows OR lo <> p_first OR hi <> p_last OR (c > 0 AND h IS DISTINCT FROM p_last_hash) THEN
        RAISE EXCEPTION 'audit retention: % changed (% rows, seq % to %) since the record was made', first, c, lo, hi
            USING ERRCODE = 'serialization_failure';
    END IF;
    INSERT INTO audit_retention_log (month, row_count, first_seq, last_seq, last_hash, key_id, signature)
        VALUES (first, p_rows, p_first, p_last, p_last_hash, p_key_id, p_signature);
    EXECUTE format('DROP TABLE %I', part);
END
$$;

REVOKE ALL ON FUNCTION audit_ensure_partition(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_advance(bigint, date[], bigint[], bytea[], text[], bytea[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_drop_month(date, bigint, bigint, bigint, bytea, text, bytea) FROM PUBLIC;
