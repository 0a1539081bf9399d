package api

import "github.com/gin-gonic/gin"

// This file lists every route of the API: the platform's own, then each
// flow's Mount. A flow's module (internal/flows) builds its port and hands
// its Mount to Deps.Flows.

// routes mounts the platform's routes and every flow's.
func (s *Server) routes(r *gin.Engine) {
	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	if s.deps.MetricsHandler != nil {
		r.GET("/metrics", gin.WrapH(s.deps.MetricsHandler))
	}

	v1 := r.Group("/v1")
	admin := v1.Group("/admin", s.requireAdmin)
	admin.GET("/poison", s.listPoison)
	admin.GET("/poison/:entryId", s.getPoison)
	admin.POST("/poison/:entryId/requeue", s.requeuePoison)
	admin.DELETE("/poison/:entryId", s.discardPoison)

	for _, mount := range s.deps.Flows {
		mount(v1)
	}
	for _, mount := range s.deps.Push {
		mount(r)
	}

	// The console (docs/console.md) goes with the API's routes: a process
	// without the api role (push only) serves no page.
	if len(s.deps.Flows) > 0 {
		r.GET("/", s.consoleIndex)
		r.GET("/console/*file", s.consoleFile)
	}
}

// Mount adds the coupon flow's routes (seed 001).
func (h Coupons) Mount(v1 *gin.RouterGroup) {
	v1.POST("/campaigns", h.openCampaign)
	v1.GET("/campaigns", h.listCampaigns)
	v1.GET("/campaigns/:id", h.getCampaign)
	v1.POST("/campaigns/:id/applications", h.apply)
	v1.GET("/campaigns/:id/coupons/:userId", h.getCoupon)
}

// Mount adds the price flow's routes (seed 000).
func (h Prices) Mount(v1 *gin.RouterGroup) {
	v1.GET("/products/:productId/price-comparison", h.getPriceComparison)
}

// Mount adds the alert flow's routes (seed 002).
func (h Alerts) Mount(v1 *gin.RouterGroup) {
	v1.POST("/complexes/:complexId/alerts", h.raise)
	v1.GET("/complexes/:complexId/alerts", h.feed)
	v1.GET("/alerts/:alertId", h.get)
	v1.POST("/alerts/:alertId/acceptances", h.accept)
	v1.POST("/alerts/:alertId/cancellation", h.cancel)
}

// Mount adds the alert flow's push endpoints (role push): STOMP over
// WebSocket, and the seed's own path for its clients.
func (p AlertPush) Mount(r gin.IRoutes) {
	r.GET("/ws", p.serve)
	r.GET("/an-ws", p.serve)
}

// Mount adds the chat flow's routes (seed 003).
func (h Rooms) Mount(v1 *gin.RouterGroup) {
	v1.POST("/rooms", h.create)
	v1.GET("/rooms", h.list)
	v1.GET("/rooms/:roomId", h.get)
	v1.POST("/rooms/:roomId/messages", h.post)
	v1.GET("/rooms/:roomId/messages", h.fetch)
	v1.POST("/rooms/:roomId/messages/:messageId/reactions", h.react)
}

// Mount adds the chat flow's stream (role push): Server-Sent Events.
func (s RoomStream) Mount(r gin.IRoutes) {
	r.GET("/v1/rooms/:roomId/stream", s.stream)
}

// Mount adds the warm-pool flow's routes (seed 004).
func (h Templates) Mount(v1 *gin.RouterGroup) {
	v1.POST("/templates", h.open)
	v1.GET("/templates", h.list)
	v1.GET("/templates/:templateId", h.get)
	v1.DELETE("/templates/:templateId", h.close)
	v1.POST("/templates/:templateId/designs", h.createDesign)
	v1.GET("/designs/:designId", h.getDesign)
}
