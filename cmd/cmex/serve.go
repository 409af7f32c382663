package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/api"
	"github.com/cmexhub/cmex/internal/boardsim"
	"github.com/cmexhub/cmex/internal/cmegateway"
	"github.com/cmexhub/cmex/internal/credential"
	"github.com/cmexhub/cmex/internal/netguard"
	"github.com/cmexhub/cmex/internal/outbox"
	"github.com/cmexhub/cmex/internal/pars"
	"github.com/cmexhub/cmex/internal/portal"
	"github.com/cmexhub/cmex/internal/processsync"
	"github.com/cmexhub/cmex/internal/server"
	"github.com/cmexhub/cmex/internal/sqlstore"
	"github.com/cmexhub/cmex/internal/xapi"
)

func serveCommand() *command {
	c := &command{
		name:    "serve",
		summary: "Run the cmex server: the PARS activity, learner and learner match services, the CME Gateway (society services, transcripts, credit feed), Process Synchronization (GetRoleData), the JSON API and health, on one address.",
		usage:   "cmex serve [flags]",
		example: `cmex serve -sandbox                      # embedded SQLite in ./cmex.db, sandbox fixtures loaded
cmex serve -addr :8080 -db postgres://cmex:secret@db.internal/cmex`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := c.flagSet(e)
		addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
		dbSpec := dbFlag(fs)
		pool := poolFlags(fs)
		sandbox := fs.Bool("sandbox", false, "load the sandbox fixtures (providers 1234567 and 7654321 with one user each); idempotent")
		sandboxPassword := fs.String("sandbox-password", "sandbox", "password of the sandbox users")
		permissive := fs.Bool("permissive", false, "accept what can be understood and report deviations from PARS as warnings, instead of rejecting them")
		matching := fs.String("matching", "", "how learner identities are checked: registry (against the learner registry, as PARS does; the default with -sandbox) or passthrough (form only, left to the registry downstream; the default otherwise)")
		boardDelay := fs.Duration("sandbox-board-delay", 3*time.Second, "with -sandbox, how long the simulated boards take to submit, then to approve or reject, MOC learner records; "+
			"on PostgreSQL one replica runs the boards, and a stopped one's pass to another within three quarters of this (at least 1s)")
		maxBody := fs.Int64("max-body", pars.DefaultMaxBody, "largest request body accepted, in bytes; larger ones get 413")
		logFormat := fs.String("log-format", "auto", "log format: auto (text on a terminal, JSON otherwise), text or json")
		logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
		grace := fs.Duration("shutdown-grace", 30*time.Second, "on SIGINT or SIGTERM, how long requests in flight may take to finish")
		gwTimeout := fs.Duration("gateway-timeout", cmegateway.DefaultTimeout, "how long each society may take to answer customer_binding or ceu_order")
		gwTTL := fs.Duration("gateway-cache-ttl", cmegateway.DefaultCacheTTL, "how long a society's ceu_order answer is reused without asking again (an older one is still shown, marked stale, when the society fails)")
		gwSociety := fs.String("gateway-society", "", "the local society /cmegateway/customer_binding and /cmegateway/ceu_order answer for (default: the only local one; EXAMPLE with -sandbox); /cmegateway/CODE/… answer for any")
		gwSource := fs.String("gateway-source", cmegateway.DefaultSource, "the SOURCE the credit feed writes in its answers")
		psKeyFile := fs.String("processsync-key-file", "", "file holding the shared key of Process Synchronization tokens (or set CMEX_PROCESSSYNC_KEY; sandbox-secret with -sandbox)")
		psWindow := fs.Duration("processsync-window", processsync.DefaultWindow, "how far a GetRoleData TimeStamp may be from the server's clock")
		publicURL := fs.String("public-url", "", "the address users reach this cmex at (https://cme.example.org), printed on transcripts for their verification; without it they carry the path /verify/CODE only (with -sandbox: the address the request named)")
		tlsCert := fs.String("tls-cert", "", "serve HTTPS with this certificate (PEM, with its chain); needs -tls-key")
		tlsKey := fs.String("tls-key", "", "the private key (PEM) of -tls-cert")
		proxies := fs.String("trusted-proxies", "", "addresses or CIDR ranges of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (comma-separated); others' are ignored")
		secretKeyFile := fs.String("secret-key-file", "", "file holding the server key that encrypts destinations' credentials (or set CMEX_SECRET_KEY; a fixed sandbox key with -sandbox)")
		lockAfter := fs.Int("lockout-after", 5, "failed sign-ins in a row that lock an account (on any surface: PARS, JSON API, portal, customer_binding, credit feed); 0: never lock")
		lockFor := fs.Duration("lockout-for", 15*time.Minute, "how long a locked account stays locked (addresses it signed in from in the last day are exempt)")
		addrFailures := fs.Int("address-failures", 20, "failed sign-ins one client address may make at once, after which it may fail once a minute; 0: no limit")
		addrSignUps := fs.Int("address-signups", 10, "sign-ups (POST /api/v1/accounts) one client address may make at once, after which it may make one a minute; 0: no limit")
		addrVerify := fs.Int("address-verifications", 60, "verifications one client address may ask for at once (printed transcripts at /verify/CODE, credentials at /verify and POST /api/v1/verify), after which it may ask one a second; 0: no limit")
		maxHashing := fs.Int("max-hashing", 0, "password hashes and checks (argon2id, 19 MiB each) run at once, on every surface; others wait up to 2s, then get 503 and Retry-After; 0: from GOMEMLIMIT when set (a quarter of it), else one per CPU, at most 8")
		outboxLease := fs.Duration("outbox-lease", outbox.DefaultLease, "how long a claimed delivery is the worker's before another may take it over; renewed every third of it while the attempt is in flight, so a stopped replica's claims come back within it (at least 1s)")
		outboxAlert := fs.Duration("outbox-alert-after", outbox.DefaultAlertAfter, "how long a delivery may stay undelivered before it is flagged and logged as an error (once, by one replica, "+
			"which checks every tenth of this, at most every minute; a stopped replica's check passes to another within three such intervals)")
		outboxStatus := fs.Duration("outbox-status-every", outbox.DefaultStatusEvery, "how often MOC records delivered to an upstream PARS are checked for the board's decision; "+
			"on PostgreSQL one replica polls each destination, and a stopped replica's destinations are polled by another within 2.5 times this (at once after SIGTERM)")
		issuerName := fs.String("issuer-name", "cmex", "the name of the issuer of the verifiable credentials this cmex issues (its did:web is that of -public-url)")
		allowPrivate := allowPrivateFlag(fs)
		if err := parse(fs, args, e); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
		}
		if *maxBody <= 0 {
			return fmt.Errorf("%w: -max-body must be positive", errUsage)
		}
		psKey, err := processSyncKey(e, *psKeyFile, *sandbox)
		if err != nil {
			return err
		}
		secretKey, err := serverSecretKey(e, *secretKeyFile, *sandbox)
		if err != nil {
			return err
		}
		// Everything the flags say is checked before anything is opened:
		// a bad configuration names every flag at fault and touches no
		// database.
		var bad []string
		if _, port, err := net.SplitHostPort(*addr); err != nil {
			bad = append(bad, fmt.Sprintf("-addr %q: want HOST:PORT, as in 127.0.0.1:8080 or :8080", *addr))
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			bad = append(bad, fmt.Sprintf("-addr %q: the port must be a number from 0 to 65535", *addr))
		}
		for _, d := range []struct {
			flag string
			v    time.Duration
			zero bool // whether 0 is allowed
		}{{"-outbox-lease", *outboxLease, false}, {"-outbox-alert-after", *outboxAlert, false}, {"-outbox-status-every", *outboxStatus, false},
			{"-processsync-window", *psWindow, false}, {"-shutdown-grace", *grace, true}, {"-sandbox-board-delay", *boardDelay, true}} {
			if d.v < 0 || d.v == 0 && !d.zero {
				bad = append(bad, fmt.Sprintf("%s %v: must be positive", d.flag, d.v))
			}
		}
		if *outboxLease > 0 && *outboxLease < time.Second {
			bad = append(bad, fmt.Sprintf("-outbox-lease %v: must be at least 1s (it is renewed every third of it)", *outboxLease))
		}
		if !strings.HasPrefix(*dbSpec, "sqlite:") && !strings.HasPrefix(*dbSpec, "postgres://") && !strings.HasPrefix(*dbSpec, "postgresql://") {
			bad = append(bad, fmt.Sprintf("-db %q: want sqlite:PATH or a postgres:// URL", *dbSpec))
		}
		bad = append(bad, pool.check(fs, e, *dbSpec)...)
		var srvTLS *tls.Config
		if (*tlsCert == "") != (*tlsKey == "") {
			bad = append(bad, "-tls-cert and -tls-key go together")
		} else if *tlsCert != "" {
			var err error
			if srvTLS, err = server.TLSConfig(*tlsCert, *tlsKey); err != nil {
				bad = append(bad, fmt.Sprintf("-tls-cert, -tls-key: %v", err))
			}
		}
		if *publicURL != "" {
			if err := checkPublicURL(*publicURL); err != nil {
				bad = append(bad, fmt.Sprintf("-public-url %q: %v", *publicURL, err))
			}
		}
		trusted, err := server.ParseTrustedProxies(*proxies)
		if err != nil {
			bad = append(bad, fmt.Sprintf("-trusted-proxies: %v", err))
		}
		if len(bad) > 0 {
			return fmt.Errorf("%w: %s", errUsage, strings.Join(bad, "; "))
		}
		if *lockAfter < 0 || *lockFor < 0 || *addrFailures < 0 || *addrSignUps < 0 || *addrVerify < 0 || *maxHashing < 0 {
			return fmt.Errorf("%w: -lockout-after, -lockout-for, -address-failures, -address-signups, -address-verifications and -max-hashing may not be negative", errUsage)
		}
		if *gwTimeout <= 0 || *gwTTL < 0 {
			return fmt.Errorf("%w: -gateway-timeout must be positive and -gateway-cache-ttl not negative", errUsage)
		}
		mode := cmex.MatchPassthrough
		if *sandbox {
			mode = cmex.MatchRegistry
		}
		if *matching != "" {
			m, ok := cmex.ParseMatchingMode(*matching)
			if !ok {
				return fmt.Errorf("%w: -matching %q: want registry or passthrough", errUsage, *matching)
			}
			mode = m
		}
		logger, err := newLogger(e.stderr, *logFormat, *logLevel)
		if err != nil {
			return err
		}

		db, dbName, err := openDB(ctx, *dbSpec, pool.options())
		if err != nil {
			return err
		}
		defer db.Close()
		if db.Dialect().Name() == "postgres" {
			// The timeout as the server holds it: the -db URL's own wins.
			var timeout string
			if err := db.SQL().QueryRowContext(ctx, `SHOW statement_timeout`).Scan(&timeout); err != nil {
				return fmt.Errorf("postgres: %w", err)
			}
			logger.Info("postgres connections", "max_conns", *pool.maxConns, "max_idle_conns", cmp.Or(*pool.maxIdle, *pool.maxConns),
				"conn_max_lifetime", pool.lifetime.String(), "conn_max_idle_time", pool.idleTime.String(), "statement_timeout", timeout)
		}
		if secretKey != "" {
			if db.Secrets, err = sqlstore.NewSecretBox(secretKey); err != nil {
				return fmt.Errorf("secret key: %w", err)
			}
		} else {
			logger.Warn("no server secret key: destinations with credentials cannot be added or used (set CMEX_SECRET_KEY or -secret-key-file)")
		}
		// One bound on argon2id for the whole server: every surface hashes
		// and checks passwords through db.Hasher.
		db.Hasher.Limit = sqlstore.NewHashLimit(hashSlots(*maxHashing, db.Hasher.Memory), sqlstore.DefaultHashWait)
		orgs, users := sqlstore.NewOrganizationService(db), sqlstore.NewUserService(db)
		persons, learners := sqlstore.NewPersonService(db), sqlstore.NewLearnerService(db, mode)
		plans := sqlstore.NewPlanService(db)
		// Completion statements become learner records in the transaction
		// that stores them, through the same ledger.
		xapiStore, xapiProfiles := sqlstore.NewXAPIService(db), sqlstore.NewXAPIProfiles(db, learners)
		xapiStore.Hook = xapiProfiles
		societies, accounts := sqlstore.NewSocietyService(db), sqlstore.NewGatewayService(db)
		// Every surface checks passwords and keys through one guard, whose
		// state is in the database: every replica on it shares the limits,
		// and a lockout through one holds on all within guard.SyncEvery.
		guard := cmex.DefaultLoginGuard()
		guard.LockAfter, guard.LockFor, guard.AddrBurst = *lockAfter, *lockFor, *addrFailures
		guard.SignUps.Burst, guard.Verifications.Burst = *addrSignUps, *addrVerify
		guard.Store = sqlstore.NewGuardStore(db)
		guarded := cmex.Guarded{Guard: guard}
		// Everything cmex sends to a URL someone gave it goes through one
		// policy: checked when the URL is given and on every connection.
		policy := targetPolicy(*allowPrivate)
		gateway := cmegateway.New(guarded.Societies(societies), accounts, logger)
		gateway.Timeout, gateway.CacheTTL, gateway.Source = *gwTimeout, *gwTTL, *gwSource
		gateway.Client = &cmegateway.Client{HTTP: netguard.Client(policy)}
		gateway.Calls = sqlstore.NewSocietyCallService(db)
		claims := sqlstore.NewClaimService(db)
		gateway.Links = claims
		// Work that must run once in a cluster (loading the sandbox, its
		// boards, the outbox's overdue check and status polling) is done by
		// the replica that holds its lease. One server owns a SQLite file,
		// so there it takes none: a lease a killed run left would only hold
		// the work up until it expired.
		var leases cmex.LeaseService
		if db.Dialect().Name() != "sqlite" {
			leases = sqlstore.NewLeaseService(db)
		}
		replica := replicaID()
		if *sandbox {
			// Replicas starting together on one new database load the
			// fixtures one at a time: each loader adds what is not there.
			if err := db.Exclusively(ctx, func(ctx context.Context) error {
				if err := loadSandboxGateway(ctx, societies, accounts, *sandboxPassword, logger); err != nil {
					return err
				}
				if err := loadSandbox(ctx, orgs, users, *sandboxPassword, logger); err != nil {
					return err
				}
				if err := loadSandboxLearners(ctx, persons, logger); err != nil {
					return err
				}
				if err := loadSandboxPlans(ctx, plans, logger); err != nil {
					return err
				}
				if err := loadSandboxPortal(ctx, societies, accounts, plans, orgs, sqlstore.NewPortalService(db), *sandboxPassword, logger); err != nil {
					return err
				}
				if err := loadSandboxOperator(ctx, sqlstore.NewPortalService(db), *sandboxPassword, logger); err != nil {
					return err
				}
				if err := loadSandboxSocietyAdmins(ctx, societies, sqlstore.NewPortalService(db), *sandboxPassword, logger); err != nil {
					return err
				}
				if err := ensureSandboxIssuerKey(ctx, sqlstore.NewIssuerKeyService(db)); err != nil {
					return err
				}
				return loadSandboxClaims(ctx, orgs, sqlstore.NewPortalService(db), *sandboxPassword, logger)
			}); err != nil {
				return fmt.Errorf("sandbox: %w", err)
			}
			if *gwSociety == "" {
				*gwSociety = cmegateway.ExampleCode
			}
			board := &boardsim.Board{Learners: learners, Logger: logger, Delay: *boardDelay, Reject: sandboxReject, Leases: leases, Holder: replica}
			bctx, stopBoard := context.WithCancel(cmex.WithActor(ctx, "sandbox-board"))
			boardDone := make(chan struct{})
			go func() { board.Run(bctx); close(boardDone) }()
			defer func() { stopBoard(); <-boardDone }() // it releases its lease as it stops
		}

		deliveries := sqlstore.NewDeliveryService(db)
		worker := newWorker(deliveries, learners, logger, policy)
		worker.Lease, worker.AlertAfter, worker.StatusEvery = *outboxLease, *outboxAlert, *outboxStatus
		worker.ID, worker.Leases = replica, leases
		if db.Dialect().Name() == "sqlite" {
			// One server owns a SQLite file (two cmex serve on one file are
			// not supported), so a lease held now is a stopped run's: its
			// deliveries are due at once rather than when the lease ends.
			// On PostgreSQL other replicas' leases are alive, and a dead
			// one's end within -outbox-lease.
			n, err := deliveries.ReleaseLeases(ctx, time.Now())
			if err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
			if n > 0 {
				logger.Info("outbox: released the deliveries a stopped run had claimed; they are due now", "deliveries", n)
			}
		}

		// Verifiable credentials: the issuer is the did:web of the public
		// URL (with -sandbox and none, of the address listened on, set
		// below once it is known).
		credentials := &credential.Service{Keys: sqlstore.NewIssuerKeyService(db), Records: sqlstore.NewCredentialRecords(db),
			BaseURL: *publicURL, Name: *issuerName, Now: time.Now}

		parsMode := pars.Strict
		if *permissive {
			parsMode = pars.Permissive
		}
		srv := server.New(server.Config{
			TLS: srvTLS, TrustedProxies: trusted,
			Logger: logger,
			Health: db.Ping,
			Metrics: func() []server.Metric {
				st := &worker.Stats
				ms := []server.Metric{
					{Name: "cmex_outbox_delivered_total", Help: "Deliveries a destination took.", Value: float64(st.Delivered.Load())},
					{Name: "cmex_outbox_rejected_total", Help: "Deliveries a destination refused for good.", Value: float64(st.Rejected.Load())},
					{Name: "cmex_outbox_retries_total", Help: "Attempts that failed and will be retried.", Value: float64(st.Retried.Load())},
					{Name: "cmex_outbox_overdue_total", Help: "Deliveries flagged as undelivered past -outbox-alert-after.", Value: float64(st.Overdue.Load())},
				}
				ms = append(ms, poolMetrics(db.SQL().Stats())...)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				backlogs, err := deliveries.Backlogs(ctx)
				if err != nil {
					logger.Warn("metrics: outbox backlog", "err", err)
				}
				for _, b := range backlogs {
					label := fmt.Sprintf("provider=%q,destination=%q", b.Provider, b.Destination)
					ms = append(ms, server.Metric{Name: "cmex_outbox_pending", Help: "Deliveries waiting to be made, by destination.", Gauge: true, Labels: label, Value: float64(b.Pending)})
				}
				for _, b := range backlogs {
					label := fmt.Sprintf("provider=%q,destination=%q", b.Provider, b.Destination)
					ms = append(ms, server.Metric{Name: "cmex_outbox_oldest_pending_age_seconds", Help: "Age of the oldest waiting delivery, by destination.", Gauge: true, Labels: label,
						Value: time.Since(b.Oldest).Seconds()})
				}
				return ms
			},
			PARS: &pars.Handler{
				Users: guarded.Users(users), Activities: sqlstore.NewActivityService(db), Learners: learners, Persons: persons,
				Logger: logger, Mode: parsMode, MaxBody: *maxBody,
			},
			API: &api.Handler{
				Users: guarded.Users(users), APIKeys: guarded.APIKeys(sqlstore.NewAPIKeyService(db)), Learners: learners, Persons: persons,
				Societies: policy.Societies(societies), Accounts: guarded.Accounts(accounts), Transcripts: gateway, Plans: plans, Deliveries: policy.Deliveries(deliveries),
				Audit: sqlstore.NewAuditService(db), Now: time.Now,
				Logger: logger, MaxBody: min(*maxBody, api.DefaultMaxBody),
				Claims: guarded.Claims(claims), XAPIOutcomes: xapiProfiles, Credentials: guarded.Credentials(credentials),
			},
			Credentials: &credential.Handler{Credentials: credentials, Logger: logger},
			Portal: &portal.Handler{Portal: guarded.Portal(sqlstore.NewPortalService(db)), Transcripts: gateway, Accounts: guarded.Accounts(accounts), Plans: plans, Societies: policy.Societies(societies),
				Organizations: orgs, Activities: sqlstore.NewActivityService(db), Learners: learners, Deliveries: deliveries, XAPIOutcomes: xapiProfiles, Logger: logger, Now: time.Now,
				PublicURL: *publicURL, HostURL: *sandbox,
				Operator: portal.Operator{Users: users, APIKeys: sqlstore.NewAPIKeyService(db), Audit: sqlstore.NewAuditService(db),
					Calls: gateway.Calls, ReadPlans: readPlanFile}, SocietyFiles: societyFiles{},
				Claims: guarded.Claims(claims), Persons: persons,
				Credentials: guarded.Credentials(credentials), CredentialLinkKey: portal.CredentialLinkKey(secretKey)},
			ProcessSync: &processsync.Handler{
				Plans: plans, Persons: persons, Key: psKey, Window: *psWindow, Now: time.Now, Nonces: sqlstore.NewNonceService(db),
				Logger: logger, MaxBody: processsync.DefaultMaxBody,
			},
			CMEGateway: &cmegateway.Handler{
				Societies: guarded.Societies(societies), Gateway: gateway, DefaultSociety: *gwSociety, OpenOrders: *sandbox,
				Logger: logger, Now: time.Now, MaxBody: cmegateway.DefaultMaxBody,
			},
			XAPI: &xapi.Handler{
				Users: guarded.Users(users), APIKeys: guarded.APIKeys(sqlstore.NewAPIKeyService(db)), Store: xapiStore,
				Logger: logger, Now: time.Now, MaxBody: *maxBody,
			},
		})
		l, err := net.Listen("tcp", *addr)
		if err != nil {
			return err
		}
		if !*sandbox {
			warnClosedOrders(ctx, societies, logger)
		}
		if credentials.BaseURL == "" && *sandbox {
			credentials.BaseURL = "http://" + l.Addr().String()
		}
		if *publicURL == "" && !*sandbox {
			logger.Warn("no public URL: printed transcripts carry the path /verify/CODE without this cmex's address, and no verifiable credential is issued (it needs a did:web) (set -public-url or CMEX_PUBLIC_URL)")
		}
		if psKey == "" {
			logger.Warn("no Process Synchronization key: GetRoleData answers every request with a bad token (set CMEX_PROCESSSYNC_KEY or -processsync-key-file)")
		}
		if *allowPrivate {
			logger.Warn("-allow-private-destinations: destinations and remote societies may be at loopback, private and shared addresses, and PARS destinations over plain http")
		}
		logger.Info("cmex listening", "addr", l.Addr().String(), "replica", replica, "tls", srvTLS != nil, "db", dbName, "pars_mode", parsMode.String(), "matching", mode,
			"sandbox", *sandbox, "max_body", *maxBody, "allow_private_destinations", *allowPrivate, "max_hashing", db.Hasher.Limit.Size(), "version", versionString())
		workerDone := make(chan struct{})
		go func() { worker.Run(cmex.WithActor(ctx, "outbox")); close(workerDone) }()
		defer func() { <-workerDone }()
		if err := srv.Serve(ctx, l, *grace); err != nil {
			return err
		}
		logger.Info("cmex stopped")
		return nil
	}
	return c
}

