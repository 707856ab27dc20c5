package worker

// pool bounds how many work items of one kind run at once. Work items
// beyond the bound wait for a slot in their own pool only, so a pool that
// is full holds up nothing else the scheduler sends.
type pool struct {
	slots chan struct{}
}

func newPool(size int) *pool { return &pool{slots: make(chan struct{}, size)} }

// acquire waits for a free slot and reports whether it got one before stop
// was closed. Each slot acquired is given back with release.
func (p *pool) acquire(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return false
	default:
	}
	select {
	case p.slots <- struct{}{}:
		return true
	case <-stop:
		return false
	}
}

func (p *pool) release() { <-p.slots }
