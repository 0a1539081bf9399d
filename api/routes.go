package api

import "github.com/gin-gonic/gin"

// routes lists every route of the API.
func (s *Server) routes(r *gin.Engine) {
	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	if s.deps.MetricsHandler != nil {
		r.GET("/metrics", gin.WrapH(s.deps.MetricsHandler))
	}

	v1 := r.Group("/v1")
	v1.POST("/campaigns", s.openCampaign)
	v1.GET("/campaigns/:id", s.getCampaign)
	v1.POST("/campaigns/:id/applications", s.apply)
	v1.GET("/campaigns/:id/coupons/:userId", s.getCoupon)
	v1.GET("/products/:productId/price-comparison", s.getPriceComparison)

	admin := v1.Group("/admin", s.requireAdmin)
	admin.GET("/poison", s.listPoison)
	admin.GET("/poison/:entryId", s.getPoison)
	admin.POST("/poison/:entryId/requeue", s.requeuePoison)
	admin.DELETE("/poison/:entryId", s.discardPoison)
}
