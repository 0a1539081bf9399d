package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
)

// requireAdmin lets a request through only with the admin bearer token.
func (s *Server) requireAdmin(c *gin.Context) {
	if s.deps.AdminToken == "" {
		respondError(c, newError(http.StatusUnauthorized, "unauthorized", "the admin API is disabled: set SURGE_ADMIN_TOKEN"))
		return
	}
	if !s.isAdmin(c) {
		c.Header("WWW-Authenticate", `Bearer realm="surge-admin"`)
		respondError(c, newError(http.StatusUnauthorized, "unauthorized", "a valid admin bearer token is required"))
		return
	}
	if s.deps.Poison == nil {
		respondError(c, errUnavailable)
		return
	}
	c.Next()
}

func (s *Server) listPoison(c *gin.Context) {
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			respondError(c, newError(http.StatusBadRequest, "invalid_limit", "limit must be an integer in 1..1000"))
			return
		}
		limit = n
	}
	entries, err := s.deps.Poison.List(c.Request.Context(), limit)
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, entries)
}

func entryID(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("entryId"), 10, 64)
	if err != nil || id < 1 {
		return 0, newError(http.StatusBadRequest, "invalid_entry_id", "entry id must be a positive integer")
	}
	return id, nil
}

func (s *Server) getPoison(c *gin.Context) {
	id, err := entryID(c)
	if err != nil {
		respondError(c, err)
		return
	}
	entry, err := s.deps.Poison.Get(c.Request.Context(), id)
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, entry)
}

func (s *Server) requeuePoison(c *gin.Context) {
	id, err := entryID(c)
	if err != nil {
		respondError(c, err)
		return
	}
	entry, err := s.deps.Poison.Requeue(c.Request.Context(), id)
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"requeued": entry.ID, "messageId": entry.MessageID, "topic": entry.Topic})
}

func (s *Server) discardPoison(c *gin.Context) {
	id, err := entryID(c)
	if err != nil {
		respondError(c, err)
		return
	}
	if err := s.deps.Poison.Discard(c.Request.Context(), id); err != nil {
		respondError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
