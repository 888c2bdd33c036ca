-- Units taken inside the gateway's accept transaction: the asset, its request in the outbox and
-- its unit of quota commit together or not at all, with no request/reply to usage on the hot
-- path (issue 17). Usage still owns these tables and the rule: the two functions below are its
-- interface, `quota_rules` is written by the usage service at start-up from FREE_MONTHLY_LIMIT,
-- and every later move of a reservation (settle, expire, withdraw) stays in usage's ledger.

CREATE TABLE usage.quota_rules (
    singleton          boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    free_monthly_limit integer NOT NULL CHECK (free_monthly_limit >= 0),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- The one conditional upsert that takes units: under the month row's lock,
-- used + reserved + units <= the free limit (a pro account has none). No row: refused.
CREATE FUNCTION usage.take_units(p_user_id text, p_period date, p_units integer, p_free_limit integer)
RETURNS TABLE (used_units integer, reserved_units integer, plan_name text)
LANGUAGE sql AS $$
    WITH account AS (
        SELECT COALESCE((SELECT a.plan FROM usage.accounts a WHERE a.user_id = p_user_id), 'free') AS plan
    )
    INSERT INTO usage.monthly_usage AS m (user_id, period_start, reserved)
    SELECT p_user_id, p_period, p_units FROM account WHERE account.plan = 'pro' OR p_free_limit >= p_units
    ON CONFLICT (user_id, period_start) DO UPDATE SET reserved = m.reserved + p_units
        WHERE (SELECT plan FROM account) = 'pro' OR m.used + m.reserved + p_units <= p_free_limit
    RETURNING m.used, m.reserved, (SELECT plan FROM account)
$$;

-- A unit for each request id (an asset, or each variant of a batch), all or none, in this
-- month (UTC, by the database's clock, as the asset's created_at). The lifecycle's RESERVE, and
-- RESERVE_AGAIN for an id that a gateway of the previous release withdrew (it stored no asset).
-- outcome: 'granted' (with the plan the model follows), 'refused' (the free limit is reached;
-- nothing written) or 'unavailable' (the usage service has not started once: no rule yet).
-- An id that already holds, held or settled its unit raises unique_violation: the whole
-- transaction is undone, and the caller finds the request that stored it.
CREATE FUNCTION usage.reserve_units(p_request_ids uuid[], p_user_id text, p_deadline_at timestamptz)
RETURNS TABLE (outcome text, plan text, free_limit integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_limit integer;
    v_plan text;
    v_period date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    v_units integer := cardinality(p_request_ids);
    v_stored integer;
BEGIN
    SELECT r.free_monthly_limit INTO v_limit FROM usage.quota_rules r;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unavailable'::text, NULL::text, NULL::integer;
        RETURN;
    END IF;
    SELECT t.plan_name INTO v_plan FROM usage.take_units(p_user_id, v_period, v_units, v_limit) t;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'refused'::text, 'free'::text, v_limit;
        RETURN;
    END IF;
    WITH stored AS (
        INSERT INTO usage.reservations AS r (request_id, user_id, period_start, state, created_at, deadline_at)
        SELECT id, p_user_id, v_period, 'reserved', now(), p_deadline_at FROM unnest(p_request_ids) AS id
        ON CONFLICT (request_id) DO UPDATE
            SET state = 'reserved', period_start = EXCLUDED.period_start, deadline_at = EXCLUDED.deadline_at,
                settled_at = NULL
            WHERE r.state IN ('withdrawn', 'tombstone') AND r.user_id = EXCLUDED.user_id
        RETURNING 1
    )
    SELECT count(*) INTO v_stored FROM stored;
    IF v_stored < v_units THEN
        RAISE EXCEPTION 'a reservation exists for one of these request ids' USING ERRCODE = 'unique_violation';
    END IF;
    RETURN QUERY SELECT 'granted'::text, v_plan, CASE WHEN v_plan = 'pro' THEN NULL ELSE v_limit END;
END
$$;
