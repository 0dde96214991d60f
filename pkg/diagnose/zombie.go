package diagnose

// checkOwners is not built yet.
func checkOwners(x *index, opts *Options, r *Report) {}
