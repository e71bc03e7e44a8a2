package assembler

import "math"

// enforce evicts the oldest entries until the totals fit the bounds.
func (a *Assembler) enforce() {
	for a.entries > a.cfg.MaxEntries || a.bytes > a.cfg.MaxBytes {
		var oldest *slot
		best, second := math.Inf(1), math.Inf(1)
		for _, s := range a.slots {
			if s.val == nil {
				continue
			}
			switch t := s.val.age(); {
			case t < best:
				second, best, oldest = best, t, s
			case t < second:
				second = t
			}
		}
		if oldest == nil {
			return
		}
		v := oldest.val
		for (a.entries > a.cfg.MaxEntries || a.bytes > a.cfg.MaxBytes) && v.n > 0 && v.age() <= second {
			n, b := v.n, v.bytes
			v.evict(oldest.spec.FromHead)
			a.entries += v.n - n
			a.bytes += v.bytes - b
			a.st.Evictions++
		}
		a.markDirty(oldest)
	}
}

// ageWindows marks dirty the slots whose shown windows MaxAge changes by
// now.
func (a *Assembler) ageWindows(now int64) {
	if a.shown.nextAge == 0 || now < a.shown.nextAge {
		return
	}
	for _, s := range a.slots {
		if s.ageAt != 0 && s.ageAt <= now {
			a.markDirty(s)
		}
	}
}

func (a *Assembler) computeNextAge() {
	a.shown.nextAge = 0
	for _, s := range a.slots {
		if s.ageAt != 0 && (a.shown.nextAge == 0 || s.ageAt < a.shown.nextAge) {
			a.shown.nextAge = s.ageAt
		}
	}
}
