package cmegateway

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cmexhub/cmex"
)

// Defaults of a Gateway.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultCacheTTL = 15 * time.Minute
	// DefaultSource is what the gateway writes as the SOURCE of its credit
	// feed.
	DefaultSource = "CMEX"
)

// Gateway gathers physicians' credits from societies: it implements
// cmex.TranscriptService and answers the credit feed.
type Gateway struct {
	Societies cmex.SocietyService
	Accounts  cmex.GatewayService
	// Links finds the registry person linked to an account, whose ledger
	// credits (every provider's, with their statuses) are a source of her
	// transcript of their own, SourceRegistry; nil leaves it out.
	Links  cmex.ClaimService
	Client *Client
	// Timeout bounds each society's answer; societies are asked
	// concurrently, so a transcript takes as long as the slowest one.
	Timeout time.Duration
	// CacheTTL is how long a society's answer is served without asking
	// again. An older answer is still served, marked stale, when the
	// society fails.
	CacheTTL time.Duration
	Source   string
	Now      func() time.Time
	Logger   *slog.Logger
	// Calls, when set, records every call to a remote society, for the
	// operator: its outcome, its duration and what came back.
	Calls cmex.SocietyCallService
}

var _ cmex.TranscriptService = (*Gateway)(nil)

// New returns a gateway over the stores with the default timeout and cache.
func New(societies cmex.SocietyService, accounts cmex.GatewayService, logger *slog.Logger) *Gateway {
	return &Gateway{
		Societies: societies, Accounts: accounts, Client: NewClient(),
		Timeout: DefaultTimeout, CacheTTL: DefaultCacheTTL, Source: DefaultSource, Now: time.Now, Logger: logger,
	}
}

// Bind implements cmex.TranscriptService.
func (g *Gateway) Bind(ctx context.Context, account cmex.AccountID, code, username, password string) (*cmex.Binding, error) {
	if username == "" || password == "" {
		return nil, cmex.Errorf(cmex.EINVALID, "send the society username and password")
	}
	if len(username) > 200 || len(password) > cmex.MaxPasswordBytes {
		return nil, cmex.Errorf(cmex.EINVALID, "the society username or password is too long")
	}
	if _, err := g.Accounts.Account(ctx, account); err != nil {
		return nil, err
	}
	s, err := g.Societies.SocietyByCode(ctx, code)
	if err != nil {
		return nil, err
	}
	var memberID string
	switch s.Kind {
	case cmex.SocietyLocal:
		m, err := g.Societies.AuthenticateMember(ctx, s.ID, username, password)
		if cmex.ErrorCode(err) == cmex.EUNAUTHORIZED {
			return nil, cmex.Errorf(cmex.EUNAUTHORIZED, "%s", bindingRefused(s))
		}
		if err != nil {
			return nil, err
		}
		memberID = m.MemberID
	default:
		cctx, cancel := context.WithTimeout(ctx, g.Timeout)
		defer cancel()
		start := g.Now()
		b, err := g.Client.Bind(cctx, s, username, password)
		if err != nil {
			g.record(ctx, s, cmex.CallBinding, start, cmex.CallFailed, err.Error())
			return nil, cmex.Errorf(cmex.EUNAVAILABLE, "society %s: %v", s.Code, err)
		}
		if !b.OK() {
			msg := societyMessage(b.Status)
			if msg == "" || b.Status == statusOK {
				msg = "the society refused the login without saying why"
			}
			g.record(ctx, s, cmex.CallBinding, start, cmex.CallRefused, "STATUS "+msg)
			return nil, cmex.Errorf(cmex.EUNAUTHORIZED, "society %s: %s", s.Code, msg)
		}
		g.record(ctx, s, cmex.CallBinding, start, cmex.CallAnswered, "STATUS OK")
		memberID = b.MemberID
	}
	bd := &cmex.Binding{AccountID: account, SocietyID: s.ID, SocietyCode: s.Code, MemberID: memberID}
	if err := g.Accounts.SaveBinding(ctx, bd); err != nil {
		return nil, err
	}
	g.Logger.InfoContext(ctx, "gateway: account bound", "account", account, "society", s.Code)
	return bd, nil
}

