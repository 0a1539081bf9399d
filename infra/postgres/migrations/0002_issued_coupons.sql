-- Issued coupons, written in the same transaction as CouponIssued.
CREATE TABLE issued_coupons (
    coupon_id   UUID        PRIMARY KEY,
    campaign_id TEXT        NOT NULL,
    user_id     TEXT        NOT NULL,
    issued_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT issued_coupons_one_per_user UNIQUE (campaign_id, user_id)
);
