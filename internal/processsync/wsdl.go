package processsync

import (
	"encoding/xml"
	"slices"
	"strings"

	"github.com/cmexhub/cmex"
)

// The XSD types of the result's leaves: units are xs:decimal (1, 12.5),
// Success and CurrentStep xs:int, the rest xs:string (booleans and dates
// too: guesses.go).
const (
	xsString  = "xs:string"
	xsInt     = "xs:int"
	xsDecimal = "xs:decimal"
)

// member is an element of a complex type of the data contract: a leaf of
// an XSD type, or an element of another complex type ("a:Workflow").
type member struct {
	name, typ string
	many      bool // the repeated item of an ArrayOf type
}

// complexType is a type of the data contract, its members in the order
// they are sent.
type complexType struct {
	name    string
	members []member
}

// elementOrder is the order of the elements of each level of the result,
// and so of each xs:sequence: by name, ordinally, as WCF writes data
// members (the seed: "will likely generate them in alphabetical order").
func elementOrder(a, b string) int { return strings.Compare(a, b) }

func leaves(typ string, names ...string) []member {
	out := make([]member, len(names))
	for i, n := range names {
		out[i] = member{name: n, typ: typ}
	}
	return out
}

// schema is the data contract of a GetRoleData result whose role
// instances and learning plans may carry the extrinsic fields named
// (every role's and every plan's together: one RoleInstance type and one
// LearningPlanForRoleInstance type serve all of them, and clients read
// only the members the schema names, in its order).
func schema(roleFields, planFields []string) []complexType {
	array := func(item string) complexType {
		return complexType{"ArrayOf" + item, []member{{name: item, typ: "a:" + item, many: true}}}
	}
	role := slices.Concat(
		leaves(xsString, "Role", "Label", "Status", "UniqueIdentifier"), leaves(xsBoolean, "IsGranted"), leaves(xsDate, "BeginDate", "EndDate"),
		[]member{{name: "Workflow", typ: "a:Workflow"}, {name: "LearningPlansForRoleInstance", typ: "a:ArrayOfLearningPlanForRoleInstance"}})
	plan := slices.Concat(
		leaves(xsString, "LearningPlanType", "LearningPlanName"), leaves(xsDate, "CycleStartDate", "CycleEndDate", "ReportingStartDate", "ReportingEndDate"),
		leaves(xsDecimal, "MinimumUnits", "RequestedUnits", "GrantedUnits"),
		[]member{{name: "Workflow", typ: "a:Workflow"}, {name: "TaskGroupsForLearningPlan", typ: "a:ArrayOfTaskGroupForLearningPlan"}})
	types := []complexType{
		{"RoleDataResult", []member{{name: "Success", typ: xsInt}, {name: "Profile", typ: "a:Profile"}, {name: "RoleInstances", typ: "a:ArrayOfRoleInstance"}}},
		{"Profile", leaves(xsString, "Title", "FirstName", "MiddleName", "LastName", "Suffix", "AlternateName", "PrimaryEmail", "RecordStatus")},
		array("RoleInstance"),
		{"RoleInstance", withFields(role, roleFields)},
		array("LearningPlanForRoleInstance"),
		{"LearningPlanForRoleInstance", withFields(plan, planFields)},
		array("TaskGroupForLearningPlan"),
		{"TaskGroupForLearningPlan", slices.Concat(leaves(xsString, "TaskGroupName"), leaves(xsBoolean, "Complete", "Required"),
			leaves(xsDecimal, "GrantedUnits", "RequestedUnits", "RequiredUnits"), []member{{name: "ActivitiesForTaskGroup", typ: "a:ArrayOfActivityForTaskGroup"}})},
		array("ActivityForTaskGroup"),
		{"ActivityForTaskGroup", slices.Concat(leaves(xsString, "ActivityTitle"), leaves(xsDecimal, "GrantedUnits", "RequestedUnits"), []member{{name: "Workflow", typ: "a:Workflow"}})},
		{"Workflow", slices.Concat(leaves(xsInt, "CurrentStep"), leaves(xsString, "CurrentStepTitle", "Status"))},
	}
	for i := range types {
		slices.SortStableFunc(types[i].members, func(a, b member) int { return elementOrder(a.name, b.name) })
	}
	return types
}

// withFields adds the extrinsic fields, strings, to the standard members;
// a name that is already a member is not added twice (CheckPlans refuses
// such names).
func withFields(standard []member, fields []string) []member {
	out := slices.Clone(standard)
	for _, f := range fields {
		if !slices.ContainsFunc(out, func(m member) bool { return m.name == f }) {
			out = append(out, member{name: f, typ: xsString})
		}
	}
	return out
}

