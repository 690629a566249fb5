-- The audit log: one row per distinct event_id, partitioned by month of occurred_at (UTC).
--
-- Uniqueness of event_id across partitions: a unique index on a partitioned table must
-- contain the partition key, so audit_events cannot enforce it alone. audit_event_ids (not
-- partitioned) holds every event_id ever stored with its seq and is inserted in the same
-- transaction as the row; ON CONFLICT DO NOTHING on it decides which events are new.

CREATE SEQUENCE audit_seq AS bigint;

CREATE TABLE audit_event_ids (
    event_id text   PRIMARY KEY,
    seq      bigint NOT NULL
);

CREATE TABLE audit_events (
    seq          bigint      NOT NULL,
    event_id     text        NOT NULL,
    topic        text        NOT NULL,
    kind         text        NOT NULL,
    ce_type      text        NOT NULL,
    payload_type text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    actor_id     text        NOT NULL,
    user_id      text        NOT NULL,
    task_id      text        NOT NULL,
    payload      jsonb       NOT NULL,
    trace_id     text        NOT NULL,
    prev_hash    bytea       NOT NULL,
    hash         bytea       NOT NULL,
    PRIMARY KEY (occurred_at, seq)
) PARTITION BY RANGE (occurred_at);

CREATE INDEX audit_events_seq ON audit_events (seq);
CREATE INDEX audit_events_user ON audit_events (user_id, occurred_at DESC, seq DESC);
CREATE INDEX audit_events_task ON audit_events (task_id, occurred_at DESC, seq DESC);

-- The newest row of each monthly chain (see chain.go). Updated in the transaction that
-- appends to the chain; VerifyChain compares the end of each chain with it, so removing
-- rows at the end of a chain is detected too.
CREATE TABLE audit_chain_heads (
    month     date   PRIMARY KEY,
    last_seq  bigint NOT NULL,
    last_hash bytea  NOT NULL
);

-- Partitions dropped by retention, for the record.
CREATE TABLE audit_retention_log (
    month      date        PRIMARY KEY,
    last_seq   bigint,
    dropped_at timestamptz NOT NULL DEFAULT now()
);

-- Append-only: UPDATE, DELETE and TRUNCATE are rejected for every role (the table owner
-- included). Only a superuser can bypass it (session_replication_role = replica).
CREATE FUNCTION audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only: % on % rejected', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_event_ids_append_only BEFORE UPDATE OR DELETE ON audit_event_ids
    FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_event_ids_no_truncate BEFORE TRUNCATE ON audit_event_ids
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();

-- audit_ensure_partition creates the partition of the month containing m (UTC) unless it
-- exists. Statement-level TRUNCATE triggers are not inherited, so each partition gets its own.
CREATE FUNCTION audit_ensure_partition(m date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    first date := date_trunc('month', m)::date;
    part  text := format('audit_events_%s', to_char(first, 'YYYY_MM'));
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN;
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
