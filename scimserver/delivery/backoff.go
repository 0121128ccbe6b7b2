package delivery

import "time"

// Retry schedule of a failed delivery: the n-th retry (n from 0) waits
// BackoffBase·2ⁿ, capped at BackoffCap, times a jitter factor in [0.5, 1)
// so receivers that failed together do not get their retries together:
//
//	1s, 2s, 4s, 8s, 16s, 32s, 64s, 128s, 256s, 512s, then 15 min each
//
// (before jitter), until the webhook's maxRetryDuration has passed since
// the first failure; the webhook is then failing and waits for a resume.
const (
	BackoffBase = time.Second
	BackoffCap  = 15 * time.Minute
)

// backoff is the wait before retry n; jitter is a number in [0, 1).
func backoff(n int, jitter float64) time.Duration {
	d := BackoffCap
	if n < 20 {
		d = min(BackoffBase<<n, BackoffCap)
	}
	return time.Duration(float64(d) * (0.5 + jitter/2))
}
