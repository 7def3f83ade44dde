package messages

// HasResults reports whether the step has finished (its results are set).
func (x *Step) HasResults() bool { return x != nil && x.Results != nil }

// HasResults reports whether the build has finished (its results are set).
func (x *Build) HasResults() bool { return x != nil && x.Results != nil }
