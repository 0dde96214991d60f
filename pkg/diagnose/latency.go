package diagnose

// checkLatency is not built yet.
func checkLatency(x *index, opts *Options, r *Report) {}