// replicaID names this process in the leases it takes (of deliveries and
// of work done once in a cluster): its host, its pid and a random part,
// so that two replicas on one host, or one restarted with the same pid,
// never share a name.
func replicaID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "cmex"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// hashSlots is how many argon2id computations of memKiB each may run at
// once: n when set; else, when a Go memory limit (GOMEMLIMIT) is set, a
// quarter of it, counting each computation twice for the garbage
// collector's headroom; else one per CPU, at most 8. The computations are
// CPU-bound, so more than one per CPU only makes each slower: on a 2-CPU
// machine 200 sign-ups at once took the server to 124 MB with 2 slots
// (40 to 80 taken), 213 MB with 4 (59 taken) and 353 MB with 8 (30
// taken), each refused one answered 503 (TestSignUpFlood).
func hashSlots(n int, memKiB uint32) int {
	if n > 0 {
		return n
	}
	if limit := debug.SetMemoryLimit(-1); limit != math.MaxInt64 && memKiB > 0 {
		return int(max(1, min(64, limit/4/(2*int64(memKiB)<<10))))
	}
	return max(1, min(8, runtime.NumCPU()))
}

// checkPublicURL says what is wrong with u as -public-url: it must be an
// absolute http or https URL naming a host, with no credentials, query
// or fragment (a path is allowed, for a cmex served under one).
func checkPublicURL(u string) error {
	p, err := url.Parse(u)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case p.Scheme != "https" && p.Scheme != "http" || p.Host == "" || p.Opaque != "":
		return errors.New("want an absolute http:// or https:// URL, as in https://cme.example.org")
	case p.User != nil || p.RawQuery != "" || p.Fragment != "" || p.ForceQuery:
		return errors.New("a public URL carries no user, query or fragment")
	}
	return nil
}

// warnClosedOrders logs each local society whose ceu_order answers no
// gateway yet, so that an operator knows why gateways are refused.
func warnClosedOrders(ctx context.Context, societies cmex.SocietyService, logger *slog.Logger) {
	local, err := societies.ListSocieties(ctx, cmex.SocietyFilter{Kind: cmex.SocietyLocal})
	if err != nil {
		logger.Warn("listing local societies", "err", err)
		return
	}
	for _, s := range local {
		if gs, err := societies.OrderGrants(ctx, s.ID); err == nil && len(gs) == 0 {
			logger.Warn("ceu_order of this society answers no gateway until one is allowed (cmex society allow)", "society", s.Code)
		}
	}
}
