// Package cmegateway speaks the ACR CME Gateway protocol on both sides. As
// a society it answers customer_binding and ceu_order for the local
// societies cmex holds; as a gateway it binds physicians' accounts to
// societies, gathers their credits from every society concurrently into one
// transcript (with a cache served, marked stale, when a society fails), and
// serves the credit feed other societies pull. README.md states the wire
// contract and its guesses; guesses.go holds every guessed name.
package cmegateway
