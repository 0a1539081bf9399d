package api

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/surge-platform/surge/domain/coupon"
	"github.com/surge-platform/surge/handlers"
)

type openCampaignRequest struct {
	ID    *string `json:"id"`
	Name  *string `json:"name"`
	Limit *int    `json:"limit"`
}

// openCampaign runs OpenCampaign synchronously: 201 means the gate is open.
func (s *Server) openCampaign(c *gin.Context) {
	var req openCampaignRequest
	if err := decodeJSON(c, s.deps.MaxBodyBytes, &req); err != nil {
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
	if err := s.deps.OpenCampaign.Handle(c.Request.Context(), &cmd); err != nil {
		respondError(c, err)
		return
	}
	view, err := s.deps.Campaigns.Campaign(c.Request.Context(), cmd.CampaignID)
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"id": view.ID, "name": view.Name, "limit": view.Limit, "status": view.Status})
}

func (s *Server) getCampaign(c *gin.Context) {
	id, err := campaignID(c)
	if err != nil {
		respondError(c, err)
		return
	}
	view, err := s.deps.Campaigns.Campaign(c.Request.Context(), id)
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
func (s *Server) apply(c *gin.Context) {
	id, err := campaignID(c)
	if err != nil {
		respondError(c, err)
		return
	}
	var req applyRequest
	if err := decodeJSON(c, s.deps.MaxBodyBytes, &req); err != nil {
		respondError(c, err)
		return
	}
	if req.UserID == nil {
		respondError(c, missingField("userId"))
		return
	}
	if _, err := s.deps.Apply.Handle(c.Request.Context(), handlers.ApplyForCoupon{CampaignID: id, UserID: *req.UserID}); err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"status": "accepted"})
}

func (s *Server) getCoupon(c *gin.Context) {
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
	view, err := s.deps.Campaigns.CouponStatus(c.Request.Context(), id, userID)
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, view)
}
