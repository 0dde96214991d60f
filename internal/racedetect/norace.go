//go:build !race

// Package racedetect tells tests whether the race detector is on. Under
// -race, allocation counts mean little (the detector adds its own, and
// sync.Pool drops entries at random), so the tests that bound the bytes a
// request allocates skip there; `make test` runs them in a second pass
// without -race.
package racedetect

// Enabled reports whether the binary was built with -race.
const Enabled = false
