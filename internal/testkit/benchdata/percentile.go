package benchdata

import "time"

// Percentile returns the p-quantile (0 to 1) of sorted latencies, the
// nearest sample at or above it; 0 for none. The latency tools and tests
// report with it.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}
