package coupon

// OpenCampaign opens a first-come campaign with a fixed number of coupons.
type OpenCampaign struct {
	CampaignID string `json:"campaignId"`
	Name       string `json:"name"`
	Limit      int    `json:"limit"`
}

func (OpenCampaign) WireName() string { return "coupon.open_campaign.v1" }

// IssueCoupon issues the coupon of a user who was admitted by the gate.
type IssueCoupon struct {
	CampaignID string `json:"campaignId"`
	UserID     string `json:"userId"`
}

func (IssueCoupon) WireName() string { return "coupon.issue.v1" }

// PartitionKey keeps all commands of one coupon stream on one partition.
func (c IssueCoupon) PartitionKey() string { return CouponStreamID(c.CampaignID, c.UserID) }

// Validate checks the command on its own.
func (c IssueCoupon) Validate() error {
	if err := ValidateCampaignID(c.CampaignID); err != nil {
		return err
	}
	return ValidateUserID(c.UserID)
}
