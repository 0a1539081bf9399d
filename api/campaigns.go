package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/surge-platform/surge/domain/coupon"
	"github.com/surge-platform/surge/handlers"
	"github.com/surge-platform/surge/projections"
)

// Coupons is the coupon flow's HTTP port (routes in routes.go).
type Coupons struct {
	Open         OpenCampaign
	Apply        ApplyForCoupon
	Campaigns    CampaignReader
	MaxBodyBytes int64
}

// OpenCampaign opens a campaign synchronously (its outcome is the answer).
type OpenCampaign interface {
	Handle(ctx context.Context, cmd *coupon.OpenCampaign) error
}

// ApplyForCoupon admits an applicant and sends IssueCoupon; it returns the
// normalised user id.
type ApplyForCoupon interface {
	Handle(ctx context.Context, cmd handlers.ApplyForCoupon) (string, error)
}

// CampaignReader reads the campaign read models.
type CampaignReader interface {
	Campaigns(ctx context.Context, after string, limit int) ([]projections.CampaignView, string, error)
	Campaign(ctx context.Context, campaignID string) (projections.CampaignView, error)
	CouponStatus(ctx context.Context, campaignID, userID string) (projections.CouponView, error)
}

type openCampaignRequest struct {
	ID    *string `json:"id"`
	Name  *string `json:"name"`
	Limit *int    `json:"limit"`
}

// openCampaign runs OpenCampaign synchronously: 201 means the gate is open.
func (h Coupons) openCampaign(c *gin.Context) {
	var req openCampaignRequest
	if err := decodeJSON(c, h.MaxBodyBytes, &req); err != nil {
		respondError(c, err)
		return
	}
	switch {
	case req.Name == nil:
		respondError(c, missingField("name"))
		return
	case req.Limit == nil:
		respondError(c, missingField("limit"))
		return
	}
	cmd := coupon.OpenCampaign{Name: *req.Name, Limit: *req.Limit}
	if req.ID != nil {
		cmd.CampaignID = *req.ID
	} else {
		var b [6]byte
		rand.Read(b[:]) //nolint:errcheck
		cmd.CampaignID = "c-" + hex.EncodeToString(b[:])
	}
	if err := h.Open.Handle(c.Request.Context(), &cmd); err != nil {
		respondError(c, err)
		return
	}
	view, err := h.Campaigns.Campaign(c.Request.Context(), cmd.CampaignID)
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"id": view.ID, "name": view.Name, "limit": view.Limit, "status": view.Status})
}

// listCampaigns pages through every campaign in id order.
func (h Coupons) listCampaigns(c *gin.Context) {
	after, limit, err := listQuery(c, 50, 200)
	if err != nil {
		respondError(c, err)
		return
	}
	views, next, err := h.Campaigns.Campaigns(c.Request.Context(), after, limit)
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, listPage(views, next))
}

func (h Coupons) getCampaign(c *gin.Context) {
	id, err := campaignID(c)
	if err != nil {
		respondError(c, err)
		return
	}
	view, err := h.Campaigns.Campaign(c.Request.Context(), id)
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, view)
}

type applyRequest struct {
	UserID *string `json:"userId"`
}

// apply admits the user at the gate and sends IssueCoupon. 202 means the
// command is stored in Kafka; any error means nothing was taken.
func (h Coupons) apply(c *gin.Context) {
	id, err := campaignID(c)
	if err != nil {
		respondError(c, err)
		return
	}
	var req applyRequest
	if err := decodeJSON(c, h.MaxBodyBytes, &req); err != nil {
		respondError(c, err)
		return
	}
	if req.UserID == nil {
		respondError(c, missingField("userId"))
		return
	}
	if _, err := h.Apply.Handle(c.Request.Context(), handlers.ApplyForCoupon{CampaignID: id, UserID: *req.UserID}); err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "accepted"})
}

func (h Coupons) getCoupon(c *gin.Context) {
	id, err := campaignID(c)
	if err != nil {
		respondError(c, err)
		return
	}
	userID, err := coupon.NormalizeUserID(c.Param("userId"))
	if err != nil {
		respondError(c, newError(http.StatusBadRequest, "invalid_user_id", "userId must be 1-64 printable characters without '/'"))
		return
	}
	view, err := h.Campaigns.CouponStatus(c.Request.Context(), id, userID)
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, view)
}

// campaignID reads and validates the :id path parameter.
func campaignID(c *gin.Context) (string, error) {
	id := c.Param("id")
	if coupon.ValidateCampaignID(id) != nil {
		return "", newError(http.StatusBadRequest, "invalid_campaign_id", "campaign id must be a slug of 1-64 characters [a-z0-9-]")
	}
	return id, nil
}