// bindingRefused is the message of a refused binding, in the seed's words.
func bindingRefused(s *cmex.Society) string {
	return fmt.Sprintf("User record not found. Contact %s membership for more information.", s.Name)
}

// Transcript implements cmex.TranscriptService.
func (g *Gateway) Transcript(ctx context.Context, id cmex.AccountID) (*cmex.Transcript, error) {
	return g.build(ctx, id, g.gather)
}

// HeldTranscript implements cmex.TranscriptService.
func (g *Gateway) HeldTranscript(ctx context.Context, id cmex.AccountID) (*cmex.Transcript, error) {
	return g.build(ctx, id, g.held)
}

// build is the transcript of account id, with the societies' credits
// that results gets for its bindings.
func (g *Gateway) build(ctx context.Context, id cmex.AccountID, results func(context.Context, []*cmex.Binding) ([]cmex.SourceResult, error)) (*cmex.Transcript, error) {
	a, err := g.Accounts.Account(ctx, id)
	if err != nil {
		return nil, err
	}
	bindings, err := g.Accounts.Bindings(ctx, id)
	if err != nil {
		return nil, err
	}
	self, err := g.Accounts.SelfCredits(ctx, id)
	if err != nil {
		return nil, err
	}
	rs, err := results(ctx, bindings)
	if err != nil {
		return nil, err
	}
	if r, ok, err := g.registry(ctx, id); err != nil {
		return nil, err
	} else if ok {
		rs = append(rs, r)
	}
	return cmex.BuildTranscript(*a, g.Now().UTC(), rs, self), nil
}

// registry returns the SourceRegistry source of account id: the ledger
// credits of the person linked to it, read from this cmex's own database
// (so that a printed transcript's verification asks no one), and false
// when no person is linked. A failure to read them is an error, as for a
// local society in held: a transcript without them would be wrong.
func (g *Gateway) registry(ctx context.Context, id cmex.AccountID) (cmex.SourceResult, bool, error) {
	if g.Links == nil {
		return cmex.SourceResult{}, false, nil
	}
	l, err := g.Links.AccountLink(ctx, id)
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		return cmex.SourceResult{}, false, nil
	}
	if err != nil {
		return cmex.SourceResult{}, false, err
	}
	credits, err := g.Links.PersonLedger(ctx, l.PersonID)
	if err != nil {
		return cmex.SourceResult{}, false, err
	}
	if credits == nil {
		credits = []cmex.TranscriptCredit{}
	}
	return cmex.SourceResult{
		TranscriptSource: cmex.TranscriptSource{Society: cmex.SourceRegistry, Name: "Reported by providers", Status: cmex.SourceOK,
			FetchedAt: g.Now().UTC(), Person: l.PersonID},
		Ledger: credits,
	}, true, nil
}

// held reads what this cmex holds of every bound society, asking none:
// a local society's credits, a remote one's last stored answer. A failure
// to read them is an error, not a source that failed: a check built on
// it would be wrong.
func (g *Gateway) held(ctx context.Context, bindings []*cmex.Binding) ([]cmex.SourceResult, error) {
	results := make([]cmex.SourceResult, len(bindings))
	for i, b := range bindings {
		s, err := g.Societies.Society(ctx, b.SocietyID)
		if err != nil {
			return nil, err
		}
		r := cmex.SourceResult{TranscriptSource: cmex.TranscriptSource{Society: s.Code, Name: s.Name, MemberID: b.MemberID}}
		if s.Kind == cmex.SocietyLocal {
			c, err := g.Societies.MemberCredits(ctx, s.ID, b.MemberID)
			switch {
			case err == nil:
				r.Status, r.FetchedAt, r.Customer = cmex.SourceOK, g.Now().UTC(), c
			case cmex.ErrorCode(err) == cmex.ENOTFOUND:
				r.Status, r.Error = cmex.SourceFailed, bindingRefused(s)
			default:
				return nil, err
			}
		} else {
			o, err := g.Accounts.CachedOrder(ctx, s.ID, b.MemberID)
			switch {
			case err == nil:
				r.Status, r.FetchedAt, r.Customer = cmex.SourceCached, o.FetchedAt.UTC(), o.Customer
			case cmex.ErrorCode(err) == cmex.ENOTFOUND:
				r.Status, r.Error = cmex.SourceFailed, "cmex holds no answer from it"
			default:
				return nil, err
			}
		}
		results[i] = r
	}
	return results, nil
}

