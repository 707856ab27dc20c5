package scheduler

import (
	"container/heap"
	"time"

	"github.com/microsoft/durabletask-go/api"
)

// fifo is a slice-backed queue that reuses its storage as it drains.
type fifo[T any] struct {
	items []T
	head  int
}

func (q *fifo[T]) push(v T) { q.items = append(q.items, v) }

func (q *fifo[T]) len() int { return len(q.items) - q.head }

func (q *fifo[T]) pushFront(v T) {
	if q.head > 0 {
		q.head--
		q.items[q.head] = v
		return
	}
	q.items = append([]T{v}, q.items...)
}

func (q *fifo[T]) pop() (T, bool) {
	var zero T
	if q.head == len(q.items) {
		return zero, false
	}
	v := q.items[q.head]
	q.items[q.head] = zero
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		q.items, q.head = q.items[:n], 0
	}
	return v, true
}

type timer struct {
	at time.Time
	id api.InstanceID
}

// timerHeap orders timers by due time, earliest first.
type timerHeap struct{ h timerSlice }

type timerSlice []timer

func (h timerSlice) Len() int           { return len(h) }
func (h timerSlice) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerSlice) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerSlice) Push(x any)        { *h = append(*h, x.(timer)) }
func (h *timerSlice) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

func (t *timerHeap) push(v timer) { heap.Push(&t.h, v) }

func (t *timerHeap) init() { heap.Init(&t.h) }

func (t *timerHeap) len() int { return len(t.h) }

func (t *timerHeap) pop() timer { return heap.Pop(&t.h).(timer) }

func (t *timerHeap) peek() (timer, bool) {
	if len(t.h) == 0 {
		return timer{}, false
	}
	return t.h[0], true
}

// until is how long to sleep before the next timer is due; -1 means no timer
// is pending.
func (t *timerHeap) until(now time.Time) time.Duration {
	next, ok := t.peek()
	if !ok {
		return -1
	}
	if d := next.at.Sub(now); d > 0 {
		return d
	}
	return 0
}
