package cmegateway

import (
	"fmt"

	"github.com/cmexhub/cmex"
)

// Every GUESS about the CME Gateway's wire format lives in this file.
//
// customer_binding.dtd and ceu_order.dtd are lost (specs/cme-gateway.md
// 3.1). The seed's text keeps the values of its sample messages in order but
// not their tags, and attributes not at all. Only CUSTOMER,
// CUSTOMER_FIRST_NAME, CUSTOMER_LAST_NAME and CEU are attested (CERTAIN);
// every other name below is reconstructed (GUESS, specs/cme-gateway.md 3.3),
// in the UPPER_SNAKE style of the attested ones. When a DTD turns up, correct
// the names here and refresh the golden files.
const (
	// Attested (CERTAIN).
	elemCustomer          = "CUSTOMER"
	elemCustomerFirstName = "CUSTOMER_FIRST_NAME"
	elemCustomerLastName  = "CUSTOMER_LAST_NAME"
	elemCEU               = "CEU"

	// GUESS: the roots and the header both messages share.
	elemBinding     = "CUSTOMER_BINDING"
	elemOrder       = "CEU_ORDER"
	elemSource      = "SOURCE"
	elemDate        = "DATE"
	elemCryptMethod = "CRYPT_METHOD"
	elemStatus      = "STATUS"

	// GUESS: the member id and the detail type never appear in the seed's
	// text, so they were most likely attributes.
	attrCustomerID = "customer_id"
	attrDetailType = "type"

	// GUESS: the binding's echo of the login. cmex sends the username only
	// (see README: it never echoes the password).
	elemCustomerUsername = "CUSTOMER_USERNAME"
	elemCustomerPassword = "CUSTOMER_PASSWORD" // read, never written

	// GUESS: the customer's address.
	elemCustomerAddress = "CUSTOMER_ADDRESS"
	elemCustomerCity    = "CUSTOMER_CITY"
	elemCustomerState   = "CUSTOMER_STATE"
	elemCustomerZip     = "CUSTOMER_ZIP"
	elemCustomerCountry = "CUSTOMER_COUNTRY"

	// GUESS: one CEU, in the order of the seed's values.
	elemCEUSponsor      = "CEU_SPONSOR"
	elemCEUName         = "CEU_NAME"
	elemCEUTitle        = "CEU_TITLE"
	elemCEULocation     = "CEU_LOCATION"
	elemCEUDate         = "CEU_DATE"
	elemCEUDetail       = "CEU_DETAIL"
	elemCEUFocus        = "CEU_FOCUS"
	elemCEUCredits      = "CEU_CREDITS"
	elemCEUCategory     = "CEU_CATEGORY"
	elemCEUActivityType = "CEU_ACTIVITY_TYPE"

	// GUESS: the credit feed's errors. The seed shows a code
	// (CUSTOMER_NOT_OPTED_IN, INVALID_LOGIN) followed by a message, and
	// says the feed answers in ceu_order's shape; cmex sends a CEU_ORDER
	// whose STATUS is the code and STATUS_MESSAGE the message.
	elemStatusMessage = "STATUS_MESSAGE"
)

// statusOK is the STATUS of a successful binding or order (CERTAIN).
const statusOK = "OK"

// Credit feed error codes and messages (CERTAIN: the seed's words).
const (
	feedNotOptedIn    = "CUSTOMER_NOT_OPTED_IN"
	feedNotOptedInMsg = "The customer ID you passed us was either not found, or the customer has not opted in with your society."
	feedInvalidLogin  = "INVALID_LOGIN"
	feedInvalidMsg    = "Your society username and password were incorrect."
)

// GUESS: a ceu_order from a gateway the society does not serve. The seed
// says ceu_order takes customer_id alone and knows no refusal but the
// binding exception's (a STATUS holding a human message, no CUSTOMER).
// cmex answers in that shape, with its own words and HTTP 403, so that
// a gateway reading STATUS alone sees a refusal it can show, and one
// reading the HTTP status sees it is not about the member. Whom a society
// serves is cmex's setting, outside the protocol (cmex society allow).
const statusOrderNotAllowed = 403

func orderNotAllowed(s *cmex.Society) string {
	return fmt.Sprintf("This gateway is not allowed to order credits from %s. Ask %s to allow it.", s.Code, s.Name)
}
