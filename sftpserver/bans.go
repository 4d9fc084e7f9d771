package sftpserver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"muster/schema"
)

// Ban is a refusal in force: an account from an address (Account set), or
// an address altogether.
type Ban struct {
	Address string `json:"address"`
	Account string `json:"account,omitempty"`
	// Org is the banned account's organisation ("" for an address ban).
	Org      string    `json:"org,omitempty"`
	Reason   string    `json:"reason"`
	Failures int       `json:"failures"` // the score that caused it
	Since    time.Time `json:"since"`
	Until    time.Time `json:"until"`
}

// bansDir is where bans are kept, one file each, under the server's Dir:
// a restart keeps them, and `muster sftp bans` reads and lifts them while
// the daemon runs (it rereads the folder when it changes).
const bansDir = "bans"

// banSync is how often the daemon looks whether the ban folder changed.
const banSync = time.Second

// banFile is the file of a ban: a hash of its address and account, which
// names any address or account safely.
func banFile(dir string, b Ban) string {
	h := sha256.Sum256([]byte(b.Address + "\x00" + b.Account))
	return filepath.Join(dir, bansDir, hex.EncodeToString(h[:12])+".json")
}

// save writes b's file. A ban that cannot be written still holds in
// memory; only a restart would forget it.
func (d *defender) save(b Ban) {
	if d.dir == "" {
		return
	}
	data, _ := json.Marshal(b)
	if err := os.MkdirAll(filepath.Join(d.dir, bansDir), 0o750); err == nil {
		_ = writeFileAtomic(banFile(d.dir, b), append(data, '\n'), 0o640, true)
	}
}

func removeBanFile(dir string, b Ban) error {
	if dir == "" {
		return nil
	}
	err := os.Remove(banFile(dir, b))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// readBans reads the ban files of dir (the server's Dir); a file that
// cannot be read is skipped.
func readBans(dir string) ([]Ban, error) {
	entries, err := os.ReadDir(filepath.Join(dir, bansDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Ban
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, bansDir, e.Name()))
		if err != nil {
			continue
		}
		var ban Ban
		if json.Unmarshal(b, &ban) != nil {
			continue
		}
		if _, err := netip.ParseAddr(ban.Address); err != nil {
			continue
		}
		out = append(out, ban)
	}
	return out, nil
}

// load reads the bans kept by an earlier run.
func (d *defender) load() {
	if d.dir == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.synced = time.Time{}
	d.syncLocked()
}

// syncLocked rereads the ban folder if it changed since it was last read
// (another process lifted a ban), at most every banSync. d.mu is held.
func (d *defender) syncLocked() {
	if d.dir == "" {
		return
	}
	now := time.Now()
	if now.Sub(d.synced) < banSync {
		return
	}
	d.synced = now
	fi, err := os.Stat(filepath.Join(d.dir, bansDir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			clear(d.bans)
		}
		return
	}
	if fi.ModTime().Equal(d.dirMod) {
		return
	}
	d.dirMod = fi.ModTime()
	bans, err := readBans(d.dir)
	if err != nil {
		return
	}
	clear(d.bans)
	for _, b := range bans {
		ip, _ := netip.ParseAddr(b.Address)
		d.bans[banKey{ip: ip.Unmap(), account: b.Account}] = b
	}
}

func sortBans(bs []Ban) {
	sort.Slice(bs, func(i, j int) bool {
		if bs[i].Address != bs[j].Address {
			return bs[i].Address < bs[j].Address
		}
		return bs[i].Account < bs[j].Account
	})
}

func errBadAddress(a string) error {
	return schema.Errorf(schema.EInvalid, "%q is not an IP address", a)
}

// ListBans returns the bans in force of the server whose Dir is dir, for
// `muster sftp bans` (the daemon need not run).
func ListBans(dir string) ([]Ban, error) {
	bans, err := readBans(dir)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := bans[:0]
	for _, b := range bans {
		if now.Before(b.Until) {
			out = append(out, b)
		}
	}
	sortBans(out)
	return out, nil
}

// LiftBans lifts the bans of address (those of one account, or all of
// them with account "*") of the server whose Dir is dir, and returns them.
// A running server sees it within a second or so.
func LiftBans(dir, address, account string) ([]Ban, error) {
	d := &defender{dir: dir, now: time.Now, scores: map[banKey]*score{}, bans: map[banKey]Ban{}}
	d.load()
	return d.lift(address, account)
}

// Bans returns the bans in force.
func (s *Server) Bans() []Ban { return s.def.list() }

// LiftBans lifts the bans of address (of one account, or all of them with
// account "*") and returns them; an unknown address or account lifts
// nothing.
func (s *Server) LiftBans(address, account string) ([]Ban, error) {
	bans, err := s.def.lift(address, account)
	for _, b := range bans {
		s.log.Info("ban lifted", logAddr, b.Address, logAccount, b.Account)
	}
	return bans, err
}
