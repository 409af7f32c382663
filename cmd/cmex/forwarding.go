package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cebroker"
	"github.com/cmexhub/cmex/internal/cmars"
	"github.com/cmexhub/cmex/internal/netguard"
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

// allowPrivateFlag declares -allow-private-destinations on the commands
// that add destinations or societies, or run the server.
func allowPrivateFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("allow-private-destinations", false, "let destinations and remote societies be at loopback, private (RFC 1918, fc00::/7) and shared (100.64.0.0/10) addresses, "+
		"for receivers on the premises, and PARS destinations over plain http (a local test upstream); link-local (169.254.0.0/16, where cloud metadata services answer), "+
		"unspecified, multicast and reserved addresses stay refused. Off by default, with -sandbox too")
}

// targetPolicy is where cmex may send, as the flag says.
func targetPolicy(allowPrivate bool) cmex.TargetPolicy {
	return cmex.TargetPolicy{AllowPrivate: allowPrivate}
}

// newWorker is the outbox worker with every forwarder, over netguard's
// client: it connects only where policy allows (checked on every
// connection, on the address dialled), follows no redirect (a POST must
// not turn into a GET elsewhere), uses no proxy from the environment, and
// speaks TLS 1.2 or later to https:// URLs. Plain http:// is not
// encrypted: PARS destinations, whose every request carries the upstream
// password, are not called over it unless policy allows private ones.
func newWorker(deliveries cmex.DeliveryService, learners cmex.LearnerService, logger *slog.Logger, policy cmex.TargetPolicy) *outbox.Worker {
	return outbox.New(deliveries, forwarders(deliveries, learners, policy), logger)
}

// forwarders are the forwarders of every destination kind.
func forwarders(deliveries cmex.DeliveryService, learners cmex.LearnerService, policy cmex.TargetPolicy) map[cmex.DestinationKind]outbox.Forwarder {
	client := netguard.Client(policy)
	cm := &cmars.Forwarder{Client: client, Now: time.Now}
	if learners != nil {
		cm.Records = learners.FindLearnerRecords // a course's mandatory activity
	}
	return map[cmex.DestinationKind]outbox.Forwarder{
		cmex.DestPARS: &pars.Forwarder{Client: client, PlainHTTP: policy.AllowPrivate, RemoteID: func(ctx context.Context, d cmex.DestinationID, a cmex.ActivityID) (string, bool, error) {
			return deliveries.RemoteID(ctx, d, cmex.SubjectActivity, int64(a))
		}},
		cmex.DestWebhook:  &webhook.Forwarder{Client: client},
		cmex.DestCEBroker: &cebroker.Forwarder{Client: client},
		cmex.DestCMaRS:    cm,
	}
}
