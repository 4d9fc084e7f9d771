package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"muster/schema"
	"muster/store"
)

// StoreConf is the [store] table: where the audience store is, and how
// several instances share it. Without it, the store is the SQLite file
// muster.db in the data directory.
type StoreConf struct {
	// URLEnv or URLFile name the environment variable or the file holding
	// a postgres:// URL (it may hold a password: never in the config).
	URLEnv  string `toml:"url_env"`
	URLFile string `toml:"url_file"`
	// SharedDir holds what every instance must see: the drops (drops/)
	// and the SFTP server's state (sftp/: host keys, inboxes, reports).
	// Several instances on one PostgreSQL point it at one folder they all
	// mount. Default: the data directory.
	SharedDir string `toml:"shared_dir"`
	// Lease is how long the scheduler's leader holds its lease without
	// renewing it (it renews every third of it); another instance takes
	// over once it lapses. Default 30s.
	Lease Duration `toml:"lease"`
}

// DefaultLease is the scheduler lease's default length.
const DefaultLease = 30 * time.Second

func (s *StoreConf) setDefaults(c *Config) {
	s.SharedDir = c.resolve(s.SharedDir)
	if s.URLFile != "" {
		s.URLFile = c.resolve(s.URLFile)
	}
	if s.Lease == 0 {
		s.Lease = Duration(DefaultLease)
	}
}

func (c *Config) validateStore(bad func(string, string, ...any)) {
	s := &c.Store
	if s.URLEnv != "" && s.URLFile != "" {
		bad("store.url_env", "set url_env or url_file, not both")
	}
	if s.Lease < Duration(time.Second) {
		bad("store.lease", "%s: at least 1s", time.Duration(s.Lease))
	}
}

// sharedDir is the folder every instance sees (store.shared_dir, by
// default the data directory).
func (c *Config) sharedDir() string {
	if c.Store.SharedDir != "" {
		return c.Store.SharedDir
	}
	return c.DataDir
}

// postgres reports whether the store is a PostgreSQL database.
func (s *StoreConf) postgres() bool { return s.URLEnv != "" || s.URLFile != "" }

// storeTarget returns what store.Open takes: the SQLite file in the data
// directory, or the PostgreSQL URL read from the environment or the file
// (a secret: never printed; the store's String() hides the password).
func (c *Config) storeTarget(e *env) (string, error) {
	if !c.Store.postgres() {
		return filepath.Join(c.DataDir, store.FileName), nil
	}
	u, err := secret(e, "store.url", c.Store.URLEnv, c.Store.URLFile)
	if err != nil {
		return "", err
	}
	if !store.IsURL(u) {
		field := "store.url_env"
		if c.Store.URLFile != "" {
			field = "store.url_file"
		}
		return "", schema.Errorf(schema.EInvalid, "%s: not a postgres:// or postgresql:// URL", field)
	}
	return u, nil
}

// openStore opens the config's store. A PostgreSQL schema is brought up to
// date only by `muster store migrate` (migrate); a SQLite file always is.
// Snapshot index files (a cache) stay in this instance's data directory.
func (c *Config) openStore(ctx context.Context, e *env, migrate bool) (*store.Store, error) {
	return c.openStoreWith(ctx, e, store.Options{Migrate: migrate})
}

// openStoreWith is openStore with the store's options (the daemon keeps a
// reserve beside a SQLite file, so it can start on a full disk).
func (c *Config) openStoreWith(ctx context.Context, e *env, o store.Options) (*store.Store, error) {
	target, err := c.storeTarget(e)
	if err != nil {
		return nil, err
	}
	if store.IsURL(target) {
		// The data directory still holds this instance's own files (a
		// drop's spill, the index cache), whatever holds the store.
		if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
		o.IndexDir = filepath.Join(c.DataDir, "store-index")
	}
	return store.OpenWith(ctx, target, o)
}
