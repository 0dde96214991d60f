package diagnose

// checkPending is not built yet.
func checkPending(x *index, opts *Options, r *Report) {}
