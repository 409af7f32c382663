package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cebroker"
	"github.com/cmexhub/cmex/internal/cmars"
	"github.com/cmexhub/cmex/internal/outbox"
	"github.com/cmexhub/cmex/internal/pars"
	"github.com/cmexhub/cmex/internal/webhook"
)

// sandboxSecretKey encrypts destinations' credentials in the sandbox. It is
// public: never use -sandbox with real credentials.
const sandboxSecretKey = "cmex-sandbox-secret-key-not-for-production"

// serverSecretKey is the key that encrypts destinations' credentials: from
// the file, else CMEX_SECRET_KEY, else the sandbox's with -sandbox.
func serverSecretKey(e *env, file string, sandbox bool) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	if k := e.getenv("CMEX_SECRET_KEY"); k != "" {
		return k, nil
	}
	if sandbox {
		return sandboxSecretKey, nil
	}
	return "", nil
}

// newWorker is the outbox worker with every forwarder, over an HTTP client
// that does not follow redirects (a POST must not turn into a GET
// elsewhere) and requires TLS 1.2 or later.
func newWorker(deliveries cmex.DeliveryService, learners cmex.LearnerService, logger *slog.Logger) *outbox.Worker {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 32
	client := &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return outbox.New(deliveries, map[cmex.DestinationKind]outbox.Forwarder{
		cmex.DestPARS: &pars.Forwarder{Client: client, RemoteID: func(ctx context.Context, d cmex.DestinationID, a cmex.ActivityID) (string, bool, error) {
			return deliveries.RemoteID(ctx, d, cmex.SubjectActivity, int64(a))
		}},
		cmex.DestWebhook:  &webhook.Forwarder{Client: client},
		cmex.DestCEBroker: &cebroker.Forwarder{Client: client},
		cmex.DestCMaRS:    &cmars.Forwarder{Client: client, Records: learners.FindLearnerRecords, Now: time.Now},
	}, logger)
}
