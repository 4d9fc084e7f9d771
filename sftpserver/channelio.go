package sftpserver

import (
	"io"
	"sync"
)

// maxPendingReplies bounds the replies waiting to be sent on one channel.
const maxPendingReplies = 256 << 10

// channelIO sits between pkg/sftp and the SSH channel. Reads pass through
// and mark the connection active. Writes (SFTP replies) are queued and sent
// by one goroutine, which takes everything queued at once: while it is busy
// encrypting and sending, the replies to the next writes pile up and leave
// together, in one SSH packet and one system call, instead of one each.
// With 64 writes in flight that is most of them. Nothing waits for a timer,
// so a lone reply (an ls, a stat) goes out at once.
type channelIO struct {
	r     io.Reader
	w     io.WriteCloser
	touch func()

	mu      sync.Mutex
	cond    sync.Cond
	pending []byte
	spare   []byte
	err     error // the first write error; later writes return it
	closed  bool
	done    chan struct{}
}

func newChannelIO(ch io.ReadWriteCloser, touch func()) *channelIO {
	c := &channelIO{r: &packetFilter{r: ch}, w: ch, touch: touch, done: make(chan struct{})}
	c.cond.L = &c.mu
	go c.flusher()
	return c
}

func (c *channelIO) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *channelIO) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && !c.closed && len(c.pending) >= maxPendingReplies {
		c.cond.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.closed {
		return 0, io.ErrClosedPipe
	}
	c.pending = append(c.pending, p...)
	c.cond.Broadcast()
	return len(p), nil
}

func (c *channelIO) flusher() {
	defer close(c.done)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.pending) == 0 && !c.closed {
			c.cond.Wait()
		}
		if len(c.pending) == 0 || c.err != nil {
			return // closed, and everything sent (or sending failed)
		}
		out := c.pending
		c.pending = c.spare[:0]
		c.mu.Unlock()
		_, err := c.w.Write(out)
		c.mu.Lock()
		c.spare = out
		if err != nil && c.err == nil {
			c.err = err
		}
		c.cond.Broadcast()
	}
}

// stop sends what is queued and ends the sending goroutine; the channel
// stays open for the exit status.
func (c *channelIO) stop() {
	c.mu.Lock()
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	<-c.done
}

// Close sends what is queued, then closes the channel. pkg/sftp calls it
// to end a session it cannot go on with.
func (c *channelIO) Close() error {
	c.stop()
	return c.w.Close()
}
