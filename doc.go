// Package cmex holds the vocabulary of the CME credit exchange: organizations
// and their web-service users, activities with their credits and MOC
// registrations, the rule catalogue that decides whether a record is
// acceptable, and the service interfaces that storage implements.
//
// It imports only the standard library. Wire formats live in the protocol
// packages under internal/, which translate their messages into these types
// and map the catalogue's codes back into their own error shapes.
package cmex
