package processsync

import (
	"bytes"
	"context"
	"testing"

	"github.com/cmexhub/cmex"
)

// plansOnly is a PlanService that knows only its plans.
type plansOnly struct {
	cmex.PlanService
	plans *cmex.Plans
}

func (p *plansOnly) CurrentPlans(context.Context) (*cmex.Plans, error) {
	if p.plans == nil {
		return nil, cmex.Errorf(cmex.ENOTFOUND, "no plans")
	}
	return p.plans, nil
}

// TestWSDLIsBuiltOncePerFields: the WSDL is built again only when the
// extrinsic fields of the plans in force change, not per request.
func TestWSDLIsBuiltOncePerFields(t *testing.T) {
	ps := &plansOnly{}
	h := &Handler{Plans: ps}
	ctx := context.Background()
	none, err := h.wsdlFor(ctx)
	if err != nil || !bytes.Contains(none, []byte(`name="RoleInstance"`)) {
		t.Fatalf("WSDL without plans: %v %s", err, none)
	}
	ps.plans = &cmex.Plans{Roles: []cmex.RoleDefinition{{Role: "Practitioner", ExtrinsicFields: []string{"CertificationNumber"},
		LearningPlans: []cmex.PlanDefinition{{Name: "M", ExtrinsicFields: []string{"AuditStatus"}}}}}}
	first, _ := h.wsdlFor(ctx)
	again, _ := h.wsdlFor(ctx)
	if &first[0] != &again[0] {
		t.Error("the WSDL was built again for the same plans")
	}
	if bytes.Equal(none, first) || !bytes.Contains(first, []byte(`name="CertificationNumber"`)) || !bytes.Contains(first, []byte(`name="AuditStatus"`)) {
		t.Errorf("WSDL of the plans:\n%s", first)
	}
	// Plans that change other things keep the WSDL; other fields change it.
	ps.plans.Roles[0].LearningPlans[0].MinimumUnits = 5000
	if same, _ := h.wsdlFor(ctx); &same[0] != &first[0] {
		t.Error("the WSDL was built again for plans with the same fields")
	}
	ps.plans = &cmex.Plans{Roles: []cmex.RoleDefinition{{Role: "Practitioner", ExtrinsicFields: []string{"Specialty"}}}}
	if other, _ := h.wsdlFor(ctx); bytes.Contains(other, []byte("CertificationNumber")) || !bytes.Contains(other, []byte(`name="Specialty"`)) {
		t.Errorf("WSDL of other fields:\n%s", other)
	}
}
