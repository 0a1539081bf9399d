package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/surge-platform/surge/internal/testenv"
)

// The console lists campaigns and templates a page at a time, in id order,
// with the cursor of the next page; closed templates are not listed.
func TestListsPageThroughCampaignsAndTemplates(t *testing.T) {
	b := newBucket(t, 0, 1)
	cfg := poolConfig(t, b)
	cfg.Set("SURGE_WARM_POOL_SIZE", "1")
	app := startApp(t, cfg, allRoles)
	for _, id := range []string{"c-b", "c-a", "c-c"} {
		openCampaign(t, app, id, 5)
	}
	if res := app.do(t, "POST", "/v1/campaigns/c-a/applications", map[string]string{"userId": "u1"}); res.Status != http.StatusAccepted {
		t.Fatalf("apply: %d %s", res.Status, res.Body)
	}
	type campaigns struct {
		Items []campaignView `json:"items"`
		Next  *string        `json:"next"`
	}
	var first, second campaigns
	app.do(t, "GET", "/v1/campaigns?limit=2", nil).JSON(t, &first)
	if len(first.Items) != 2 || first.Items[0].ID != "c-a" || first.Items[1].ID != "c-b" || first.Next == nil || *first.Next != "c-b" {
		t.Fatalf("first page %+v", first)
	}
	if first.Items[0].Accepted != 1 || first.Items[0].Limit != 5 || first.Items[0].Name != "Rush c-a" || first.Items[0].Status != "open" {
		t.Fatalf("campaign in the list %+v", first.Items[0])
	}
	app.do(t, "GET", "/v1/campaigns?limit=2&after="+*first.Next, nil).JSON(t, &second)
	if len(second.Items) != 1 || second.Items[0].ID != "c-c" || second.Next != nil {
		t.Fatalf("second page %+v", second)
	}

	for _, id := range []string{"t-b", "t-a", "t-c"} {
		openPoolTemplate(t, app, id, b.assets)
	}
	if res := app.do(t, "DELETE", "/v1/templates/t-b", nil); res.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
	type templates struct {
		Items []templateView `json:"items"`
		Next  *string        `json:"next"`
	}
	testenv.Eventually(t, 20*time.Second, "both open templates' pools are full", func() bool {
		var all templates
		app.do(t, "GET", "/v1/templates", nil).JSON(t, &all)
		return len(all.Items) == 2 && all.Items[0].Pool.Ready == 1 && all.Items[1].Pool.Ready == 1
	})
	var page templates
	app.do(t, "GET", "/v1/templates?limit=1", nil).JSON(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != "t-a" || page.Next == nil || page.Items[0].Pool.Target != 1 || page.Items[0].Assets != 1 {
		t.Fatalf("templates page %+v", page)
	}
	app.do(t, "GET", "/v1/templates?limit=1&after="+*page.Next, nil).JSON(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != "t-c" || page.Next != nil {
		t.Fatalf("templates second page %+v", page)
	}

	app.do(t, "GET", "/v1/campaigns?limit=0", nil).requireError(t, http.StatusBadRequest, "invalid_limit")
	app.do(t, "GET", "/v1/campaigns?limit=201", nil).requireError(t, http.StatusBadRequest, "invalid_limit")
	app.do(t, "GET", "/v1/templates?sort=name", nil).requireError(t, http.StatusBadRequest, "unknown_parameter")
	app.do(t, "GET", "/v1/templates?after=a&after=b", nil).requireError(t, http.StatusBadRequest, "invalid_query")
}
