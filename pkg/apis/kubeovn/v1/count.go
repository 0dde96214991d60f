package v1

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
)

// Count is a status counter such as v4availableIPs.
//
// Kube-OVN releases before v1.16 write these as float64 (so a client may see
// 6.5533e+04, or 1.8446744073709552e+19 for a large IPv6 block); v1.16 writes
// integers, and some tools quote them. Count accepts all three forms. It is
// advisory only: the rules never trust status for decisions.
//
// +kubebuilder:validation:Type=number
type Count float64

// UnmarshalJSON accepts a JSON number in plain or exponent form, a quoted
// number, or null (zero).
func (c *Count) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, []byte("null")) {
		*c = 0
		return nil
	}
	if len(data) >= 2 && data[0] == '"' && data[len(data)-1] == '"' {
		data = data[1 : len(data)-1]
		if len(data) == 0 {
			*c = 0
			return nil
		}
	}
	f, err := strconv.ParseFloat(string(data), 64)
	if err != nil {
		return fmt.Errorf("status counter %q is not a number", data)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("status counter %q is not a finite number", data)
	}
	*c = Count(f)
	return nil
}

// MarshalJSON writes the counter as a plain JSON number without exponent, the
// form Kube-OVN v1.16 writes.
func (c Count) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(c), 'f', -1, 64), nil
}

// Uint64 returns the counter as an unsigned integer, saturating at the bounds.
func (c Count) Uint64() uint64 {
	switch f := float64(c); {
	case f <= 0:
		return 0
	case f >= math.MaxUint64:
		return math.MaxUint64
	default:
		return uint64(f)
	}
}
