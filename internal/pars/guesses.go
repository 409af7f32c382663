package pars

import "github.com/cmexhub/cmex"

// This file holds every GUESS of the PARS wire format: what the seed does
// not show and cmex had to choose (specs/pars.md, specs/certainty.md). Each
// is named guess… so they can be found and corrected in one place.

// guessSearchFailure is how GetActivity reports a failure (bad credentials,
// no criterion, a criterion that cannot be read). The seed shows only the
// successful SearchResult{Data}. cmex answers with the same SearchResult,
// Data nil, and the ErrorMessages and StatusCode members of a
// ResponseMessage after it, in WCF's alphabetical order: a WCF client
// reading SearchResult ignores members it does not know and sees no data; a
// client that looks finds PARS-coded errors.
func guessSearchFailure(ps cmex.Problems) response {
	return response{root: "SearchResult", dataNil: true, hasErrors: true, errors: errorMessages(ps), status: "Rejected"}
}

// guessSearchEmpty is GetActivity's answer when nothing matches: Data nil
// and nothing else, since an empty search is not an error.
func guessSearchEmpty() response {
	return response{root: "SearchResult", dataNil: true}
}

// guessSearchResult is GetActivity's answer when activities match. Searching
// by ActivityStartDate or ActivityTypeName can match several; the root
// element is plural (ACCMEActivities), so cmex returns them all in one
// document, one MedicalEducationMetrics each.
func guessSearchResult(acts []*cmex.Activity, providerName string) response {
	return response{root: "SearchResult", data: encodeActivities(acts, encodeOptions{providerName: providerName})}
}

// guessInKindSupport reads an ex:InKindSupport. The JSON draft gives an
// in-kind support a "source"; the XML form was not found. cmex takes the
// element's text, or its source attribute when the text is empty.
func guessInKindSupport(n *node) string {
	if v := n.value(); v != "" {
		return v
	}
	v, _ := n.attr("source")
	return v
}
