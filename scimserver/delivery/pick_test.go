package delivery

import (
	"testing"

	"github.com/scim-operator/scim-operator/scimserver/eventlog"
	"github.com/scim-operator/scim-operator/scimserver/webhookconfig"
)

// FuzzPick checks the batch chooser on arbitrary type sequences, filters
// and batch sizes: the batch is the first wanted events, in order, at most
// maxBatch; the acknowledged cursor covers exactly the batch and the
// unwanted events around it, never a wanted event left unsent.
func FuzzPick(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, uint16(0b1111111111), uint8(1))
	f.Add([]byte{1, 1, 0, 1, 0, 0, 0}, uint16(0b1), uint8(2))
	f.Add([]byte{5, 5, 5}, uint16(0b10), uint8(7))
	f.Add([]byte{}, uint16(0), uint8(0))
	f.Fuzz(func(t *testing.T, types []byte, filter uint16, maxBatch uint8) {
		if len(types) == 0 {
			return
		}
		var evs []eventlog.Event
		for i, b := range types {
			evs = append(evs, eventlog.Event{Seq: int64(100 + i), Type: eventlog.Types[int(b)%len(eventlog.Types)]})
		}
		w := webhookconfig.Webhook{MaxBatch: int(maxBatch%20) + 1}
		for i, typ := range eventlog.Types {
			if filter&(1<<i) != 0 {
				w.EventTypes = append(w.EventTypes, typ)
			}
		}
		c := &compiled{Webhook: w}
		batch, through := pick(c, evs)
		var wanted []eventlog.Event
		for _, e := range evs {
			if c.Wants(e.Type) {
				wanted = append(wanted, e)
			}
		}
		n := min(len(wanted), c.MaxBatch)
		if len(batch) != n {
			t.Fatalf("batch of %d, want %d (wanted %d, maxBatch %d)", len(batch), n, len(wanted), c.MaxBatch)
		}
		for i := range batch {
			if batch[i].Seq != wanted[i].Seq {
				t.Fatalf("batch[%d] = seq %d, want %d", i, batch[i].Seq, wanted[i].Seq)
			}
		}
		last := evs[len(evs)-1].Seq
		for _, e := range evs {
			inBatch := len(batch) > 0 && e.Seq >= batch[0].Seq && e.Seq <= batch[len(batch)-1].Seq && c.Wants(e.Type)
			if e.Seq <= through && c.Wants(e.Type) && !inBatch {
				t.Fatalf("cursor %d covers wanted event %d that was not sent", through, e.Seq)
			}
		}
		if len(wanted) <= c.MaxBatch && through != last {
			t.Fatalf("all wanted events fit: cursor %d, want the last read %d", through, last)
		}
		if len(batch) > 0 && through < batch[len(batch)-1].Seq {
			t.Fatalf("cursor %d before the batch's last event %d", through, batch[len(batch)-1].Seq)
		}
	})
}
