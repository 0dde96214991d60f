package diagnose

// checkSubnets is not built yet.
func checkSubnets(x *index, opts *Options, r *Report) {}
