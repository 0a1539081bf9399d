package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// healthz says the process is alive.
func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz checks every dependency in parallel, each within 2 seconds. Each
// check reads "ok", "repairing" (it answers, and is being rebuilt from the
// event store: still ready) or "failed" (503). Why a check is not ok names
// addresses and databases, so it is shown only with the admin token.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	checks, detail := map[string]string{}, map[string]string{}
	ready := true
	for name, check := range s.deps.ReadyChecks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := check(ctx)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				checks[name] = "ok"
			case errors.Is(err, ErrRepairing):
				checks[name] = "repairing"
				detail[name] = err.Error()
			default:
				checks[name] = "failed"
				detail[name] = err.Error()
				ready = false
			}
		}()
	}
	wg.Wait()
	code, status := http.StatusOK, "ready"
	if !ready {
		code, status = http.StatusServiceUnavailable, "not_ready"
	}
	body := gin.H{"status": status, "checks": checks}
	if len(detail) > 0 && s.isAdmin(c) {
		body["detail"] = detail
	}
	c.JSON(code, body)
}

// isAdmin says whether the request carries the admin bearer token.
func (s *Server) isAdmin(c *gin.Context) bool {
	token, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	return ok && s.deps.AdminToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.deps.AdminToken)) == 1
}
