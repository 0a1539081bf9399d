-- The database is the authority over how many coupons a campaign has given
-- out; the Redis gate is only the fast path in front of it. Every
-- CouponIssued adds one to its campaign's row in the same transaction, and
-- the CHECK makes a transaction that would exceed the limit fail, whatever
-- the gate (or a Redis that lost its data) admitted. That row is also the
-- index of campaigns that jobs (the resender) walk instead of scanning Redis.
CREATE TABLE campaign_quotas (
    campaign_id  TEXT    PRIMARY KEY,
    coupon_limit INTEGER NOT NULL,
    issued       INTEGER NOT NULL DEFAULT 0
);

INSERT INTO campaign_quotas (campaign_id, coupon_limit, issued)
SELECT e.payload->>'campaignId', (e.payload->>'limit')::int,
       (SELECT count(*) FROM issued_coupons c WHERE c.campaign_id = e.payload->>'campaignId')
FROM events e
WHERE e.event_type = 'coupon.campaign_opened.v1'
ON CONFLICT (campaign_id) DO NOTHING;

-- NOT VALID: a campaign that a Redis data loss already pushed over its limit
-- before this migration keeps its rows; from now on no write may exceed it.
ALTER TABLE campaign_quotas
    ADD CONSTRAINT campaign_quotas_within_limit CHECK (issued <= coupon_limit) NOT VALID;
ALTER TABLE issued_coupons
    ADD CONSTRAINT issued_coupons_campaign_fk FOREIGN KEY (campaign_id) REFERENCES campaign_quotas (campaign_id) NOT VALID;

-- Applicants the gate admitted but who got no coupon because the campaign had
-- none left when their coupon was to be written (CouponRejected, same
-- transaction). With issued_coupons it is every final outcome of a campaign:
-- what a gate repair restores.
CREATE TABLE rejected_coupons (
    campaign_id TEXT        NOT NULL REFERENCES campaign_quotas (campaign_id),
    user_id     TEXT        NOT NULL,
    reason      TEXT        NOT NULL,
    rejected_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (campaign_id, user_id)
);
