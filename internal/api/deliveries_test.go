package api_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/cmexhub/cmex/internal/api"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func TestDestinationsAndDeliveries(t *testing.T) {
	f := newFixture(t)
	mux := http.NewServeMux()
	(&api.Handler{Users: f.store.Users, APIKeys: sqlstore.NewAPIKeyService(f.store.DB), Learners: f.store.Learners, Persons: f.store.Persons,
		Deliveries: f.store.Deliveries, Logger: slog.New(slog.DiscardHandler)}).Register(mux)
	f.h = mux
	other := basic("otheruser@example.org", cmextest.Password)

	code, body := f.do(t, janeBasic, "POST", "/api/v1/destinations", map[string]any{"name": "hook", "kind": "webhook", "url": "https://hooks.example/cmex",
		"secrets": map[string]string{"webhookSecret": "whsec-api"}, "routing": map[string]any{"certifications": []string{"AMA PRA Category 1"}}})
	if code != 201 || body["secrets"] != nil || body["concurrency"] != float64(16) || body["enabled"] != true {
		t.Fatalf("add destination: %d %v", code, body)
	}
	if code, body := f.do(t, janeBasic, "POST", "/api/v1/destinations", map[string]any{"name": "bad", "kind": "fax", "url": "x"}); code != 400 {
		t.Errorf("bad destination: %d %v", code, body)
	}
	code, body = f.do(t, janeBasic, "GET", "/api/v1/destinations", nil)
	if list, _ := body["destinations"].([]any); code != 200 || len(list) != 1 || strings.Contains(fmt.Sprint(body), "whsec-api") {
		t.Errorf("list destinations: %d %v", code, body)
	}
	if code, body = f.do(t, janeBasic, "POST", "/api/v1/learner-records", cmextest.JaneReport(f.activity, "2025-06-01", "dl")); code != 201 {
		t.Fatalf("report: %d %v", code, body)
	}
	code, body = f.do(t, janeBasic, "GET", "/api/v1/deliveries?state=pending", nil)
	list, _ := body["deliveries"].([]any)
	if code != 200 || len(list) != 1 {
		t.Fatalf("deliveries (only the AMA credit is routed): %d %v", code, body)
	}
	id := fmt.Sprint(list[0].(map[string]any)["id"])
	// A limit outside 1-10000 is refused, not silently replaced by 100.
	for _, q := range []string{"limit=10001", "limit=0", "limit=many"} {
		if code, body := f.do(t, janeBasic, "GET", "/api/v1/deliveries?"+q, nil); code != 400 || !strings.Contains(fmt.Sprint(body), "limit (1-10000)") {
			t.Errorf("%s: %d %v", q, code, body)
		}
	}
	if code, body := f.do(t, janeBasic, "GET", "/api/v1/deliveries?limit=10000", nil); code != 200 || len(body["deliveries"].([]any)) != 1 {
		t.Errorf("limit=10000: %d %v", code, body)
	}
	if code, body := f.do(t, other, "GET", "/api/v1/deliveries/"+id, nil); code != 404 {
		t.Errorf("another provider's delivery: %d %v", code, body)
	}
	if code, body := f.do(t, janeBasic, "POST", "/api/v1/deliveries/"+id+"/cancel", nil); code != 200 || body["state"] != "cancelled" {
		t.Errorf("cancel: %d %v", code, body)
	}
	if code, body := f.do(t, janeBasic, "POST", "/api/v1/deliveries/"+id+"/retry", nil); code != 200 || body["state"] != "pending" {
		t.Errorf("retry: %d %v", code, body)
	}
	if code, _ := f.do(t, janeBasic, "GET", "/api/v1/deliveries/nope", nil); code != 404 {
		t.Errorf("a bad id: %d", code)
	}
}
