package ipam

import "fmt"

// Error is a parse or validation problem about one textual value. Value is the
// text as the user wrote it; Msg is lower-case, names the rule that was broken
// and, where it helps, the fix.
type Error struct {
	Value string
	Msg   string
}

// Error implements error as "<value>: <msg>", with the value quoted so that empty
// strings and stray spaces are visible.
func (e *Error) Error() string {
	return fmt.Sprintf("%q: %s", e.Value, e.Msg)
}

func newError(value, format string, args ...any) *Error {
	return &Error{Value: value, Msg: fmt.Sprintf(format, args...)}
}
