-- The service owns its retry schedule: each row keeps the reminder it delivers and when it
-- is attempted next, so a scheduler inside the service can attempt due channels without the
-- event being redelivered.
ALTER TABLE notification_deliveries
    -- The ReminderEvent (protobuf wire format) the row delivers.
    ADD COLUMN reminder        bytea,
    -- retrying and held: when the scheduler attempts the channel; sending: when the lease
    -- of the attempt that marked it runs out (then it is taken as crashed and attempted again).
    ADD COLUMN next_attempt_at timestamptz,
    -- An attempt after this time records the channel skipped (NOTIFY_MAX_LATENESS after the
    -- due time, or after the end of the quiet hours that held it); NULL: never stale.
    ADD COLUMN stale_after     timestamptz;

ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_status_check;
ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_status_check
    CHECK (status IN ('sending', 'delivered', 'retrying', 'held', 'failed', 'skipped'));

-- Rows written by earlier versions: a sending row keeps the lease it had (60 s by default);
-- retrying rows were retried by redelivery and have no reminder to attempt without it: they
-- are attempted when the event comes back, as before.
UPDATE notification_deliveries SET next_attempt_at = updated_at + interval '60 seconds' WHERE status = 'sending';

-- The scheduler's scan: only rows that are not final, in due order.
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at)
    WHERE status IN ('sending', 'retrying', 'held');

-- Per-user delivery preferences (GetPreferences / SetPreferences); no row = defaults: every
-- channel on, no quiet hours.
CREATE TABLE notification_preferences (
    user_id           text        PRIMARY KEY,
    disabled_channels text[]      NOT NULL DEFAULT '{}',
    -- Quiet hours, minutes after local midnight in quiet_time_zone; NULL: none.
    quiet_start       integer     CHECK (quiet_start BETWEEN 0 AND 1439),
    quiet_end         integer     CHECK (quiet_end BETWEEN 0 AND 1439),
    quiet_time_zone   text        NOT NULL DEFAULT '',
    updated_at        timestamptz NOT NULL,
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);
