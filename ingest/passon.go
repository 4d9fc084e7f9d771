package ingest

// PassOn gives next, which replaces f (a reload), what f's queues held when
// Close stopped them, for next's Open to take up: the hand-over callbacks
// of the uploads waiting in the spools (so each upload's log line still
// names its drop) and the records of superseded uploads (which have no
// file for a start scan to find). Call it after f.Close (or f.Open
// failed) and before next.Open.
func (f *Files) PassOn(next *Files) {
	next.carried = append(append(next.carried, f.left...), f.carried...)
	f.left, f.carried = nil, nil
}

// carriedJobs are the jobs a previous Files passed on, by path.
type carriedJobs struct {
	byPath     map[string]job
	superseded []job
}

// takeCarried sorts out the jobs passed on to f.
func (f *Files) takeCarried() carriedJobs {
	c := carriedJobs{byPath: make(map[string]job)}
	for _, j := range f.carried {
		switch {
		case j.superseded != "":
			c.superseded = append(c.superseded, j)
		case j.done != nil && j.path != "":
			c.byPath[j.path] = j
		}
	}
	f.carried = nil
	return c
}

// attach gives j, found by a start scan, the callback of the job passed on
// for the same file.
func (c carriedJobs) attach(j job) job {
	if old, ok := c.byPath[j.path]; ok {
		j.done = old.done
		delete(c.byPath, j.path)
	}
	return j
}

// rest queues the superseded records and tells the callbacks of the jobs
// whose file no scan found that no drop was made of them here.
func (c carriedJobs) rest(f *Files) {
	for _, j := range c.superseded {
		if f.sources[j.key] == nil || !f.lanes.add(j) {
			f.Logger.Warn("the record of a superseded upload is dropped: its source is gone", "source", j.key, "file", j.name)
			if j.done != nil {
				j.done(nil)
			}
		}
	}
	for _, j := range c.byPath {
		j.done(nil)
	}
}