// gather asks every bound society at once and waits for all of them; each
// answers, or fails, within the timeout.
func (g *Gateway) gather(ctx context.Context, bindings []*cmex.Binding) ([]cmex.SourceResult, error) {
	societies := make([]*cmex.Society, len(bindings))
	for i, b := range bindings {
		s, err := g.Societies.Society(ctx, b.SocietyID)
		if err != nil {
			return nil, err
		}
		societies[i] = s
	}
	results := make([]cmex.SourceResult, len(bindings))
	var wg sync.WaitGroup
	for i, b := range bindings {
		wg.Go(func() { results[i] = g.fetch(ctx, societies[i], b.MemberID) })
	}
	wg.Wait()
	return results, nil
}

// fetch returns one society's credits for a member: a fresh cached answer,
// a new one, or on failure the last one marked stale. A society this cmex
// hosts is read at every transcript and never cached: its answer comes
// from the same database the cache would, as fast, and always current.
func (g *Gateway) fetch(ctx context.Context, s *cmex.Society, memberID string) cmex.SourceResult {
	r := cmex.SourceResult{TranscriptSource: cmex.TranscriptSource{Society: s.Code, Name: s.Name, MemberID: memberID}}
	if s.Kind == cmex.SocietyLocal {
		cust, err := g.order(ctx, s, memberID)
		if err != nil {
			g.Logger.WarnContext(ctx, "gateway: local society failed", "society", s.Code, "err", err)
			r.Status, r.Error = cmex.SourceFailed, err.Error()
			return r
		}
		r.Status, r.FetchedAt, r.Customer = cmex.SourceOK, g.Now().UTC(), cust
		return r
	}
	// The cache of remote societies' answers is a table, shared by every
	// replica: what one fetched, the others serve, with the same age.
	cached, err := g.Accounts.CachedOrder(ctx, s.ID, memberID)
	if err != nil && cmex.ErrorCode(err) != cmex.ENOTFOUND {
		g.Logger.WarnContext(ctx, "gateway: reading the cache failed", "society", s.Code, "err", err)
	}
	now := g.Now()
	if cached != nil && now.Sub(cached.FetchedAt) < g.CacheTTL {
		r.Status, r.FetchedAt, r.Customer = cmex.SourceCached, cached.FetchedAt, cached.Customer
		return r
	}
	cust, err := g.order(ctx, s, memberID)
	if err == nil {
		r.Status, r.FetchedAt, r.Customer = cmex.SourceOK, now.UTC(), cust
		if err := g.Accounts.StoreOrder(ctx, &cmex.CachedOrder{SocietyID: s.ID, MemberID: memberID, Customer: cust, FetchedAt: now}); err != nil {
			g.Logger.WarnContext(ctx, "gateway: caching an answer failed", "society", s.Code, "err", err)
		}
		return r
	}
	g.Logger.WarnContext(ctx, "gateway: society failed", "society", s.Code, "err", err)
	r.Error = err.Error()
	if cached != nil {
		r.Status, r.FetchedAt, r.Customer = cmex.SourceStale, cached.FetchedAt, cached.Customer
		return r
	}
	r.Status = cmex.SourceFailed
	return r
}

