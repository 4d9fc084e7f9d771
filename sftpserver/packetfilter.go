package sftpserver

import (
	"encoding/binary"
	"io"
)

// packetFilter reads the client's SFTP packets on their way to pkg/sftp
// and marks the path of an OPEN that ends with a slash: pkg/sftp cleans
// paths ("nosuchdir/" becomes "nosuchdir"), so `put x nosuchdir/` would
// create a file named nosuchdir where OpenSSH fails (open("nosuchdir/",
// O_CREAT) is EISDIR). The mark is a last element trailingSlash, which the
// handler refuses. Every other packet passes through untouched, without
// being copied: only the 5 bytes of each header are looked at.
type packetFilter struct {
	r      io.Reader
	remain int64  // bytes of the current packet still to pass through
	queued []byte // bytes to hand out before reading again
	hdr    [5]byte
}

const (
	fxpOpen = 3 // SSH_FXP_OPEN
	// maxOpenPacket bounds the OPEN packets rewritten; a longer one (no
	// real client sends one) passes as it is.
	maxOpenPacket = 64 << 10
)

func (f *packetFilter) Read(p []byte) (int, error) {
	if len(f.queued) > 0 {
		n := copy(p, f.queued)
		f.queued = f.queued[n:]
		return n, nil
	}
	if f.remain > 0 {
		if int64(len(p)) > f.remain {
			p = p[:f.remain]
		}
		n, err := f.r.Read(p)
		f.remain -= int64(n)
		return n, err
	}
	// A packet starts: its length and type.
	if _, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
		return 0, err
	}
	length := int64(binary.BigEndian.Uint32(f.hdr[:4]))
	if f.hdr[4] == fxpOpen && length > 1 && length <= maxOpenPacket {
		pkt := make([]byte, 5+length-1)
		copy(pkt, f.hdr[:])
		if _, err := io.ReadFull(f.r, pkt[5:]); err != nil {
			return 0, err
		}
		f.queued = markTrailingSlash(pkt)
	} else {
		f.queued = f.hdr[:]
		f.remain = max(0, length-1)
	}
	return f.Read(p)
}

// markTrailingSlash returns the OPEN packet pkt (length, type, id, path,
// ...) with trailingSlash appended to its path if it ends with "/" and is
// not "/" itself.
func markTrailingSlash(pkt []byte) []byte {
	const pathAt = 5 + 4 // after length, type and request id
	if len(pkt) < pathAt+4 {
		return pkt
	}
	n := int(binary.BigEndian.Uint32(pkt[pathAt:]))
	end := pathAt + 4 + n
	if n < 2 || end > len(pkt) || pkt[end-1] != '/' {
		return pkt
	}
	out := make([]byte, 0, len(pkt)+len(trailingSlash))
	out = binary.BigEndian.AppendUint32(out, uint32(len(pkt)-4+len(trailingSlash)))
	out = append(out, pkt[4:pathAt]...)
	out = binary.BigEndian.AppendUint32(out, uint32(n+len(trailingSlash)))
	out = append(out, pkt[pathAt+4:end]...)
	out = append(out, trailingSlash...)
	return append(out, pkt[end:]...)
}
