package diagnose

// checkOverlaps is not built yet.
func checkOverlaps(x *index, opts *Options, r *Report) {}
