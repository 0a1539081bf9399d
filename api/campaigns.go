package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/surge-platform/surge/domain/coupon"
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
// command is stored in Kafka; if it cannot be, the slot is given back.
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
	cmd := coupon.IssueCoupon{CampaignID: id, UserID: *req.UserID}
	if err := cmd.Validate(); err != nil {
		respondError(c, err)
		return
	}
	ctx := c.Request.Context()
	if err := s.deps.Gate.Admit(ctx, id, cmd.UserID); err != nil {
		respondError(c, err)
		return
	}
	if err := s.deps.Commands.Send(ctx, cmd); err != nil {
		// Not stored: give the slot back so someone else can have it.
		if relErr := s.deps.Gate.Release(context.WithoutCancel(ctx), id, cmd.UserID); relErr != nil {
			slog.ErrorContext(ctx, "could not release slot", "campaign", id, "user", cmd.UserID, "err", relErr)
			err = errors.Join(err, relErr)
		}
		slog.ErrorContext(ctx, "could not send IssueCoupon", "campaign", id, "err", err)
		respondError(c, errUnavailable)
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
	userID := c.Param("userId")
	if err := coupon.ValidateUserID(userID); err != nil {
		respondError(c, newError(http.StatusBadRequest, "invalid_user_id", "userId must be 1-64 printable characters"))
		return
	}
	view, err := s.deps.Campaigns.CouponStatus(c.Request.Context(), id, userID)
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, view)
}
