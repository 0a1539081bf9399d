// Package coupon is the first-come coupon domain (seed 001): a Campaign with a
// limited number of coupons and one Coupon per applicant.
//
// Admission (who gets one of the limited slots) is decided before a command is
// sent, by an atomic gate; this package decides what a valid campaign and a
// valid issue look like and records what happened.
package coupon