// extrinsicFields returns the extrinsic fields the plans declare for
// role instances and for learning plans, each list sorted and without
// repeats.
func extrinsicFields(p *cmex.Plans) (role, plan []string) {
	for _, r := range p.Roles {
		role = append(role, r.ExtrinsicFields...)
		for _, pl := range r.LearningPlans {
			plan = append(plan, pl.ExtrinsicFields...)
		}
	}
	slices.SortFunc(role, elementOrder)
	slices.SortFunc(plan, elementOrder)
	return slices.Compact(role), slices.Compact(plan)
}

// wsdlAddress is the placeholder address of a built WSDL, replaced by the
// address the client reached.
const wsdlAddress = "http://localhost/services/ProcessSynchronization.svc"

// buildWSDL writes the service's WSDL, its data contract describing a
// result with these extrinsic fields.
func buildWSDL(roleFields, planFields []string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>
<!-- cmex's WSDL for LearningBuilder's Process Synchronization service (seed 002).
     The operation, its parameters and the result's element names are CERTAIN;
     the contract name, SOAPAction and data-contract namespace are GUESSes
     (internal/processsync/guesses.go). It is generated from the plans in force:
     RoleInstance and LearningPlanForRoleInstance carry the extrinsic fields the
     plans declare. Each xs:sequence is in the order the elements are sent. -->
<wsdl:definitions name="ProcessSynchronization" targetNamespace="` + NSTempuri + `"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tns="` + NSTempuri + `" xmlns:a="` + NSDataContract + `">
  <wsdl:types>
    <xs:schema elementFormDefault="qualified" targetNamespace="` + NSTempuri + `">
      <xs:import namespace="` + NSDataContract + `"/>
      <xs:element name="GetRoleData"><xs:complexType><xs:sequence>`)
	for _, p := range []string{"Version", "TimeStamp", "Role", "UniqueId", "RequestDepth", "RequestType", "Token"} {
		b.WriteString(`<xs:element minOccurs="0" name="` + p + `" type="xs:string"/>`)
	}
	b.WriteString(`</xs:sequence></xs:complexType></xs:element>
      <xs:element name="GetRoleDataResponse"><xs:complexType><xs:sequence><xs:element minOccurs="0" name="GetRoleDataResult" type="a:RoleDataResult"/></xs:sequence></xs:complexType></xs:element>
    </xs:schema>
    <xs:schema elementFormDefault="qualified" targetNamespace="` + NSDataContract + `">
`)
	for _, t := range schema(roleFields, planFields) {
		b.WriteString(`      <xs:complexType name="` + t.name + `"><xs:sequence>`)
		for _, m := range t.members {
			b.WriteString(`<xs:element minOccurs="0"`)
			if m.many {
				b.WriteString(` maxOccurs="unbounded"`)
			}
			b.WriteString(` name="`)
			_ = xml.EscapeText(&b, []byte(m.name))
			b.WriteString(`" type="` + m.typ + `"/>`)
		}
		b.WriteString("</xs:sequence></xs:complexType>\n")
	}
	b.WriteString(`    </xs:schema>
  </wsdl:types>
  <wsdl:message name="IProcessSynchronization_GetRoleData_InputMessage"><wsdl:part name="parameters" element="tns:GetRoleData"/></wsdl:message>
  <wsdl:message name="IProcessSynchronization_GetRoleData_OutputMessage"><wsdl:part name="parameters" element="tns:GetRoleDataResponse"/></wsdl:message>
  <wsdl:portType name="IProcessSynchronization">
    <wsdl:operation name="GetRoleData">
      <wsdl:input message="tns:IProcessSynchronization_GetRoleData_InputMessage"/>
      <wsdl:output message="tns:IProcessSynchronization_GetRoleData_OutputMessage"/>
    </wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="BasicHttpBinding_IProcessSynchronization" type="tns:IProcessSynchronization">
    <soap:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="GetRoleData">
      <soap:operation soapAction="` + SOAPAction + `" style="document"/>
      <wsdl:input><soap:body use="literal"/></wsdl:input>
      <wsdl:output><soap:body use="literal"/></wsdl:output>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="ProcessSynchronization">
    <wsdl:port name="BasicHttpBinding_IProcessSynchronization" binding="tns:BasicHttpBinding_IProcessSynchronization">
      <soap:address location="` + wsdlAddress + `"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
`)
	return []byte(b.String())
}
