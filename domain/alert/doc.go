// Package alert is the emergency-alert domain (seed 002): a resident of a
// building complex raises an alert, every resident of the complex is told
// at once, any other resident may accept it (the first one wins), and the
// raiser may cancel it while no one has.
//
// Each alert is its own stream. What residents are told is also a feed per
// complex: every event of an alert takes the next position of its complex's
// feed, so a resident who was away resumes after the last position seen,
// with no gap and no duplicate.
package alert
