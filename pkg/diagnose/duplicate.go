package diagnose

// checkDuplicates is not built yet.
func checkDuplicates(x *index, opts *Options, r *Report) {}
