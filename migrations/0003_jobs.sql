-- The durable job queue and its schedules (docs/adr/0005-job-queue.md).
--
-- Both tables are tenant-owned: workspace_id leads the primary key and row-level security confines
-- the application role to the transaction's workspace, so the API reads a job through a scoped
-- transaction. Workers claim across tenants through the owner connection, which bypasses RLS.

CREATE TABLE jobs (
    workspace_id     uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    job_id           uuid NOT NULL,
    kind             text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.-]{0,62}$'),
    integration_id   uuid,
    billing_period   text CHECK (billing_period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    payload          jsonb NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    -- Attempts started so far; a claim adds one, a graceful release gives it back.
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     integer NOT NULL CHECK (max_attempts BETWEEN 1 AND 100),
    -- When a queued job may start (the enqueue time, or the end of a retry's backoff).
    run_at           timestamptz NOT NULL,
    -- While running: until when the lease holds (heartbeats extend it) and which worker holds it.
    -- (worker_id, attempts) fences every write of a running job against a worker that lost it;
    -- worker_id stays after the job leaves `running`, naming the last worker.
    lease_expires_at timestamptz,
    worker_id        text,
    progress         jsonb NOT NULL DEFAULT '{}',
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    PRIMARY KEY (workspace_id, job_id),
    CHECK ((status = 'running') = (lease_expires_at IS NOT NULL)),
    CHECK (status <> 'running' OR worker_id IS NOT NULL)
);

-- Idempotency: at most one queued or running job per (kind, integration, billing period), so a
-- second "sync" or a repeated schedule tick finds the pending job instead of adding one. The
-- workspace leads (a distributed table's unique index must hold the distribution column);
-- coalesce makes jobs without a period collide with each other (NULLs would not).
CREATE UNIQUE INDEX jobs_one_pending ON jobs (workspace_id, kind, integration_id, (coalesce(billing_period, '')))
    WHERE status IN ('queued', 'running') AND integration_id IS NOT NULL;

-- The claim scans queued jobs per (workspace, kind) in run_at order; reaping scans leases.
CREATE INDEX jobs_queued ON jobs (workspace_id, kind, run_at) WHERE status = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE status = 'running';
-- Cancellation on revocation, and the integration's job history.
CREATE INDEX jobs_integration ON jobs (workspace_id, integration_id, created_at DESC) WHERE integration_id IS NOT NULL;
-- Retention clean-up of finished jobs.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

-- Recurring jobs per integration. Every worker process ticks this table; FOR UPDATE SKIP LOCKED and
-- advancing next_run_at in the same statement make each due schedule fire once, whichever worker
-- gets it.
CREATE TABLE schedules (
    workspace_id   uuid NOT NULL REFERENCES workspaces ON DELETE CASCADE,
    integration_id uuid NOT NULL,
    kind           text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.-]{0,62}$'),
    every_seconds  integer NOT NULL CHECK (every_seconds >= 60),
    payload        jsonb NOT NULL DEFAULT '{}',
    next_run_at    timestamptz NOT NULL,
    last_run_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, integration_id, kind)
);
CREATE INDEX schedules_due ON schedules (next_run_at);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['jobs', 'schedules'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (workspace_id = costline_current_workspace()) '
            'WITH CHECK (workspace_id = costline_current_workspace())', t);
    END LOOP;
END
$$;
