-- One row per (reminder event, channel): what the notification service did about it.
CREATE TABLE notification_deliveries (
    event_id        text        NOT NULL,
    channel         text        NOT NULL CHECK (channel IN ('in_app', 'webhook', 'email')),
    status          text        NOT NULL CHECK (status IN ('sending', 'delivered', 'retrying', 'failed', 'skipped')),
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text        NOT NULL DEFAULT '',
    user_id         text        NOT NULL,
    task_id         text        NOT NULL,
    notification_id text        NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    delivered_at    timestamptz,
    PRIMARY KEY (event_id, channel)
);

CREATE INDEX notification_deliveries_user ON notification_deliveries (user_id, created_at DESC, event_id DESC, channel DESC);
