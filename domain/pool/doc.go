// Package pool is the warm-pool domain (seed 004): turning a template into a
// user's design copies every asset of the template (no two users ever share
// an object). A template keeps a pool of ready copies prepared ahead of
// time, so that creating a design takes one instead of waiting for the
// copies.
//
// A template is a stream (opened, closed). Each ready copy is a stream of
// its own: prepared, then either taken by exactly one design (DesignCreated
// at version 2) or expired — the stream's version decides, so no copy ever
// goes to two designs, whatever Redis (the pool's fast path) says. A cold
// design (the pool was empty) has a stream of its own.
package pool