// order asks one society for a member's credits, within the timeout.
func (g *Gateway) order(ctx context.Context, s *cmex.Society, memberID string) (*cmex.Customer, error) {
	if s.Kind == cmex.SocietyLocal {
		c, err := g.Societies.MemberCredits(ctx, s.ID, memberID)
		if cmex.ErrorCode(err) == cmex.ENOTFOUND {
			return nil, &callError{bindingRefused(s)}
		}
		if err != nil {
			return nil, &callError{"its credits could not be read"}
		}
		return c, nil
	}
	cctx, cancel := context.WithTimeout(ctx, g.Timeout)
	defer cancel()
	start := g.Now()
	o, err := g.Client.Order(cctx, s, memberID)
	if err != nil {
		g.record(ctx, s, cmex.CallOrder, start, cmex.CallFailed, err.Error())
		return nil, err
	}
	if !o.OK() {
		msg := societyMessage(o.Status + " " + o.StatusMessage)
		if o.Status == statusOK {
			// An OK without a customer is not the protocol's answer.
			g.record(ctx, s, cmex.CallOrder, start, cmex.CallFailed, "its answer holds no customer")
			return nil, &callError{"it refused: its answer holds no customer"}
		}
		g.record(ctx, s, cmex.CallOrder, start, cmex.CallRefused, "STATUS "+msg)
		return nil, &callError{"it refused: " + msg}
	}
	g.record(ctx, s, cmex.CallOrder, start, cmex.CallAnswered, "STATUS OK")
	return o.Customer, nil
}

// record keeps a call to a remote society that started at start, when
// the gateway records calls. It is kept even when the request that made
// it has gone; a failure to keep it is logged, and changes nothing else.
func (g *Gateway) record(ctx context.Context, s *cmex.Society, op string, start time.Time, outcome cmex.SocietyCallOutcome, answer string) {
	if g.Calls == nil {
		return
	}
	c := cmex.SocietyCall{SocietyID: s.ID, Operation: op, At: start, Duration: g.Now().Sub(start), Outcome: outcome, Answer: answer}
	if err := g.Calls.RecordSocietyCall(context.WithoutCancel(ctx), c); err != nil {
		g.Logger.WarnContext(ctx, "gateway: recording a society call failed", "society", s.Code, "err", err)
	}
}

// feedError is a credit feed refusal: a code and the seed's message.
type feedError struct{ code, msg string }

func (e *feedError) Error() string { return e.code + ": " + e.msg }

// Feed answers a society's credit feed request: the credits of its
// customer, from every society that approved it, merged as on a
// transcript. A wrong login is INVALID_LOGIN; a customer not bound to
// the calling society is CUSTOMER_NOT_OPTED_IN.
func (g *Gateway) Feed(ctx context.Context, username, password, customer string) (*cmex.Customer, error) {
	if username == "" || password == "" {
		return nil, &feedError{feedInvalidLogin, feedInvalidMsg}
	}
	puller, err := g.Societies.AuthenticateFeed(ctx, username, password)
	if code := cmex.ErrorCode(err); code == cmex.ETOOMANY || code == cmex.EBUSY {
		return nil, err
	}
	if cmex.ErrorCode(err) == cmex.EUNAUTHORIZED {
		return nil, &feedError{feedInvalidLogin, feedInvalidMsg}
	}
	if err != nil {
		return nil, err
	}
	if customer == "" {
		return nil, &feedError{feedNotOptedIn, feedNotOptedInMsg}
	}
	b, err := g.Accounts.BindingByMember(ctx, puller.ID, customer)
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		return nil, &feedError{feedNotOptedIn, feedNotOptedInMsg}
	}
	if err != nil {
		return nil, err
	}
	a, err := g.Accounts.Account(ctx, b.AccountID)
	if err != nil {
		return nil, err
	}
	approved, err := g.Societies.ApprovedProviders(ctx, puller.ID)
	if err != nil {
		return nil, err
	}
	ok := map[cmex.SocietyID]bool{}
	for _, id := range approved {
		ok[id] = true
	}
	all, err := g.Accounts.Bindings(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	var bindings []*cmex.Binding
	for _, b := range all {
		if ok[b.SocietyID] {
			bindings = append(bindings, b)
		}
	}
	results, err := g.gather(ctx, bindings)
	if err != nil {
		return nil, err
	}
	t := cmex.BuildTranscript(*a, g.Now(), results, nil)
	c := &cmex.Customer{ID: b.MemberID, GivenName: a.GivenName, FamilyName: a.FamilyName, Address: a.Address, CEUs: []cmex.CEU{}}
	for _, cr := range t.Credits {
		c.CEUs = append(c.CEUs, cr.CEU)
	}
	for _, s := range t.Failed() {
		g.Logger.WarnContext(ctx, "gateway: credit feed served without a society", "puller", puller.Code, "society", s.Society, "status", s.Status)
	}
	return c, nil
}
