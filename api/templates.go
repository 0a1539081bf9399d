package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/surge-platform/surge/domain/pool"
	"github.com/surge-platform/surge/projections"
)

// Templates is the warm-pool flow's HTTP port (routes in routes.go).
type Templates struct {
	Open    OpenTemplate
	Create  CreateDesign
	Close   CloseTemplate
	Queries PoolQueries
	// MaxBodyBytes bounds a template's body (up to 500 asset keys).
	MaxBodyBytes int64
}

// OpenTemplate stores a template whose assets exist.
type OpenTemplate interface {
	Handle(ctx context.Context, cmd pool.OpenTemplate) (projections.TemplateView, bool, error)
}

// CreateDesign makes a design of a template, warm or cold.
type CreateDesign interface {
	Handle(ctx context.Context, templateID, ownerID string) (pool.DesignCreated, error)
}

// CloseTemplate closes a template and drains its pool.
type CloseTemplate interface {
	Handle(ctx context.Context, templateID string) error
}

// PoolQueries reads templates and designs.
type PoolQueries interface {
	OpenTemplates(ctx context.Context, after string, limit int) ([]projections.TemplateView, string, error)
	Template(ctx context.Context, templateID string) (projections.TemplateView, error)
	Design(ctx context.Context, designID string) (json.RawMessage, error)
}

type openTemplateRequest struct {
	ID     *string   `json:"id"`
	Name   *string   `json:"name"`
	Assets *[]string `json:"assets"`
}

func (h Templates) open(c *gin.Context) {
	var req openTemplateRequest
	if err := decodeJSON(c, h.MaxBodyBytes, &req); err != nil {
		respondError(c, err)
		return
	}
	switch {
	case req.Name == nil:
		respondError(c, missingField("name"))
		return
	case req.Assets == nil:
		respondError(c, missingField("assets"))
		return
	}
	cmd := pool.OpenTemplate{Name: *req.Name, Assets: *req.Assets}
	if req.ID != nil {
		if *req.ID == "" {
			respondError(c, pool.ValidateTemplateID(""))
			return
		}
		cmd.TemplateID = *req.ID
	}
	view, opened, err := h.Open.Handle(c.Request.Context(), cmd)
	if err != nil {
		respondError(c, err)
		return
	}
	status := http.StatusOK
	if opened {
		status = http.StatusCreated
		c.Header("Location", "/v1/templates/"+view.ID)
	}
	c.JSON(status, view)
}

// list pages through the open templates in id order.
func (h Templates) list(c *gin.Context) {
	after, limit, err := listQuery(c, 50, 200)
	if err != nil {
		respondError(c, err)
		return
	}
	views, next, err := h.Queries.OpenTemplates(c.Request.Context(), after, limit)
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, listPage(views, next))
}

func (h Templates) get(c *gin.Context) {
	view, err := h.Queries.Template(c.Request.Context(), c.Param("templateId"))
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, view)
}

func (h Templates) close(c *gin.Context) {
	if err := h.Close.Handle(c.Request.Context(), c.Param("templateId")); err != nil {
		respondError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type createDesignRequest struct {
	OwnerID *string `json:"ownerId"`
}

func (h Templates) createDesign(c *gin.Context) {
	var req createDesignRequest
	if err := decodeJSON(c, 4<<10, &req); err != nil {
		respondError(c, err)
		return
	}
	if req.OwnerID == nil {
		respondError(c, missingField("ownerId"))
		return
	}
	created, err := h.Create.Handle(c.Request.Context(), c.Param("templateId"), *req.OwnerID)
	if err != nil {
		respondError(c, err)
		return
	}
	c.Header("Location", "/v1/designs/"+created.DesignID)
	c.JSON(http.StatusCreated, projections.NewDesignView(created))
}

func (h Templates) getDesign(c *gin.Context) {
	body, err := h.Queries.Design(c.Request.Context(), c.Param("designId"))
	if err != nil {
		respondError(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}
